"""Every state-changing action, through every door (the page's callback, the HTTP API and the
CLI), as each kind of caller: whoever lacks the role is refused (hiding a button protects
nothing), a refusal changes nothing in Redis but the events stream, and it is on the audit
trail. Pages are checked the same way, against the role each registered with. Pushing samples
is a door for a feed token only, and a feed token opens no other."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import dash
import pytest
import redis
from click.testing import CliRunner
from dash import Dash
from flask.testing import FlaskClient

from dashboard.app import create_app
from dashboard.auth import page_role, pages_for
from surge import keys
from surge.actions import acknowledge_alert, create_silence, declare_level
from surge.alerting.book import Alert, AlertBook
from surge.auth import ROLES, Tokens, Users, allows, needed
from surge.catalogue import load_catalogue
from surge.cli import main
from surge.declarations import planned_actions
from surge.events import (
    ActionConfirmed,
    AlertAcknowledged,
    SilenceCreated,
    SilenceEnded,
    read_events,
)
from surge.rules.loader import load_rules
from surge.store import Store
from tests.dashboard.conftest import (
    ADMIN_CLI,
    RULES,
    add_screen,
    add_user,
    auth_settings,
    callback_body,
    message,
    sign_in,
)

CALLERS = ("anonymous", "viewer", "screen", "duty_manager", "commander", "admin")
BELOW_ADMIN = ("viewer", "duty_manager", "commander")

# the web doors of each state-changing action, and a read-only callback for contrast
STATE_CHANGING = ("reload rules callback", "POST /api/rules/reload")
READ_ONLY = ("overview refresh",)
VIA = {"reload rules callback": "page", "POST /api/rules/reload": "api"}


def expected(what: str, caller: str) -> int:
    if caller == "anonymous":
        return 401
    if what in READ_ONLY or caller == "admin":
        return 200
    return 403


def label(caller: str) -> str:
    """How the audit trail names each caller."""
    return {"anonymous": "(anonymous)", "screen": "screen:Control room wall"}.get(
        caller, user_name(caller))


def user_name(role: str) -> str:
    return f"{role.replace('_', '-')}-1"


@pytest.fixture
def app(store: Store) -> Dash:
    return create_app(auth_settings(), store)


def client_as(app: Dash, store: Store, caller: str) -> FlaskClient:
    client = app.server.test_client()
    client.get("/_favicon.ico")  # the first request sets up Dash's page router
    if caller == "screen":
        assert client.get(f"/screen/{add_screen(store)}").status_code == 302
    elif caller != "anonymous":
        name = user_name(caller)
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


def cli(redis_url: str, *args: str) -> Any:
    env = {"SURGE_RULES": str(RULES), "SURGE_REDIS_URL": redis_url}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


REPEAT_COUNTS = (keys.PREFIX + "audit-repeat").encode()  # audit-repeats, audit-repeat:...


def snapshot(client: redis.Redis) -> dict[bytes, bytes]:
    """Every key's serialised value (DUMP), but the audit trail's: the events stream and the
    counts of refusals repeated from one address."""
    return {k: client.dump(k) for k in sorted(client.scan_iter())
            if k != keys.EVENTS.encode() and not k.startswith(REPEAT_COUNTS)}


def new_events(store: Store, before: int) -> list:
    return store.events()[before:]


def assert_refused(store: Store, added: list, user: str, target: str,
                   via: str | None = None) -> None:
    """One audit entry, access_refused, naming who, what and the role it needed."""
    assert store.client.get(keys.RELOAD) is None
    assert [e.kind for e in added] == ["audit"]
    refused = added[0].data
    assert refused["action"] == "access_refused" and refused["needed"] == "admin"
    assert refused["user"] == user and refused["target"] == target
    assert refused.get("via") == via


# --- the reload action through the page's callback and the HTTP API -----------------------


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
        via = VIA[what]
        assert store.client.get(keys.RELOAD) == f"admin-1 via {via}".encode()
        assert [(e.kind, e.data["action"], e.data["user"], e.data["role"], e.data["via"])
                for e in added] == [("audit", "rules_reload_requested", "admin-1", "admin", via)]
        assert added[0].data["address"] == "127.0.0.1" and added[0].data["problems"] == 0
        return
    assert snapshot(store.client) == before, "a refused request changed Redis"
    if caller == "anonymous" and what.endswith("callback"):
        assert added == []  # refused before its body is read: what it asked is not known
        return
    target = ("POST /api/rules/reload" if what.startswith("POST") else
              "callback admin-reload-result.children")
    assert_refused(store, added, label(caller), target)
    assert added[0].data["address"] == "127.0.0.1"


def test_the_endpoint_needs_a_csrf_header_even_for_an_admin(app: Dash, store: Store) -> None:
    client = client_as(app, store, "admin")
    before = snapshot(store.client)
    response = client.post("/api/rules/reload", json={})
    assert response.status_code == 400
    assert snapshot(store.client) == before
    answer = client.post("/api/rules/reload", json={}, headers={"X-Requested-With": "fetch"})
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["requested"] is True and body["problems"] == [] and body["by"] == "admin-1 via api"
    assert "the worker applies it within one tick" in body["message"]


def test_the_callback_shows_what_the_action_did(app: Dash, store: Store) -> None:
    client = client_as(app, store, "admin")
    shown = send(app, client, "reload rules callback").get_json()
    text = str(shown["response"]["admin-reload-result"]["children"])
    assert f"Reload of {RULES} requested at" in text


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


def test_the_callback_and_the_endpoint_need_the_role_the_action_needs(app: Dash) -> None:
    """The web doors read the one role table; nothing hard-codes the reload's role."""
    from dashboard.context import EXTENSION

    roles = app.server.extensions[EXTENSION].callback_roles
    assert roles["admin-"] == needed("reload_rules")
    view = app.server.view_functions["api_rules_reload"]
    assert view.surge_role == needed("reload_rules")


