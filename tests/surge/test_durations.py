"""Durations as written in config."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surge.durations import format_duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("5m", 300), ("2h", 7200), ("1h30m", 5400), ("35d", 35 * 86400), ("0", 0),
    ("1d2h3m4s", 93784), (0, 0),
])
def test_parse(text, seconds) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5 m", "m5", "30m1h", "1h1h", "1.5h", "-5m", "5min",
                                  None, True, [5], 90])
def test_bad_durations_say_what_was_expected(text) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 1h30m|such as 30s"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**8))
def test_format_then_parse_is_the_identity(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
