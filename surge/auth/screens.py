"""Wall screens: read-only sign-in by a long random token in a URL, revocable at once.

Only the token's sha256 is stored, so a copy of the database cannot open a screen. A screen
signs in with the viewer role and does not expire with the idle timeout; revoking it deletes
its token, so the next request that presents the token gets None from ``resolve``, and ends
its sessions in the store (surge.auth.sessions) at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from surge.auth.audit import Actor, record
from surge.auth.sessions import Sessions
from surge.configfile import did_you_mean
from surge.errors import SurgeError
from surge.store import Store

__all__ = ["SEEN_EVERY", "Screen", "Screens", "screen_url"]

SEEN_EVERY = 30.0  # seconds between writes of last_seen/last_address for one screen
MAX_NAME = 80
MAX_TOKEN = 200  # real tokens are 43 characters; anything far longer is not worth hashing


@dataclass(frozen=True)
class Screen:
    name: str
    created: float
    last_seen: float | None
    last_address: str | None
    revoked: bool
    revoked_at: float | None


class Screens:
    """Adds, lists, revokes and resolves wall screens; changes are audited."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def add(self, name: str, *, by: Actor) -> str:
        """A new screen; returns its token, which is shown once and never stored."""
        name = _check_name(name)
        token = secrets.token_urlsafe(32)
        digest = _digest(token)
        now = self.clock()
        fields = {"created": f"{now:.3f}", "token_sha256": digest, "revoked": "0",
                  "created_by": by.name}
        if not self.store.create_screen(name, fields, digest):
            raise SurgeError(f"a screen named {name!r} already exists; revoke it first "
                             f"or choose another name")
        record(self.store, "screen_added", by, at=now, screen=name)
        return token

    def list(self) -> list[Screen]:
        return [_screen(name, row) for name, row in self.store.screen_records().items()]

    def get(self, name: str) -> Screen | None:
        row = self.store.screen_record(name)
        return _screen(name, row) if row else None

    def is_live(self, name: str) -> bool:
        screen = self.get(name)
        return screen is not None and not screen.revoked

    def revoke(self, name: str, *, by: Actor) -> Screen:
        """End the screen now: its token stops working on the next request."""
        row = self.store.screen_record(name)
        if not row:
            known = self.store.screen_names()
            raise SurgeError(f"unknown screen {name!r}{did_you_mean(name, known)}")
        if row.get("revoked") == "1":
            return _screen(name, row)
        now = self.clock()
        self.store.revoke_screen(name, {"revoked": "1", "revoked_at": f"{now:.3f}"},
                                 row["token_sha256"])
        Sessions(self.store).end_all("screen", name)
        record(self.store, "screen_revoked", by, at=now, screen=name)
        return _screen(name, self.store.screen_record(name))

    def resolve(self, token: str, *, address: str) -> Screen | None:
        """The live screen this token opens, noting when and from where it was last seen
        (at most every SEEN_EVERY seconds); None for an unknown or revoked token."""
        if not token or len(token) > MAX_TOKEN:
            return None
        digest = _digest(token)
        name = self.store.screen_by_token(digest)
        if name is None:
            return None
        row = self.store.screen_record(name)
        if (not row or row.get("revoked") == "1"
                or not hmac.compare_digest(row.get("token_sha256", ""), digest)):
            return None
        now = self.clock()
        last = float(row["last_seen"]) if "last_seen" in row else None
        if last is None or now - last >= SEEN_EVERY:
            seen = {"last_seen": f"{now:.3f}", "last_address": address}
            self.store.update_screen(name, seen)
            row.update(seen)
        return _screen(name, row)


def screen_url(base_url: str, token: str) -> str:
    """The address a wall screen opens to sign in (the web side serves /screen/<token>)."""
    return f"{base_url.rstrip('/')}/screen/{token}"


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise SurgeError(f"invalid screen name {name!r}: use 1 to {MAX_NAME} printable "
                         f"characters, such as \"Strategic cell wall\"")
    return name


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _screen(name: str, row: dict[str, str]) -> Screen:
    def num(key: str) -> float | None:
        return float(row[key]) if key in row else None

    return Screen(name=name, created=float(row.get("created", 0)), last_seen=num("last_seen"),
                  last_address=row.get("last_address"), revoked=row.get("revoked") == "1",
                  revoked_at=num("revoked_at"))
