"""The strategic page as the wall showed it at a past moment, rebuilt from the record.

Not a screenshot: the levels, the declaration, the latest samples, the 24 hours before and
(where the rules then are the rules now) the action checklist are read back from stored
events and samples, as they stood at ``at``, and handed to the strategic page's own view
model (``build_strategic``) with ``now`` = ``at``. So a figure older than its metric's
``stale_after`` at that moment reads STALE, as it did then (principle 1), and a level or a
declaration with nothing on record before ``at`` reads "not known", never level 1.

What the record holds, and so what is rebuilt:

- each level (trust, function, trigger): the newest ``level_changed`` / ``level_stale`` /
  ``level_fresh`` event filed at or before ``at`` gives its number, stale flag and reason;
  its "since" is the newest ``level_changed`` to that number; an ``engine_started`` gives
  the levels it started at (without a reason, and since when only if an older change
  agrees);
- the declaration: the newest ``declared`` / ``declaration_withdrawn`` of the trust, and
  how long it had differed from the calculated level (from the declaration's own record of
  the calculated level and the trust's changes after it);
- whether the worker was running: not when the newest worker event is a clean stop;
- the checklist: only when the rules version in force then is the one held now (older
  rules' actions are not on record); confirmations from ``action_confirmed`` events of
  each protocol's episode. Otherwise it is "not reconstructed", never invented.

Reads: one ``events`` call for the 24 hours, one walk back (``events_before``) for the
state before them, one ``series`` call for the headline figures, and an ``events`` call
further back only when a declaration or an episode started before the 24 hours.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dashboard.data import Latest
from dashboard.formatting import format_span
from dashboard.levels import NEUTRAL, LevelView, missing_level
from dashboard.views.header import DeclaredView
from dashboard.views.strategic import (
    DAY,
    HEADLINES,
    ActionsView,
    StrategicView,
    build_strategic,
    time_at_level,
)
from surge.catalogue import TRUST, Catalogue
from surge.declarations import (
    ChecklistItem,
    Confirmation,
    Declaration,
    TrustStatus,
    planned_actions,
)
from surge.events import (
    ActionConfirmed,
    AnyEvent,
    DeclarationWithdrawn,
    Declared,
    EngineStarted,
    LevelChanged,
    LevelFresh,
    LevelStale,
    RulesLoaded,
    WorkerStarted,
    WorkerStopped,
    WorkerTookOver,
    decode,
)
from surge.history import Record
from surge.levels import OVERALL, PublishedLevel, parse_levels
from surge.rules.model import Rules

__all__ = [
    "NOT_KNOWN",
    "AsOf",
    "LevelState",
    "build_asof",
    "declaration_at",
    "latest_at",
    "level_states",
    "lookback",
    "read_asof",
]

NOT_KNOWN = "not known: nothing on record before this moment"
LOOKBACK = 6 * 3600.0  # s of samples read before the moment for the headline figures
ENGINE_REASON = "as the rules engine started (its reason is not on record)"
LEVEL_KINDS = (LevelChanged.kind, LevelStale.kind, LevelFresh.kind, EngineStarted.kind)
DECLARATION_KINDS = (Declared.kind, DeclarationWithdrawn.kind)
WORKER_KINDS = (WorkerStarted.kind, WorkerStopped.kind, WorkerTookOver.kind)
WINDOW_KINDS = (*LEVEL_KINDS, *DECLARATION_KINDS, *WORKER_KINDS, RulesLoaded.kind,
                ActionConfirmed.kind)


@dataclass
class LevelState:
    """One level as rebuilt: its published form (``since`` None while not known)."""

    level: int
    kind: str
    stale: bool
    reason: dict[str, Any]
    since: float | None = None
    since_settled: bool = False  # False: an older level_changed may still give its since

    def published(self) -> dict[str, Any]:
        return {"level": self.level, "since": self.since, "stale": self.stale,
                "kind": self.kind, "reason": self.reason}


@dataclass(frozen=True)
class AsOf:
    """The strategic page at ``at``, and what could not be rebuilt."""

    at: float
    view: StrategicView
    known: bool  # a calculated level was on record before ``at``
    checklist_note: str | None  # None: the checklist was rebuilt; else why not
    rules_version: str | None  # the rules in force then, as the events name it
    worker: str  # running | stopped | not known
    older_from: float | None = None  # a declaration or an episode began this long before


# --- levels -----------------------------------------------------------------------------------


def _kind_of(name: str) -> str:
    if name == OVERALL:
        return "overall"
    return "trigger" if "/" in name else "site" if "@" in name else "protocol"


def level_states(newest_first: Iterable[AnyEvent], wanted: Iterable[str]
                 ) -> dict[str, LevelState]:
    """Every level's state from level and engine events given newest first, reading only
    as far as needed for ``wanted`` (the trust and the functions): the newest event of a
    level decides it; its since is the newest level_changed to that number (unknown when
    an older change went to another number, or there is none)."""
    wanted = set(wanted)
    states: dict[str, LevelState] = {}
    for event in newest_first:
        if isinstance(event, LevelChanged | LevelStale | LevelFresh):
            _meet(states, event.name, event.to, event.scope, event.stale, dict(event.reason),
                  event.ts if isinstance(event, LevelChanged) else None)
        elif isinstance(event, EngineStarted):
            for name, number in event.levels.items():
                if isinstance(number, int) and not isinstance(number, bool):
                    _meet(states, str(name), number, _kind_of(str(name)), False,
                          {"text": ENGINE_REASON}, None)
        if all(n in states and states[n].since_settled for n in wanted):
            break
    return states


def _meet(states: dict[str, LevelState], name: str, level: int, kind: str, stale: bool,
          reason: dict[str, Any], changed_at: float | None) -> None:
    """An older event of level ``name`` (events come newest first)."""
    state = states.get(name)
    if state is None:
        state = states[name] = LevelState(level, kind, stale, reason)
    elif state.since_settled:
        return
    if changed_at is not None:  # a change: to this level (its since) or another (unknown)
        state.since = changed_at if level == state.level else None
        state.since_settled = True
    elif level != state.level:  # held at another level before: since then, not known
        state.since_settled = True


def published_levels(states: Mapping[str, LevelState],
                     catalogue: Catalogue) -> dict[str, PublishedLevel]:
    """The rebuilt levels, typed as the engine publishes them (no pending escalation: what
    was under way then is not on record)."""
    parsed = parse_levels({name: s.published() for name, s in states.items()}, catalogue)
    return {name: dataclasses.replace(level, pending=None) for name, level in parsed.items()}


# --- the declaration --------------------------------------------------------------------------


def declaration_at(newest: Declared | DeclarationWithdrawn | None, catalogue: Catalogue,
                   changes: Sequence[tuple[float, int]]) -> tuple[Declaration | None,
                                                                  float | None]:
    """The declaration in force after ``newest`` (the trust's newest declaration event at
    the moment), and since when it differed from the calculated level (None: it agreed),
    from the calculated level it was declared against and ``changes`` (time, level) of
    the trust's calculated level after it, in time order."""
    if not isinstance(newest, Declared):
        return None, None
    declaration = Declaration.from_record(
        {"level": newest.level, "level_name": newest.level_name, "by": newest.by,
         "role": newest.role, "via": newest.via, "at": newest.ts, "reason": newest.reason,
         "calculated": newest.calculated, "rules_version": newest.rules_version}, catalogue)
    since = newest.ts if newest.calculated is not None and \
        newest.calculated != newest.level else None
    for ts, level in changes:
        if ts <= newest.ts:
            continue
        if level == newest.level:
            since = None
        elif since is None:
            since = ts
    return declaration, since


