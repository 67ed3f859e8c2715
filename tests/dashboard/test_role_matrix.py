"""Every state-changing callback and endpoint, called directly over HTTP as each kind of
caller: the server refuses whoever lacks the role (hiding a button protects nothing), a
refused request changes nothing in Redis but the audit trail, and the refusal is on it."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from dash import Dash
from flask.testing import FlaskClient

from dashboard.app import create_app
from surge import keys
from surge.store import Store
from tests.dashboard.conftest import add_screen, add_user, auth_settings, callback_body, sign_in

CALLERS = ("anonymous", "viewer", "screen", "duty_manager", "commander", "admin")

# (what, who may) -> the status each caller gets
STATE_CHANGING = ("reload rules callback", "POST /api/rules/reload")
READ_ONLY = ("overview refresh",)


def expected(what: str, caller: str) -> int:
    if caller == "anonymous":
        return 401
    if what in READ_ONLY or caller == "admin":
        return 200
    return 403


@pytest.fixture
def app(store: Store) -> Dash:
    return create_app(auth_settings(), store)


def client_as(app: Dash, store: Store, caller: str) -> FlaskClient:
    client = app.server.test_client()
    client.get("/_favicon.ico")  # the first request sets up Dash's page router
    if caller == "screen":
        assert client.get(f"/screen/{add_screen(store)}").status_code == 302
    elif caller != "anonymous":
        name = f"{caller.replace('_', '-')}-1"
        assert sign_in(client, name, add_user(store, name, caller)).status_code == 302
    return client


def send(app: Dash, client: FlaskClient, what: str) -> Any:
    if what == "reload rules callback":
        return client.post("/_dash-update-component",
                           json=callback_body(app, "admin-reload-button"))
    if what == "POST /api/rules/reload":
        return client.post("/api/rules/reload", json={},
                           headers={"X-Requested-With": "fetch"})
    return client.post("/_dash-update-component", json=callback_body(app, "overview-interval"))


def snapshot(client: redis.Redis) -> dict[bytes, bytes]:
    """Every key's serialised value (DUMP), but the events stream (the audit trail)."""
    return {k: client.dump(k) for k in sorted(client.scan_iter()) if k != keys.EVENTS.encode()}


def new_events(store: Store, before: int) -> list:
    return store.events()[before:]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("what", STATE_CHANGING + READ_ONLY)
def test_the_role_matrix(app: Dash, store: Store, what: str, caller: str) -> None:
    client = client_as(app, store, caller)
    before, events = snapshot(store.client), len(store.events())
    response = send(app, client, what)
    want = expected(what, caller)
    assert response.status_code == want, (what, caller, response.data[:300])
    added = new_events(store, events)
    if what in READ_ONLY:
        if want != 200:
            assert snapshot(store.client) == before
        return
    if want == 200:
        assert store.client.get(keys.RELOAD) == b"web:admin-1"
        assert [e.data["action"] for e in added] == ["rules_reload_requested"]
        return
    assert snapshot(store.client) == before, "a refused request changed Redis"
    assert store.client.get(keys.RELOAD) is None
    assert [e.kind for e in added] == ["audit"]
    refused = added[0].data
    assert refused["action"] == "access_refused" and refused["needed"] == "admin"
    label = {"anonymous": "(anonymous)", "screen": "screen:Control room wall"}.get(
        caller, f"{caller.replace('_', '-')}-1")
    assert refused["user"] == label and refused["address"] == "127.0.0.1"


def test_the_endpoint_needs_a_csrf_header_even_for_an_admin(app: Dash, store: Store) -> None:
    client = client_as(app, store, "admin")
    before = snapshot(store.client)
    response = client.post("/api/rules/reload", json={})
    assert response.status_code == 400
    assert snapshot(store.client) == before
    assert client.post("/api/rules/reload", json={},
                       headers={"X-Requested-With": "fetch"}).status_code == 200


def test_a_callback_request_naming_an_admin_output_among_others_is_refused(
        app: Dash, store: Store) -> None:
    client = client_as(app, store, "commander")
    body = callback_body(app, "overview-interval")
    body["output"] = body["output"][:-2] + "...admin-reload-result.children.."
    before = snapshot(store.client)
    assert client.post("/_dash-update-component", json=body).status_code == 403
    assert snapshot(store.client) == before


def test_anonymous_view_does_not_open_state_changing_requests(store: Store) -> None:
    app = create_app(auth_settings(anonymous_view=True), store)
    client = client_as(app, store, "anonymous")
    assert send(app, client, "overview refresh").status_code == 200
    before = snapshot(store.client)
    for what in STATE_CHANGING:
        assert send(app, client, what).status_code == 401
    assert snapshot(store.client) == before


def test_the_admin_page_offers_the_button_only_to_admins(app: Dash, store: Store) -> None:
    for caller, offered in (("viewer", False), ("admin", True)):
        client = client_as(app, store, caller)
        page = client.post("/_dash-update-component",
                           json=callback_body(app, "_pages_location", "/admin", []))
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert ("Reload rules" in text) is offered
        assert ("This page needs the admin role." in text) is not offered
