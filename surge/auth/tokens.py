"""API tokens: a program calls the HTTP API with a long random token that carries one role,
or one feed.

Only the token's sha256 is stored, as for wall screens, so a copy of the database cannot call
the API. A token is named, carries either a role from the one role table or a feed, and is
shown once when it is added. A feed token (``add_feed``) is for a system that pushes samples:
it has no role, so every door that needs one refuses it, and it may only push the samples of
its feed (POST /api/v1/samples, which in turn refuses a role token). Revoking a token deletes
its hash, so the next request that presents it gets None from ``resolve``. ``resolve`` notes
when and from where a token was last used (at most every USED_EVERY seconds, so a busy client
does not write on every request).

Managing tokens is an action (``surge.actions.add_token``, ``revoke_token``: admin only);
this class does the work and records it on the audit trail, never the token itself.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from surge.auth.audit import Actor, record
from surge.auth.roles import ROLES, check_role
from surge.configfile import did_you_mean
from surge.errors import SurgeError
from surge.store import Store

__all__ = ["PREFIX", "USED_EVERY", "ApiToken", "TokenPrincipal", "Tokens", "check_feed_name",
           "check_token_name"]

PREFIX = "surge_"  # every token starts so: recognisable in a leaked log or a secret scanner
USED_EVERY = 30.0  # seconds between writes of last_used/last_address for one token
MAX_TOKEN = 200  # real tokens are 49 characters; anything far longer is not worth hashing
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
FEED_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,100}")  # a feed name in feeds.yaml: no control characters


@dataclass(frozen=True)
class ApiToken:
    """One API token as listed: never the token itself. A feed token has ``feed`` and no
    role ("")."""

    name: str
    role: str
    created: float
    created_by: str
    last_used: float | None
    last_address: str | None
    revoked: bool
    revoked_at: float | None
    feed: str | None = None

    @property
    def grants(self) -> str:
        """What the token lets its holder do, for a listing: its role, or ``feed:NAME``."""
        return f"feed:{self.feed}" if self.feed is not None else self.role


@dataclass(frozen=True)
class TokenPrincipal:
    """Who a request with a live token is: the token's name and role, from ``address``; for a
    feed token, the feed whose samples it may push, and no role ("")."""

    name: str
    role: str
    address: str
    feed: str | None = None

    @property
    def actor(self) -> Actor:
        """The actor of what the request does, on the audit trail as ``token:NAME`` via api."""
        return Actor(f"token:{self.name}", self.role, self.address, "api")


class Tokens:
    """Adds, lists, revokes and resolves API tokens; changes are audited."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def add(self, name: str, role: str, *, by: Actor) -> str:
        """A new token with ``role``; returns the token, which is shown once and never stored."""
        name = check_token_name(name)
        try:
            role = check_role(role)
        except ValueError as exc:
            raise SurgeError(str(exc)) from None
        return self._create(name, {"role": role}, by, granted_role=role)

    def add_feed(self, name: str, feed: str, *, by: Actor) -> str:
        """A new feed token: it may push the samples of ``feed`` (a push feed of the feeds
        file) and do nothing else. Returns the token, shown once and never stored."""
        name, feed = check_token_name(name), check_feed_name(feed)
        return self._create(name, {"feed": feed}, by, feed=feed)

    def _create(self, name: str, grant: dict[str, str], by: Actor, **audited: str) -> str:
        token = PREFIX + secrets.token_urlsafe(32)
        digest = _digest(token)
        now = self.clock()
        fields = {**grant, "created": f"{now:.3f}", "created_by": by.name,
                  "token_sha256": digest, "revoked": "0"}
        if not self.store.create_token(name, fields, digest):
            raise SurgeError(f"an API token named {name!r} already exists; revoke it first "
                             f"or choose another name")
        record(self.store, "token_added", by, at=now, api_token=name, **audited)
        return token

    def list(self) -> list[ApiToken]:
        return [_token(name, row) for name, row in self.store.token_records().items()]

    def get(self, name: str) -> ApiToken | None:
        row = self.store.token_record(name)
        return _token(name, row) if row else None

    def revoke(self, name: str, *, by: Actor) -> ApiToken:
        """End the token now: it stops working on the next request. Revoking a revoked token
        changes nothing."""
        row = self.store.token_record(name)
        if not row:
            known = self.store.token_names()
            raise SurgeError(f"unknown API token {name!r}{did_you_mean(name, known)}")
        if row.get("revoked") == "1":
            return _token(name, row)
        now = self.clock()
        self.store.revoke_token(name, {"revoked": "1", "revoked_at": f"{now:.3f}"},
                                row["token_sha256"])
        record(self.store, "token_revoked", by, at=now, api_token=name)
        return _token(name, self.store.token_record(name))

    def resolve(self, token: str, address: str) -> TokenPrincipal | None:
        """Who presents this token: its name and role (or, for a feed token, its feed),
        noting when and from where it was last used; None for an unknown or revoked token,
        or one whose role no longer exists."""
        if not token or len(token) > MAX_TOKEN:
            return None
        digest = _digest(token)
        name = self.store.token_by_hash(digest)
        if name is None:
            return None
        row = self.store.token_record(name)
        if (not row or row.get("revoked") == "1" or not _grants_something(row)
                or not hmac.compare_digest(row.get("token_sha256", ""), digest)):
            return None
        now = self.clock()
        last = float(row["last_used"]) if "last_used" in row else None
        if last is None or now - last >= USED_EVERY or row.get("last_address") != address:
            self.store.update_token(name, {"last_used": f"{now:.3f}", "last_address": address})
        return TokenPrincipal(name, row.get("role", ""), address, row.get("feed"))


def check_token_name(name: str) -> str:
    """``name`` when it is a valid token name, else SurgeError saying what is allowed."""
    if not NAME.fullmatch(name):
        raise SurgeError(f"invalid API token name {name!r}: use 1 to 64 letters, digits, '.', "
                         f"'_' or '-', such as cad-bridge")
    return name


def check_feed_name(feed: str) -> str:
    """``feed`` when it can name a feed, else SurgeError saying what is allowed."""
    if not FEED_NAME.fullmatch(feed) or not feed.strip():
        raise SurgeError(f"invalid feed name {feed!r}: give the name of a push feed in the "
                         f"feeds file, 1 to 100 characters without control characters")
    return feed


def _grants_something(row: dict[str, str]) -> bool:
    """A role token's role still exists; a feed token has a feed and no role."""
    if "feed" in row:
        return bool(row["feed"]) and not row.get("role")
    return row.get("role") in ROLES


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token(name: str, row: dict[str, str]) -> ApiToken:
    def num(key: str) -> float | None:
        return float(row[key]) if key in row else None

    return ApiToken(name=name, role=row.get("role", ""), created=float(row.get("created", 0)),
                    created_by=row.get("created_by", ""), last_used=num("last_used"),
                    last_address=row.get("last_address"), revoked=row.get("revoked") == "1",
                    revoked_at=num("revoked_at"), feed=row.get("feed"))
