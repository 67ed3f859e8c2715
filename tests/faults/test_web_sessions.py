"""Sessions end on the server: a cookie kept after signing out, after a restart, after the
user is disabled or changes role or password, or after `surge users sessions --end`, opens
nothing; revoking a wall screen ends its sessions. A screen link opened in a browser that is
signed in as a user never touches that user's session (a cross-site link cannot sign a
commander out)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from dashboard.app import create_app
from surge import keys
from surge.auth import Screens, Users
from surge.store import Store
from tests.dashboard.conftest import ADMIN_CLI, PASSWORD, add_screen, add_user, auth_settings
from tests.dashboard.conftest import sign_in as sign_in_test_client
from tests.faults.test_web_support import (
    WebServer,
    cookie_header,
    refresh,
    sign_in,
    sign_out_token,
    web,  # noqa: F401  (the fixture)
)

pytestmark = pytest.mark.slow


def replay(server: WebServer, cookie: str) -> dict[str, int]:
    """What a kept cookie still opens: the overview page, a refresh, the reload API."""
    headers = {"Cookie": cookie}
    return {
        "page": requests.get(server.url("/"), headers=headers, allow_redirects=False,
                             timeout=30).status_code,
        "refresh": refresh(requests.Session(), server, headers=headers).status_code,
        "reload": requests.post(server.url("/api/rules/reload"), json={}, timeout=30,
                                headers={**headers, "X-Requested-With": "fetch"}).status_code,
    }


SIGNED_OUT = {"page": 401, "refresh": 401, "reload": 401}  # "Your session has ended"


def test_a_cookie_kept_after_signing_out_opens_nothing_even_after_a_restart(
        web: Callable[..., WebServer], store: Store) -> None:  # noqa: F811
    add_user(store, "alice", "admin")
    server = web()
    browser = sign_in(server, "alice", PASSWORD)
    kept = cookie_header(browser)
    assert replay(server, kept) == {"page": 200, "refresh": 200, "reload": 200}
    store.client.delete(keys.RELOAD)

    out = browser.post(server.url("/logout"), data={"csrf": sign_out_token(browser, server)},
                       allow_redirects=False, timeout=30)
    assert out.status_code == 302
    assert replay(server, kept) == SIGNED_OUT
    assert store.client.get(keys.RELOAD) is None

    server.stop()
    again = web()
    assert replay(again, kept) == SIGNED_OUT
    assert store.client.get(keys.RELOAD) is None


@pytest.mark.parametrize("change", ["disable", "set_role", "reset_password", "end"])
def test_disabling_a_role_change_a_new_password_or_ending_ends_every_session_at_once(
        store: Store, change: str) -> None:
    add_user(store, "alice", "commander")
    app = create_app(auth_settings(), store)
    browsers = [app.server.test_client() for _ in range(2)]
    for browser in browsers:
        assert sign_in_test_client(browser, "alice").status_code == 302
    from surge.auth.sessions import Sessions

    sessions = Sessions(store)
    assert len(sessions.list("user", "alice")) == 2
    people = Users(store)
    if change == "disable":
        people.disable("alice", by=ADMIN_CLI)
    elif change == "set_role":
        people.set_role("alice", "viewer", by=ADMIN_CLI)
    elif change == "reset_password":
        people.reset_password("alice", "another long password", by=ADMIN_CLI)
    else:
        assert sessions.end_all("user", "alice", by=ADMIN_CLI) == 2
    assert sessions.list("user", "alice") == []  # on the server, before any request
    assert not list(store.client.scan_iter(match=keys.PREFIX + "session:*"))
    for browser in browsers:
        assert browser.get("/").status_code in (302, 401)


def test_revoking_a_screen_ends_its_sessions(store: Store) -> None:
    token = add_screen(store, "EOC wall")
    app = create_app(auth_settings(), store)
    walls = [app.server.test_client() for _ in range(2)]
    for wall in walls:
        assert wall.get(f"/screen/{token}").status_code == 302
        assert wall.get("/").status_code == 200
    from surge.auth.sessions import Sessions

    sessions = Sessions(store)
    assert [s.who for s in sessions.list("screen", "EOC wall")] == ["screen:EOC wall"] * 2
    Screens(store).revoke("EOC wall", by=ADMIN_CLI)
    assert sessions.list("screen", "EOC wall") == []
    for wall in walls:
        assert wall.get("/").status_code == 403  # the revoked page


def client_sessions(store: Store, kind: str, name: str) -> int:
    from surge.auth.sessions import Sessions

    return len(Sessions(store).list(kind, name))


# --- a screen link opened while signed in as a user ----------------------------------------


def signed_in(store: Store) -> tuple[Any, Any]:
    add_user(store, "gold", "commander")
    app = create_app(auth_settings(), store)
    browser = app.server.test_client()
    assert sign_in_test_client(browser, "gold").status_code == 302
    return app, browser


def session_of(app: Any, browser: Any) -> dict[str, Any]:
    """What the browser's session cookie holds (each response signs it afresh, so its bytes
    change from one second to the next while what it holds does not)."""
    cookie = browser.get_cookie("surge_session")
    if cookie is None:
        return {}
    server = app.server
    return dict(server.session_interface.get_signing_serializer(server).loads(cookie.value))


@pytest.mark.parametrize("link", ["garbage", "valid"])
def test_a_screen_link_never_touches_a_signed_in_users_session(store: Store,
                                                                link: str) -> None:
    app, browser = signed_in(store)
    token = add_screen(store, "Strategic cell wall") if link == "valid" else "x"
    before = session_of(app, browser)
    assert before
    # what a cross-site page can do: send the browser to the link (a top-level GET)
    answer = browser.get(f"/screen/{token}", headers={"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 409
    page = answer.get_data(as_text=True)
    assert "signed in as gold" in page and "Sign out" in page and 'action="/logout"' in page
    assert session_of(app, browser) == before  # nothing set, nothing cleared
    assert browser.get("/").status_code == 200  # still gold, still signed in
    assert client_sessions(store, "user", "gold") == 1
    assert client_sessions(store, "screen", "Strategic cell wall") == 0
    assert all(e.data["action"] != "screen_signed_in" for e in store.events(kinds=["audit"]))


def test_a_garbage_link_does_not_end_a_wall_screens_session(store: Store) -> None:
    token = add_screen(store, "EOC wall")
    app = create_app(auth_settings(), store)
    wall = app.server.test_client()
    assert wall.get(f"/screen/{token}").status_code == 302
    assert wall.get("/screen/garbage").status_code == 403
    assert wall.get("/").status_code == 200  # still the EOC wall


# --- an exercise's fast clock ------------------------------------------------------------------


def test_an_exercise_clock_running_fast_ends_no_session(store: Store) -> None:
    """Sessions are timed in real time: at x60 an hour of the exercise passes every minute,
    and a duty manager signed in must stay signed in (idle and absolute timeouts are the
    people's, not the scenario's)."""
    from surge.clock import Clock

    real = [1_800_000_000.0]
    clock = Clock.exercise(60, origin=real[0] - 5 * 3600, real=lambda: real[0])
    add_user(store, "dm", "duty_manager")
    app = create_app(auth_settings(), store, clock=clock)
    browser = app.server.test_client()
    assert sign_in_test_client(browser, "dm").status_code == 302
    for _ in range(40):  # forty real minutes of use: forty hours of the exercise
        real[0] += 60
        answer = browser.get("/")
        assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert client_sessions(store, "user", "dm") == 1
