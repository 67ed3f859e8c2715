"""The overview's view model: what every figure on screen says, built from store reads.

Pure functions only (no Redis, no Dash), so the safety rules are tested directly:

- a value older than its metric's ``stale_after`` is STALE and says when it was last seen;
- a series with no value says NO DATA;
- every figure carries its age; times on screen are UK local time, storage is UTC epoch s;
- a calculated level is always number, name and colour together; a stale one says STALE
  DATA, one that is not being updated (worker stopped, store down) says so, and a missing
  one says LEVEL NOT AVAILABLE on neutral grey, never a level's colour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

import numpy as np

from surge.catalogue import TRUST, Catalogue, Function, Metric, Site
from surge.durations import format_duration
from surge.store import FeedStatus, Series

__all__ = [
    "HANDOVER_COLUMNS",
    "NEUTRAL",
    "NOT_AVAILABLE",
    "NOT_UPDATING_FLAG",
    "OVERALL",
    "SPARK_WINDOW",
    "STALE_FLAG",
    "WORKER_TIMEOUT",
    "FeedProblem",
    "HandoverRow",
    "HandoverTable",
    "LevelView",
    "MetricView",
    "OverviewView",
    "PanelView",
    "Pending",
    "Reading",
    "SiteReading",
    "StatusView",
    "build_overview",
    "dom_id",
    "feed_problems",
    "format_age",
    "format_value",
    "last_per_bucket",
    "level_dom_id",
    "level_view",
    "local_time",
    "missing_level",
    "pending_escalation",
    "read_value",
    "sparkline_series",
    "text_colour",
    "trigger_text",
    "worker_stopped",
    "worst_site",
]

SPARK_WINDOW = 6 * 3600  # seconds of history in a sparkline
SPARK_BUCKET = 60.0  # key metrics' sparklines keep the last value of each minute
SPARK_BUCKET_SMALL = 120.0  # the other metrics' (smaller) sparklines, of each 2 minutes
WORKER_TIMEOUT = 60.0  # a heartbeat older than this means the worker has stopped

# The per-hospital handover table under A&E: metric id -> column heading.
HANDOVER_COLUMNS = {
    "ae.handover_queue": "Waiting",
    "ae.handover_longest": "Longest wait",
    "ae.handovers_over_60": "Over 60 min (today)",
    "ae.hours_lost": "Hours lost (today)",
}
_HANDOVER_WORST_BY = ("ae.handover_longest", "ae.handover_queue")

State = Literal["live", "stale", "missing"]
Latest = Mapping[tuple[str, str], tuple[float, float]]
# What store.levels() returns: engine name -> {level, since, stale, kind, reason}.
Levels = Mapping[str, Mapping[str, Any]]
LevelState = Literal["live", "stale", "missing", "not-live"]

OVERALL = "overall"  # the engine's name for the trust's calculated level
NEUTRAL = "#5a5f66"  # LEVEL NOT AVAILABLE: grey, never one of the levels' colours
DARK_TEXT = "#111111"
LIGHT_TEXT = "#ffffff"
NOT_AVAILABLE = "LEVEL NOT AVAILABLE"
STALE_FLAG = "STALE DATA — level held"
NOT_UPDATING_FLAG = "NOT UPDATING — worker stopped"
STORE_DOWN_FLAG = "data store unreachable"
NOT_PUBLISHED_FLAG = "the rules engine has not published any levels yet"
NO_ENTRY_FLAG = "no calculated level published for this"
MAX_REASONS = 2  # trigger sentences in a reason line before "and N more"
_SITE_KINDS = {"hospital": "hospitals", "eoc": "EOCs", "pts_zone": "PTS zones"}


@dataclass(frozen=True)
class Reading:
    """One figure as shown: its text, its age, and whether it may be read as live."""

    state: State
    value: float | None
    at: float | None  # UTC epoch seconds of the value
    text: str  # "12 calls", or "NO DATA"
    age: str  # "updated 12 s ago", or "no value received"
    badge: str | None  # "STALE — last value 14:03" / "NO DATA"; None when live


@dataclass(frozen=True)
class SiteReading:
    site: Site
    reading: Reading


@dataclass(frozen=True)
class MetricView:
    metric: Metric
    dom_id: str  # value-<metric id with dots as dashes>
    reading: Reading
    scope_note: str | None  # for metrics reported only per site: which site is worst
    sites: tuple[SiteReading, ...]  # per-site readings when there is no trust series
    spark: tuple[np.ndarray, np.ndarray] | None  # downsampled trust series (ts, values)


@dataclass(frozen=True)
class Pending:
    """The escalation nearest to raising a level: which level, and the trigger holding."""

    number: int
    name: str
    colour: str
    text_colour: str
    condition: str  # "999 calls waiting ≥ 30 calls for 3m of 5m"
    more: int  # further pending escalations in the same scope

    @property
    def line(self) -> str:
        more = f" (+{self.more} more)" if self.more else ""
        return f"▲ level {self.number} pending: {self.condition}{more}"


@dataclass(frozen=True)
class LevelView:
    """One calculated level as shown: number, name and colour together, since when, and why."""

    key: str  # the engine's name: overall, ae, ae@RVJ
    dom_id: str  # level-overall, level-ae, level-ae-RVJ
    state: LevelState
    number: int | None  # None: not available
    name: str  # "Severe pressure", or LEVEL NOT AVAILABLE
    colour: str
    text_colour: str
    since: str | None  # "since 14:03" (UK time)
    flag: str | None  # STALE DATA / NOT UPDATING / why it is not available; None when live
    reason: str | None  # one short line of why
    reason_detail: str | None  # the whole of why, for a tooltip
    pending: Pending | None
    engine_stale: bool  # the engine's own stale flag

    @property
    def live(self) -> bool:
        return self.state == "live"


@dataclass(frozen=True)
class HandoverRow:
    site: Site
    cells: tuple[Reading, ...]
    worst: bool
    level: LevelView | None = None  # the protocol's level at this hospital


@dataclass(frozen=True)
class HandoverTable:
    columns: tuple[tuple[Metric, str], ...]  # (metric, heading)
    rows: tuple[HandoverRow, ...]


@dataclass(frozen=True)
class PanelView:
    function: Function
    metrics: tuple[MetricView, ...]  # key metrics first
    handover: HandoverTable | None
    level: LevelView  # the calculated level of the protocol with the function's id


@dataclass(frozen=True)
class FeedProblem:
    feed: str
    function: str  # the function's label
    text: str  # the whole banner line


@dataclass(frozen=True)
class StatusView:
    updated: str  # "Updated 14:03:22 UK time"
    date: str  # "Thursday 26 November 2026"
    store_error: str | None  # None when the store answered
    feeds_total: int
    feed_problems: tuple[FeedProblem, ...]
    worker: Literal["running", "stopped", "unknown"]
    level: LevelView  # the trust's calculated level


@dataclass(frozen=True)
class OverviewView:
    status: StatusView
    panels: tuple[PanelView, ...]


# --- formatting -------------------------------------------------------------------------


def dom_id(metric_id: str) -> str:
    """The element id of a metric's value on the page."""
    return "value-" + metric_id.replace(".", "-")


