"""The page header's view model: the declared trust level beside the calculated one, whether
they diverge and for how long, and the UK time, as every page shows them.

The calculated level is dashboard/levels.py's LevelView (advice). The declared level is the
decision: number, name and colour together, who declared it, when and why. A screen must
never report agreement it cannot see: with nothing declared it says NO LEVEL DECLARED, when
the calculated level is unknown it says it cannot compare, and when the store cannot be
read it says the declared level is not available, on neutral grey.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Literal

from dashboard.formatting import format_span, uk_time
from dashboard.levels import NEUTRAL, text_colour
from surge.catalogue import Catalogue
from surge.declarations import TrustStatus

__all__ = ["ClockView", "DeclaredView", "clock_view", "declared_view"]

DeclaredState = Literal["declared", "none", "missing"]
Agreement = Literal["agrees", "diverges", "no declaration", "unknown", "not available"]


@dataclass(frozen=True)
class DeclaredView:
    """The declared trust level as shown, and how it stands against the calculated one."""

    state: DeclaredState
    number: int | None
    name: str  # "Severe pressure"; NO LEVEL DECLARED; DECLARED LEVEL NOT AVAILABLE
    colour: str
    text_colour: str
    by: str | None  # "Ann Smith (commander)"
    at: str | None  # "declared 10:04" (UK time; dated when not today)
    reason: str | None
    agreement: Agreement
    flag: str | None  # "DIVERGES — declared 3, calculated 2, for 1 h 05 min (since 10:04)"
    diverging_for: float | None  # seconds, while they diverge

    @property
    def diverges(self) -> bool:
        return self.agreement == "diverges"


@dataclass(frozen=True)
class ClockView:
    """The time on every page: UK local time with its zone (GMT or BST), and the date."""

    time: str  # 14:03:22
    zone: str  # GMT | BST
    date: str  # Thursday 26 November 2026


def clock_view(now: float, tz: tzinfo) -> ClockView:
    when = datetime.fromtimestamp(now, tz)
    return ClockView(uk_time(now, tz), when.strftime("%Z"),
                     f"{when.strftime('%A')} {when.day} {when.strftime('%B %Y')}")


def _missing(name: str, agreement: Agreement, flag: str | None) -> DeclaredView:
    state: DeclaredState = "none" if agreement == "no declaration" else "missing"
    return DeclaredView(state, None, name, NEUTRAL, "#ffffff", None, None, None, agreement,
                        flag, None)


def declared_view(status: TrustStatus | None, catalogue: Catalogue, now: float, *,
                  live: bool = True) -> DeclaredView:
    """The declared level from ``trust_status`` (None: the store could not be read).

    ``live`` False (the worker stopped): a declaration still stands, but the comparison with
    a calculated level nobody updates is not claimed."""
    if status is None:
        return _missing("DECLARED LEVEL NOT AVAILABLE", "not available",
                        "data store unreachable: the declared level cannot be read")
    declared = status.declared
    if declared is None:
        return _missing("NO LEVEL DECLARED", "no declaration",
                        "no declaration in force: the calculated level is advice only")
    tz = catalogue.timezone
    name = declared.level_name or f"level {declared.level}"
    try:
        colour = catalogue.level(declared.level).colour
        name = catalogue.level(declared.level).name
    except KeyError:  # the rules in force lost it: the name it was declared with, grey
        colour = NEUTRAL
    by = f"{declared.by} ({declared.role})" if declared.role else declared.by
    at = f"declared {uk_time(declared.at, tz, seconds=False, now=now)}"
    agreement: Agreement = status.agreement
    flag: str | None = None
    diverging_for: float | None = None
    calculated = status.calculated
    if agreement == "unknown" or not live:
        agreement = "unknown"
        flag = "CANNOT COMPARE — the calculated level is not available"
    elif agreement == "diverges" and calculated is not None:
        since = status.diverging_since if status.diverging_since is not None else declared.at
        diverging_for = max(0.0, now - since)
        flag = (f"DIVERGES — declared {declared.level}, calculated {calculated.level}, "
                f"for {format_span(diverging_for)} "
                f"(since {uk_time(since, tz, seconds=False, now=now)})")
    # a declaration is a decision: it stands while the worker is stopped (only the
    # comparison with a calculated level nobody updates is not claimed)
    return DeclaredView("declared", declared.level, name, colour, text_colour(colour), by, at,
                        declared.reason, agreement, flag, diverging_for)
