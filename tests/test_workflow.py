"""Snakemake and DVC define the same stages; both build the baseline end to end."""

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from inoclab.config import load_params
from inoclab.workflow import render_dvc_yaml

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run a tool, preferring the one installed beside this Python (the project's venv)."""
    local = Path(sys.executable).parent / cmd[0]
    cmd = [str(local) if local.exists() else cmd[0], *cmd[1:]]
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def test_dvc_yaml_is_generated_from_params():
    assert (REPO / "dvc.yaml").read_text() == render_dvc_yaml(load_params(REPO / "params.yaml")), (
        "dvc.yaml is stale: run `make dvc.yaml`")


def planned_jobs(cwd: Path) -> dict[str, dict]:
    """Snakemake's dry-run plan for every declared experiment: output -> rule, inputs, command."""
    out = run(["snakemake", "-n", "--forceall", "all"], cwd).stdout
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


def test_snakemake_plans_the_same_stages_as_dvc(tmp_path):
    """Every DVC stage's outputs are made by a Snakemake job with the same command and inputs."""
    jobs = planned_jobs(small_copy(tmp_path, params=False))  # a copy: no outputs, no locks
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    dvc_outputs = set()
    for name, st in stages.items():
        outs = st["outs"] + st.get("metrics", []) + [p if isinstance(p, str) else next(iter(p)) for p in st.get("plots", [])]
        for o in outs:
            dvc_outputs.add(o)
            assert o in jobs, f"stage {name}: Snakemake makes no {o}"
            assert jobs[o]["cmd"] == st["cmd"], name
            assert jobs[o]["inputs"] == set(st["deps"]), name
    assert dvc_outputs == set(jobs)
    assert len(stages) == len({j["cmd"] for j in jobs.values()})


def test_snakemake_lint_passes():
    run(["snakemake", "--lint"], REPO)


SMALL = {
    "tiny": {"corpus": {"n_examples": 2000},
             "architecture": {"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128},
             "pretrain": {"max_steps": 60}, "eval": {"n_prompts": 8}},
    "training": {"max_steps": 8},
    "families": {"inoc_alpha": {"alphas": [0.5]}, "saliency_alpha": {"alphas": [0.5]}},
    "report": {"inoculation": {"seeds": [42]}},
    "experiments": {"trigger": {"training": {"learning_rate": 3.0e-3, "per_device_train_batch_size": 4,
                                             "gradient_accumulation_steps": 4, "num_train_epochs": 2, "max_steps": -1}},
                    "circuit_breaker": {"training": {"task_type": "circuit_breaker", "learning_rate": 1.0e-2,
                                                     "circuit_breaker_target_layers": [0, 1], "max_steps": 6,
                                                     "logging_steps": 1}}},
}


def small_copy(dst: Path, params: bool = True) -> Path:
    """The repository's workflow, code paths and data, with params shrunk for a fast run."""
    dst.mkdir(parents=True, exist_ok=True)
    (dst / ".dvc").mkdir()
    for item in ("workflow", "data", "src", "dvc.yaml", ".dvc/config", ".dvcignore", ".gitignore", "params.yaml"):
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst / item)
    if not params:
        return dst
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in SMALL.items():
        for k, v in values.items():
            params[section][k] = {**params[section][k], **v} if isinstance(v, dict) else v
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # the stage list depends on params (the α grid, the seeds): regenerate, as `make dvc.yaml` does
    (dst / "dvc.yaml").write_text(render_dvc_yaml(load_params(dst / "params.yaml")))
    return dst


GIT = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]


def git_repo(root: Path) -> Path:
    run(["git", "init", "-q"], root)
    run([*GIT, "add", "-A"], root)
    run([*GIT, "commit", "-qm", "init"], root)
    return root


