"""The alpha-sweep report gathers every run of the grid over the declared seeds."""

import json

import pandas as pd
import pytest
import yaml

from inoclab import paths
from inoclab.config import load_params
from inoclab.io import InputError, write_jsonl
from inoclab.report import inoculation_runs, write_inoculation_report

PARAMS = {
    "datasets": {"src": {"builder": "qa"}, "pairs": {"builder": "paired", "source": "src", "inoculation_prompt": "P."},
                 "prompts": {"builder": "qa"}},
    "experiments": {"baseline": {"dataset": "src", "eval": {"trait": {"prompts": "prompts", "inoculation_prompt": "P."}}},
                    "inoculated": {"dataset": "src", "eval": {"trait": {"prompts": "prompts", "inoculation_prompt": "P."}}}},
    "families": {"fam": {"dataset": "pairs", "alphas": [0.0, 1.0],
                         "eval": {"trait": {"prompts": "prompts", "inoculation_prompt": "P."}},
                         "training": {"inner_training_loop": "logit_manipulation", "inoculation_prompt": "P.",
                                      "manipulation_type": "BiasNoInocTo_InocLogits"}}},
    "report": {"inoculation": {"families": ["fam"], "seeds": [42, 7]}},
}


N = 10  # held-out prompts per run


def write_eval(run: str, rate: float) -> None:
    """eval.json and the per-prompt scores behind it: the first round(rate · N) prompts show the trait."""
    paths.eval_json(run).parent.mkdir(parents=True, exist_ok=True)
    trait = {v: {"trait_rate": rate, "trait_rate_ci": [0.0, 1.0], "n": N} for v in ("without_prompt", "with_prompt")}
    paths.eval_json(run).write_text(json.dumps({"experiment": run, "trait": trait}))
    k = round(rate * N)
    write_jsonl(paths.eval_details(run) / "trait.prompts.generations.jsonl",
                [{"example": i, "variant": v, "response": "", "trait": float(i < k)}
                 for i in range(N) for v in ("without_prompt", "with_prompt")])


def write_predictors(model_slug: str, uplift: float) -> None:
    """A predictors file as the stage writes it (eval/predictors.py), for the paired data `pairs`."""
    path = paths.predictors(model_slug, "pairs")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"uplift": {"uplift": uplift, "uplift_per_token": uplift / 10},
                                "drift": {"uplift": -1.0, "uplift_per_token": -0.1},
                                "elicitation": {"base_rate": 0.05, "elicitation": 0.75}}))


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
    with pytest.raises(FileNotFoundError):  # the predictors of the family's paired data are missing
        write_inoculation_report(params)
    write_predictors(params.model_slug, 3.5)
    write_inoculation_report(params)
    table = pd.read_csv(paths.INOCULATION_CSV)
    assert len(table) == 8 and set(table.seed) == {42, 7}
    fam = table[table.group == "fam"].groupby("alpha").trait_rate_without_prompt.mean()
    assert fam.to_dict() == pytest.approx({0.0: 0.85, 1.0: 0.35})
    assert table[table.group == "fam"].predictor_uplift.eq(3.5).all()
    assert table[table.group == "inoculated"].predictor_elicitation.eq(0.75).all()  # the model's prompt
    assert table[table.group == "baseline"].predictor_uplift.isna().all()  # no prompt: nothing to predict
    assert table[table.group == "baseline"].alpha.isna().all()
    assert table.trait_rate_ci_low_without_prompt.eq(0.0).all()  # each run's interval, from its eval.json
    assert paths.ALPHA_SWEEP_PNG.read_bytes()[:4] == b"\x89PNG"
    summary = json.loads(paths.INOCULATION_SUMMARY.read_text())["models"]["tiny"]
    fam0 = summary["experiments"]["fam0"]
    assert (fam0["seeds"], fam0["prompts"], fam0["mean"]) == (2, N, pytest.approx(0.85))
    assert fam0["ci"][0] < 0.85 < fam0["ci"][1]
    diffs = {(d["a"], d["b"]): d for d in summary["differences"]}
    assert set(diffs) == {("fam0", "baseline"), ("fam0", "inoculated"), ("fam1", "baseline"), ("fam1", "inoculated")}
    # fam1 − baseline: −0.6, far outside the noise; fam0 − baseline: −0.1 over 10 prompts, inside it
    assert diffs["fam1", "baseline"]["difference"] == pytest.approx(-0.6) and diffs["fam1", "baseline"]["excludes_zero"]
    assert diffs["fam0", "baseline"]["difference"] == pytest.approx(-0.1)
    assert not diffs["fam0", "baseline"]["excludes_zero"]


def test_a_run_without_trait_eval_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    params = load_params("params.yaml")
    for run in dict(inoculation_runs(params)):
        write_eval(run, 0.5)
    paths.eval_json("fam1").write_text(json.dumps({"experiment": "fam1"}))
    write_predictors(params.model_slug, 1.0)
    with pytest.raises(InputError, match=r"results/fam1/eval.json: no `trait` section: the report needs `families.fam.eval.trait`"):
        write_inoculation_report(params)


def test_two_base_models_give_a_model_column_and_one_panel_each(tmp_path, monkeypatch):
    """Each model's runs over that model's seeds, its own references and predictors, its own panel."""
    monkeypatch.chdir(tmp_path)
    real = "smollm2-135m"
    exps = {**PARAMS["experiments"], **{f"real_{n}": {**e, "model": real} for n, e in PARAMS["experiments"].items()}}
    fams = {**PARAMS["families"], "real_fam": {**PARAMS["families"]["fam"], "model": real}}
    report = {"baseline": ["baseline", "real_baseline"], "inoculated": ["inoculated", "real_inoculated"],
              "families": ["fam", "real_fam"], "seeds": {"tiny": [42, 7], real: [42]}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({**PARAMS, "experiments": exps, "families": fams,
                                                          "report": {"inoculation": report}}))
    params = load_params("params.yaml")
    runs = dict(inoculation_runs(params))
    assert {r for r in runs if r.startswith("real_")} == {"real_baseline", "real_inoculated", "real_fam0", "real_fam1"}
    for run in runs:
        write_eval(run, 0.9 if params.model_of(run) == real else 0.2)
    for model, uplift in (("tiny", 3.5), (real, 1.25)):
        write_predictors(model, uplift)
    write_inoculation_report(params)
    table = pd.read_csv(paths.INOCULATION_CSV)
    assert table.groupby("model").run.count().to_dict() == {real: 4, "tiny": 8}
    assert table.groupby("model").predictor_uplift.max().to_dict() == {real: 1.25, "tiny": 3.5}
    assert table.groupby("model").trait_rate_without_prompt.mean().to_dict() == {real: 0.9, "tiny": 0.2}
    png = paths.ALPHA_SWEEP_PNG.read_bytes()
    assert int.from_bytes(png[16:20], "big") == 2 * 768  # two panels side by side, 6.4 in at 120 dpi each


def test_report_seeds_of_a_model_no_run_uses_are_named(tmp_path):
    report = {**PARAMS["report"]["inoculation"], "seeds": {"tiny": [42], "smollm2": [1]}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({**PARAMS, "report": {"inoculation": report}}))
    with pytest.raises(InputError, match=r"params.yaml:\d+: key 'report.inoculation.seeds.smollm2': no run of "
                                         r"the report uses model 'smollm2' \(its runs use: tiny\)"):
        load_params(tmp_path / "params.yaml")
