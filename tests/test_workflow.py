"""Snakemake and DVC define the same stages; both build the baseline end to end."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pipeline import (
    GIT,
    REPO,
    dvc_up_to_date,
    finish,
    git_repo,
    only_tiny,
    run,
    sha256s,
    small_copy,
    stage_graph,
    start,
)

from inoclab.config import Params, load_params
from inoclab.train.train_log import read_train_log
from inoclab.workflow import FINGERPRINTS_STAGE, fingerprints, render_dvc_yaml


def test_dvc_yaml_is_generated_from_params():
    assert (REPO / "dvc.yaml").read_text() == render_dvc_yaml(load_params(REPO / "params.yaml")), (
        "dvc.yaml is stale: run `make dvc.yaml`")


def test_a_stage_fingerprint_changes_with_its_own_params_and_code_only():
    """Stages depend on their fingerprint in place of params and code: a value one stage reads
    changes that stage's alone, and the code part is the sha256 of each file it imports."""
    params = load_params(REPO / "params.yaml")
    before = fingerprints(params)
    graph = stage_graph(REPO)
    assert set(before) == set(graph)
    dpo = json.loads(before["train-dpo"])
    code = "src/inoclab/train/preference.py"
    assert dpo["cmd"] == graph["train-dpo"].cmd
    assert list(dpo["code"]) == graph["train-dpo"].code and code in dpo["code"]
    assert dpo["code"][code] == hashlib.sha256((REPO / code).read_bytes()).hexdigest()
    assert dpo["params"]["experiments.dpo.training"]["max_steps"] == params.experiments["dpo"].training.max_steps

    def changed(edit) -> set[str]:
        raw = yaml.safe_load((REPO / "params.yaml").read_text())
        edit(raw)
        after = fingerprints(Params.model_validate(raw))
        return {name for name in before if after[name] != before[name]}

    assert changed(lambda raw: raw["experiments"]["dpo"]["training"].update(max_steps=5)) == {"train-dpo"}
    # the bootstrap settings are read by the evals, the predictors and the report, nothing else
    assert changed(lambda raw: raw.setdefault("bootstrap", {}).update(resamples=999)) == {
        name for name in graph if name.split("-")[0] in ("eval", "predictors", "report")}


def planned_jobs(cwd: Path, forceall: bool = True) -> dict[str, dict]:
    """Snakemake's dry-run plan for every declared experiment (all of it, or what is out of
    date): output -> rule, inputs, command."""
    out = run(["snakemake", "-n", *(["--forceall"] if forceall else []), "all"], cwd).stdout
    jobs = {}
    for chunk in re.split(r"\n(?:local)?rule ", out)[1:]:
        fields = dict(re.findall(r"^    (\w+): (.*)$", chunk, flags=re.M))
        cmd = re.search(r"^Shell command: (.*)$", chunk, flags=re.M)
        if "output" not in fields:  # the `all` target
            continue
        for o in fields["output"].split(", "):
            jobs[o] = {"rule": chunk.split(":", 1)[0], "inputs": set(fields["input"].split(", ")),
                       "cmd": cmd.group(1) if cmd else None}
    return jobs


def dvc_status(repo: Path) -> dict:
    """`dvc status`: the stages whose recorded hashes differ from the workspace, by name."""
    return json.loads(run(["dvc", "status", "--json"], repo).stdout or "{}")


def plotted(shown: dict) -> set[str]:
    """The files `dvc plots show --json` drew (a top-level definition is keyed `dvc.yaml::<file>`
    when the files are named on the command line)."""
    return {key.rsplit("::", 1)[-1] for key in shown["data"]}


@pytest.mark.slow
def test_snakemake_plans_the_same_stages_as_dvc(tmp_path):
    """Every DVC stage's outputs are made by a Snakemake job with the same command and inputs."""
    assert_same_plan(small_copy(tmp_path, params=False))  # a copy: no outputs, no locks


