"""Headless Chromium opens the demo on its wall-screen URL: live values for all four
functions, no console errors. (Signing in is tested in test_browser_login.py.)"""

from __future__ import annotations

import re

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.browser

FUNCTIONS = ("call_handling", "clinical_triage", "ae", "pts")


def panel_values(driver: webdriver.Chrome, function: str) -> list[str]:
    panel = driver.find_element(By.ID, f"panel-{function}")
    return [e.text for e in panel.find_elements(By.CSS_SELECTOR, "[id^='value-']")]


def test_the_overview_shows_live_values_for_every_function(surge_run, browser) -> None:
    browser.delete_all_cookies()
    browser.get(surge_run.screen_url)  # signs in as the demo wall screen
    browser.get(surge_run.url + "overview")
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

    def every_level_shown(driver) -> bool:
        badges = [driver.find_element(By.ID, f"level-{name}")
                  for name in ("overall", *FUNCTIONS)]
        return all(b.get_attribute("data-level") not in (None, "none") for b in badges)

    WebDriverWait(browser, 30, poll_frequency=0.5).until(every_level_shown)
    for name in ("overall", *FUNCTIONS):
        badge = browser.find_element(By.ID, f"level-{name}")
        level = badge.get_attribute("data-level")
        # a level is always a number and a name, never colour alone
        assert re.search(rf"\b{level}\b", badge.text) and re.search(r"[A-Za-z]{4,}", badge.text)
    assert "calculated" in status.lower()
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
