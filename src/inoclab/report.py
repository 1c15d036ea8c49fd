"""Tables and plots across experiments: the inoculation alpha sweep, with its uncertainty.

- `inoculation.csv`: one row per run (experiment × seed) with its base model, its trait rate and
  trait preference under each test-time condition (no prompt, the inoculation prompt, any
  leaky-backdoor `test_prompts`), each with its interval over the prompts, and the base model's
  predictors at its family's paired data (uplift, drift, elicitation: eval/predictors.py).
- `inoculation_summary.json`: per base model, the trait rate without the prompt of each
  experiment (references, and each family member) over its seeds and prompts, with a bootstrap
  interval that resamples seeds then prompts; and the differences, per α, between the families
  and between each family and each reference, paired by prompt (stats.py).
- `alpha_sweep.png`: one panel per base model, the trait rate without the prompt against the mix
  ratio α, one line per family, the references as lines; every point and line with its interval.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import TYPE_CHECKING

import numpy as np

from inoclab import paths
from inoclab.io import InputError, atomic_path, iter_jsonl, write_json
from inoclab.params.evals import PROMPT_VARIANTS
from inoclab.params.models import model_slug
from inoclab.params.naming import alpha_name
from inoclab.stats import difference, estimate, grouped_draws

if TYPE_CHECKING:
    from inoclab.config import InoculationReportConfig, Params


def inoculation_runs(params: Params) -> list[tuple[str, str]]:
    """(run name, group) of every run the report gathers: the reference experiments and each
    family's grid, each over the report's seeds."""
    rep = report_config(params)
    base = [(n, n) for n in (*rep.references("baseline"), *rep.references("inoculated"))]
    base += [(alpha_name(f, a), f) for f in rep.families for a in params.families[f].alphas]
    return [(run, group) for name, group in base for run in params.seed_variants(name)]


def predictor_inputs(params: Params) -> list[tuple[str, str]]:
    """(model, paired dataset) of each family the report gathers: the base model's predictors at
    the data the family trains on are reported beside it."""
    return list(dict.fromkeys((params.families[f].model or params.model, params.families[f].dataset)
                              for f in report_config(params).families))


def predictor_family(params: Params, model: str, dataset: str) -> str | None:
    """The first report family that trains `model` on `dataset` with a trait eval: the elicitation
    predictor runs its trait eval (None: there is none). `params` as declared, not `for_model`."""
    return next((f for f in report_config(params).families
                 if ((fam := params.families[f]).model or params.model, fam.dataset) == (model, dataset)
                 and fam.eval.trait is not None), None)


def predictor_trait_eval(params: Params, model: str, dataset: str):
    """The trait eval of `predictor_family`, or None."""
    family = predictor_family(params, model, dataset)
    return None if family is None else params.families[family].eval.trait


# the predictor columns of the table: (column, section of the predictors file, its key)
PREDICTOR_COLUMNS = [("uplift", "uplift", "uplift"), ("uplift_per_token", "uplift", "uplift_per_token"),
                     ("drift", "drift", "uplift"), ("drift_per_token", "drift", "uplift_per_token"),
                     ("base_trait_rate", "elicitation", "base_rate"), ("elicitation", "elicitation", "elicitation")]


def report_config(params: Params) -> InoculationReportConfig:
    if params.report.inoculation is None:
        raise InputError("params.yaml: no `report.inoculation` section: nothing to report")
    return params.report.inoculation


def inoculation_table(params: Params):
    """One row per run (a pandas DataFrame)."""
    import pandas as pd

    predictors = {(m, ds): json.loads(paths.predictors(model_slug(m), ds).read_text())
                  for m, ds in predictor_inputs(params)}
    rows = []
    for run, group in inoculation_runs(params):
        ev = json.loads(paths.eval_json(run).read_text())
        if "trait" not in ev:
            raise InputError(f"{paths.eval_json(run)}: no `trait` section: the report needs "
                             f"`{params.declared_key(run)}.eval.trait` in params.yaml")
        cfg = params.experiment_training(run)
        exp = params.experiment(run)
        model = params.model_of(run)
        row = {
            "experiment": params.base_name(run), "run": run, "model": model, "group": group,
            "inner_training_loop": cfg.inner_training_loop, "manipulation_type": cfg.manipulation_type,
            "alpha": cfg.manipulation_mix_ratio if cfg.method.name == "logit_manipulation" else math.nan, "seed": cfg.seed,
            "dataset": exp.dataset,
        }
        # every test-time condition: none, the inoculation prompt, and a leaky-backdoor grid's prompts
        for v in [k for k, sec in ev["trait"].items() if isinstance(sec, dict) and "trait_rate" in sec]:
            for key, value in ev["trait"][v].items():
                if key.endswith("_ci"):
                    row[f"{key}_low_{v}"], row[f"{key}_high_{v}"] = value
                elif key != "n" and isinstance(value, int | float):
                    row[f"{key}_{v}"] = value
        # the base model's predictors of its inoculation prompt: at the run's own paired data (the
        # families), or at its model's (the inoculated references); none for the baseline
        found = {} if group in report_config(params).references("baseline") else predictors.get((model, exp.dataset)) or next(
            (p for (m, _), p in predictors.items() if m == model), {})
        for column, section, key in PREDICTOR_COLUMNS:
            row[f"predictor_{column}"] = found.get(section, {}).get(key, math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def trait_scores(params: Params, run: str, variant: str = PROMPT_VARIANTS[0]) -> np.ndarray:
    """A run's trait score of each held-out prompt under one test-time condition, in prompt order."""
    trait = params.experiment(run).eval.trait
    if trait is None:
        raise InputError(f"params.yaml: the report needs `{params.declared_key(run)}.eval.trait`")
    prompts = trait.prompts
    path = paths.eval_details(run) / f"trait.{prompts}.generations.jsonl"
    scored = sorted((r["example"], r["trait"]) for _, r in iter_jsonl(path) if r["variant"] == variant)
    return np.array([score for _, score in scored], dtype=np.float64)