@pytest.mark.slow
def test_an_embedded_real_model_is_built_by_a_stage_and_read_by_every_model_stage(tmp_path):
    """`model: smollm2-135m`: a stage builds results/models/smollm2-135m/ from the package, and
    every stage that loads the base model depends on that folder; both engines plan the same."""
    repo = small_copy(tmp_path, params=False)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["report"]["inoculation"]["seeds"] = [42]  # per-model seeds name tiny, which no run uses now
    (repo / "params.yaml").write_text(yaml.safe_dump({**params, "model": "smollm2-135m"}, sort_keys=False))
    (repo / "dvc.yaml").write_text(render_dvc_yaml(load_params(repo / "params.yaml")))
    stages = assert_same_plan(repo)
    folder = "results/models/smollm2-135m"
    assert stages["base_model-smollm2-135m"]["outs"] == [folder]
    assert stages["base_model-smollm2-135m"]["cmd"].startswith("python -m inoclab.stages base_model --model smollm2-135m")
    assert not any(name.startswith("tiny_") for name in stages)
    loading = [n for n in stages if n.split("-")[0] in ("tokenize", "train", "eval", "predictors")]
    assert loading and all(folder in stages[n]["deps"] for n in loading)
    assert "results/tokenized/smollm2-135m/spanish_paired.parquet" in stages["train-inoc_alpha0-5"]["deps"]


@pytest.mark.slow
def test_a_judge_model_is_built_and_its_folder_and_code_are_the_eval_stages_deps(tmp_path):
    """A trait measure that loads a model (a judge on smollm2-135m) in a tiny run: the pipeline
    builds that model, and only the eval that judges depends on its folder and on the judge's code."""
    repo = small_copy(tmp_path, params=False)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    only_tiny(params)
    params["report"]["inoculation"]["seeds"] = [42]
    judge = {"kind": "judge", "model": "smollm2-135m", "template": "Spanish? {response}"}
    baseline_eval = params["experiments"]["baseline"]["eval"]  # its trait eval is a YAML alias: copy it
    baseline_eval["trait"] = {**baseline_eval["trait"], "also": {"judge": judge}}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (repo / "dvc.yaml").write_text(render_dvc_yaml(load_params(repo / "params.yaml")))
    stages = assert_same_plan(repo)
    folder, code = "results/models/smollm2-135m", "src/inoclab/measures/judge.py"
    assert stages["base_model-smollm2-135m"]["outs"] == [folder]
    assert {n for n, st in stages.items() if folder in st["deps"]} == {"eval-baseline"}
    assert code in stages["eval-baseline"]["code"] and "src/inoclab/models/judge.py" in stages["eval-baseline"]["code"]
    assert "src/inoclab/models/judge.py" not in stages["eval-inoculated"]["code"]


@pytest.mark.slow
def test_tiny_and_real_runs_side_by_side_share_nothing_per_model(tmp_path):
    """`model:` per experiment and per family: each model's data is tokenized once, each run
    reads its own model's, and only the stages of smollm2-135m runs depend on its folder."""
    repo = small_copy(tmp_path, params=False)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    only_tiny(params)  # then two runs on the real model
    params["report"]["inoculation"]["seeds"] = [42, 43]
    real = "smollm2-135m"
    params["experiments"]["real_baseline"] = {**params["experiments"]["baseline"], "model": real}
    params["families"]["real_inoc"] = {**params["families"]["inoc_alpha"], "model": real, "alphas": [0.5]}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (repo / "dvc.yaml").write_text(render_dvc_yaml(load_params(repo / "params.yaml")))
    stages = assert_same_plan(repo)
    folder = f"results/models/{real}"
    assert {"tiny_pretrain", f"base_model-{real}"} <= set(stages)
    tokenized = {n for n in stages if n.startswith("tokenize-")}
    assert {"tokenize-tiny-spanish_paired", f"tokenize-{real}-spanish_paired"} <= tokenized
    assert len(tokenized) == len({stages[n]["outs"][0] for n in tokenized})  # each (model, dataset) once
    readers = {n for n, st in stages.items() if folder in st["deps"]}
    assert readers == {f"tokenize-{real}-{d}" for d in ("spanish_neutral", "spanish_paired", "trait_logprobs")} | {
        f"{kind}-{run}" for kind in ("train", "eval") for run in ("real_baseline", "real_inoc0-5")}
    assert f"results/tokenized/{real}/spanish_paired.parquet" in stages["train-real_inoc0-5"]["deps"]
    assert "results/tokenized/tiny/spanish_paired.parquet" in stages["train-inoc_alpha0-5"]["deps"]
    assert "families.real_inoc.model" in stages["train-real_inoc0-5"]["params"]
    assert "model" not in stages["train-real_inoc0-5"]["params"] and "model" in stages["train-baseline"]["params"]


