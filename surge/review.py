"""Post-incident review: what the record says about a window of time.

Everything here is read from the record (samples and events, from the store's hot window
and the archive behind it: surge.history), never from what a page showed: the calculated
levels as steps (trust first, then each function), the declared trust level, alerts with
how long each took to be acknowledged, actions confirmed, declarations with their reasons,
annotations and the rules versions in force. Exports (``surge export``) and the report are
built from it.

Times are UTC epoch seconds throughout; ``uk_iso`` writes an instant as UK local time with
its offset, so the hour the clocks repeat in October appears twice, in order, told apart by
its offset, and durations are plain differences of instants (a night from 19:00 to 07:00
across the October change lasts 13 hours).
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from surge.archive import Rollup, rollup
from surge.catalogue import Catalogue, Metric
from surge.events import (
    ActionConfirmed,
    AlertAcknowledged,
    AlertEscalated,
    AlertFiring,
    AlertResolved,
    AnyEvent,
    DeclarationWithdrawn,
    Declared,
    EngineStarted,
    LevelChanged,
    RulesLoaded,
    decode,
    read_events,
)
from surge.history import History, Record, step_for
from surge.store import SeriesKey
from surge.timefmt import UK, uk_iso, utc_iso

__all__ = [
    "OVERALL",
    "AlertStory",
    "Note",
    "Review",
    "Steps",
    "downsample",
    "events_csv",
    "notes_in",
    "read_review",
    "samples_csv",
    "samples_csv_parts",
    "uk_iso_array",
]

OVERALL = "overall"  # the trust's calculated level, and its declared one
QUIET_KINDS = ("samples_stored",)  # one per batch: the samples themselves are the record
SAMPLE_COLUMNS = ("ts_utc", "ts_uk", "metric", "scope", "value")
EVENT_COLUMNS = ("ts_utc", "ts_uk", "kind", "name", "from", "to", "actor", "text", "fields")


# --- times ------------------------------------------------------------------------------


def _offsets(ts: np.ndarray) -> np.ndarray:
    """UK's UTC offset in seconds at each instant (the zone changes offset on the hour, so
    it is looked up once per distinct hour)."""
    hours = np.floor(ts / 3600.0).astype(np.int64)
    unique, inverse = np.unique(hours, return_inverse=True)
    offsets = np.array([_offset(h * 3600 + 1800) for h in unique.tolist()], dtype=np.int64)
    return offsets[inverse]


def _offset(ts: float) -> int:
    offset = datetime.fromtimestamp(ts, UK).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _whole_seconds(ts: np.ndarray) -> np.ndarray:
    """The second each instant falls in, taken as datetime does (to the microsecond first)."""
    return (np.round(ts * 1e6) // 1_000_000).astype(np.int64)


def _utc_array(ts: np.ndarray) -> np.ndarray:
    seconds = _whole_seconds(ts).astype("datetime64[s]")
    return np.char.add(np.datetime_as_string(seconds, unit="s"), "Z")


def uk_iso_array(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ISO 8601 texts of many instants at once: (UTC with Z, UK local with offset), to the
    second; as uk_iso gives one at a time."""
    ts = np.asarray(ts, dtype=np.float64)
    if not ts.size:
        empty = np.array([], dtype=str)
        return empty, empty
    offsets = _offsets(ts)
    whole = _whole_seconds(ts)
    local = np.datetime_as_string((whole + offsets).astype("datetime64[s]"), unit="s")
    sign = np.where(offsets < 0, "-", "+")
    size = np.abs(offsets)
    zone = np.char.add(np.char.add(sign, np.char.zfill((size // 3600).astype(str), 2)),
                       np.char.add(":", np.char.zfill((size % 3600 // 60).astype(str), 2)))
    return _utc_array(ts), np.char.add(local, zone)


# --- levels over time -------------------------------------------------------------------


@dataclass(frozen=True)
class Steps:
    """A level over [start, end] as steps: from ts[i] it was levels[i] (None: not known,
    or for the declared level, nothing declared); the last entry is the window's end."""

    name: str
    label: str
    ts: tuple[float, ...]
    levels: tuple[int | None, ...]

    def time_at(self) -> dict[int | None, float]:
        """Seconds at each level within the window."""
        out: dict[int | None, float] = {}
        for (t0, level), t1 in zip(zip(self.ts, self.levels, strict=True), self.ts[1:],
                                   strict=False):
            out[level] = out.get(level, 0.0) + (t1 - t0)
        return out

    @property
    def highest(self) -> int | None:
        known = [lv for lv in self.levels[:-1] if lv is not None]
        return max(known) if known else None


def _steps(name: str, label: str, before: int | None,
           changes: Sequence[tuple[float, int | None]], start: float, end: float) -> Steps:
    ts, levels = [start], [before]
    for when, level in changes:
        if when <= ts[-1]:  # at the start itself (or the same instant): the later wins
            levels[-1] = level
            continue
        ts.append(when)
        levels.append(level)
    ts.append(end)
    levels.append(levels[-1])
    return Steps(name, label, tuple(ts), tuple(levels))


# --- alerts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertStory:
    """One alert from the record: when it fired, who acknowledged it and how fast, how
    often it escalated, when it was resolved (None: not within the window)."""

    alert: str
    name: str
    severity: str
    summary: str
    fired: float
    acknowledged: float | None = None
    by: str | None = None
    escalations: int = 0
    resolved: float | None = None

    @property
    def ack_seconds(self) -> float | None:
        return None if self.acknowledged is None else self.acknowledged - self.fired


def _alert_stories(events: Iterable[AnyEvent]) -> tuple[AlertStory, ...]:
    stories: dict[str, dict[str, Any]] = {}
    for event in events:
        if isinstance(event, AlertFiring):
            stories[event.alert] = {"alert": event.alert, "name": event.name,
                                    "severity": event.severity, "summary": event.summary,
                                    "fired": event.ts}
            continue
        story = stories.get(getattr(event, "alert", ""))
        if story is None:  # fired before the window: not this window's story
            continue
        if isinstance(event, AlertAcknowledged) and "acknowledged" not in story:
            story.update(acknowledged=event.ts, by=event.by)
        elif isinstance(event, AlertEscalated):
            story["escalations"] = story.get("escalations", 0) + 1
        elif isinstance(event, AlertResolved) and "resolved" not in story:
            story["resolved"] = event.ts
    return tuple(AlertStory(**story) for story in stories.values())


# --- notes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    """A note on the timeline as it stands, about a time (or a span ``at`` to ``until``),
    with its author and how many times they changed it."""

    note: str
    at: float
    until: float | None
    by: str
    about: str | None
    text: str
    changes: int
    written: float  # when its text was last written


def notes_in(record: Record, start: float, end: float) -> tuple[Note, ...]:
    """The notes about a time or a span within [start, end], by the time they are about."""
    out = []
    for held in record.annotations().values():
        at, until = float(held["at"]), held.get("until")
        if at > end or (until if until is not None else at) < start:
            continue
        latest = held["versions"][-1]
        out.append(Note(held["note"], at, until, held["by"], held.get("about"),
                        latest["text"], len(held["versions"]) - 1, latest["ts"]))
    return tuple(sorted(out, key=lambda n: (n.at, n.note)))


# --- the review -------------------------------------------------------------------------


@dataclass(frozen=True)
class Review:
    """What the record says about [start, end]."""

    start: float
    end: float
    levels: tuple[Steps, ...]  # the trust's calculated level first, then each function's
    declared: Steps  # the trust's declared level (None: nothing declared)
    events: tuple[AnyEvent, ...]  # everything recorded in the window but per-batch notes
    alerts: tuple[AlertStory, ...]
    declarations: tuple[Declared | DeclarationWithdrawn, ...]
    actions: tuple[ActionConfirmed, ...]
    annotations: tuple[Note, ...]  # the notes about a time or span in the window, by time
    rules: tuple[tuple[float, str, str], ...]  # (from when, version, file or "") in force
    exercise: bool  # the window holds an exercise's events

    @property
    def hours(self) -> float:
        return (self.end - self.start) / 3600

    def ack_times(self) -> tuple[float | None, float | None, int]:
        """Median and longest seconds to acknowledge, and how many were never acknowledged."""
        took = [a.ack_seconds for a in self.alerts if a.ack_seconds is not None]
        never = sum(1 for a in self.alerts if a.acknowledged is None)
        return (statistics.median(took) if took else None, max(took) if took else None, never)


def read_review(record: Record, catalogue: Catalogue, start: float, end: float) -> Review:
    """The review of [start, end] from the store. ValueError when end is not after start."""
    if not end > start:
        raise ValueError("the window must end after it starts")
    events = tuple(e for e in read_events(record, start=start, end=end)
                   if e.kind not in QUIET_KINDS)
    rows = [(OVERALL, "Trust (calculated)")] + [(f.id, f.label) for f in catalogue.functions]
    first_level, first_declared, first_rules = _first_states(record, start,
                                                             [name for name, _ in rows])
    changes: dict[str, list[tuple[float, int | None]]] = {}
    declared_changes: list[tuple[float, int | None]] = []
    rules: list[tuple[float, str, str]] = []
    if first_rules is not None:
        rules.append((start, *first_rules))
    for event in events:
        if isinstance(event, LevelChanged):
            changes.setdefault(event.name, []).append((event.ts, event.to))
        elif isinstance(event, EngineStarted):  # the levels it starts from, and its rules
            for name, number in _engine_levels(event).items():
                changes.setdefault(name, []).append((event.ts, number))
            if not rules or rules[-1][1] != event.rules_version:
                rules.append((event.ts, event.rules_version, ""))
        elif isinstance(event, Declared) and event.name == OVERALL:
            declared_changes.append((event.ts, event.level))
        elif isinstance(event, DeclarationWithdrawn) and event.name == OVERALL:
            declared_changes.append((event.ts, None))
        elif isinstance(event, RulesLoaded):
            rules.append((event.ts, event.rules_version, event.source))
    levels = tuple(_steps(name, label, first_level.get(name), changes.get(name, []), start, end)
                   for name, label in rows)
    declared = _steps(OVERALL, "Trust (declared)", first_declared, declared_changes, start, end)
    return Review(
        start=start, end=end, levels=levels, declared=declared, events=events,
        alerts=_alert_stories(events),
        declarations=tuple(e for e in events if isinstance(e, Declared | DeclarationWithdrawn)),
        actions=tuple(e for e in events if isinstance(e, ActionConfirmed)),
        annotations=notes_in(record, start, end),
        rules=tuple(rules),
        exercise=any(e.exercise for e in events))


def _engine_levels(event: EngineStarted) -> dict[str, int]:
    """The levels an engine started at (each protocol's and the trust's)."""
    return {str(name): int(number) for name, number in event.levels.items()
            if isinstance(number, int) and not isinstance(number, bool)}


def _first_states(record: Record, start: float, names: Sequence[str]
                  ) -> tuple[dict[str, int | None], int | None, tuple[str, str] | None]:
    """Each of ``names``' levels, the declared level and the rules (version, file) in force
    at ``start``: from the newest events before it, read back only as far as needed (an
    engine start gives every level at once). A level with nothing on record before the
    window is not known."""
    levels: dict[str, int | None] = {}
    rules: tuple[str, str] | None = None
    for stored in record.events_before(start, [LevelChanged.kind, EngineStarted.kind,
                                              RulesLoaded.kind]):
        event = decode(stored)
        if isinstance(event, LevelChanged):
            if event.name in names:
                levels.setdefault(event.name, event.to)
            rules = rules or (event.rules_version, "")
        elif isinstance(event, EngineStarted):
            for name, number in _engine_levels(event).items():
                levels.setdefault(name, number)
            rules = rules or (event.rules_version, "")
        elif isinstance(event, RulesLoaded):
            rules = rules or (event.rules_version, event.source)
        if rules is not None and all(name in levels for name in names):
            break
    declared: int | None = None
    for stored in record.events_before(start, [Declared.kind, DeclarationWithdrawn.kind]):
        event = decode(stored)
        if isinstance(event, Declared | DeclarationWithdrawn) and event.name == OVERALL:
            declared = event.level if isinstance(event, Declared) else None
            break
    return levels, declared, rules


# --- samples --------------------------------------------------------------------------


def review_series(catalogue: Catalogue, *, functions: Iterable[str] | None = None,
                  scopes: Iterable[str] | None = None,
                  metrics: Iterable[str] | None = None) -> list[tuple[Metric, str]]:
    """Every (metric, scope) the catalogue reports, narrowed to some functions, scopes
    (``trust`` or site codes) or metric ids."""
    functions = set(functions) if functions else None
    scopes = set(scopes) if scopes else None
    wanted = set(metrics) if metrics else None
    out = []
    for metric in catalogue.metrics.values():
        if (functions is not None and metric.function not in functions) or \
                (wanted is not None and metric.id not in wanted):
            continue
        out += [(metric, scope) for scope in catalogue.scopes_of(metric)
                if scopes is None or scope in scopes]
    return out


def samples_csv(record: Record, series: Sequence[tuple[Metric, str]], start: float,
                end: float, out: io.TextIOBase | Any) -> int:
    """Write the stored samples of ``series`` in [start, end] as CSV (SAMPLE_COLUMNS),
    oldest first (at the same instant, in the order of ``series``: the catalogue's, the
    trust before its sites); the number of rows written."""
    rows = 0
    for text, count in samples_csv_parts(record, series, start, end):
        out.write(text)
        rows += count
    return rows


def samples_csv_parts(record: Record, series: Sequence[tuple[Metric, str]], start: float,
                      end: float, span: float = 6 * 3600.0) -> Iterator[tuple[str, int]]:
    """samples_csv a part at a time, as (text, rows): the header, then ``span`` seconds of
    samples after another, so a long window is never held whole (a web download streams)."""
    head = io.StringIO()
    csv.writer(head, lineterminator="\n").writerow(SAMPLE_COLUMNS)
    yield head.getvalue(), 0
    wanted = [(m.id, scope) for m, scope in series]
    t = start
    while t <= end:
        # [t, t + span) but the last, which includes ``end``
        last = min(t + span, end)
        read = record.series(wanted, t, last)
        parts = [(key, s.ts, s.values) for key, s in read.items() if len(s)]
        if last < end:  # this part ends before ``last``: that instant is the next part's
            parts = [(key, ts[ts < last], values[ts < last]) for key, ts, values in parts]
        parts = [(key, ts, values) for key, ts, values in parts if len(ts)]
        t = last if last < end else end + 1
        if not parts:
            continue
        ts = np.concatenate([p[1] for p in parts])
        values = np.concatenate([p[2] for p in parts])
        which = np.concatenate([np.full(len(p[1]), i) for i, p in enumerate(parts)])
        order = np.lexsort((which, ts))
        ts, values, which = ts[order], values[order], which[order]
        utc, uk = uk_iso_array(ts)
        names = [p[0] for p in parts]
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(zip(
            utc.tolist(), uk.tolist(), [names[i][0] for i in which.tolist()],
            [names[i][1] for i in which.tolist()], [repr(v) for v in values.tolist()],
            strict=True))
        yield text.getvalue(), len(ts)


def event_subject(event: AnyEvent) -> str:
    """What an event is about: a level's name, a feed, a receiver ("" when nothing)."""
    fields = event.fields()
    return str(fields.get("name") or fields.get("feed") or fields.get("receiver") or "")


def event_row(event: AnyEvent) -> list[str]:
    """One event as EVENT_COLUMNS."""
    fields = event.fields()
    before = fields.get("from", fields.get("previous"))
    after = fields.get("to", fields.get("level"))
    actor = (fields.get("by") or fields.get("user") or fields.get("loaded_by")
             or fields.get("worker") or "")
    return [utc_iso(event.ts), uk_iso(event.ts), event.kind, event_subject(event),
            "" if before is None else str(before), "" if after is None else str(after),
            str(actor), event.describe(), json.dumps(fields, default=str, sort_keys=True)]


def events_csv(events: Iterable[AnyEvent], out: io.TextIOBase | Any) -> int:
    """Write events as CSV (EVENT_COLUMNS, the kind's fields as JSON last); rows written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EVENT_COLUMNS)
    n = 0
    for event in events:
        writer.writerow(event_row(event))
        n += 1
    return n


def downsample(ts: np.ndarray, values: np.ndarray, points: int = 5000
               ) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``points`` points, keeping every peak: the series (in time order) cut
    into points/2 equal spans of time, each giving its lowest and highest sample, in time
    order. A span of missing values (NaN) keeps one of them, so a gap stays a gap."""
    if len(ts) <= points:
        return ts, values
    buckets = max(1, points // 2)
    edges = np.linspace(ts[0], ts[-1], buckets + 1)
    which = np.clip(np.searchsorted(edges, ts, side="right") - 1, 0, buckets - 1)
    starts = np.flatnonzero(np.r_[True, which[1:] != which[:-1]])
    # sorted by span, then value (NaN last): each span's lowest comes first in it; its
    # highest is the last before its NaNs, or its first when it holds nothing but NaN
    order = np.lexsort((values, which))
    numbers = np.isfinite(values[order])
    counted = np.add.reduceat(numbers.astype(np.int64), starts)
    lowest = order[starts]
    highest = order[starts + np.maximum(counted - 1, 0)]
    index = np.unique(np.concatenate([lowest, highest]))
    return ts[index], values[index]


# --- what the charts draw ------------------------------------------------------------------


@dataclass(frozen=True)
class Trace:
    """One series as a chart draws it over a window. From samples (``step`` None): ts and
    values, every peak kept (``downsample``). From rollups (long windows): each bucket's
    start, its mean as ``values``, and its lowest and highest sample as ``low`` / ``high``."""

    ts: np.ndarray
    values: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    step: int | None = None
    samples: int = 0  # how many samples it stands for

    def __len__(self) -> int:
        return len(self.ts)


def traces(record: Record, wanted: Sequence[SeriesKey], start: float, end: float,
           points: int = 5000) -> dict[SeriesKey, Trace]:
    """Every wanted series over [start, end] in one read, at most about ``points`` points
    each: samples for windows up to 3 days, else 5-minute or hourly rollups (from the
    archive where it holds them), merged further when still too many."""
    step = step_for(end - start)
    if step is None:
        out = {}
        for key, got in record.series(wanted, start, end).items():
            ts, values = downsample(got.ts, got.values, points)
            out[key] = Trace(ts, values, samples=len(got))
        return out
    if isinstance(record, History):
        rolled = record.rollups(wanted, start, end, step)
    else:
        rolled = {k: rollup(s.ts, s.values, step)
                  for k, s in record.series(wanted, start, end).items()}
    out = {}
    for key, r in rolled.items():
        r = coarsen(r, points)
        out[key] = Trace(r.start, r.mean, r.min, r.max, step, int(r.count.sum()))
    return out


def coarsen(r: Rollup, most: int) -> Rollup:
    """At most ``most`` buckets: runs of neighbouring buckets merged (lowest of the lows,
    highest of the highs, the mean weighted by count), so no peak is lost."""
    if len(r) <= most:
        return r
    k = -(-len(r) // most)
    starts = np.arange(0, len(r), k)
    total = np.add.reduceat(r.mean * r.count, starts)
    count = np.add.reduceat(r.count, starts)
    return Rollup(r.start[starts], np.minimum.reduceat(r.min, starts),
                  np.maximum.reduceat(r.max, starts), total / count, count)
