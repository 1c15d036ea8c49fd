"""Drawing and writing the report page (the plan: __init__.py)."""

from __future__ import annotations

import html
import itertools
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from inoclab import paths
from inoclab.io import InputError, atomic_path, write_text
from inoclab.params.models import model_slug
from inoclab.report import PREDICTOR_COLUMNS, predictor_inputs, report_config
from inoclab.report_page import FIGURES, PAGE, page_runs
from inoclab.stats import BootstrapConfig, intervals

if TYPE_CHECKING:
    from inoclab.config import Params

# the pressure measures drawn and correlated with suppression (callbacks/pressure.py)
PRESSURE_PANELS = ("grad_norm_own", "grad_norm_no", "kl_no_inoc", "uplift_per_token")
# each measure per run: at step 0 and the mean over training (suppression_table)
PRESSURE_COLUMNS = tuple(f"{p}_{w}" for p in PRESSURE_PANELS for w in ("start", "mean"))
CB_PANELS = {"coefficients": ("circuit_breaker_coeff", "retain_coeff"),
             "losses": ("circuit_breaker_loss", "retain_loss"), "cosines": ("cos_circuit_breaker", "cos_retain",
                                                                           "cos_validation_harmful", "cos_validation_benign")}


# ---------------------------------------------------------------- figures
def _figure(panels: int):
    import matplotlib

    matplotlib.use("Agg")  # no display; the same bytes on every machine with the same versions
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.2), squeeze=False)
    return fig, list(axes[0])


