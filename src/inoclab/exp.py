"""`dvc exp run` for parameters that change the stage list (an α grid, the report's seeds, a new
experiment), not only the values stages read.

dvc.yaml is generated from params.yaml (one stage per experiment of the grid), so `dvc exp run
-S families.inoc_alpha.alphas=[0.1,0.9]` would change params.yaml but run the old stage list.
This applies the `-S` overrides the way DVC does (its own function, so the same override
syntax), regenerates dvc.yaml, then runs `dvc exp run` with the other arguments; the experiment
records both files. Plain value changes (`-S training.learning_rate=1e-3`) work with `dvc exp
run` itself.

    python -m inoclab.exp -S families.inoc_alpha.alphas=[0.1,0.9] [-n NAME] [--queue] ...
    python -m inoclab.exp -S ... --apply-only    # only update params.yaml and dvc.yaml
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from dvc.exceptions import DvcException

from inoclab.config import PARAMS_FILE, load_params
from inoclab.io import InputError, write_text
from inoclab.share import project_tool
from inoclab.workflow import render_dvc_yaml

DVC_YAML = "dvc.yaml"


def split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the `-S`/`--set-param` values, every other argument)."""
    overrides, rest, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-S", "--set-param"):
            if i + 1 == len(argv):
                raise InputError(f"{arg} needs a value (key=value)")
            overrides.append(argv[i + 1])
            i += 2
            continue
        if arg.startswith("--set-param="):
            overrides.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
        i += 1
    return overrides, rest


def apply(overrides: list[str], params_file: str = PARAMS_FILE) -> None:
    """Apply the overrides to a copy of params.yaml; if the result is valid, it replaces
    params.yaml and dvc.yaml is regenerated; if not, nothing changes."""
    from dvc.utils.hydra import apply_overrides

    trial = Path(params_file).with_name(".params.overridden.yaml")  # checked before it replaces params.yaml
    shutil.copyfile(params_file, trial)
    try:
        if overrides:
            apply_overrides(trial, overrides)
        params = load_params(trial)
    except InputError as e:
        raise InputError(str(e).replace(str(trial), f"{params_file} with the overrides")) from None
    else:
        os.replace(trial, params_file)
    finally:
        trial.unlink(missing_ok=True)
    write_text(DVC_YAML, render_dvc_yaml(params))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    apply_only = "--apply-only" in args  # update params.yaml and dvc.yaml, run nothing
    try:
        overrides, rest = split_overrides([a for a in args if a != "--apply-only"])
        apply(overrides)
    except (InputError, DvcException) as e:  # DvcException: a malformed override
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    if not apply_only:
        sys.exit(subprocess.call([project_tool("dvc"), "exp", "run", *rest]))


if __name__ == "__main__":
    main()
