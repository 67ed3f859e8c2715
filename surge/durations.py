"""Durations as people write them in config: 30s, 5m, 2h, 1h30m, 35d."""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration"]

_PART = re.compile(r"(\d+)(d|h|m|s)")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_ORDER = "dhms"


def parse_duration(text: object) -> int:
    """Seconds in a duration such as ``1h30m``; ValueError with a readable reason otherwise.

    Units must appear largest first and at most once; a bare 0 is allowed.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError(f"expected a duration such as 30s, 5m, 2h or 1h30m, got {text!r}")
    s = str(text).strip()
    if s == "0":
        return 0
    if s.isdigit():
        raise ValueError(f"a duration needs a unit: {s}s, {s}m or {s}h? (e.g. 1h30m)")
    pos, total, last = 0, 0, -1
    for match in _PART.finditer(s):
        if match.start() != pos:
            break
        unit_index = _ORDER.index(match.group(2))
        if unit_index <= last:
            raise ValueError(f"expected units largest first, each once (e.g. 1h30m), got {s!r}")
        last = unit_index
        total += int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(s) or pos == 0:
        raise ValueError(f"expected a duration such as 30s, 5m, 2h or 1h30m, got {s!r}")
    return total


def format_duration(seconds: float) -> str:
    """The shortest exact form of a whole number of seconds: 90 -> 1m30s, 0 -> 0s."""
    remaining = round(seconds)
    if remaining == 0:
        return "0s"
    sign = "-" if remaining < 0 else ""
    remaining = abs(remaining)
    parts = []
    for unit in _ORDER:
        size = _UNIT_SECONDS[unit]
        if remaining >= size:
            parts.append(f"{remaining // size}{unit}")
            remaining %= size
    return sign + "".join(parts)
