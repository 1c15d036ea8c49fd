"""The percentile bootstrap behind every interval (stats.py), checked against the exact bootstrap
distribution of a small sample and against the pairing it promises."""

import itertools

import numpy as np
import pytest

from inoclab.stats import (
    BootstrapConfig,
    difference,
    grouped_draws,
    interval,
    intervals,
    with_intervals,
)


def exact_percentile_interval(x, level):
    """Every one of the n^n equally likely resamples of x, enumerated: the bootstrap distribution
    of the mean without sampling error, and its percentile interval."""
    means = np.sort([np.mean(s) for s in itertools.product(x, repeat=len(x))])
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    return lo, hi


@pytest.mark.parametrize("x, level", [([0.0, 0.0, 1.0, 1.0, 1.0, 0.0], 0.95), ([0.2, 1.5, -0.7, 3.1, 0.0, 0.9], 0.9)])
def test_the_interval_is_the_percentile_interval_of_the_exact_bootstrap_distribution(x, level):
    lo, hi = interval(x, BootstrapConfig(resamples=200_000, level=level, seed=1))
    exact = exact_percentile_interval(x, level)
    step = (max(x) - min(x)) / len(x)  # the resampled means lie on a grid this fine
    assert lo == pytest.approx(exact[0], abs=step / 2) and hi == pytest.approx(exact[1], abs=step / 2)


def test_a_known_sample_by_hand():
    # three items, one of them 1: the resampled mean is k/3 with k ~ Binomial(3, 1/3):
    # P(0) = 8/27, P(1/3) = 12/27, P(2/3) = 6/27, P(1) = 1/27; the 5% and 95% quantiles are 0 and 2/3
    lo, hi = interval([0, 0, 1], BootstrapConfig(resamples=100_000, level=0.9))
    assert (lo, hi) == (0.0, pytest.approx(2 / 3))


def test_columns_of_the_same_items_are_resampled_together_and_the_seed_fixes_the_bytes():
    x = np.random.default_rng(0).normal(size=40)
    cfg = BootstrapConfig()
    got = intervals({"a": x, "b": x + 1.0}, cfg)
    assert got["b"] == pytest.approx([got["a"][0] + 1.0, got["a"][1] + 1.0])  # the same draws
    assert intervals({"a": x}, cfg) == intervals({"a": x}, cfg)
    assert intervals({"a": x}, cfg) != intervals({"a": x}, BootstrapConfig(seed=1))
    summary = with_intervals({}, {"rate": x > 0}, cfg)
    assert summary["n"] == 40 and summary["rate"] == np.mean(x > 0)
    assert summary["rate_ci"][0] < summary["rate"] < summary["rate_ci"][1]
    with pytest.raises(ValueError, match="non-empty and of one length"):
        intervals({"a": [], "b": []}, cfg)


def test_differences_between_run_groups_are_paired_by_prompt():
    rng = np.random.default_rng(3)
    a = (rng.random((2, 50)) < 0.5).astype(float)  # two seeds, 50 prompts
    runs = {"a": a, "same": a.copy(), "shifted": a + 0.25, "other_prompts": a.copy()}
    cfg = BootstrapConfig()
    draws = grouped_draws(runs, cfg, {"a": "p", "same": "p", "shifted": "p", "other_prompts": "q"})
    # the same prompts: every replicate of a − same is 0, of shifted − a exactly 0.25
    assert difference("a", "same", runs, draws, cfg) == {"difference": 0.0, "ci": [0.0, 0.0], "excludes_zero": False}
    d = difference("shifted", "a", runs, draws, cfg)
    assert d["ci"] == pytest.approx([0.25, 0.25]) and d["excludes_zero"]
    # other prompts (equal values, drawn apart): the difference is noise around 0
    d = difference("a", "other_prompts", runs, draws, cfg)
    assert d["difference"] == 0.0 and d["ci"][0] < -0.05 and d["ci"][1] > 0.05 and not d["excludes_zero"]


def test_seeds_that_disagree_widen_the_interval():
    base = np.tile((np.arange(64) % 2).astype(float), (2, 1))
    agree, disagree = base.copy(), base.copy()
    disagree[1] = 1.0  # the second seed shows the trait on every prompt
    cfg = BootstrapConfig()
    draws = grouped_draws({"agree": agree, "disagree": disagree}, cfg)
    width = {k: np.subtract(*np.quantile(v, [0.975, 0.025])) for k, v in draws.items()}
    assert width["disagree"] > 2 * width["agree"]
