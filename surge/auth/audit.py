"""The audit trail: who changed what, from where, when; and who is acting (Actor).

Every state-changing action appends one event of kind "audit" to the events stream, the
one timeline of record; nothing edits or deletes it. An entry holds ``action``, ``user``,
``role`` and ``address`` of whoever acted, ``via`` (page, api or cli) for an action, and
what changed (for example ``target`` for the user acted on, ``screen`` for a screen,
``reason`` for a failed login). Passwords and tokens are never part of an entry.

This is the floor of surge.auth: it imports nothing else from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from surge.store import Event, Store

__all__ = ["AUDIT", "Actor", "Via", "audit_events", "record"]

AUDIT = "audit"  # the event kind
_SECRET_FIELDS = frozenset({"password", "token", "hash", "secret", "password_hash"})

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
    """Append one audit entry and return its event id; ``at`` defaults to the store's clock."""
    leaked = _SECRET_FIELDS.intersection(details)
    if leaked:  # a programming error, caught by tests: secrets never enter the timeline
        raise ValueError(f"audit details must not carry secrets: {sorted(leaked)}")
    data = {"action": action, "user": actor.name, "role": actor.role,
            "address": actor.address, **({"via": actor.via} if actor.via else {}), **details}
    return store.append_event(AUDIT, data, at=at)


def audit_events(store: Store, start: float | None = None, end: float | None = None,
                 user: str | None = None) -> list[Event]:
    """Audit entries in the order recorded, with start <= at <= end, by or about ``user``."""
    out = []
    for event in store.events(kinds=[AUDIT]):
        if start is not None and event.at < start:
            continue
        if end is not None and event.at > end:
            continue
        if user is not None and user not in (event.data.get("user"), event.data.get("target")):
            continue
        out.append(event)
    return out
