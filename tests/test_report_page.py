"""The report page (report_page.py) in a real headless browser: Chromium from Debian's packages,
driven by Selenium through Debian's chromedriver. CI installs both and sets
INOCLAB_REQUIRE_BROWSER=1, so that there the test fails rather than skips without them."""

import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from inoclab.report_page.render import correlation
from inoclab.stats import BootstrapConfig

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
