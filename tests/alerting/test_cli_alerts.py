"""`surge alerts list|ack|silence|unsilence|outbox` against a real store: what a duty manager
does from a shell, refused (exit 2, audited, nothing changed) below the role, and bad
arguments said plainly."""

from __future__ import annotations

import json
import time

import pytest
import redis

from surge import keys
from surge.alerting.book import Alert, AlertBook
from surge.auth import audit_events
from surge.store import Store
from tests.surge.test_cli_levels import add_users, invoke, snapshot

NOW = time.time()


@pytest.fixture
def alert(store: Store) -> Alert:
    alert = Alert(id="al-0123456789", key="level:call_handling", kind="level",
                  name="call_handling", title="999 call handling", level=4,
                  level_name="Extreme pressure", severity="critical",
                  reason="calls waiting 54 >= 50 for 5 min", since=NOW - 600,
                  fired_at=NOW - 300, receivers=("duty-managers",),
                  notified=("duty-managers",), chain=((600.0, "tactical-commanders"),),
                  unacked_since=NOW - 300, last_notified=NOW - 300)
    AlertBook(store).save(alert)
    add_users(store)
    return alert


def test_list_shows_what_fires_and_when_it_escalates(redis_url: str, alert: Alert) -> None:
    result = invoke(redis_url, "alerts", "list")
    assert result.exit_code == 0, result.output
    assert "al-0123456789" in result.output and "Level 4 Extreme pressure" in result.output
    assert "UNACKNOWLEDGED" in result.output and "escalates to tactical-commanders" in \
        result.output
    data = json.loads(invoke(redis_url, "alerts", "list", "--json").output)
    assert [a["id"] for a in data["active"]] == ["al-0123456789"]


def test_a_duty_manager_acknowledges(redis_url: str, store: Store, alert: Alert) -> None:
    result = invoke(redis_url, "alerts", "ack", alert.id, "--note", "extra staff called in",
                    "--as", "duty-manager")
    assert result.exit_code == 0, result.output
    ack = AlertBook(store).acks()[alert.id]
    assert (ack.by, ack.note, ack.via) == ("duty-manager", "extra staff called in", "cli")
    assert any(e.action == "alert_acknowledged" for e in audit_events(store))


def test_a_viewer_may_not_acknowledge_nor_silence(redis_url: str, store: Store,
                                                   alert: Alert,
                                                   redis_client: redis.Redis) -> None:
    before = snapshot(redis_client, events=False)
    for args in (("alerts", "ack", alert.id), ("alerts", "silence", "--match", "kind=feed",
                                                "--for", "1h", "--reason", "x")):
        result = invoke(redis_url, *args, "--as", "viewer")
        assert result.exit_code == 2, result.output
        assert "needs the duty_manager role" in result.output or "duty_manager" in \
            result.output
    assert snapshot(redis_client, events=False) == before
    refused = [e for e in audit_events(store) if e.action == "access_refused"]
    assert len(refused) == 2


@pytest.mark.parametrize("args, said", [
    (("alerts", "ack", "al-nothing"), "no active alert"),
    (("alerts", "silence", "--match", "kind", "--for", "1h", "--reason", "x"),
     "expected FIELD=VALUE"),
    (("alerts", "silence", "--match", "colour=red", "--for", "1h", "--reason", "x"),
     "cannot match on 'colour'"),
    (("alerts", "silence", "--match", "kind=feed", "--for", "soon", "--reason", "x"),
     "--for 'soon'"),
    (("alerts", "silence", "--match", "kind=feed", "--for", "30d", "--reason", "x"),
     "at most 7 days"),
    (("alerts", "silence", "--match", "kind=feed", "--for", "1h", "--reason", "  "),
     "reason is required"),
    (("alerts", "unsilence", "si-nothing"), "no silence"),
])
def test_bad_arguments_are_said_plainly_and_change_nothing(
        redis_url: str, alert: Alert, redis_client: redis.Redis, args: tuple[str, ...],
        said: str) -> None:
    before = snapshot(redis_client, events=False)
    result = invoke(redis_url, *args, "--as", "duty-manager")
    assert result.exit_code == 2, result.output
    assert said in result.output
    assert "Traceback" not in result.output
    assert snapshot(redis_client, events=False) == before


def test_a_silence_is_made_listed_and_lifted(redis_url: str, store: Store,
                                             alert: Alert) -> None:
    made = invoke(redis_url, "alerts", "silence", "--match", "kind=feed", "--match",
                  "name=cad-calls", "--for", "2h", "--reason", "CAD upgrade tonight",
                  "--as", "duty-manager")
    assert made.exit_code == 0, made.output
    (silence,) = AlertBook(store).silences().values()
    assert silence.matcher == {"kind": "feed", "name": "cad-calls"}
    assert 2 * 3600 - 60 < silence.ends - time.time() <= 2 * 3600
    assert "SILENCE" in invoke(redis_url, "alerts", "list").output
    lifted = invoke(redis_url, "alerts", "unsilence", silence.id, "--as", "duty-manager")
    assert lifted.exit_code == 0, lifted.output
    assert not store.client.exists(keys.SILENCES)