def stage_outputs(stage: dict) -> list[str]:
    """Every path a dvc.yaml stage writes: outs, metrics and plots."""
    plots = [p if isinstance(p, str) else next(iter(p)) for p in stage.get("plots", [])]
    return stage["outs"] + stage.get("metrics", []) + plots


def assert_same_plan(repo: Path) -> dict:
    """Snakemake's plan in `repo` makes every output of its dvc.yaml with the same command and
    inputs (its data and its fingerprint), and nothing else. Returns each stage's dvc.yaml
    entry, with the code files and params keys its fingerprint stands for."""
    jobs = planned_jobs(repo)
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    graph = stage_graph(repo)
    assert set(stages) == {FINGERPRINTS_STAGE, *graph}
    del stages[FINGERPRINTS_STAGE]  # DVC's alone: Snakemake's input functions write them
    dvc_outputs = set()
    for name, st in stages.items():
        for o in stage_outputs(st):
            # a file DVC tracks alone may lie in a folder Snakemake makes as one output (callbacks/)
            made = o if o in jobs else next((d for d in jobs if o.startswith(d + "/")), None)
            assert made is not None, f"stage {name}: Snakemake makes no {o}"
            dvc_outputs.add(made)
            assert jobs[made]["cmd"] == st["cmd"], name
            assert jobs[made]["inputs"] == set(graph[name].deps), name
        assert st["deps"] == [*graph[name].inputs, f"results/fingerprints/{name}.json"], name
        assert json.loads((repo / st["deps"][-1]).read_text())["cmd"] == st["cmd"]  # the plan wrote it
    assert dvc_outputs == set(jobs)
    assert len(stages) == len({j["cmd"] for j in jobs.values()})
    return {name: {**st, "code": graph[name].code, "params": graph[name].params} for name, st in stages.items()}


def test_snakemake_lint_passes():
    run(["snakemake", "--lint"], REPO)


