"""The audit trail (who changed what, from where, when) and the first-start demo login.

Every state-changing action appends one event of kind "audit" to the events stream, the
one timeline of record; nothing edits or deletes it. An entry holds ``action``, ``user``,
``role`` and ``address`` of whoever acted, and what changed (for example ``target`` for
the user acted on, ``screen`` for a screen, ``reason`` for a failed login). Passwords and
tokens are never part of an entry.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from surge.errors import SurgeError
from surge.store import Event, Store

__all__ = ["AUDIT", "Actor", "audit_events", "ensure_demo_login", "record", "screen_url"]

AUDIT = "audit"  # the event kind
DEMO_SCREEN = "Demo wall screen"
_SECRET_FIELDS = frozenset({"password", "token", "hash", "secret", "password_hash"})


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user (or ``cli:{os user}`` for the CLI), their role and address."""

    user: str
    role: str
    address: str


def record(store: Store, action: str, actor: Actor, *, at: float | None = None,
           **details: Any) -> None:
    """Append one audit entry; ``at`` defaults to the store's clock."""
    leaked = _SECRET_FIELDS.intersection(details)
    if leaked:  # a programming error, caught by tests: secrets never enter the timeline
        raise ValueError(f"audit details must not carry secrets: {sorted(leaked)}")
    data = {"action": action, "user": actor.user, "role": actor.role,
            "address": actor.address, **details}
    store.append_event(AUDIT, data, at=at)


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


def screen_url(base_url: str, token: str) -> str:
    """The address a wall screen opens to sign in (the web side serves /screen/<token>)."""
    return f"{base_url.rstrip('/')}/screen/{token}"


def ensure_demo_login(store: Store, base_url: str) -> tuple[str, str, str] | None:
    """On first start (no users at all): an ``admin`` user with a random password and a
    demo wall screen; returns (user, password, screen URL) to print once. None otherwise:
    an existing store is never given a default or reset password."""
    from surge.auth.screens import Screens
    from surge.auth.users import Users

    users = Users(store)
    if users.list():
        return None
    actor = Actor("surge run (first start)", "admin", "local")
    password = secrets.token_urlsafe(18)  # 24 characters, 144 bits
    try:
        users.add("admin", "admin", password, by=actor)
    except SurgeError:  # another process got there first
        return None
    screens = Screens(store)
    live = {s.name for s in screens.list() if not s.revoked}
    name = next(n for n in (DEMO_SCREEN, *(f"{DEMO_SCREEN} {i}" for i in range(2, 1000)))
                if n not in live)
    token = screens.add(name, by=actor)
    return "admin", password, screen_url(base_url, token)
