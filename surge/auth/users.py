"""Users who sign in to the dashboard: kept in Redis, passwords hashed with argon2id.

A user is never deleted, only disabled, so the audit trail always names someone who
existed. Disabling a user, changing their role or resetting their password ends their
sessions in the store at once (surge.auth.sessions), and moves their ``epoch`` on: a session
also remembers the epoch it began in and ends when the epoch moves on.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import argon2

from surge.auth.audit import Actor, record
from surge.auth.roles import check_role
from surge.auth.sessions import Sessions
from surge.configfile import did_you_mean
from surge.errors import SurgeError
from surge.store import Store

__all__ = ["MIN_PASSWORD", "PasswordRejected", "User", "Users", "check_name", "check_password"]

MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # longer input is refused before hashing, so it cannot tie up a worker
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")

# One dummy hash per set of argon2 parameters: unknown users are verified against it so
# that they cost the same time as known ones. Not shared state, just a cached constant.
_dummy_hashes: dict[tuple[Any, ...], str] = {}


class PasswordRejected(SurgeError):
    """A new password breaks a rule; the message says which."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    disabled: bool
    created: float
    password_changed: float
    epoch: int


def check_name(name: str) -> str:
    """``name`` when it is a valid user name, else SurgeError saying what is allowed."""
    if not NAME.fullmatch(name):
        raise SurgeError(f"invalid user name {name!r}: use 1 to 64 letters, digits, '.', "
                         f"'_' or '-'")
    return name


def check_password(name: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise PasswordRejected(f"the password must be at least {MIN_PASSWORD} characters "
                               f"long (it has {len(password)})")
    if len(password) > MAX_PASSWORD:
        raise PasswordRejected(f"the password must be at most {MAX_PASSWORD} characters long")
    if password.strip().casefold() == name.casefold():
        raise PasswordRejected("the password must not be the user name")


class Users:
    """Adds, changes and authenticates users; every change is audited."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time,
                 hasher: argon2.PasswordHasher | None = None) -> None:
        self.store = store
        self.clock = clock
        self.hasher = hasher or argon2.PasswordHasher()

    # --- reading ----------------------------------------------------------------------

    def get(self, name: str) -> User | None:
        row = self.store.user_record(name)
        return _user(name, row) if row else None

    def list(self) -> list[User]:
        return [_user(name, row) for name, row in self.store.user_records().items()]

    # --- changes ----------------------------------------------------------------------

    def check_new(self, name: str, role: str) -> None:
        """SurgeError unless ``name`` and ``role`` are valid and no user has that name."""
        check_name(name)
        _role(role)
        if self.get(name) is not None:
            raise SurgeError(f"user {name!r} already exists")

    def require(self, name: str) -> User:
        """The user, or SurgeError naming the closest existing user."""
        user = self.get(name)
        if user is None:
            known = self.store.user_names()
            raise SurgeError(f"unknown user {name!r}{did_you_mean(name, known)}")
        return user

    def add(self, name: str, role: str, password: str, *, by: Actor) -> User:
        self.check_new(name, role)
        check_password(name, password)
        now = self.clock()
        fields = {"role": role, "disabled": "0", "created": f"{now:.3f}",
                  "password_changed": f"{now:.3f}", "epoch": "1",
                  "hash": self.hasher.hash(password)}
        if not self.store.create_user(name, fields):
            raise SurgeError(f"user {name!r} already exists")
        record(self.store, "user_added", by, at=now, target=name, new_role=role)
        return _user(name, fields)

    def set_role(self, name: str, role: str, *, by: Actor) -> User:
        _role(role)
        user = self.require(name)
        if user.role == role:
            return user
        now = self.clock()
        self.store.update_user(name, {"role": role}, new_epoch=True)
        Sessions(self.store).end_all("user", name)
        record(self.store, "user_role_changed", by, at=now, target=name, old_role=user.role,
               new_role=role)
        return self.require(name)

    def disable(self, name: str, *, by: Actor) -> User:
        user = self.require(name)
        if user.disabled:
            return user
        now = self.clock()
        self.store.update_user(name, {"disabled": "1", "disabled_at": f"{now:.3f}"},
                               new_epoch=True)
        Sessions(self.store).end_all("user", name)
        record(self.store, "user_disabled", by, at=now, target=name)
        return self.require(name)

    def enable(self, name: str, *, by: Actor) -> User:
        user = self.require(name)
        if not user.disabled:
            return user
        now = self.clock()
        self.store.update_user(name, {"disabled": "0"})
        record(self.store, "user_enabled", by, at=now, target=name)
        return self.require(name)

    def reset_password(self, name: str, password: str, *, by: Actor) -> User:
        self.require(name)
        check_password(name, password)
        now = self.clock()
        self.store.update_user(name, {"hash": self.hasher.hash(password),
                                      "password_changed": f"{now:.3f}"}, new_epoch=True)
        Sessions(self.store).end_all("user", name)
        record(self.store, "password_reset", by, at=now, target=name)
        return self.require(name)

    # --- signing in -------------------------------------------------------------------

    def authenticate(self, name: str, password: str, *, address: str) -> User | None:
        """The user when the name and password match an enabled user, else None: the caller
        cannot tell which was wrong. Either way an audit entry records the attempt and, for a
        failure, the reason."""
        valid = NAME.fullmatch(name) is not None
        row = self.store.user_record(name) if valid else {}
        stored = row.get("hash")
        ok = self._verify(stored, password)  # against a dummy hash when there is no user
        now = self.clock()
        reason = ("unknown user" if not row else "disabled" if row.get("disabled") == "1"
                  else None if ok else "wrong password")
        if reason is not None or stored is None:
            # an invalid name may be a password typed in the wrong box: never record it
            who = Actor(name if valid else "(invalid user name)", row.get("role", ""), address)
            record(self.store, "login_failed", who, at=now, reason=reason)
            return None
        if self.hasher.check_needs_rehash(stored):
            self._rehash(name, stored, password)
        user = _user(name, row)
        record(self.store, "login", Actor(name, user.role, address), at=now)
        return user

    # --- plumbing ---------------------------------------------------------------------

    def _verify(self, stored: str | None, password: str) -> bool:
        if len(password) > MAX_PASSWORD:
            return False
        try:
            self.hasher.verify(stored or self._dummy_hash(), password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False  # a mismatch, or a damaged record: neither lets anyone in
        return stored is not None

    def _dummy_hash(self) -> str:
        h = self.hasher
        params = (h.time_cost, h.memory_cost, h.parallelism, h.hash_len, h.salt_len, h.type)
        if params not in _dummy_hashes:
            _dummy_hashes[params] = h.hash(secrets.token_urlsafe(16))
        return _dummy_hashes[params]

    def _rehash(self, name: str, old: str, password: str) -> None:
        """Store a hash with the current parameters, unless the password changed meanwhile."""
        self.store.swap_user_field(name, "hash", old, self.hasher.hash(password))


def _role(role: str) -> str:
    try:
        return check_role(role)
    except ValueError as exc:
        raise SurgeError(str(exc)) from None


def _user(name: str, row: dict[str, str]) -> User:
    return User(name=name, role=row.get("role", "viewer"), disabled=row.get("disabled") == "1",
                created=float(row.get("created", 0)),
                password_changed=float(row.get("password_changed", 0)),
                epoch=int(row.get("epoch", 1)))
