"""Headless Chromium on the command pages of a real `surge run`: every page renders with live
data and no console errors; wall mode fits 1920x1080 and 3840x2160 with no scrollbars; the
playlist moves between pages; a commander declares level 3 and every page's header says so;
a duty manager confirms an action and it shows as confirmed.

Screenshots of each page, normal and wall, go to $SURGE_TEST_ARTIFACTS (default: a pytest
temporary folder, printed): look at them, they are what the control room sees.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from surge.auth import Actor, Users
from surge.declarations import rules_in_force
from surge.levels import OVERALL
from tests.e2e.conftest import REPO, SurgeRun, free_port, start_surge

pytestmark = pytest.mark.browser

ADMIN = Actor("cli:e2e", "admin", "local")
PASSWORD = "a long enough password for e2e"
# page: (path, an element that holds live figures once the first refresh is in)
PAGES = {
    "strategic": ("/", "value-calls-waiting"),
    "tactical": ("/tactical", "trigger-call_handling-calls-waiting"),
    "operational": ("/operational", "operational-hospital"),
    "protocols": ("/protocols", "protocols-version"),
    "status": ("/status", "status-feed-table"),
    "overview": ("/overview", "value-calls-waiting"),
}
WALLS = ((1920, 1080), (3840, 2160))


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("SURGE_TEST_ARTIFACTS") or
                  tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


def console_errors(driver: webdriver.Chrome) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
            and not re.search(r"status of 40[13]", e["message"])]


def sign_in(driver: webdriver.Chrome, base: str, user: str, password: str) -> None:
    driver.delete_all_cookies()
    driver.get(base.rstrip("/") + "/login")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()
    WebDriverWait(driver, 30).until(lambda d: "/login" not in d.current_url)


def viewport(driver: webdriver.Chrome, width: int, height: int) -> None:
    """The page's own size, exactly (a window's size includes the browser's frame)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def live(driver: webdriver.Chrome, page: str) -> bool:
    """The page's first refresh is in: its live element is there with figures in it."""
    try:
        element = driver.find_element(By.ID, PAGES[page][1])
    except Exception:
        return False
    if page == "operational":
        return bool(element.find_elements(By.CSS_SELECTOR, ".ag-row"))
    return bool(re.search(r"\d", element.text))


def open_page(driver: webdriver.Chrome, base: str, page: str, query: str = "") -> None:
    driver.get(base.rstrip("/") + PAGES[page][0] + query)
    WebDriverWait(driver, 60, poll_frequency=0.5).until(lambda d: live(d, page))


def user(run: SurgeRun, name: str, role: str) -> str:
    Users(run.store()).add(name, role, PASSWORD, by=ADMIN)
    return name


def declared_level(driver: webdriver.Chrome) -> str | None:
    try:
        return driver.find_element(By.ID, "level-declared").get_attribute("data-level")
    except Exception:
        return None


# --- every page, live, normal and wall ------------------------------------------------------


def test_every_page_renders_live_with_no_console_errors(surge_run: SurgeRun, browser: Any,
                                                        artifacts: Path) -> None:
    sign_in(browser, surge_run.url, "admin", surge_run.admin_password)
    viewport(browser, 1920, 1080)
    browser.get_log("browser")  # what signing in logged is not the pages'
    for page in PAGES:
        open_page(browser, surge_run.url, page)
        header = browser.find_element(By.CSS_SELECTOR, ".status-bar").text
        assert "UK time" in header and "CALCULATED" in header, page
        assert "DECLARED" in header, page  # the declared level (or NO LEVEL DECLARED) too
        level = browser.find_element(By.ID, "level-overall")
        number = level.get_attribute("data-level")
        assert number != "none" and re.search(rf"\b{number}\b", level.text), page
        assert re.search(r"[A-Za-z]{4,}", level.text), page  # a name, never colour alone
        browser.save_screenshot(str(artifacts / f"{page}.png"))
        assert console_errors(browser) == [], page
    open_page(browser, surge_run.url, "operational")
    rows = browser.find_elements(By.CSS_SELECTOR, "#operational-hospital .ag-center-cols-container .ag-row")
    assert len(rows) == 6  # every hospital, worst first


