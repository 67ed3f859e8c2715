"""The calculated-level view model: each level the rules engine published, as shown.

Pure functions only (no Redis, no Dash), from the typed records ``Store.published_levels()``
returns; what a reason or a pending escalation says is ``surge.levels``' one renderer:

- a calculated level is always number, name and colour together, since when, and why;
- a stale one says STALE DATA, one that is not being updated (worker stopped, store down)
  says so, and a missing one says LEVEL NOT AVAILABLE on neutral grey, never a level's colour;
- the escalation nearest to raising a level is shown as pending, with the trigger holding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from surge.catalogue import Catalogue
from surge.levels import OVERALL, PublishedLevel, describe, describe_pending
from surge.timefmt import uk_time

__all__ = [
    "NEUTRAL",
    "NOT_AVAILABLE",
    "NOT_UPDATING_FLAG",
    "OVERALL",
    "STALE_FLAG",
    "LevelView",
    "Levels",
    "PendingView",
    "level_dom_id",
    "level_view",
    "missing_level",
    "text_colour",
]

# What Store.published_levels() returns: engine name -> the level as published.
Levels = Mapping[str, PublishedLevel]
LevelState = Literal["live", "stale", "missing", "not-live"]

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


@dataclass(frozen=True)
class PendingView:
    """The escalation nearest to raising a level: which level, and the trigger holding."""

    number: int
    name: str
    colour: str
    text_colour: str
    condition: str  # "999 calls waiting ≥ 30 calls for 3m of 5m"
    more: int  # further pending escalations in the same scope
    line: str  # the whole of it: "▲ level 3 Severe pressure pending: ... (+1 more)"


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
    pending: PendingView | None
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
    level = levels.get(key)
    if level is None:
        return missing_level(key, NO_ENTRY_FLAG)
    name, colour = _level_style(catalogue, level.level)
    since = (f"since {uk_time(level.since, catalogue.timezone, seconds=False, now=now)}"
             if level.since is not None else None)
    state: LevelState = "live"
    flag = None
    if not worker_running:
        state, flag = "not-live", NOT_UPDATING_FLAG
    elif level.stale:
        state, flag = "stale", STALE_FLAG
    reason = describe(level, limit=MAX_REASONS) or None
    detail = describe(level) or None
    pending = _pending(level, catalogue) if worker_running else None
    return LevelView(key, level_dom_id(key), state, level.level, name, colour,
                     text_colour(colour), since, flag, reason, detail, pending, level.stale)


def _pending(level: PublishedLevel, catalogue: Catalogue) -> PendingView | None:
    """An escalation above this level, as a chip: nothing is news while it clears."""
    pending = level.pending
    if pending is None or pending.direction != "up" or pending.level <= level.level:
        return None
    name, colour = _level_style(catalogue, pending.level)
    # the trust's level names the function only: its panel has the detail
    brief = level.kind == OVERALL
    return PendingView(pending.level, name, colour, text_colour(colour),
                       describe_pending(pending, brief=brief), pending.more,
                       "▲ " + describe_pending(pending, brief=brief, with_level=True))
