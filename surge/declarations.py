"""The declared trust level beside the calculated one, and the action checklist in force.

Reading only: what is declared, whether it diverges from the calculated level and since
when, which actions of the protocols' levels are in force and who confirmed them. The
changes (declare, withdraw, confirm) are actions, in surge.actions. docs/levels.md says
what each means for a duty manager.

Divergence. The declaration's record keeps ``diverging_since`` together with the calculated
level it was worked out for (``seen_level``, ``seen_since``). When the engine has published
another calculated level since, ``trust_status`` replays the trust's level changes in between
(the ``level_changed`` events of "overall") and keeps the result, so the time the two last
started to differ stays right across declarations and any number of calculated changes.

The checklist. Every action has a stable id, ``PROTOCOL.LEVEL.HASH`` (the hash of its text),
which a reload that leaves the action as it was does not change. At a protocol's level L the
actions of every level up to L are in force (a REAP plan's actions add up as pressure rises).
Confirmations belong to an episode: the protocol's level and the time it became that level
(the published level's ``since``); when the level changes, the checklist starts afresh and
the previous episode's confirmations stay readable.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from surge.catalogue import Catalogue
from surge.errors import StoreUnavailable
from surge.events import LevelChanged, read_events
from surge.inforce import rules_from_text
from surge.levels import OVERALL, PublishedLevel
from surge.rules.loader import load_rules
from surge.rules.model import Rules
from surge.store import Store

__all__ = [
    "MAX_TEXT",
    "Agreement",
    "ChecklistItem",
    "Confirmation",
    "Declaration",
    "PlannedAction",
    "TrustStatus",
    "action_id",
    "checklist",
    "current_declaration",
    "declaration_record",
    "diverging_since",
    "episode_field",
    "planned_actions",
    "previous_confirmations",
    "rules_in_force",
    "trust_status",
]

MAX_TEXT = 500  # characters of a reason or a note
Agreement = Literal["no declaration", "unknown", "agrees", "diverges"]


# --- the declared level ----------------------------------------------------------------------


@dataclass(frozen=True)
class Declaration:
    """The trust level a commander declared: the decision, beside the calculated advice."""

    level: int
    level_name: str
    by: str
    role: str
    via: str | None  # page, api or cli
    at: float  # UTC epoch seconds
    reason: str
    calculated: int | None  # the calculated trust level when it was declared
    rules_version: str | None

    @classmethod
    def from_record(cls, record: Mapping[str, Any],
                    catalogue: Catalogue | None = None) -> Declaration:
        """The declaration kept in the store; its level's name from ``catalogue`` if given."""
        level = int(record["level"])
        name = str(record.get("level_name", ""))
        if catalogue is not None:  # else, or if the rules lost it: the name it was declared with
            with contextlib.suppress(KeyError):
                name = catalogue.level(level).name
        calculated = record.get("calculated")
        return cls(level=level, level_name=name, by=str(record["by"]),
                   role=str(record.get("role", "")), via=record.get("via"),
                   at=float(record["at"]), reason=str(record.get("reason", "")),
                   calculated=int(calculated) if calculated is not None else None,
                   rules_version=record.get("rules_version"))


@dataclass(frozen=True)
class TrustStatus:
    """The trust's calculated and declared levels side by side, as of ``at``.

    ``diverges`` only when both are known and differ; ``diverging_since`` is when they last
    started to differ. ``agreement`` says which of the four cases it is, so a screen never
    shows "agrees" when the calculated level is unknown."""

    at: float
    calculated: PublishedLevel | None  # the engine's "overall"; None before it publishes
    declared: Declaration | None  # None: no declaration in force
    diverges: bool
    diverging_since: float | None

    @property
    def agreement(self) -> Agreement:
        if self.declared is None:
            return "no declaration"
        if self.calculated is None:
            return "unknown"
        return "diverges" if self.diverges else "agrees"


def current_declaration(store: Store, catalogue: Catalogue | None = None) -> Declaration | None:
    """The declaration in force, or None; level names from ``catalogue`` when given."""
    record = store.declaration()
    return Declaration.from_record(record, catalogue) if record else None


def trust_status(store: Store, catalogue: Catalogue, now: float,
                 levels: Mapping[str, PublishedLevel] | None = None) -> TrustStatus:
    """Calculated and declared trust levels, whether they diverge and since when;
    ``levels``: the published levels, when the caller has read them already."""
    if levels is None:
        levels = store.published_levels(catalogue)
    calculated = levels.get(OVERALL)
    record = store.declaration()
    if not record:
        return TrustStatus(now, calculated, None, False, None)
    since = diverging_since(store, record, calculated, keep=True)
    return TrustStatus(now, calculated, Declaration.from_record(record, catalogue),
                       since is not None, since)