def test_wall_mode_fits_the_screen_with_no_scrollbars(surge_run: SurgeRun, browser: Any,
                                                      artifacts: Path) -> None:
    browser.delete_all_cookies()
    browser.get(surge_run.screen_url)  # a wall screen: the viewer role, no password
    WebDriverWait(browser, 30).until(lambda d: "/screen/" not in d.current_url)
    for width, height in WALLS:
        viewport(browser, width, height)
        for page in PAGES:
            open_page(browser, surge_run.url, page, "?wall=1")
            time.sleep(0.5)  # (not a timing assertion: let the fit script settle)
            size = browser.execute_script(
                "const e = document.documentElement; return [e.scrollWidth, e.scrollHeight,"
                " window.innerWidth, window.innerHeight]")
            browser.save_screenshot(str(artifacts / f"{page}-wall-{width}x{height}.png"))
            assert size[0] <= size[2] and size[1] <= size[3], (page, width, size)
            assert not browser.find_elements(By.ID, "session-badge"), page  # no navigation
            assert not browser.find_elements(By.CSS_SELECTOR, "button"), page  # no controls
            assert re.search(r"\d\d:\d\d:\d\d", browser.find_element(
                By.ID, "status-clock").text), page  # the clock
        assert console_errors(browser) == []
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_playlist_moves_between_pages(surge_run: SurgeRun, browser: Any) -> None:
    browser.delete_all_cookies()
    browser.get(surge_run.screen_url)
    WebDriverWait(browser, 30).until(lambda d: "/screen/" not in d.current_url)
    browser.get(surge_run.url + "?wall=1&rotate=10&pages=strategic,tactical,operational")
    seen: list[str] = []

    def page_changed(driver: webdriver.Chrome) -> bool:
        try:
            name = driver.find_element(By.CSS_SELECTOR, "[data-page]").get_attribute(
                "data-page")
        except Exception:
            return False
        if not seen or seen[-1] != name:
            seen.append(str(name))
        return len(seen) >= 4

    WebDriverWait(browser, 120, poll_frequency=0.5).until(page_changed)
    assert seen[:4] == ["strategic", "tactical", "operational", "strategic"]
    assert "wall=1" in browser.current_url and "rotate=10" in browser.current_url
    assert console_errors(browser) == []


def test_a_wall_screen_does_not_keep_every_refresh_in_its_undo_history(
        surge_run: SurgeRun, browser: Any) -> None:
    """dash-renderer keeps an undo entry for every tick of the refresh timer and never lets
    one go (plotly/dash#727): a wall screen on for a week would hold 120,000. The page keeps
    the last 20, and goes on refreshing."""
    browser.delete_all_cookies()
    browser.get(surge_run.screen_url)
    WebDriverWait(browser, 30).until(lambda d: "/screen/" not in d.current_url)
    open_page(browser, surge_run.url, "strategic", "?wall=1")
    past = "window.store.getState().history.past"
    browser.execute_script(f"var p = {past}; while (p.length < 500) p.push(p[0] || {{}});")
    assert browser.execute_script(f"return {past}.length") >= 500  # a week of ticks, in small
    WebDriverWait(browser, 30, poll_frequency=0.5).until(  # the last 20, and what came since
        lambda d: d.execute_script(f"return {past}.length") <= 30)
    ticks = browser.execute_script(f"return {past}.length")
    WebDriverWait(browser, 30, poll_frequency=0.5).until(  # and it goes on refreshing
        lambda d: d.execute_script(f"return {past}.length") != ticks)
    assert console_errors(browser) == []