# --- declaring, withdrawing and confirming through the HTTP API ------------------------------

# each door of the API that changes something, and the role its action needs
API_DOORS = {"POST /api/v1/declaration": needed("declare"),
             "DELETE /api/v1/declaration": needed("declare"),
             "POST /api/v1/actions/ID/confirm": needed("confirm")}
API_CALLERS = (*CALLERS, *(f"token:{role}" for role in ROLES))


def api_client_as(app: Dash, store: Store, caller: str) -> tuple[FlaskClient, dict[str, str]]:
    """A client and the headers it sends: a session's CSRF token (as GET /api/v1/levels
    gives it), or an API token, used once (its first use is noted in the store)."""
    if caller.startswith("token:"):
        role = caller.partition(":")[2]
        client = app.server.test_client()
        secret = Tokens(store).add(f"{role}-bot", role, by=ADMIN_CLI)
        headers = {"Authorization": f"Bearer {secret}"}
    else:
        client = client_as(app, store, caller)
        headers = {}
    read = client.get("/api/v1/levels", headers=headers)
    assert read.status_code == (401 if caller == "anonymous" else 200), read.data[:300]
    if "X-CSRF-Token" in read.headers:
        headers["X-CSRF-Token"] = read.headers["X-CSRF-Token"]
    return client, headers


def api_label(caller: str) -> str:
    return f"token:{caller.partition(':')[2]}-bot" if caller.startswith("token:") else \
        label(caller)


def api_role(caller: str) -> str:
    return {"anonymous": "", "screen": "viewer"}.get(caller, caller.rpartition(":")[2])