def diverging_since(store: Store, record: Mapping[str, Any], calculated: PublishedLevel | None,
                    *, keep: bool = False) -> float | None:
    """When the declaration ``record`` and the calculated level last started to differ (None
    while they agree, or the calculated level is unknown). ``keep``: save what was worked
    out in the record, unless the declaration changed meanwhile."""
    seen = (record.get("seen_level"), record.get("seen_since"))
    now = (calculated.level, calculated.since) if calculated is not None else (None, None)
    since: float | None = record.get("diverging_since")
    if now == seen:
        return since
    declared, declared_at = int(record["level"]), float(record["at"])
    last = seen[0]
    if calculated is None:
        since = None
    else:
        if seen[1] is not None and calculated.since is not None:
            for ts, level in _overall_changes(store, float(seen[1]), calculated.since):
                since = _step(declared, declared_at, since, ts, level)
                last = level
        if last != calculated.level:  # a change without an event: an engine started afresh
            when = calculated.since if calculated.since is not None else declared_at
            since = _step(declared, declared_at, since, when, calculated.level)
    if keep:
        store.swap_declaration(record, {**record, "seen_level": now[0], "seen_since": now[1],
                                        "diverging_since": since})
    return since


def declaration_record(*, level: int, level_name: str, at: float, by: str, role: str,
                       via: str | None, reason: str, rules_version: str,
                       calculated: PublishedLevel | None,
                       diverging_before: float | None) -> dict[str, Any]:
    """The record a new declaration is kept as. ``diverging_before``: when the declaration it
    replaces started to differ from the calculated level, if it still did (so a change of
    declared level that never meets the calculated one keeps its start)."""
    differs = calculated is not None and calculated.level != level
    since = (diverging_before if diverging_before is not None else at) if differs else None
    return {"level": level, "level_name": level_name, "at": at, "by": by, "role": role,
            "via": via, "reason": reason, "rules_version": rules_version,
            "calculated": calculated.level if calculated is not None else None,
            "diverging_since": since,
            "seen_level": calculated.level if calculated is not None else None,
            "seen_since": calculated.since if calculated is not None else None}


def _step(declared: int, declared_at: float, since: float | None, ts: float,
          calculated: int) -> float | None:
    """diverging_since after the calculated level became ``calculated`` at ``ts``."""
    if calculated == declared:
        return None
    return since if since is not None else max(ts, declared_at)


def _overall_changes(store: Store, after: float, until: float) -> list[tuple[float, int]]:
    """(time, new level) of each change of the calculated trust level in (after, until]."""
    if until <= after:
        return []
    return [(e.ts, e.to) for e in read_events(store, start=after, end=until, kinds=[LevelChanged])
            if isinstance(e, LevelChanged) and e.name == OVERALL and after < e.ts <= until]


# --- the action checklist --------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedAction:
    """One action of a protocol's level, as surge_rules.yaml lists it, with its stable id."""

    id: str  # PROTOCOL.LEVEL.HASH, e.g. ae.3.5c1e0b
    protocol: str
    protocol_label: str
    level: int  # the level whose actions list it
    owner: str  # strategic | tactical | operational
    do: str


@dataclass(frozen=True)
class Confirmation:
    """Someone confirmed an action as done, in one episode of its protocol's level."""

    action_id: str
    protocol: str
    level: int  # the protocol's level in that episode
    since: float | None  # when the protocol reached that level: the episode's start
    do: str
    by: str
    role: str
    via: str | None
    at: float
    note: str

    @classmethod
    def from_record(cls, protocol: str, record: Mapping[str, Any]) -> Confirmation:
        since = record.get("since")
        return cls(action_id=str(record["action_id"]), protocol=protocol,
                   level=int(record["level"]), since=float(since) if since is not None else None,
                   do=str(record.get("do", "")), by=str(record["by"]),
                   role=str(record.get("role", "")), via=record.get("via"),
                   at=float(record["at"]), note=str(record.get("note", "")))


@dataclass(frozen=True)
class ChecklistItem:
    """An action in force now: its protocol's level, the episode, and its confirmation in
    this episode (None: not confirmed yet) and in the previous one."""

    action: PlannedAction
    protocol_level: int  # the protocol's calculated level now
    protocol_level_name: str
    since: float | None  # the episode's start
    stale: bool  # the protocol's level is held on stale data
    confirmation: Confirmation | None
    previously: Confirmation | None = None  # the same action, confirmed in the last episode

    @property
    def id(self) -> str:
        return self.action.id

    @property
    def done(self) -> bool:
        return self.confirmation is not None


