"""Headless Chromium on /review of a real `surge run`: pick a window and see the levels, the
key figures and the events; a duty manager adds a note and sees it on the timeline; a viewer
and a wall screen get no note form; the window's export downloads with the browser's
session. Screenshots go to $SURGE_TEST_ARTIFACTS (as test_pages_browser.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.conftest import SurgeRun
from tests.e2e.test_pages_browser import (
    PASSWORD,
    artifacts,  # noqa: F401 (a fixture)
    console_errors,
    sign_in,
    user,
)

pytestmark = pytest.mark.browser


def shown(driver: Any) -> bool:
    """The review of the window is in: its levels chart and at least one event row."""
    return bool(driver.find_elements(By.CSS_SELECTOR, "#review-levels .main-svg")
                and driver.find_elements(By.CSS_SELECTOR, "#review-grid .ag-row"))


def open_review(driver: Any, base: str, query: str = "") -> None:
    driver.get(base.rstrip("/") + "/review" + query)
    WebDriverWait(driver, 60, poll_frequency=0.5).until(shown)


def test_a_duty_manager_reviews_a_window_and_adds_a_note(surge_run: SurgeRun, browser: Any,
                                                        artifacts: Path) -> None:  # noqa: F811
    sign_in(browser, surge_run.url, user(surge_run, "review-dm", "duty_manager"), PASSWORD)
    open_review(browser, surge_run.url)
    assert "From " in browser.find_element(By.ID, "review-window").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#review-figures .main-svg")) >= 4
    kinds = {e.text for e in browser.find_elements(By.CSS_SELECTOR,
                                                   "#review-grid .ag-row [col-id=kind]")}
    assert "worker_started" in kinds or "engine_started" in kinds, kinds
    browser.find_element(By.CSS_SELECTOR, "[id*='note-text']").send_keys("HALO on scene at RVX")
    browser.find_element(By.CSS_SELECTOR, "[id*='note-about']").send_keys("RVX")
    browser.find_element(By.CSS_SELECTOR, "[id*='note-add']").click()
    WebDriverWait(browser, 30).until(lambda d: "added by review-dm" in d.find_element(
        By.CSS_SELECTOR, "[id*='note-result']").text)
    browser.find_element(By.ID, "review-show").click()
    WebDriverWait(browser, 30).until(lambda d: "HALO on scene at RVX" in d.find_element(
        By.ID, "review-notes").text)
    browser.save_screenshot(str(artifacts / "review.png"))
    assert console_errors(browser) == []


def test_the_export_downloads_with_the_browsers_session(surge_run: SurgeRun,
                                                       browser: Any) -> None:
    sign_in(browser, surge_run.url, user(surge_run, "review-viewer", "viewer"), PASSWORD)
    open_review(browser, surge_run.url)
    assert browser.find_elements(By.CSS_SELECTOR, "[id*='note-add']") == []  # no form
    link = next(a for a in browser.find_elements(By.CSS_SELECTOR, "#review-downloads a")
                if a.text == "Events (CSV)").get_attribute("href")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    got = requests.get(link, cookies=cookies, timeout=60)
    assert got.status_code == 200 and got.text.startswith("ts_utc,ts_uk,kind,name,")
    assert requests.get(link, timeout=60, allow_redirects=False).status_code in (302, 401)


def test_a_wall_screen_gets_no_note_form_and_sees_no_controls(surge_run: SurgeRun,
                                                                browser: Any) -> None:
    browser.delete_all_cookies()
    browser.get(surge_run.screen_url)
    moment = int(time.time()) - 600  # whole seconds, at least ten minutes ago
    open_review(browser, surge_run.url, f"?wall=1&around={moment}")
    assert browser.find_elements(By.CSS_SELECTOR, "[id*='note-add']") == []
    assert "(2 h 10 min)" in browser.find_element(By.ID, "review-window").text
    for control in ("review-preset", "review-from", "review-show", "review-function",
                    "review-grid"):  # in the page (they give the window), never shown
        assert not browser.find_element(By.ID, control).is_displayed(), control
    assert not browser.find_elements(By.CSS_SELECTOR, "#review-downloads button")