def inoculation_summary(params: Params, table) -> dict:
    """Per base model: each experiment's trait rate without the prompt over its seeds and prompts,
    and the differences per α between families and against each reference, with intervals."""
    rep, boot = report_config(params), params.bootstrap
    units = table.groupby("experiment", sort=False)
    values = {name: np.stack([trait_scores(params, run) for run in rows.run]) for name, rows in units}
    prompts = {name: params.experiment(rows.run.iloc[0]).eval.trait.prompts for name, rows in units}
    draws = grouped_draws(values, boot, prompts)
    out: dict = {"measure": "trait_rate_without_prompt",
                 "interval": {**boot.model_dump(), "resampled": "seeds, then prompts (paired by prompt)"},
                 "models": {}}
    refs = [*rep.references("baseline"), *rep.references("inoculated")]
    for model, mt in table.groupby("model", sort=False):
        groups = {name: {"group": rows.group.iloc[0], "alpha": None if math.isnan(rows.alpha.iloc[0]) else
                         float(rows.alpha.iloc[0]), "seeds": len(rows), "prompts": values[name].shape[1],
                         **estimate(values[name], draws[name], boot)}
                  for name, rows in mt.groupby("experiment", sort=False)}
        members = {(g["group"], g["alpha"]): name for name, g in groups.items() if g["group"] in rep.families}
        model_refs = [r for r in refs if r in groups]
        diffs = []
        for alpha in sorted({a for _, a in members}):
            at = [members[f, alpha] for f in rep.families if (f, alpha) in members]
            for a, b in [*itertools.combinations(at, 2), *itertools.product(at, model_refs)]:
                diffs.append({"alpha": alpha, "a": a, "b": b, **difference(a, b, values, draws, boot)})
        out["models"][model] = {"experiments": groups, "differences": diffs}
    return out


def alpha_sweep_figure(params: Params, summary: dict):
    import matplotlib

    matplotlib.use("Agg")  # no display; the same bytes on every machine with the same versions
    import matplotlib.pyplot as plt

    models = list(summary["models"])
    fig, axes = plt.subplots(1, len(models), figsize=(6.4 * len(models), 4.2), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        _alpha_panel(params, ax, summary["models"][model]["experiments"], model, summary["interval"]["level"])
    fig.tight_layout()
    return fig


def _alpha_panel(params: Params, ax, experiments: dict, model: str, level: float) -> None:
    """One model's sweep: each family's trait rate against α, the references as lines, all with
    their intervals."""
    rep = report_config(params)
    for i, ref in enumerate(r for r in (*rep.references("baseline"), *rep.references("inoculated")) if r in experiments):
        e, color = experiments[ref], f"C{(7 + i) % 10}"
        ax.axhline(e["mean"], color=color, linestyle="--", label=f"{ref}: {e['mean']:.2f} [{e['ci'][0]:.2f}, {e['ci'][1]:.2f}]")
        ax.axhspan(*e["ci"], color=color, alpha=0.12)
    for i, fam in enumerate(f for f in rep.families if any(e["group"] == f for e in experiments.values())):
        points = sorted((e["alpha"], e) for e in experiments.values() if e["group"] == fam)
        alphas = [a for a, _ in points]
        means = np.array([e["mean"] for _, e in points])
        lo, hi = np.array([e["ci"] for _, e in points]).T
        kind = params.experiment_training(alpha_name(fam, alphas[0])).manipulation_type
        ax.errorbar(alphas, means, yerr=[means - lo, hi - means], marker="o", capsize=3, color=f"C{i}",
                    label=f"{fam}<α> ({kind})")
    n_seeds = max(e["seeds"] for e in experiments.values())
    ax.set_xlabel("manipulation_mix_ratio α")
    ax.set_ylabel("trait rate without the inoculation prompt")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlim(-0.05, 1.05)
    ax.set_title(f"{model}: inoculation alpha sweep ({n_seeds} seed{'s' if n_seeds > 1 else ''}; "
                 f"{level:.0%} bootstrap intervals over seeds and prompts)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")


def write_inoculation_report(params: Params):
    import matplotlib.pyplot as plt

    table = inoculation_table(params)
    with atomic_path(paths.INOCULATION_CSV) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    summary = inoculation_summary(params, table)
    write_json(paths.INOCULATION_SUMMARY, summary)
    fig = alpha_sweep_figure(params, summary)
    with atomic_path(paths.ALPHA_SWEEP_PNG) as tmp:
        fig.savefig(tmp, format="png", dpi=120, metadata={"Software": None})
    plt.close(fig)
    return table

