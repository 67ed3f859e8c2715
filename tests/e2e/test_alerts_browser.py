"""Headless Chromium on /alerts of a real `surge run` with alerting on: a real alert (raised by
the worker from a condition, routed and escalated by its alerting file) on a 375 px phone
with no console errors and no sideways scrolling; a duty manager opens the link a
notification carries (/alerts#<id>), acknowledges there and sees it acknowledged; every other
page's header counts the alert, loudly until it is acknowledged; a wall screen shows the
page without controls, one screen high.

Screenshots go to $SURGE_TEST_ARTIFACTS (default: a pytest temporary folder, printed).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from surge.alerting.book import AlertBook
from surge.auth import Actor, Users
from surge.clock import Clock
from tests.e2e.conftest import SurgeRun, free_port, start_surge
from tests.e2e.test_pages_browser import console_errors, sign_in

pytestmark = pytest.mark.browser

ADMIN = Actor("cli:e2e", "admin", "local")
PASSWORD = "a long enough password for e2e"
PHONE = (375, 812)
# Receivers on a port where nothing listens: deliveries are retried, nothing is sent, and
# the alert lives its life on the page all the same.
ALERTING = """
defaults: {group_wait: 0s, repeat_interval: 30m, ack_timeout: 30m}
receivers:
  - name: duty-managers
    webhook: {url: "http://127.0.0.1:9/duty"}
  - name: tactical-commanders
    webhook: {url: "http://127.0.0.1:9/tactical"}
  - name: strategic-commanders
    webhook: {url: "http://127.0.0.1:9/strategic"}
routes:
  - match: {kind: level, min_level: 3}
    receiver: duty-managers
    escalate:
      - {after: 10m, receiver: tactical-commanders}
      - {after: 20m, receiver: strategic-commanders}
