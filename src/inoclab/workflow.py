"""The stage graph: every stage's command, inputs, outputs and params, in one place.

Both workflow engines read it: the Snakefile's rules take their inputs and commands from here,
and `dvc.yaml` is generated from it (`python -m inoclab.workflow > dvc.yaml`, or
`make dvc.yaml`), so the two run exactly the same command lines on the same files. A test
checks that the committed dvc.yaml is current and that Snakemake plans the same jobs.

A stage reads its data inputs, some params values and the code it imports. Both engines see the
data inputs and one fingerprint file per stage, standing for its command, params values and code
(fingerprint.py): DVC's first stage, `fingerprints`, writes them all from params.yaml and
src/inoclab; Snakemake's input functions bring each planned job's up to date.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from inoclab import fingerprint, paths
from inoclab.codedeps import PACKAGE, SRC, code_deps
from inoclab.config import PARAMS_FILE, TINY, Params, load_params
from inoclab.params.keys import declared, value_at
from inoclab.params.models import EMBEDDED, model_slug
from inoclab.report import inoculation_runs, predictor_family, predictor_inputs
from inoclab.report_page import FIGURES, PAGE, page_inputs, page_runs
from inoclab.stages import STAGES, module_of

PY = "python"  # the stage commands run in the project's environment (see README)
# the params that decide how a model is loaded (which backend, precision, quantisation), and which
LOADING = ["backend", "dtype", "load_in_4bit"]
MODEL_LOADING = ["model", *LOADING]
# every backend a model-loading stage may pick where it runs (backend: auto decides on the node)
BACKEND_MODULES = ["inoclab.backends.hf", "inoclab.backends.unsloth"]


@dataclass
class Stage:
    name: str
    cmd: str  # ends with `--log <log>`: the script tees its output there
    log: str
    inputs: list[str]  # the data it reads
    code: list[str]  # the project files its command imports
    outs: list[str]
    params: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    plots: dict[str, dict] = field(default_factory=dict)  # path -> DVC plot properties
    # folders Snakemake makes as one output, whose files DVC tracks one by one (callbacks/: their
    # number varies by experiment, a rule's outputs cannot; DVC reads each file before any commit)
    folders: list[str] = field(default_factory=list)
    # train log folders among `outs` (train/train_log.py): their metrics and curves are declared
    # at the top of dvc.yaml, as their files depend on what the run logs
    train_logs: list[str] = field(default_factory=list)

    @property
    def deps(self) -> list[str]:
        """Its dependencies in both engines: its data, then the fingerprint file that stands
        for its command, params and code."""
        return [*self.inputs, str(paths.fingerprint(self.name))]

    @property
    def outputs(self) -> list[str]:
        """The outputs as DVC tracks them."""
        return self.outs + self.metrics + list(self.plots)

    @property
    def snakemake_outputs(self) -> list[str]:
        """The outputs as Snakemake knows them: a folder in place of the files DVC tracks in it."""
        inside = [o for o in self.outputs if any(o.startswith(f"{d}/") for d in self.folders)]
        return [o for o in self.outputs if o not in inside] + self.folders


def log_path(kind: str, item: str | None = None) -> str:
    return f"logs/{kind}.log" if item is None else f"logs/{kind}/{item}.log"


def stage_code(stage: str, components: tuple[object, ...] = ()) -> list[str]:
    """The project files a stage's command imports: the entry point, the stage's module, the
    backends for a stage that loads a model, and what the components it runs import when they
    run (a component imports its implementation inside its functions; codedeps.py)."""
    roots = ["inoclab.stages", "inoclab.stages.__main__", module_of(stage)]
    roots += BACKEND_MODULES if STAGES[stage].loads_model else []
    roots += [c.__module__ for comp in components for c in type(comp).__mro__ if c.__module__.startswith("inoclab.")]
    return code_deps(list(dict.fromkeys(roots)))


def _stage(name: str, stage: str, args: tuple[str, ...], log: str, inputs: list[str],
           components: tuple[object, ...] = (), **kw) -> Stage:
    """A stage running `python -m inoclab.stages <stage> <args> --log <log>`; it depends on its
    inputs and on the code it and the components it runs import (each once, in order)."""
    cmd = " ".join([PY, "-m", "inoclab.stages", stage, *args, "--log", log])
    return Stage(name, cmd, log, inputs=list(dict.fromkeys(inputs)), code=stage_code(stage, components), **kw)


def stage_name(kind: str, item: str | None = None) -> str:
    """DVC stage names allow letters, digits, '_' and '-': other characters become '-'."""
    return kind if item is None else f"{kind}-{re.sub(r'[^A-Za-z0-9_-]', '-', item)}"


# ---------------------------------------------------------------- the embedded tiny model
def tiny_corpus(params: Params) -> Stage:
    return _stage(
        "tiny_corpus", "tiny_corpus", (), log_path("tiny_corpus"), [params.tiny.corpus.world],
        outs=[str(paths.TINY_CORPUS)], params=["seed", "tiny.corpus"],
    )


def tiny_tokenizer(params: Params) -> Stage:
    return _stage(
        "tiny_tokenizer", "tiny_tokenizer", (), log_path("tiny_tokenizer"),
        [str(paths.TINY_CORPUS)],
        outs=[str(paths.TINY_TOKENIZER)], params=["tiny.tokenizer"],
    )


def tiny_pretrain(params: Params) -> Stage:
    return _stage(
        "tiny_pretrain", "tiny_pretrain", (), log_path("tiny_pretrain"),
        [str(paths.TINY_CORPUS), str(paths.TINY_TOKENIZER), params.tiny.corpus.world],
        outs=[str(paths.TINY_MODEL), str(paths.TINY_PRETRAIN_LOG)], params=["seed", "tiny"],
        metrics=[str(paths.TINY_METRICS)], train_logs=[str(paths.TINY_PRETRAIN_LOG)],
    )


def base_model_stage(params: Params, name: str) -> Stage:
    """An embedded real model, built from its registry package (no params: the pin is the input)."""
    return _stage(
        stage_name("base_model", name), "base_model", ("--model", name), log_path("base_model", name), [],
        outs=[str(paths.embedded_model(name))],
    )


def base_model_deps(params: Params) -> list[str]:
    """The folder of params' base model, where a stage of the pipeline builds it."""
    return [params.base_model_ref] if params.is_tiny or params.is_embedded else []


