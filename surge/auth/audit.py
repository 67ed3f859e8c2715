"""The audit trail: who changed what, from where, when; and who is acting (Actor).

Every state-changing action appends one typed event, ``surge.events.AuditEntry`` (kind
"audit"), to the events stream, the one timeline of record; nothing edits or deletes it. An
entry holds ``action``, ``user``, ``role`` and ``address`` of whoever acted, ``via`` (page,
api or cli) for an action, ``ok`` (False for a refusal), and what changed (for example
``target`` for the user acted on, ``screen`` for a screen, ``reason`` for a failed login).
Passwords and tokens are never part of an entry.

This is the floor of surge.auth: it imports nothing else from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from surge.events import ENVELOPE, AuditEntry, Recorder, ok_by_default, read_events
from surge.store import Store

__all__ = ["AUDIT", "Actor", "Via", "audit_events", "record"]

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

    The entry is marked ``exercise`` when the store's clock is an exercise's."""
    leaked = _SECRET_FIELDS.intersection(details)
    if leaked:  # a programming error, caught by tests: secrets never enter the timeline
        raise ValueError(f"audit details must not carry secrets: {sorted(leaked)}")
    clash = _RESERVED.intersection(details)
    if clash:  # a detail must not pass itself off as who acted
        raise ValueError(f"audit details must not be named {sorted(clash)}")
    recorder = Recorder(store)
    return recorder.record(AuditEntry(
        ts=recorder.now() if at is None else at, action=action, user=actor.name,
        role=actor.role, address=actor.address, via=actor.via, ok=ok_by_default(action),
        details=details)).id


def audit_events(store: Store, start: float | None = None, end: float | None = None,
                 user: str | None = None) -> list[AuditEntry]:
    """Audit entries in the order recorded, with start <= ts <= end, by or about ``user``."""
    out = []
    for event in read_events(store, start=start, end=end, kinds=[AuditEntry]):
        if not isinstance(event, AuditEntry):
            continue  # of a newer schema than this code reads: `surge events` shows it
        if user is not None and user not in (event.user, event.details.get("target")):
            continue
        out.append(event)
    return out
