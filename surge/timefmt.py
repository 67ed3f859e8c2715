"""Times as text: UTC for files, events and machines, UK local time for people.

Storage is UTC epoch seconds. ``utc_iso`` is the one way a time is written for a machine
(JSON, CSV, rule-test messages); ``uk_time`` the one way it is written for a person
(screens, ``surge explain``, backtest tables), in the catalogue's time zone, by default
Europe/London. Each converts the instant itself, so both stay right across the clock
changes: an hour that happens twice in October can be told apart with ``zone=True``.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

__all__ = ["UK", "uk_iso", "uk_time", "utc_iso"]

UK = ZoneInfo("Europe/London")


def utc_iso(ts: float, *, exact: bool = False) -> str:
    """2026-01-05T08:00:00Z; ``exact`` keeps a fraction of a second when there is one."""
    when = datetime.fromtimestamp(ts, UTC)
    text = when.isoformat(timespec="auto" if exact and when.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def uk_iso(ts: float, sep: str = "T") -> str:
    """2026-10-25T01:30:00+01:00: the instant as UK local time with its offset, so the hour
    repeated in October is told apart; ``sep`` " " for people (2026-10-25 01:30:00+01:00)."""
    return datetime.fromtimestamp(ts, UK).isoformat(sep=sep, timespec="seconds")


def uk_time(ts: float, tz: tzinfo = UK, *, seconds: bool = True, now: float | None = None,
            dated: bool = False, zone: bool = False) -> str:
    """A UTC epoch time as local time: 14:03:22.

    ``now``: name the day (26 Nov 14:03:22) when it is not today's. ``dated``: always give
    the full date, sortable (2026-11-26 14:03:22), for tables and logs. ``zone``: add the
    zone's abbreviation (14:03:22 GMT, 14:03:22 BST).
    """
    when = datetime.fromtimestamp(ts, tz)
    text = when.strftime("%H:%M:%S" if seconds else "%H:%M")
    if dated:
        text = f"{when:%Y-%m-%d} {text}"
    elif now is not None and datetime.fromtimestamp(now, tz).date() != when.date():
        text = f"{when.day} {when:%b} {text}"
    if zone:
        text += f" {when:%Z}"
    return text