"""


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("SURGE_TEST_ARTIFACTS") or
                  tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def alerting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SurgeRun, str]]:
    """A demo with an alerting file, and the id of a level 3 alert its worker fired."""
    folder = tmp_path_factory.mktemp("alerting")
    config = folder / "alerting.yaml"
    config.write_text(ALERTING)
    run = start_surge(folder / "var", free_port(), SURGE_ALERTING=str(config))
    try:
        store = run.store()
        now = Clock.from_record(store.clock_record())()
        book = AlertBook(store)
        # what the engine would publish for Southmead at severe pressure, as a condition
        book.raise_condition("level:ae@RVJ", {
            "kind": "level", "name": "ae@RVJ", "title": "A&E operations at Southmead Hospital",
            "reason": "ambulances waiting to hand over ≥ 6 for 5 min", "since": now - 300,
            "level": 3, "level_name": "Severe pressure", "site": "RVJ", "function": "ae"})
        deadline = time.monotonic() + 60
        while not book.active():
            assert time.monotonic() < deadline, "no alert fired:\n" + "".join(run.output[-30:])
            assert run.process.poll() is None, "".join(run.output[-30:])
            time.sleep(0.5)
        [alert_id] = book.active()
        Users(store).add("dm-e2e", "duty_manager", PASSWORD, by=ADMIN)
        yield run, alert_id
    finally:
        run.stop()


def viewport(driver: webdriver.Chrome, width: int, height: int, mobile: bool) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 2 if mobile else 1,
        "mobile": mobile})


def sideways(driver: webdriver.Chrome) -> tuple[int, int]:
    """(the page's width, the screen's): the page scrolls sideways when the first is more."""
    return tuple(driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]"))  # type: ignore[return-value]


def card_state(driver: webdriver.Chrome, alert_id: str) -> str | None:
    try:
        return driver.find_element(By.CSS_SELECTOR, f"[id='{alert_id}'] .alert-inner") \
            .get_attribute("data-ack")
    except Exception:
        return None


def header_count(driver: webdriver.Chrome) -> str:
    try:
        return driver.find_element(By.ID, "status-alerts").text
    except Exception:
        return ""


def test_a_duty_manager_acknowledges_on_a_phone(alerting: tuple[SurgeRun, str], browser: Any,
                                                artifacts: Path) -> None:
    run, alert_id = alerting
    sign_in(browser, run.url, "dm-e2e", PASSWORD)

    # another page's header: the count, loud while nobody has acknowledged it
    viewport(browser, 1920, 1080, mobile=False)
    browser.get(run.url.rstrip("/") + "/tactical")
    WebDriverWait(browser, 60, poll_frequency=0.5).until(
        lambda d: header_count(d) == "⚠ 1 ALERT (1 unacknowledged)"
        or header_count(d) == "1 ALERT (1 unacknowledged)")
    chip = browser.find_element(By.ID, "status-alerts")
    assert chip.get_attribute("href").endswith("/alerts") and "chip-alerts-loud" in \
        chip.get_attribute("class")
    browser.save_screenshot(str(artifacts / "alerts-header-tactical.png"))
    browser.get_log("browser")  # what the tactical page logged is not /alerts'

    # the link a notification carries, opened on a phone
    viewport(browser, *PHONE, mobile=True)
    browser.get(run.url.rstrip("/") + f"/alerts#{alert_id}")
    WebDriverWait(browser, 60, poll_frequency=0.5).until(
        lambda d: card_state(d, alert_id) == "unacknowledged")
    card = browser.find_element(By.ID, alert_id)
    assert "UNACKNOWLEDGED" in card.text and "Severe pressure" in card.text
    assert "escalates to tactical-commanders at" in card.text
    assert "duty-managers" in card.text
    level = card.find_element(By.CSS_SELECTOR, ".level")
    assert level.get_attribute("data-level") == "3"  # number, name and colour together
    WebDriverWait(browser, 10).until(
        lambda d: "alert-linked" in d.find_element(By.ID, alert_id).get_attribute("class"))
    top = browser.execute_script(
        "return document.getElementById(arguments[0]).getBoundingClientRect().top", alert_id)
    assert 0 <= top < PHONE[1] / 2, top  # scrolled to the alert the link names
    time.sleep(0.5)  # (not a timing assertion: let the layout settle)
    width, screen = sideways(browser)
    assert width <= screen == PHONE[0], (width, screen)
    browser.save_screenshot(str(artifacts / "alerts-phone.png"))
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(artifacts / "alerts-phone-top.png"))

    card = browser.find_element(By.ID, alert_id)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})",
                           card.find_element(By.CSS_SELECTOR, ".ack-button"))
    card.find_element(By.CSS_SELECTOR, ".ack-note input").send_keys(  # (Dash: a box of the
        "HALO on site, on it")                                         # class, an input in it)
    card.find_element(By.CSS_SELECTOR, ".ack-button").click()
    WebDriverWait(browser, 30, poll_frequency=0.5).until(
        lambda d: card_state(d, alert_id) == "acknowledged")
    card = browser.find_element(By.ID, alert_id)
    assert "ACKNOWLEDGED by dm-e2e" in card.text and "HALO on site, on it" in card.text
    assert "UNACKNOWLEDGED" not in card.text
    assert sideways(browser)[0] <= PHONE[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", card)
    browser.save_screenshot(str(artifacts / "alerts-phone-acknowledged.png"))
    assert console_errors(browser) == []
    ack = AlertBook(run.store()).active()[alert_id]
    assert (ack.acked_by, ack.ack_note) == ("dm-e2e", "HALO on site, on it")

    # on a desk: the same page, the controls beside the alerts
    viewport(browser, 1920, 1080, mobile=False)
    browser.get(run.url.rstrip("/") + "/alerts")
    WebDriverWait(browser, 60, poll_frequency=0.5).until(
        lambda d: card_state(d, alert_id) == "acknowledged")
    assert browser.find_elements(By.ID, "silence-form")
    browser.save_screenshot(str(artifacts / "alerts-desk.png"))

    # and every header says it is acknowledged now
    browser.get(run.url.rstrip("/") + "/operational")
    WebDriverWait(browser, 60, poll_frequency=0.5).until(
        lambda d: header_count(d) == "1 ALERT (0 unacknowledged)")
    assert "chip-alerts-quiet" in browser.find_element(By.ID, "status-alerts") \
        .get_attribute("class")
    browser.save_screenshot(str(artifacts / "alerts-header-acknowledged.png"))
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_a_wall_screen_shows_the_alerts_without_controls(alerting: tuple[SurgeRun, str],
                                                         browser: Any,
                                                         artifacts: Path) -> None:
    run, alert_id = alerting
    browser.delete_all_cookies()
    browser.get(run.screen_url)  # a wall screen: the viewer role
    WebDriverWait(browser, 30).until(lambda d: "/screen/" not in d.current_url)
    viewport(browser, 1920, 1080, mobile=False)
    browser.get(run.url.rstrip("/") + "/alerts?wall=1")
    WebDriverWait(browser, 60, poll_frequency=0.5).until(
        lambda d: card_state(d, alert_id) is not None)
    time.sleep(0.5)
    size = browser.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, e.scrollHeight,"
        " window.innerWidth, window.innerHeight]")
    browser.save_screenshot(str(artifacts / "alerts-wall-1920x1080.png"))
    assert size[0] <= size[2] and size[1] <= size[3], size
    assert not browser.find_elements(By.CSS_SELECTOR, "button")  # no controls
    assert not browser.find_elements(By.ID, "session-badge")
    # the other pages still fit their wall with the count in their header
    for path, page in (("/", "strategic"), ("/tactical", "tactical")):
        browser.get(run.url.rstrip("/") + path + "?wall=1")
        WebDriverWait(browser, 60, poll_frequency=0.5).until(
            lambda d: header_count(d).startswith("1 ALERT"))
        time.sleep(0.5)
        size = browser.execute_script(
            "const e = document.documentElement; return [e.scrollWidth, e.scrollHeight,"
            " window.innerWidth, window.innerHeight]")
        browser.save_screenshot(str(artifacts / f"alerts-count-{page}-wall.png"))
        assert size[0] <= size[2] and size[1] <= size[3], (page, size)
    assert console_errors(browser) == []
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
