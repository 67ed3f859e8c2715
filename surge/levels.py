"""What the rules engine publishes, as typed records, and the one way they are put into words.

The engine publishes every level (``Store.levels()``) as ``{level, since, stale, kind,
reason}``, and records every change as an event ``{name, scope, from, to, stale, reason}``.
A ``reason`` is one of:

- a trigger's state: ``{trigger, metric, value, compares, threshold, candidate, stale, for,
  clear_for, [site], [aggregate, worst_sites], [pending], text}``;
- a trigger's change: ``{trigger, metric, value, compares, stale, [site], [aggregate],
  [direction, threshold, window], text}``;
- a per-site trigger (``aggregate: each``): ``{sites: {SITE: level}}``;
- a combined level (site, protocol, overall): ``{combine: max, drivers}`` or
  ``{combine: score, total, drivers, points}``, the drivers by name.

``parse_levels`` turns them into PublishedLevel records: each driver's name is resolved to
its test (metric, site, value, threshold, for) and each combined level gets its nearest
pending escalation. ``describe`` and ``describe_pending`` are the sentences that screens,
``surge explain``, backtests and rule tests all show. A missing or unknown field (from a
worker of another version) is ignored, never raised.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from surge.catalogue import Catalogue, Metric
from surge.durations import format_duration

__all__ = [
    "OVERALL",
    "Aggregate",
    "Change",
    "Condition",
    "Driver",
    "Kind",
    "Pending",
    "PublishedLevel",
    "Reason",
    "SiteValue",
    "describe",
    "describe_pending",
    "format_value",
    "parse_levels",
]

Kind = Literal["trigger", "site", "protocol", "overall"]
Change = Literal["up", "down", "stale", "fresh"]
OVERALL = "overall"  # the engine's name for the trust's calculated level
_KINDS: tuple[Kind, ...] = ("trigger", "site", "protocol", "overall")
_SITE_KINDS = {"hospital": "hospitals", "eoc": "EOCs", "pts_zone": "PTS zones"}
_COUNT_OVER = re.compile(r"count_over\((?P<x>[^)]*)\)")


# --- the records ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Aggregate:
    """How a trigger over sites makes one value of theirs: the max, min, sum or mean, or
    (``count_over``) how many sites are at or beyond ``over``."""

    how: str  # max | min | sum | mean | count_over
    over: float | None = None  # X of count_over(X)
    over_compares: str = ">="  # a site's value against X: the metric's direction
    across: str = "sites"  # what it runs over, as read: hospitals, EOCs, PTS zones

    @property
    def counts(self) -> bool:
        return self.how == "count_over"


@dataclass(frozen=True)
class SiteValue:
    site: str
    name: str
    value: float


@dataclass(frozen=True)
class Condition:
    """One trigger's test: a metric (trust-wide, at one site, or over sites) against a
    threshold, as it stood (``change`` None) or as it was when a level moved."""

    trigger: str  # the instance: call_handling/calls.waiting, ae/ae.handover_queue@RVJ
    metric: str
    label: str  # the metric's label; its id when the catalogue does not know it
    unit: str
    site: str | None = None
    site_name: str | None = None
    aggregate: Aggregate | None = None
    value: float | None = None
    compares: str = ">="  # >= (higher is worse) or <=
    threshold: float | None = None  # of the trigger's level, or the one crossed in a change
    for_seconds: float = 0  # how long a threshold must hold before the level rises
    clear_for_seconds: float = 0  # ... and how long it must be clear before it falls
    stale: bool = False
    worst_sites: tuple[SiteValue, ...] = ()  # an aggregate's worst sites, worst first
    change: Change | None = None

    @property
    def scope(self) -> str:
        """trust, a site code, or sites (an aggregate)."""
        return "sites" if self.aggregate else self.site or "trust"


@dataclass(frozen=True)
class Driver:
    """A member that set a combined level: a protocol (of overall) or a trigger instance."""

    name: str
    label: str  # a protocol's function label; a trigger's metric label
    level: int | None  # None: not published
    level_name: str
    points: float | None = None  # under combine: score
    condition: Condition | None = None  # a trigger's test, when its reason is at hand


@dataclass(frozen=True)
class Reason:
    """Why a level is what it is: a trigger's own test, or the members that set a combined
    level, or a per-site trigger's level at each site."""

    combine: Literal["max", "score"] | None = None  # None: not a combined level
    drivers: tuple[Driver, ...] = ()
    total: float | None = None  # score
    condition: Condition | None = None  # a trigger's test
    sites: tuple[tuple[str, int], ...] = ()  # a per-site trigger: (site, level) of each
    change: Change | None = None  # the reason for a change (an event, a backtest)
    text: str | None = None  # the engine's own sentence, if it gave one