# ---------------------------------------------------------------- data
def dataset_stage(params: Params, name: str) -> Stage:
    cfg = params.dataset(name)
    inputs = [*cfg.inputs(params), *(str(paths.dataset(s)) for s in cfg.sources())]
    return _stage(
        stage_name("dataset", name), "dataset", ("--dataset", name), log_path("dataset", name), inputs,
        outs=[str(paths.dataset(name))], params=["seed", "tiny.corpus", f"datasets.{name}"],
    )


def tokenize_stage(params: Params, model: str, name: str) -> Stage:
    """A dataset tokenized for one base model (once per model, whichever runs read it)."""
    p = params.for_model(model)
    return _stage(
        stage_name("tokenize", f"{p.model_slug}-{name}"), "tokenize", ("--model", model, "--dataset", name),
        log_path("tokenize", f"{p.model_slug}/{name}"),
        # the tiny model's data is tokenized from the tokenizer stage's folder, beside pretraining
        # (stages/tokenize.py: tokenizer_folder)
        [str(paths.dataset(name)), *([str(paths.TINY_TOKENIZER)] if p.is_tiny else base_model_deps(p))],
        outs=[str(paths.tokenized(p.model_slug, name))],
        metrics=[str(paths.tokenize_stats(p.model_slug, name))], params=["tokenize"],
    )


# ---------------------------------------------------------------- experiments
def experiment_params(params: Params, name: str, *sections: str) -> list[str]:
    """The params keys that define an experiment's `sections`: a family member reads its
    family's (the α is in its name, so in the stage's command), others their own."""
    return [f"{params.declared_key(name)}.{s}" for s in sections]


def run_params(params: Params, exp: str) -> list[str]:
    """The params keys of what a run loads its model with: the run's own `model` when it sets one."""
    own = declared(params, f"{params.declared_key(exp)}.model")
    return [*LOADING, *experiment_params(params, exp, "model")] if own else MODEL_LOADING


def train_stage(params: Params, exp: str) -> Stage:
    params = params.for_run(exp)
    e = params.run(exp)
    method = params.experiment_training(exp).method
    inputs = method.inputs(params, e.dataset)
    callbacks = e.callbacks.all()
    inputs += [f for c in callbacks for f in c.inputs(params)]
    return _stage(
        stage_name("train", exp), "train", ("--experiment", exp), log_path("train", exp),
        [*dict.fromkeys(inputs), *base_model_deps(params)], components=(method, *callbacks, *(m for c in callbacks for m in c.components())),
        outs=[str(paths.model_dir(exp)), str(paths.train_log(exp)), *callback_files(params, exp)],
        folders=[str(paths.callbacks_dir(exp))], train_logs=[str(paths.train_log(exp))],
        params=["seed", *run_params(params, exp), "training",
                *experiment_params(params, exp, "dataset", "training", "callbacks"),
                *dict.fromkeys(method.params_sections() + (["tokenize"] if callbacks else []))],
    )


def callback_files(params: Params, exp: str) -> list[str]:
    """Every file of results/<exp>/callbacks/: its index, then each callback's files."""
    root = paths.callbacks_dir(exp)
    return [str(paths.callbacks_index(exp)), *(str(root / f) for c in params.run(exp).callbacks.all() for f in c.files())]


