"""The command pages through Flask's test client, against a real Valkey server: each page
opens, its refresh fills it and then sends only what changed, a store that stops answering
greys it out, and the Declare and Confirm controls act as the signed-in user, for those whose
role allows it and nobody else (the server refuses them whatever the page shows)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from dash import Dash
from flask.testing import FlaskClient

from dashboard.app import create_app
from surge.declarations import planned_actions
from surge.events import ActionConfirmed, Declared, read_events
from surge.rules.loader import load_rules
from surge.samples import Sample
from surge.store import Store
from tests.conftest import active_worker
from tests.dashboard.conftest import RULES, add_user, auth_settings, sign_in

NOW = time.time()
PAGES = {"/": "Strategic", "/tactical": "Tactical", "/operational": "Operational",
         "/protocols": "Protocols", "/status": "Status", "/overview": "Overview"}
FUNCTIONS = ["call_handling", "clinical_triage", "ae", "pts"]


@pytest.fixture
def app(store: Store) -> Dash:
    return create_app(auth_settings(), store, clock=lambda: NOW)


def client_as(app: Dash, store: Store, role: str | None) -> FlaskClient:
    client = app.server.test_client()
    client.get("/_favicon.ico")
    if role is not None:
        name = f"{role.replace('_', '-')}-1"
        assert sign_in(client, name, add_user(store, name, role)).status_code == 302
    return client


def body(app: Dash, input_id: Any, inputs: dict[str, Any] | None = None,
         state: list[Any] | None = None, keys: list[str] | None = None) -> dict:
    """The JSON the browser POSTs for the callback fired by ``input_id``: pattern outputs
    and inputs expanded to ``keys`` (the components the page holds)."""
    found = [k for k, cb in app.callback_map.items()
             if any(i["id"] == (json.dumps(input_id, sort_keys=True, separators=(",", ":"))
                                if isinstance(input_id, dict) else input_id)
                    for i in cb["inputs"])]
    assert len(found) == 1, found
    cb = app.callback_map[found[0]]
    outs = cb["output"] if isinstance(cb["output"], list) else [cb["output"]]

    def expand(component: Any, prop: str, value: Any = None) -> Any:
        if isinstance(component, dict):
            return [{"id": {**component, "key": k}, "property": prop, "value": value}
                    for k in keys or []]
        return {"id": component, "property": prop, "value": value}

    return {"output": found[0],
            "outputs": [expand(o.component_id, o.component_property) for o in outs],
            "inputs": [{**i, "value": (inputs or {}).get(i["property"], 1)}
                       for i in cb["inputs"]],
            "state": [{**s, "value": v} for s, v in
                      zip(cb["state"], state or [None] * len(cb["state"]), strict=True)],
            "changedPropIds": [f"{i['id']}.{i['property']}" for i in cb["inputs"]]}


def open_page(app: Dash, client: FlaskClient, path: str, search: str = "") -> dict:
    response = client.post("/_dash-update-component", json=body(
        app, "_pages_location", {"pathname": path, "search": search}, []))
    assert response.status_code == 200, response.data[:500]
    return response.get_json()["response"]


def refresh(app: Dash, client: FlaskClient, page: str, previous: Any = None,
            wall: bool = False, keys: list[str] | None = None) -> dict:
    """One refresh; ``keys``: the functions whose panels the tactical page holds already
    (none: its first refresh draws them)."""
    response = client.post("/_dash-update-component", json=body(
        app, f"{page}-interval", {"n_intervals": 1}, [previous, {"wall": wall}], keys))
    assert response.status_code == 200, response.data[:2000]
    return response.get_json()["response"]


def text(node: Any) -> str:
    if isinstance(node, str | int | float):
        return str(node)
    if isinstance(node, list):
        return "".join(text(c) for c in node)
    if isinstance(node, dict) and "props" in node:
        return text(node["props"].get("children"))
    return ""


def ids(node: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(node, list):
        for child in node:
            out |= ids(child)
    elif isinstance(node, dict) and "props" in node:
        if isinstance(node["props"].get("id"), str):
            out.add(node["props"]["id"])
        elif isinstance(node["props"].get("id"), dict):
            out.add(node["props"]["id"]["type"])
        out |= ids(node["props"].get("children"))
    return out


def publish(store: Store, levels: dict[str, dict[str, Any]]) -> None:
    store.save_engine({}, levels={name: json.dumps(value) for name, value in levels.items()})


def level(n: int, kind: str = "protocol", drivers: list[str] | None = None) -> dict:
    return {"level": n, "since": NOW - 3600, "stale": False, "kind": kind,
            "reason": {"combine": "max", "drivers": drivers or []}}


# --- every page opens and fills -------------------------------------------------------------


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_opens_with_the_header(app: Dash, store: Store, path: str) -> None:
    client = client_as(app, store, "viewer")
    page = open_page(app, client, path)
    assert page["_pages_store"]["data"]["title"] == f"Surge — {PAGES[path]}"
    layout = page["_pages_content"]["children"]
    assert layout["props"]["data-page"] == (path.strip("/") or "strategic")
    assert "/tactical" in layout["props"]["data-paths"]  # for the wall-screen playlist
    assert "screen-watchdog" in ids(layout)


@pytest.mark.parametrize("page", ["strategic", "tactical", "operational", "protocols",
                                  "status"])
def test_each_refresh_fills_the_page_then_sends_only_what_changed(
        app: Dash, store: Store, page: str) -> None:
    active_worker(store)
    publish(store, {"overall": level(2, "overall", ["ae"]), "ae": level(2)})
    store.write([Sample("calls.waiting", "trust", NOW - 5, 12)])
    client = client_as(app, store, "viewer")
    first = refresh(app, client, page)
    header = text(first[f"{page}-status"]["children"])
    assert "CALCULATED LEVEL2" in header and "NO LEVEL DECLARED" in header
    assert "UK time (GMT)" in header or "UK time (BST)" in header
    assert first["screen-watchdog-refresh"]["data"]["live_uk"]
    second = refresh(app, client, page, first[f"{page}-digests"]["data"],
                     keys=FUNCTIONS if page == "tactical" else None)
    sent = set(second) - {f"{page}-status", f"{page}-main", f"{page}-digests",
                          "screen-watchdog-refresh"}
    assert len(sent) < len(set(first) - {f"{page}-status"}), sent  # nothing unchanged again


@pytest.mark.parametrize("page", ["strategic", "tactical"])
def test_a_chart_left_on_a_wall_is_patched_in_place_not_redrawn(store: Store,
                                                                 page: str) -> None:
    """A wall screen refreshing every few seconds for days: while the time axis stands (it
    moves on in steps, not every refresh), a refresh sends the chart's new lines only, a
    Patch, and never the whole figure again (a redrawn figure is measured again, label by
    label, and the browser's cache of those sizes grew for as long as the screen was on)."""
    clock = [NOW // 300 * 300 + 10]  # early in a step of the axis of both pages
    app = create_app(auth_settings(), store, clock=lambda: clock[0])
    active_worker(store)
    publish(store, {"overall": level(2, "overall", ["ae"]), "ae": level(2)})
    client = client_as(app, store, "viewer")
    keys = FUNCTIONS if page == "tactical" else None
    store.write([Sample("calls.waiting", "trust", clock[0] - 5, 12)])
    first = refresh(app, client, page)
    previous = first[f"{page}-digests"]["data"]
    if page == "tactical":  # the first refresh drew the panels: the next fills them
        previous = refresh(app, client, page, previous, keys=keys)[f"{page}-digests"]["data"]
    clock[0] += 7
    store.write([Sample("calls.waiting", "trust", clock[0] - 1, 14)])
    out = refresh(app, client, page, previous, keys=keys)
    charts = figures(out, f"{page}-chart")
    assert charts and all("__dash_patch_update" in c for c in charts), charts  # lines only
    clock[0] += 3600  # an hour on, the axis has moved: the whole figure, once
    store.write([Sample("calls.waiting", "trust", clock[0] - 1, 15)])
    out = refresh(app, client, page, out[f"{page}-digests"]["data"], keys=keys)
    charts = figures(out, f"{page}-chart")
    assert charts and all("layout" in c for c in charts), charts


def figures(out: dict, chart: str) -> list[dict]:
    """The figures a refresh sent to ``chart`` (a pattern output: each panel's)."""
    return [value["figure"] for key, value in out.items()
            if key == chart or (key.startswith("{") and json.loads(key)["type"] == chart)]


def test_the_strategic_page_shows_both_levels_and_the_figures(app: Dash, store: Store) -> None:
    active_worker(store)
    publish(store, {"overall": level(2, "overall", ["ae"]), "ae": level(2)})
    store.write([Sample("calls.waiting", "trust", NOW - 5, 12),
                 Sample("ae.c2_mean", "trust", NOW - 3 * 3600, 95)])
    out = refresh(app, client_as(app, store, "viewer"), "strategic")
    levels = text(out["strategic-levels"]["children"])
    assert "CALCULATED LEVEL2Moderate pressure" in levels and "NO LEVEL DECLARED" in levels
    figures = text(out["strategic-figures"]["children"])
    assert "12 calls" in figures and "STALE — last value" in figures and "NO DATA" in figures
    assert "▶ sets the trust level" in text(out["strategic-drivers"]["children"])
    assert out["strategic-chart"]["figure"]["data"]  # the 24 h steps


def test_an_unreachable_store_keeps_the_last_figures_greyed(app: Dash, store: Store) -> None:
    client = client_as(app, store, "viewer")
    first = refresh(app, client, "strategic")
    context = app.server.extensions["surge"]
    context._store = store.__class__(store.client.__class__(port=1), where="a dead store")
    out = refresh(app, client, "strategic", first["strategic-digests"]["data"])
    assert "DATA STORE UNREACHABLE" in text(out["strategic-status"]["children"])
    assert out["strategic-main"]["className"] == "page-main not-live"
    assert "strategic-levels" not in out  # the last figures stay, greyed, never refreshed
    assert out["screen-watchdog-refresh"]["data"]["live_uk"] == \
        first["screen-watchdog-refresh"]["data"]["live_uk"]


# --- wall mode and who sees the controls --------------------------------------------------


def test_controls_are_only_for_those_who_may_use_them_and_never_on_a_wall(
        app: Dash, store: Store) -> None:
    commander = client_as(app, store, "commander")
    page = open_page(app, commander, "/")["_pages_content"]["children"]
    assert "declare-button" in ids(page) and "session-badge" in ids(page)
    wall = open_page(app, commander, "/", "?wall=1")["_pages_content"]["children"]
    assert "declare-button" not in ids(wall) and "session-badge" not in ids(wall)
    assert "wall" in wall["props"]["className"]
    viewer = open_page(app, client_as(app, store, "duty_manager"), "/")
    assert "declare-button" not in ids(viewer["_pages_content"]["children"])


# --- declaring and confirming ---------------------------------------------------------------


def declare(app: Dash, client: FlaskClient, level_: int | None, reason: str,
            withdraw: bool = False) -> Any:
    """The POST the Declare (or Withdraw) button makes."""
    def ident(kind: str) -> dict[str, str]:
        return {"type": kind, "key": "trust"}

    found = [k for k, cb in app.callback_map.items() if "declare-result" in k]
    assert len(found) == 1
    clicked = "declare-withdraw" if withdraw else "declare-button"
    return client.post("/_dash-update-component", json={
        "output": found[0],
        "outputs": {"id": ident("declare-result"), "property": "children"},
        "inputs": [{"id": ident("declare-button"), "property": "n_clicks",
                    "value": None if withdraw else 1},
                   {"id": ident("declare-withdraw"), "property": "n_clicks",
                    "value": 1 if withdraw else None}],
        "state": [{"id": ident("declare-level"), "property": "value", "value": level_},
                  {"id": ident("declare-reason"), "property": "value", "value": reason}],
        "changedPropIds": [json.dumps(ident(clicked), sort_keys=True, separators=(",", ":"))
                           + ".n_clicks"]})


def test_a_commander_declares_and_every_header_shows_it(app: Dash, store: Store) -> None:
    active_worker(store)
    publish(store, {"overall": level(2, "overall")})
    client = client_as(app, store, "commander")
    response = declare(app, client, 3, "two emergency departments closed")
    assert response.status_code == 200, response.data[:1000]
    said = text(next(iter(response.get_json()["response"].values()))["children"])
    assert said.startswith("Level 3 Severe pressure declared at") and "differs" in said
    [event] = read_events(store, kinds=[Declared])
    assert (event.by, event.level, event.via) == ("commander-1", 3, "page")
    for page in ("strategic", "tactical", "operational", "protocols", "status"):
        header = text(refresh(app, client, page)[f"{page}-status"]["children"])
        assert "DECLARED LEVEL3—Severe pressure" in header, page
        assert "DIVERGES — declared 3, calculated 2" in header, page
    refused = declare(app, client, 3, "")
    assert "Nothing changed: a reason is required" in text(
        next(iter(refused.get_json()["response"].values()))["children"])


@pytest.mark.parametrize("role", ["viewer", "duty_manager"])
def test_declaring_is_refused_below_commander(app: Dash, store: Store, role: str) -> None:
    response = declare(app, client_as(app, store, role), 3, "should not happen")
    assert response.status_code == 403
    assert store.declaration() == {}


def confirm(app: Dash, client: FlaskClient, action: str, note: str = "") -> Any:
    ident = {"type": "confirm-button", "action": action}
    found = [k for k, cb in app.callback_map.items() if "confirm-result" in k]
    assert len(found) == 1
    return client.post("/_dash-update-component", json={
        "output": found[0],
        "outputs": {"id": {"type": "confirm-result", "action": action}, "property": "children"},
        "inputs": [{"id": ident, "property": "n_clicks", "value": 1}],
        "state": [{"id": {"type": "confirm-note", "action": action}, "property": "value",
                   "value": note}],
        "changedPropIds": [json.dumps(ident, sort_keys=True, separators=(",", ":"))
                           + ".n_clicks"]})


def test_a_duty_manager_confirms_an_action_and_it_shows_confirmed(app: Dash,
                                                                  store: Store) -> None:
    active_worker(store)
    publish(store, {"overall": level(2, "overall", ["ae"]), "ae": level(2)})
    action = next(a for a in planned_actions(load_rules(RULES)).values()
                  if a.protocol == "ae" and a.level == 2)
    client = client_as(app, store, "duty_manager")
    response = confirm(app, client, action.id, "extended four shifts")
    assert response.status_code == 200, response.data[:1000]
    assert next(iter(response.get_json()["response"].values()))["children"].startswith(
        "Confirmed by duty-manager-1 at")
    [event] = read_events(store, kinds=[ActionConfirmed])
    assert (event.action_id, event.note) == (action.id, "extended four shifts")
    out = refresh(app, client, "tactical")
    panels = out["tactical-panels"]["children"]
    assert "1 of 1 confirmed" in text(panels) and "confirmed by duty-manager-1" in text(panels)
    strategic = refresh(app, client, "strategic")
    assert "1 of 1 confirmed" in text(strategic["strategic-actions"]["children"])


def test_confirming_is_refused_to_a_viewer(app: Dash, store: Store) -> None:
    active_worker(store)
    publish(store, {"ae": level(2)})
    action = next(a for a in planned_actions(load_rules(RULES)).values()
                  if a.protocol == "ae" and a.level == 2)
    assert confirm(app, client_as(app, store, "viewer"), action.id).status_code == 403
    assert read_events(store, kinds=[ActionConfirmed]) == []
