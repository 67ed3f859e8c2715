"""The one alert the active worker cannot send: that there is no active worker.

Watched from outside it, by every web process and every standby worker. When nobody has
held the worker lease for ``after`` seconds (real time: process liveness is real), the first
watcher to claim it (one key, set if absent) raises a ``worker`` alert and sends it itself,
retrying until it is delivered or too old. When a worker is active again, its alerter finds
the alert's cause gone and resolves it, telling everyone who was told.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable

from surge import keys
from surge.alerting.book import Alert, AlertBook, Notification
from surge.alerting.lifecycle import message_of, severity_of
from surge.alerting.outbox import Dispatcher, backoff
from surge.alerting.service import ConfigSource
from surge.errors import StoreUnavailable
from surge.events import AlertFiring, Recorder
from surge.settings import Settings
from surge.store import Store

__all__ = ["NO_WORKER_AFTER", "WorkerWatch"]

log = logging.getLogger(__name__)
NO_WORKER_AFTER = 60.0  # real seconds without an active worker before anyone is alerted
CHECK_EVERY = 5.0
KEY = "worker:worker"


class WorkerWatch:
    """Checks every CHECK_EVERY seconds, in a thread of its own, while the process runs."""

    def __init__(self, store: Store, settings: Settings, clock: Callable[[], float], *,
                 after: float = NO_WORKER_AFTER, check_every: float = CHECK_EVERY,
                 exercise: Callable[[], bool] = lambda: False, who: str = "") -> None:
        self.store = store
        self.book = AlertBook(store)
        self.clock = clock
        self.after = after
        self.check_every = check_every
        self.exercise = exercise
        self.who = who or f"watch-{uuid.uuid4().hex[:8]}"
        self.config = ConfigSource(settings.alerting, self.book, clock)
        self.recorder = Recorder(store, clock)
        self.dispatcher = Dispatcher(store, self.config, smtp_url=lambda: settings.smtp_url,
                                     publish=self.recorder.record, clock=clock)
        self.public_url = settings.link_base.rstrip("/")
        self._missing_since: float | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="worker-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stopping.wait(self.check_every):
            try:
                self.check(time.monotonic())
            except StoreUnavailable:
                self._missing_since = None  # the store's own banner says so; not this
            except Exception:
                log.exception("worker watch failed")

    def check(self, now: float) -> Notification | None:
        """Raise and send the alert if the lease has been free ``after`` seconds; the
        notification sent, if this watcher sent one."""
        if self.store.lease_holder() is not None:
            self._missing_since = None
            return None
        if self._missing_since is None:
            self._missing_since = now
        if now - self._missing_since < self.after:
            return None
        config = self.config()
        if config is None:
            return None
        if any(a.key == KEY for a in self.book.active().values()):
            return None  # raised already (by this watcher or another)
        claimed = self.store.client.set(keys.WORKER_ALERT_CLAIM, self.who, nx=True, ex=3600)
        if not claimed:
            return None
        routes = config.routes_for("worker", "worker", None, None, None)
        if not routes:
            return None
        at = self.clock()
        minutes = int((now - self._missing_since) // 60) or 1
        receivers = tuple(dict.fromkeys(r.receiver for r in routes))
        alert = Alert(id="al-" + uuid.uuid4().hex[:10], key=KEY, kind="worker", name="worker",
                      title="No active worker: levels are not being worked out",
                      level=None, level_name=None, severity=severity_of("worker", None),
                      reason=f"no worker has held the lease for {minutes} min: feeds are not "
                             f"polled and rules are not evaluated",
                      since=at - (now - self._missing_since), fired_at=at,
                      exercise=self.exercise(), receivers=receivers, notified=receivers,
                      unacked_since=at, last_notified=at,
                      repeat_interval=routes[0].timing.repeat_interval,
                      ack_timeout=routes[0].timing.ack_timeout)
        self.book.save(alert)
        self.recorder.record(AlertFiring(ts=at, alert=alert.id, name="worker",
                                         severity=alert.severity, summary=alert.reason,
                                         channels=receivers))
        message = message_of(alert, "firing", at, self.public_url)
        sent = None
        for receiver in receivers:
            nid = "n-" + uuid.uuid4().hex[:16]
            notification = Notification(
                id=nid, receiver=receiver,
                messages=({**message, "idempotency_key": f"{nid}:{alert.id}"},),
                created=time.time(), next_at=time.time(), exercise=alert.exercise,
                alerts=(alert.id,))
            self.book.enqueue(notification)
            sent = self._send(notification)
        return sent

    def _send(self, notification: Notification) -> Notification:
        """Attempt until delivered or given up: nobody else is sending just now."""
        tries = 0
        while notification.state == "pending" and not self._stopping.is_set():
            with contextlib.suppress(StoreUnavailable):
                notification = self.dispatcher.attempt(notification)
            tries += 1
            if notification.state == "pending":
                self._stopping.wait(backoff(tries))
        return notification