def local_time(ts: float, tz: tzinfo, *, seconds: bool = True, now: float | None = None) -> str:
    """A UTC epoch time as UK (catalogue) local time: 14:03:22, with the date if not today."""
    when = datetime.fromtimestamp(ts, tz)
    text = when.strftime("%H:%M:%S" if seconds else "%H:%M")
    if now is not None and datetime.fromtimestamp(now, tz).date() != when.date():
        text = f"{when.day} {when.strftime('%b')} {text}"
    return text


def format_value(value: float, unit: str, *, compact: bool = False) -> str:
    """A value with its unit, as a control room reads it: 12 calls, 87 %, 1 h 33 min.

    ``compact`` (table cells, whose heading names the unit) drops count units and hours.
    """
    if unit == "%":
        return f"{_number(value)} %"
    if unit == "s":
        return _seconds(value)
    if unit == "min":
        return _minutes(value)
    number = _number(value)
    if not unit or compact:
        return number
    if unit == "h":
        return f"{number} h"
    if number == "1" and unit.endswith("s"):
        unit = unit[:-1]  # 1 call, 1 ambulance, 1 pick-up
    return f"{number} {unit}"


def _number(value: float) -> str:
    """Whole numbers with thousands separators; one decimal below 10 where it matters."""
    if abs(value) < 10 and round(value, 1) != round(value):
        return f"{value:.1f}"
    return f"{round(value):,}"


