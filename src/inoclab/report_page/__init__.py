"""The report page: results/report/index.html, every family's figures on one page, readable
offline in a browser (plain HTML and CSS, no script, nothing fetched; each figure a PNG beside
it in results/report/figures/).

Sections, each present when params.yaml declares what it shows:
- inoculation: the α-sweep of each base model (alpha_sweep.png, report.py) and its table of
  trait rates with intervals;
- predictors: per base model, the battery at its paired data (uplift, drift, elicitation, with
  intervals: eval/predictors.py); per run, the suppression (the baseline's trait rate minus the
  run's) beside the optimisation pressure it trained under, and how well each pressure measure
  tracks suppression across runs (Pearson r, with a bootstrap interval over runs);
- pressure: per base model, the pressure curves of every run that measures them (callbacks.pressure);
- trigger: the trigger rates after each epoch, with intervals (eval.trigger's curve);
- circuit breakers: coefficients, losses and cosines over training (the train log's monitors);
- callbacks: the step-indexed curves of every experiment that declares callbacks.

The package's own module is the page's plan (where it is written, which runs and files it
reads), light enough for the workflow to import when it builds the stage graph; render.py draws
and writes it, with matplotlib and pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inoclab import paths
from inoclab.params.models import model_slug
from inoclab.report import inoculation_runs, predictor_inputs

if TYPE_CHECKING:
    from inoclab.config import Params

PAGE = paths.REPORT / "index.html"
FIGURES = paths.REPORT / "figures"


def page_runs(params: Params) -> list[str]:
    """The runs of the grid under their own seed (seed variants repeat the same curves)."""
    return [n for n in params.grid() if params.base_name(n) == n]


def page_inputs(params: Params) -> list[str]:
    """Every file and folder the page reads."""
    out = []
    if params.report.inoculation is not None:
        out += [str(p) for p in (paths.INOCULATION_CSV, paths.INOCULATION_SUMMARY, paths.ALPHA_SWEEP_PNG)]
        out += [str(paths.predictors(model_slug(m), d)) for m, d in predictor_inputs(params)]
        # the pressure of every run of the report, each seed's (the table pairs runs by seed)
        out += [str(paths.callbacks_dir(run)) for run, _ in inoculation_runs(params)
                if any(c.kind == "pressure" for c in params.experiment(run).callbacks.all())]
    for name in page_runs(params):
        exp = params.experiment(name)
        if exp.callbacks.all():
            out.append(str(paths.callbacks_dir(name)))
        if exp.eval.trigger is not None:
            out.append(str(paths.eval_json(name)))
        if params.experiment_training(name).task_type == "circuit_breaker":
            out.append(str(paths.train_log(name)))
    return list(dict.fromkeys(out))