@pytest.mark.parametrize("caller", API_CALLERS)
@pytest.mark.parametrize("door", API_DOORS)
def test_the_api_role_matrix(app: Dash, store: Store, door: str, caller: str) -> None:
    action = next(a.id for a in planned_actions(load_rules(RULES)).values()
                  if a.protocol == "ae" and a.level == 2)
    store.save_engine({}, levels={"ae": json.dumps({
        "level": 2, "since": 1.0e9, "stale": False, "kind": "protocol", "reason": {}})})
    if door.startswith("DELETE"):  # something to withdraw
        declare_level(store, ADMIN_CLI, level=2, reason="set up",
                      catalogue=load_catalogue(RULES))
    client, headers = api_client_as(app, store, caller)
    method, path = door.replace("ID", action).split()
    body = {"POST": {"level": 4, "reason": "matrix"}, "DELETE": {}}[method] \
        if "declaration" in path else {"note": "matrix"}
    before, events = snapshot(store.client), len(store.events())
    response = client.open(path, method=method, json=body, headers=headers)
    least = API_DOORS[door]
    allowed = caller not in ("anonymous", "screen") and ROLES.index(api_role(caller)) >= \
        ROLES.index(least)
    want = 401 if caller == "anonymous" else (200 if method == "DELETE" else 201) \
        if allowed else 403
    assert response.status_code == want, (door, caller, response.data[:300])
    added = new_events(store, events)
    if allowed:
        changed = {"POST /api/v1/declaration": lambda: store.declaration().get("level") == 4,
                   "DELETE /api/v1/declaration": lambda: store.declaration() == {},
                   "POST /api/v1/actions/ID/confirm": lambda: len(
                       read_events(store, kinds=[ActionConfirmed])) == 1}[door]
        assert changed()
        assert [(e.data["by"], e.data["via"]) for e in added if e.kind != "audit"] == \
            [(api_label(caller), "api")]
        return
    assert snapshot(store.client) == before, "a refused request changed Redis"
    assert [e.kind for e in added] == ["audit"]
    refused = added[0].data
    assert (refused["action"], refused["user"], refused["needed"], refused["target"]) == \
        ("access_refused", api_label(caller), least, f"{method} {path}")
    assert refused["address"] == "127.0.0.1"


def test_each_api_door_needs_the_role_its_action_needs(app: Dash) -> None:
    """The guard reads the role from the view, which takes it from the one role table."""
    views = app.server.view_functions
    assert views["api_levels"].surge_role == needed("view")
    assert views["api_declare"].surge_role == views["api_withdraw"].surge_role == \
        needed("declare")
    assert views["api_confirm"].surge_role == needed("confirm")
    assert views["api_alerts"].surge_role == needed("view")
    assert views["api_ack"].surge_role == needed("acknowledge")
    assert views["api_silence"].surge_role == views["api_unsilence"].surge_role == \
        needed("silence")
    assert views["api_notes"].surge_role == needed("view")
    assert views["api_add_note"].surge_role == views["api_change_note"].surge_role == \
        needed("annotate") == "duty_manager"


# --- the reload action through the CLI -----------------------------------------------------


@pytest.mark.parametrize("role", BELOW_ADMIN)
def test_the_cli_refuses_a_user_below_admin(store: Store, redis_url: str, role: str) -> None:
    add_user(store, user_name(role), role)
    before, events = snapshot(store.client), len(store.events())
    result = cli(redis_url, "rules", "reload", "--as", user_name(role))
    assert result.exit_code == 2, result.output
    assert (f"error: not allowed: reload_rules needs the admin role; {role} is not enough"
            in result.output)
    assert "Traceback" not in result.output
    assert snapshot(store.client) == before, "a refused command changed Redis"
    added = new_events(store, events)
    assert_refused(store, added, user_name(role), "action reload_rules", via="cli")
    assert (added[0].data["role"], added[0].data["address"]) == (role, "local")


def test_the_cli_reloads_as_an_admin_user(store: Store, redis_url: str) -> None:
    add_user(store, "admin-1", "admin")
    events = len(store.events())
    result = cli(redis_url, "rules", "reload", "--as", "admin-1")
    assert result.exit_code == 0, result.output
    assert "Reload requested by admin-1 via cli" in result.output
    assert store.client.get(keys.RELOAD) == b"admin-1 via cli"
    (entry,) = new_events(store, events)
    assert {k: entry.data[k] for k in ("action", "user", "role", "address", "via")} == {
        "action": "rules_reload_requested", "user": "admin-1", "role": "admin",
        "address": "local", "via": "cli"}


def test_the_cli_without_as_is_the_local_operator_as_admin(store: Store, redis_url: str) -> None:
    import getpass

    result = cli(redis_url, "rules", "reload")
    assert result.exit_code == 0, result.output
    (entry,) = store.events(kinds=["audit"])
    assert (entry.data["user"], entry.data["role"], entry.data["via"]) == \
        (f"cli:{getpass.getuser()}", "admin", "cli")


