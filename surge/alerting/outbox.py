"""Delivering the outbox: every notification is stored before it is sent, sent at least
once, and every attempt's outcome is kept with it.

One thread per receiver, so a receiver that is slow or down never delays the others. A
notification is claimed for HOLD seconds before it is sent: if this process dies at any
point, it falls due again and is sent by whichever worker is active then, with the same
idempotency key (receivers that honour the key see it once; an email carries it as its
Message-ID). Failed attempts are retried with exponential backoff and jitter; a
notification still undelivered after the route's ``delivery_max_age``, or refused for good
(a 4xx, a bad address), is marked failed, put on the record, and raises a ``delivery``
alert, which the routes send to whoever is to hear about it. Outbox times are real time.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from surge.alerting.book import AlertBook, Notification
from surge.alerting.channels import Message, Outcome, deliver
from surge.alerting.config import AlertingConfig, Receiver
from surge.errors import StoreUnavailable
from surge.events import Event, NotificationFailed, NotificationSent
from surge.store import Store

__all__ = ["HOLD", "Dispatcher", "backoff"]

log = logging.getLogger(__name__)
HOLD = 30.0  # real seconds a claimed notification waits before it may be claimed again
FIRST_RETRY = 1.0  # real seconds before the first retry; doubled each time
MAX_RETRY = 60.0
TARGETS = ("email", "webhook", "alertmanager")

Deliver = Callable[..., Mapping[str, Outcome]]


def backoff(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds before retry ``attempt`` (1, 2, ...): doubling to MAX_RETRY, with jitter
    (50-100% of it), so receivers coming back are not hit by every sender at once."""
    base = min(MAX_RETRY, FIRST_RETRY * 2 ** (attempt - 1))
    return base * (rng or random).uniform(0.5, 1.0)


