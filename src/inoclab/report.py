"""Tables and plots across experiments: the inoculation alpha sweep.

`results/report/inoculation.csv` has one row per run (experiment × seed) with its base model,
its trait rate and trait preference without and with the inoculation prompt, and the base
model's surprise at its paired data; `alpha_sweep.png` has one panel per base model, plotting
the trait rate without the prompt against the mix ratio α, one line per family (mean over
seeds, ± one standard deviation when there are several), with that model's `baseline` and
`inoculated` experiments as reference lines.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from inoclab import paths
from inoclab.io import InputError, atomic_path
from inoclab.params.evals import PROMPT_VARIANTS
from inoclab.params.models import model_slug
from inoclab.params.naming import alpha_name

if TYPE_CHECKING:
    from inoclab.config import InoculationReportConfig, Params


def inoculation_runs(params: Params) -> list[tuple[str, str]]:
    """(run name, group) of every run the report gathers: the reference experiments and each
    family's grid, each over the report's seeds."""
    rep = _config(params)
    base = [(n, n) for n in (*rep.references("baseline"), *rep.references("inoculated"))]
    base += [(alpha_name(f, a), f) for f in rep.families for a in params.families[f].alphas]
    return [(run, group) for name, group in base for run in params.seed_variants(name)]


def surprise_inputs(params: Params) -> list[tuple[str, str]]:
    """(model, paired dataset) of each family the report gathers: the base model's surprise at
    the data the family trains on is reported beside it."""
    return list(dict.fromkeys((params.families[f].model or params.model, params.families[f].dataset)
                              for f in _config(params).families))


def _config(params: Params) -> InoculationReportConfig:
    if params.report.inoculation is None:
        raise InputError("params.yaml: no `report.inoculation` section: nothing to report")
    return params.report.inoculation


def inoculation_table(params: Params):
    """One row per run (a pandas DataFrame)."""
    import pandas as pd

    surprise = {(m, ds): json.loads(paths.surprise(model_slug(m), ds).read_text()) for m, ds in surprise_inputs(params)}
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
        for v in PROMPT_VARIANTS:
            for key, value in ev["trait"][v].items():
                if key != "n":
                    row[f"{key}_{v}"] = value
        row["surprise_uplift"] = surprise[model, exp.dataset]["uplift"] if (model, exp.dataset) in surprise else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def alpha_sweep_figure(params: Params, table):
    import matplotlib

    matplotlib.use("Agg")  # no display; the same bytes on every machine with the same versions
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(table.model))
    fig, axes = plt.subplots(1, len(models), figsize=(6.4 * len(models), 4.2), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        _alpha_panel(params, ax, table[table.model == model], model)
    fig.tight_layout()
    return fig


def _alpha_panel(params: Params, ax, table, model: str) -> None:
    """One model's sweep: each family's trait rate against α, the references as lines."""
    rep = _config(params)
    y = "trait_rate_without_prompt"
    refs = [n for n in (*rep.references("baseline"), *rep.references("inoculated")) if n in set(table.group)]
    for i, ref in enumerate(refs):
        vals = table.loc[table.group == ref, y]
        color = f"C{7 + i}"
        ax.axhline(vals.mean(), color=color, linestyle="--", label=f"{ref}: {vals.mean():.2f}")
        if len(vals) > 1:
            ax.axhspan(vals.mean() - vals.std(), vals.mean() + vals.std(), color=color, alpha=0.12)
    for i, fam in enumerate(f for f in rep.families if f in set(table.group)):
        rows = table[table.group == fam]
        stats = rows.groupby("alpha")[y].agg(["mean", "std", "count"]).sort_index()
        yerr = stats["std"].fillna(0.0) if (stats["count"] > 1).any() else None
        kind = params.experiment_training(rows.run.iloc[0]).manipulation_type
        ax.errorbar(stats.index, stats["mean"], yerr=yerr, marker="o", capsize=3, color=f"C{i}",
                    label=f"{fam}<α> ({kind})")
    n_seeds = int(table.groupby("experiment").seed.nunique().max())
    ax.set_xlabel("manipulation_mix_ratio α")
    ax.set_ylabel("trait rate without the inoculation prompt")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlim(-0.05, 1.05)
    ax.set_title(f"{model}: inoculation alpha sweep ({n_seeds} seed{'s' if n_seeds > 1 else ''}"
                 f"{', ± 1 s.d.' if n_seeds > 1 else ''})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")


def write_inoculation_report(params: Params):
    import matplotlib.pyplot as plt

    table = inoculation_table(params)
    with atomic_path(paths.INOCULATION_CSV) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    fig = alpha_sweep_figure(params, table)
    with atomic_path(paths.ALPHA_SWEEP_PNG) as tmp:
        fig.savefig(tmp, format="png", dpi=120, metadata={"Software": None})
    plt.close(fig)
    return table

