"""Hand-off between Snakemake and DVC, for sharing pinned results through a DVC remote.

The two engines keep different books. DVC records in `dvc.lock` the hashes of every stage's
inputs and outputs, and `dvc pull` restores outputs by content but not their file times.
Snakemake decides what is stale by file times (and its own metadata in `.snakemake/`).
So outputs built by Snakemake are unknown to `dvc.lock`, and outputs pulled by DVC look stale
to Snakemake. Two commands close the gap:

    python -m inoclab.share record   # after `snakemake ...`: record the built stages in dvc.lock
    python -m inoclab.share pull     # `dvc pull`, then mark the pulled outputs up to date for Snakemake
    python -m inoclab.share touch    # only the marking (after `dvc repro` where Snakemake ran before)

`make push` is `record` then `dvc push`; `make pull` is `pull`.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

from inoclab.config import PARAMS_FILE, load_params
from inoclab.io import InputError
from inoclab.workflow import FINGERPRINTS_STAGE, Stage, all_stages, sync_fingerprints


def project_tool(name: str) -> str:
    """The tool installed beside this Python (the project's environment), else the one on PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise InputError(f"{name}: not installed (run `make setup`)")
    return found


def _run(*cmd: str, capture: bool = False) -> subprocess.CompletedProcess:
    r = subprocess.run([project_tool(cmd[0]), *cmd[1:]], capture_output=capture, text=True, check=False)
    if r.returncode:
        detail = f":\n{r.stdout[-2000:]}{r.stderr[-2000:]}" if capture else ""
        raise InputError(f"`{' '.join(cmd)}` failed (exit {r.returncode}){detail}")
    return r


def built_stages(stages: list[Stage]) -> list[Stage]:
    """The stages all of whose outputs exist."""
    return [s for s in stages if all(Path(o).exists() for o in s.outputs)]


def stale_outputs(outputs: list[str]) -> list[str]:
    """Those of `outputs` that Snakemake would rebuild (dry run)."""
    if not outputs:
        return []
    plan = _run("snakemake", "-n", *outputs, capture=True).stdout
    planned = {o.strip() for line in re.findall(r"^\s+output: (.*)$", plan, flags=re.M) for o in line.split(",")}
    return [o for o in outputs if o in planned]


def dvc_changed() -> set[str]:
    """The stages whose recorded hashes in dvc.lock do not match the workspace."""
    return set(json.loads(_run("dvc", "status", "--json", capture=True).stdout or "{}"))


def record(params_file: str = PARAMS_FILE) -> list[str]:
    """Record in dvc.lock every built stage that DVC does not know as built (`dvc commit`,
    which hashes inputs and outputs without running anything), after checking that Snakemake
    sees each as up to date. Stages DVC already has current are left alone. Every stage's
    fingerprint is brought up to date first (Snakemake writes those of the jobs it plans only):
    a stage built with other params or code is then out of date, and refused."""
    params = load_params(params_file)
    built = built_stages(all_stages(params))
    if not built:
        raise InputError("nothing is built yet: run snakemake first")
    sync_fingerprints(params)
    changed = dvc_changed()
    stages = [s for s in built if s.name in changed]
    if not stages and FINGERPRINTS_STAGE not in changed:
        return []
    stale = stale_outputs([o for s in stages for o in s.snakemake_outputs])
    if stale:
        raise InputError("out of date, so not recorded (run snakemake first): " + ", ".join(stale[:10]))
    names = ([FINGERPRINTS_STAGE] if FINGERPRINTS_STAGE in changed else []) + [s.name for s in stages]
    commit_stages(names)
    return names


def commit_stages(names: list[str]) -> None:
    """`dvc commit --force <names>`, with dvc.lock written once. The command line rewrites the
    whole lock file once per stage it is given (a round-trip YAML parse and dump each): 118 s
    for the 41 stages of the tests' small pipeline, where this takes seconds."""
    from dvc.repo import Repo, locked
    from dvc.repo.scm_context import scm_context

    @locked
    def commit(repo: Repo) -> None:
        by_name = {stage.name: stage for stage in repo.index.stages}
        stages = [by_name[n] for n in names]
        for stage in stages:
            stage.save()
            stage.commit()
        stages[0].dvcfile.dump_stages(stages, update_pipeline=False)

    dvc_log = logging.getLogger("dvc")
    level = dvc_log.level
    dvc_log.setLevel(logging.ERROR)  # as `--quiet`: no warning per empty __init__.py it hashes
    try:
        with Repo() as repo:
            scm_context(commit, quiet=True)(repo)
    finally:
        dvc_log.setLevel(level)


def touch(params_file: str = PARAMS_FILE) -> list[str]:
    """Mark every output present as up to date for Snakemake (`snakemake --touch`), which goes
    by file times and its own records: after `dvc pull`, or after `dvc repro` in a checkout
    where Snakemake ran before."""
    outputs = [o for s in built_stages(all_stages(load_params(params_file))) for o in s.snakemake_outputs]
    if outputs:
        _run("snakemake", "--touch", "--quiet", "all", "--", *outputs)
    return outputs


def pull(params_file: str = PARAMS_FILE) -> list[str]:
    """`dvc pull`, then `touch`: DVC restores outputs by content but not their file times."""
    _run("dvc", "pull")
    return touch(params_file)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["record", "pull", "touch"])
    parser.add_argument("--params", default=PARAMS_FILE)
    args = parser.parse_args(argv)
    try:
        if args.command == "record":
            names = record(args.params)
            print(f"recorded {len(names)} stage(s) in dvc.lock ({'the others were current' if names else 'all were current'});"
                  " `dvc push` uploads the outputs")
        else:
            outputs = (pull if args.command == "pull" else touch)(args.params)
            print(f"{len(outputs)} output(s) marked up to date for Snakemake")
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