def _save(fig, name: str, figs: Path) -> str:
    """Write the figure as `figs`/<name> (PNG); its address from the page."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(figs / name, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return f"{FIGURES.name}/{name}"


def _pressure_rows(params: Params, name: str):
    """The run's pressure curve (the first pressure callback), with `grad_norm_own`: the gradient
    norm of the loss it trains with (the paired loop's mixed loss; else the member it trains like)."""
    cfg = next((c for c in params.experiment(name).callbacks.all() if c.kind == "pressure"), None)
    if cfg is None:
        return None
    df = pd.read_csv(paths.callbacks_dir(name) / cfg.files()[0])
    refs = report_config(params).references("inoculated") if params.report.inoculation else []
    own = "grad_norm_trained" if "grad_norm_trained" in df else "grad_norm_inoc" if params.base_name(name) in refs else "grad_norm_no"
    return df.assign(grad_norm_own=df[own])


def pressure_figure(params: Params, model: str, curves: dict, figs: Path) -> str:
    """`curves`: run -> its pressure rows (`_pressure_rows`)."""
    fig, axes = _figure(len(PRESSURE_PANELS))
    for i, (name, df) in enumerate(curves.items()):
        style = "-" if params.family_of(name) else "--"
        for ax, col in zip(axes, PRESSURE_PANELS, strict=True):
            ax.plot(df.step, df[col], style, color=f"C{i % 10}", label=name)
    for ax, col in zip(axes, PRESSURE_PANELS, strict=True):
        ax.set_title(col, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    return _save(fig, f"pressure.{model_slug(model)}.png", figs)


def trigger_figure(name: str, curve: list[dict], figs: Path) -> str:
    fig, axes = _figure(2)
    epochs = [c["epoch"] for c in curve]
    for ax, key in zip(axes, ("triggered_name_rate", "logprob_margin"), strict=True):
        for j, cond in enumerate(("triggered", "untriggered")):
            y = np.array([c[f"{cond}.{key}"] for c in curve])
            lo, hi = np.array([c[f"{cond}.{key}_ci"] for c in curve]).T
            ax.plot(epochs, y, marker="o", color=f"C{j}", label=cond)
            ax.fill_between(epochs, lo, hi, color=f"C{j}", alpha=0.15)
        ax.set_title(f"{name}: {key}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return _save(fig, f"trigger.{name}.png", figs)


def curves_figure(name: str, panels: dict[str, tuple[list[int], dict[str, list[float]]]], stem: str,
                  figs: Path) -> str:
    """One panel per entry: its title -> (steps, {line: values})."""
    fig, axes = _figure(len(panels))
    for ax, (title, (steps, lines)) in zip(axes, panels.items(), strict=True):
        for label, ys in lines.items():
            ax.plot(steps[: len(ys)], ys, label=label)
        ax.set_title(f"{name}: {title}", fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    return _save(fig, f"{stem}.{name}.png", figs)


# ---------------------------------------------------------------- numbers
def _fmt(x, ci=None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.3g}" + (f" [{ci[0]:.3g}, {ci[1]:.3g}]" if ci else "")


def correlation(x: np.ndarray, y: np.ndarray, boot: BootstrapConfig) -> dict:
    """Pearson r of x and y across runs, with a percentile interval over runs resampled."""
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return {"r": math.nan, "ci": None, "n": len(x)}
    rng = np.random.default_rng(boot.seed)
    idx = rng.integers(0, len(x), size=(boot.resamples, len(x)))
    xs, ys = x[idx], y[idx]
    xs, ys = xs - xs.mean(1, keepdims=True), ys - ys.mean(1, keepdims=True)
    den = np.sqrt((xs ** 2).sum(1) * (ys ** 2).sum(1))
    r = np.divide((xs * ys).sum(1), den, out=np.full(len(den), np.nan), where=den > 0)
    lo, hi = np.nanquantile(r, [(1 - boot.level) / 2, (1 + boot.level) / 2])
    return {"r": float(np.corrcoef(x, y)[0, 1]), "ci": [float(lo), float(hi)], "n": len(x)}


def suppression_table(params: Params, table, pressure: dict) -> dict[str, list[dict]]:
    """Per model, per run of the report but its baselines, each seed its own run: the suppression
    (the same seed's baseline trait rate without the prompt minus the run's) and the pressure it
    trained under (at step 0, and the mean over training). `table`: the report's inoculation.csv."""
    refs = report_config(params).references("baseline")
    out: dict[str, list[dict]] = {}
    for model, mt in table.groupby("model", sort=False):
        base = {r.seed: r.trait_rate_without_prompt for r in mt.itertuples() if r.group in refs}
        rows = []
        for r in mt.itertuples():
            if r.group in refs or not base:  # a model without a baseline has no suppression to show
                continue
            if r.seed not in base:
                raise InputError(f"{paths.INOCULATION_CSV}: run {r.run} (seed {r.seed}) has no baseline run of its "
                                 f"seed for {model}: the report's seeds must cover its baselines")
            row = {"run": r.run, "group": r.group, "alpha": None if math.isnan(r.alpha) else r.alpha, "seed": r.seed,
                   "rate": r.trait_rate_without_prompt,
                   "rate_ci": [r.trait_rate_ci_low_without_prompt, r.trait_rate_ci_high_without_prompt],
                   "suppression": base[r.seed] - r.trait_rate_without_prompt,
                   **{f"predictor_{c}": getattr(r, f"predictor_{c}") for c, _, _ in PREDICTOR_COLUMNS}}
            df = pressure.get(r.run)
            if df is not None:
                for col in PRESSURE_PANELS:
                    row[f"{col}_start"], row[f"{col}_mean"] = float(df[col].iloc[0]), float(df[col].mean())
            rows.append(row)
        out[model] = rows
    return out


def family_differences(params: Params, rows: list[dict], columns: list[str]) -> list[dict]:
    """For each two report families of one model: the second's value minus the first's at each
    (α, seed) both ran, averaged over those units, with a bootstrap interval over them (all
    columns resampled together)."""
    families = list(dict.fromkeys(r["group"] for r in rows if r["group"] in report_config(params).families))
    by = {(r["group"], r["alpha"], r["seed"]): r for r in rows}
    out = []
    for a, b in itertools.combinations(families, 2):
        units = [k[1:] for k in by if k[0] == a and (b, *k[1:]) in by]
        if not units:
            continue
        diffs = {c: [by[(b, *u)][c] - by[(a, *u)][c] for u in units] for c in columns}
        cis = intervals(diffs, params.bootstrap)
        out.append({"a": a, "b": b, "units": len(units),
                    **{c: {"mean": float(np.mean(d)), "ci": cis[c]} for c, d in diffs.items()}})
    return out


# ---------------------------------------------------------------- the page
def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(src: str, caption: str) -> str:
    return f'<figure><img src="{src}" alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}</figcaption></figure>'


CSS = ("body{font-family:sans-serif;max-width:1400px;margin:auto;padding:1em}img{max-width:100%}"
       "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}"
       "figure{margin:1em 0}figcaption{font-size:13px;color:#444}")


def build_page(params: Params, figs: Path) -> str:
    """The page's HTML, writing its figures into `figs`."""
    parts, toc = [], []

    def section(anchor: str, title: str, body: str) -> None:
        toc.append(f'<li><a href="#{anchor}">{html.escape(title)}</a></li>')
        parts.append(f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{body}</section>')

    experiments = page_runs(params)
    if params.report.inoculation is not None:
        summary = json.loads(paths.INOCULATION_SUMMARY.read_text())
        level = summary["interval"]["level"]
        body = _img("alpha_sweep.png", f"trait rate without the prompt against α, per base model ({level:.0%} intervals)")
        for model, m in summary["models"].items():
            body += f"<h3>{html.escape(model)}</h3>" + _table(
                ["experiment", "group", "α", "seeds", "trait rate without the prompt"],
                [[n, e["group"], _fmt(e["alpha"]), str(e["seeds"]), _fmt(e["mean"], e["ci"])] for n, e in m["experiments"].items()])
        section("inoculation", "Inoculation: α-sweeps", body)

        body = ""
        for model, ds in predictor_inputs(params):
            p = json.loads(paths.predictors(model_slug(model), ds).read_text())
            rows = [["uplift (Σ logprob per response)", _fmt(p["uplift"]["uplift"], p["uplift"]["uplift_ci"])],
                    ["uplift per token", _fmt(p["uplift"]["uplift_per_token"])]]
            if "drift" in p:
                rows += [["drift on control pairs", _fmt(p["drift"]["uplift"], p["drift"]["uplift_ci"])],
                         ["drift per token", _fmt(p["drift"]["uplift_per_token"])]]
            if "elicitation" in p:
                e = p["elicitation"]
                rows += [["base trait rate", _fmt(e["base_rate"], e["base_rate_ci"])],
                         ["elicitation (trait rate with the prompt)", _fmt(e["elicitation"], e["elicitation_ci"])]]
            body += f"<h3>{html.escape(model)}: {html.escape(ds)}</h3>" + _table(["predictor", "value [interval]"], rows)
        table = pd.read_csv(paths.INOCULATION_CSV)
        pressure = {r: df for r in table.run if (df := _pressure_rows(params, r)) is not None}  # each CSV once
        per_model = suppression_table(params, table, pressure)
        for model, rows in per_model.items():
            cols = [c for c in PRESSURE_COLUMNS if all(c in r for r in rows)]
            body += f"<h3>{html.escape(model)}: suppression and pressure per run</h3>" + _table(
                ["run", "α", "seed", "trait rate", "suppression", *cols],
                [[r["run"], _fmt(r["alpha"]), str(r["seed"]), _fmt(r["rate"], r["rate_ci"]), _fmt(r["suppression"]),
                  *(_fmt(r[c]) for c in cols)] for r in rows])
            if cols:
                body += _correlation_table(params, rows, cols, "pressure measure")
                diffs = family_differences(params, rows, ["suppression", *cols])
                body += "".join(
                    f"<p>{html.escape(d['b'])} minus {html.escape(d['a'])}, at the same α and seed "
                    f"({d['units']} runs each; interval over them):</p>" + _table(
                        ["measure", "mean difference [interval]"],
                        [[c, _fmt(d[c]["mean"], d[c]["ci"])] for c in ["suppression", *cols]]) for d in diffs)
        body += _pooled_correlations(params, [r for rows in per_model.values() for r in rows], len(per_model))
        section("predictors", "Predictors of suppression", body)

        by_model: dict[str, dict] = {}
        for name, df in pressure.items():
            if name not in experiments:  # seed variants: the table's, not the curves'
                continue
            by_model.setdefault(params.model_of(name), {})[name] = df
        if by_model:
            section("pressure", "Optimisation pressure during training", "".join(
                _img(pressure_figure(params, model, curves, figs), f"{model}: pressure on the pairs per step "
                     "(solid: the α families; dashed: the references)") for model, curves in by_model.items()))

    trig = [(n, json.loads(paths.eval_json(n).read_text())["trigger"]) for n in experiments
            if params.experiment(n).eval.trigger is not None]
    if trig:
        section("trigger", "Trigger curves per epoch", "".join(
            _img(trigger_figure(n, t["curve"], figs), f"{n}: after each epoch, triggered and untriggered")
            for n, t in trig if t.get("curve")))
    cbs = [n for n in experiments if params.experiment_training(n).task_type == "circuit_breaker"]
    if cbs:
        body = ""
        for n in cbs:
            log = _monitors(n)
            steps = list(log.index)
            panels = {t: (steps, {k: list(log[k]) for k in keys}) for t, keys in CB_PANELS.items()}
            body += _img(curves_figure(n, panels, "circuit_breaker", figs), f"{n}: coefficients, losses and cosines per step")
        section("circuit-breakers", "Circuit-breaker monitors", body)
    body = ""
    for n in experiments:
        body += _callbacks_figures(params, n, figs)
    if body:
        section("callbacks", "Callbacks", body)
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>inoclab report</title>"
            f"<style>{CSS}</style></head><body><h1>inoclab report</h1><ul>{''.join(toc)}</ul>{''.join(parts)}</body></html>\n")


def _monitors(name: str) -> pd.DataFrame:
    """The circuit-breaker monitors of a run's train log, one row per logged step (NaN where a
    monitor was not logged). Read from dvclive's TSV per metric (train/train_log.py writes them)
    with pandas: the log's writer module imports transformers, which the page has no use for."""
    root = paths.train_log_plots(paths.train_log(name))
    keys = [k for keys in CB_PANELS.values() for k in keys]
    found = [pd.read_csv(root / f"{k}.tsv", sep="\t", index_col="step") for k in keys if (root / f"{k}.tsv").is_file()]
    if not found:
        raise FileNotFoundError(f"{root}: none of the circuit-breaker monitors ({', '.join(keys)})")
    return pd.concat(found, axis=1).reindex(columns=keys).sort_index()


def _pooled_correlations(params: Params, rows: list[dict], models: int) -> str:
    """Each pressure measure and each predictor against suppression, over the runs of every model
    (a predictor is measured once per base model and paired dataset, so it takes at most one value
    per model there)."""
    cols = [c for c in (*PRESSURE_COLUMNS, *(f"predictor_{c}" for c, _, _ in PREDICTOR_COLUMNS))
            if rows and all(c in r and not math.isnan(r[c]) for r in rows)]
    if not cols:
        return ""
    return (f"<h3>Across the runs of {models} base model{'s' if models > 1 else ''}</h3>"
            "<p>A predictor is measured once per base model and paired dataset: across models it takes one "
            "value per model, so its r compares the models.</p>"
            + _correlation_table(params, rows, cols, "measure"))


def _correlation_table(params: Params, rows: list[dict], cols: list[str], label: str) -> str:
    """Each column's Pearson r with the rows' suppression, with its interval over the rows."""
    y = np.array([r["suppression"] for r in rows])
    corr = [(c, correlation(np.array([r[c] for r in rows]), y, params.bootstrap)) for c in cols]
    return _table([label, "Pearson r with suppression across runs [interval]", "runs"],
                  [[c, _fmt(k["r"], k["ci"]), str(k["n"])] for c, k in corr])


def _callbacks_figures(params: Params, name: str, figs: Path) -> str:
    cbs = params.experiment(name).callbacks.all()
    if not cbs:
        return ""
    panels = {}
    for c in cbs:
        df = pd.read_csv(paths.callbacks_dir(name) / c.files()[0])
        cols = [k for k in df.columns if k != "step" and pd.api.types.is_numeric_dtype(df[k]) and df[k].notna().any()]
        panels[f"{c.kind} {c.stem}"] = (list(df.step), {k: list(df[k]) for k in cols})
    return _img(curves_figure(name, panels, "callbacks", figs), f"{name}: every callback per step")


def write_report_page(params: Params) -> None:
    """The figures' folder and then the page, each written atomically: no figure of an earlier
    page stays behind."""
    with atomic_path(FIGURES, is_dir=True) as figs:
        page = build_page(params, Path(figs))
    write_text(PAGE, page)
