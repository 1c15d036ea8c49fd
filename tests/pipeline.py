"""The small pipeline the end-to-end tests build: a copy of the repository with params shrunk,
and the helpers that run its tools and compare what they produce."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from inoclab.config import load_params
from inoclab.share import project_tool
from inoclab.workflow import Stage, all_stages, render_dvc_yaml

REPO = Path(__file__).resolve().parents[1]


def _tool(cmd: list[str], env: dict[str, str] | None) -> tuple[list[str], dict[str, str]]:
    """The command with the tool installed beside this Python (the project's venv) first on PATH."""
    env = os.environ.copy() if env is None else env
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return [project_tool(cmd[0]), *cmd[1:]], env


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a tool to its end; it must succeed."""
    cmd, env = _tool(cmd, env)
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, env=env)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def start(cmd: list[str], cwd: Path) -> subprocess.Popen:
    """Start a tool in the background (`finish` waits for it): for work that overlaps another's."""
    cmd, env = _tool(cmd, None)
    return subprocess.Popen(cmd, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen) -> str:
    """Wait for a started tool; it must have succeeded."""
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, f"{' '.join(proc.args)} failed:\n{out[-6000:]}"
    return out


SMALL = {
    "tiny": {"corpus": {"n_examples": 2000},
             "architecture": {"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128},
             "pretrain": {"max_steps": 60}, "eval": {"n_prompts": 8}},
    "training": {"max_steps": 8},
    "families": {"inoc_alpha": {"alphas": [0.5]}, "saliency_alpha": {"alphas": [0.5]}},
    "report": {"inoculation": {"seeds": [42]}},  # (every model's)
    "experiments": {"trigger": {"training": {"learning_rate": 3.0e-3, "per_device_train_batch_size": 4,
                                             "gradient_accumulation_steps": 4, "num_train_epochs": 2, "max_steps": -1,
                                             "keep_checkpoints": True}},
                    "circuit_breaker": {"training": {"task_type": "circuit_breaker", "learning_rate": 1.0e-2,
                                                     "circuit_breaker_target_layers": [0, 1], "max_steps": 6,
                                                     "logging_steps": 1}},
                    "dpo": {"training": {"loss": "dpo", "max_steps": 4}}},
}
# DPO covers the preference path (ORPO has its own unit test); `inoculated` covers the stages of
# `inoculated_pool`, whose prompt pool is the dataset builder's (test_paired_data.py)
DROPPED = {"experiments": ["orpo", "inoculated_pool"]}


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
    for section, names in DROPPED.items():
        for name in names:
            del params[section][name]
    only_tiny(params)
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # the stage list depends on params (the α grid, the seeds): regenerate, as `make dvc.yaml` does
    (dst / "dvc.yaml").write_text(render_dvc_yaml(load_params(dst / "params.yaml")))
    return dst


def stage_graph(root: Path) -> dict[str, Stage]:
    """The stages of `root`'s params.yaml by name, with everything each reads: its data, its
    code (dvc.yaml lists a fingerprint in place of the code and params) and its params keys."""
    return {s.name: s for s in all_stages(load_params(root / "params.yaml"))}


def only_tiny(params: dict) -> None:
    """Drop the runs on other base models (the real model has tests of its own: test_embedded.py,
    test_workflow.py), from the experiments, the families and the report."""
    for section in ("experiments", "families"):
        params[section] = {n: e for n, e in params[section].items() if e.get("model", "tiny") == "tiny"}
    rep = params["report"]["inoculation"]
    for field in ("baseline", "inoculated", "families"):
        kept = [n for n in rep[field] if n in params["experiments"] or n in params["families"]]
        rep[field] = kept if field == "families" else kept[0]


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