@dataclass(frozen=True)
class Pending:
    """A change under way: to which level, held how long of how long, on which trigger."""

    level: int
    level_name: str
    direction: Literal["up", "down"]
    held: float  # seconds
    needed: float  # seconds
    threshold: float | None
    trigger: str
    function: str  # the label of the function (protocol) the trigger belongs to
    condition: Condition | None = None
    more: int = 0  # further escalations pending in the same scope


@dataclass(frozen=True)
class PublishedLevel:
    """One level as the engine published it: number and name, since when, stale, why."""

    name: str  # overall, ae, ae@RVJ, ae/ae.stack, ae/ae.handover_queue@RVJ
    kind: Kind
    level: int
    level_name: str  # from the catalogue; "" when it does not define this number
    since: float | None  # UTC epoch seconds
    stale: bool
    reason: Reason
    pending: Pending | None = None

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any], catalogue: Catalogue | None = None,
                  published: Mapping[str, Any] | None = None) -> PublishedLevel:
        """A published level (or a level-change event's data); ``published``, every level
        published with it, resolves drivers and pending escalations. ValueError only when
        there is no level number at all."""
        return _Reader(catalogue, published or {}).level(name, data)


def parse_levels(published: Mapping[str, Any],
                 catalogue: Catalogue | None = None) -> dict[str, PublishedLevel]:
    """Every published level, typed: from ``Store.levels()`` or an Evaluator's ``explain()``.
    An entry without a level number is left out."""
    raw = {name: data for name, entry in published.items()
           if (data := _as_dict(entry)) is not None}
    reader = _Reader(catalogue, raw)
    out = {}
    for name, data in raw.items():
        try:
            out[name] = reader.level(name, data)
        except ValueError:
            continue
    return out


# --- reading what was published ---------------------------------------------------------------


def _as_dict(entry: Any) -> Mapping[str, Any] | None:
    """A published entry, or the engine's own LevelView, as the published dict."""
    if isinstance(entry, Mapping):
        return entry
    if hasattr(entry, "level") and hasattr(entry, "reason"):
        return {"level": entry.level, "since": getattr(entry, "since", None),
                "stale": getattr(entry, "stale", False), "kind": getattr(entry, "kind", None),
                "reason": entry.reason}
    return None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    number = _num(value)
    return None if number is None else int(number)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _seq(value: Any) -> list[Any] | tuple[Any, ...]:
    return value if isinstance(value, list | tuple) else ()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _change_of(data: Mapping[str, Any]) -> Change | None:
    """Which way a level-change event's data moved; None for a published level."""
    if "to" not in data:
        return None
    old, new = _int(data.get("from")), _int(data.get("to"))
    if old is not None and new is not None and new != old:
        return "up" if new > old else "down"
    return "stale" if data.get("stale") else "fresh"


def _kind_of(name: str) -> Kind:
    if name == OVERALL:
        return "overall"
    return "trigger" if "/" in name else "site" if "@" in name else "protocol"