@pytest.mark.parametrize(("who", "says"), [
    ("admn-1", "error: unknown user 'admn-1' (did you mean 'admin-1'?)"),
    ("gone-1", "error: user 'gone-1' is disabled: a disabled user cannot act"),
])
def test_the_cli_refuses_an_unknown_or_disabled_user(store: Store, redis_url: str, who: str,
                                                     says: str) -> None:
    add_user(store, "admin-1", "admin")
    add_user(store, "gone-1", "admin")
    Users(store).disable("gone-1", by=ADMIN_CLI)
    before, events = snapshot(store.client), len(store.events())
    result = cli(redis_url, "rules", "reload", "--as", who)
    assert result.exit_code == 2 and says in result.output, result.output
    assert snapshot(store.client) == before
    added = [e.data for e in new_events(store, events)]
    if who == "gone-1":  # a disabled user's attempt is on the record; a mistyped name is not
        assert [(e["action"], e["user"], e["reason"]) for e in added] == [
            ("access_refused", "gone-1", "disabled user")]
    else:
        assert added == []


# --- pages: the role each page registered with ---------------------------------------------


@pytest.mark.parametrize("caller", CALLERS)
def test_opening_the_admin_page(app: Dash, store: Store, caller: str) -> None:
    client = client_as(app, store, caller)
    before, events = snapshot(store.client), len(store.events())
    response = client.get("/admin")
    if caller == "anonymous":  # sent to sign in, and back here afterwards
        assert response.status_code == 302
        assert response.headers["Location"] == "/login?next=%2Fadmin"
        assert new_events(store, events) == []
        return
    if caller == "admin":
        assert response.status_code == 200
        return
    assert response.status_code == 403
    assert message(response) == "This page needs the admin role."
    assert snapshot(store.client) == before
    assert_refused(store, new_events(store, events), label(caller), "GET /admin")


@pytest.mark.parametrize("caller", CALLERS)
def test_dash_renders_the_admin_page_only_for_admins(app: Dash, store: Store,
                                                     caller: str) -> None:
    client = client_as(app, store, caller)
    routed = client.post("/_dash-update-component",
                         json=callback_body(app, "_pages_location", "/admin", []))
    assert routed.status_code == expected("admin page", caller)
    if caller == "admin":
        assert "Reload rules" in routed.get_data(as_text=True)
    overview = client.post("/_dash-update-component",
                           json=callback_body(app, "_pages_location", "/", []))
    assert overview.status_code == (401 if caller == "anonymous" else 200)


def test_every_page_declares_its_role_and_the_navigation_follows_it(app: Dash) -> None:
    roles = {page["path"]: page_role(page) for page in dash.page_registry.values()}
    assert roles["/"] == "viewer" and roles["/admin"] == "admin"
    for role in ROLES:
        assert [p["path"] for p in pages_for(role)] == \
            [path for path, least in roles.items() if ROLES.index(role) >= ROLES.index(least)]
    with pytest.raises(ValueError, match="declares no role"):
        page_role({"module": "pages.somewhere", "path": "/somewhere"})
    with pytest.raises(ValueError, match="did you mean 'admin'"):
        page_role({"module": "pages.somewhere", "path": "/somewhere", "role": "admn"})


def test_the_admin_link_is_offered_to_admins_only(app: Dash, store: Store) -> None:
    from dashboard.components.navigation import nav_links

    pages = ["/", "/tactical", "/operational", "/protocols", "/status", "/alerts",
             "/review"]  # every role's
    assert [link.href for link in nav_links("admin", "overview")] == [*pages, "/admin"]
    assert "/admin" not in [link.href for link in nav_links("admin", "admin")]
    for role in BELOW_ADMIN:
        assert [link.href for link in nav_links(role, "overview")] == pages


# --- alerts: acknowledging and silences, through the page's callbacks and the HTTP API -----

OPERATOR = ADMIN_CLI
ALERT = Alert(id="al-matrix", key="level:ae", kind="level", name="ae", title="A&E operations",
              level=3, level_name="Severe pressure", severity="critical", reason="matrix",
              since=1.0e9, fired_at=1.0e9, function="ae", receivers=("duty-managers",),
              notified=("duty-managers",), unacked_since=1.0e9)
