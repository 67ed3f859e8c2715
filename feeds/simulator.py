"""A deterministic simulated trust: the demo's default data source, one feed per function."""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from feeds.config import FeedContext, FeedSpec
from feeds.scenario import Scenario, ScenarioEvent, check_scenario
from surge.catalogue import TRUST, Catalogue
from surge.configfile import Reader
from surge.durations import format_duration
from surge.errors import ConfigError, FetchFailed
from surge.samples import Sample

__all__ = ["HISTORY", "INTERVALS", "OPTIONAL", "REQUIRED", "SimulatedFeed", "SimulatorConfig",
           "build", "simulated_feeds"]

INTERVALS = {"call_handling": 15.0, "clinical_triage": 30.0, "ae": 30.0, "pts": 60.0}
DEFAULT_INTERVAL = 30.0  # for a function added to the catalogue that the simulator lacks
HISTORY = 6 * 3600.0  # the most one fetch returns, whatever `since` says
OUTAGE_POLLS = 3  # an outage lasts at least this many polls, so the poller always sees it

# Every value is a pure function of (seed, scenario, scenario start, Surge time): nothing is
# kept between polls, so any poll, backfill or re-run sees the same history. There is no
# clock in here: the worker asks for Surge time (the one clock, surge/clock.py), which an
# exercise runs faster. One demand signal drives everything: time of day, day of week and
# season at the local time asked for, smooth seeded noise, and the scenario's events,
# timed from the scenario start. Each function reads it with a lag (seconds), so a surge
# moves through the system as it does in a real control room.
LAG = {"call_handling": 0.0, "clinical_triage": 20 * 60.0, "ae": 45 * 60.0, "pts": 60 * 60.0}
ANSWER_LAG = 20 * 60.0  # answer times are over the last hour, so trail the queue
HANDOVER_LAG = 90 * 60.0
# A major incident floods 999 with calls; fewer of them become separate incidents.
MI_SHARE = {"call_handling": 1.0, "clinical_triage": 0.6, "ae": 0.5, "pts": 0.0}
MI_PEAK = 1.8  # extra load at the peak of a magnitude-1 major incident
CRISIS_QUEUE = 11.0  # extra ambulances queuing at the peak of a magnitude-1 handover crisis

# Demand by local hour (1 = the day's average-ish): trough ~04:00, evening peak 17:00-23:00.
_HOURLY = np.array([0.95, 0.85, 0.75, 0.66, 0.60, 0.62, 0.70, 0.82, 0.95, 1.04, 1.08, 1.10,
                    1.08, 1.05, 1.03, 1.03, 1.06, 1.12, 1.17, 1.20, 1.20, 1.18, 1.13, 1.05])
_WEEKDAY = np.array([1.04, 1.00, 0.98, 0.98, 1.01, 1.03, 1.02])  # Monday first
_MONTH = np.array([1.05, 1.03, 1.00, 0.98, 0.97, 0.97, 0.99, 0.99, 0.97, 0.99, 1.02, 1.05])
# PTS: share of the day's journeys under way in each local hour (outpatients, renal, discharges).
_PTS_ACTIVITY = np.array([0, 0, 0, 0, 0, 0, 1, 5, 10, 11, 11, 10, 9, 9, 9, 8, 7, 5, 3, 2, 1, 0,
                          0, 0], dtype=float)
_PTS_BOOKING = np.array([0, 0, 0, 0, 0, 0, 0, 2, 8, 12, 12, 11, 10, 10, 10, 9, 8, 5, 3, 0, 0,
                         0, 0, 0], dtype=float)  # same-day bookings, mostly discharges
_PTS_DISCHARGE = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0.1, 0.2, 0.3, 0.45, 0.6, 0.75, 0.9, 1.0,
                           1.0, 1.0, 0.95, 0.8, 0.55, 0.3, 0.15, 0.05])
_PTS_WEEKDAY = np.array([1.0, 1.0, 1.0, 1.0, 0.95, 0.35, 0.25])  # clinics close at weekends
PTS_JOURNEYS = 1800.0  # a weekday's journeys across the trust