def _in_scope(key: str, name: str) -> bool:
    """Whether trigger instance ``name`` (P/T or P/T@S) counts towards level ``key``."""
    if key == OVERALL:
        return "/" in name
    if "/" in key:  # a per-site trigger: its instances at each site
        return name.startswith(key + "@")
    protocol, _, site = key.partition("@")
    return name.startswith(protocol + "/") and (not site or name.endswith("@" + site))


class _Reader:
    """Reads published dicts against the catalogue (names and units) and the other levels
    published with them (drivers, pending escalations)."""

    def __init__(self, catalogue: Catalogue | None, published: Mapping[str, Any]) -> None:
        self.catalogue = catalogue
        self.published = published
        levels = catalogue.levels if catalogue else ()
        self.base = levels[0].number if levels else None

    def entry(self, name: str) -> Mapping[str, Any]:
        return _as_dict(self.published.get(name)) or {}

    def level_name(self, number: int | None) -> str:
        if self.catalogue is None or number is None:
            return ""
        try:
            return self.catalogue.level(number).name
        except KeyError:
            return ""

    def function_label(self, protocol: str) -> str:
        if self.catalogue is not None:
            for function in self.catalogue.functions:
                if function.id == protocol:
                    return function.label
        return protocol

    def level(self, name: str, data: Mapping[str, Any]) -> PublishedLevel:
        if not isinstance(data, Mapping):
            raise ValueError(f"{name}: expected a mapping, got {type(data).__name__}")
        is_change = "to" in data  # an event's data: {name, scope, from, to, stale, reason}
        number = _int(data.get("to" if is_change else "level"))
        if number is None:
            raise ValueError(f"{name}: no level number")
        kind = data.get("kind", data.get("scope"))
        kind = kind if kind in _KINDS else _kind_of(name)
        stale = bool(data.get("stale"))
        change = _change_of(data)
        raw = _map(data.get("reason"))
        reason = self.reason(name, number, raw, change)
        if change is not None:
            pending = None  # a change records what happened, not what was under way
        elif kind == "trigger" and "metric" in raw:
            pending = self.own_pending(name, raw)
        else:
            pending = self.nearest_pending(name, number)
        since = _num(data.get("at", data.get("since")))
        return PublishedLevel(name, kind, number, self.level_name(number), since, stale,
                              reason, pending)

    def reason(self, name: str, level: int, raw: Mapping[str, Any],
               change: Change | None) -> Reason:
        text = _str(raw.get("text"))
        if "combine" in raw or "drivers" in raw:
            combine: Literal["max", "score"] = "score" if raw.get("combine") == "score" else "max"
            points = {str(k): p for k, v in _map(raw.get("points")).items()
                      if (p := _num(v)) is not None}
            names = [d for d in _seq(raw.get("drivers")) if isinstance(d, str)]
            if combine == "score" and points:
                names = sorted((n for n, p in points.items() if p > 0), key=lambda n: -points[n])
                drivers = tuple(self.driver(n, points[n]) for n in names)
            elif self.base is not None and level <= self.base:
                drivers = ()  # the worst of them is at the base level: none drives it
            else:
                drivers = tuple(d for n in names for d in self.drivers(n))
            total = _num(raw.get("total"))
            if combine == "score" and total is None:
                total = sum(points.values())
            return Reason(combine, drivers, total, change=change, text=text)
        if isinstance(raw.get("sites"), Mapping):
            sites = tuple((str(s), lv) for s, v in raw["sites"].items()
                          if (lv := _int(v)) is not None)
            raised = self.base is None or level > self.base
            drivers = tuple(d for s, lv in sites if lv == level and raised
                            for d in self.drivers(f"{name}@{s}"))
            return Reason(drivers=drivers, sites=sites, change=change, text=text)
        readable = all(raw.get(k) is None or _num(raw.get(k)) is not None
                       for k in ("value", "threshold", "for", "clear_for", "window"))
        if isinstance(raw.get("metric"), str) and readable:
            return Reason(condition=self.condition(name, raw, change), change=change, text=text)
        return Reason(change=change, text=text)  # a shape not known here: the engine's text

    def drivers(self, name: str) -> list[Driver]:
        """A member's drivers: itself, or a per-site trigger's sites at its level."""
        entry = self.entry(name)
        level = _int(entry.get("level", entry.get("to")))
        sites = _map(_map(entry.get("reason")).get("sites"))
        if sites and level is not None:
            out = [d for site, lv in sites.items() if _int(lv) == level
                   for d in self.drivers(f"{name}@{site}")]
            if out:
                return out
        return [self.driver(name)]

    def driver(self, name: str, points: float | None = None) -> Driver:
        entry = self.entry(name)
        level = _int(entry.get("level", entry.get("to")))
        raw = _map(entry.get("reason"))
        condition = None
        if isinstance(raw.get("metric"), str):
            condition = self.condition(name, raw, _change_of(entry))
        protocol, slash, trigger = name.partition("/")
        if condition is not None:
            label = condition.label
        elif slash:
            label = self.metric_label(trigger.partition("@")[0])
        else:
            label = self.function_label(protocol)
        return Driver(name, label, level, self.level_name(level), points, condition)

    def metric_label(self, trigger: str) -> str:
        metric = self.catalogue.metrics.get(trigger) if self.catalogue else None
        return metric.label if metric else trigger

    def condition(self, name: str, raw: Mapping[str, Any], change: Change | None) -> Condition:
        metric_id = str(raw["metric"])
        metric = self.catalogue.metrics.get(metric_id) if self.catalogue else None
        site = _str(raw.get("site"))
        compares = raw.get("compares") if raw.get("compares") in (">=", "<=") else ">="
        window = _num(raw.get("window")) or 0.0
        worst = tuple(SiteValue(s, self.site_name(s), v) for item in _seq(raw.get("worst_sites"))
                      if isinstance(item, Mapping) and (s := _str(item.get("site")))
                      and (v := _num(item.get("value"))) is not None)
        return Condition(
            trigger=_str(raw.get("trigger")) or name, metric=metric_id,
            label=metric.label if metric else metric_id, unit=metric.unit if metric else "",
            site=site, site_name=self.site_name(site) if site else None,
            aggregate=self.aggregate(raw.get("aggregate"), metric),
            value=_num(raw.get("value")), compares=str(compares),
            threshold=_num(raw.get("threshold")),
            for_seconds=window if change == "up" else _num(raw.get("for")) or 0.0,
            clear_for_seconds=window if change == "down" else _num(raw.get("clear_for")) or 0.0,
            stale=bool(raw.get("stale")), worst_sites=worst, change=change)

    def site_name(self, code: str) -> str:
        site = self.catalogue.sites.get(code) if self.catalogue else None
        return site.name if site else code

    def aggregate(self, text: Any, metric: Metric | None) -> Aggregate | None:
        """The engine writes an aggregate as text (max, count_over(60)); read once, here."""
        if not isinstance(text, str) or text in ("", "each"):
            return None
        kinds = [_SITE_KINDS[k] for k in (metric.scopes if metric else ()) if k in _SITE_KINDS]
        across = kinds[0] if kinds else "sites"
        found = _COUNT_OVER.fullmatch(text)
        if found is None:
            return Aggregate(text, across=across)
        try:
            over: float | None = float(found["x"])
        except ValueError:
            over = None
        compares = "<=" if metric is not None and metric.worse == "lower" else ">="
        return Aggregate("count_over", over, compares, across)

    def own_pending(self, name: str, raw: Mapping[str, Any]) -> Pending | None:
        found = _map(raw.get("pending"))
        target = _int(found.get("level"))
        direction = found.get("direction")
        if target is None or direction not in ("up", "down"):
            return None
        return Pending(target, self.level_name(target), direction,
                       _num(found.get("held")) or 0.0, _num(found.get("needed")) or 0.0,
                       _num(found.get("threshold")), name,
                       self.function_label(name.partition("/")[0]),
                       self.condition(name, raw, None))

    def nearest_pending(self, key: str, level: int) -> Pending | None:
        """The escalation above ``level`` among the triggers of ``key`` nearest to raising
        it: the highest level, then the longest held. One to a level already reached is
        not news (with max it would not raise it; with a score it adds points towards it)."""
        found: list[Pending] = []
        for name in self.published:
            if not _in_scope(key, name):
                continue
            entry = self.entry(name)
            raw = _map(entry.get("reason"))
            if entry.get("kind", "trigger") != "trigger" or "metric" not in raw:
                continue
            pending = self.own_pending(name, raw)
            if pending is not None and pending.direction == "up" and pending.level > level:
                found.append(pending)
        if not found:
            return None
        found.sort(key=lambda p: (p.level, p.held / p.needed if p.needed else 1.0),
                   reverse=True)
        first = found[0]
        return Pending(first.level, first.level_name, first.direction, first.held, first.needed,
                       first.threshold, first.trigger, first.function, first.condition,
                       len(found) - 1)