def _seconds(value: float) -> str:
    total = round(value)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    return _minutes(total / 60)


def _minutes(value: float) -> str:
    if value < 10 and round(value, 1) != round(value):
        return f"{value:.1f} min"
    total = round(value)
    if total < 60:
        return f"{total} min"
    hours, minutes = divmod(total, 60)
    return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"


def format_age(seconds: float) -> str:
    """How long ago a value was measured: updated 12 s ago, updated 1 h 05 min ago."""
    s = int(seconds)
    if s < 1:
        return "updated just now"  # or slightly in the future: clock skew between sources
    if s < 60:
        return f"updated {s} s ago"
    if s < 3600:
        return f"updated {s // 60} min ago"
    if s < 86400:
        return f"updated {s // 3600} h {s % 3600 // 60:02d} min ago"
    return f"updated {s // 86400} d {s % 86400 // 3600} h ago"


# --- readings ---------------------------------------------------------------------------


def read_value(metric: Metric, sample: tuple[float, float] | None, now: float,
               tz: tzinfo, *, compact: bool = False) -> Reading:
    """A sample judged against its metric: live, STALE beyond stale_after, or NO DATA."""
    if sample is None:
        return Reading("missing", None, None, "NO DATA", "no value received", "NO DATA")
    at, value = sample
    text = format_value(value, metric.unit, compact=compact)
    age = format_age(now - at)
    if now - at > metric.stale_after:
        badge = f"STALE — last value {local_time(at, tz, seconds=False, now=now)}"
        return Reading("stale", value, at, text, age, badge)
    return Reading("live", value, at, text, age, None)


def _is_worse(metric: Metric, a: float, b: float) -> bool:
    return a > b if metric.worse == "higher" else a < b


def worst_site(metric: Metric, readings: Mapping[str, Reading]) -> str | None:
    """The site code whose value is worst, preferring live values to stale ones.

    Ties go to the first site given (catalogue order). None when no site has a value.
    """
    for wanted in ("live", "stale"):
        worst: tuple[str, float] | None = None
        for code, reading in readings.items():
            if reading.state != wanted or reading.value is None:
                continue
            if worst is None or _is_worse(metric, reading.value, worst[1]):
                worst = (code, reading.value)
        if worst is not None:
            return worst[0]
    return None


# --- series -----------------------------------------------------------------------------


def sparkline_series(catalogue: Catalogue) -> list[tuple[str, str]]:
    """Every (metric, 'trust') series the overview draws, for one store.series() call."""
    return [(m.id, TRUST) for f in catalogue.functions for m in catalogue.metrics_of(f.id)
            if TRUST in m.scopes]


def last_per_bucket(ts: np.ndarray, values: np.ndarray,
                    bucket: float = SPARK_BUCKET) -> tuple[np.ndarray, np.ndarray]:
    """The last sample in each time bucket (default one minute), for light sparklines.

    ``ts`` must be sorted ascending, as the store returns it.
    """
    ts = np.asarray(ts, dtype=float)
    values = np.asarray(values, dtype=float)
    if len(ts) == 0:
        return ts, values
    buckets = np.floor(ts / bucket)
    last = np.flatnonzero(np.diff(buckets, append=np.inf) != 0)
    return ts[last], values[last]


# --- status -----------------------------------------------------------------------------


def feed_problems(feeds: Iterable[FeedStatus], catalogue: Catalogue,
                  now: float) -> tuple[FeedProblem, ...]:
    """One banner line per unhealthy feed: the feed, its function, and since when."""
    labels = {f.id: f.label for f in catalogue.functions}
    tz = catalogue.timezone
    problems = []
    for feed in feeds:
        if feed.healthy(now):
            continue
        function = labels.get(feed.function, feed.function)
        if feed.down_since is not None:
            since = f"failing since {local_time(feed.down_since, tz, now=now)}"
        elif feed.last_success is not None:
            since = f"no successful poll since {local_time(feed.last_success, tz, now=now)}"
        else:
            since = "has never polled successfully"
        text = f"FEED DOWN — {feed.name} ({function}) {since}"
        if feed.last_error and feed.down_since is not None:
            error = feed.last_error if len(feed.last_error) <= 140 else feed.last_error[:139] + "…"
            text += f": {error}"
        problems.append(FeedProblem(feed.name, function, text))
    return tuple(problems)


