"""The calculated-level view model: each level the rules engine published, as shown.

Pure functions only (no Redis, no Dash), from what store.levels() returns:

- a calculated level is always number, name and colour together, since when, and why;
- a stale one says STALE DATA, one that is not being updated (worker stopped, store down)
  says so, and a missing one says LEVEL NOT AVAILABLE on neutral grey, never a level's colour;
- the escalation nearest to raising a level is shown as pending, with the trigger holding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dashboard.formatting import format_value, local_time
from surge.catalogue import Catalogue, Metric
from surge.durations import format_duration

__all__ = [
    "NEUTRAL",
    "NOT_AVAILABLE",
    "NOT_UPDATING_FLAG",
    "OVERALL",
    "STALE_FLAG",
    "LevelView",
    "Levels",
    "Pending",
    "level_dom_id",
    "level_view",
    "missing_level",
    "pending_escalation",
    "text_colour",
    "trigger_text",
]

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
