"""How figures and times read on screen: values with their units, ages, and UK local time.

Storage is UTC epoch seconds; everything a person reads is in the catalogue's time zone.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

__all__ = ["format_age", "format_value", "local_time"]


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