_M64 = (1 << 64) - 1


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulated trust runs: its seed, its scenario and when the scenario starts."""

    seed: int = 1
    scenario: Scenario | None = None
    start: float = 0.0  # Surge time (UTC epoch s) of the scenario start: the exercise origin
    # The least Surge time between two polls of a feed: the worker polls at most once a real
    # second, so at --speed N a 15 s feed is polled every N Surge seconds. Outages last at
    # least OUTAGE_POLLS polls of this spacing, whatever the speed.
    poll_spacing: float = 0.0


class SimulatedFeed:
    """One function of the simulated trust, as a feed (satisfies ``feeds.base.Feed``)."""

    def __init__(self, trust: _Trust, function: str, *, name: str | None = None,
                 interval: float | None = None) -> None:
        self._trust = trust
        self.function = function
        self.name = name or f"sim-{function}"
        self.interval = interval or INTERVALS.get(function, DEFAULT_INTERVAL)

    def __repr__(self) -> str:
        return f"SimulatedFeed({self.name!r}, every {self.interval:g}s)"

    @property
    def start(self) -> float:
        """Surge time of the scenario start: events are timed from it."""
        return self._trust.start

    def fetch(self, since: float | None, now: float) -> list[Sample]:
        """Samples on this feed's grid with since < ts <= now (Surge time), at most HISTORY old.

        Raises FetchFailed while a scenario outage of this feed is under way.
        """
        for start, end, event in self._trust.outages(self.name, self.interval):
            if start <= now < end:
                raise FetchFailed(self._trust.outage_message(self.name, event))
        oldest = now - HISTORY if since is None else max(since, now - HISTORY)
        return self.samples(oldest, now)

    def samples(self, since: float, until: float) -> list[Sample]:
        """Every reading on this feed's grid with since < ts <= until, however long the span.

        The readings an outage swallowed are left out, as they never arrive; nothing is
        raised. For backtests and warm-up history.
        """
        trust = self._trust
        first = int(np.floor(since / self.interval)) + 1
        last = int(np.floor(until / self.interval))
        if last < first:
            return []
        index = np.arange(first, last + 1, dtype=np.int64)
        ts = index * self.interval
        for start, end, _ in trust.outages(self.name, self.interval):
            keep = (ts < start) | (ts >= end)
            index, ts = index[keep], ts[keep]
        if ts.size == 0:
            return []
        series = trust.series(self.function, ts, index)
        keys = list(series)
        if not keys:
            return []
        rows = np.stack([series[k] for k in keys], axis=1).tolist()
        return [Sample(metric, scope, t, value)
                for t, row in zip(ts.tolist(), rows, strict=True)
                for (metric, scope), value in zip(keys, row, strict=True)]


def simulated_feeds(catalogue: Catalogue, config: SimulatorConfig) -> list[SimulatedFeed]:
    """One simulated feed per function in the catalogue, named sim-<function id>."""
    if not config.poll_spacing >= 0:
        raise ConfigError.single("poll_spacing", f"the poll spacing must be 0 or more seconds, "
                                                 f"got {config.poll_spacing!r}")
    if config.scenario is not None:
        check_scenario(config.scenario, catalogue)
    trust = _Trust(catalogue, config)
    return [SimulatedFeed(trust, f.id) for f in catalogue.functions]


# --- as a feeds.yaml entry (type: simulator) ---------------------------------------------

REQUIRED: tuple[str, ...] = ()
OPTIONAL = ("seed",)


def build(spec: FeedSpec, reader: Reader, context: FeedContext) -> SimulatedFeed | None:
    """The feed of one ``type: simulator`` entry: its function of the simulated trust, polled
    at the entry's interval; None after reporting a bad seed. Its data are invented, so a
    feeds file of simulator (and replay) feeds only runs as simulated (runmode)."""
    seed = 1
    if "seed" in spec.options:
        got = reader.number(spec.options["seed"], "a whole number (the simulation's seed)")
        if got is None:
            return None
        if got != int(got):
            reader.error(spec.options["seed"], f"expected a whole number, got {got:g}")
            return None
        seed = int(got)
    clock = context.clock
    trust = _Trust(context.catalogue, SimulatorConfig(seed=seed, start=clock(),
                                                      poll_spacing=clock.speed))
    return SimulatedFeed(trust, spec.function, name=spec.name, interval=spec.interval)


# --- deterministic noise ---------------------------------------------------------------


def _key(seed: int, *names: str) -> int:
    """A 64-bit key for a named noise stream (crc32, not hash(): that changes per process)."""
    key = seed & _M64
    for name in names:
        key = _mix_int(key ^ zlib.crc32(name.encode()))
    return key


def _mix_int(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _unit(key: int, index: np.ndarray) -> np.ndarray:
    """Uniform in [-1, 1) from (key, integer index): splitmix64, vectorised."""
    with np.errstate(over="ignore"):
        x = index.astype(np.int64).view(np.uint64) ^ np.uint64(key)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) * 2.0 ** -52 - 1.0


def _pos(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _clip(x: np.ndarray, low: float, high: float) -> np.ndarray:
    # + 0.0 turns the -0.0 that rounding a small negative gives into a plain 0.
    return np.asarray(np.minimum(np.maximum(x, low), high), dtype=np.float64) + 0.0


# --- the trust -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    """Where a metric is computed: a site, or the trust when it is reported only there."""

    code: str
    share: float  # of the trust's activity, by the site's size
    busy: float  # how hard-pressed the site runs compared with the others


class _Trust:
    """The simulated trust shared by the four feeds: local time, demand signal and metric models."""

    def __init__(self, catalogue: Catalogue, config: SimulatorConfig) -> None:
        self.catalogue = catalogue
        self.seed = config.seed
        self.start = config.start
        self.poll_spacing = config.poll_spacing
        self.scenario = config.scenario or Scenario("none", "no scenario")
        self.tz = catalogue.timezone
        self._offsets: dict[int, float] = {}
        sizes: dict[str, float] = {}
        for site in catalogue.sites.values():
            rand = _unit(_key(self.seed, "size", site.code), np.zeros(1, dtype=np.int64))[0]
            sizes[site.code] = 1.0 + 0.4 * rand  # from 0.6 to 1.4 of an average site
        self._sizes = sizes

    # local time --------------------------------------------------------------------------

    def _offset(self, t: np.ndarray) -> np.ndarray:
        """UTC offset in seconds at each time; zones change offset on the hour."""
        hours = np.floor(t / 3600.0).astype(np.int64)
        unique, inverse = np.unique(hours, return_inverse=True)
        offsets = np.empty(unique.size)
        for i, hour in enumerate(unique.tolist()):
            offset = self._offsets.get(hour)  # get, not `in`: feeds may poll from threads
            if offset is None:
                if len(self._offsets) > 100_000:  # a long fast run: forget, don't grow forever
                    self._offsets.clear()
                delta = dt.datetime.fromtimestamp(hour * 3600, self.tz).utcoffset()
                offset = self._offsets[hour] = delta.total_seconds() if delta else 0.0
            offsets[i] = offset
        return offsets[inverse.reshape(-1)]

    def local(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(local hour as a fraction, weekday with Monday 0, month 0-11) at each time."""
        local = t + self._offset(t)
        days = np.floor(local / 86400.0)
        hour = (local - days * 86400.0) / 3600.0
        weekday = ((days.astype(np.int64) + 3) % 7)  # 1970-01-01 was a Thursday
        month = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
        return hour, weekday, month

    def midnight(self, t: np.ndarray) -> np.ndarray:
        """UTC time of the local midnight that began each time's day (right across DST)."""
        days = np.floor((t + self._offset(t)) / 86400.0).astype(np.int64)
        unique, inverse = np.unique(days, return_inverse=True)
        epoch = dt.date(1970, 1, 1)
        starts = np.array([dt.datetime.combine(epoch + dt.timedelta(days=d), dt.time(),
                                               self.tz).timestamp() for d in unique.tolist()])
        return starts[inverse.reshape(-1)]

    # demand ------------------------------------------------------------------------------

    def smooth(self, name: str, t: np.ndarray, step: float) -> np.ndarray:
        """Smooth seeded noise in [-1, 1] over time, changing over about `step` s."""
        key = _key(self.seed, name)
        pos = t / step
        knot = np.floor(pos)
        frac = pos - knot
        frac = frac * frac * (3.0 - 2.0 * frac)
        a, b = _unit(key, knot), _unit(key, knot + 1)
        return a + (b - a) * frac

    def demand(self, t: np.ndarray) -> np.ndarray:
        """The expected (forecast) demand at each time: hour x weekday x month."""
        hour, weekday, month = self.local(t)
        profile = np.interp(hour, np.arange(25), np.append(_HOURLY, _HOURLY[0]))
        return profile * _WEEKDAY[weekday] * _MONTH[month]

    def load(self, function: str, t: np.ndarray) -> np.ndarray:
        """The demand a function feels at times t (already lagged by the caller)."""
        noise = 1.0 + 0.05 * self.smooth("demand", t, 3600.0) \
            + 0.02 * self.smooth(f"demand:{function}", t, 1200.0)
        elapsed = t - self.start
        extra = np.ones_like(t)
        spike = np.zeros_like(t)
        for event in self.scenario.of_kind("surge"):
            if event.affects(function):
                extra += event.magnitude * event.envelope(elapsed)
        for event in self.scenario.of_kind("major_incident"):
            spike += MI_SHARE.get(function, 0.5) * MI_PEAK * event.magnitude \
                * event.envelope(elapsed)
        return self.demand(t) * noise * extra + spike

    # scenario ----------------------------------------------------------------------------

    def outages(self, feed: str, interval: float) -> list[tuple[float, float, ScenarioEvent]]:
        """(start, end, event) of each outage of a feed, in Surge time.

        An outage lasts at least OUTAGE_POLLS polls, so that even at high speed (when a feed
        is polled less often in Surge time) the poller sees the feed fail rather than polling
        straight over a gap shorter than its spacing.
        """
        spacing = max(interval, self.poll_spacing)
        windows = []
        for event in self.scenario.of_kind("feed_outage"):
            if event.feed == feed:
                start = self.start + event.at
                end = max(self.start + event.end, start + OUTAGE_POLLS * spacing)
                windows.append((start, end, event))
        return windows

    def outage_message(self, feed: str, event: ScenarioEvent) -> str:
        what = event.label or "source system not responding"
        return (f"{feed}: {what} (simulated outage, scenario {self.scenario.name!r}, "
                f"{format_duration(event.at)} to {format_duration(event.end)} into the scenario)")

    def crises(self, code: str) -> tuple[ScenarioEvent, ...]:
        return tuple(e for e in self.scenario.of_kind("handover_crisis")
                     if code in (e.site, TRUST))

    # units and integrals -----------------------------------------------------------------

    def units(self, metric_id: str) -> list[_Unit]:
        """The sites a metric is computed for (shares from seeded sizes), or the trust."""
        metric = self.catalogue.metrics[metric_id]
        sites = [s for s in self.catalogue.sites.values() if s.kind in metric.scopes]
        if not sites:
            return [_Unit(TRUST, 1.0, 1.0)]
        total = sum(self._sizes[s.code] for s in sites)
        units = []
        for site in sites:
            busy = 1.0 + 0.08 * _unit(_key(self.seed, "busy", site.code),
                                      np.zeros(1, dtype=np.int64))[0]
            units.append(_Unit(site.code, self._sizes[site.code] / total, float(busy)))
        return units

    def today(self, t: np.ndarray, rate: Callable[[np.ndarray], np.ndarray],
              cell: float = 300.0) -> np.ndarray:
        """The integral of `rate` (per hour; one row or several) from local midnight to each t.

        Rates are taken at the middle of fixed cells counted from midnight, so a count is the
        same whichever window asked for it, and never falls within a day.
        """
        mid = self.midnight(t)
        unique, inverse = np.unique(mid, return_inverse=True)
        inverse = inverse.reshape(-1)
        span = t - mid
        counts = [int(np.floor(span[inverse == i].max() / cell)) + 1
                  for i in range(unique.size)]
        centres = np.concatenate([m + (np.arange(n) + 0.5) * cell
                                  for m, n in zip(unique.tolist(), counts, strict=True)])
        per_cell = np.maximum(rate(centres), 0.0) * (cell / 3600.0)
        out = np.empty((*per_cell.shape[:-1], t.size))
        offset = 0
        for i, n in enumerate(counts):
            cells = per_cell[..., offset:offset + n]
            cumulative = np.concatenate((np.zeros((*cells.shape[:-1], 1)),
                                         np.cumsum(cells, axis=-1)), axis=-1)
            sel = inverse == i
            k = np.floor(span[sel] / cell).astype(np.int64)
            out[..., sel] = cumulative[..., k] + cells[..., k] * (span[sel] / cell - k)
            offset += n
        return out

    def handover(self, unit: _Unit, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ambulances queuing, longest wait in min) at a hospital, before reading noise."""
        load = self.load("ae", t - HANDOVER_LAG) * unit.busy
        queue = 8.0 * unit.share * load ** 2.0 \
            * (1.0 + 0.15 * self.smooth(f"queue:{unit.code}", t, 2400.0))
        wait = (9.0 + 6.0 * queue) * (1.0 + 0.15 * self.smooth(f"wait:{unit.code}", t, 1800.0))
        elapsed = t - self.start
        for event in self.crises(unit.code):
            queue = queue + CRISIS_QUEUE * event.magnitude * event.envelope(elapsed)
            # The longest wait can only grow as fast as the clock since the ED stopped flowing.
            waited = np.minimum(0.85 * _pos(elapsed - event.at) / 60.0,
                                150.0 + 60.0 * event.magnitude)
            wait = wait + waited * event.fading(elapsed)
        return queue, wait

    def series(self, function: str, t: np.ndarray, index: np.ndarray) -> dict[
            tuple[str, str], np.ndarray]:
        """Every (metric, scope) value of one function at times t."""
        out = _Series(self, function, index)
        model = _MODELS.get(function)
        if model is not None:
            model(self, t, out)
        return out.values


# --- the metric models -----------------------------------------------------------------

_PerUnit = Callable[[_Unit, np.ndarray], np.ndarray]  # (unit, reading noise) -> values


class _Series:
    """Collects one function's values, keeping to the catalogue's metrics, scopes and ranges."""

    def __init__(self, trust: _Trust, function: str, index: np.ndarray) -> None:
        self.trust = trust
        self.function = function
        self.index = index
        self.values: dict[tuple[str, str], np.ndarray] = {}

    def add(self, metric_id: str, per_unit: _PerUnit, combine: str, decimals: int = 0,
            floor: bool = False) -> None:
        """Values at each unit, and at trust scope the sum, share-weighted mean or max."""
        metric = self.trust.catalogue.metrics.get(metric_id)
        if metric is None or metric.function != self.function:
            return
        units = self.trust.units(metric_id)
        scale = 10.0 ** decimals
        by_unit = []
        for unit in units:
            noise = _unit(_key(self.trust.seed, "reading", metric_id, unit.code), self.index)
            raw = per_unit(unit, noise)
            # Counts "today" only ever go up, so they are floored, never rounded to nearest.
            value = np.floor(raw * scale) / scale if floor else np.round(raw, decimals)
            value = _clip(value, metric.low, metric.high)
            by_unit.append(value)
            if unit.code != TRUST:
                self.values[(metric_id, unit.code)] = value
        if TRUST not in metric.scopes:
            return
        if units[0].code == TRUST:
            total = by_unit[0]
        elif combine == "sum":
            total = np.sum(by_unit, axis=0)
        elif combine == "max":
            total = np.max(by_unit, axis=0)
        else:
            shares = np.array([u.share for u in units])[:, None]
            total = np.round(np.sum(shares * np.array(by_unit), axis=0), decimals)
        self.values[(metric_id, TRUST)] = _clip(total, metric.low, metric.high)


def _call_handling(trust: _Trust, t: np.ndarray, out: _Series) -> None:
    load = trust.load("call_handling", t)
    answer_load = trust.load("call_handling", t - ANSWER_LAG)

    def handlers(u: _Unit) -> np.ndarray:
        # Rota gaps wander over hours; in pressure, sickness and breaks bite a little.
        return 97.0 + 2.5 * trust.smooth(f"handlers:{u.code}", t, 3 * 3600.0) \
            - 4.0 * _pos(load - 1.0)

    def strain(u: _Unit, demand: np.ndarray) -> np.ndarray:
        return demand * u.busy * 97.0 / handlers(u)

    def answer_mean(u: _Unit) -> np.ndarray:
        return (3.0 + 6.0 * strain(u, answer_load) ** 3.8) \
            * (1.0 + 0.1 * trust.smooth(f"answer:{u.code}", t, 1800.0))

    out.add("calls.waiting", lambda u, n: 7.0 * u.share * strain(u, load) ** 2.8
            * (1.0 + 0.1 * trust.smooth(f"calls:{u.code}", t, 900.0))
            + n * np.sqrt(3.0 * u.share * load ** 2.8), "sum")
    out.add("calls.answer_mean", lambda u, n: answer_mean(u) + 1.5 * n, "mean")
    out.add("calls.answer_p90", lambda u, n: 2.6 * answer_mean(u) + 6.0 + 4.0 * n, "mean")
    out.add("calls.abandoned_pct", lambda u, n: 0.8 + 0.8 * strain(u, answer_load) ** 3.5
            + 0.3 * n, "mean", 1)
    out.add("calls.demand_vs_forecast", lambda u, n: 100.0 * load / trust.demand(t) + 1.5 * n,
            "mean")
    out.add("calls.handlers_vs_plan", lambda u, n: handlers(u) + 0.3 * n, "mean", 1)


def _clinical_triage(trust: _Trust, t: np.ndarray, out: _Series) -> None:
    load = trust.load("clinical_triage", t - LAG["clinical_triage"])
    clinicians = 95.0 + 3.0 * trust.smooth("clinicians", t, 4 * 3600.0) - 5.0 * _pos(load - 1.0)
    strain = load * 95.0 / clinicians
    wobble = 1.0 + 0.1 * trust.smooth("triage", t, 1200.0)
    out.add("triage.waiting", lambda u, n: 22.0 * u.share * u.busy * strain ** 2.6 * wobble
            + 2.0 * n, "sum")
    out.add("triage.longest_wait", lambda u, n: (25.0 + 30.0 * (u.busy * strain) ** 2.2)
            * wobble + 3.0 * n, "max")
    out.add("triage.overdue_callbacks", lambda u, n: 1.5 * u.share * (u.busy * strain) ** 4.2
            + 0.8 * n, "sum")
    out.add("triage.hear_and_treat_pct", lambda u, n: 13.5 + 1.2 * trust.smooth(
        f"hat:{u.code}", t, 6 * 3600.0) - 1.0 * _pos(load - 1.0) + 0.2 * n, "mean", 1)
    out.add("triage.clinicians_vs_plan", lambda u, n: clinicians + 0.3 * n, "mean", 1)


def _ae(trust: _Trust, t: np.ndarray, out: _Series) -> None:
    load = trust.load("ae", t - LAG["ae"])
    hospitals = [_Unit(s.code, 0.0, 1.0) for s in trust.catalogue.sites_of("hospital")]
    if "ae.handover_queue" in trust.catalogue.metrics:
        hospitals = trust.units("ae.handover_queue")
    states: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def state(u: _Unit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean queue, longest wait, queue as read) at a hospital, worked out once."""
        if u.code not in states:
            queue, wait = trust.handover(u, t)
            noise = _unit(_key(trust.seed, "queue", u.code), out.index)
            states[u.code] = queue, wait, np.maximum(np.round(queue + 0.7 * noise), 0.0)
        return states[u.code]

    held = _pos(sum((state(u)[0] for u in hospitals), np.zeros_like(t)) - 8.0)
    stack = 45.0 * load ** 2.3 * (1.0 + 0.08 * trust.smooth("stack", t, 1800.0)) + 2.0 * held
    # Response means are over a rolling 24 h: average the instantaneous mean every 15 min.
    past = (t[:, None] - (np.arange(96) + 0.5) * 900.0).ravel() - LAG["ae"]
    past_load = trust.load("ae", past).reshape(t.size, 96)
    c1 = np.mean(8.6 * past_load ** 1.2, axis=1)
    c2 = np.mean(15.0 + 9.0 * past_load ** 4.5, axis=1)
    out.add("ae.stack", lambda u, n: stack * u.share + 3.0 * n, "sum")
    out.add("ae.stack_c2", lambda u, n: stack * u.share
            * (0.5 + 0.03 * trust.smooth("c2mix", t, 3600.0)) + 2.0 * n, "sum")
    out.add("ae.c1_mean", lambda u, n: c1 + 0.1 * n, "mean", 1)
    out.add("ae.c2_mean", lambda u, n: c2 + 0.4 * n, "mean", 1)
    out.add("ae.c2_longest_wait", lambda u, n: (40.0 + 30.0 * load ** 2.5)
            * (1.0 + 0.15 * trust.smooth("c2wait", t, 2400.0)) + 4.0 * n, "max")
    out.add("ae.resources_vs_plan", lambda u, n: 96.0 + 2.5 * trust.smooth("resources", t, 7200.0)
            - 3.0 * _pos(load - 1.0) - 0.5 * held + 0.4 * n, "mean", 1)

    out.add("ae.handover_queue", lambda u, n: state(u)[2], "sum")
    out.add("ae.handover_longest", lambda u, n: np.where(
        state(u)[2] > 0, state(u)[1] + 3.0 * n, 0.0), "max")

    def rates(u: _Unit) -> Callable[[np.ndarray], np.ndarray]:
        def rate(c: np.ndarray) -> np.ndarray:
            queue, wait = trust.handover(u, c)
            arrivals = 17.0 * u.share * trust.load("ae", c - LAG["ae"])  # per hour
            over_60 = np.clip(0.01 + (_pos(wait - 20.0) / 110.0) ** 1.5, 0.0, 0.9)
            beyond_15 = np.clip((wait - 15.0) / np.maximum(wait, 1.0), 0.0, 1.0)
            return np.stack([arrivals * over_60, queue * beyond_15])
        return rate

    today: dict[str, np.ndarray] = {}

    def counts(u: _Unit) -> np.ndarray:
        if u.code not in today:
            today[u.code] = trust.today(t, rates(u))
        return today[u.code]

    out.add("ae.handovers_over_60", lambda u, n: counts(u)[0], "sum", floor=True)
    out.add("ae.hours_lost", lambda u, n: counts(u)[1], "sum", 1, floor=True)