def callback_plots(params: Params, exp: str) -> dict[str, dict]:
    """`dvc plots show` definitions of an experiment's callback CSVs (file -> x, y, title)."""
    root = paths.callbacks_dir(exp)
    return {str(root / c.files()[0]): c.plot(params, exp) for c in params.run(exp).callbacks.all()}


def eval_stage(params: Params, exp: str) -> Stage:
    params = params.for_run(exp)
    e = params.run(exp)
    kinds = e.eval.kinds()
    inputs = [str(paths.model_dir(exp)), *base_model_deps(params)]
    inputs += [f for k in kinds for f in k.inputs(params, e.eval)]
    return _stage(
        stage_name("eval", exp), "eval", ("--experiment", exp), log_path("eval", exp), inputs,
        components=(*kinds, *(c for k in kinds for c in k.components(e.eval))), outs=[str(paths.eval_details(exp))], metrics=[str(paths.eval_json(exp))],
        params=["seed", *run_params(params, exp), "tokenize", "tiny.corpus", "bootstrap",
                *experiment_params(params, exp, "eval")],
    )


def predictors_stage(params: Params, model: str, name: str) -> Stage:
    """The predictor battery (eval/predictors.py) on the paired data, the report's control pairs,
    and the trait eval's prompts and measures of the family it stands beside."""
    family, p = predictor_family(params, model, name), params.for_model(model)  # the family: before for_model
    trait, control = p.families[family].eval.trait if family else None, p.report.inoculation.control
    measures = list(trait.measures().values()) if trait else []
    inputs = [str(paths.tokenized(p.model_slug, d)) for d in (name, control) if d]
    inputs += [str(paths.dataset(trait.prompts)), *(f for m in measures for f in m.inputs(p))] if trait else []
    return _stage(
        stage_name("predictors", f"{p.model_slug}-{name}"), "predictors", ("--model", model, "--dataset", name),
        log_path("predictors", f"{p.model_slug}/{name}"), [*inputs, *base_model_deps(p)], components=tuple(measures),
        outs=[], metrics=[str(paths.predictors(p.model_slug, name))],
        params=[*LOADING, "bootstrap", f"datasets.{name}", *(["report.inoculation.control"] if control else []),
                *([f"families.{family}.eval", "tokenize", "tiny.corpus"] if family else [])],
    )


def report_stage(params: Params) -> Stage:
    # eval.json, and the per-prompt scores in eval_details/ that the intervals resample
    inputs = [str(f(run)) for run, _ in inoculation_runs(params) for f in (paths.eval_json, paths.eval_details)]
    inputs += [str(paths.predictors(model_slug(m), d)) for m, d in predictor_inputs(params)]
    return _stage(
        "report-inoculation", "report", (), log_path("report", "inoculation"), inputs, outs=[],
        metrics=[str(paths.INOCULATION_SUMMARY)],
        plots={str(paths.INOCULATION_CSV): {"x": "alpha", "y": "trait_rate_without_prompt"},
               str(paths.ALPHA_SWEEP_PNG): {}},
        params=["report.inoculation", "bootstrap"],
    )


def page_stage(params: Params) -> Stage:
    """The report page and its figures (the report_page package): besides its data, it reads which runs
    have callbacks, a trigger eval or circuit breakers."""
    keys = [k for n in page_runs(params) for k in experiment_params(params, n, "callbacks", "eval.trigger", "training.task_type")]
    return _stage("report-page", "page", (), log_path("report", "page"), page_inputs(params), outs=[str(PAGE), str(FIGURES)],
                  params=["report", "bootstrap", "training.task_type", *dict.fromkeys(keys)])


def all_stages(params: Params) -> list[Stage]:
    """Every stage needed to build every experiment of the grid (declared experiments, family
    grids, the report's seeds), and the report, each once."""
    models = params.models()
    built = list(dict.fromkeys([*models, *params.judge_models()]))  # the judges' models are built too
    stages = [tiny_corpus(params), tiny_tokenizer(params), tiny_pretrain(params)] if TINY in built else []
    stages += [base_model_stage(params, m) for m in built if m in EMBEDDED]
    needed: list[str] = []

    def need(ds: str) -> None:
        for source in params.datasets[ds].sources():
            need(source)
        if ds not in needed:
            needed.append(ds)

    grid = params.grid()
    for name in grid:
        e = params.experiment(name)
        for ds in [e.dataset, *(d for _, d in e.eval.references()), *(c.dataset for c in e.callbacks.all())]:
            need(ds)
    runs = [s for name in grid for s in (train_stage(params, name), eval_stage(params, name))]
    reports = []
    if params.report.inoculation is not None:
        if params.report.inoculation.control:
            need(params.report.inoculation.control)
        reports = [*(predictors_stage(params, m, d) for m, d in predictor_inputs(params)), report_stage(params)]
    reports.append(page_stage(params))
    # a dataset is tokenized for a model when a stage reads it tokenized
    read = {d for s in [*runs, *reports] for d in s.inputs}
    stages += [dataset_stage(params, d) for d in needed]
    stages += [tokenize_stage(params, m, d) for m in models for d in needed
               if str(paths.tokenized(model_slug(m), d)) in read]
    return stages + runs + reports