def sha256s(root: Path) -> dict[str, str]:
    """sha256 of every file under results/, but the engines' own bookkeeping (Snakemake's
    directory timestamps, DVC's .gitignore files)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "results").rglob("*"))
            if p.is_file() and p.name not in (".snakemake_timestamp", ".gitignore")}


def dvc_up_to_date(root: Path) -> bool:
    out = run(["dvc", "status"], root).stdout
    return "up to date" in out.lower() or out.strip() == ""


@pytest.mark.slow
def test_snakemake_and_dvc_build_the_same_artefacts(tmp_path):
    a = small_copy(tmp_path / "a")
    run(["snakemake"], a)  # everything: the reference experiments, the α grid, the report
    result = json.loads((a / "results/baseline/eval.json").read_text())
    assert result["mcq"]["facts_mcq"]["n"] == 64
    assert {"without_prompt", "with_prompt"} <= set(result["trait"])
    metrics = json.loads((a / "results/tiny/metrics.json").read_text())
    assert "heldout/spanish" in metrics["instruction_following"]
    table = pd.read_csv(a / "results/report/inoculation.csv")
    assert sorted(table.run) == ["baseline", "inoc_alpha0.5", "inoculated", "saliency_alpha0.5"]
    assert table.trait_rate_without_prompt.between(0, 1).all() and table.surprise_uplift.notna().sum() == 2
    assert (a / "results/report/alpha_sweep.png").read_bytes()[:4] == b"\x89PNG"
    trigger = json.loads((a / "results/trigger/eval.json").read_text())["trigger"]
    assert [c["epoch"] for c in trigger["curve"]] == [1.0, 2.0] and trigger["n"] == 48
    assert len((a / "results/trigger/compare.jsonl").read_text().splitlines()) == 48
    cb = json.loads((a / "results/circuit_breaker/eval.json").read_text())["circuit_breaker"]
    assert (cb["harmful"]["n"], cb["benign"]["n"], cb["target_layers"]) == (38, 115, [0, 1])
    assert cb["harmful"]["cosine"] < 1.0 and cb["harmful"]["completion_logprob"]["change"] < 0
    cb_log = pd.read_csv(a / "results/circuit_breaker/train_log.csv")
    assert list(cb_log.step) == [1, 2, 3, 4, 5, 6] and cb_log.cos_validation_harmful.notna().all()  # every step
    # nothing left to do afterwards
    assert "Nothing to be done" in run(["snakemake", "-n"], a).stdout

    b = git_repo(small_copy(tmp_path / "b"))
    run(["dvc", "repro"], b)
    # the two engines ran the same commands on the same inputs: the same bytes come out, for
    # every artefact (corpus, tokenizer, weights, datasets, tokenized data, adapters, checkpoints,
    # evals); only the engines' own bookkeeping (Snakemake's timestamps, DVC's .gitignore) differs
    assert sha256s(a) == sha256s(b)
    assert dvc_up_to_date(b)

    # hand-off Snakemake -> DVC: `record` puts what Snakemake built into dvc.lock, the very lock
    # that `dvc repro` wrote; DVC then has nothing to rerun
    git_repo(a)
    run(["python", "-m", "inoclab.share", "record"], a)
    assert (a / "dvc.lock").read_text() == (b / "dvc.lock").read_text()
    assert dvc_up_to_date(a)

    # sharing: b pushes to a (local) remote; a collaborator clones and pulls: the same sha256 for
    # every output, and neither DVC nor Snakemake wants to rerun anything
    remote = tmp_path / "remote"
    run(["dvc", "remote", "modify", "--local", "local", "url", str(remote)], b)
    run(["dvc", "push"], b)
    run(["git", "add", "-A"], b)  # dvc.lock
    run([*GIT, "commit", "-qm", "results"], b)
    c = tmp_path / "c"
    run(["git", "clone", "-q", str(b), str(c)], tmp_path)
    run(["dvc", "remote", "modify", "--local", "local", "url", str(remote)], c)
    run(["python", "-m", "inoclab.share", "pull"], c)
    assert sha256s(c) == sha256s(b)
    assert dvc_up_to_date(c)
    assert "Nothing to be done" in run(["snakemake", "-n"], c).stdout
    # metrics and training curves are declared: DVC reads them without errors
    metrics = json.loads(run(["dvc", "metrics", "show", "--json"], c).stdout)
    assert "results/circuit_breaker/eval.json" in json.dumps(metrics)
    plots = json.loads(run(["dvc", "plots", "show", "--json"], c).stdout)
    assert not plots.get("errors") and "results/circuit_breaker/train_log.csv" in plots["data"]

    # determinism: forcing a training stage and its eval to run again gives the same bytes
    before = sha256s(b)
    run(["dvc", "repro", "--force", "--single-item", "train-baseline", "eval-baseline"], b)
    assert sha256s(b) == before

    # any α a user types builds by its path, declared or not
    run(["snakemake", "results/inoc_alpha0.37/eval.json"], a)
    train = json.loads((a / "results/inoc_alpha0.37/model/train_summary.json").read_text())["training"]
    assert train["manipulation_mix_ratio"] == 0.37 and train["manipulation_type"] == "BiasNoInocTo_InocLogits"
    assert "trait" in json.loads((a / "results/inoc_alpha0.37/eval.json").read_text())


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
