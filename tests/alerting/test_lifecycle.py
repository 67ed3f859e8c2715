"""The alert lifecycle against a real store, on a clock the test moves: firing, rising,
escalation, acknowledgement and its expiry, repeats, silences, grouping, divergence, feeds,
resolution, and what goes into the outbox for whom. (Delivery: test_outbox.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from surge.actions import acknowledge_alert, act_as, create_silence, declare_level, end_silence
from surge.alerting.book import AlertBook
from surge.alerting.config import AlertingConfig, load_alerting
from surge.alerting.lifecycle import Alerter
from surge.catalogue import Catalogue
from surge.events import Recorder, read_events
from surge.store import Store
from tests.dashboard.conftest import add_user

T0 = 1_790_000_000.0  # a Surge time, in an autumn evening
CONFIG = """
defaults: {group_wait: 0s, repeat_interval: 30m, ack_timeout: 30m, divergence_after: 15m}
receivers:
  - name: duty-managers
    webhook: {url: "http://127.0.0.1:9/duty"}
  - name: tactical-commanders
    webhook: {url: "http://127.0.0.1:9/tactical"}
  - name: strategic-commanders
    webhook: {url: "http://127.0.0.1:9/strategic"}
  - name: ops
    webhook: {url: "http://127.0.0.1:9/ops"}
routes:
  - match: {kind: level, min_level: 3}
    receiver: duty-managers
    escalate:
      - {after: 10m, receiver: tactical-commanders}
      - {after: 20m, receiver: strategic-commanders}
  - match: {kind: feed}
    receiver: ops
  - match: {kind: divergence}
    receiver: strategic-commanders