# --- the one renderer ----------------------------------------------------------------------


def describe(level: PublishedLevel, *, limit: int | None = None) -> str:
    """Why a level is what it is, as a control room reads it: "999 calls waiting ≥ 30 calls
    for 5m (now 41 calls)". ``limit``: at most that many of the drivers' sentences, then
    "and N more". Empty when the engine gave no reason at all."""
    sentences = _sentences(level)
    if limit is not None and len(sentences) > limit:
        return "; ".join(sentences[:limit]) + f"; and {len(sentences) - limit} more"
    return "; ".join(sentences)


def describe_pending(pending: Pending, *, brief: bool = False, with_level: bool = False) -> str:
    """A change under way: "999 calls waiting ≥ 30 calls for 3m of 5m".

    ``brief`` (the trust's level, where each function's panel has the detail): "999 call
    handling, 3m of 5m". ``with_level``: the whole line, "level 3 Severe pressure pending:
    ... (+1 more)".
    """
    how_long = f"{_held(pending.held)} of {format_duration(pending.needed)}"
    condition = pending.condition
    if brief:
        text = f"{pending.function}, {how_long}"
    elif condition is None or pending.threshold is None:
        text = f"{pending.trigger} for {how_long}"
    elif pending.direction == "up":
        text = f"{_meets(condition, pending.threshold)} for {how_long}"
    else:
        text = f"{_clears(condition, pending.threshold)} for {how_long}"
    if not with_level:
        return text
    more = f" (+{pending.more} more)" if pending.more else ""
    return f"{_level_words(pending.level, pending.level_name)} pending: {text}{more}"


