"""Headless Chromium signs in to the demo: the login page, a wrong password, the right one,
a wall-screen URL without a password, and a screen revoked while it is on the wall."""

from __future__ import annotations

import re

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from dashboard.login import FAILED, REVOKED
from surge.auth import Actor, Screens, screen_url

pytestmark = pytest.mark.browser

ADMIN = Actor("cli:e2e", "admin", "local")


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """SEVERE console entries, but the 401 and 403 answers these tests provoke on purpose."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
            and not re.search(r"status of 40[13]", e["message"])]


def has_live_values(driver: webdriver.Chrome) -> bool:
    try:
        value = driver.find_element(By.ID, "value-calls-waiting").text
    except Exception:
        return False
    return bool(re.search(r"\d", value))


def sign_in(driver: webdriver.Chrome, user: str, password: str) -> None:
    driver.find_element(By.ID, "username").clear()
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()


def test_sign_in_with_a_wrong_then_the_right_password(surge_run, browser) -> None:
    browser.delete_all_cookies()
    browser.get(surge_run.url)  # not signed in: the login page
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.ID, "login-page"))
    assert "/login" in browser.current_url and "Sign in" in browser.title
    sign_in(browser, "admin", "not-the-password-at-all")
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.ID, "auth-message"))
    assert browser.find_element(By.ID, "auth-message").text == FAILED
    sign_in(browser, "admin", surge_run.admin_password)
    WebDriverWait(browser, 60, poll_frequency=0.5).until(has_live_values)
    badge = browser.find_element(By.ID, "session-badge").text
    assert "admin" in badge and "Sign out" in badge
    assert console_errors(browser) == []

    browser.find_element(By.ID, "sign-out").click()
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.ID, "auth-message"))
    assert browser.find_element(By.ID, "auth-message").text == "You have signed out."


def test_a_wall_screen_url_needs_no_password_and_a_revoked_one_says_so(surge_run,
                                                                      browser) -> None:
    store = surge_run.store()
    token = Screens(store).add("E2E wall", by=ADMIN)
    browser.delete_all_cookies()
    browser.get(screen_url(surge_run.url, token))
    WebDriverWait(browser, 60, poll_frequency=0.5).until(has_live_values)
    assert browser.current_url == surge_run.url  # the token is not left in the address bar
    assert "Wall screen: E2E wall" in browser.find_element(By.ID, "session-badge").text

    Screens(store).revoke("E2E wall", by=ADMIN)
    # one refresh (5 s) gets 401, the page reloads, and the server shows the revoked page
    WebDriverWait(browser, 20, poll_frequency=0.5).until(
        lambda d: d.find_elements(By.ID, "revoked-page"))
    assert REVOKED in browser.find_element(By.ID, "auth-message").text
    assert not browser.find_elements(By.ID, "value-calls-waiting")
    assert console_errors(browser) == []