ALERT_CALLBACKS = {"ack callback": "ack-result", "create silence callback": "silence-result",
                   "end silence callback": "silence-end-result"}
ALERT_API_DOORS = {"POST /api/v1/alerts/ID/ack": needed("acknowledge"),
                   "POST /api/v1/silences": needed("silence"),
                   "DELETE /api/v1/silences/ID": needed("silence")}


def alerting_state(store: Store) -> str:
    """An active alert and a silence in force (made by the operator), for the doors to act
    on; the silence's id."""
    import time

    AlertBook(store).save(ALERT)
    return create_silence(store, OPERATOR, matcher={"kind": "feed"}, ends=time.time() + 3600,
                          reason="set up").id


def alert_callback(app: Dash, client: FlaskClient, what: str, silence: str) -> Any:
    """The POST the page's Acknowledge, Create silence or End silence button makes."""
    output = ALERT_CALLBACKS[what]
    [found] = [k for k in app.callback_map if output in k]
    if what == "ack callback":
        clicked: dict[str, Any] = {"type": "ack-button", "alert": ALERT.id}
        state = [({"type": "ack-note", "alert": ALERT.id}, "matrix")]
    elif what == "end silence callback":
        clicked = {"type": "silence-end", "silence": silence}
        state = [({"type": "silence-end-reason", "silence": silence}, "matrix")]
    else:
        clicked = {"type": "silence-create", "key": "form"}
        values = {"kind": "level", "duration": "1h", "reason": "matrix"}
        state = [({"type": f"silence-{f}", "key": "form"}, values.get(f))
                 for f in ("kind", "name", "site", "function", "min-level", "duration",
                           "reason")]
    result = {**clicked, "type": output}
    return client.post("/_dash-update-component", json={
        "output": found, "outputs": {"id": result, "property": "children"},
        "inputs": [{"id": clicked, "property": "n_clicks", "value": 1}],
        "state": [{"id": ident, "property": "value", "value": v} for ident, v in state],
        "changedPropIds": [json.dumps(clicked, sort_keys=True, separators=(",", ":"))
                           + ".n_clicks"]})


def alert_changes(store: Store, what: str) -> bool:
    """Whether the door's action happened (once), as the events record it."""
    if what.startswith("ack") or what.endswith("/ack"):
        return len(read_events(store, kinds=[AlertAcknowledged])) == 1
    if what.startswith(("create", "POST")):
        return len(read_events(store, kinds=[SilenceCreated])) == 2  # the set-up's, and this
    return len(read_events(store, kinds=[SilenceEnded])) == 1


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("what", ALERT_CALLBACKS)
def test_the_alert_callbacks_role_matrix(app: Dash, store: Store, what: str,
                                         caller: str) -> None:
    silence = alerting_state(store)
    client = client_as(app, store, caller)
    before, events = snapshot(store.client), len(store.events())
    response = alert_callback(app, client, what, silence)
    allowed = caller in ("duty_manager", "commander", "admin")
    want = 401 if caller == "anonymous" else 200 if allowed else 403
    assert response.status_code == want, (what, caller, response.data[:300])
    added = new_events(store, events)
    if allowed:
        said = json.dumps(response.get_json())
        assert "Nothing changed" not in said, said
        assert alert_changes(store, what)
        assert [(e.data["by"], e.data.get("via")) for e in added if e.kind != "audit"] == \
            [(user_name(caller), "page")]
        assert [e.data["via"] for e in added if e.kind == "audit"] == ["page"]
        return
    assert snapshot(store.client) == before, "a refused request changed Redis"
    if caller == "anonymous":
        assert added == []  # refused before its body is read: what it asked is not known
        return
    [refused] = [e.data for e in added]
    assert (refused["action"], refused["user"], refused["needed"]) == \
        ("access_refused", label(caller), "duty_manager")
    assert refused["target"].startswith("callback {") and ALERT_CALLBACKS[what] in \
        refused["target"]