def test_a_commander_declares_level_3_and_every_header_shows_it(surge_run: SurgeRun,
                                                                browser: Any,
                                                                artifacts: Path) -> None:
    name = user(surge_run, "gold-e2e", "commander")
    sign_in(browser, surge_run.url, name, PASSWORD)
    open_page(browser, surge_run.url, "strategic")
    browser.find_element(By.CSS_SELECTOR, ".declare-levels input[value='3']").click()
    browser.find_element(By.CSS_SELECTOR, ".declare-reason").send_keys(
        "Two emergency departments have closed to ambulances")
    browser.find_element(By.CSS_SELECTOR, "button[id*='declare-button']").click()
    WebDriverWait(browser, 30).until(
        lambda d: "declared at" in d.find_element(By.CSS_SELECTOR, ".admin-result").text)
    try:
        for page in PAGES:
            open_page(browser, surge_run.url, page)
            WebDriverWait(browser, 30).until(lambda d: declared_level(d) == "3")
            header = browser.find_element(By.CSS_SELECTOR, ".status-bar").text
            assert "Severe pressure" in header and "gold-e2e" in header, page
            calculated = browser.find_element(By.ID, "level-overall").get_attribute(
                "data-level")
            if calculated != "3":
                assert "DIVERGES" in header, page
            browser.save_screenshot(str(artifacts / f"{page}-declared.png"))
        assert console_errors(browser) == []
    finally:  # the demo goes on for the other tests as it was
        open_page(browser, surge_run.url, "strategic")
        browser.find_element(By.CSS_SELECTOR, "button[id*='declare-withdraw']").click()
        WebDriverWait(browser, 30).until(
            lambda d: "withdrawn" in d.find_element(By.CSS_SELECTOR, ".admin-result").text)


# --- confirming an action: it needs a function above its base level -------------------------


@pytest.fixture(scope="module")
def escalated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SurgeRun]:
    """An exercise whose levels rise within a couple of real minutes (the shipped demo
    stays at level 1, where no action is in force)."""
    run = start_surge(tmp_path_factory.mktemp("escalated") / "var", free_port(),
                      "--scenario", "handover-crisis", "--speed", "60")
    try:
        store = run.store()
        rules = rules_in_force(store, REPO / "surge_rules.yaml")
        deadline = time.monotonic() + 420

        def raised() -> bool:
            levels = store.published_levels(rules.catalogue)
            return any(v.level >= 2 for k, v in levels.items()
                       if k in rules.protocols and k != OVERALL)

        while not raised():
            assert time.monotonic() < deadline, "no function rose above level 1"
            assert run.process.poll() is None, "".join(run.output[-30:])
            time.sleep(1)
        yield run
    finally:
        run.stop()


def test_a_duty_manager_confirms_an_action_and_it_shows_confirmed(escalated: SurgeRun,
                                                                  browser: Any) -> None:
    name = user(escalated, "silver-e2e", "duty_manager")
    sign_in(browser, escalated.url, name, PASSWORD)
    browser.get(escalated.url.rstrip("/") + "/tactical")
    WebDriverWait(browser, 60, poll_frequency=0.5).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "li.action.open .confirm-button"))
    item = browser.find_element(By.CSS_SELECTOR, "li.action.open")
    item_id = item.get_attribute("id")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", item)
    item.find_element(By.CSS_SELECTOR, ".confirm-note input").send_keys(
        "done from the browser")  # (Dash's input sits in a box of the class given)
    item.find_element(By.CSS_SELECTOR, ".confirm-button").click()

    def confirmed(driver: webdriver.Chrome) -> bool:
        try:
            row = driver.find_element(By.ID, item_id)
            return row.get_attribute("data-done") == "true" and "silver-e2e" in row.text
        except Exception:
            return False

    WebDriverWait(browser, 30, poll_frequency=0.5).until(confirmed)
    assert "DONE" in browser.find_element(By.ID, item_id).text
    assert console_errors(browser) == []
