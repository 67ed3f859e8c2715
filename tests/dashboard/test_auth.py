"""Signing in to the dashboard, against a real store: the login form and its bad inputs,
throttling, sessions and their timeouts (with an injected clock), wall-screen links and
their revocation, anonymous view, security headers, and the cookie-signing key."""

from __future__ import annotations

import logging
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from dash import Dash

from dashboard.app import create_app
from dashboard.login import ENDED, FAILED, REVOKED, THROTTLED
from dashboard.sessions import load_secret_key
from surge import keys
from surge.auth import Screens, Users, audit_events
from surge.errors import ConfigError
from surge.settings import Settings
from surge.store import Store
from tests.dashboard.conftest import (
    ADMIN_CLI,
    PASSWORD,
    SECRET,
    add_screen,
    add_user,
    auth_settings,
    callback_body,
    login_csrf,
    message,
    sign_in,
)

T0 = 1_790_000_000.0
HOUR = 3600.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, at: float = T0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(store: Store, clock: Clock) -> Dash:
    return create_app(auth_settings(), store, clock=clock)


def actions(store: Store) -> list[dict[str, Any]]:
    """The audit entries recorded so far, without the set-up (users and screens added)."""
    return [e.data for e in audit_events(store)
            if e.data["action"] not in ("user_added", "screen_added")]


def refresh(app: Dash, client: Any) -> Any:
    client.get("/_favicon.ico")  # any first request sets up Dash's page router
    return client.post("/_dash-update-component", json=callback_body(app, "overview-interval"))


# --- the login form ----------------------------------------------------------------------


def test_a_user_signs_in_and_lands_where_they_were_going(app: Dash, store: Store) -> None:
    add_user(store, "alice", "duty_manager")
    client = app.server.test_client()
    first = client.get("/admin?tab=rules")
    assert first.status_code == 302 and first.headers["Location"] == "/login?next=%2Fadmin%3Ftab%3Drules"
    response = sign_in(client, "alice", next="/admin?tab=rules")
    assert response.status_code == 302 and response.headers["Location"] == "/admin?tab=rules"
    assert client.get("/").status_code == 200
    assert refresh(app, client).status_code == 200
    assert actions(store)[-1] == {"action": "login", "user": "alice", "role": "duty_manager",
                                  "address": "127.0.0.1"}


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil",
                                    "/screen/abc", "admin"])
def test_after_sign_in_only_a_path_on_this_site_is_followed(app: Dash, store: Store,
                                                            target: str) -> None:
    add_user(store, "alice", "viewer")
    response = sign_in(app.server.test_client(), "alice", next=target)
    assert response.headers["Location"] == "/"


