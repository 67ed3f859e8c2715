"""The outbox against a real store and real receivers on loopback: stored before sent,
delivered once, retried with the same idempotency key, given up loudly (a delivery alert),
nothing lost when the sender dies, and a slow receiver never delaying another."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from surge.alerting.book import AlertBook, Notification
from surge.alerting.config import load_alerting
from surge.alerting.lifecycle import Alerter
from surge.alerting.outbox import Dispatcher, backoff
from surge.catalogue import Catalogue
from surge.events import NotificationFailed, NotificationSent, Recorder, read_events
from surge.store import Store
from tests.alerting.servers import HttpReceiver

T0 = 1_790_000_000.0


def config_text(duty: str, ops: str = "http://127.0.0.1:9/unused", *, timeout: str = "2s",
                max_age: str = "15m") -> str:
    return f"""
defaults: {{group_wait: 0s, delivery_max_age: {max_age}}}
receivers:
  - name: duty-managers
    webhook: {{url: "{duty}", timeout: {timeout}}}
  - name: ops
    webhook: {{url: "{ops}", timeout: {timeout}}}
routes:
  - match: {{kind: level, min_level: 3}}
    receiver: duty-managers
  - match: {{kind: feed}}
    receiver: ops
  - match: {{kind: delivery}}
    receiver: ops
