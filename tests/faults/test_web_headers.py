"""What a signed-in answer tells the browser: never store it (pages, callbacks, the API), and
a Content-Security-Policy that allows only this site's own scripts (and Dash's inline ones,
by hash) under which the overview really works in Chromium, with no violation reported."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from dash import Dash
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from dashboard.app import create_app
from surge.samples import Sample
from surge.store import Store
from tests.dashboard.conftest import PASSWORD, add_user, auth_settings, callback_body, sign_in
from tests.e2e.conftest import browser  # noqa: F401  (the fixture)
from tests.faults.test_web_support import WebServer, web  # noqa: F401  (the fixture)


def csp(headers: Any) -> dict[str, list[str]]:
    """The policy's directives: name -> values."""
    out = {}
    for part in headers["Content-Security-Policy"].split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


@pytest.fixture
def signed_in(store: Store) -> tuple[Dash, Any]:
    add_user(store, "alice", "admin")
    app = create_app(auth_settings(), store)
    client = app.server.test_client()
    assert sign_in(client, "alice").status_code == 302
    return app, client


def test_no_signed_in_answer_may_be_stored_and_static_files_may(signed_in: tuple) -> None:
    app, client = signed_in
    answers = {
        "page": client.get("/"),
        "admin page": client.get("/admin"),
        "layout": client.get("/_dash-layout"),
        "dependencies": client.get("/_dash-dependencies"),
        "refresh": client.post("/_dash-update-component",
                               json=callback_body(app, "overview-interval")),
        "api": client.post("/api/rules/reload", json={}, headers={"X-Requested-With": "x"}),
    }
    for what, answer in answers.items():
        assert answer.status_code == 200, what
        assert answer.headers.get("Cache-Control") == "no-store", what
    css = client.get("/assets/surge.css")
    assert css.status_code == 200 and "no-store" not in css.headers.get("Cache-Control", "")


def test_the_policy_allows_only_this_sites_scripts_and_dashs_inline_ones_by_hash(
        signed_in: tuple) -> None:
    _app, client = signed_in
    page = client.get("/")
    policy = csp(page.headers)
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]
    assert "data:" in policy["img-src"]
    scripts = policy["script-src"]
    assert "'self'" in scripts and "'unsafe-inline'" not in scripts
    assert "'unsafe-eval'" not in scripts
    # every inline script in the page is allowed by its hash, and nothing else inline is
    import base64
    import hashlib

    html = re.sub(r"<!--.*?-->", "", page.get_data(as_text=True), flags=re.S)  # IE only
    inline = [s for a, s in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
              if "src=" not in a and 'type="application/json"' not in a]
    assert inline
    for source in inline:
        digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in scripts, source[:80]
    assert csp(client.get("/login").headers) == policy  # the sign-in page too


def updated(driver: Any) -> str:
    """The status bar's "Updated ..." time: it changes with every refresh."""
    return str(driver.find_element(By.CLASS_NAME, "status-updated").text)


@pytest.mark.browser
@pytest.mark.slow
def test_the_overview_works_in_chromium_under_the_policy(
        web: Callable[..., WebServer], store: Store, browser: Any) -> None:  # noqa: F811
    add_user(store, "alice", "viewer")
    store.write([Sample("calls.waiting", "trust", time.time() - 30, 417.0)])
    server = web()
    assert "default-src 'self'" in requests.get(server.url("/login"), timeout=30).headers[
        "Content-Security-Policy"]
    browser.delete_all_cookies()
    browser.get_log("browser")  # what earlier tests left
    browser.get(server.url("/overview"))
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "login-page"))
    browser.find_element(By.ID, "username").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "sign-in").click()
    WebDriverWait(browser, 60, poll_frequency=0.5).until(
        lambda d: "417" in (d.find_elements(By.ID, "value-calls-waiting") or [None])[0].text
        if d.find_elements(By.ID, "value-calls-waiting") else False)
    assert browser.title.startswith("Surge — ")  # Dash's inline title callback ran
    first = updated(browser)
    WebDriverWait(browser, 30, poll_frequency=0.5).until(lambda d: updated(d) != first)
    log = browser.get_log("browser")
    violations = [e["message"] for e in log if "Content Security Policy" in e["message"]
                  or "Content-Security-Policy" in e["message"]]
    assert violations == []
    assert [e["message"] for e in log if e["level"] == "SEVERE"] == []