def test_the_session_cookie_is_httponly_samesite_lax_and_not_secure_over_http(
        app: Dash, store: Store) -> None:
    add_user(store, "alice", "viewer")
    cookie = sign_in(app.server.test_client(), "alice").headers["Set-Cookie"]
    assert cookie.startswith("surge_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_over_https_the_cookie_is_secure_and_hsts_is_sent(store: Store) -> None:
    app = create_app(auth_settings(https=True), store)
    add_user(store, "alice", "viewer")
    client = app.server.test_client()
    assert "Secure" in sign_in(client, "alice").headers["Set-Cookie"]
    assert client.get("/login").headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("name,password,reason", [
    ("alice", "not the password at all", "wrong password"),
    ("mallory", PASSWORD, "unknown user"),
    ("bob", PASSWORD, "disabled"),
])
def test_every_failed_sign_in_gets_the_same_message_and_401_and_is_recorded(
        app: Dash, store: Store, name: str, password: str, reason: str) -> None:
    add_user(store, "alice", "viewer")
    add_user(store, "bob", "viewer")
    Users(store).disable("bob", by=ADMIN_CLI)
    client = app.server.test_client()
    response = sign_in(client, name, password)
    assert response.status_code == 401
    assert message(response) == FAILED
    assert password.encode() not in response.data
    assert client.get("/").status_code == 302  # not signed in
    entry = actions(store)[-1]
    assert (entry["action"], entry["user"], entry["reason"]) == ("login_failed", name, reason)
    assert all(password not in str(value) for value in entry.values())


def test_a_form_without_its_csrf_token_is_refused_400_and_recorded(app: Dash,
                                                                   store: Store) -> None:
    add_user(store, "alice", "viewer")
    client = app.server.test_client()
    login_csrf(client)
    for data in ({"username": "alice", "password": PASSWORD},
                 {"username": "alice", "password": PASSWORD, "csrf": "forged"}):
        response = client.post("/login", data=data)
        assert response.status_code == 400
        assert "expired" in message(response)
    assert client.get("/").status_code == 302
    assert [(e["action"], e["reason"]) for e in actions(store)] == \
        [("login_rejected", "missing or wrong form token")] * 2


def test_an_oversized_form_gets_413_and_a_malformed_one_400(app: Dash, store: Store) -> None:
    client = app.server.test_client()
    csrf = login_csrf(client)
    big = client.post("/login", data={"csrf": csrf, "username": "alice",
                                      "password": "x" * 20_000})
    assert big.status_code == 413 and message(big) == FAILED
    missing = client.post("/login", data={"csrf": csrf, "username": "alice"})
    assert missing.status_code == 400 and message(missing) == FAILED
    long_name = client.post("/login", data={"csrf": csrf, "username": "a" * 300,
                                            "password": PASSWORD})
    assert long_name.status_code == 400 and message(long_name) == FAILED
    as_json = client.post("/login", json={"csrf": csrf, "username": "alice"})
    assert as_json.status_code == 400
    assert [(e["action"], e["reason"]) for e in actions(store)] == [
        ("login_rejected", "form too large"), ("login_rejected", "malformed form"),
        ("login_rejected", "malformed form"), ("login_rejected", "missing or wrong form token")]
    assert all(e["user"] == "(not recorded)" for e in actions(store))


# --- throttling --------------------------------------------------------------------------


def test_failed_sign_ins_are_throttled_per_user_from_any_address(app: Dash,
                                                                 store: Store) -> None:
    add_user(store, "alice", "viewer")
    client = app.server.test_client()
    for i in range(5):
        response = client.post("/login", environ_base={"REMOTE_ADDR": f"10.0.0.{i}"},
                               data={"csrf": login_csrf(client), "username": "alice",
                                     "password": "wrong password!"})
        assert response.status_code == 401
    # the sixth try, from a new address and with the right password, is not even checked
    throttled = client.post("/login", environ_base={"REMOTE_ADDR": "10.0.0.99"},
                            data={"csrf": login_csrf(client), "username": "alice",
                                  "password": PASSWORD})
    assert throttled.status_code == 429 and message(throttled) == THROTTLED
    assert client.get("/").status_code == 302
    entry = actions(store)[-1]
    assert (entry["action"], entry["user"], entry["address"]) == \
        ("login_throttled", "alice", "10.0.0.99")
    assert "for this user" in entry["reason"]
    assert [e["action"] for e in actions(store)].count("login_failed") == 5
    # another user is not affected
    add_user(store, "bob", "viewer")
    assert sign_in(client, "bob").status_code == 302


def test_failed_sign_ins_are_throttled_per_address_for_any_user(app: Dash,
                                                                store: Store) -> None:
    add_user(store, "alice", "viewer")
    client = app.server.test_client()
    for i in range(5):
        assert sign_in(client, f"nobody{i}", "wrong password!").status_code == 401
    throttled = sign_in(client, "alice")
    assert throttled.status_code == 429 and message(throttled) == THROTTLED
    entry = actions(store)[-1]
    assert entry["action"] == "login_throttled" and "from this address" in entry["reason"]
    other = client.post("/login", environ_base={"REMOTE_ADDR": "10.9.9.9"},
                        data={"csrf": login_csrf(client), "username": "alice",
                              "password": PASSWORD})
    assert other.status_code == 302


def test_successful_sign_ins_are_not_counted(app: Dash, store: Store) -> None:
    add_user(store, "alice", "viewer")
    for _ in range(7):
        assert sign_in(app.server.test_client(), "alice").status_code == 302


def test_the_limit_is_a_setting(store: Store) -> None:
    app = create_app(auth_settings(login_limit="2/minute"), store)
    client = app.server.test_client()
    assert [sign_in(client, "alice", "wrong password!").status_code for _ in range(3)] == \
        [401, 401, 429]


# --- sessions and timeouts ---------------------------------------------------------------


def test_a_session_ends_after_the_idle_timeout_and_refreshes_are_not_activity(
        app: Dash, store: Store, clock: Clock) -> None:
    add_user(store, "alice", "viewer")
    client = app.server.test_client()
    sign_in(client, "alice")
    clock.at += 12 * HOUR - 10
    assert refresh(app, client).status_code == 200  # a timer, not a person
    clock.at += 20
    expired = refresh(app, client)
    assert expired.status_code == 401
    page = client.get("/")
    assert page.status_code == 401 and message(page) == ENDED  # said once...
    assert client.get("/").status_code == 302  # ...then the usual way to sign in
    entry = actions(store)[-1]
    assert (entry["action"], entry["user"], entry["reason"]) == \
        ("session_expired", "alice", "idle")


def test_using_the_pages_keeps_a_session_alive_until_the_absolute_timeout(
        app: Dash, store: Store, clock: Clock) -> None:
    add_user(store, "alice", "viewer")
    client = app.server.test_client()
    sign_in(client, "alice")
    for _ in range(3):
        clock.at += 8 * HOUR
        assert client.get("/").status_code == 200
    clock.at += 1 * HOUR  # 25 h after signing in, 1 h after the last page
    response = client.get("/")
    assert response.status_code == 401 and message(response) == ENDED
    entry = actions(store)[-1]
    assert (entry["action"], entry["reason"]) == ("session_expired", "absolute")


def test_timeouts_are_settings(store: Store, clock: Clock) -> None:
    app = create_app(auth_settings(idle_timeout=600, session_max=3600), store, clock=clock)
    add_user(store, "alice", "viewer")
    client = app.server.test_client()
    sign_in(client, "alice")
    clock.at += 601
    assert refresh(app, client).status_code == 401


def test_a_disabled_users_session_ends_at_their_next_request(app: Dash, store: Store) -> None:
    add_user(store, "alice", "viewer")
    client = app.server.test_client()
    sign_in(client, "alice")
    assert refresh(app, client).status_code == 200
    Users(store).disable("alice", by=ADMIN_CLI)
    assert refresh(app, client).status_code == 401
    assert client.get("/").status_code == 401
    entry = actions(store)[-1]
    assert (entry["action"], entry["user"], entry["reason"]) == \
        ("session_ended", "alice", "user disabled")


@pytest.mark.parametrize("change", ["reset_password", "set_role"])
def test_a_new_epoch_ends_the_users_sessions(app: Dash, store: Store, change: str) -> None:
    add_user(store, "alice", "viewer")
    client = app.server.test_client()
    sign_in(client, "alice")
    people = Users(store)
    if change == "reset_password":
        people.reset_password("alice", "another long password", by=ADMIN_CLI)
    else:
        people.set_role("alice", "commander", by=ADMIN_CLI)
    assert refresh(app, client).status_code == 401
    assert actions(store)[-1]["action"] == "session_ended"
    sign_in(client, "alice", "another long password" if change == "reset_password"
            else PASSWORD)
    assert refresh(app, client).status_code == 200


def test_a_tampered_cookie_is_treated_as_signed_out(app: Dash, store: Store) -> None:
    add_user(store, "alice", "admin")
    client = app.server.test_client()
    sign_in(client, "alice")
    cookie = client.get_cookie("surge_session")
    assert cookie is not None
    body, _, signature = cookie.value.rpartition(".")
    client.set_cookie("surge_session", body + "." + signature[::-1])
    assert refresh(app, client).status_code == 401
    page = client.get("/")
    assert page.status_code == 401 and message(page) == ENDED
    entry = actions(store)[-1]
    assert (entry["action"], entry["reason"]) == \
        ("session_rejected", "invalid or expired session cookie")


def test_signing_out_needs_the_csrf_token_and_is_recorded(app: Dash, store: Store) -> None:
    add_user(store, "alice", "viewer")
    client = app.server.test_client()
    sign_in(client, "alice")
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200  # still signed in
    token = login_csrf_from_badge(app, client)
    response = client.post("/logout", data={"csrf": token})
    assert response.status_code == 302 and response.headers["Location"] == "/login?signed_out=1"
    assert message(client.get("/login?signed_out=1")) == "You have signed out."
    assert client.get("/").status_code == 302
    assert actions(store)[-1]["action"] == "logout"


def login_csrf_from_badge(app: Dash, client: Any) -> str:
    """The CSRF token in the sign-out button of the status bar, as the page has it."""
    out = refresh(app, client).get_json()["response"]["status-bar"]["children"]
    found = [n for n in _walk(out) if n["props"].get("id") == "sign-out"]
    assert len(found) == 1
    return str(found[0]["props"]["value"])


def _walk(node: Any) -> Any:
    if isinstance(node, list):
        for child in node:
            yield from _walk(child)
    elif isinstance(node, dict) and "props" in node:
        yield node
        yield from _walk(node["props"].get("children"))


def test_the_status_bar_says_who_is_signed_in(app: Dash, store: Store) -> None:
    add_user(store, "alice", "admin")
    add_user(store, "carol", "duty_manager")
    pages = "StrategicTacticalOperationalProtocolsStatusAlertsReview"  # the pages both may open
    for name, shown, admin_link in (("alice", f"aliceadmin{pages}AdminSign out", True),
                                    ("carol", f"carolduty manager{pages}Sign out", False)):
        client = app.server.test_client()
        sign_in(client, name)
        out = refresh(app, client).get_json()["response"]["status-bar"]["children"]
        badge = [n for n in _walk(out) if n["props"].get("id") == "session-badge"]
        assert len(badge) == 1 and _text(badge[0]) == shown
        assert any(n["props"].get("href") == "/admin" for n in _walk(badge)) is admin_link


def _text(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return "".join(_text(c) for c in node)
    if isinstance(node, dict) and "props" in node:
        return _text(node["props"].get("children"))
    return ""


# --- wall screens ------------------------------------------------------------------------


def test_a_screen_link_signs_in_read_only_without_idle_expiry(app: Dash, store: Store,
                                                               clock: Clock) -> None:
    token = add_screen(store, "Strategic cell wall")
    client = app.server.test_client()
    response = client.get(f"/screen/{token}")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    clock.at += 30 * 24 * HOUR  # a month on the wall
    out = refresh(app, client)
    assert out.status_code == 200
    status = out.get_json()["response"]["status-bar"]["children"]
    assert "Wall screen: Strategic cell wall" in _text(status)
    entry = actions(store)[-1]
    assert (entry["action"], entry["user"], entry["role"], entry["screen"]) == \
        ("screen_signed_in", "screen:Strategic cell wall", "viewer", "Strategic cell wall")
    assert token not in str(audit_events(store))


def test_revoking_a_screen_ends_it_at_its_next_refresh_with_a_revoked_page(
        app: Dash, store: Store) -> None:
    token = add_screen(store, "EOC wall")
    client = app.server.test_client()
    client.get(f"/screen/{token}")
    assert refresh(app, client).status_code == 200
    Screens(store).revoke("EOC wall", by=ADMIN_CLI)
    assert refresh(app, client).status_code == 401  # the page reloads on this (session.js)
    for _ in range(2):  # and stays on the revoked page, however often it reloads
        page = client.get("/")
        assert page.status_code == 403
        assert message(page) == REVOKED + "."
    assert client.get(f"/screen/{token}").status_code == 403
    kinds = [(e["action"], e["user"]) for e in actions(store)]
    assert ("screen_revoked_refused", "screen:EOC wall") in kinds


def test_an_unknown_screen_link_gets_the_revoked_page(app: Dash, store: Store) -> None:
    client = app.server.test_client()
    for token in ("not-a-token", "x" * 500):
        page = client.get(f"/screen/{token}")
        assert page.status_code == 403 and REVOKED.encode() in page.data
        assert token.encode() not in page.data
    assert [e["action"] for e in actions(store)] == ["screen_revoked_refused"] * 2


def test_signing_in_as_a_user_replaces_a_revoked_screen(app: Dash, store: Store) -> None:
    token = add_screen(store, "EOC wall")
    add_user(store, "alice", "viewer")
    client = app.server.test_client()
    client.get(f"/screen/{token}")
    Screens(store).revoke("EOC wall", by=ADMIN_CLI)
    assert refresh(app, client).status_code == 401
    sign_in(client, "alice")
    assert client.get("/").status_code == 200


# --- anonymous view ----------------------------------------------------------------------


def test_without_anonymous_view_nothing_is_served_before_signing_in(app: Dash) -> None:
    client = app.server.test_client()
    assert client.get("/").status_code == 302
    assert client.get("/admin").headers["Location"] == "/login?next=%2Fadmin"
    assert client.get("/_dash-layout").status_code == 401
    assert client.get("/_dash-dependencies").status_code == 401
    assert refresh(app, client).status_code == 401
    assert client.get("/assets/surge.css").status_code == 200  # styles for the login page
    assert client.get("/login").status_code == 200


def test_anonymous_view_serves_pages_read_only(store: Store) -> None:
    app = create_app(auth_settings(anonymous_view=True), store)
    client = app.server.test_client()
    assert client.get("/").status_code == 200
    out = refresh(app, client)
    assert out.status_code == 200
    assert "Anonymous view (read-only)Sign in" in _text(
        out.get_json()["response"]["status-bar"]["children"])
    reload = client.post("/_dash-update-component",
                         json=callback_body(app, "admin-reload-button"))
    assert reload.status_code == 401
    assert store.client.get(keys.RELOAD) is None


def test_a_callback_must_be_json(app: Dash, store: Store) -> None:
    add_user(store, "alice", "admin")
    client = app.server.test_client()
    sign_in(client, "alice")
    response = client.post("/_dash-update-component", data="output=admin-reload-result.children",
                           content_type="text/plain")
    assert response.status_code == 400
    assert store.client.get(keys.RELOAD) is None


# --- headers, proxies, logs --------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/", "/assets/surge.css", "/screen/nope"])
def test_every_response_carries_the_security_headers(app: Dash, path: str) -> None:
    headers = app.server.test_client().get(path).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in headers  # only when SURGE_HTTPS is on


@pytest.mark.parametrize("hops,recorded", [(0, "127.0.0.1"), (1, "203.0.113.9")])
def test_forwarded_addresses_count_only_behind_trusted_proxies(store: Store, hops: int,
                                                               recorded: str) -> None:
    app = create_app(auth_settings(trusted_proxies=hops), store)
    client = app.server.test_client()
    csrf = login_csrf(client)
    client.post("/login", headers={"X-Forwarded-For": "203.0.113.9"},
                data={"csrf": csrf, "username": "mallory", "password": "wrong password!"})
    assert actions(store)[-1]["address"] == recorded


def test_screen_tokens_are_redacted_from_request_logs() -> None:
    for name in ("werkzeug", "gunicorn.access"):
        record = logging.LogRecord(name, logging.INFO, __file__, 1, '"%s" %s',
                                   ("GET /screen/s3cret-Token_value HTTP/1.1", 302), None)
        for log_filter in logging.getLogger(name).filters:
            log_filter.filter(record)
        assert "s3cret" not in record.getMessage()
        assert "/screen/[token]" in record.getMessage()
    access = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "%(r)s",
                               (), None)
    access.args = {"r": "GET /screen/s3cret HTTP/1.1", "s": "302"}
    for log_filter in logging.getLogger("gunicorn.access").filters:
        log_filter.filter(access)
    assert "s3cret" not in access.getMessage()


def test_a_store_that_is_down_refuses_sign_in_clearly() -> None:
    app = create_app(auth_settings(), Store.connect("redis://127.0.0.1:1"))
    client = app.server.test_client()
    response = sign_in(client, "alice")
    assert response.status_code == 503
    assert "data store cannot be reached" in message(response)


# --- passwords and the cookie-signing key ------------------------------------------------


def test_the_store_keeps_an_argon2_hash_never_the_password(store: Store) -> None:
    add_user(store, "alice", "viewer")
    stored = store.client.hgetall(keys.user("alice"))
    assert stored[b"hash"].startswith(b"$argon2id$")
    everything = b"".join(v for k in store.client.keys("*") if store.client.type(k) == b"hash"
                          for v in store.client.hgetall(k).values())
    assert PASSWORD.encode() not in everything


def test_the_secret_key_is_made_once_with_mode_0600_and_reused(tmp_path: Path,
                                                               store: Store) -> None:
    settings = auth_settings(secret_key=None, data_dir=tmp_path / "var")
    path = tmp_path / "var" / "secret_key"
    assert not path.exists()
    first = load_secret_key(settings)
    assert len(first) == 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret_key(settings) == first
    # two apps (two gunicorn workers) on the same data directory share sessions
    add_user(store, "alice", "viewer")
    one, two = (create_app(settings, store) for _ in range(2))
    client = one.server.test_client()
    sign_in(client, "alice")
    cookie = client.get_cookie("surge_session")
    assert cookie is not None
    other = two.server.test_client()
    other.set_cookie("surge_session", cookie.value)
    assert other.get("/").status_code == 200
    assert path.read_text().strip() == first


def test_workers_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    settings = auth_settings(secret_key=None, data_dir=tmp_path / "var")
    found: list[str] = []
    threads = [threading.Thread(target=lambda: found.append(load_secret_key(settings)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(found)) == 1 and len(found) == 8
    assert [p.name for p in (tmp_path / "var").iterdir()] == ["secret_key"]


def test_surge_secret_key_wins_and_no_file_is_made(tmp_path: Path) -> None:
    settings = auth_settings(secret_key=SECRET, data_dir=tmp_path / "var")
    assert load_secret_key(settings) == SECRET
    assert not (tmp_path / "var").exists()
    assert SECRET not in repr(settings)


# --- settings ----------------------------------------------------------------------------


def test_auth_settings_from_the_environment() -> None:
    settings = Settings.from_env({
        "SURGE_SECRET_KEY": SECRET, "SURGE_HTTPS": "yes", "SURGE_TRUSTED_PROXIES": "1",
        "SURGE_ANONYMOUS_VIEW": "on", "SURGE_IDLE_TIMEOUT": "8h", "SURGE_SESSION_MAX": "1d",
        "SURGE_LOGIN_LIMIT": "10 per hour"})
    assert (settings.secret_key, settings.https, settings.trusted_proxies,
            settings.anonymous_view, settings.idle_timeout, settings.session_max,
            settings.login_limit) == (SECRET, True, 1, True, 8 * 3600, 86400, "10 per hour")
    assert Settings.from_env({}).anonymous_view is False


def test_bad_auth_settings_name_the_variable_and_never_echo_a_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"SURGE_SECRET_KEY": "hunter2", "SURGE_HTTPS": "maybe",
                           "SURGE_TRUSTED_PROXIES": "many", "SURGE_ANONYMOUS_VIEW": "2",
                           "SURGE_IDLE_TIMEOUT": "0s", "SURGE_SESSION_MAX": "forever",
                           "SURGE_LOGIN_LIMIT": "lots"})
    text = str(caught.value)
    for var in ("SURGE_SECRET_KEY", "SURGE_HTTPS", "SURGE_TRUSTED_PROXIES",
                "SURGE_ANONYMOUS_VIEW", "SURGE_IDLE_TIMEOUT", "SURGE_SESSION_MAX",
                "SURGE_LOGIN_LIMIT"):
        assert var in text
    assert "hunter2" not in text