"""


class World:
    """A store, the alerting config, an alerter and a dispatcher, as the active worker has."""

    def __init__(self, store: Store, catalogue: Catalogue, tmp_path: Path, text: str,
                 hold: float = 30.0) -> None:
        path = tmp_path / "alerting.yaml"
        path.write_text(text)
        self.config = load_alerting(path)
        self.store = store
        self.now = T0
        store.clock = self.clock
        self.recorder = Recorder(store, self.clock)
        self.alerter = Alerter(store, lambda: self.config, lambda: catalogue, self.clock,
                               publish=self.recorder.record)
        self.dispatcher = self.new_dispatcher(hold)

    def clock(self) -> float:
        return self.now

    def new_dispatcher(self, hold: float = 30.0) -> Dispatcher:
        return Dispatcher(self.store, lambda: self.config, smtp_url=lambda: None,
                          publish=self.recorder.record, clock=self.clock, hold=hold)

    def level(self, name: str, level: int) -> None:
        self.store.save_engine({}, levels={name: json.dumps(
            {"level": level, "since": self.now, "stale": False, "kind": "protocol",
             "reason": {"combine": "max", "drivers": []}})})

    def pending(self) -> list[Notification]:
        return [n for n in AlertBook(self.store).notifications() if n.state == "pending"]


@pytest.fixture
def receiver() -> HttpReceiver:
    with HttpReceiver() as server:
        yield server


def test_a_notification_is_stored_then_delivered_once(store: Store, catalogue: Catalogue,
                                                      tmp_path: Path,
                                                      receiver: HttpReceiver) -> None:
    world = World(store, catalogue, tmp_path, config_text(receiver.url + "/duty"))
    world.level("call_handling", 3)
    world.alerter.step()
    (stored,) = world.pending()  # in the outbox before anything is sent
    assert receiver.received() == []
    (done,) = [world.dispatcher.attempt(n) for n in AlertBook(store).claim_due(time.time(), 30)]
    assert done.state == "delivered"
    (request,) = receiver.received("/duty")
    assert request.headers["idempotency-key"] == stored.messages[0]["idempotency_key"]
    body = request.json()
    assert (body["status"], body["name"], body["level"]) == ("firing", "call_handling", 3)
    assert AlertBook(store).claim_due(time.time() + 3600, 30) == []  # nothing left to send
    (sent,) = read_events(store, kinds=[NotificationSent])
    assert (sent.receiver, sent.status, sent.attempts) == ("duty-managers", "firing", 1)


def test_a_failing_receiver_is_retried_with_the_same_key(store: Store, catalogue: Catalogue,
                                                        tmp_path: Path,
                                                        receiver: HttpReceiver) -> None:
    url = receiver.answer("/duty", 503, "busy")
    world = World(store, catalogue, tmp_path, config_text(url))
    world.level("call_handling", 3)
    world.alerter.step()
    (first,) = AlertBook(store).claim_due(time.time(), 30)
    after = world.dispatcher.attempt(first)
    assert after.state == "pending" and after.next_at is not None
    assert after.next_at - time.time() <= 1.0  # the first retry: within a second
    assert AlertBook(store).claim_due(time.time(), 30) == []  # not due yet: backing off
    receiver.answer("/duty", 200)
    (again,) = AlertBook(store).claim_due(after.next_at + 0.01, 30)
    assert world.dispatcher.attempt(again).state == "delivered"
    keys = [r.headers["idempotency-key"] for r in receiver.received("/duty")]
    assert len(keys) == 2 and keys[0] == keys[1]
    (stored,) = AlertBook(store).notifications()
    assert [a["ok"] for a in stored.attempts] == [False, True]  # every attempt kept
    assert "503" in stored.attempts[0]["detail"]


def test_a_receiver_refusing_for_good_raises_a_delivery_alert_to_the_others(
        store: Store, catalogue: Catalogue, tmp_path: Path, receiver: HttpReceiver) -> None:
    duty = receiver.answer("/duty", 404, "no such hook")
    world = World(store, catalogue, tmp_path, config_text(duty, receiver.url + "/ops"))
    world.level("call_handling", 3)
    world.alerter.step()
    (n,) = AlertBook(store).claim_due(time.time(), 30)
    assert world.dispatcher.attempt(n).state == "failed"
    (failed,) = read_events(store, kinds=[NotificationFailed])
    assert failed.receiver == "duty-managers" and "404" in failed.detail
    world.alerter.step()  # the delivery alert, routed to ops
    for n in AlertBook(store).claim_due(time.time(), 30):
        world.dispatcher.attempt(n)
    (told,) = receiver.received("/ops")
    assert (told.json()["kind"], told.json()["name"]) == ("delivery", "duty-managers")


def test_a_notification_too_old_is_given_up(store: Store, catalogue: Catalogue,
                                           tmp_path: Path, refused_url: str) -> None:
    world = World(store, catalogue, tmp_path, config_text(refused_url, max_age="1m"))
    world.level("call_handling", 3)
    world.alerter.step()
    (n,) = AlertBook(store).claim_due(time.time(), 30)
    assert world.dispatcher.attempt(n).state == "pending"  # refused: try again
    old = AlertBook(store).notifications()[0]
    from dataclasses import replace

    AlertBook(store).record_attempt(replace(old, created=time.time() - 61))
    (n,) = AlertBook(store).claim_due(time.time() + 120, 30)
    final = world.dispatcher.attempt(n)
    assert final.state == "failed"
    assert "still failing after 1 min" in read_events(store, kinds=[NotificationFailed])[0].detail


def test_a_sender_that_dies_before_recording_is_followed_by_another_with_the_same_key(
        store: Store, catalogue: Catalogue, tmp_path: Path, receiver: HttpReceiver) -> None:
    world = World(store, catalogue, tmp_path, config_text(receiver.url + "/duty"))
    world.level("call_handling", 3)
    world.alerter.step()
    (claimed,) = AlertBook(store).claim_due(time.time(), 0.3)  # a process claims it ...
    from surge.alerting.channels import Message, deliver

    deliver(world.config.receivers["duty-managers"], [Message(**claimed.messages[0])],
            smtp_url=None)  # ... sends it, and dies before recording that it did
    assert AlertBook(store).claim_due(time.time(), 30) == []  # held meanwhile
    time.sleep(0.35)
    successor = world.new_dispatcher()
    (again,) = AlertBook(store).claim_due(time.time(), 30)
    assert successor.attempt(again).state == "delivered"
    keys = [r.headers["idempotency-key"] for r in receiver.received("/duty")]
    assert len(keys) == 2 and len(set(keys)) == 1  # a duplicate only beyond the key


def test_a_slow_receiver_does_not_delay_the_others(store: Store, catalogue: Catalogue,
                                                  tmp_path: Path,
                                                  receiver: HttpReceiver) -> None:
    slow = receiver.answer("/duty", hang=True)
    world = World(store, catalogue, tmp_path,
                  config_text(slow, receiver.url + "/ops", timeout="5s"))
    world.level("call_handling", 3)
    world.alerter.step()  # the hanging receiver's notification is due first ...
    time.sleep(0.01)
    world.store.record_poll("cad-calls", function="call_handling", interval=30,
                            error="HTTP 503", at=world.now)
    world.alerter.step()  # ... then ops'
    world.dispatcher.start()
    started = time.monotonic()
    try:
        world.dispatcher.wake()
        deadline = time.monotonic() + 4
        while not receiver.received("/ops") and time.monotonic() < deadline:
            time.sleep(0.02)
        # the hanging receiver holds its own thread for 5 s, not ops'
        assert receiver.received("/ops"), "ops waited behind the hanging receiver"
        assert time.monotonic() - started < 4
        while not receiver.received("/duty") and time.monotonic() < deadline + 2:
            time.sleep(0.02)
        assert receiver.received("/duty")  # it was tried too, and hangs meanwhile
    finally:
        receiver.closing.set()
        world.dispatcher.stop()


def test_backoff_doubles_with_jitter_up_to_a_minute() -> None:
    import random

    rng = random.Random(1)
    values = [backoff(n, rng) for n in range(1, 10)]
    assert 0.5 <= values[0] <= 1.0
    assert all(b <= 60.0 for b in values) and values[-1] >= 30.0
    assert len({round(backoff(3, rng), 6) for _ in range(20)}) > 1  # jitter


def test_a_standing_dispatcher_delivers_what_the_alerter_queues_at_once(
        store: Store, catalogue: Catalogue, tmp_path: Path, receiver: HttpReceiver) -> None:
    world = World(store, catalogue, tmp_path, config_text(receiver.url + "/duty"))
    world.alerter.wake_dispatcher = world.dispatcher.wake
    world.dispatcher.start()
    try:
        got = threading.Event()
        world.level("call_handling", 3)
        started = time.monotonic()
        world.alerter.step()
        while not receiver.received("/duty") and time.monotonic() - started < 5:
            time.sleep(0.005)
        got.set()
        assert receiver.received("/duty")
        assert time.monotonic() - started < 1.0  # woken, not waiting for its next look
    finally:
        world.dispatcher.stop()