class Dispatcher:
    """Sends what the outbox holds, while this worker is active."""

    def __init__(self, store: Store, config: Callable[[], AlertingConfig | None], *,
                 smtp_url: Callable[[], str | None], publish: Callable[[Event], object],
                 clock: Callable[[], float], send: Deliver = deliver,
                 hold: float = HOLD) -> None:
        self.book = AlertBook(store)
        self.hold = hold
        self.config = config
        self.smtp_url = smtp_url
        self.publish = publish
        self.clock = clock  # Surge time, for the events
        self.send = send
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._queues: dict[str, queue.Queue[Notification | None]] = {}
        self._threads: list[threading.Thread] = []
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        thread = threading.Thread(target=self._loop, name="alert-dispatcher", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        with self._lock:
            for q in self._queues.values():
                q.put(None)
        for thread in self._threads:
            thread.join(timeout=15)

    def wake(self) -> None:
        """Something was put in the outbox: look now."""
        self._wake.set()

    # --- the claiming loop ---------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            wait = 1.0
            try:
                self.claim(time.time())
                due = self.book.next_due()
                if due is not None:
                    wait = min(1.0, max(0.0, due - time.time()))
            except StoreUnavailable as exc:
                log.error("alert outbox: %s", exc)
            except Exception:
                log.exception("alert outbox: claiming failed")
            self._wake.wait(wait)
            self._wake.clear()

    def claim(self, now: float) -> int:
        """Hand every due notification to its receiver's thread; returns how many."""
        handed = 0
        for notification in self.book.claim_due(now, self.hold):
            with self._lock:
                if notification.id in self._in_flight:
                    continue  # (still being sent: the claim only kept it held)
                self._in_flight.add(notification.id)
                q = self._queues.get(notification.receiver)
                if q is None:
                    q = self._queues[notification.receiver] = queue.Queue()
                    thread = threading.Thread(target=self._receiver_loop, args=(q,),
                                              name=f"alert-send-{notification.receiver}",
                                              daemon=True)
                    thread.start()
                    self._threads.append(thread)
            q.put(notification)
            handed += 1
        return handed

    def _receiver_loop(self, q: queue.Queue[Notification | None]) -> None:
        while True:
            notification = q.get()
            if notification is None:
                return
            try:
                self.attempt(notification)
            except StoreUnavailable as exc:  # its claim lapses and it is tried again
                log.error("alert outbox: %s", exc)
            except Exception:
                log.exception("alert outbox: sending %s failed", notification.id)
            finally:
                with self._lock:
                    self._in_flight.discard(notification.id)

    # --- one attempt ------------------------------------------------------------------------

    def attempt(self, notification: Notification) -> Notification:
        """Send ``notification`` to the targets that have not taken it yet, and record the
        outcome: delivered, due again later, or failed."""
        config = self.config()
        receiver = config.receivers.get(notification.receiver) if config else None
        now = time.time()
        if receiver is None:
            return self._give_up(notification, now, "its receiver is no longer in the "
                                                     "alerting config", [])
        taken: dict[str, Any] = {t: None for t in TARGETS if t in notification.done_targets}
        remaining = replace(receiver, **taken)
        messages = [Message(**_message_fields(m)) for m in notification.messages]
        outcomes = dict(self.send(remaining, messages, smtp_url=self.smtp_url()))
        now = time.time()
        attempts = notification.attempts + tuple(
            {"at": round(now, 3), "target": target, "ok": o.ok, "retry": o.retry,
             "status": o.status, "detail": o.detail[:300]} for target, o in outcomes.items())
        done = notification.done_targets + tuple(t for t, o in outcomes.items() if o.ok)
        notification = replace(notification, attempts=attempts, done_targets=done)
        failed = {t: o for t, o in outcomes.items() if not o.ok}
        if not failed:
            return self._delivered(notification, now)
        permanent = [f"{t}: {o.detail}" for t, o in failed.items() if not o.retry]
        timing = config.timing if config else None
        max_age = timing.delivery_max_age if timing else 900.0
        tries = sum(1 for a in attempts if not a["ok"])
        if permanent:
            return self._give_up(notification, now, "; ".join(permanent), attempts)
        if now - notification.created >= max_age:
            detail = "; ".join(f"{t}: {o.detail}" for t, o in failed.items())
            return self._give_up(notification, now, f"still failing after "
                                                     f"{int(max_age // 60)} min ({detail})",
                                 attempts)
        notification = replace(notification, next_at=now + backoff(tries))
        self.book.record_attempt(notification)
        log.warning("alert notification %s to %s failed (%s); retrying in %.0f s",
                    notification.id, notification.receiver,
                    "; ".join(f"{t}: {o.detail}" for t, o in failed.items()),
                    (notification.next_at or now) - now)
        return notification

    def _delivered(self, notification: Notification, now: float) -> Notification:
        notification = replace(notification, state="delivered", next_at=None)
        self.book.record_attempt(notification)
        self.publish(NotificationSent(
            ts=self.clock(), notification=notification.id, receiver=notification.receiver,
            alerts=notification.alerts, status=_statuses(notification.messages),
            attempts=len({a["at"] for a in notification.attempts}),
            delay=round(now - notification.created, 3)))
        with contextlib.suppress(StoreUnavailable):  # it works again: no delivery alert
            self.book.clear_condition(f"delivery:{notification.receiver}")
        return notification

    def _give_up(self, notification: Notification, now: float, detail: str,
                 attempts: Sequence[Mapping[str, Any]]) -> Notification:
        notification = replace(notification, state="failed", next_at=None)
        self.book.record_attempt(notification)
        self.publish(NotificationFailed(
            ts=self.clock(), notification=notification.id, receiver=notification.receiver,
            alerts=notification.alerts, status=_statuses(notification.messages),
            attempts=len({a["at"] for a in attempts}), detail=detail[:500]))
        log.error("alert notification %s to %s FAILED: %s", notification.id,
                  notification.receiver, detail)
        if not any(m.get("kind") == "delivery" for m in notification.messages):
            # (a failed delivery alert does not raise another: no loop)
            self.book.raise_condition(f"delivery:{notification.receiver}", {
                "kind": "delivery", "name": notification.receiver,
                "title": f"Alerts to {notification.receiver} are not getting through",
                "reason": detail[:300], "since": self.clock()})
        return notification


def _message_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    names = set(Message.__dataclass_fields__)
    return {k: v for k, v in data.items() if k in names}


def _statuses(messages: Sequence[Mapping[str, Any]]) -> str:
    return ",".join(dict.fromkeys(str(m.get("status", "")) for m in messages))


def receiver_targets(receiver: Receiver) -> tuple[str, ...]:
    return tuple(t for t in TARGETS if getattr(receiver, t) is not None)