"""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def write_config(tmp_path: Path, text: str = CONFIG) -> AlertingConfig:
    path = tmp_path / "alerting.yaml"
    path.write_text(text)
    return load_alerting(path)


@pytest.fixture
def alerter(store: Store, catalogue: Catalogue, clock: Clock, tmp_path: Path) -> Alerter:
    config = write_config(tmp_path)
    store.clock = clock
    recorder = Recorder(store, clock)
    return Alerter(store, lambda: config, lambda: catalogue, clock, publish=recorder.record,
                   public_url="https://surge.example.nhs.uk")


def publish(store: Store, clock: Clock, **levels: int) -> None:
    """Levels as the engine publishes them: name=level."""
    store.save_engine({}, levels={
        name: json.dumps({"level": n, "since": clock.now, "stale": False,
                          "kind": "overall" if name == "overall" else "protocol",
                          "reason": {"combine": "max", "drivers": []}})
        for name, n in levels.items()})


def sent(store: Store) -> list[tuple[str, str, Any]]:
    """(receiver, status, level) of every message in the outbox, oldest first."""
    return [(n.receiver, m["status"], m["level"])
            for n in AlertBook(store).notifications() for m in n.messages]


def only_alert(store: Store) -> Any:
    (alert,) = AlertBook(store).active().values()
    return alert


def kinds(store: Store) -> list[str]:
    return [e.kind for e in read_events(store) if e.kind.startswith(("alert", "silence"))]


# --- firing, rising, resolving ------------------------------------------------------------


def test_a_level_reaching_a_routes_min_level_fires_to_its_receiver(
        store: Store, alerter: Alerter, clock: Clock) -> None:
    publish(store, clock, call_handling=2)
    alerter.step()
    assert sent(store) == []  # level 2: no route wants it
    publish(store, clock, call_handling=3)
    alerter.step()
    assert sent(store) == [("duty-managers", "firing", 3)]
    alert = only_alert(store)
    assert (alert.kind, alert.name, alert.level, alert.severity) == \
        ("level", "call_handling", 3, "critical")
    assert alert.title == "999 call handling" or "call" in alert.title.lower()
    (notification,) = AlertBook(store).notifications()
    (message,) = notification.messages
    assert message["url"] == f"https://surge.example.nhs.uk/alerts#{alert.id}"
    assert message["idempotency_key"].startswith(notification.id)
    alerter.step()
    assert len(sent(store)) == 1  # nothing new: nobody told twice
    assert kinds(store) == ["alert_firing"]


def test_a_rise_tells_everyone_again_and_a_fall_below_resolves(
        store: Store, alerter: Alerter, clock: Clock) -> None:
    publish(store, clock, call_handling=3)
    alerter.step()
    clock.advance(60)
    publish(store, clock, call_handling=4)
    alerter.step()
    assert sent(store)[-1] == ("duty-managers", "firing", 4)
    clock.advance(60)
    publish(store, clock, call_handling=3)  # lower, still firing: no message
    alerter.step()
    assert len(sent(store)) == 2
    publish(store, clock, call_handling=2)
    alerter.step()
    assert sent(store)[-1] == ("duty-managers", "resolved", 2)
    assert AlertBook(store).active() == {}
    (resolved,) = AlertBook(store).resolved()
    assert resolved.resolved_at == clock.now
    assert kinds(store) == ["alert_firing", "alert_resolved"]


# --- escalation and acknowledgement -----------------------------------------------------------


def test_unacknowledged_alerts_climb_the_chain(store: Store, alerter: Alerter,
                                              clock: Clock) -> None:
    publish(store, clock, call_handling=3)
    alerter.step()
    clock.advance(9 * 60 + 59)
    alerter.step()
    assert [r for r, *_ in sent(store)] == ["duty-managers"]
    clock.advance(1)
    alerter.step()
    assert sent(store)[-1] == ("tactical-commanders", "escalated", 3)
    clock.advance(10 * 60)
    alerter.step()
    assert sent(store)[-1] == ("strategic-commanders", "escalated", 3)
    assert only_alert(store).step == 2
    publish(store, clock, call_handling=1)
    alerter.step()  # resolved: everyone who was told hears it
    resolved = {r for r, status, _ in sent(store) if status == "resolved"}
    assert resolved == {"duty-managers", "tactical-commanders", "strategic-commanders"}
    assert kinds(store).count("alert_escalated") == 2


def test_acknowledging_stops_the_chain_until_it_expires(
        store: Store, alerter: Alerter, clock: Clock) -> None:
    publish(store, clock, call_handling=3)
    alerter.step()
    clock.advance(5 * 60)
    add_user(store, "dm", "duty_manager")
    acknowledge_alert(store, act_as(store, "dm", via="cli"), alert=only_alert(store).id,
                      note="on it: extra call handlers called in")
    alerter.step()
    assert sent(store)[-1] == ("duty-managers", "acknowledged", 3)
    alert = only_alert(store)
    assert (alert.acked_by, alert.ack_note) == ("dm", "on it: extra call handlers called in")
    clock.advance(25 * 60)  # 30 min after firing: would have escalated twice
    alerter.step()
    assert not any(status == "escalated" for _, status, _ in sent(store))
    clock.advance(5 * 60)  # the acknowledgement expires (30 min) and it still fires
    alerter.step()
    # 5 min unacknowledged before, and now again: the chain goes on where it stopped
    assert only_alert(store).acked_by is None
    clock.advance(5 * 60)
    alerter.step()
    assert sent(store)[-1] == ("tactical-commanders", "escalated", 3)
    assert "alert_acknowledged" in kinds(store)


def test_acknowledging_needs_a_duty_manager_and_an_active_alert(
        store: Store, alerter: Alerter, clock: Clock) -> None:
    from surge.actions import Forbidden, InvalidArgument

    publish(store, clock, call_handling=3)
    alerter.step()
    add_user(store, "viewer", "viewer")
    with pytest.raises(Forbidden):
        acknowledge_alert(store, act_as(store, "viewer", via="cli"), alert=only_alert(store).id)
    add_user(store, "dm", "duty_manager")
    with pytest.raises(InvalidArgument, match="no active alert"):
        acknowledge_alert(store, act_as(store, "dm", via="cli"), alert="al-nonsense")
    assert AlertBook(store).acks() == {}


def test_an_unacknowledged_alert_is_repeated(store: Store, alerter: Alerter,
                                            clock: Clock) -> None:
    publish(store, clock, overall=3)
    alerter.step()
    for _ in range(4):
        clock.advance(10 * 60)
        alerter.step()  # escalations at 10 and 20 min, repeats every 30 min of silence
    statuses = [(r, s) for r, s, _ in sent(store)]
    assert ("duty-managers", "firing") in statuses[1:], statuses


def test_a_feed_never_heard_from_raises_its_alert_after_three_intervals(
        store: Store, alerter: Alerter, clock: Clock) -> None:
    store.expect_feeds([("pts-push", "pts", 60.0)], at=clock.now)  # as the worker does
    alerter.step()
    assert not [a for a in AlertBook(store).active().values() if a.kind == "feed"]
    clock.advance(181)
    alerter.step()
    (feed,) = [a for a in AlertBook(store).active().values() if a.kind == "feed"]
    assert feed.name == "pts-push"
    assert feed.reason == "feed down: nothing received since it was set up"


# --- silences ---------------------------------------------------------------------------------


def test_a_silence_stops_notifications_not_the_alert(store: Store, alerter: Alerter,
                                                    clock: Clock) -> None:
    add_user(store, "dm", "duty_manager")
    dm = act_as(store, "dm", via="cli")
    made = create_silence(store, dm, matcher={"kind": "feed"}, ends=clock.now + 3600,
                          reason="CAD maintenance 19:00-20:00")
    store.record_poll("cad-calls", function="call_handling", interval=30,
                      error="connection refused", at=clock.now)
    publish(store, clock, call_handling=3)
    alerter.step()
    assert [r for r, *_ in sent(store)] == ["duty-managers"]  # the level; not the feed
    feed = next(a for a in AlertBook(store).active().values() if a.kind == "feed")
    assert feed.silenced == made.id
    end_silence(store, dm, silence=made.id, reason="maintenance over early")
    clock.advance(60)
    alerter.step()  # lifted while it still fires: ops hear of it now
    assert ("ops", "firing", None) in sent(store)


def test_a_silence_ends_by_itself(store: Store, alerter: Alerter, clock: Clock) -> None:
    add_user(store, "dm", "duty_manager")
    create_silence(store, act_as(store, "dm", via="cli"), matcher={"name": "pts"},
                   ends=clock.now + 60, reason="test")
    clock.advance(61)
    alerter.step()
    assert AlertBook(store).silences() == {}
    assert kinds(store) == ["silence_created", "silence_ended"]


@pytest.mark.parametrize("matcher, ends, error", [
    ({}, 600, "say what to silence"),
    ({"knd": "feed"}, 600, "did you mean 'kind'"),
    ({"kind": "feed"}, -5, "in the future"),
    ({"kind": "feed"}, 8 * 86400, "at most 7 days"),
    ({"min_level": "three"}, 600, "level number"),
])
def test_bad_silences_are_refused_with_the_reason(store: Store, clock: Clock,
                                                 matcher: dict, ends: float, error: str) -> None:
    from surge.actions import InvalidArgument

    store.clock = clock
    add_user(store, "dm", "duty_manager")
    with pytest.raises(InvalidArgument, match=error):
        create_silence(store, act_as(store, "dm", via="cli"), matcher=matcher,
                       ends=clock.now + ends, reason="why")
    assert AlertBook(store).silences() == {}


# --- grouping, divergence, feeds ----------------------------------------------------------


def test_changes_within_group_wait_go_as_one_notification(
        store: Store, catalogue: Catalogue, clock: Clock, tmp_path: Path) -> None:
    config = write_config(tmp_path, CONFIG.replace("group_wait: 0s", "group_wait: 30s"))
    store.clock = clock
    alerter = Alerter(store, lambda: config, lambda: catalogue, clock,
                      publish=Recorder(store, clock).record)
    publish(store, clock, call_handling=3)
    alerter.step()
    clock.advance(10)
    publish(store, clock, call_handling=3, ae=4)
    alerter.step()
    assert AlertBook(store).notifications() == []  # still waiting
    clock.advance(20)
    alerter.step()
    (notification,) = AlertBook(store).notifications()
    assert notification.receiver == "duty-managers"
    assert sorted(m["name"] for m in notification.messages) == ["ae", "call_handling"]


def test_a_declaration_that_differs_too_long_alerts_the_strategic_commanders(
        store: Store, alerter: Alerter, clock: Clock, catalogue: Catalogue) -> None:
    publish(store, clock, overall=2)
    add_user(store, "gold", "commander")
    declare_level(store, act_as(store, "gold", via="cli"), level=4,
                  reason="major incident declared", catalogue=catalogue)
    alerter.step()
    assert not any(r == "strategic-commanders" for r, *_ in sent(store))
    clock.advance(15 * 60)
    alerter.step()
    assert ("strategic-commanders", "firing", None) in sent(store)


def test_a_feed_down_alerts_and_its_recovery_resolves(store: Store, alerter: Alerter,
                                                     clock: Clock) -> None:
    store.record_poll("cad-calls", function="call_handling", interval=30,
                      error="HTTP 503", at=clock.now)
    alerter.step()
    assert sent(store) == [("ops", "firing", None)]
    assert "HTTP 503" in only_alert(store).reason
    clock.advance(30)
    store.record_poll("cad-calls", function="call_handling", interval=30,
                      at=clock.now)
    alerter.step()
    assert sent(store)[-1] == ("ops", "resolved", None)


def test_a_standby_taking_over_goes_on_where_the_last_stopped(
        store: Store, catalogue: Catalogue, clock: Clock, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    store.clock = clock

    def new_alerter() -> Alerter:  # a new process: nothing in memory
        return Alerter(store, lambda: config, lambda: catalogue, clock,
                       publish=Recorder(store, clock).record)

    publish(store, clock, call_handling=3)
    new_alerter().step()
    clock.advance(10 * 60)
    new_alerter().step()
    clock.advance(10 * 60)
    new_alerter().step()
    assert [r for r, *_ in sent(store)] == ["duty-managers", "tactical-commanders",
                                            "strategic-commanders"]


def test_an_acknowledgement_is_not_lost_to_a_rise_in_the_same_group(
        store: Store, catalogue: Catalogue, clock: Clock, tmp_path: Path) -> None:
    config = write_config(tmp_path, CONFIG.replace("group_wait: 0s", "group_wait: 30s"))
    store.clock = clock
    alerter = Alerter(store, lambda: config, lambda: catalogue, clock,
                      publish=Recorder(store, clock).record)
    publish(store, clock, call_handling=3)
    alerter.step()
    clock.advance(30)
    alerter.step()  # the firing message goes
    add_user(store, "dm", "duty_manager")
    acknowledge_alert(store, act_as(store, "dm", via="cli"), alert=only_alert(store).id)
    alerter.step()  # the acknowledgement waits for its group ...
    clock.advance(10)
    publish(store, clock, call_handling=4)
    alerter.step()  # ... and the rise joins it
    clock.advance(30)
    alerter.step()
    last = AlertBook(store).notifications()[-1]
    assert [m["status"] for m in last.messages] == ["acknowledged", "firing"]
    assert len({m["idempotency_key"] for m in last.messages}) == 2

