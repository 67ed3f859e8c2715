"""The strategic (gold) page's view model: the trust's level, declared beside calculated, why,
the last 24 hours, the actions of the levels in force and the headline figures.

Pure functions from what was read (published levels, the declaration, level and declaration
events, the checklist, latest values) and ``now``. Durations are differences of UTC instants,
so "at this level for 3 h" stays right across the clock changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dashboard.data import Latest, Reading, dom_id, read_value
from dashboard.figures import chart_window
from dashboard.formatting import format_span, uk_time
from dashboard.levels import OVERALL, Levels, LevelView, level_view
from dashboard.views.header import DeclaredView, declared_view
from surge.catalogue import TRUST, Catalogue, Level
from surge.declarations import ChecklistItem, Declaration, TrustStatus
from surge.events import DeclarationWithdrawn, Declared, LevelChanged

__all__ = [
    "DAY",
    "HEADLINES",
    "ActionItem",
    "ActionsView",
    "DriverView",
    "Headline",
    "Mark",
    "StepSeries",
    "StrategicView",
    "Timeline",
    "actions_view",
    "build_strategic",
    "declared_steps",
    "headlines",
    "level_steps",
    "time_at_level",
]

DAY = 24 * 3600
# the figures a strategic commander reads first: metric id -> label on the page
HEADLINES = {
    "calls.waiting": "999 calls waiting",
    "ae.c1_mean": "Category 1 mean response",
    "ae.c2_mean": "Category 2 mean response",
    "ae.handover_queue": "Ambulances waiting to hand over",
    "ae.hours_lost": "Hours lost at handover today",
}


@dataclass(frozen=True)
class Headline:
    metric: str
    label: str
    dom_id: str
    reading: Reading


@dataclass(frozen=True)
class DriverView:
    """A function and its calculated level, and whether it sets the trust's level."""

    protocol: str
    label: str
    level: LevelView
    drives: bool


@dataclass(frozen=True)
class StepSeries:
    """A level over time as steps: at ts[i] it became levels[i] (None: none, a gap)."""

    name: str
    label: str
    ts: tuple[float, ...]
    levels: tuple[int | None, ...]


@dataclass(frozen=True)
class Mark:
    """A declaration (or its withdrawal) on the timeline."""

    ts: float
    level: int
    text: str  # "10:04 declared 3 Severe pressure by ann: reason"
    withdrawn: bool


@dataclass(frozen=True)
class Timeline:
    start: float  # the chart's axis (figures.chart_window): ``end`` is a little after now
    end: float
    rows: tuple[StepSeries, ...]  # the trust first, then each function
    declared: StepSeries
    marks: tuple[Mark, ...]


@dataclass(frozen=True)
class ActionItem:
    id: str
    protocol_label: str
    level: int
    owner: str
    do: str
    done: bool
    by: str | None  # "confirmed by dm 10:12"


@dataclass(frozen=True)
class ActionsView:
    """The actions in force: how many are confirmed, and each."""

    confirmed: int
    total: int
    items: tuple[ActionItem, ...]  # unconfirmed first, then the confirmed
    note: str | None  # why there are none, or that some levels are held on stale data


@dataclass(frozen=True)
class StrategicView:
    calculated: LevelView
    declared: DeclaredView
    at_level: str  # "at level 2 for 3 h 05 min, since 09:12"
    drivers: tuple[DriverView, ...]
    timeline: Timeline
    actions: ActionsView
    headlines: tuple[Headline, ...]
    levels: tuple[Level, ...]  # the levels in force, for the chart's key


def time_at_level(view: LevelView, now: float, since: float | None, tz: object) -> str:
    """How long the trust has been at its calculated level, or why that cannot be said."""
    if view.number is None:
        return f"No calculated level: {view.flag}"
    if since is None:
        return f"At level {view.number} (since when is not known)"
    text = (f"At level {view.number} {view.name} for {format_span(now - since)}, since "
            f"{uk_time(since, tz, seconds=False, now=now)}")  # type: ignore[arg-type]
    return text if view.live else f"{text} — {view.flag}"


def headlines(catalogue: Catalogue, latest: Latest, now: float) -> tuple[Headline, ...]:
    """The headline figures (trust-wide), each with its age; STALE and NO DATA say so."""
    out = []
    for metric_id, label in HEADLINES.items():
        metric = catalogue.metrics.get(metric_id)
        if metric is None or TRUST not in metric.scopes:
            continue
        reading = read_value(metric, latest.get((metric_id, TRUST)), now, catalogue.timezone)
        out.append(Headline(metric_id, label, dom_id(metric_id), reading))
    return tuple(out)


def level_steps(name: str, label: str, changes: Iterable[LevelChanged],
                current_level: int | None, current_since: float | None,
                start: float, end: float) -> StepSeries:
    """The steps of level ``name`` over [start, end] from its level_changed events (any
    order) and the level published now. Before the first change in the window the level
    is that change's ``from``; with no change, the level now, if it was reached before the
    window; what is not known is a gap."""
    mine = sorted((e for e in changes if e.name == name and start <= e.ts <= end),
                  key=lambda e: e.ts)
    ts: list[float] = []
    levels: list[int | None] = []
    if mine:
        ts.append(start)
        levels.append(mine[0].from_)
        for event in mine:
            ts.append(event.ts)
            levels.append(event.to)
    elif current_level is not None:
        if current_since is None or current_since <= start:
            ts.append(start)
            levels.append(current_level)
        else:  # reached within the window without an event on record: unknown before
            ts += [start, current_since]
            levels += [None, current_level]
    if current_level is not None and levels and levels[-1] != current_level:
        ts.append(current_since if current_since is not None and current_since > ts[-1]
                  else end)
        levels.append(current_level)
    if ts:
        ts.append(end)
        levels.append(current_level if current_level is not None else levels[-1])
    return StepSeries(name, label, tuple(ts), tuple(levels))