def action_id(protocol: str, level: int, do: str) -> str:
    """The stable id of an action: PROTOCOL.LEVEL.HASH, the hash of what is to be done."""
    return f"{protocol}.{level}.{hashlib.sha256(do.encode()).hexdigest()[:6]}"


def planned_actions(rules: Rules) -> dict[str, PlannedAction]:
    """Every action of every protocol, by id, in the file's order (two actions of one level
    worded the same get -2, -3, ... after the second and later ids)."""
    out: dict[str, PlannedAction] = {}
    for protocol in rules.protocols.values():
        for level, actions in protocol.actions.items():
            for action in actions:
                base = ident = action_id(protocol.id, level, action.do)
                n = 1
                while ident in out:
                    n += 1
                    ident = f"{base}-{n}"
                out[ident] = PlannedAction(ident, protocol.id, protocol.label, level,
                                           action.owner, action.do)
    return out


def episode_field(since: float | None, level: int, action: str) -> str:
    """Where a confirmation is kept in its protocol's checklist: episode, then action."""
    return f"{_episode(since, level)}|{action}"


def checklist(store: Store, rules: Rules) -> list[ChecklistItem]:
    """The actions in force at each protocol's calculated level now: those of that level and
    every level below it, the current level's first, each with its confirmation in this
    episode. A protocol whose level is not published has none (see ``surge levels``)."""
    levels = store.published_levels(rules.catalogue)
    planned = list(planned_actions(rules).values())
    out: list[ChecklistItem] = []
    for protocol in rules.protocols.values():
        level = levels.get(protocol.id)
        if level is None:
            continue
        episodes = _episodes(store.confirmations(protocol.id), protocol.id)
        current = episodes.get(_episode(level.since, level.level), {})
        before = episodes.get(_previous_episode(episodes, level) or "", {})
        due = [a for a in planned if a.protocol == protocol.id and a.level <= level.level]
        due.sort(key=lambda a: -a.level)  # stable: the file's order within a level
        out += [ChecklistItem(a, level.level, level.level_name, level.since, level.stale,
                              current.get(a.id), before.get(a.id)) for a in due]
    return out


def previous_confirmations(store: Store, rules: Rules) -> list[Confirmation]:
    """What was confirmed in each protocol's last episode before the current one that has
    any confirmations (normally its previous level), oldest first."""
    levels = store.published_levels(rules.catalogue)
    out: list[Confirmation] = []
    for protocol in rules.protocols.values():
        level = levels.get(protocol.id)
        if level is None:
            continue
        episodes = _episodes(store.confirmations(protocol.id), protocol.id)
        previous = _previous_episode(episodes, level)
        if previous is not None:
            out += sorted(episodes[previous].values(), key=lambda c: c.at)
    return out


def _episode(since: float | None, level: int) -> str:
    return f"{'-' if since is None else f'{since:.3f}'}|{level}"


def _episodes(fields: Mapping[str, Mapping[str, Any]],
              protocol: str) -> dict[str, dict[str, Confirmation]]:
    """Confirmations kept for a protocol: episode -> action id -> confirmation."""
    out: dict[str, dict[str, Confirmation]] = {}
    for field, record in fields.items():
        episode, _, action = field.rpartition("|")
        try:
            out.setdefault(episode, {})[action] = Confirmation.from_record(protocol, record)
        except (KeyError, TypeError, ValueError):
            continue  # written by a later version: the events hold it in any case
    return out


def _previous_episode(episodes: Iterable[str], level: PublishedLevel) -> str | None:
    """The latest episode that began before the current one (by its start time)."""
    current = _episode(level.since, level.level)
    start = level.since if level.since is not None else math.inf
    earlier = [(float(e.partition("|")[0]), e) for e in episodes
               if e != current and not e.startswith("-") and float(e.partition("|")[0]) <= start]
    return max(earlier)[1] if earlier else None


# --- the rules in force ----------------------------------------------------------------------


def rules_in_force(store: Store, fallback: Path) -> Rules:
    """The rules the active worker published (surge.inforce), with their protocols and
    actions; the file at ``fallback`` when none are published."""
    try:
        published = store.rules_in_force()
    except StoreUnavailable:
        published = {}
    if "text" in published:
        return rules_from_text(published["text"], published.get("source"))
    return load_rules(fallback)