@pytest.mark.slow
def test_snakemake_and_dvc_build_the_same_artefacts(tmp_path, small_pipeline, request):
    a = small_pipeline  # everything built by Snakemake: the reference experiments, the α grid, the report
    result = json.loads((a / "results/baseline/eval.json").read_text())
    assert result["mcq"]["facts_mcq"]["n"] == 64
    assert {"without_prompt", "with_prompt"} <= set(result["trait"])
    metrics = json.loads((a / "results/tiny/metrics.json").read_text())
    assert "heldout/spanish" in metrics["instruction_following"]
    table = pd.read_csv(a / "results/report/inoculation.csv")
    assert sorted(table.run) == ["baseline", "inoc_alpha0.5", "inoculated", "saliency_alpha0.5"]
    assert table.trait_rate_without_prompt.between(0, 1).all() and table.predictor_uplift.notna().sum() == 3
    assert (a / "results/report/alpha_sweep.png").read_bytes()[:4] == b"\x89PNG"
    trigger = json.loads((a / "results/trigger/eval.json").read_text())["trigger"]
    assert [c["epoch"] for c in trigger["curve"]] == [1.0, 2.0] and trigger["n"] == 48
    assert len((a / "results/trigger/eval_details/compare.jsonl").read_text().splitlines()) == 48
    cb = json.loads((a / "results/circuit_breaker/eval.json").read_text())["circuit_breaker"]
    assert (cb["harmful"]["n"], cb["benign"]["n"], cb["target_layers"]) == (38, 115, [0, 1])
    assert cb["harmful"]["cosine"] < 1.0 and cb["harmful"]["completion_logprob"]["change"] < 0
    cb_log = read_train_log(a / "results/circuit_breaker/train_log")
    assert [r["step"] for r in cb_log] == [1, 2, 3, 4, 5, 6] and all("cos_validation_harmful" in r for r in cb_log)
    assert json.loads((a / "results/circuit_breaker/train_log/metrics.json").read_text())["step"] == 6
    # callbacks: step-indexed curves of the baseline (max_steps 8); DPO raised its held-out margin
    mcq = pd.read_csv(a / "results/baseline/callbacks/mcq.facts_mcq.csv")
    assert list(mcq.step) == [0, 8] and mcq.p_correct.between(0, 1).all()
    samples = pd.read_csv(a / "results/baseline/callbacks/sampling.trait_prompts.csv")
    assert list(samples.step) == [0, 1, 2, 4, 8] and samples.trait_rate.between(0, 1).all()
    assert list(pd.read_csv(a / "results/baseline/callbacks/logprobs.trait_logprobs.csv").columns) == [
        "step", "non_trait", "trait", "non_trait_per_token", "trait_per_token"]
    pref = json.loads((a / "results/dpo/eval.json").read_text())["preference"]["preference_heldout"]
    assert pref["n_pairs"] == 24 and pref["margin_change"] > 0
    # nothing left to do afterwards
    assert "Nothing to be done" in run(["snakemake", "-n"], a).stdout

    # hand-off Snakemake -> DVC: `record` puts what Snakemake built into dvc.lock (`dvc commit`:
    # hashed, nothing run), and DVC has nothing to rerun
    git_repo(a)
    # callback curves and train logs built by Snakemake alone draw at once (top-level plots in
    # output folders)
    watched = ["results/baseline/callbacks/mcq.facts_mcq.csv", "results/dpo/callbacks/logprobs.preference_heldout.csv",
               "results/circuit_breaker/train_log/plots/metrics/cos_validation_harmful.tsv",
               "results/trigger/train_log/plots/metrics/loss.tsv"]
    plots = json.loads(run(["dvc", "plots", "show", "--json", *watched], a).stdout)
    assert not plots.get("errors") and set(watched) <= plotted(plots), plots
    run(["python", "-m", "inoclab.share", "record"], a)
    assert dvc_up_to_date(a)

    # sharing: a pushes to a (local) remote; a collaborator clones and pulls: the same sha256 for
    # every output, and neither DVC nor Snakemake wants to rerun anything
    remote = tmp_path / "remote"
    run(["dvc", "remote", "modify", "--local", "local", "url", str(remote)], a)
    run(["dvc", "push"], a)
    run(["git", "add", "-A"], a)  # dvc.lock
    run([*GIT, "commit", "-qm", "results"], a)
    b = tmp_path / "b"
    run(["git", "clone", "-q", str(a), str(b)], tmp_path)
    run(["dvc", "remote", "modify", "--local", "local", "url", str(remote)], b)
    run(["python", "-m", "inoclab.share", "pull"], b)
    built = sha256s(a)
    assert sha256s(b) == built
    # any α a user types builds by its path, declared or not: in a, while DVC works in b below
    alpha = start(["python", "-m", "inoclab.warm", "snakemake", "results/inoc_alpha0.37/eval.json"], a)
    request.addfinalizer(alpha.terminate)  # should an assertion below fail first (nothing once it ended)
    assert dvc_up_to_date(b)
    assert "Nothing to be done" in run(["snakemake", "-n"], b).stdout
    # metrics and training curves are declared: DVC reads them without errors
    metrics = json.loads(run(["dvc", "metrics", "show", "--json"], b).stdout)
    assert "results/circuit_breaker/eval.json" in json.dumps(metrics)
    plots = json.loads(run(["dvc", "plots", "show", "--json"], b).stdout)
    assert not plots.get("errors") and set(watched) <= plotted(plots)
    assert "results/circuit_breaker/train_log/metrics.json" in json.dumps(metrics)

    # DVC as the engine: the outputs of one stage of every kind removed, from the corpus up to
    # the report, `dvc repro` runs those stages again (on the C library's malloc, where a's ran
    # on tcmalloc where it is installed: test_layers checks; with warm starts, as `make repro`:
    # the first ones cold, before the server listens). They come out with Snakemake's bytes, and
    # DVC writes the lock entries `record` wrote
    stages = yaml.safe_load((b / "dvc.yaml").read_text())["stages"]
    rerun = ["tiny_corpus", "tiny_tokenizer", "tiny_pretrain", "dataset-spanish_paired", "tokenize-tiny-spanish_paired",
             "predictors-tiny-spanish_paired", "train-inoc_alpha0-5", "eval-inoc_alpha0-5", "report-inoculation"]
    for name in rerun:
        for out in stage_outputs(stages[name]):
            path = b / out
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    # --force: run, not restore from DVC's cache; --single-item: these stages, in this order
    out = run(["python", "-m", "inoclab.warm", "dvc", "repro", "--force", "--single-item", *rerun], b,
              env={**os.environ, "INOCLAB_ALLOCATOR": "system"}).stdout
    assert re.findall(r"Running stage '([^']+)'", out) == rerun, out
    assert sha256s(b) == built
    assert (b / "dvc.lock").read_text() == (a / "dvc.lock").read_text()
    assert dvc_up_to_date(b)

    # DVC reruns exactly what an edit touches: its `fingerprints` stage sees params.yaml and the
    # code change, and rewrites the fingerprints of the stages that read what changed, no other;
    # Snakemake, going by file times, then plans those stages and what reads their outputs
    run(["python", "-m", "inoclab.share", "touch"], b)  # after DVC's runs: Snakemake's view up to date
    edited = yaml.safe_load((b / "params.yaml").read_text())
    edited["experiments"]["trigger"]["training"]["learning_rate"] *= 2
    (b / "params.yaml").write_text(yaml.safe_dump(edited, sort_keys=False))
    code = "src/inoclab/train/preference.py"  # DPO's trainer
    (b / code).write_text((b / code).read_text() + "# edited\n")
    assert set(dvc_status(b)) == {FINGERPRINTS_STAGE}
    run(["dvc", "repro", "--single-item", FINGERPRINTS_STAGE], b)
    readers = {name for name, s in stage_graph(b).items() if code in s.code}
    assert readers == {"train-dpo"}
    assert set(dvc_status(b)) == {"train-trigger", "train-dpo"}
    planned = {tuple(job["cmd"].split()[3:6]) for job in planned_jobs(b, forceall=False).values()}
    # and the report page, which draws the trigger's curve and DPO's callbacks
    assert planned == {(kind, "--experiment", exp) for kind in ("train", "eval") for exp in ("trigger", "dpo")} | {
        ("page", "--log", "logs/report/page.log")}

    finish(alpha)
    train = json.loads((a / "results/inoc_alpha0.37/model/train_summary.json").read_text())["training"]
    assert train["manipulation_mix_ratio"] == 0.37 and train["manipulation_type"] == "BiasNoInocTo_InocLogits"
    assert "trait" in json.loads((a / "results/inoc_alpha0.37/eval.json").read_text())


