"""The alerts' HTTP API (GET /api/v1/alerts, POST /api/v1/alerts/ID/ack, POST and DELETE
/api/v1/silences) through Flask's test client, against a real Valkey server: alerts read back
as the store holds them (times as UTC ISO and epoch), acknowledged and silenced with a
session (and its CSRF token) or an API token, on the record as `via api`; bad bodies are a 4xx
naming the field and change nothing. Who may use which door: test_role_matrix.py."""

from __future__ import annotations

import time
from typing import Any

import pytest
from dash import Dash

from dashboard.app import create_app
from surge.actions import Actor, acknowledge_alert, create_silence
from surge.alerting.book import Alert, AlertBook
from surge.auth import audit_events
from surge.events import AlertAcknowledged, SilenceCreated, SilenceEnded, read_events
from surge.store import Store
from surge.timefmt import utc_iso
from tests.conftest import active_worker
from tests.dashboard.conftest import auth_settings
from tests.dashboard.test_api import api_token, signed_in, used
from tests.dashboard.test_role_matrix import snapshot

NOW = time.time()
ALERTS = "/api/v1/alerts"
SILENCES = "/api/v1/silences"
CHAIN = ((600.0, "tactical-commanders"), (1200.0, "strategic-commanders"))
OPERATOR = Actor("cli:test", "admin", "local", "cli")


@pytest.fixture
def app(store: Store) -> Dash:
    return create_app(auth_settings(), store, clock=lambda: NOW)


def alert(**changes: Any) -> Alert:
    base: dict[str, Any] = dict(
        id="al-0001", key="level:ae@RVJ", kind="level", name="ae@RVJ",
        title="A&E operations at Southmead Hospital", level=3, level_name="Severe pressure",
        severity="critical", reason="ambulances waiting to hand over ≥ 6 for 5 min",
        since=NOW - 960, fired_at=NOW - 900, site="RVJ", function="ae",
        receivers=("duty-managers",), notified=("duty-managers", "tactical-commanders"),
        chain=CHAIN, step=1, unacked_since=NOW - 900)
    return Alert(**{**base, **changes})


def feed_alert(**changes: Any) -> Alert:
    return alert(**{"id": "al-0002", "key": "feed:cad-calls", "kind": "feed",
                    "name": "cad-calls", "title": "Feed cad-calls", "level": None,
                    "level_name": None, "severity": "warning", "site": None, "chain": (),
                    "step": 0, "reason": "feed down: connection refused", **changes})


# --- reading -----------------------------------------------------------------------------------


def test_the_alerts_are_what_the_store_holds(app: Dash, store: Store) -> None:
    active_worker(store)
    book = AlertBook(store)
    book.save(alert(), feed_alert(acked_by="dm-1", acked_at=NOW - 60, ack_note="on it",
                                  ack_expires=NOW + 1740, unacked_since=None))
    book.close(alert(id="al-old", fired_at=NOW - 7200, resolved_at=NOW - 3600,
                     resolved_reason="its cause cleared"))
    made = create_silence(store, OPERATOR, matcher={"site": "RVJ"}, ends=NOW + 3600,
                          reason="drill")
    client = app.server.test_client()
    answer = client.get(ALERTS, headers=api_token(store, "viewer"))
    assert answer.status_code == 200, answer.data[:500]
    assert answer.headers["Cache-Control"] == "no-store"
    assert "X-CSRF-Token" not in answer.headers  # a token has no session to protect
    body = answer.get_json()
    assert (body["at"], body["at_epoch"], body["mode"], body["worker"]) == \
        (utc_iso(NOW), NOW, "live", "running")
    assert body["counts"] == {"active": 2, "unacknowledged": 1, "silences": 1}
    first, second = body["active"]  # the unacknowledged first
    assert first["id"] == "al-0001" and first["url"] == "/alerts#al-0001"
    assert (first["level"], first["level_name"], first["severity"], first["kind"]) == \
        (3, "Severe pressure", "critical", "level")
    assert (first["since"], first["since_epoch"]) == (utc_iso(NOW - 960), NOW - 960)
    assert (first["fired_at"], first["fired_at_epoch"]) == (utc_iso(NOW - 900), NOW - 900)
    assert first["unacknowledged"] is True and first["acknowledgement"] is None
    assert first["unacknowledged_for"] == 900.0
    assert first["notified"] == ["duty-managers", "tactical-commanders"]
    escalation = first["escalation"]
    assert (escalation["step"], escalation["steps"]) == (1, 2)
    assert escalation["chain"][1] == {"after": 1200.0, "receiver": "strategic-commanders"}
    assert escalation["next"] == {"receiver": "strategic-commanders",
                                  "at": utc_iso(NOW + 300), "at_epoch": NOW + 300}
    assert first["silenced_by"] == made.id and first["resolved_at"] is None
    assert second["id"] == "al-0002" and second["unacknowledged"] is False
    assert second["acknowledgement"] == {
        "by": "dm-1", "at": utc_iso(NOW - 60), "at_epoch": NOW - 60, "note": "on it",
        "expires": utc_iso(NOW + 1740), "expires_epoch": NOW + 1740, "taken_up": True}
    assert second["escalation"]["next"] is None and second["silenced_by"] is None
    [silence] = body["silences"]
    assert silence["id"] == made.id and silence["matcher"] == {"site": "RVJ"}
    assert (silence["reason"], silence["by"], silence["ends_epoch"]) == \
        ("drill", "cli:test", NOW + 3600)
    [old] = body["resolved"]
    assert old["id"] == "al-old" and old["resolved_at_epoch"] == NOW - 3600
    assert old["resolved_reason"] == "its cause cleared" and old["escalation"]["next"] is None


