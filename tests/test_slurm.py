"""The SLURM profile on a real single-node SLURM cluster (tests/slurm_cluster.py): every job of
a target goes through sbatch, GPU rules ask for a GPU, and the outputs are the bytes a local
Snakemake run gives. The profile itself gives every rule its resources, a GPU to exactly those
that load a model. CI installs the cluster's packages and sets INOCLAB_REQUIRE_SLURM=1, so
that there the test fails rather than skips when the cluster cannot start."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import slurm_cluster
import yaml
from pipeline import REPO, run, sha256s, small_copy

TARGET = "results/baseline/eval.json"
# taken from the local run, to keep the test short: the tiny model, the data sets, and the
# baseline's tokenized data (its callbacks' too: the pressure reads the paired data). A
# tokenization job (CPU) then goes beside the training (GPU): two rounds of jobs, not three
BASELINE_READS = ("spanish_neutral", "trait_logprobs", "spanish_paired")
PREBUILT = ("results/tiny", "results/datasets", *(f"results/tokenized/tiny/{d}.{ext}" for d in BASELINE_READS
                                                for ext in ("parquet", "stats.json")))
BESIDE = "results/tokenized/tiny/spanish_inoculated.parquet"
NODE_CPUS = 10  # the training's 8 (the profile) and a tokenization's 2, at once
GPU_RULES = {"train_experiment", "evaluate_experiment"}
CPU_RULES = {"tokenize_dataset"}
MODEL_RULES = {"tiny_pretrain", "train_experiment", "evaluate_experiment", "measure_predictors"}
STATUS_WAIT = 8  # seconds before the executor's first check of a job's state (see the test)
# `make setup` installs Snakemake's SLURM executor here, off the environment's own path (Makefile)
EXECUTOR = Path(sys.prefix) / "slurm-executor"


def executor_missing() -> str | None:
    if EXECUTOR.is_dir() or importlib.util.find_spec("snakemake_executor_plugin_slurm"):
        return None
    return f"no SLURM executor for Snakemake: neither {EXECUTOR} (make setup) nor an installed one"


def test_slurm_profile_gives_every_rule_resources_and_a_gpu_to_those_that_load_a_model():
    rules = {m for f in (REPO / "workflow").rglob("*.smk") for m in re.findall(r"^rule (\w+):", f.read_text(), re.M)}
    profile = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text())["set-resources"]
    assert set(profile) == rules  # a new rule without its line would run with the site's defaults
    assert {r for r, res in profile.items() if res.get("gpu")} == MODEL_RULES
    # training hears of its time limit in time to save a checkpoint (train/resume.py)
    assert "--signal=TERM@" in profile["train_experiment"]["slurm_extra"]


def slurm_jobs(env: dict[str, str]) -> list[dict[str, str]]:
    """Every job the controller knows (MinJobAge keeps finished ones): id, rule, state, GPUs."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], env=env, capture_output=True, text=True,
                         check=True).stdout
    jobs = []
    for line in out.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        rule = re.match(r"rule_(\w+?)(?:_wildcards_.*)?$", fields.get("Comment", ""))
        jobs.append({"id": fields["JobId"], "rule": rule.group(1) if rule else None,
                     "state": fields["JobState"], "gpus": fields.get("TresPerJob", ""), "requeue": fields.get("Requeue")})
    return jobs


@pytest.mark.slow
@pytest.mark.slurm
def test_slurm_profile_submits_every_job_and_matches_a_local_run(tmp_path, small_pipeline):
    why = slurm_cluster.missing() or executor_missing()
    if why:
        if os.environ.get("INOCLAB_REQUIRE_SLURM"):
            pytest.fail(f"INOCLAB_REQUIRE_SLURM is set, but no SLURM cluster can start here: {why}")
        pytest.skip(why)
    repo = small_copy(tmp_path / "repo")
    for built in PREBUILT:  # every other job goes through SLURM
        src, dst = small_pipeline / built, repo / built
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    run(["python", "-m", "inoclab.share", "touch"], repo)  # Snakemake's view of them: up to date
    with slurm_cluster.single_node_cluster(tmp_path / "slurm", cpus=NODE_CPUS) as env:
        env = {**env, "PYTHONPATH": os.pathsep.join(p for p in (str(EXECUTOR), env.get("PYTHONPATH")) if p)}
        # the profile as shipped; squeue for job states, as this cluster keeps no accounting
        # database for sacct. The executor checks a job's state after the initial wait, then
        # waits 10 s longer each time it finds nothing finished (1, 11, 21 s: 33 s for a job of
        # 13 s, a third of the test). The jobs here take 12-21 s: first check at 8 s, then at 26 s
        run(["snakemake", "--profile", "workflow/profiles/slurm", "--slurm-status-command", "squeue",
             "--slurm-init-seconds-before-status-checks", str(STATUS_WAIT), TARGET, BESIDE], repo, env)
        jobs = slurm_jobs(env)

    rules = {j["rule"] for j in jobs}
    assert rules == GPU_RULES | CPU_RULES, jobs  # every job of the target was an sbatch job
    assert len(jobs) == 3, jobs  # the training, the tokenization beside it, the eval: two rounds
    assert all(j["state"] == "COMPLETED" for j in jobs), jobs
    assert all(j["requeue"] == "1" for j in jobs), jobs  # a preempted job goes back in the queue (and resumes)
    for j in jobs:  # training and evals asked for a GPU, data stages did not
        assert ("gpu:1" in j["gpus"]) == (j["rule"] in GPU_RULES), j
    # each job ran the rule's own command on the node: the same bytes as the local run
    built = sha256s(repo)
    assert (repo / TARGET).exists() and (repo / BESIDE).exists() and len(built) > 20
    local = sha256s(small_pipeline)
    assert built == {k: local[k] for k in built}
    # and Snakemake, on the submitting side, sees the target up to date
    assert "Nothing to be done" in run(["snakemake", "-n", TARGET, BESIDE], repo).stdout
