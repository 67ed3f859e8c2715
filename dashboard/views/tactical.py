"""The tactical (silver) page's view model: per function, its level, each trigger's value
against its thresholds (as a band scale), what is about to escalate, the last 6 hours with
the thresholds shaded, and the action checklist of its level.

Pure functions from the rules in force, what was read (latest values, published levels,
series, the checklist) and ``now``. A value is placed on its trigger's scale from the latest
sample (with its age: STALE and NO DATA say so); a value over sites (count_over, max, ...)
is the engine's, as it published it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dashboard.data import Latest, Reading, last_per_bucket, read_value
from dashboard.figures import nice_range
from dashboard.formatting import uk_time
from dashboard.levels import Levels, LevelView, level_view
from dashboard.views.protocols import threshold_words, trigger_subject
from surge.catalogue import TRUST, Catalogue
from surge.declarations import ChecklistItem
from surge.levels import format_value
from surge.rules.model import Protocol, Rules, Trigger
from surge.store import Series

__all__ = [
    "WINDOW",
    "BandScale",
    "ChartRow",
    "ChecklistEntry",
    "FunctionPanel",
    "Marker",
    "TriggerView",
    "band_scale",
    "build_tactical",
    "chart_series",
]

WINDOW = 6 * 3600
BUCKET = 120.0  # the chart keeps the last value of each 2 minutes
NEUTRAL = "#5a5f66"


@dataclass(frozen=True)
class Band:
    level: int
    name: str
    colour: str
    start: float  # 0..1 along the bar (worse to the right)
    end: float


@dataclass(frozen=True)
class Marker:
    position: float  # 0..1
    text: str  # "41 calls", "RVJ 6"
    state: str  # live | stale | missing


@dataclass(frozen=True)
class BandScale:
    """A horizontal bar with the level bands shaded, threshold ticks, markers at values."""

    bands: tuple[Band, ...]
    ticks: tuple[tuple[float, str], ...]  # (position, "30")
    markers: tuple[Marker, ...]
    low: str  # the value at the left end
    high: str  # ... and the right end
    worse: str  # "higher is worse" | "lower is worse"


@dataclass(frozen=True)
class TriggerView:
    key: str  # the engine's name: ae/ae.stack
    dom_id: str
    subject: str
    thresholds: str  # "2 ≥ 15 calls · 3 ≥ 30 calls · 4 ≥ 60 calls; rises after 5 min ..."
    level: LevelView
    value: str  # "41 calls", "RK9 6 (worst of 6)", NO DATA
    state: str  # live | stale | missing
    age: str
    scale: BandScale
    pending: str | None  # "▲ level 3 Severe pressure pending: ... for 3 min of 5 min"


@dataclass(frozen=True)
class ChartRow:
    label: str
    bands: tuple[tuple[float, float, str], ...]  # (y0, y1, colour)
    lines: tuple[tuple[str, np.ndarray, np.ndarray], ...]
    y_range: tuple[float, float]


@dataclass(frozen=True)
class ChecklistEntry:
    id: str
    dom_id: str
    level: int
    owner: str
    do: str
    done: bool
    by: str | None  # "confirmed by dm 10:12: note"
    previously: str | None  # "was confirmed at level 3 by ..."


@dataclass(frozen=True)
class FunctionPanel:
    protocol: str
    label: str
    level: LevelView
    triggers: tuple[TriggerView, ...]
    chart: tuple[ChartRow, ...]
    checklist: tuple[ChecklistEntry, ...]
    checklist_note: str | None  # why there is none
    confirmed: int


def _levels_of(trigger: Trigger, catalogue: Catalogue, base: int
               ) -> list[tuple[int, float | None, float | None]]:
    """(level, from, to) in value space, base level first; None: open ended."""
    out: list[tuple[int, float | None, float | None]] = []
    edges = list(trigger.thresholds)
    out.append((base, None, edges[0][1] if edges else None))
    for i, (number, value) in enumerate(edges):
        out.append((number, value, edges[i + 1][1] if i + 1 < len(edges) else None))
    return out


def _style(catalogue: Catalogue, number: int) -> tuple[str, str]:
    try:
        level = catalogue.level(number)
    except KeyError:
        return f"level {number}", NEUTRAL
    return level.name, level.colour


def band_scale(trigger: Trigger, catalogue: Catalogue, unit: str,
               values: Sequence[tuple[str, float | None, str]],
               value_range: tuple[float, float] | None = None) -> BandScale:
    """The scale of a trigger: worse to the right whichever way the metric runs, padded
    half the span of its thresholds either side (and stretched to show every value), within
    the metric's plausible range. ``values``: (label, value or None, state)."""
    base = catalogue.levels[0].number if catalogue.levels else 1
    sign = 1.0 if trigger.higher_is_worse else -1.0
    cuts = [sign * v for _, v in trigger.thresholds]
    seen = [sign * v for _, v, _ in values if v is not None]
    span = (max(cuts) - min(cuts)) if len(cuts) > 1 else abs(cuts[0]) if cuts else 1.0
    pad = max(span * 0.5, 1e-9) if span else 1.0
    lo = min(cuts + seen) - pad if cuts or seen else 0.0
    hi = max(cuts + seen) + pad if cuts or seen else 1.0
    if seen and max(seen) >= hi:
        hi = max(seen) + pad * 0.2
    if value_range is not None:
        r0, r1 = sorted((sign * value_range[0], sign * value_range[1]))
        lo, hi = max(lo, r0), min(hi, r1)
        if cuts:
            lo = min(lo, min(cuts))
    if hi <= lo:
        hi = lo + 1.0

    def pos(t: float) -> float:
        return min(1.0, max(0.0, (t - lo) / (hi - lo)))

    bands = []
    for number, start, end in _levels_of(trigger, catalogue, base):
        name, colour = _style(catalogue, number)
        a = 0.0 if start is None else pos(sign * start)
        b = 1.0 if end is None else pos(sign * end)
        bands.append(Band(number, name, colour, a, b))
    count = trigger.aggregate == "count_over"
    shown_unit = "" if count else unit
    ticks = tuple((pos(sign * v), format_value(v, shown_unit, compact=True))
                  for _, v in trigger.thresholds)
    # with one value per site, only the worst is labelled (the others would overlap)
    worst = max((sign * v for _, v, _ in values if v is not None), default=None)
    markers = tuple(Marker(pos(sign * v), label if len(values) == 1 or sign * v == worst
                           else "", state)
                    for label, v, state in values if v is not None)  # no value: no marker
    return BandScale(tuple(bands), ticks, markers, format_value(sign * lo, shown_unit),
                     format_value(sign * hi, shown_unit),
                     "higher is worse" if trigger.higher_is_worse else "lower is worse")