def test_a_session_reads_the_alerts_and_gets_its_csrf_token(app: Dash, store: Store) -> None:
    client, csrf = signed_in(app, store, "viewer")
    answer = client.get(ALERTS)
    assert answer.status_code == 200 and answer.headers["X-CSRF-Token"] == csrf
    assert answer.get_json()["counts"] == {"active": 0, "unacknowledged": 0, "silences": 0}


def test_an_alert_record_that_does_not_read_is_a_503_that_says_so(app: Dash,
                                                                  store: Store) -> None:
    store.client.hset("surge:alerts", "al-bad", "{not json")
    client, _ = signed_in(app, store, "viewer")
    answer = client.get(ALERTS)
    assert answer.status_code == 503
    assert "alert record in the store does not read" in answer.get_json()["error"]


# --- acknowledging -----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["session", "token"])
def test_a_duty_manager_acknowledges_an_alert(app: Dash, store: Store, how: str) -> None:
    AlertBook(store).save(alert())
    if how == "session":
        client, csrf = signed_in(app, store, "duty_manager")
        headers, who = {"X-CSRF-Token": csrf}, "duty-manager-1"
    else:
        client, headers = app.server.test_client(), api_token(store, "duty_manager", "pager")
        who = "token:pager"
    done = client.post(f"{ALERTS}/al-0001/ack", json={"note": "HALO on site"},
                       headers=headers)
    assert done.status_code == 201, done.data[:500]
    body = done.get_json()
    ack = body["acknowledgement"]
    assert (ack["alert"], ack["name"], ack["by"], ack["note"], ack["via"]) == \
        ("al-0001", "ae@RVJ", who, "HALO on site", "api")
    assert ack["at"] == utc_iso(ack["at_epoch"])
    [event] = read_events(store, kinds=[AlertAcknowledged])
    assert (event.id, event.alert, event.by, event.via, event.note) == \
        (body["event_id"], "al-0001", who, "api", "HALO on site")
    audit = audit_events(store)[-1].data
    assert (audit["action"], audit["user"], audit["via"]) == ("alert_acknowledged", who, "api")
    # until the worker takes it up, the alert reads as acknowledged, saying so
    read = client.get(ALERTS, headers=headers).get_json()
    assert read["counts"]["unacknowledged"] == 0
    shown = read["active"][0]["acknowledgement"]
    assert (shown["by"], shown["note"], shown["taken_up"]) == (who, "HALO on site", False)
    again = client.post(f"{ALERTS}/al-0001/ack", headers=headers)  # no body: no note
    assert again.status_code == 201 and again.get_json()["acknowledgement"]["note"] is None


def test_acknowledging_an_alert_that_is_not_active_is_404(app: Dash, store: Store) -> None:
    AlertBook(store).close(alert(resolved_at=NOW - 60))
    client = app.server.test_client()
    headers = used(client, api_token(store, "duty_manager"))
    before = snapshot(store.client)
    gone = client.post(f"{ALERTS}/al-0001/ack", json={}, headers=headers)
    assert gone.status_code == 404
    assert gone.get_json()["error"].startswith("there is no active alert 'al-0001': it may "
                                               "have resolved")
    assert snapshot(store.client) == before