def declared_steps(events: Iterable[Declared | DeclarationWithdrawn],
                   current: Declaration | None, start: float, end: float,
                   tz: object, now: float) -> tuple[StepSeries, tuple[Mark, ...]]:
    """The declared trust level over [start, end] (None while nothing is declared), and a
    mark for each declaration and withdrawal."""
    mine = sorted((e for e in events if getattr(e, "name", "overall") == OVERALL
                   and start <= e.ts <= end), key=lambda e: e.ts)
    if mine:
        first = mine[0]
        before = first.previous if isinstance(first, Declared) else first.level
    else:
        before = current.level if current is not None and current.at <= start else None
    ts: list[float] = [start]
    levels: list[int | None] = [before]
    marks = []
    for event in mine:
        when = uk_time(event.ts, tz, seconds=False, now=now)  # type: ignore[arg-type]
        if isinstance(event, Declared):
            ts.append(event.ts)
            levels.append(event.level)
            name = f" {event.level_name}" if event.level_name else ""
            marks.append(Mark(event.ts, event.level, f"{when} declared {event.level}{name} by "
                                                     f"{event.by}: {event.reason}", False))
        else:
            ts.append(event.ts)
            levels.append(None)
            why = f": {event.reason}" if event.reason else ""
            marks.append(Mark(event.ts, event.level, f"{when} declaration of {event.level} "
                                                     f"withdrawn by {event.by}{why}", True))
    if not mine and current is not None and current.at > start:
        ts.append(current.at)
        levels.append(current.level)
    ts.append(end)
    levels.append(current.level if current is not None else None)
    return StepSeries("declared", "Trust (declared)", tuple(ts), tuple(levels)), tuple(marks)


def actions_view(items: Sequence[ChecklistItem] | None, catalogue: Catalogue,
                 now: float) -> ActionsView:
    """The checklist of the levels in force: confirmed of total, the open ones first."""
    if items is None:
        return ActionsView(0, 0, (), "The checklist cannot be read: data store unreachable")
    tz = catalogue.timezone
    out = []
    for item in items:
        c = item.confirmation
        by = (f"confirmed by {c.by} {uk_time(c.at, tz, seconds=False, now=now)}"
              if c is not None else None)
        out.append(ActionItem(item.id, item.action.protocol_label, item.action.level,
                              item.action.owner, item.action.do, item.done, by))
    out.sort(key=lambda a: a.done)  # stable: highest level first within each
    done = sum(1 for a in out if a.done)
    note = None
    if not out:
        note = "No actions in force: every function is at its base level"
    elif any(i.stale for i in items):
        note = "Some levels are held on stale data: their actions stand until the data returns"
    return ActionsView(done, len(out), tuple(out), note)


def build_strategic(catalogue: Catalogue, now: float, *, levels: Levels | None,
                    trust: TrustStatus | None, latest: Latest,
                    events: Sequence[object], checklist: Sequence[ChecklistItem] | None,
                    worker_running: bool) -> StrategicView:
    """Everything on the strategic page. ``levels`` None and ``trust`` None: the store did
    not answer; ``events``: level_changed, declared and declaration_withdrawn of 24 h."""
    tz = catalogue.timezone

    def level(key: str) -> LevelView:
        return level_view(key, levels, catalogue, now, worker_running=worker_running)

    overall = level(OVERALL)
    published = (levels or {}).get(OVERALL)
    drivers_of = {d.name for d in published.reason.drivers} if published is not None else set()
    drivers = tuple(DriverView(f.id, f.label, level(f.id), f.id in drivers_of)
                    for f in catalogue.functions)
    start, end = chart_window(now, DAY)
    changes = [e for e in events if isinstance(e, LevelChanged)]
    rows = [level_steps(OVERALL, "Trust (calculated)", changes,
                        published.level if published else None,
                        published.since if published else None, start, now)]
    for function in catalogue.functions:
        current = (levels or {}).get(function.id)
        rows.append(level_steps(function.id, function.label, changes,
                                current.level if current else None,
                                current.since if current else None, start, now))
    decl_events = [e for e in events if isinstance(e, Declared | DeclarationWithdrawn)]
    declared, marks = declared_steps(decl_events, trust.declared if trust else None, start,
                                     now, tz, now)
    return StrategicView(
        calculated=overall,
        declared=declared_view(trust, catalogue, now, live=worker_running),
        at_level=time_at_level(overall, now, published.since if published else None, tz),
        drivers=drivers,
        timeline=Timeline(start, end, tuple(rows), declared, marks),
        actions=actions_view(checklist, catalogue, now),
        headlines=headlines(catalogue, latest, now),
        levels=tuple(catalogue.levels),
    )
