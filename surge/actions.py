"""Every state-changing action, one function each: the same for a page, the API and the CLI.

An action takes the store, who is acting (an Actor: name, role, address, via) and its
arguments. It checks the actor's role against the one role table (surge.auth.roles.NEEDED),
makes the change, records it on the audit trail (and its own event, when it has one) and
returns a frozen record of what it did. Pages, API routes and commands are thin callers:
they say who is acting and show the result; none of them repeats a check or a write.

    SurgeError
     +-- Forbidden       the actor's role is below what the action needs (on the audit trail)
     +-- UnknownActor    acting as a user who does not exist, or is disabled

To add an action (declare a level, acknowledge an alert, ...): one row in NEEDED, a frozen
result dataclass and one function here, shaped like ``reload_rules``::

    def declare_level(store: Store, actor: Actor, *, level: int, reason: str) -> Declared:
        _allow(store, actor, "declare")
        ...write through the store's public methods...
        entry = record(store, "level_declared", actor, level=level, reason=reason)
        return Declared(...)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from surge.auth.audit import Actor, Via, record
from surge.auth.roles import allows, needed
from surge.auth.users import Users
from surge.errors import SurgeError
from surge.rules.loader import check_rules
from surge.store import Store

__all__ = [
    "Actor",
    "Forbidden",
    "RulesReloadRequested",
    "UnknownActor",
    "Via",
    "act_as",
    "reload_rules",
]


class Forbidden(SurgeError):
    """``role`` may not do ``action``, which needs ``needed``; the refusal is audited."""

    def __init__(self, action: str, role: str, needed: str) -> None:
        self.action, self.role, self.needed = action, role, needed
        super().__init__(f"not allowed: {action} needs the {needed} role; "
                         f"{role or 'no role'} is not enough")


class UnknownActor(SurgeError):
    """Acting as a user who does not exist or is disabled."""


# --- who is acting ---------------------------------------------------------------------


def act_as(store: Store, name: str, *, via: Via, address: str = "local") -> Actor:
    """The named user as the actor, with the role the store holds for them; UnknownActor
    for an unknown or disabled user (a disabled user's attempt is on the audit trail)."""
    try:
        user = Users(store).require(name)
    except SurgeError as exc:  # unknown (with the closest name), or not a valid user name
        raise UnknownActor(str(exc)) from None
    if user.disabled:
        record(store, "access_refused", Actor(user.name, user.role, address, via),
               reason="disabled user")
        raise UnknownActor(f"user {name!r} is disabled: a disabled user cannot act "
                           f"(`surge users enable {name}` lets them again)")
    return Actor(user.name, user.role, address, via)


def _allow(store: Store, actor: Actor, action: str) -> None:
    """Forbidden, on the audit trail, unless the actor's role allows ``action``."""
    least = needed(action)
    if not allows(actor.role, least):
        record(store, "access_refused", actor, needed=least, target=f"action {action}")
        raise Forbidden(action, actor.role, least)


# --- the actions -----------------------------------------------------------------------


@dataclass(frozen=True)
class RulesReloadRequested:
    """The worker was asked to reload ``rules``; ``problems`` are what it will reject
    (when there are any, it keeps the running rules)."""

    at: float
    by: str
    rules: str
    problems: tuple[str, ...]
    audit_id: str

    @property
    def accepted(self) -> bool:
        return not self.problems


def reload_rules(store: Store, actor: Actor, *, rules: Path | str) -> RulesReloadRequested:
    """Ask the running worker to reload the rules file; the file is checked first, so the
    caller can say at once what the worker will reject. Needs ``reload_rules``."""
    _allow(store, actor, "reload_rules")
    _, problems = check_rules(rules)
    at = store.clock()
    store.request_reload(by=actor.label)
    entry = record(store, "rules_reload_requested", actor, at=at, rules=str(rules),
                   problems=len(problems))
    return RulesReloadRequested(at=at, by=actor.label, rules=str(rules),
                                problems=tuple(str(p) for p in problems), audit_id=entry)