def _trigger(protocol: Protocol, trigger: Trigger, rules: Rules, latest: Latest,
             levels: Levels | None, now: float, running: bool) -> TriggerView:
    catalogue = rules.catalogue
    tz = catalogue.timezone
    key = f"{protocol.id}/{trigger.id}"
    metric = catalogue.metrics.get(trigger.metric)
    unit = metric.unit if metric else ""
    level = level_view(key, levels, catalogue, now, worker_running=running)
    values: list[tuple[str, float | None, str]] = []
    readings: list[tuple[str, Reading]] = []
    if metric is not None and (trigger.sites is None or trigger.aggregate == "each"):
        scopes = [TRUST] if trigger.sites is None else list(trigger.sites)
        for scope in scopes:
            reading = read_value(metric, latest.get((metric.id, scope)), now, tz)
            readings.append((scope, reading))
            if scope == TRUST:
                label = reading.text
            elif reading.value is None:
                label = f"{scope} NO DATA"
            else:
                label = f"{scope} {format_value(reading.value, unit, compact=True)}"
            values.append((label, reading.value, reading.state))
    else:  # a value over sites: the engine's
        published = (levels or {}).get(key)
        condition = published.reason.condition if published is not None else None
        if condition is not None and condition.value is not None:
            is_stale = condition.stale or (published is not None and published.stale)
            shown = format_value(condition.value,
                                 "" if trigger.aggregate == "count_over" else unit)
            state = "stale" if is_stale else "live"
            values.append((shown, condition.value, state))
    if readings and trigger.sites is None:
        value, state, age = readings[0][1].text, readings[0][1].state, readings[0][1].age
        if readings[0][1].badge and state == "stale":
            age = f"{readings[0][1].badge} · {age}"
    elif readings:
        worst = max((r for r in readings if r[1].value is not None),
                    key=lambda r: (r[1].state == "live",
                                   (r[1].value or 0) * (1 if trigger.higher_is_worse else -1)),
                    default=None)
        missing = sum(1 for _, r in readings if r.state == "missing")
        stale = sum(1 for _, r in readings if r.state == "stale")
        if worst is None:
            value, state, age = "NO DATA", "missing", f"no value from any of {len(readings)}"
        else:
            value = f"worst {worst[0]}: {worst[1].text}"
            state = "stale" if stale or missing else "live"
            age = worst[1].age
            if stale or missing:
                age += f" · {stale} STALE, {missing} NO DATA of {len(readings)}"
    elif values:
        value, state, age = values[0][0], values[0][2], "as the rules engine last judged it"
    else:
        value, state, age = "NO DATA", "missing", "the rules engine has published no value"
    words = " · ".join(f"{n} {threshold_words(trigger, catalogue, n)}"
                       for n, _ in trigger.thresholds)
    if trigger.aggregate == "count_over":  # a count of sites: from none to all of them
        limits: tuple[float, float] | None = (0.0, float(len(trigger.sites or ())))
    else:
        limits = (metric.low, metric.high) if metric is not None else None
    scale = band_scale(trigger, catalogue, unit, values, limits)
    pending = level.pending.line if level.pending is not None else None
    return TriggerView(key, "trigger-" + key.replace("/", "-").replace(".", "-"),
                       trigger_subject(trigger, catalogue), words, level, value, state, age,
                       scale, pending)


