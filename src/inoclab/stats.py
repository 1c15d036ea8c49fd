"""Percentile-bootstrap intervals: the uncertainty every number in eval.json and the report carries.

One resampling scheme serves a single run and a group of runs:
- within a run, the items (prompts, questions, pairs) are resampled with replacement, and every
  measure of the same items is computed on the same draws, so differences between measures (with
  and without a prompt) are paired;
- across runs (seeds, and runs compared with each other), each draw first picks seeds, then items;
  runs that share their items (the same prompts) share the item draws, so a difference between two
  runs is paired by prompt.
Draws come from `numpy.random.default_rng(seed)`: the same seed gives the same bytes. (scipy's
`bootstrap` resamples one level only, and would be a 35 MB dependency for one line of indexing.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from inoclab.params.base import Fraction, PositiveInt, Strict


class BootstrapConfig(Strict):
    """`bootstrap:` in params.yaml: how the intervals are drawn."""

    resamples: PositiveInt = 2000
    level: Fraction = 0.95
    seed: int = 0


def _bounds(stats: np.ndarray, level: float) -> list[float]:
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2], axis=-1)
    return [float(lo), float(hi)]


def interval(values, cfg: BootstrapConfig) -> list[float]:
    """[low, high] of the mean of `values` (one per item)."""
    return intervals({"x": values}, cfg)["x"]


def intervals(columns: Mapping[str, Sequence[float] | np.ndarray], cfg: BootstrapConfig) -> dict[str, list[float]]:
    """[low, high] of the mean of each column; the columns are measures of the same items (equal
    length) and are resampled together."""
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}
    n = {len(a) for a in arrays.values()}
    if len(n) != 1 or 0 in n:
        raise ValueError(f"bootstrap: columns must be non-empty and of one length (got {sorted(n)})")
    idx = np.random.default_rng(cfg.seed).integers(0, n.pop(), size=(cfg.resamples, len(next(iter(arrays.values())))))
    return {k: _bounds(a[idx].mean(axis=1), cfg.level) for k, a in arrays.items()}


def with_intervals(summary: dict, columns: Mapping[str, Sequence[float] | np.ndarray], cfg: BootstrapConfig) -> dict:
    """`summary` with `<key>: mean` and `<key>_ci: [low, high]` for each column, and `n`."""
    for k, (lo, hi) in intervals(columns, cfg).items():
        summary[k] = float(np.mean(columns[k]))
        summary[f"{k}_ci"] = [lo, hi]
    summary["n"] = len(next(iter(columns.values())))
    return summary


def grouped_draws(runs: Mapping[str, np.ndarray], cfg: BootstrapConfig,
                  items: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """Bootstrap replicates of the grand mean of each group of runs.

    `runs[name]` is a [seeds, items] array (one row per seed). Each replicate draws seeds with
    replacement, then items with replacement, and averages. Groups whose `items[name]` is the same
    (the same prompts, in the same order) share the item draws, and seed draws are shared by
    position, so `draws[a] - draws[b]` are replicates of the difference a − b, paired by prompt."""
    rng = np.random.default_rng(cfg.seed)
    seed_u = rng.random((cfg.resamples, max(a.shape[0] for a in runs.values())))
    item_draws: dict[tuple[str, int], np.ndarray] = {}
    out = {}
    for name, a in runs.items():
        n_seeds, n_items = a.shape
        if not n_seeds or not n_items:
            raise ValueError(f"bootstrap: {name} has no seeds or no items")
        key = ((items or {}).get(name, ""), n_items)
        if key not in item_draws:
            item_draws[key] = rng.integers(0, n_items, size=(cfg.resamples, n_items))
        seeds = (seed_u[:, :n_seeds] * n_seeds).astype(np.int64)  # [resamples, seeds]
        per_seed = np.take_along_axis(a[seeds], item_draws[key][:, None, :], axis=2)  # [resamples, seeds, items]
        out[name] = per_seed.mean(axis=(1, 2))
    return out


def estimate(values: np.ndarray, draws: np.ndarray, cfg: BootstrapConfig) -> dict:
    """{mean, ci} of a group: the mean of its [seeds, items] values, the interval of its replicates."""
    return {"mean": float(np.mean(values)), "ci": _bounds(draws, cfg.level)}


def difference(a: str, b: str, runs: Mapping[str, np.ndarray], draws: Mapping[str, np.ndarray],
               cfg: BootstrapConfig) -> dict:
    """a − b with its interval, from the shared replicates of `grouped_draws`."""
    point = float(runs[a].mean() - runs[b].mean())
    lo, hi = _bounds(draws[a] - draws[b], cfg.level)
    return {"difference": point, "ci": [lo, hi], "excludes_zero": bool(lo > 0 or hi < 0)}
