"""Shared by the stage scripts: parse `--params`/`--log`, load params.yaml, report bad input in
one line. The log is a copy of what the stage prints, so Snakemake and DVC, which run the same
command line, both leave it at the same path."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

from inoclab.config import PARAMS_FILE, Params, load_params
from inoclab.io import InputError
from inoclab.models.selection import BackendError, preload


def preload_backend() -> None:
    """For stages that load a model: pick the backend where the job runs and, for unsloth,
    import it before the stage's own imports bring in transformers (unsloth patches it). An
    unusable choice (unsloth without CUDA) stops the stage here, before anything is loaded."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--params", default=PARAMS_FILE)
    try:
        params = load_params(parser.parse_known_args()[0].params)
    except InputError:
        return  # run() reports it, with the stage's other arguments
    try:
        preload(params.backend, params.load_in_4bit)
    except BackendError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


def run(main: Callable[[Params, argparse.Namespace], None], *args: tuple[str, str]) -> None:
    """Parse `args` (flag, help) plus --params, then call main; InputError exits 2 cleanly."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--params", default=PARAMS_FILE, help="the params file (default: params.yaml)")
    parser.add_argument("--log", help="also write everything the stage prints to this file")
    for flag, help_ in args:
        parser.add_argument(flag, required=True, help=help_)
    ns = parser.parse_args()
    with _tee(ns.log):
        try:
            main(load_params(ns.params), ns)
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)


class _Tee:
    def __init__(self, stream, log):
        self.stream, self.log = stream, log

    def write(self, text):
        self.log.write(text)
        return self.stream.write(text)

    def flush(self):
        self.log.flush()
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


@contextlib.contextmanager
def _tee(path: str | None):
    if not path:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as log:
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(sys.stdout, log), _Tee(sys.stderr, log)
        try:
            yield
        finally:
            sys.stdout, sys.stderr = old
