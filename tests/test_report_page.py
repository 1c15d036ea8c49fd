"""The report page (the report_page package) in a real headless browser: Chromium from Debian's packages,
driven by Selenium through Debian's chromedriver. CI installs both and sets
INOCLAB_REQUIRE_BROWSER=1, so that there the test fails rather than skips without them."""

import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from inoclab.config import load_params
from inoclab.io import InputError
from inoclab.report import PREDICTOR_COLUMNS
from inoclab.report_page.render import (
    PRESSURE_PANELS,
    correlation,
    family_differences,
    suppression_table,
)
from inoclab.stats import BootstrapConfig

REPO = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SECTIONS = ["inoculation", "predictors", "pressure", "trigger", "circuit-breakers", "callbacks"]


def browser_missing() -> str | None:
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not Path(exe).exists():
            return f"no {exe} (Debian: apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "no selenium (pip install -e '.[dev]')"
    return None


def open_page(page: Path) -> dict:
    """Load the page in headless Chromium: its console messages, its images (address, loaded,
    natural width) and its sections' ids."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        driver.get(page.resolve().as_uri())
        images = driver.execute_script(
            "return [...document.images].map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
        return {"console": driver.get_log("browser"), "images": images,
                "sections": [s.get_attribute("id") for s in driver.find_elements("css selector", "section")]}
    finally:
        driver.quit()


@pytest.mark.slow
def test_the_report_page_loads_without_a_console_error_and_every_image_renders(small_pipeline, tmp_path):
    why = browser_missing()
    if why:
        if os.environ.get("INOCLAB_REQUIRE_BROWSER"):
            pytest.fail(f"INOCLAB_REQUIRE_BROWSER is set, but {why}")
        pytest.skip(why)
    report = small_pipeline / "results/report"
    shown = open_page(report / "index.html")
    assert shown["console"] == [], shown["console"]
    assert shown["sections"] == SECTIONS
    drawn = {src for src, complete, width in shown["images"] if complete and width > 0}
    assert drawn == {src for src, _, _ in shown["images"]}, shown["images"]
    # every figure on the page, and each as a PNG file: the α-sweep, and those of figures/
    assert drawn == {"alpha_sweep.png", *(f"figures/{p.name}" for p in (report / "figures").glob("*.png"))}
    assert {"figures/pressure.tiny.png", "figures/trigger.trigger.png", "figures/circuit_breaker.circuit_breaker.png",
            "figures/callbacks.baseline.png"} <= drawn

    # the check sees a broken page: one figure missing is a console error and an image not drawn
    broken = tmp_path / "report"
    shutil.copytree(report, broken)
    (broken / "figures/pressure.tiny.png").unlink()
    shown = open_page(broken / "index.html")
    assert any("pressure.tiny.png" in m["message"] and m["level"] == "SEVERE" for m in shown["console"]), shown
    assert [src for src, _, width in shown["images"] if width == 0] == ["figures/pressure.tiny.png"]


def test_correlation_and_its_interval_over_runs():
    boot = BootstrapConfig()
    x = np.arange(8, dtype=float)
    r = correlation(x, 2 * x + 1, boot)
    assert r["r"] == pytest.approx(1.0) and r["ci"] == pytest.approx([1.0, 1.0]) and r["n"] == 8
    r = correlation(x, -x + np.array([0, 0.3, -0.2, 0.1, 0, -0.3, 0.2, 0]), boot)
    assert -1 < r["r"] < -0.9 and r["ci"][0] <= r["r"] <= r["ci"][1] < 0
    assert math.isnan(correlation(x, np.ones(8), boot)["r"])  # a constant: no correlation to speak of
    assert math.isnan(correlation(x[:2], x[:2], boot)["r"])  # two runs: none either


def test_suppression_is_paired_by_seed_and_the_families_compared_at_the_same_alpha_and_seed():
    params = load_params(REPO / "params.yaml")
    runs = [("baseline", "baseline", 42, 0.9), ("baseline_seed43", "baseline", 43, 0.8),
            ("inoculated_seed43", "inoculated", 43, 0.5),
            ("inoc_alpha0.5", "inoc_alpha", 42, 0.7), ("inoc_alpha0.5_seed43", "inoc_alpha", 43, 0.7),
            ("saliency_alpha0.5", "saliency_alpha", 42, 0.4), ("saliency_alpha0.5_seed43", "saliency_alpha", 43, 0.2),
            ("saliency_alpha1", "saliency_alpha", 42, 0.1)]  # no inoc_alpha1 beside it: not compared
    table = pd.DataFrame([{"model": "tiny", "run": run, "group": group, "seed": seed, "trait_rate_without_prompt": rate,
                           "alpha": float(run.split("alpha")[1].split("_")[0]) if "alpha" in run else math.nan,
                           "trait_rate_ci_low_without_prompt": rate - 0.1, "trait_rate_ci_high_without_prompt": rate + 0.1,
                           **{f"predictor_{c}": 1.0 for c, _, _ in PREDICTOR_COLUMNS}} for run, group, seed, rate in runs])
    pressure = {run: pd.DataFrame({col: [float(i), float(i) + 2] for col in PRESSURE_PANELS})
                for i, (run, *_) in enumerate(runs)}
    (rows,) = suppression_table(params, table, pressure).values()
    supp = {r["run"]: r["suppression"] for r in rows}
    assert supp == pytest.approx({"inoculated_seed43": 0.3, "inoc_alpha0.5": 0.2, "inoc_alpha0.5_seed43": 0.1,
                                  "saliency_alpha0.5": 0.5, "saliency_alpha0.5_seed43": 0.6, "saliency_alpha1": 0.8})
    assert {r["run"]: (r["grad_norm_own_start"], r["grad_norm_own_mean"]) for r in rows}["inoc_alpha0.5"] == (3.0, 4.0)
    (diff,) = family_differences(params, rows, ["suppression", "kl_no_inoc_start"])
    assert (diff["a"], diff["b"], diff["units"]) == ("inoc_alpha", "saliency_alpha", 2)
    assert diff["suppression"]["mean"] == pytest.approx(0.4)  # (0.3 + 0.5) / 2
    assert diff["suppression"]["ci"] == pytest.approx([0.3, 0.5])
    assert diff["kl_no_inoc_start"] == {"mean": pytest.approx(2.0), "ci": pytest.approx([2.0, 2.0])}
    with pytest.raises(InputError, match=r"inoculation.csv: run inoculated_seed43 \(seed 43\) has no baseline run"):
        suppression_table(params, table[table.run != "baseline_seed43"], pressure)