def worker_stopped(worker: Mapping[str, str] | None, now: float) -> bool:
    """True when there is no heartbeat, or the last one is older than WORKER_TIMEOUT."""
    if not worker:
        return True
    try:
        at = float(worker["at"])
    except (KeyError, ValueError):
        return False  # the key exists (it expires 60 s after the last beat): it is running
    return now - at > WORKER_TIMEOUT


# --- calculated levels ------------------------------------------------------------------


def level_dom_id(name: str) -> str:
    """The element id of a level badge: level-overall, level-ae, level-ae-RVJ for ae@RVJ."""
    return "level-" + name.replace("@", "-").replace("/", "-")


def _luminance(colour: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_colour(background: str) -> str:
    """Dark or white text, whichever contrasts more with the background (WCAG ratio)."""
    lum = _luminance(background)
    on_white = 1.05 / (lum + 0.05)
    on_dark = (lum + 0.05) / (_luminance(DARK_TEXT) + 0.05)
    return LIGHT_TEXT if on_white >= on_dark else DARK_TEXT


def _level_style(catalogue: Catalogue, number: int) -> tuple[str, str]:
    """(name, colour) of a level; a number the rules file does not define is grey."""
    try:
        level = catalogue.level(number)
    except KeyError:
        return f"level {number} (not in the rules file)", NEUTRAL
    return level.name, level.colour


def missing_level(key: str, why: str) -> LevelView:
    """LEVEL NOT AVAILABLE, on neutral grey, saying why."""
    return LevelView(key, level_dom_id(key), "missing", None, NOT_AVAILABLE, NEUTRAL, LIGHT_TEXT,
                     None, why, None, None, None, False)


def level_view(key: str, levels: Levels | None, catalogue: Catalogue, now: float, *,
               worker_running: bool = True) -> LevelView:
    """The calculated level ``key`` (overall, ae, ae@RVJ) as shown.

    ``levels`` is None when the store did not answer. A level the worker no longer updates
    is NOT UPDATING; one the engine flags stale is STALE DATA; both keep number, name and
    colour but must never look normal. One that is absent is LEVEL NOT AVAILABLE.
    """
    if levels is None:
        return missing_level(key, STORE_DOWN_FLAG)
    if not levels:
        return missing_level(key, NOT_PUBLISHED_FLAG)
    entry = levels.get(key)
    if entry is None:
        return missing_level(key, NO_ENTRY_FLAG)
    number = _int(entry.get("level")) if isinstance(entry, Mapping) else None
    if number is None:
        return missing_level(key, "the published level is unreadable")
    name, colour = _level_style(catalogue, number)
    engine_stale = bool(entry.get("stale"))
    since = entry.get("since")
    since_text = (f"since {local_time(float(since), catalogue.timezone, seconds=False, now=now)}"
                  if isinstance(since, int | float) else None)
    state: LevelState = "live"
    flag = None
    if not worker_running:
        state, flag = "not-live", NOT_UPDATING_FLAG
    elif engine_stale:
        state, flag = "stale", STALE_FLAG
    texts = _reason_texts(entry, levels, catalogue)
    reason = _join(texts) if texts else None
    detail = "; ".join(texts) if texts else None
    pending = pending_escalation(key, number, levels, catalogue) if worker_running else None
    return LevelView(key, level_dom_id(key), state, number, name, colour, text_colour(colour),
                     since_text, flag, reason, detail, pending, engine_stale)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _join(texts: list[str]) -> str:
    if len(texts) <= MAX_REASONS:
        return "; ".join(texts)
    return "; ".join(texts[:MAX_REASONS]) + f"; and {len(texts) - MAX_REASONS} more"


def _reason_texts(entry: Mapping[str, Any], levels: Levels, catalogue: Catalogue) -> list[str]:
    reason = entry.get("reason") or {}
    number = _int(entry.get("level"))
    base = catalogue.levels[0].number if catalogue.levels else 1
    try:
        if reason.get("combine") == "score":
            return [_score_text(reason, levels, catalogue)]
        if reason.get("combine") == "max":
            drivers = list(reason.get("drivers") or ())
            if entry.get("kind") == OVERALL:
                if number == base or not drivers:
                    return [f"No function above level {base}"]
                labels = {f.id: f.label for f in catalogue.functions}
                return ["Set by " + _and([labels.get(d, d) for d in drivers])]
            if number == base or not drivers:
                return [f"No trigger above level {base}"]
            texts: list[str] = []
            for driver in drivers:
                texts += _driver_texts(driver, number, levels, catalogue)
            return texts
        if "metric" in reason:
            return [trigger_text(reason, number, catalogue)]
    except (KeyError, TypeError, ValueError, AttributeError):
        pass  # a reason of a shape this page does not know: the engine's own sentence
    text = reason.get("text")
    return [str(text)] if text else []


def _driver_texts(name: str, level: int | None, levels: Levels,
                  catalogue: Catalogue) -> list[str]:
    """The sentences for one driving trigger; a per-site trigger gives one per site at level."""
    entry = levels.get(name)
    if entry is None:
        return [name]
    reason = entry.get("reason") or {}
    if "sites" in reason:  # aggregate: each; its sites are published as NAME@SITE
        texts = []
        for site, site_level in reason["sites"].items():
            if site_level == level:
                texts += _driver_texts(f"{name}@{site}", level, levels, catalogue)
        return texts or [name]
    if "metric" not in reason:
        return [str(reason.get("text") or name)]
    return [trigger_text(reason, _int(entry.get("level")), catalogue)]


def _metric_of(reason: Mapping[str, Any], catalogue: Catalogue) -> Metric | None:
    return catalogue.metrics.get(str(reason.get("metric")))


def _subject(reason: Mapping[str, Any], catalogue: Catalogue) -> tuple[str, str]:
    """(what is compared, its unit): a metric's label, at a site, or a count of sites."""
    metric = _metric_of(reason, catalogue)
    label = metric.label if metric else str(reason["metric"])
    unit = metric.unit if metric else ""
    aggregate = reason.get("aggregate")
    if aggregate:
        kinds = [_SITE_KINDS[k] for k in (metric.scopes if metric else ()) if k in _SITE_KINDS]
        where = kinds[0] if kinds else "sites"
        if str(aggregate).startswith("count_over("):
            over = float(str(aggregate)[len("count_over("):-1])
            sign = "≥" if metric is None or metric.worse == "higher" else "≤"
            return f"{where} with {label} {sign} {format_value(over, unit)}", ""
        return f"{aggregate} of {label} across {where}", unit
    site = reason.get("site")
    if site:
        found = catalogue.sites.get(str(site))
        label += f" at {found.name if found else site}"
    return label, unit


def _sign(compares: str, *, below: bool = False) -> str:
    if below:
        return "<" if compares == ">=" else ">"
    return "≥" if compares == ">=" else "≤"


def _meets(reason: Mapping[str, Any], threshold: float, catalogue: Catalogue) -> str:
    """The condition of a threshold: "999 calls waiting ≥ 30 calls", "2 or more hospitals
    with Longest current handover wait ≥ 1 h"."""
    subject, unit = _subject(reason, catalogue)
    if str(reason.get("aggregate") or "").startswith("count_over("):
        return f"{format_value(threshold, '')} or more {subject}"
    return f"{subject} {_sign(str(reason.get('compares', '>=')))} {format_value(threshold, unit)}"


def trigger_text(reason: Mapping[str, Any], level: int | None, catalogue: Catalogue) -> str:
    """One trigger's reason as a person reads it: "999 calls waiting ≥ 30 calls for 5m
    (now 41 calls)"."""
    subject, unit = _subject(reason, catalogue)
    if reason.get("stale"):
        return f"{subject}: data stale, level {level} held"
    value = reason.get("value")
    now = f"now {format_value(value, unit)}" if isinstance(value, int | float) else "no value"
    threshold = reason.get("threshold")
    if threshold is None:
        return f"{subject} below every threshold ({now})"
    text = _meets(reason, threshold, catalogue)
    if reason.get("for"):
        text += f" for {format_duration(reason['for'])}"
    pending = reason.get("pending") or {}
    if pending.get("direction") == "down":  # held at this level until it has cleared
        below = _sign(str(reason.get("compares", ">=")), below=True)
        now += (f", {below} {format_value(pending['threshold'], unit)} for "
                f"{_held(pending['held'])} of {format_duration(pending['needed'])}"
                f" to clear")
    return f"{text} ({now})"


def _score_text(reason: Mapping[str, Any], levels: Levels, catalogue: Catalogue) -> str:
    points = {name: float(p) for name, p in (reason.get("points") or {}).items() if p}
    total = float(reason.get("total", sum(points.values())))
    if not points:
        return f"Score {total:g}: no trigger scoring points"
    parts = []
    for name, p in sorted(points.items(), key=lambda kv: -kv[1]):
        trigger = (levels.get(name) or {}).get("reason") or {}
        metric = _metric_of(trigger, catalogue)
        parts.append(f"{metric.label if metric else name.partition('/')[2] or name} {p:g}")
    return f"Score {total:g} points: " + ", ".join(parts)


def _in_scope(key: str, name: str) -> bool:
    """Whether trigger instance ``name`` (P/T or P/T@S) counts towards level ``key``."""
    if key == OVERALL:
        return True
    protocol, _, site = key.partition("@")
    if not name.startswith(protocol + "/"):
        return False
    return not site or name.endswith("@" + site)


def _held(seconds: float) -> str:
    """How long a condition has held, in whole minutes once past one (never overstated)."""
    return format_duration(seconds // 60 * 60 if seconds >= 60 else seconds)


def pending_escalation(key: str, level: int, levels: Levels,
                       catalogue: Catalogue) -> Pending | None:
    """The pending escalation above ``level`` among the triggers of ``key`` that is nearest:
    the highest level, then the longest held; None when nothing is escalating."""
    found: list[tuple[int, float, str, Mapping[str, Any]]] = []
    for name, entry in levels.items():
        if (not _in_scope(key, name) or not isinstance(entry, Mapping)
                or entry.get("kind") != "trigger"):
            continue
        reason = entry.get("reason")
        pending = reason.get("pending") if isinstance(reason, Mapping) else None
        if not isinstance(reason, Mapping) or not isinstance(pending, Mapping) \
                or pending.get("direction") != "up":
            continue
        target = _int(pending.get("level"))
        # Only escalations past this level: with max they would raise it; with a score
        # they add points towards it. One to a level already reached is not news.
        if target is None or target <= level:
            continue
        held, needed = _int(pending.get("held")) or 0, _int(pending.get("needed")) or 1
        found.append((target, held / needed, name, reason))
    if not found:
        return None
    found.sort(key=lambda f: (f[0], f[1]), reverse=True)
    target, _, trigger_name, reason = found[0]
    pending = reason["pending"]
    try:
        how_long = f"{_held(pending['held'])} of {format_duration(pending['needed'])}"
        if key == OVERALL:  # the trust's level: which function, short (the panel has why)
            protocol = trigger_name.partition("/")[0]
            labels = {f.id: f.label for f in catalogue.functions}
            condition = f"{labels.get(protocol, protocol)}, {how_long}"
        else:
            condition = f"{_meets(reason, pending['threshold'], catalogue)} for {how_long}"
    except (KeyError, TypeError, ValueError):
        condition = str(reason.get("text") or found[0][2])
    name, colour = _level_style(catalogue, target)
    return Pending(target, name, colour, text_colour(colour), condition, len(found) - 1)


# --- the whole page ---------------------------------------------------------------------


def build_overview(
    catalogue: Catalogue,
    latest: Latest,
    series: Mapping[tuple[str, str], Series],
    feeds: Sequence[FeedStatus],
    worker: Mapping[str, str] | None,
    now: float,
    *,
    levels: Levels | None = None,
    store_error: str | None = None,
) -> OverviewView:
    """Everything the overview shows, from one read of the store (or none, if it is down).

    ``levels`` is what store.levels() returned (None: nothing published).
    """
    tz = catalogue.timezone
    worker_state: Literal["running", "stopped", "unknown"] = (
        "unknown" if store_error else ("stopped" if worker_stopped(worker, now) else "running"))
    published: Levels | None = None if store_error else (levels or {})

    def level(key: str) -> LevelView:
        return level_view(key, published, catalogue, now,
                          worker_running=worker_state == "running")

    status = StatusView(
        updated=f"Updated {local_time(now, tz)} UK time",
        date=_long_date(now, tz),
        store_error=store_error,
        feeds_total=len(feeds),
        feed_problems=() if store_error else feed_problems(feeds, catalogue, now),
        worker=worker_state,
        level=level(OVERALL),
    )
    panels = tuple(_panel(catalogue, f, latest, series, now, level)
                   for f in catalogue.functions)
    return OverviewView(status, panels)


def _long_date(now: float, tz: tzinfo) -> str:
    when = datetime.fromtimestamp(now, tz)
    return f"{when.strftime('%A')} {when.day} {when.strftime('%B %Y')}"


def _panel(catalogue: Catalogue, function: Function, latest: Latest,
           series: Mapping[tuple[str, str], Any], now: float,
           level: Callable[[str], LevelView]) -> PanelView:
    metrics = sorted(catalogue.metrics_of(function.id), key=lambda m: not m.key)
    views = tuple(_metric_view(catalogue, m, latest, series, now) for m in metrics)
    handover = None
    if any(m.id in HANDOVER_COLUMNS for m in metrics):
        site_levels = {s.code: level(f"{function.id}@{s.code}")
                       for s in catalogue.sites_of("hospital")}
        handover = handover_table(catalogue, latest, now, levels=site_levels)
    # A protocol whose id is a function's id is that function's level.
    return PanelView(function, views, handover, level(function.id))


def _metric_view(catalogue: Catalogue, metric: Metric, latest: Latest,
                 series: Mapping[tuple[str, str], Any], now: float) -> MetricView:
    tz = catalogue.timezone
    if TRUST in metric.scopes:
        reading = read_value(metric, latest.get((metric.id, TRUST)), now, tz)
        found = series.get((metric.id, TRUST))
        bucket = SPARK_BUCKET if metric.key else SPARK_BUCKET_SMALL
        spark = last_per_bucket(found.ts, found.values, bucket) if found is not None else None
        return MetricView(metric, dom_id(metric.id), reading, None, (), spark)
    # Reported only per site: show the worst site as the headline, the rest compactly.
    sites = tuple(s for s in catalogue.sites.values() if metric.reported_at(s))
    readings = {s.code: read_value(metric, latest.get((metric.id, s.code)), now, tz)
                for s in sites}
    worst = worst_site(metric, readings)
    if worst is None:
        reading = read_value(metric, None, now, tz)
        note = f"no value from any of {len(sites)} sites"
    else:
        reading = readings[worst]
        note = f"worst of {len(sites)}: {catalogue.sites[worst].name}"
    return MetricView(metric, dom_id(metric.id), reading, note,
                      tuple(SiteReading(s, readings[s.code]) for s in sites), None)


def handover_table(catalogue: Catalogue, latest: Latest, now: float, *,
                   levels: Mapping[str, LevelView] | None = None) -> HandoverTable | None:
    """Per-hospital handover figures, with the hospital under most pressure marked worst.

    ``levels``: each hospital's calculated level by site code, when it is to be shown.
    """
    tz = catalogue.timezone
    columns = tuple((catalogue.metrics[mid], heading) for mid, heading in HANDOVER_COLUMNS.items()
                    if mid in catalogue.metrics and "hospital" in catalogue.metrics[mid].scopes)
    hospitals = catalogue.sites_of("hospital")
    if not columns or not hospitals:
        return None
    cells = {s.code: tuple(read_value(m, latest.get((m.id, s.code)), now, tz, compact=True)
                           for m, _ in columns) for s in hospitals}
    worst = _worst_hospital(columns, cells)
    rows = tuple(HandoverRow(s, cells[s.code], s.code == worst,
                             levels.get(s.code) if levels is not None else None)
                 for s in hospitals)
    return HandoverTable(columns, rows)


def _worst_hospital(columns: tuple[tuple[Metric, str], ...],
                    cells: Mapping[str, tuple[Reading, ...]]) -> str | None:
    """The hospital with the longest live handover wait (else most waiting), if above zero."""
    ids = [m.id for m, _ in columns]
    for metric_id in _HANDOVER_WORST_BY:
        if metric_id not in ids:
            continue
        i = ids.index(metric_id)
        metric = columns[i][0]
        live = {code: row[i] for code, row in cells.items() if row[i].state == "live"}
        code = worst_site(metric, live)
        if code is not None and (live[code].value or 0) > 0:
            return code
    return None