def _sentences(level: PublishedLevel) -> list[str]:
    reason = level.reason
    at = _level_words(level.level, level.level_name)
    if reason.condition is not None:
        return [_condition_text(reason.condition, level.level, level.level_name, level.pending)]
    if reason.combine == "score":
        return [_score_text(reason)]
    if reason.combine == "max":
        if level.kind == "overall":
            if not reason.drivers:
                return [f"No function above {at}"]
            return ["Set by " + _and([d.label for d in reason.drivers])]
        if not reason.drivers:
            return [f"No trigger above {at}"]
        return [_driver_text(d) for d in reason.drivers]
    if reason.sites:
        if reason.drivers:
            return [_driver_text(d) for d in reason.drivers]
        return [f"No site above {at}"]
    return [reason.text] if reason.text else []


def _driver_text(driver: Driver) -> str:
    if driver.condition is not None:
        return _condition_text(driver.condition, driver.level, driver.level_name, None)
    if driver.level is None:
        return driver.label
    return f"{driver.label} at {_level_words(driver.level, driver.level_name)}"


def _condition_text(c: Condition, level: int | None, level_name: str,
                    pending: Pending | None) -> str:
    subject = _subject(c)
    at = _level_words(level, level_name)
    if c.change == "fresh":
        return f"{subject}: data fresh again"
    if c.change == "stale" or (c.stale and c.change is None):
        return f"{subject}: data stale, held at {at}"
    if c.stale:  # a level moved while the data was stale: the protocol's on_stale level
        return f"{subject}: data stale, counted as {at}"
    now = f"now {_value(c, c.value)}" if c.value is not None else "no value"
    if c.worst_sites and c.aggregate is not None:
        now += "; worst " + ", ".join(f"{s.name} {format_value(s.value, c.unit)}"
                                      for s in c.worst_sites)
    if c.threshold is None:
        return f"{subject}: no threshold met ({now})"
    if c.change == "down":
        text = _clears(c, c.threshold)
        window = c.clear_for_seconds
    else:
        text = _meets(c, c.threshold)
        window = c.for_seconds
    if window:
        text += f" for {format_duration(window)}"
    if c.change is None and pending is not None and pending.direction == "down" \
            and pending.threshold is not None:  # held at this level until it has cleared
        now += (f", {_clears(c, pending.threshold, short=True)} for {_held(pending.held)} "
                f"of {format_duration(pending.needed)} to clear")
    return f"{text} ({now})"


