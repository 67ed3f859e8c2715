"""How figures and times read on screen: values with their units, ages, and UK local time.

Storage is UTC epoch seconds; everything a person reads is in the catalogue's time zone.
Values and times are written by ``surge.levels.format_value`` and ``surge.timefmt``, the same
as in ``surge explain`` and backtests; they are re-exported here for pages.
"""

from __future__ import annotations

from surge.levels import format_value
from surge.timefmt import UK, uk_time, utc_iso

__all__ = ["UK", "format_age", "format_span", "format_value", "local_time", "uk_time", "utc_iso"]

local_time = uk_time  # the name pages know it by


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


def format_span(seconds: float) -> str:
    """How long something has lasted, as people say it: 40 s, 12 min, 1 h 05 min, 2 d 3 h.

    Worked out from two UTC instants, so an hour that the clocks skip or repeat is counted
    once: a level held from 00:30 to 02:30 on the night the clocks change lasts 1 h or 3 h.
    """
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"
