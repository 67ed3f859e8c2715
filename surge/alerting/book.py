"""Where alerts live in the store: active and resolved alerts, acknowledgements, silences,
conditions raised by events, the messages waiting for group_wait, and the outbox.

Who writes what (so that no two writers read-modify-write the same record):

- the active worker's alerter (surge/alerting/lifecycle.py): alerts, conditions, groups,
  and new notifications in the outbox;
- the actions (surge.actions: acknowledge, silence): acknowledgements and silences, each
  in its own hash, read by the alerter;
- the dispatcher (surge/alerting/outbox.py): the outcome of each delivery attempt.

Alert times (fired, escalations, acknowledgements) are Surge time (an exercise's clock);
the outbox's retry times are real time, as delivery happens in the real world.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, TypeVar

import redis

from surge import keys
from surge.errors import StoreUnavailable, SurgeError
from surge.store import Store

__all__ = ["RESOLVED_KEPT", "Ack", "Alert", "AlertBook", "Notification", "RecordUnreadable",
           "Silence", "dump"]

RESOLVED_KEPT = 2000  # resolved alerts kept for /alerts' history (the events keep them all)
DONE_KEPT_MS = 7 * 86400 * 1000  # delivered or failed notifications kept this long
T = TypeVar("T")


class RecordUnreadable(SurgeError):
    """A record in the store does not read as what it should be (written by hand, or by
    another version): said, never taken for something else."""


def _load(cls: type[T], text: str | bytes) -> T:
    try:
        data = json.loads(text)
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: (tuple(v) if isinstance(v, list) else v)
                      for k, v in data.items() if k in names})
    except (ValueError, TypeError, AttributeError) as exc:
        raise RecordUnreadable(f"a {cls.__name__.lower()} record in the store does not "
                               f"read: {exc}") from None


def dump(record: Any) -> str:
    """A record as stored: compact JSON of its fields."""
    return json.dumps(asdict(record), separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class Alert:
    """One alert, from firing to resolved."""

    id: str
    key: str  # "kind:name": one active alert per key
    kind: str
    name: str
    title: str
    level: int | None
    level_name: str | None
    severity: str
    reason: str
    since: float  # when its cause began (Surge time)
    fired_at: float  # when it fired
    site: str | None = None
    function: str | None = None
    exercise: bool = False
    receivers: tuple[str, ...] = ()  # told when it fired (its routes' receivers)
    notified: tuple[str, ...] = ()  # everyone told so far (they are told it resolved)
    chain: tuple[tuple[float, str], ...] = ()  # escalation steps: (after, receiver)
    step: int = 0  # escalation steps taken
    unacked_total: float = 0.0  # Surge seconds unacknowledged before unacked_since
    unacked_since: float | None = None  # None while acknowledged
    acked_by: str | None = None
    acked_at: float | None = None
    ack_note: str | None = None
    ack_expires: float | None = None
    last_notified: float | None = None
    repeat_interval: float = 1800.0
    ack_timeout: float = 1800.0
    silenced: str | None = None  # the silence in force when last looked at
    withheld: tuple[str, ...] = ()  # receivers not told because of a silence: told after
    resolved_at: float | None = None
    resolved_reason: str | None = None

    def unacked_for(self, now: float) -> float:
        """Surge seconds it has been firing without a live acknowledgement."""
        running = now - self.unacked_since if self.unacked_since is not None else 0.0
        return self.unacked_total + max(0.0, running)

    @property
    def next_step(self) -> tuple[float, str] | None:
        return self.chain[self.step] if self.step < len(self.chain) else None

    def next_escalation(self, now: float) -> float | None:
        """Surge time of the next escalation, None if none is due (acknowledged, or the
        chain is done)."""
        step = self.next_step
        if step is None or self.unacked_since is None:
            return None
        return now + max(0.0, step[0] - self.unacked_for(now))


@dataclass(frozen=True)
class Ack:
    by: str
    role: str
    at: float
    note: str = ""
    via: str = ""


@dataclass(frozen=True)
class Silence:
    """Alerts matching ``matcher`` notify nobody until ``ends`` (Surge time)."""

    id: str
    matcher: Mapping[str, Any]  # kind, name, site, function, min_level
    ends: float
    reason: str
    by: str
    created: float

    def covers(self, alert: Alert, now: float) -> bool:
        if now >= self.ends:
            return False
        m = self.matcher
        checks = [("kind", alert.kind), ("name", alert.name), ("site", alert.site),
                  ("function", alert.function)]
        if any(m.get(k) is not None and m.get(k) != v for k, v in checks):
            return False
        low = m.get("min_level")
        return low is None or (alert.level is not None and alert.level >= int(low))


@dataclass(frozen=True)
class Notification:
    """One notification to one receiver: stored before it is sent, sent at least once."""

    id: str  # also the idempotency key: the same on every retry
    receiver: str
    messages: tuple[dict[str, Any], ...]  # surge.alerting.channels.Message fields
    created: float  # real time (epoch s)
    state: str = "pending"  # pending, delivered, failed
    attempts: tuple[dict[str, Any], ...] = ()  # {at, ok, detail, target}
    next_at: float | None = None  # real time of the next attempt
    done_targets: tuple[str, ...] = ()  # targets (email, webhook, ...) that took it already
    exercise: bool = False
    alerts: tuple[str, ...] = field(default=())


class AlertBook:
    """The alert records of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.client: Any = store.client  # (redis-py's types: bytes or str by connection)

    def _do(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"cannot reach {self.store.where}: {exc}") from None

    # --- alerts -----------------------------------------------------------------------

    def active(self) -> dict[str, Alert]:
        raw = self._do(self.client.hgetall, keys.ALERTS)
        return {k.decode(): _load(Alert, v) for k, v in raw.items()}

    def alert(self, alert_id: str) -> Alert | None:
        raw = self._do(self.client.hget, keys.ALERTS, alert_id)
        if raw is not None:
            return _load(Alert, raw)
        for entry in self._do(self.client.zrevrange, keys.ALERTS_RESOLVED, 0, -1):
            alert = _load(Alert, entry)
            if alert.id == alert_id:
                return alert
        return None

    def save(self, *alerts: Alert) -> None:
        if alerts:
            self._do(self.client.hset, keys.ALERTS,
                     mapping={a.id: dump(a) for a in alerts})

    def close(self, alert: Alert) -> None:
        """Move a resolved alert from the active ones to the history."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(keys.ALERTS, alert.id)
        pipe.hdel(keys.ALERT_ACKS, alert.id)
        pipe.zadd(keys.ALERTS_RESOLVED, {dump(alert): alert.resolved_at or 0.0})
        pipe.zremrangebyrank(keys.ALERTS_RESOLVED, 0, -RESOLVED_KEPT - 1)
        self._do(pipe.execute)

    def resolved(self, limit: int = 100) -> list[Alert]:
        raw = self._do(self.client.zrevrange, keys.ALERTS_RESOLVED, 0, limit - 1)
        return [_load(Alert, r) for r in raw]

    # --- acknowledgements and silences (written by surge.actions) ----------------------

    def acks(self) -> dict[str, Ack]:
        raw = self._do(self.client.hgetall, keys.ALERT_ACKS)
        return {k.decode(): _load(Ack, v) for k, v in raw.items()}

    def set_ack(self, alert_id: str, ack: Ack) -> None:
        self._do(self.client.hset, keys.ALERT_ACKS, alert_id, dump(ack))

    def silences(self) -> dict[str, Silence]:
        raw = self._do(self.client.hgetall, keys.SILENCES)
        return {k.decode(): _load(Silence, v) for k, v in raw.items()}

    def put_silence(self, silence: Silence) -> None:
        self._do(self.client.hset, keys.SILENCES, silence.id, dump(silence))

    def drop_silence(self, silence_id: str) -> bool:
        return bool(self._do(self.client.hdel, keys.SILENCES, silence_id))

    # --- conditions raised by events ------------------------------------------------------

    def conditions(self) -> dict[str, dict[str, Any]]:
        raw = self._do(self.client.hgetall, keys.ALERT_CONDITIONS)
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    def raise_condition(self, key: str, condition: Mapping[str, Any]) -> None:
        self._do(self.client.hset, keys.ALERT_CONDITIONS, key, json.dumps(dict(condition)))

    def clear_condition(self, key: str) -> None:
        self._do(self.client.hdel, keys.ALERT_CONDITIONS, key)

    # --- group_wait: messages waiting, per receiver -----------------------------------------

    def groups(self) -> dict[str, dict[str, Any]]:
        raw = self._do(self.client.hgetall, keys.ALERT_GROUPS)
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    def save_group(self, receiver: str, group: Mapping[str, Any]) -> None:
        self._do(self.client.hset, keys.ALERT_GROUPS, receiver, json.dumps(dict(group)))

    def flush_group(self, receiver: str, notification: Notification) -> None:
        """The group becomes one notification in the outbox: both in one transaction, so a
        worker killed here neither loses the messages nor sends them twice."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(keys.ALERT_GROUPS, receiver)
        pipe.hset(keys.OUTBOX, notification.id, dump(notification))
        pipe.zadd(keys.OUTBOX_DUE, {notification.id: int((notification.next_at or 0.0) * 1000)})
        self._do(pipe.execute)

    # --- the outbox --------------------------------------------------------------------------

    def enqueue(self, notification: Notification) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.OUTBOX, notification.id, dump(notification))
        pipe.zadd(keys.OUTBOX_DUE, {notification.id: int((notification.next_at or 0.0) * 1000)})
        self._do(pipe.execute)

    def claim_due(self, now: float, hold: float, limit: int = 100) -> list[Notification]:
        """Pending notifications due by ``now`` (real time), each held for ``hold`` seconds
        (another dispatcher skips them meanwhile; if this one dies they come due again)."""
        script = self.client.register_script(_CLAIM)
        ids = self._do(script, keys=[keys.OUTBOX_DUE],
                       args=[int(now * 1000), int((now + hold) * 1000), limit])
        if not ids:
            return []
        raw = self._do(self.client.hmget, keys.OUTBOX, ids)
        return [_load(Notification, r) for r in raw if r is not None]

    def record_attempt(self, notification: Notification) -> None:
        """Save a notification after an attempt: due again at ``next_at`` while pending."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.OUTBOX, notification.id, dump(notification))
        if notification.state == "pending":
            pipe.zadd(keys.OUTBOX_DUE, {notification.id: int((notification.next_at or 0) * 1000)})
        else:
            pipe.zrem(keys.OUTBOX_DUE, notification.id)
        self._do(pipe.execute)

    def notifications(self, ids: Iterable[str] | None = None) -> list[Notification]:
        if ids is None:
            raw = list(self._do(self.client.hvals, keys.OUTBOX))
        else:
            wanted = list(ids)
            raw = self._do(self.client.hmget, keys.OUTBOX, wanted) if wanted else []
        return sorted((_load(Notification, r) for r in raw if r is not None),
                      key=lambda n: n.created)

    def next_due(self) -> float | None:
        """Real time of the earliest pending attempt, None if nothing is pending."""
        first = self._do(self.client.zrange, keys.OUTBOX_DUE, 0, 0, withscores=True)
        return first[0][1] / 1000 if first else None

    def forget_done(self, now: float) -> int:
        """Delete delivered and failed notifications older than DONE_KEPT_MS."""
        old = [n.id for n in self.notifications()
               if n.state != "pending" and (now - n.created) * 1000 > DONE_KEPT_MS]
        if old:
            self._do(self.client.hdel, keys.OUTBOX, *old)
        return len(old)


def replace_alert(alert: Alert, **changes: Any) -> Alert:
    return replace(alert, **changes)


# KEYS[1] = the due zset. ARGV = now ms, hold-until ms, limit. Due ids, each moved to hold-until.
_CLAIM = r"""
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""