def _subject(c: Condition) -> str:
    """What is compared: a metric's label, at a site, over sites, or a count of sites."""
    aggregate = c.aggregate
    if aggregate is not None:
        if aggregate.counts:
            over = "" if aggregate.over is None else \
                f" {_sign(aggregate.over_compares)} {format_value(aggregate.over, c.unit)}"
            return f"{aggregate.across} with {c.label}{over}"
        return f"{aggregate.how} of {c.label} across {aggregate.across}"
    if c.site:
        return f"{c.label} at {c.site_name or c.site}"
    return c.label


def _meets(c: Condition, threshold: float) -> str:
    """A threshold met: "999 calls waiting ≥ 30 calls", "2 or more hospitals with ..."."""
    if c.aggregate is not None and c.aggregate.counts:
        return f"{format_value(threshold, '')} or more {_subject(c)}"
    return f"{_subject(c)} {_sign(c.compares)} {format_value(threshold, c.unit)}"


def _clears(c: Condition, threshold: float, *, short: bool = False) -> str:
    """A threshold no longer met: "999 calls waiting < 30 calls", "fewer than 2 ...";
    ``short`` leaves out what is compared (said already)."""
    if c.aggregate is not None and c.aggregate.counts:
        count = f"fewer than {format_value(threshold, '')}"
        return count if short else f"{count} {_subject(c)}"
    below = "<" if c.compares == ">=" else ">"
    test = f"{below} {format_value(threshold, c.unit)}"
    return test if short else f"{_subject(c)} {test}"


def _value(c: Condition, value: float) -> str:
    return format_value(value, "" if c.aggregate is not None and c.aggregate.counts else c.unit)


def _score_text(reason: Reason) -> str:
    total = reason.total or 0.0
    scored = sorted((d for d in reason.drivers if d.points), key=lambda d: -(d.points or 0))
    if not scored:
        return f"Score {total:g}: no trigger scoring points"
    return f"Score {total:g} points: " + ", ".join(f"{d.label} {d.points:g}" for d in scored)


def _sign(compares: str) -> str:
    return "≥" if compares == ">=" else "≤"


def _level_words(number: int | None, name: str) -> str:
    if number is None:
        return "an unknown level"
    return f"level {number} {name}" if name else f"level {number}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _held(seconds: float) -> str:
    """How long a condition has held, in whole minutes once past one (never overstated)."""
    return format_duration(seconds // 60 * 60 if seconds >= 60 else seconds)


# --- values with their units -------------------------------------------------------------------


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
