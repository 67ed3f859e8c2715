"""Failed attempts counted in the store, taken before the attempt is tried.

A sign-in (or a screen link) takes a place in every count it belongs to (its address, the
user name tried) before the password is checked: one step in the store, so however many
arrive at once, no more than the limit are ever tried in a window. A place is given back
when the attempt succeeds (successful sign-ins are not counted) or is not tried after all.
Windows move: an attempt counts for exactly ``window`` seconds after it was made.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from limits import parse

from surge import keys
from surge.store import Store

__all__ = ["Attempt", "Throttle", "address_key", "user_key"]


def address_key(address: str, what: str = "address") -> str:
    return keys.login_limit(what, address)


def user_key(name: str) -> str:
    """The count of one user name: hashed, as it may be a password typed in the wrong box."""
    return keys.login_limit("user", hashlib.sha256(name.strip().encode()).hexdigest()[:32])


@dataclass(frozen=True)
class Attempt:
    """A place taken in some counts (``allowed``), or refused because ``full`` was full.
    ``give_back`` a place when the attempt did not fail, or was not tried after all."""

    store: Store
    counts: tuple[str, ...]
    id: str
    full: str | None = None

    @property
    def allowed(self) -> bool:
        return self.full is None

    def give_back(self) -> None:
        if self.allowed:
            self.store.give_back_attempt(self.counts, self.id)


class Throttle:
    """At most ``rate`` (such as "5/minute", SURGE_LOGIN_LIMIT) failed attempts per count."""

    def __init__(self, store: Store, rate: str) -> None:
        item = parse(rate)
        self.store = store
        self.limit = item.amount
        self.window = float(item.get_expiry())

    def take(self, counts: tuple[str, ...], now: float) -> Attempt:
        """A place in every count; or, when any is full, none (the attempt must not be
        tried): ``allowed`` says which."""
        attempt = f"{now:.6f}:{secrets.token_hex(6)}"
        full = self.store.take_attempt(counts, limit=self.limit, window=self.window, now=now,
                                       attempt=attempt)
        return Attempt(self.store, counts, attempt, full)
