"""Headless Chromium opens the demo: live values for all four functions, no console errors."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.browser

FUNCTIONS = ("call_handling", "clinical_triage", "ae", "pts")


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, (
        "the browser tests need Debian's chromium and chromium-driver "
        "(make test installs them when run as root)")
    profile = tempfile.mkdtemp(prefix="surge-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1920,1080",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def panel_values(driver: webdriver.Chrome, function: str) -> list[str]:
    panel = driver.find_element(By.ID, f"panel-{function}")
    return [e.text for e in panel.find_elements(By.CSS_SELECTOR, "[id^='value-']")]


def test_the_overview_shows_live_values_for_every_function(surge_run, browser) -> None:
    browser.get(surge_run.url)
    assert "Surge" in browser.title

    def every_panel_has_numbers(driver) -> bool:
        try:
            return all(any(re.search(r"\d", v) for v in panel_values(driver, f))
                       for f in FUNCTIONS)
        except Exception:
            return False

    WebDriverWait(browser, 60, poll_frequency=0.5).until(every_panel_has_numbers)
    for function in FUNCTIONS:
        values = panel_values(browser, function)
        assert len(values) >= 5, (function, values)
        assert not any("NO DATA" in v for v in values), (function, values)
    status = browser.find_element(By.ID, "status-bar").text
    assert "UK" in status
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