def _pts(trust: _Trust, t: np.ndarray, out: _Series) -> None:
    load = trust.load("pts", t - LAG["pts"])
    hour, weekday, _ = trust.local(t)
    day = np.floor(trust.midnight(t) / 3600.0)
    hours = np.arange(25)
    done = np.interp(hour, hours, np.append(0.0, np.cumsum(_PTS_ACTIVITY)) / _PTS_ACTIVITY.sum())
    booked = np.interp(hour, hours, np.append(0.0, np.cumsum(_PTS_BOOKING)) / _PTS_BOOKING.sum())

    def journeys(u: _Unit) -> np.ndarray:
        spread = _unit(_key(trust.seed, "pts-day", u.code), day)
        return PTS_JOURNEYS * u.share * _PTS_WEEKDAY[weekday] * (1.0 + 0.06 * spread)

    # Most of a day's journeys are booked in advance; same-day discharges add the rest.
    out.add("pts.journeys_planned", lambda u, n: journeys(u) * (0.85 + 0.15 * booked), "sum",
            floor=True)
    out.add("pts.journeys_completed", lambda u, n: journeys(u) * 0.97 * done, "sum", floor=True)
    out.add("pts.on_time_pct", lambda u, n: 89.5 + 1.5 * trust.smooth(f"ontime:{u.code}", t,
                                                                      6 * 3600.0)
            - 8.0 * _pos(load - 1.0) + 0.3 * n, "mean", 1)
    discharge = np.interp(hour, hours, np.append(_PTS_DISCHARGE, _PTS_DISCHARGE[0]))
    out.add("pts.discharges_over_2h", lambda u, n: 14.0 * u.share * discharge * load ** 2
            * (1.0 + 0.15 * trust.smooth(f"discharge:{u.code}", t, 2400.0)) + 0.8 * n, "sum")
    out.add("pts.vehicles_vs_plan", lambda u, n: 95.0 + 2.5 * trust.smooth(
        f"vehicles:{u.code}", t, 4 * 3600.0) - 3.0 * _pos(load - 1.0) + 0.3 * n, "mean", 1)

    def late_rate(u: _Unit) -> Callable[[np.ndarray], np.ndarray]:
        def rate(c: np.ndarray) -> np.ndarray:
            c_hour, c_weekday, _ = trust.local(c)
            density = _PTS_ACTIVITY[np.floor(c_hour).astype(np.int64) % 24] / _PTS_ACTIVITY.sum()
            late = 0.04 + 0.1 * _pos(trust.load("pts", c - LAG["pts"]) - 1.0)
            # Renal and oncology are about 15% of journeys.
            return 0.15 * PTS_JOURNEYS * u.share * _PTS_WEEKDAY[c_weekday] * density * late
        return rate

    out.add("pts.late_renal_oncology", lambda u, n: trust.today(t, late_rate(u)), "sum",
            floor=True)


_MODELS: dict[str, Callable[[_Trust, np.ndarray, _Series], None]] = {
    "call_handling": _call_handling,
    "clinical_triage": _clinical_triage,
    "ae": _ae,
    "pts": _pts,
}
