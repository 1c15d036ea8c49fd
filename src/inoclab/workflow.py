"""The stage graph: every stage's command, inputs, outputs and params, in one place.

Both workflow engines read it: the Snakefile's rules take their inputs and commands from here,
and `dvc.yaml` is generated from it (`python -m inoclab.workflow > dvc.yaml`, or
`make dvc.yaml`), so the two run exactly the same command lines on the same files. A test
checks that the committed dvc.yaml is current and that Snakemake plans the same jobs.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass, field

import yaml
from pydantic import BaseModel

from inoclab import paths
from inoclab.config import FileDataset, PairedDataset, Params, load_params
from inoclab.io import InputError

SCRIPTS = "workflow/scripts"
PY = "python"  # the stage commands run in the project's environment (see README)

# Code each kind of stage depends on: a change there reruns the stage. Every stage also
# depends on the params models (their defaults) and on the shared I/O and script helpers.
_COMMON = ["src/inoclab/config.py", "src/inoclab/io.py", "src/inoclab/workflow.py", f"{SCRIPTS}/_common.py"]
_CODE = {
    "tiny": ["src/inoclab/models/tiny.py", "src/inoclab/data/world.py", "src/inoclab/data/corpus.py"],
    "pretrain": ["src/inoclab/models/pretrain.py", "src/inoclab/train", "src/inoclab/tokenize.py"],
    "dataset": ["src/inoclab/data"],
    "tokenize": ["src/inoclab/tokenize.py", "src/inoclab/data/conversations.py"],
    "train": ["src/inoclab/train", "src/inoclab/models/backend.py"],
    "eval": ["src/inoclab/eval", "src/inoclab/models/backend.py"],
}


@dataclass
class Stage:
    name: str
    cmd: str  # ends with `--log <log>`: the script tees its output there
    log: str
    deps: list[str]
    outs: list[str]
    params: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)

    @property
    def outputs(self) -> list[str]:
        return self.outs + self.metrics + self.plots


def _script(name: str) -> str:
    return f"{SCRIPTS}/{name}.py"


def log_path(kind: str, item: str | None = None) -> str:
    return f"logs/{kind}.log" if item is None else f"logs/{kind}/{item}.log"


def _stage(name: str, script: str, args: tuple[str, ...], log: str, inputs: list[str], **kw) -> Stage:
    """A stage running `python <script> <args> --log <log>`; it depends on its script, its
    inputs and code, and the common code (each once, in order)."""
    deps: list[str] = []
    for d in (_script(script), *inputs, *_COMMON):
        if d not in deps:
            deps.append(d)
    cmd = " ".join([PY, _script(script), *args, "--log", log])
    return Stage(name, cmd, log, deps=deps, **kw)


def stage_name(kind: str, item: str | None = None) -> str:
    """DVC stage names allow letters, digits, '_' and '-': other characters become '-'."""
    return kind if item is None else f"{kind}-{re.sub(r'[^A-Za-z0-9_-]', '-', item)}"


# ---------------------------------------------------------------- the embedded tiny model
def tiny_corpus(params: Params) -> Stage:
    return _stage(
        "tiny_corpus", "tiny_corpus", (), log_path("tiny_corpus"), [params.tiny.corpus.world, *_CODE["tiny"]],
        outs=[str(paths.TINY_CORPUS)], params=["seed", "tiny.corpus"],
    )


def tiny_tokenizer(params: Params) -> Stage:
    return _stage(
        "tiny_tokenizer", "tiny_tokenizer", (), log_path("tiny_tokenizer"),
        [str(paths.TINY_CORPUS), "src/inoclab/models/tiny.py"],
        outs=[str(paths.TINY_TOKENIZER)], params=["tiny.tokenizer"],
    )


def tiny_pretrain(params: Params) -> Stage:
    return _stage(
        "tiny_pretrain", "tiny_pretrain", (), log_path("tiny_pretrain"),
        [str(paths.TINY_CORPUS), str(paths.TINY_TOKENIZER), *_CODE["tiny"], *_CODE["pretrain"],
         "src/inoclab/eval/generate.py", "src/inoclab/eval/traits.py"],
        outs=[str(paths.TINY_MODEL)], params=["seed", "tiny"],
        metrics=[str(paths.TINY_METRICS)], plots=[str(paths.TINY_PRETRAIN_LOG)],
    )


def base_model_deps(params: Params) -> list[str]:
    return [str(paths.TINY_MODEL)] if params.is_tiny else []


# ---------------------------------------------------------------- data
def _declared_item(params: Params, section: str, name: str):
    """params.<section>[name], or one clear error listing what is declared."""
    items = getattr(params, section)
    if name not in items:
        declared = ", ".join(sorted(items)) or "none"
        raise InputError(f"params.yaml: no {section[:-1]} named {name!r} under '{section}' (declared: {declared})")
    return items[name]


def dataset(params: Params, name: str):
    return _declared_item(params, "datasets", name)


def dataset_stage(params: Params, name: str) -> Stage:
    cfg = dataset(params, name)
    if isinstance(cfg, FileDataset):
        inputs = [cfg.path]
    elif isinstance(cfg, PairedDataset):
        inputs = [str(paths.dataset(cfg.source))]
    else:
        inputs = [params.tiny.corpus.world]
    return _stage(
        stage_name("dataset", name), "build_dataset", ("--dataset", name), log_path("dataset", name),
        [*inputs, *_CODE["dataset"]],
        outs=[str(paths.dataset(name))], params=["seed", "tiny.corpus", f"datasets.{name}"],
    )


def tokenize_stage(params: Params, name: str) -> Stage:
    return _stage(
        stage_name("tokenize", name), "tokenize_dataset", ("--dataset", name),
        log_path("tokenize", f"{params.model_slug}/{name}"),
        [str(paths.dataset(name)), *base_model_deps(params), *_CODE["tokenize"]],
        outs=[str(paths.tokenized(params.model_slug, name))],
        params=["model", "tokenize"],
    )


# ---------------------------------------------------------------- experiments
def experiment(params: Params, name: str):
    return _declared_item(params, "experiments", name)


def train_stage(params: Params, exp: str) -> Stage:
    e = experiment(params, exp)
    return _stage(
        stage_name("train", exp), "train_experiment", ("--experiment", exp), log_path("train", exp),
        [str(paths.tokenized(params.model_slug, e.dataset)), *base_model_deps(params), *_CODE["train"]],
        outs=[str(paths.model_dir(exp))],
        params=["seed", "model", "backend", "training", f"experiments.{exp}.dataset",
                f"experiments.{exp}.training"],
    )


def eval_stage(params: Params, exp: str) -> Stage:
    e = experiment(params, exp)
    inputs = [str(paths.model_dir(exp)), *base_model_deps(params)]
    inputs += [str(paths.tokenized(params.model_slug, d)) for d in e.eval.logprobs]
    inputs += [str(paths.dataset(d)) for d in e.eval.mcq]
    return _stage(
        stage_name("eval", exp), "evaluate_experiment", ("--experiment", exp), log_path("eval", exp),
        [*inputs, *_CODE["eval"]],
        outs=[str(paths.eval_details(exp))], metrics=[str(paths.eval_json(exp))],
        params=["seed", "model", "backend", "tokenize", f"experiments.{exp}.eval"],
    )


def all_stages(params: Params) -> list[Stage]:
    """Every stage needed to build every declared experiment, each once."""
    stages = [tiny_corpus(params), tiny_tokenizer(params), tiny_pretrain(params)] if params.is_tiny else []
    needed: list[str] = []

    def need(ds: str) -> None:
        cfg = params.datasets[ds]
        if isinstance(cfg, PairedDataset):
            need(cfg.source)
        if ds not in needed:
            needed.append(ds)

    for e in params.experiments.values():
        for ds in [e.dataset, *e.eval.logprobs, *e.eval.mcq]:
            need(ds)
    stages += [dataset_stage(params, d) for d in needed]
    stages += [tokenize_stage(params, d) for d in needed if not params.is_mcq(d)]
    for exp in params.experiments:
        stages += [train_stage(params, exp), eval_stage(params, exp)]
    return stages


def fingerprint(params: Params, stage: Stage) -> str:
    """A digest of the params a stage reads: Snakemake reruns the stage when it changes."""
    raw = params.model_dump(mode="json")
    picked = {key: _lookup(raw, key) for key in stage.params}
    return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()[:16]


def _step_into(node: dict, rest: str) -> tuple[object, str] | None:
    """One step of a dotted key in a dict whose keys may hold dots themselves
    (`inoc_alpha0.5.training` -> the entry `inoc_alpha0.5`, then `training`): the longest
    matching key wins. Returns (value, the rest of the key), or None."""
    match = max((k for k in node if rest == k or rest.startswith(k + ".")), key=len, default=None)
    return None if match is None else (node[match], rest[len(match) + 1:])


def _lookup(node, key: str):
    """The value at a dotted params key in nested dicts, or None."""
    rest = key
    while rest:
        step = _step_into(node, rest) if isinstance(node, dict) else None
        if step is None:
            return None
        node, rest = step
    return node


def _declared(params: Params, key: str) -> bool:
    """Whether params.yaml itself sets `key` (DVC refuses params keys the file lacks; a key
    left to its default has no value to track)."""
    node, rest = params, key
    while rest:
        if isinstance(node, BaseModel):
            part, _, rest = rest.partition(".")
            if part not in node.model_fields_set:
                return False
            node = getattr(node, part)
        elif isinstance(node, dict) and (step := _step_into(node, rest)) is not None:
            node, rest = step
        else:
            return False
    return True


def dvc_yaml(params: Params) -> dict:
    stages = {}
    for s in all_stages(params):
        d: dict = {"cmd": s.cmd, "deps": s.deps}
        declared = [k for k in s.params if _declared(params, k)]
        if declared:
            d["params"] = declared
        d["outs"] = s.outs
        if s.metrics:
            d["metrics"] = s.metrics
        if s.plots:
            d["plots"] = [{p: {"x": "step"}} for p in s.plots]
        stages[s.name] = d
    return {"stages": stages}


HEADER = (
    "# Generated from params.yaml by `python -m inoclab.workflow` (make dvc.yaml): do not edit.\n"
    "# The Snakefile builds the same stages with the same commands (tests/test_workflow.py).\n"
)


def render_dvc_yaml(params: Params) -> str:
    return HEADER + yaml.safe_dump(dvc_yaml(params), sort_keys=False, width=120)


def main() -> None:
    sys.stdout.write(render_dvc_yaml(load_params()))


if __name__ == "__main__":
    main()
