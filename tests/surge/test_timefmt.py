"""Times as text: UTC for machines, UK local time for people, right across the clock changes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from surge.timefmt import UK, uk_time, utc_iso


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_utc_iso_is_whole_seconds_unless_asked_for_the_fraction() -> None:
    assert utc_iso(utc(2026, 1, 5, 8, 0)) == "2026-01-05T08:00:00Z"
    assert utc_iso(utc(2026, 1, 5, 8, 0) + 0.25) == "2026-01-05T08:00:00Z"
    assert utc_iso(utc(2026, 1, 5, 8, 0) + 0.25, exact=True) == "2026-01-05T08:00:00.250000Z"
    assert utc_iso(utc(2026, 1, 5, 8, 0), exact=True) == "2026-01-05T08:00:00Z"
    assert utc_iso(utc(2026, 7, 1, 12, 0)) == "2026-07-01T12:00:00Z"  # never BST


def test_uk_time_in_winter_and_summer() -> None:
    assert uk_time(utc(2026, 11, 26, 14, 3, 22)) == "14:03:22"  # GMT
    assert uk_time(utc(2026, 7, 1, 7, 15), seconds=False) == "08:15"  # BST
    assert uk_time(utc(2026, 7, 1, 7, 15), zone=True) == "08:15:00 BST"


def test_uk_time_names_the_day_when_it_is_not_today() -> None:
    now = utc(2026, 7, 1, 9, 0)
    assert uk_time(utc(2026, 7, 1, 7, 15), seconds=False, now=now) == "08:15"
    # 23:40 UTC on 30 June is already 1 July in the UK: today
    assert uk_time(utc(2026, 6, 30, 23, 40), seconds=False, now=now) == "00:40"
    assert uk_time(utc(2026, 6, 30, 22, 40), seconds=False, now=now) == "30 Jun 23:40"
    assert uk_time(utc(2026, 6, 30, 22, 40), seconds=False, dated=True) == "2026-06-30 23:40"


def test_uk_time_across_the_spring_clock_change() -> None:
    # 29 March 2026: at 01:00 UTC the clocks go from 01:00 GMT to 02:00 BST
    assert uk_time(utc(2026, 3, 29, 0, 59, 59), zone=True) == "00:59:59 GMT"
    assert uk_time(utc(2026, 3, 29, 1, 0), zone=True) == "02:00:00 BST"


def test_uk_time_across_the_autumn_clock_change_tells_the_repeated_hour_apart() -> None:
    # 25 October 2026: 01:00-02:00 UK time happens twice, first in BST then in GMT
    first, second = utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)
    assert uk_time(first, seconds=False) == uk_time(second, seconds=False) == "01:30"
    assert uk_time(first, zone=True) == "01:30:00 BST"
    assert uk_time(second, zone=True) == "01:30:00 GMT"
    assert uk_time(second, seconds=False, dated=True, zone=True) == "2026-10-25 01:30 GMT"


def test_the_rules_file_time_zone_is_used_when_given() -> None:
    assert UK.key == "Europe/London"
    assert uk_time(utc(2026, 1, 5, 8, 0), ZoneInfo("Europe/Paris"), seconds=False) == "09:00"
