"""The review page's window (dashboard/pages/review.py): which span of time each choice means."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, time, timedelta, tzinfo

from dashboard.formatting import UK
from surge.review import Note
from surge.timefmt import uk_iso

__all__ = ["AROUND", "MAX_WINDOW", "PRESETS", "local_time_of", "my_notes", "window_of"]

MAX_WINDOW = 366 * 86400.0  # a year at once (over 17 days, charts are drawn from hourly rollups)
AROUND = 2 * 3600.0  # "around this event": two hours either side
PRESETS = {"24h": "Last 24 hours", "night": "Last night, 19:00 to 07:00", "7d": "Last 7 days"}


def my_notes(notes: Sequence[Note], name: str) -> list[dict[str, str]]:
    """The choices of "Change my note": the notes ``name`` wrote about the window (only its
    author changes a note), by time, each shown by its time and the start of its text."""
    return [{"label": f"{uk_iso(n.at, ' ')[:16]} · {n.text[:60]}", "value": n.note}
            for n in notes if n.by == name]


def window_of(preset: str | None, start: str | None, end: str | None, around: str | None,
              now: float, tz: tzinfo = UK) -> tuple[float, float]:
    """The window asked for: ``around`` an instant (epoch seconds), else ``start``/``end``
    (UK local "YYYY-MM-DD HH:MM"; the hour repeated in October reads as its first, BST),
    else a preset. ValueError saying what is wrong."""
    if around:
        try:
            moment = float(around)
        except ValueError:
            raise ValueError(f"around must be a time (epoch seconds), not {around[:40]!r}") \
                from None
        if not math.isfinite(moment):
            raise ValueError("around must be a time")
        return moment - AROUND, min(moment + AROUND, now)
    if start or end:
        t1 = local_time_of(start, "From", tz) if start else now - 86400
        t2 = local_time_of(end, "To", tz) if end else now
        if t2 <= t1:
            raise ValueError("To must be after From")
        if t2 - t1 > MAX_WINDOW:
            raise ValueError(f"at most {MAX_WINDOW / 86400:.0f} days at once")
        return t1, t2
    if preset == "night":
        local = datetime.fromtimestamp(now, tz)
        morning = local.date() if local.time() >= time(7) else local.date() - timedelta(days=1)
        t2 = datetime.combine(morning, time(7), tz).timestamp()
        t1 = datetime.combine(morning - timedelta(days=1), time(19), tz).timestamp()
        return t1, t2
    if preset == "7d":
        return now - 7 * 86400, now
    return now - 86400, now


def local_time_of(text: str, what: str, tz: tzinfo) -> float:
    try:
        when = datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError:
        raise ValueError(f"{what}: expected a UK time such as 2026-10-24 19:00, not "
                         f"{text[:40]!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.timestamp()