# --- samples ----------------------------------------------------------------------------------


def lookback(catalogue: Catalogue) -> float:
    """How far back the headline figures are read: at least LOOKBACK, and four times the
    longest stale_after among them, so a value that had stopped reads STALE with its time
    (as the wall showed it then), not NO DATA."""
    ages = [catalogue.metrics[m].stale_after for m in HEADLINES if m in catalogue.metrics]
    return max(LOOKBACK, 4.0 * max(ages, default=0.0))


def latest_at(series: Mapping[tuple[str, str], Any], at: float) -> Latest:
    """The newest sample at or before ``at`` of each series read (a Series per key)."""
    out = {}
    for key, got in series.items():
        held = np.flatnonzero((got.ts <= at) & np.isfinite(got.values))
        if held.size:
            out[key] = (float(got.ts[held[-1]]), float(got.values[held[-1]]))
    return out


# --- the checklist ----------------------------------------------------------------------------


def checklist_at(rules: Rules, levels: Mapping[str, PublishedLevel],
                 confirmed: Iterable[ActionConfirmed]) -> list[ChecklistItem] | str:
    """The actions in force at each protocol's rebuilt level, each with its confirmation in
    that episode (from action_confirmed events); the reason it cannot be rebuilt instead."""
    planned = list(planned_actions(rules).values())
    by_episode: dict[tuple[str, int, str], dict[str, ActionConfirmed]] = {}
    for event in confirmed:
        key = (event.name, event.level, "-" if event.since is None else f"{event.since:.3f}")
        by_episode.setdefault(key, {}).setdefault(event.action_id, event)
    out: list[ChecklistItem] = []
    for protocol in rules.protocols.values():
        level = levels.get(protocol.id)
        due = [a for a in planned if a.protocol == protocol.id
               and level is not None and a.level <= level.level]
        if not due or level is None:
            continue
        if level.since is None:
            return (f"when {protocol.label} reached level {level.level} is not on record, so "
                    f"its confirmations cannot be placed")
        found = by_episode.get((protocol.id, level.level, f"{level.since:.3f}"), {})
        due.sort(key=lambda a: -a.level)
        for action in due:
            done = found.get(action.id)
            confirmation = None if done is None else Confirmation(
                action.id, protocol.id, done.level, done.since, done.action, done.by,
                done.role, done.via, done.ts, done.note)
            out.append(ChecklistItem(action, level.level, level.level_name, level.since,
                                     level.stale, confirmation))
    return out