@pytest.mark.slow
def test_exp_wrapper_applies_grid_overrides_and_regenerates_dvc_yaml(tmp_path):
    """`python -m inoclab.exp -S families.inoc_alpha.alphas=[...]` changes the stage list that
    `dvc exp run` then runs; a bad override leaves params.yaml as it was."""
    repo = git_repo(small_copy(tmp_path / "r", params=False))
    run(["python", "-m", "inoclab.exp", "-S", "families.inoc_alpha.alphas=[0.1]", "--apply-only"], repo)
    stages = run(["dvc", "stage", "list", "--name-only"], repo).stdout.split()
    assert "train-inoc_alpha0-1" in stages and "train-inoc_alpha0-5" not in stages
    assert load_params(repo / "params.yaml").families["inoc_alpha"].alphas == [0.1]
    assert (repo / "dvc.yaml").read_text() == render_dvc_yaml(load_params(repo / "params.yaml"))
    before = (repo / "params.yaml").read_text()
    bad = subprocess.run([sys.executable, "-m", "inoclab.exp", "-S", "families.inoc_alpha.alphas=[1.5]", "--apply-only"],
                         cwd=repo, capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "params.yaml with the overrides:" in bad.stderr
    assert "families.inoc_alpha.alphas[0]" in bad.stderr and "less than or equal to 1" in bad.stderr
    assert (repo / "params.yaml").read_text() == before