def chart_series(rules: Rules) -> list[tuple[str, str]]:
    """Every (metric, scope) the tactical charts draw, for one store.series() call."""
    out: list[tuple[str, str]] = []
    for protocol in rules.protocols.values():
        for t in protocol.triggers:
            if t.sites is None:
                out.append((t.metric, TRUST))
            elif t.aggregate == "each":
                out += [(t.metric, s) for s in t.sites]
    return list(dict.fromkeys(out))


def _chart_row(trigger: Trigger, catalogue: Catalogue,
               series: Mapping[tuple[str, str], Series]) -> ChartRow | None:
    if trigger.sites is not None and trigger.aggregate != "each":
        return None  # a count or an aggregate over sites: its band scale says it
    scopes = [TRUST] if trigger.sites is None else list(trigger.sites)
    lines = []
    for scope in scopes:
        found = series.get((trigger.metric, scope))
        if found is not None and len(found):
            ts, values = last_per_bucket(found.ts, found.values, BUCKET)
            lines.append((scope, ts, values))
    metric = catalogue.metrics.get(trigger.metric)
    base = catalogue.levels[0].number if catalogue.levels else 1
    cuts = [v for _, v in trigger.thresholds]
    seen = [float(np.nanmax(v)) for _, _, v in lines if len(v)] + \
        [float(np.nanmin(v)) for _, _, v in lines if len(v)]
    y0 = min(cuts + seen) if cuts or seen else 0.0
    y1 = max(cuts + seen) if cuts or seen else 1.0
    y0, y1 = nice_range(y0, y1)
    if metric is not None:
        y0, y1 = max(y0, metric.low), min(y1, metric.high)
    bands = []
    for number, start, end in _levels_of(trigger, catalogue, base):
        if number == base:
            continue
        _, colour = _style(catalogue, number)
        edge = y1 if trigger.higher_is_worse else y0
        bands.append((start if start is not None else edge, end if end is not None else edge,
                      colour))
    label = metric.label if metric else trigger.metric
    if trigger.sites is not None:
        label += " (each site)"
    return ChartRow(label, tuple(bands), tuple(lines), (y0, y1))


def _checklist(items: Sequence[ChecklistItem], catalogue: Catalogue,
               now: float) -> tuple[ChecklistEntry, ...]:
    tz = catalogue.timezone
    out = []
    for item in items:
        c, p = item.confirmation, item.previously
        by = None
        if c is not None:
            by = f"confirmed by {c.by} {uk_time(c.at, tz, seconds=False, now=now)}"
            by += f": {c.note}" if c.note else ""
        was = None
        if p is not None and c is None:
            was = (f"was confirmed at level {p.level} by {p.by} "
                   f"{uk_time(p.at, tz, seconds=False, now=now)}")
        out.append(ChecklistEntry(item.id, "action-" + item.id.replace(".", "-"),
                                  item.action.level, item.action.owner, item.action.do,
                                  item.done, by, was))
    return tuple(out)


def build_tactical(rules: Rules, now: float, *, latest: Latest, levels: Levels | None,
                   series: Mapping[tuple[str, str], Series],
                   checklist: Sequence[ChecklistItem] | None,
                   worker_running: bool) -> tuple[FunctionPanel, ...]:
    """One panel per protocol, in the rules' order. ``levels`` and ``checklist`` None: the
    store did not answer."""
    catalogue = rules.catalogue
    panels = []
    for protocol in rules.protocols.values():
        level = level_view(protocol.id, levels, catalogue, now, worker_running=worker_running)
        triggers = tuple(_trigger(protocol, t, rules, latest, levels, now, worker_running)
                         for t in protocol.triggers)
        rows = tuple(r for t in protocol.triggers
                     if (r := _chart_row(t, catalogue, series)) is not None)
        mine = [i for i in checklist or () if i.action.protocol == protocol.id]
        note = None
        if checklist is None:
            note = "The checklist cannot be read: data store unreachable"
        elif level.number is None:
            note = f"No checklist: no calculated level ({level.flag})"
        elif not mine:
            note = f"No actions at level {level.number} {level.name}"
        entries = _checklist(mine, catalogue, now)
        panels.append(FunctionPanel(protocol.id, protocol.label, level, triggers, rows,
                                    entries, note, sum(1 for e in entries if e.done)))
    return tuple(panels)
