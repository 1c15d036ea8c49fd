"""Tables and plots across experiments: the inoculation alpha sweep.

`results/report/inoculation.csv` has one row per run (experiment × seed) with its trait rate
and trait preference without and with the inoculation prompt; `alpha_sweep.png` plots the
trait rate without the prompt against the mix ratio α, one line per manipulation type (mean
over seeds, ± one standard deviation when there are several), with the `baseline` and
`inoculated` experiments as reference lines.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from inoclab import paths
from inoclab.io import InputError, atomic_path
from inoclab.params.evals import PROMPT_VARIANTS
from inoclab.params.naming import alpha_name

if TYPE_CHECKING:
    from inoclab.config import InoculationReportConfig, Params



def inoculation_runs(params: Params) -> list[tuple[str, str]]:
    """(run name, group) of every run the report gathers: the reference experiments and each
    family's grid, each over the report's seeds."""
    rep = _config(params)
    base = [(n, n) for n in (rep.baseline, rep.inoculated) if n]
    base += [(alpha_name(f, a), f) for f in rep.families for a in params.families[f].alphas]
    return [(run, group) for name, group in base for run in params.seed_variants(name)]


def surprise_datasets(params: Params) -> list[str]:
    """The paired datasets the report's families train on (their surprise is reported)."""
    return list(dict.fromkeys(params.families[f].dataset for f in _config(params).families))


def _config(params: Params) -> InoculationReportConfig:
    if params.report.inoculation is None:
        raise InputError("params.yaml: no `report.inoculation` section: nothing to report")
    return params.report.inoculation


def inoculation_table(params: Params):
    """One row per run (a pandas DataFrame)."""
    import pandas as pd

    surprise = {ds: json.loads(paths.surprise(params.model_slug, ds).read_text()) for ds in surprise_datasets(params)}
    rows = []
    for run, group in inoculation_runs(params):
        ev = json.loads(paths.eval_json(run).read_text())
        if "trait" not in ev:
            raise InputError(f"{paths.eval_json(run)}: no `trait` section: the report needs "
                             f"`{params.declared_key(run)}.eval.trait` in params.yaml")
        cfg = params.experiment_training(run)
        exp = params.experiment(run)
        row = {
            "experiment": params.base_name(run), "run": run, "group": group,
            "inner_training_loop": cfg.inner_training_loop, "manipulation_type": cfg.manipulation_type,
            "alpha": cfg.manipulation_mix_ratio if cfg.method.name == "logit_manipulation" else math.nan, "seed": cfg.seed,
            "dataset": exp.dataset,
        }
        for v in PROMPT_VARIANTS:
            for key, value in ev["trait"][v].items():
                if key != "n":
                    row[f"{key}_{v}"] = value
        row["surprise_uplift"] = surprise[exp.dataset]["uplift"] if exp.dataset in surprise else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def alpha_sweep_figure(params: Params, table):
    import matplotlib

    matplotlib.use("Agg")  # no display; the same bytes on every machine with the same versions
    import matplotlib.pyplot as plt

    rep = _config(params)
    y = "trait_rate_without_prompt"
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, ref in enumerate(n for n in (rep.baseline, rep.inoculated) if n):
        vals = table.loc[table.group == ref, y]
        color = f"C{7 + i}"
        ax.axhline(vals.mean(), color=color, linestyle="--", label=f"{ref}: {vals.mean():.2f}")
        if len(vals) > 1:
            ax.axhspan(vals.mean() - vals.std(), vals.mean() + vals.std(), color=color, alpha=0.12)
    for i, fam in enumerate(rep.families):
        rows = table[table.group == fam]
        stats = rows.groupby("alpha")[y].agg(["mean", "std", "count"]).sort_index()
        yerr = stats["std"].fillna(0.0) if (stats["count"] > 1).any() else None
        kind = params.experiment_training(rows.run.iloc[0]).manipulation_type if len(rows) else ""
        ax.errorbar(stats.index, stats["mean"], yerr=yerr, marker="o", capsize=3, color=f"C{i}",
                    label=f"{fam}<α> ({kind})")
    n_seeds = len(rep.seeds) or 1
    ax.set_xlabel("manipulation_mix_ratio α")
    ax.set_ylabel("trait rate without the inoculation prompt")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlim(-0.05, 1.05)
    ax.set_title(f"Inoculation alpha sweep ({n_seeds} seed{'s' if n_seeds > 1 else ''}"
                 f"{', ± 1 s.d.' if n_seeds > 1 else ''})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


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