@pytest.mark.parametrize("caller", API_CALLERS)
@pytest.mark.parametrize("door", ALERT_API_DOORS)
def test_the_alert_api_role_matrix(app: Dash, store: Store, door: str, caller: str) -> None:
    silence = alerting_state(store)
    client, headers = api_client_as(app, store, caller)
    method, path = door.replace("ID", ALERT.id if "alerts" in door else silence).split()
    body = {"POST /api/v1/alerts/ID/ack": {"note": "matrix"},
            "POST /api/v1/silences": {"matcher": {"kind": "level"}, "duration": "1h",
                                      "reason": "matrix"},
            "DELETE /api/v1/silences/ID": {"reason": "matrix"}}[door]
    before, events = snapshot(store.client), len(store.events())
    response = client.open(path, method=method, json=body, headers=headers)
    least = ALERT_API_DOORS[door]
    allowed = caller not in ("anonymous", "screen") and ROLES.index(api_role(caller)) >= \
        ROLES.index(least)
    want = 401 if caller == "anonymous" else (200 if method == "DELETE" else 201) \
        if allowed else 403
    assert response.status_code == want, (door, caller, response.data[:300])
    added = new_events(store, events)
    if allowed:
        assert alert_changes(store, door)
        assert [e.data["via"] for e in added if e.kind == "audit"] == ["api"]
        assert all(e.data["by"] == api_label(caller) for e in added if e.kind != "audit")
        return
    assert snapshot(store.client) == before, "a refused request changed Redis"
    assert [e.kind for e in added] == ["audit"]
    refused = added[0].data
    assert (refused["action"], refused["user"], refused["needed"], refused["target"]) == \
        ("access_refused", api_label(caller), least, f"{method} {path}")


@pytest.mark.parametrize("caller", API_CALLERS)
def test_every_caller_but_nobody_may_read_the_alerts(app: Dash, store: Store,
                                                     caller: str) -> None:
    alerting_state(store)
    acknowledge_alert(store, OPERATOR, alert=ALERT.id)
    client, headers = api_client_as(app, store, caller)
    before = snapshot(store.client)
    response = client.get("/api/v1/alerts", headers=headers)
    assert response.status_code == (401 if caller == "anonymous" else 200)
    if caller != "anonymous":
        assert response.get_json()["counts"]["active"] == 1
    if not caller.startswith("token:"):  # (a token's use is noted, at most every 30 s)
        assert snapshot(store.client) == before


@pytest.mark.parametrize("caller", CALLERS)
def test_opening_the_alerts_page(app: Dash, store: Store, caller: str) -> None:
    client = client_as(app, store, caller)
    response = client.get("/alerts")
    if caller == "anonymous":
        assert response.status_code == 302
        assert response.headers["Location"] == "/login?next=%2Falerts"
        return
    assert response.status_code == 200
    routed = client.post("/_dash-update-component",
                         json=callback_body(app, "_pages_location", "/alerts", []))
    assert routed.status_code == 200
    controls = "silence-form" in routed.get_data(as_text=True)
    assert controls == (caller in ("duty_manager", "commander", "admin"))


# --- the Declare and Confirm controls' callbacks: the pages' doors to those actions ---------

PAGE_DOORS = {"declare callback": needed("declare"), "confirm callback": needed("confirm")}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("door", PAGE_DOORS)
def test_the_declare_and_confirm_callbacks_role_matrix(app: Dash, store: Store, door: str,
                                                       caller: str) -> None:
    from surge.declarations import planned_actions
    from surge.events import ActionConfirmed, Declared
    from surge.rules.loader import load_rules
    from tests.conftest import active_worker
    from tests.dashboard.test_pages_app import confirm, declare, level, publish

    active_worker(store)
    publish(store, {"overall": level(2, "overall", ["ae"]), "ae": level(2)})
    action = next(a for a in planned_actions(load_rules(RULES)).values()
                  if a.protocol == "ae" and a.level == 2)
    client = client_as(app, store, caller)
    before, events = snapshot(store.client), len(store.events())
    response = (declare(app, client, 3, "two EDs closed") if door == "declare callback"
                else confirm(app, client, action.id, "done"))
    allowed = caller != "anonymous" and caller != "screen" and \
        allows(caller, PAGE_DOORS[door])
    want = 401 if caller == "anonymous" else 200 if allowed else 403
    assert response.status_code == want, (door, caller, response.data[:300])
    kind = Declared if door == "declare callback" else ActionConfirmed
    made = read_events(store, kinds=[kind])
    if allowed:
        assert [(e.by, e.via) for e in made] == [(user_name(caller), "page")]
        return
    assert made == [] and snapshot(store.client) == before, "a refused request changed Redis"
    added = new_events(store, events)
    if caller == "anonymous":
        assert added == []  # refused before its body is read
        return
    [refused] = [e.data for e in added]
    assert (refused["action"], refused["user"], refused["needed"]) == \
        ("access_refused", label(caller), PAGE_DOORS[door])



