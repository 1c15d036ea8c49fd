"""Shared by the stage scripts: parse `--params`, load params.yaml, report bad input in one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from inoclab.config import PARAMS_FILE, Params, load_params
from inoclab.io import InputError


def run(main: Callable[[Params, argparse.Namespace], None], *args: tuple[str, str]) -> None:
    """Parse `args` (flag, help) plus --params, then call main; InputError exits 2 cleanly."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--params", default=PARAMS_FILE, help="the params file (default: params.yaml)")
    for flag, help_ in args:
        parser.add_argument(flag, required=True, help=help_)
    ns = parser.parse_args()
    try:
        main(load_params(ns.params), ns)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
