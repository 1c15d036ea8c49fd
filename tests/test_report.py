"""The alpha-sweep report gathers every run of the grid over the declared seeds."""

import json

import pandas as pd
import pytest
import yaml

from inoclab import paths
from inoclab.config import load_params
from inoclab.io import InputError
from inoclab.report import inoculation_runs, write_inoculation_report

PARAMS = {
    "datasets": {"src": {"builder": "qa"}, "pairs": {"builder": "paired", "source": "src", "inoculation_prompt": "P."},
                 "prompts": {"builder": "qa"}},
    "experiments": {"baseline": {"dataset": "src", "eval": {"trait": {"prompts": "prompts", "inoculation_prompt": "P."}}},
                    "inoculated": {"dataset": "src", "eval": {"trait": {"prompts": "prompts", "inoculation_prompt": "P."}}}},
    "families": {"fam": {"dataset": "pairs", "alphas": [0.0, 1.0],
                         "training": {"inner_training_loop": "logit_manipulation", "inoculation_prompt": "P.",
                                      "manipulation_type": "BiasNoInocTo_InocLogits"}}},
    "report": {"inoculation": {"families": ["fam"], "seeds": [42, 7]}},
}


def write_eval(run: str, rate: float) -> None:
    paths.eval_json(run).parent.mkdir(parents=True, exist_ok=True)
    trait = {v: {"trait_rate": rate, "n": 8} for v in ("without_prompt", "with_prompt")}
    paths.eval_json(run).write_text(json.dumps({"experiment": run, "trait": trait}))


def test_report_table_and_figure(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    params = load_params("params.yaml")
    runs = dict(inoculation_runs(params))
    assert runs == {"baseline": "baseline", "baseline_seed7": "baseline", "inoculated": "inoculated",
                    "inoculated_seed7": "inoculated", "fam0": "fam", "fam0_seed7": "fam", "fam1": "fam",
                    "fam1_seed7": "fam"}
    rates = {"baseline": 0.9, "inoculated": 0.1, "fam0": 0.8, "fam1": 0.3}
    for run in runs:
        base = run.removesuffix("_seed7")
        write_eval(run, rates[base] + (0.1 if run.endswith("_seed7") else 0.0))
    with pytest.raises(FileNotFoundError):  # the surprise of the family's paired data is missing
        write_inoculation_report(params)
    paths.surprise(params.model_slug, "pairs").parent.mkdir(parents=True)
    paths.surprise(params.model_slug, "pairs").write_text(json.dumps({"uplift": 3.5}))
    write_inoculation_report(params)
    table = pd.read_csv(paths.INOCULATION_CSV)
    assert len(table) == 8 and set(table.seed) == {42, 7}
    fam = table[table.group == "fam"].groupby("alpha").trait_rate_without_prompt.mean()
    assert fam.to_dict() == pytest.approx({0.0: 0.85, 1.0: 0.35})
    assert table[table.group == "fam"].surprise_uplift.eq(3.5).all()
    assert table[table.group == "baseline"].alpha.isna().all()
    assert paths.ALPHA_SWEEP_PNG.read_bytes()[:4] == b"\x89PNG"


def test_a_run_without_trait_eval_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    params = load_params("params.yaml")
    for run in dict(inoculation_runs(params)):
        write_eval(run, 0.5)
    paths.eval_json("fam1").write_text(json.dumps({"experiment": "fam1"}))
    paths.surprise(params.model_slug, "pairs").parent.mkdir(parents=True)
    paths.surprise(params.model_slug, "pairs").write_text(json.dumps({"uplift": 1.0}))
    with pytest.raises(InputError, match=r"results/fam1/eval.json: no `trait` section: the report needs `families.fam.eval.trait`"):
        write_inoculation_report(params)
