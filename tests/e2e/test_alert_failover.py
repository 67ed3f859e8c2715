"""A worker SIGKILLed while it is sending an alert: the standby that takes over sends it,
with the same idempotency key, and nobody is told anything twice beyond that key.

Real processes (`surge worker` x2 on the major-incident scenario at x60, as shipped, with
the shipped rules), a real store, and a real HTTP receiver that hangs on the first worker's
request until the worker is dead."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from surge.alerting.book import AlertBook
from surge.events import NotificationSent, read_events
from surge.store import Store
from tests.alerting.servers import HttpReceiver
from tests.e2e.conftest import REPO, SURGE, _env
from tests.e2e.test_failover import server, wait  # noqa: F401  (server: the fixture)

pytestmark = pytest.mark.slow

ALERTING = """
defaults: {{group_wait: 0s, repeat_interval: 6h, ack_timeout: 6h}}
receivers:
  - name: duty-managers
    webhook: {{url: "{url}", timeout: 2m}}
routes:
  - match: {{kind: level, min_level: 3, name: call_handling}}
    receiver: duty-managers
"""


def start_worker(url: str, config: Path, log: Path) -> subprocess.Popen:
    env = _env(SURGE_REDIS_URL=url, SURGE_ALERTING=str(config))
    return subprocess.Popen([SURGE, "worker", "--scenario", "major-incident", "--speed", "60"],
                            cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def test_an_alert_being_sent_by_a_killed_worker_is_sent_by_the_next_with_the_same_key(
        server: str, tmp_path: Path) -> None:  # noqa: F811
    store = Store(redis.Redis.from_url(server))
    config = tmp_path / "alerting.yaml"
    with HttpReceiver() as receiver:
        hook = receiver.answer("/duty", hang=True)  # the first worker's send never returns
        config.write_text(ALERTING.format(url=hook))
        first = start_worker(server, config, tmp_path / "first.log")
        second: subprocess.Popen | None = None
        try:
            wait(lambda: receiver.received("/duty"), 120, "the first alert being sent")
            (hanging,) = receiver.received("/duty")
            key = hanging.headers["idempotency-key"]
            assert hanging.json()["status"] == "firing"
            os.killpg(first.pid, signal.SIGKILL)  # between sending and recording
            first.wait(10)
            receiver.answer("/duty", 200)  # the receiver is well again
            second = start_worker(server, config, tmp_path / "second.log")
            # (the alert may also rise meanwhile: a new notification, with its own key)
            wait(lambda: sum(r.headers["idempotency-key"] == key
                             for r in receiver.received("/duty")) >= 2, 90,
                 "the standby sending what the killed worker was sending")
            time.sleep(3)  # anything else it might (wrongly) send, it would have by now
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0, (tmp_path / "second.log").read_text()[-3000:]
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
        requests = receiver.received("/duty")
    keys = Counter(r.headers["idempotency-key"] for r in requests)
    assert keys[key] == 2, keys  # the one cut short, and the one that got through
    assert all(n == 1 for k, n in keys.items() if k != key), keys  # nothing else twice
    bodies = [r.json() for r in requests if r.headers["idempotency-key"] == key]
    assert bodies[0] == bodies[1]  # the same notification, as stored before it was sent
    (sent,) = [e for e in read_events(store, kinds=[NotificationSent])
               if e.notification == key.split(":")[0]]
    assert sent.attempts >= 1
    (stored,) = [n for n in AlertBook(store).notifications() if n.id == sent.notification]
    assert stored.state == "delivered"
