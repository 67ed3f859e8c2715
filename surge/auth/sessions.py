"""Signed-in sessions, kept in the store so that they can be ended on the server at once.

A browser's session cookie carries a random id; the store keeps a record under the id's
sha256 (so a copy of the database lets nobody in): who (a user or a wall screen), when it
began, when and from where it was last seen. Every request checks that the record is still
there. Signing out deletes it; so do disabling a user, changing their role or password,
revoking a screen, and ``surge users sessions NAME --end``. A user's record expires by
itself at the absolute timeout; a screen's lasts until it is ended.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from surge.auth.audit import Actor, record
from surge.store import Store

__all__ = ["KINDS", "SEEN_EVERY", "Session", "Sessions"]

KINDS = ("user", "screen")
SEEN_EVERY = 60.0  # seconds between writes of a session's last_seen and address


@dataclass(frozen=True)
class Session:
    """One live session, as `surge users sessions` lists it (never its id)."""

    ref: str  # the first characters of the id's sha256: enough to tell sessions apart
    kind: str  # "user" or "screen"
    name: str
    created: float
    last_seen: float
    address: str

    @property
    def who(self) -> str:
        """As the audit trail names them: the user, or ``screen:NAME``."""
        return f"screen:{self.name}" if self.kind == "screen" else self.name


class Sessions:
    """Starts, checks, lists and ends sessions in the store."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def start(self, kind: str, name: str, *, address: str, lasts: float | None) -> str:
        """A new session; returns its id, for the browser's cookie only (the store keeps its
        sha256). ``lasts``: seconds until it ends by itself (None: until it is ended)."""
        _check_kind(kind)
        sid = secrets.token_urlsafe(32)
        now = f"{self.clock():.3f}"
        self.store.create_session(_digest(sid), kind, name, {
            "kind": kind, "name": name, "created": now, "last_seen": now, "address": address,
        }, lasts)
        return sid

    def check(self, sid: str, kind: str, name: str, *, address: str) -> bool:
        """Whether the session ``sid`` is live and is ``kind`` ``name``; notes when and from
        where it was seen (at most every SEEN_EVERY seconds)."""
        if not sid or len(sid) > 200:
            return False
        digest = _digest(sid)
        row = self.store.session_record(digest)
        if row.get("kind") != kind or row.get("name") != name:
            return False
        now = self.clock()
        if now - float(row.get("last_seen", 0)) >= SEEN_EVERY or row.get("address") != address:
            return self.store.touch_session(digest, {"last_seen": f"{now:.3f}",
                                                     "address": address})
        return True

    def end(self, sid: str, kind: str, name: str) -> bool:
        """End one session (signing out); False if it had already ended."""
        return bool(sid) and self.store.end_session(_digest(sid), kind, name)

    def list(self, kind: str, name: str) -> list[Session]:
        """The live sessions of a user or screen, oldest first."""
        _check_kind(kind)
        return [Session(ref=digest[:12], kind=kind, name=name,
                        created=float(row.get("created", 0)),
                        last_seen=float(row.get("last_seen", 0)),
                        address=row.get("address", ""))
                for digest, row in self.store.owner_sessions(kind, name).items()]

    def end_all(self, kind: str, name: str, *, by: Actor | None = None) -> int:
        """End every session of a user or screen now; how many there were. With ``by``,
        recorded on the audit trail (``sessions_ended``); without, the caller's own change
        (a user disabled, a screen revoked) is the record."""
        _check_kind(kind)
        ended = self.store.end_sessions(kind, name)
        if by is not None and kind == "user":
            record(self.store, "sessions_ended", by, target=name, count=ended)
        elif by is not None:
            record(self.store, "sessions_ended", by, screen=name, count=ended)
        return ended


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown session kind {kind!r}; kinds: {', '.join(KINDS)}")


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()
