"""The overview's view model: what every figure on screen says, built from store reads.

Pure functions only (no Redis, no Dash), so the safety rules are tested directly:

- a value older than its metric's ``stale_after`` is STALE and says when it was last seen;
- a series with no value says NO DATA;
- every figure carries its age; times on screen are UK local time, storage is UTC epoch s;
- each panel and the status bar carry a calculated level, as dashboard/levels.py shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

import numpy as np

from dashboard.formatting import format_age, format_value, local_time
from dashboard.levels import OVERALL, Levels, LevelView, level_view
from dashboard.views.header import ClockView, DeclaredView, clock_view, declared_view
from surge.alerting.book import Alert
from surge.catalogue import TRUST, Catalogue, Function, Metric, Site
from surge.declarations import TrustStatus
from surge.store import FeedStatus, Series

__all__ = [
    "HANDOVER_COLUMNS",
    "SPARK_WINDOW",
    "WORKER_TIMEOUT",
    "AlertCount",
    "FeedProblem",
    "HandoverRow",
    "HandoverTable",
    "MetricView",
    "OverviewView",
    "PanelView",
    "Reading",
    "SiteReading",
    "StatusView",
    "build_overview",
    "build_status",
    "count_alerts",
    "dom_id",
    "feed_problems",
    "last_per_bucket",
    "read_value",
    "sparkline_series",
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
class AlertCount:
    """The header's alert count: the active alerts, and how many nobody has acknowledged
    (as the worker last recorded them); ``error`` when they could not be read."""

    total: int
    unacknowledged: int
    error: str | None = None

    @property
    def text(self) -> str:
        """"2 ALERTS (1 unacknowledged)"; ALERTS NOT AVAILABLE when they could not be read."""
        if self.error is not None:
            return "ALERTS NOT AVAILABLE"
        noun = "ALERT" if self.total == 1 else "ALERTS"
        return f"{self.total} {noun} ({self.unacknowledged} unacknowledged)"

    @property
    def shown(self) -> bool:
        """Absent from the header when none is active (and they could be read)."""
        return self.total > 0 or self.error is not None

    @property
    def loud(self) -> bool:
        return self.unacknowledged > 0 or self.error is not None


@dataclass(frozen=True)
class StatusView:
    updated: str  # "Updated 14:03:22 UK time"
    date: str  # "Thursday 26 November 2026"
    store_error: str | None  # None when the store answered
    feeds_total: int
    feed_problems: tuple[FeedProblem, ...]
    worker: Literal["running", "stopped", "unknown"]
    level: LevelView  # the trust's calculated level
    declared: DeclaredView | None = None  # None: this page does not show it
    clock: ClockView | None = None
    alerts: AlertCount | None = None  # None: not read for this page


@dataclass(frozen=True)
class OverviewView:
    status: StatusView
    panels: tuple[PanelView, ...]


# --- element ids -----------------------------------------------------------------------


def dom_id(metric_id: str) -> str:
    """The element id of a metric's value on the page."""
    return "value-" + metric_id.replace(".", "-")


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


def count_alerts(active: Mapping[str, Alert] | None, *,
                 error: str | None = None) -> AlertCount:
    """How many alerts are active and unacknowledged (AlertBook.active()); None with
    ``error``: they could not be read, which the header says rather than showing none."""
    if active is None:
        return AlertCount(0, 0, error or "the alerts could not be read")
    return AlertCount(len(active), sum(a.unacked_since is not None for a in active.values()))


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
    trust: TrustStatus | None = None,
    alerts: AlertCount | None = None,
) -> OverviewView:
    """Everything the overview shows, from one read of the store (or none, if it is down).

    ``levels`` is what store.published_levels() returned (None: nothing published);
    ``trust``, the declared level beside it (None: not read, or the store is down);
    ``alerts``, the header's alert count (None: not read).
    """
    status = build_status(catalogue, feeds, worker, now, levels=levels, store_error=store_error,
                          trust=trust, declared=trust is not None or store_error is not None,
                          alerts=alerts)
    published: Levels | None = None if store_error else (levels or {})
    running = status.worker == "running"

    def level(key: str) -> LevelView:
        return level_view(key, published, catalogue, now, worker_running=running)

    panels = tuple(_panel(catalogue, f, latest, series, now, level)
                   for f in catalogue.functions)
    return OverviewView(status, panels)


def build_status(catalogue: Catalogue, feeds: Sequence[FeedStatus],
                 worker: Mapping[str, str] | None, now: float, *, levels: Levels | None = None,
                 store_error: str | None = None, trust: TrustStatus | None = None,
                 declared: bool = True, alerts: AlertCount | None = None) -> StatusView:
    """The header every page carries: the store, the feeds, the worker, the trust's
    calculated level and (``declared``) the declared one beside it, the UK time, and
    (``alerts``, count_alerts) how many alerts are active."""
    tz = catalogue.timezone
    worker_state: Literal["running", "stopped", "unknown"] = (
        "unknown" if store_error else ("stopped" if worker_stopped(worker, now) else "running"))
    published: Levels | None = None if store_error else (levels or {})
    overall = level_view(OVERALL, published, catalogue, now,
                         worker_running=worker_state == "running")
    shown = None
    if declared:
        shown = declared_view(None if store_error else trust, catalogue, now,
                              live=worker_state == "running")
    return StatusView(
        updated=f"Updated {local_time(now, tz)} UK time",
        date=_long_date(now, tz),
        store_error=store_error,
        feeds_total=len(feeds),
        feed_problems=() if store_error else feed_problems(feeds, catalogue, now),
        worker=worker_state,
        level=overall,
        declared=shown,
        clock=clock_view(now, tz),
        alerts=alerts,
    )


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