@pytest.mark.parametrize(("body", "says", "field"), [
    ({"note": 3}, "note must be text (a JSON string), not the number 3", "note"),
    ({"reason": "x"}, "unknown field 'reason'; the fields are note", "reason"),
    ({"note": "y" * 501}, "the note is 501 characters long", None),
    (b"note=hi", "the body is not valid JSON", None),
])
def test_a_bad_acknowledgement_is_400_and_changes_nothing(app: Dash, store: Store, body: Any,
                                                          says: str, field: str | None) -> None:
    AlertBook(store).save(alert())
    client = app.server.test_client()
    headers = used(client, api_token(store, "duty_manager"))
    before, events = snapshot(store.client), len(store.events())
    if isinstance(body, bytes):
        response = client.post(f"{ALERTS}/al-0001/ack", data=body, headers=headers,
                               content_type="application/json")
    else:
        response = client.post(f"{ALERTS}/al-0001/ack", json=body, headers=headers)
    assert response.status_code == 400, response.data[:300]
    assert response.get_json()["error"].startswith(says)
    assert response.get_json().get("field") == field
    assert snapshot(store.client) == before and store.events()[events:] == []


def test_a_session_acknowledging_without_its_csrf_token_is_refused(app: Dash,
                                                                   store: Store) -> None:
    AlertBook(store).save(alert())
    client, _csrf = signed_in(app, store, "duty_manager")
    before = snapshot(store.client)
    refused = client.post(f"{ALERTS}/al-0001/ack", json={"note": "x"})
    assert refused.status_code == 403
    assert refused.get_json()["error"].startswith("CSRF token missing or wrong")
    assert snapshot(store.client) == before
    entry = audit_events(store)[-1].data
    assert (entry["action"], entry["user"], entry["target"]) == \
        ("access_refused", "duty-manager-1", "POST /api/v1/alerts/al-0001/ack")


# --- silences ----------------------------------------------------------------------------------


def test_a_silence_for_a_duration_then_ended(app: Dash, store: Store) -> None:
    AlertBook(store).save(feed_alert())
    client, csrf = signed_in(app, store, "duty_manager")
    headers = {"X-CSRF-Token": csrf}
    made = client.post(SILENCES, json={"matcher": {"kind": "feed", "name": "cad-calls"},
                                       "duration": "2h", "reason": "CAD upgrade"},
                       headers=headers)
    assert made.status_code == 201, made.data[:500]
    silence = made.get_json()["silence"]
    assert silence["matcher"] == {"kind": "feed", "name": "cad-calls"}
    assert (silence["by"], silence["reason"]) == ("duty-manager-1", "CAD upgrade")
    assert silence["ends_epoch"] == NOW + 7200 and silence["ends"] == utc_iso(NOW + 7200)
    [event] = read_events(store, kinds=[SilenceCreated])
    assert (event.silence, event.by, event.via) == (silence["id"], "duty-manager-1", "api")
    assert set(AlertBook(store).silences()) == {silence["id"]}
    read = client.get(ALERTS).get_json()
    assert read["active"][0]["silenced_by"] == silence["id"]
    assert [s["id"] for s in read["silences"]] == [silence["id"]]

    ended = client.delete(f"{SILENCES}/{silence['id']}", json={"reason": "done early"},
                          headers=headers)
    assert ended.status_code == 200, ended.data[:500]
    assert ended.get_json()["ended"]["id"] == silence["id"]
    assert AlertBook(store).silences() == {}
    [gone] = read_events(store, kinds=[SilenceEnded])
    assert (gone.id, gone.silence, gone.by, gone.reason) == \
        (ended.get_json()["event_id"], silence["id"], "duty-manager-1", "done early")
    again = client.delete(f"{SILENCES}/{silence['id']}", headers=headers)
    assert again.status_code == 404
    assert again.get_json()["error"].startswith(f"there is no silence '{silence['id']}' in force")