def targets(params: Params) -> list[str]:
    """What a bare `snakemake` builds: the eval of every experiment of the grid, and the reports."""
    out = [str(paths.eval_json(n)) for n in params.grid()]
    return out + (list(report_stage(params).plots) if params.report.inoculation is not None else []) + [str(PAGE)]


def params_values(params: Params, stage: Stage) -> dict:
    """The values of the params a stage reads (defaults included: a default it reads is a value
    it depends on), by dotted key."""
    raw = _dumped(params)
    return {key: value_at(raw, key) for key in stage.params}


_DUMPS: dict[int, tuple[Params, dict]] = {}


def _dumped(params: Params) -> dict:
    """params as plain data, once per params object (the stage graph asks once per stage)."""
    if id(params) not in _DUMPS or _DUMPS[id(params)][0] is not params:
        _DUMPS[id(params)] = (params, params.model_dump(mode="json"))
    return _DUMPS[id(params)][1]


FINGERPRINTS_STAGE = "fingerprints"  # DVC's first stage: writes every stage's fingerprint
FINGERPRINTS_DEPS = [PARAMS_FILE, str(SRC / PACKAGE)]


def fingerprint_text(params: Params, stage: Stage) -> str:
    return fingerprint.content(stage.cmd, params_values(params, stage), stage.code)


def fingerprints(params: Params) -> dict[str, str]:
    """Every stage's fingerprint text, by stage name."""
    return {s.name: fingerprint_text(params, s) for s in all_stages(params)}


def sync_fingerprints(params: Params) -> None:
    """Bring every stage's fingerprint file up to date (the `fingerprints` stage; `share record`)."""
    for name, text in fingerprints(params).items():
        fingerprint.sync(name, text)


def planned_deps(params: Params, stage: Stage) -> list[str]:
    """A Snakemake rule's inputs: the stage's deps, its fingerprint file synced first."""
    fingerprint.sync(stage.name, fingerprint_text(params, stage))
    return stage.deps


def dvc_yaml(params: Params) -> dict:
    """The stages, each on its data and its fingerprint, after the stage that writes the
    fingerprints. params.yaml is declared at the top for `dvc exp show` and `dvc params diff`."""
    # persist: DVC leaves the folder in place when the stage reruns, so an unchanged fingerprint
    # keeps its file time, and Snakemake sees only the stages an edit touched
    stages = {FINGERPRINTS_STAGE: {"cmd": f"{PY} -m inoclab.workflow {FINGERPRINTS_STAGE}",
                                   "deps": FINGERPRINTS_DEPS, "outs": [{str(paths.FINGERPRINTS): {"persist": True}}]}}
    metrics, plots = [], []
    for s in all_stages(params):
        d: dict = {"cmd": s.cmd, "deps": s.deps, "outs": s.outs}
        if s.metrics:
            d["metrics"] = s.metrics
        if s.plots:
            d["plots"] = [{p: props} if props else p for p, props in s.plots.items()]
        stages[s.name] = d
        for folder in s.train_logs:  # files inside an output folder: declared at the top level
            metrics.append(str(paths.train_log_metrics(Path(folder))))
            plots.append({str(paths.train_log_plots(Path(folder))): {"x": "step"}})
    for name in params.grid():  # callback files live in a stage's output folder: top-level plots
        if params.experiment(name).callbacks.all():
            plots += [{path: props} for path, props in callback_plots(params, name).items()]
    return {"params": [PARAMS_FILE], "stages": stages, **({"metrics": metrics} if metrics else {}),
            **({"plots": plots} if plots else {})}


HEADER = (
    "# Generated from params.yaml by `python -m inoclab.workflow` (make dvc.yaml): do not edit.\n"
    "# The Snakefile builds the same stages with the same commands (tests/test_workflow.py).\n"
)


def render_dvc_yaml(params: Params) -> str:
    return HEADER + yaml.safe_dump(dvc_yaml(params), sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> None:
    """No argument: print dvc.yaml. `fingerprints`: write results/fingerprints/ (DVC's first stage)."""
    args = sys.argv[1:] if argv is None else argv
    if args == [FINGERPRINTS_STAGE]:
        sync_fingerprints(load_params())
    elif not args:
        sys.stdout.write(render_dvc_yaml(load_params()))
    else:
        sys.exit(f"usage: python -m inoclab.workflow [{FINGERPRINTS_STAGE}]")


if __name__ == "__main__":
    main()