# --- pushing samples: the feed token's door, and the only one it opens ------------------------

PUSH_FEEDS = """\
feeds:
  - name: cad-push
    type: push
    function: call_handling
    interval: 1m
"""
SAMPLES = "/api/v1/samples"
OTHER_API_DOORS = {"GET /api/v1/levels": needed("view"), "GET /api/v1/alerts": needed("view"),
                   **API_DOORS, **ALERT_API_DOORS, "POST /api/rules/reload": "admin"}


@pytest.fixture
def push_app(store: Store, tmp_path: Path) -> Dash:
    (tmp_path / "feeds.yaml").write_text(PUSH_FEEDS)
    return create_app(auth_settings(feeds_file=tmp_path / "feeds.yaml"), store)


def feed_client(app: Dash, store: Store) -> tuple[FlaskClient, dict[str, str]]:
    """A client with a feed token for cad-push, used once (its first use is noted)."""
    client = app.server.test_client()
    secret = Tokens(store).add_feed("cad-bridge", "cad-push", by=ADMIN_CLI)
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.post(SAMPLES, json=[], headers=headers).status_code == 200
    return client, headers


@pytest.mark.parametrize("caller", (*API_CALLERS, "token:feed"))
def test_only_a_feed_token_pushes_samples(push_app: Dash, store: Store, caller: str) -> None:
    if caller == "token:feed":
        client, headers = feed_client(push_app, store)
    else:
        client, headers = api_client_as(push_app, store, caller)
    before, events = snapshot(store.client), len(store.events())
    response = client.post(SAMPLES, headers=headers, json=[
        {"metric": "calls.waiting", "scope": "trust", "ts": time.time() - 60, "value": 3}])
    added = new_events(store, events)
    if caller == "token:feed":
        assert response.status_code == 200 and response.get_json()["accepted"] == 1
        assert [e.kind for e in added] == ["samples_stored"]
        return
    # a role token is refused; a session is no feed token (the door reads no cookie)
    assert response.status_code == (403 if caller.startswith("token:") else 401), \
        (caller, response.data[:300])
    assert snapshot(store.client) == before, "a refused request changed Redis"
    [refused] = [e.data for e in added]
    assert (refused["action"], refused["target"], refused["address"]) == \
        ("access_refused", "POST /api/v1/samples", "127.0.0.1")
    if caller.startswith("token:"):
        assert (refused["user"], refused["reason"]) == \
            (api_label(caller), "a role token cannot push samples")
    else:
        assert (refused["user"], refused["reason"]) == ("(anonymous)", "no feed token")


@pytest.mark.parametrize("door", OTHER_API_DOORS)
def test_a_feed_token_opens_no_other_api_door(push_app: Dash, store: Store, door: str) -> None:
    client, headers = feed_client(push_app, store)
    before, events = snapshot(store.client), len(store.events())
    method, path = door.replace("ID", "al-1").split()
    response = client.open(path, method=method, json={} if method != "GET" else None,
                           headers={**headers, "X-Requested-With": "fetch"})
    assert response.status_code == 403, (door, response.data[:300])
    assert snapshot(store.client) == before, "a refused request changed Redis"
    [refused] = [e.data for e in new_events(store, events)]
    assert (refused["action"], refused["user"], refused["needed"], refused["target"]) == \
        ("access_refused", "token:cad-bridge", OTHER_API_DOORS[door], f"{method} {path}")
