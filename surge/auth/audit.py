"""The audit trail: who changed what, from where, when; and who is acting (Actor).

Every state-changing action appends one typed event, ``surge.events.AuditEntry`` (kind
"audit"), to the events stream, the one timeline of record; nothing edits or deletes it. An
entry holds ``action``, ``user``, ``role`` and ``address`` of whoever acted, ``via`` (page,
api or cli) for an action, ``ok`` (False for a refusal), and what changed (for example
``target`` for the user acted on, ``screen`` for a screen, ``reason`` for a failed login).
Passwords and tokens are never part of an entry.

A refusal that anyone can repeat at will (a bad screen link, a throttled sign-in, a forged
cookie) is recorded with ``record_repeated``: the first from an address in a window of
REPEAT_WINDOW is recorded at once; the repeats are counted in the store and recorded as one
entry with ``count`` when the window has closed (at the next such refusal from anywhere, or
when the trail is read), so one client cannot flood the trail.

This is the floor of surge.auth: it imports nothing else from it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from surge import keys
from surge.events import ENVELOPE, AuditEntry, Recorder, ok_by_default, read_events
from surge.store import Store

__all__ = ["AUDIT", "REPEAT_WINDOW", "Actor", "Via", "audit_events", "flush_repeats", "record",
           "record_repeated"]

REPEAT_WINDOW = 300.0  # seconds: repeats of one refusal from one address make one entry

AUDIT = AuditEntry.kind
_SECRET_FIELDS = frozenset({"password", "token", "hash", "secret", "password_hash"})
_RESERVED = frozenset({*ENVELOPE, "action", "user", "role", "address", "via", "ok", "details"})

Via = Literal["page", "api", "cli"]


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user's name (or ``screen:NAME``, or ``cli:{os user}`` for the local
    operator), their role, their address, and which door they came through (``via``: a
    page, the HTTP API or the CLI; None for signing in and out)."""

    name: str
    role: str
    address: str = ""
    via: Via | None = None

    @property
    def user(self) -> str:
        """The name, as the audit entry's ``user`` field."""
        return self.name

    @property
    def label(self) -> str:
        """``name via door`` (or the name alone), as the worker's log and events say who."""
        return f"{self.name} via {self.via}" if self.via else self.name


def record(store: Store, action: str, actor: Actor, *, at: float | None = None,
           **details: Any) -> str:
    """Append one audit entry and return its event id; ``at`` defaults to the store's clock.

    The entry is marked ``exercise`` when the store's clock is an exercise's. During an
    exercise the entry takes the exercise's time whatever ``at`` says: callers time sign-ins
    and account changes on real time (their security clock), but the timeline is one clock,
    and a real time among exercise times would put every later event out of its time range."""
    leaked = _SECRET_FIELDS.intersection(details)
    if leaked:  # a programming error, caught by tests: secrets never enter the timeline
        raise ValueError(f"audit details must not carry secrets: {sorted(leaked)}")
    clash = _RESERVED.intersection(details)
    if clash:  # a detail must not pass itself off as who acted
        raise ValueError(f"audit details must not be named {sorted(clash)}")
    recorder = Recorder(store)
    return recorder.record(AuditEntry(
        ts=recorder.now() if at is None or recorder.exercise else at, action=action, user=actor.name,
        role=actor.role, address=actor.address, via=actor.via, ok=ok_by_default(action),
        details=details)).id


def record_repeated(store: Store, action: str, actor: Actor, *, now: float | None = None,
                    **details: Any) -> str | None:
    """Record a refusal anyone can repeat: the first of its kind from ``actor.address`` in
    REPEAT_WINDOW seconds now (its event id), the rest counted (None) and recorded together
    when the window closes. ``now``: real time (the sign-in clock), not an exercise's."""
    now = time.time() if now is None else now
    entry = json.dumps({"action": action, "user": actor.name, "role": actor.role,
                        "address": actor.address, "details": details}, default=str)
    opens, closed = store.note_repeat(keys.audit_repeat(action, actor.address), now=now,
                                      window=REPEAT_WINDOW, entry=entry)
    if closed is not None:
        _record_count(store, closed)
    flush_repeats(store, now=now)
    return record(store, action, actor, **details) if opens else None


def flush_repeats(store: Store, now: float | None = None) -> int:
    """Record the counts of every repeat window that has closed; how many were recorded."""
    now = time.time() if now is None else now
    closed = store.take_closed_repeats(now - REPEAT_WINDOW)
    return sum(_record_count(store, row) for row in closed)


def _record_count(store: Store, row: dict[str, str]) -> int:
    """One entry for a closed window's repeats (none when there were none)."""
    count = int(row.get("count", 0))
    if count < 1:
        return 0
    entry = json.loads(row["entry"])
    first, last = float(row["start"]), float(row["last"])
    record(store, entry["action"], Actor(entry["user"], entry["role"], entry["address"]),
           at=last, **entry["details"], count=count, window=_minutes(REPEAT_WINDOW),
           first=_iso(first), last=_iso(last),
           summary=f"repeated {count:,} more times from {entry['address']} in "
                   f"{_minutes(REPEAT_WINDOW)}")
    return 1


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def audit_events(store: Store, start: float | None = None, end: float | None = None,
                 user: str | None = None) -> list[AuditEntry]:
    """Audit entries in the order recorded, with start <= ts <= end, by or about ``user``
    (counts of repeated refusals whose window has closed are recorded first)."""
    flush_repeats(store)
    out = []
    for event in read_events(store, start=start, end=end, kinds=[AuditEntry]):
        if not isinstance(event, AuditEntry):
            continue  # of a newer schema than this code reads: `surge events` shows it
        if user is not None and user not in (event.user, event.details.get("target")):
            continue
        out.append(event)
    return out