def test_a_silence_until_a_time_with_a_token(app: Dash, store: Store) -> None:
    client = app.server.test_client()
    headers = api_token(store, "commander", "cad")
    ends = utc_iso(NOW + 5400)
    made = client.post(SILENCES, json={"matcher": {"site": "RVJ", "min_level": 3},
                                       "ends": ends, "reason": "drill"}, headers=headers)
    assert made.status_code == 201, made.data[:500]
    silence = made.get_json()["silence"]
    assert silence["by"] == "token:cad" and silence["ends"] == ends
    offset = client.post(SILENCES, json={"matcher": {"kind": "feed"}, "reason": "x",
                                         "ends": "2099-06-01T13:00:00+01:00"}, headers=headers)
    assert offset.status_code == 400  # more than 7 days: the action says so
    assert "at most 7 days" in offset.get_json()["error"]


@pytest.mark.parametrize(("body", "says", "field"), [
    ({"duration": "1h", "reason": "x"}, "matcher is required", "matcher"),
    ({"matcher": {}, "duration": "1h", "reason": "x"}, "matcher is required", "matcher"),
    ({"matcher": "feed", "duration": "1h", "reason": "x"}, "matcher is required", "matcher"),
    ({"matcher": {"kind": "feed"}, "duration": "1h"}, "reason is required", "reason"),
    ({"matcher": {"kind": "feed"}, "reason": "x"}, "say how long the silence lasts", "duration"),
    ({"matcher": {"kind": "feed"}, "reason": "x", "duration": "1h",
      "ends": "2030-01-01T00:00:00Z"}, "say how long the silence lasts", "duration"),
    ({"matcher": {"kind": "feed"}, "reason": "x", "duration": "2 hours"},
     "duration: expected a duration such as 30s", "duration"),
    ({"matcher": {"kind": "feed"}, "reason": "x", "duration": 3600},
     "duration must be text such as", "duration"),
    ({"matcher": {"kind": "feed"}, "reason": "x", "duration": "0"},
     "duration must be more than 0", "duration"),
    ({"matcher": {"kind": "feed"}, "reason": "x", "ends": "tomorrow"},
     "ends must be an ISO 8601 time such as", "ends"),
    ({"matcher": {"kind": "feed"}, "reason": "x", "ends": "2030-01-01T15:00:00"},
     "ends must say its time zone", "ends"),
    ({"matcher": {"kind": "feed"}, "reason": "x", "ends": "2001-01-01T15:00:00Z"},
     "a silence must end in the future", None),
    ({"matcher": {"knd": "feed"}, "reason": "x", "duration": "1h"},
     "a silence cannot match on 'knd' (did you mean 'kind'?)", None),
    ({"matcher": {"min_level": "3"}, "reason": "x", "duration": "1h"},
     "min_level must be a level number", None),
    ({"matcher": {"kind": "feed"}, "reason": "x", "duration": "1h", "for": "1h"},
     "unknown field 'for'", "for"),
])
def test_a_bad_silence_is_400_naming_the_problem(app: Dash, store: Store, body: Any,
                                                 says: str, field: str | None) -> None:
    client = app.server.test_client()
    headers = used(client, api_token(store, "duty_manager"))
    before, events = snapshot(store.client), len(store.events())
    response = client.post(SILENCES, json=body, headers=headers)
    assert response.status_code == 400, response.data[:300]
    assert response.get_json()["error"].startswith(says), response.get_json()
    assert response.get_json().get("field") == field
    assert snapshot(store.client) == before and store.events()[events:] == []


def test_the_api_lists_its_new_endpoints_when_asked_for_another(app: Dash,
                                                                store: Store) -> None:
    client = app.server.test_client()
    missing = client.get(SILENCES, headers=api_token(store, "viewer"))
    assert missing.status_code == 404
    assert "GET /api/v1/alerts, POST /api/v1/alerts/ID/ack, POST /api/v1/silences, " \
           "DELETE /api/v1/silences/ID" in missing.get_json()["error"]


def test_an_acknowledgement_made_elsewhere_reads_the_same(app: Dash, store: Store) -> None:
    """The page, the CLI and the API all acknowledge through surge.actions: one record."""
    AlertBook(store).save(alert())
    acknowledge_alert(store, OPERATOR, alert="al-0001", note="from the CLI")
    body = app.server.test_client().get(ALERTS, headers=api_token(store, "viewer")).get_json()
    assert body["active"][0]["acknowledgement"]["by"] == "cli:test"
    assert body["active"][0]["acknowledgement"]["note"] == "from the CLI"