# --- the whole page ---------------------------------------------------------------------------


def build_asof(catalogue: Catalogue, at: float, *, window: Sequence[AnyEvent],
               before: Iterable[AnyEvent], latest: Latest, rules: Rules | None = None,
               older: Sequence[AnyEvent] = ()) -> AsOf:
    """The strategic view at ``at`` from what was read: ``window``, the events of the 24 h
    before ``at`` (oldest first); ``before``, the events before that, newest first (read
    only as far as needed); ``latest``, the newest sample of each headline series at or
    before ``at``; ``rules``, the rules held now (their actions, if they were in force
    then); ``older``, events further back (oldest first) for a declaration or an episode
    that began before the 24 hours."""
    window = [e for e in window if e.ts <= at]
    wanted = [OVERALL, *(f.id for f in catalogue.functions)]
    seen_before: list[AnyEvent] = []

    def newest_first() -> Iterator[AnyEvent]:
        yield from reversed(window)
        for event in before:
            seen_before.append(event)
            yield event

    states = level_states((e for e in newest_first() if e.kind in LEVEL_KINDS), wanted)
    levels = published_levels(states, catalogue)
    # the rest, newest first: what was read already, then on as far as needed
    rest = itertools.chain(reversed(window), list(seen_before), before)
    declared_event: Declared | DeclarationWithdrawn | None = None
    worker: str | None = None
    version: str | None = None
    for event in rest:
        if isinstance(event, Declared | DeclarationWithdrawn) and event.name == OVERALL:
            declared_event = declared_event or event
        elif isinstance(event, WorkerStopped | WorkerStarted | WorkerTookOver) and worker is None:
            worker = "stopped" if isinstance(event, WorkerStopped) else "running"
        version = version or _rules_version(event)
        if declared_event is not None and worker is not None and version is not None and \
                event.ts < at - DAY:
            break
    confirmed = list({e.id or id(e): e for e in [*older, *window]
                      if isinstance(e, ActionConfirmed)}.values())
    changes = sorted({(e.ts, e.to) for e in [*older, *window]
                      if isinstance(e, LevelChanged) and e.name == OVERALL}
                     | {(e.ts, int(e.levels[OVERALL])) for e in [*older, *window]
                        if isinstance(e, EngineStarted)
                        and isinstance(e.levels.get(OVERALL), int)})
    declaration, diverging = declaration_at(declared_event, catalogue, changes)
    calculated = levels.get(OVERALL)
    trust = TrustStatus(at, calculated, declaration,
                        diverging is not None and calculated is not None, diverging)
    checklist: list[ChecklistItem] | None = None
    note: str | None
    if rules is None or version is None or rules.version != version:
        note = (f"Not reconstructed: the rules in force then ({version or 'not known'}) are "
                f"not the rules held now ({rules.version if rules else 'not known'}), and "
                f"older rules' actions are not on record")
    else:
        made = checklist_at(rules, levels, [e for e in confirmed if e.ts <= at])
        note = f"Not reconstructed: {made}" if isinstance(made, str) else None
        checklist = None if isinstance(made, str) else made
    view = build_strategic(catalogue, at, levels=levels, trust=trust, latest=latest,
                           events=[e for e in window if e.ts >= at - DAY],
                           checklist=checklist or [], worker_running=worker != "stopped")
    view = _not_known(view, catalogue, at, levels, states, declared_event is not None)
    span = format_span(lookback(catalogue))
    view = dataclasses.replace(view, headlines=tuple(
        dataclasses.replace(h, reading=dataclasses.replace(
            h.reading, age=f"no value in the {span} before this moment"))
        if h.reading.state == "missing" else h for h in view.headlines))
    if note is not None:
        view = dataclasses.replace(view, actions=ActionsView(0, 0, (), note))
    starts = [d.ts for d in [declared_event] if isinstance(d, Declared)]
    starts += [lv.since for lv in levels.values() if lv.kind == "protocol" and lv.since]
    earliest = min(starts, default=at)
    older_from = earliest if earliest < at - DAY and not older else None
    return AsOf(at, view, OVERALL in levels, note, version, worker or "not known", older_from)


