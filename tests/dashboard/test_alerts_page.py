"""The alerts page (/alerts) through Flask's test client, against a real Valkey server: it lists
the alerts in the store (written with AlertBook, as the worker writes them) with their
acknowledgement or UNACKNOWLEDGED, every page's header counts them, a duty manager
acknowledges through the page and creates and ends silences, bad input is answered in words
and changes nothing, and nobody below duty manager gets the controls or can use them."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from dash import Dash
from flask.testing import FlaskClient

from dashboard.app import create_app
from dashboard.viewcache import ViewCache
from surge import keys
from surge.actions import Actor, acknowledge_alert, act_as, create_silence
from surge.alerting.book import Alert, AlertBook
from surge.events import AlertAcknowledged, SilenceCreated, SilenceEnded, read_events
from surge.store import Store
from tests.conftest import active_worker
from tests.dashboard.conftest import add_screen, add_user, auth_settings
from tests.dashboard.test_pages_app import client_as, ids, open_page, refresh, text
from tests.dashboard.test_role_matrix import snapshot

NOW = time.time()
CHAIN = ((600.0, "tactical-commanders"), (1200.0, "strategic-commanders"))


@pytest.fixture
def app(store: Store) -> Dash:
    return create_app(auth_settings(), store, clock=lambda: NOW)


def alert(**changes: Any) -> Alert:
    """A level 3 alert, fired 15 min ago, escalated once, unacknowledged."""
    base: dict[str, Any] = dict(
        id="al-0001", key="level:ae@RVJ", kind="level", name="ae@RVJ",
        title="A&E operations at Southmead Hospital", level=3, level_name="Severe pressure",
        severity="critical", reason="ambulances waiting to hand over ≥ 6 for 5 min",
        since=NOW - 960, fired_at=NOW - 900, site="RVJ", function="ae",
        receivers=("duty-managers",), notified=("duty-managers", "tactical-commanders"),
        chain=CHAIN, step=1, unacked_since=NOW - 900)
    return Alert(**{**base, **changes})


def feed_alert() -> Alert:
    return alert(id="al-0002", key="feed:cad-calls", kind="feed", name="cad-calls",
                 title="Feed cad-calls", level=None, level_name=None, severity="warning",
                 reason="feed down: connection refused", site=None, chain=(), step=0,
                 notified=("duty-managers",), fired_at=NOW - 120, unacked_since=NOW - 120)


def new_views(app: Dash) -> None:
    """Forget the views built: the worker's own writes (AlertBook.save) record no event, so
    a screen sees them within a second (viewcache.FRESH), not at once."""
    app.server.extensions["surge"].views = ViewCache()


def card_key(alert_id: str) -> str:
    return json.dumps({"key": alert_id, "type": "alerts-card"}, separators=(",", ":"))


def page_refresh(app: Dash, client: FlaskClient, previous: Any = None, wall: bool = False,
                 keys_: list[str] | None = None) -> dict:
    return refresh(app, client, "alerts", previous, wall=wall, keys=keys_)


def press(app: Dash, client: FlaskClient, output: str, clicked: dict[str, Any],
          state: list[tuple[dict[str, Any], Any]]) -> Any:
    """The POST a button of the page makes (pattern ids, one MATCH each)."""
    found = [k for k in app.callback_map if output in k]
    assert len(found) == 1, found
    result = {**clicked, "type": output}
    return client.post("/_dash-update-component", json={
        "output": found[0], "outputs": {"id": result, "property": "children"},
        "inputs": [{"id": clicked, "property": "n_clicks", "value": 1}],
        "state": [{"id": ident, "property": "value", "value": value} for ident, value in state],
        "changedPropIds": [json.dumps(clicked, sort_keys=True, separators=(",", ":"))
                           + ".n_clicks"]})


def acknowledge(app: Dash, client: FlaskClient, alert_id: str, note: str = "") -> Any:
    return press(app, client, "ack-result", {"type": "ack-button", "alert": alert_id},
                 [({"type": "ack-note", "alert": alert_id}, note)])


FIELDS = ("kind", "name", "site", "function", "min-level", "duration", "reason")


def create(app: Dash, client: FlaskClient, **values: Any) -> Any:
    return press(app, client, "silence-result", {"type": "silence-create", "key": "form"},
                 [({"type": f"silence-{f}", "key": "form"}, values.get(f.replace("-", "_")))
                  for f in FIELDS])


def end(app: Dash, client: FlaskClient, silence_id: str, reason: str = "") -> Any:
    return press(app, client, "silence-end-result", {"type": "silence-end", "silence": silence_id},
                 [({"type": "silence-end-reason", "silence": silence_id}, reason)])


def said(response: Any) -> str:
    assert response.status_code == 200, response.data[:1000]
    return text(next(iter(response.get_json()["response"].values()))["children"])


# --- what the page shows ---------------------------------------------------------------------


def test_the_page_lists_the_alerts_loudly_with_an_anchor_each(app: Dash, store: Store) -> None:
    active_worker(store)
    AlertBook(store).save(alert(), feed_alert())
    client = client_as(app, store, "viewer")
    page = open_page(app, client, "/alerts")
    assert page["_pages_store"]["data"]["title"] == "Surge — Alerts"
    layout = page["_pages_content"]["children"]
    assert layout["props"]["data-page"] == "alerts"
    assert "silence-form" not in ids(layout)  # a viewer reads; no controls
    out = page_refresh(app, client)
    cards = out["alerts-active"]["children"]
    assert [c["props"]["id"] for c in cards] == ["al-0001", "al-0002"]  # /alerts#<id>
    first = text(cards[0])
    assert "CRITICAL" in first and "3Severe pressure" in first
    assert "UNACKNOWLEDGED for 15 min" in first
    assert "escalates to strategic-commanders at" in first
    assert "duty-managers, tactical-commanders" in first
    assert "ack-button" not in ids(cards)
    summary = text(out["alerts-note"]["children"])
    assert summary == "2 active alerts · 2 UNACKNOWLEDGED"
    header = text(out["alerts-status"]["children"])
    assert "2 ALERTS (2 unacknowledged)" in header
    assert "No silence is in force" in text(out["alerts-silences"]["children"])
    assert "No alert has resolved yet" in text(out["alerts-history"]["children"])


@pytest.mark.parametrize("page", ["strategic", "tactical", "operational", "protocols",
                                  "status", "alerts"])
def test_every_page_header_counts_the_alerts(app: Dash, store: Store, page: str) -> None:
    active_worker(store)
    client = client_as(app, store, "viewer")
    none = text(refresh(app, client, page)[f"{page}-status"]["children"])
    assert "ALERT" not in none  # absent when none
    AlertBook(store).save(alert(), feed_alert())
    acknowledge_alert(store, act_as(store, add_user_named(store, "dm-9", "duty_manager"),
                                    via="cli"), alert="al-0002")
    AlertBook(store).save(replace_alert(feed_alert(), acked_by="dm-9", acked_at=NOW - 5,
                                        unacked_since=None))  # as the worker takes it up
    new_views(app)
    header = refresh(app, client, page)[f"{page}-status"]["children"]
    assert "2 ALERTS (1 unacknowledged)" in text(header)
    assert '"href": "/alerts"' in json.dumps(header)


def add_user_named(store: Store, name: str, role: str) -> str:
    add_user(store, name, role)
    return name


def replace_alert(alert_: Alert, **changes: Any) -> Alert:
    from dataclasses import replace

    return replace(alert_, **changes)


def test_the_page_shows_acknowledgements_and_history(app: Dash, store: Store) -> None:
    active_worker(store)
    book = AlertBook(store)
    book.save(alert())
    book.close(replace_alert(alert(id="al-old", fired_at=NOW - 7200), acked_by="dm-1",
                             acked_at=NOW - 6900, unacked_since=None,
                             resolved_at=NOW - 3600))
    acknowledge_alert(store, act_as(store, add_user_named(store, "dm-1", "duty_manager"),
                                    via="cli"), alert="al-0001", note="HALO on site")
    client = client_as(app, store, "viewer")
    out = page_refresh(app, client)
    card = text(out["alerts-active"]["children"])
    assert "ACKNOWLEDGED by dm-1" in card and "HALO on site" in card
    assert "the worker stops its escalation at its next step" in card  # not taken up yet
    assert text(out["alerts-note"]["children"]) == "1 active alert · all acknowledged"
    history = text(out["alerts-history"]["children"])
    assert "lasted 1 h 00 min" in history and "acknowledged by dm-1 after 5 min" in history


def test_a_card_updates_in_place_so_a_note_being_typed_stays(app: Dash, store: Store) -> None:
    active_worker(store)
    AlertBook(store).save(alert())
    client = client_as(app, store, "duty_manager")
    first = page_refresh(app, client)
    assert "ack-button" in ids(first["alerts-active"]["children"])
    AlertBook(store).save(alert(reason="ambulances waiting to hand over ≥ 8 for 5 min"))
    new_views(app)
    second = page_refresh(app, client, first["alerts-digests"]["data"], keys_=["al-0001"])
    assert "alerts-active" not in second  # the card (and its form) is not drawn again
    assert "≥ 8" in text(second[card_key("al-0001")]["children"])


def test_wall_mode_has_no_controls(app: Dash, store: Store) -> None:
    AlertBook(store).save(alert())
    client = client_as(app, store, "admin")
    wall = open_page(app, client, "/alerts", "?wall=1")["_pages_content"]["children"]
    assert "silence-form" not in ids(wall) and "session-badge" not in ids(wall)
    out = page_refresh(app, client, wall=True)
    assert "ack-button" not in ids(out["alerts-active"]["children"])
    desk = open_page(app, client, "/alerts")["_pages_content"]["children"]
    assert "silence-form" in ids(desk)


def test_alerts_that_do_not_read_are_said_not_to_be_available(app: Dash, store: Store) -> None:
    store.client.hset(keys.ALERTS, "al-bad", "not an alert")
    client = client_as(app, store, "viewer")
    out = page_refresh(app, client)
    assert "ALERTS NOT AVAILABLE" in text(out["alerts-note"]["children"])
    assert "ALERTS NOT AVAILABLE" in text(out["alerts-status"]["children"])
    strategic = refresh(app, client, "strategic")  # and every other page still works
    assert "ALERTS NOT AVAILABLE" in text(strategic["strategic-status"]["children"])


# --- acknowledging ---------------------------------------------------------------------------


def test_a_duty_manager_acknowledges_through_the_page(app: Dash, store: Store) -> None:
    active_worker(store)
    AlertBook(store).save(alert())
    client = client_as(app, store, "duty_manager")
    answer = said(acknowledge(app, client, "al-0001", "HALO on site"))
    assert answer.startswith("Acknowledged by duty-manager-1 at") and "UK time" in answer
    [event] = read_events(store, kinds=[AlertAcknowledged])
    assert (event.alert, event.by, event.via, event.note) == \
        ("al-0001", "duty-manager-1", "page", "HALO on site")
    audit = store.events(kinds=["audit"])[-1].data
    assert (audit["action"], audit["user"], audit["via"], audit["address"]) == \
        ("alert_acknowledged", "duty-manager-1", "page", "127.0.0.1")
    assert AlertBook(store).acks()["al-0001"].by == "duty-manager-1"
    card = text(page_refresh(app, client)["alerts-active"]["children"])
    assert "ACKNOWLEDGED by duty-manager-1" in card and "UNACKNOWLEDGED" not in card


@pytest.mark.parametrize("caller", ["anonymous", "viewer", "screen"])
def test_acknowledging_is_refused_below_duty_manager(app: Dash, store: Store,
                                                     caller: str) -> None:
    AlertBook(store).save(alert())
    client = app.server.test_client()
    client.get("/_favicon.ico")
    if caller == "screen":
        assert client.get(f"/screen/{add_screen(store)}").status_code == 302
    elif caller == "viewer":
        client = client_as(app, store, "viewer")
    before = snapshot(store.client)
    response = acknowledge(app, client, "al-0001", "should not happen")
    assert response.status_code == (401 if caller == "anonymous" else 403)
    assert snapshot(store.client) == before
    assert read_events(store, kinds=[AlertAcknowledged]) == []


def test_acknowledging_an_alert_that_resolved_changes_nothing(app: Dash, store: Store) -> None:
    client = client_as(app, store, "duty_manager")
    before = snapshot(store.client)
    answer = said(acknowledge(app, client, "al-gone"))
    assert answer.startswith("Nothing changed: there is no active alert 'al-gone'")
    assert snapshot(store.client) == before


# --- silences --------------------------------------------------------------------------------


def test_a_duty_manager_creates_and_ends_a_silence(app: Dash, store: Store) -> None:
    active_worker(store)
    AlertBook(store).save(alert(), feed_alert())
    client = client_as(app, store, "duty_manager")
    answer = said(create(app, client, kind="feed", name="cad-calls", duration="2h",
                         reason="CAD upgrade tonight"))
    assert answer.startswith("Silence si-") and "UK time: kind=feed, name=cad-calls" in answer
    [silence] = AlertBook(store).silences().values()
    assert silence.matcher == {"kind": "feed", "name": "cad-calls"}
    assert silence.by == "duty-manager-1" and silence.reason == "CAD upgrade tonight"
    assert 7100 < silence.ends - NOW < 7300  # two hours of Surge time
    [made] = read_events(store, kinds=[SilenceCreated])
    assert (made.silence, made.by) == (silence.id, "duty-manager-1")

    out = page_refresh(app, client)
    listed = text(out["alerts-silences"]["children"])
    assert "kind=feed, name=cad-calls" in listed and "CAD upgrade tonight" in listed
    assert "silences 1 active alert" in listed
    assert "silence-end" in ids(out["alerts-silences"]["children"])
    cards = out["alerts-active"]["children"]
    assert "SILENCED" in text(cards[1]) and "SILENCED" not in text(cards[0])

    ended = said(end(app, client, silence.id, "upgrade done early"))
    assert ended == f"Silence {silence.id} ended: matching alerts notify again."
    assert AlertBook(store).silences() == {}
    [gone] = read_events(store, kinds=[SilenceEnded])
    assert (gone.silence, gone.by, gone.reason) == \
        (silence.id, "duty-manager-1", "upgrade done early")
    assert "No silence is in force" in text(page_refresh(app, client)["alerts-silences"]["children"])


def test_a_silence_by_level_from_the_form(app: Dash, store: Store) -> None:
    client = client_as(app, store, "commander")
    said(create(app, client, site="RVJ", min_level=3, duration="30m", reason="drill"))
    [silence] = AlertBook(store).silences().values()
    assert silence.matcher == {"site": "RVJ", "min_level": 3}


@pytest.mark.parametrize(("values", "says"), [
    ({"kind": "feed", "duration": "2h"}, "Nothing changed: a reason is required"),
    ({"kind": "feed", "duration": "2 hours", "reason": "x"},
     "Nothing changed: for how long: expected a duration such as 30s"),
    ({"kind": "feed", "reason": "x"}, "Nothing changed: say for how long"),
    ({"kind": "feed", "duration": "0", "reason": "x"}, "Nothing changed: a silence must last"),
    ({"kind": "feed", "duration": "8d", "reason": "x"},
     "Nothing changed: a silence may last at most 7 days"),
    ({"duration": "1h", "reason": "x"}, "Nothing changed: say what to silence"),
    ({"name": "   ", "duration": "1h", "reason": "x"}, "Nothing changed: say what to silence"),
])
def test_bad_input_says_what_is_wrong_and_changes_nothing(app: Dash, store: Store,
                                                          values: dict, says: str) -> None:
    client = client_as(app, store, "duty_manager")
    before, events = snapshot(store.client), len(store.events())
    answer = said(create(app, client, **values))
    assert answer.startswith(says), answer
    assert snapshot(store.client) == before and len(store.events()) == events


def test_ending_a_silence_that_is_not_there_changes_nothing(app: Dash, store: Store) -> None:
    client = client_as(app, store, "duty_manager")
    before = snapshot(store.client)
    assert said(end(app, client, "si-nope")).startswith(
        "Nothing changed: there is no silence 'si-nope' in force")
    assert snapshot(store.client) == before


@pytest.mark.parametrize("caller", ["anonymous", "viewer", "screen"])
def test_silencing_is_refused_below_duty_manager(app: Dash, store: Store, caller: str) -> None:
    made = create_silence(store, Actor("cli:test", "admin", "local", "cli"),
                          matcher={"kind": "feed"}, ends=time.time() + 600, reason="set up")
    client = app.server.test_client()
    client.get("/_favicon.ico")
    if caller == "screen":
        assert client.get(f"/screen/{add_screen(store)}").status_code == 302
    elif caller == "viewer":
        client = client_as(app, store, "viewer")
    before = snapshot(store.client)
    want = 401 if caller == "anonymous" else 403
    assert create(app, client, kind="level", duration="1h", reason="no").status_code == want
    assert end(app, client, made.id).status_code == want
    assert snapshot(store.client) == before


def test_the_page_callbacks_need_the_roles_the_actions_need(app: Dash) -> None:
    from surge.auth import needed

    roles = app.server.extensions["surge"].callback_roles
    assert roles["ack-"] == needed("acknowledge") and roles["silence-"] == needed("silence")
    refresh_output = next(k for k in app.callback_map if "alerts-note" in k)
    assert "ack-" not in refresh_output and "silence-" not in refresh_output