def _rules_version(event: AnyEvent) -> str | None:
    version = getattr(event, "rules_version", None)
    return version if isinstance(version, str) and version else None


def _not_known(view: StrategicView, catalogue: Catalogue, at: float,
               levels: Mapping[str, PublishedLevel], states: Mapping[str, LevelState],
               any_declaration: bool) -> StrategicView:
    """Say "not known" where the record holds nothing, rather than what a live screen
    would say (not published yet, store unreachable)."""

    def known(level: LevelView) -> LevelView:
        return level if level.key in levels else missing_level(level.key, NOT_KNOWN)

    calculated = known(view.calculated)
    drivers = tuple(dataclasses.replace(d, level=known(d.level)) for d in view.drivers)
    published = levels.get(OVERALL)
    at_level = time_at_level(calculated, at, published.since if published else None,
                             catalogue.timezone)
    declared = view.declared
    if not any_declaration and not states:  # nothing on record at all: not even "none"
        declared = DeclaredView("missing", None, "DECLARED LEVEL NOT KNOWN", NEUTRAL,
                                "#ffffff", None, None, None, "not available", NOT_KNOWN, None)
    return dataclasses.replace(view, calculated=calculated, drivers=drivers, at_level=at_level,
                               declared=declared)


def read_asof(record: Record, catalogue: Catalogue, at: float, *,
              rules: Rules | None = None) -> AsOf:
    """The strategic page as it stood at ``at``, read from ``record`` (a Store, or a
    History: the store's hot window and the archive behind it)."""
    window = [decode(e) for e in record.events(at - DAY, at, WINDOW_KINDS)]
    before = (decode(e) for e in record.events_before(at - DAY, WINDOW_KINDS))
    wanted = [(m, TRUST) for m in HEADLINES
              if m in catalogue.metrics and TRUST in catalogue.metrics[m].scopes]
    latest = latest_at(record.series(wanted, at - lookback(catalogue), at), at)
    first = build_asof(catalogue, at, window=window, before=before, latest=latest, rules=rules)
    if first.older_from is None:
        return first
    older = [decode(e) for e in record.events(first.older_from, at - DAY, WINDOW_KINDS)]
    before = (decode(e) for e in record.events_before(at - DAY, WINDOW_KINDS))
    return build_asof(catalogue, at, window=window, before=before, latest=latest, rules=rules,
                      older=older)
