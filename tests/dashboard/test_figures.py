"""Sparklines: tiny, static, neutral, honest about gaps and the time window."""

from __future__ import annotations

import json
import math

import numpy as np
import plotly.graph_objects as go
from hypothesis import example, given
from hypothesis import strategies as st

from dashboard.figures import (
    SPARK_COLOUR,
    SPARK_MUTED,
    break_gaps,
    chart_window,
    inner_ticks,
    nice_range,
    sparkline,
)

START, END = 1_000_000.0, 1_000_000.0 + 6 * 3600


def test_sparkline_is_one_neutral_line_over_the_whole_window_without_axes() -> None:
    ts = np.array([END - 180, END - 120, END - 60])
    fig = go.Figure(sparkline(ts, np.array([3.0, 5.0, 4.0]), START, END, height=40))
    line, last = fig.data
    assert list(line.x) == [-3.0, -2.0, -1.0]  # minutes before the end of the window
    assert list(line.y) == [3.0, 5.0, 4.0]
    assert line.line.color == SPARK_COLOUR
    assert (list(last.x), list(last.y)) == ([-1.0], [4.0])  # the newest value marked
    layout = fig.layout
    assert list(layout.xaxis.range) == [-360.0, 0.0]  # a series that stopped ends short
    assert layout.xaxis.visible is False and layout.yaxis.visible is False
    assert layout.showlegend is False
    assert layout.height == 40
    low, high = layout.yaxis.range
    assert low < 3.0 and high > 5.0


def test_a_stale_sparkline_is_muted() -> None:
    fig = sparkline(np.array([START]), np.array([1.0]), START, END, muted=True)
    assert fig["data"][0]["line"]["color"] == SPARK_MUTED


def test_a_flat_series_still_gets_a_y_range() -> None:
    fig = sparkline(np.array([START, START + 60]), np.array([0.0, 0.0]), START, END)
    low, high = fig["layout"]["yaxis"]["range"]
    assert low < 0.0 < high


def test_no_samples_draws_nothing() -> None:
    fig = go.Figure(sparkline(np.empty(0), np.empty(0), START, END))
    assert len(fig.data) == 0
    assert list(fig.layout.xaxis.range) == [-360.0, 0.0]


def test_gaps_longer_than_the_limit_break_the_line() -> None:
    ts = np.array([0.0, 60, 120, 1000, 1060])
    values = np.array([1.0, 2, 3, 4, 5])
    got_ts, got_values = break_gaps(ts, values, gap=300)
    assert len(got_ts) == 6
    assert np.isnan(got_values[3])
    assert got_ts[2] < got_ts[3] < got_ts[4]
    assert np.array_equal(got_values[~np.isnan(got_values)], values)
    fig = sparkline(ts + START, values, START, END, gap=300)
    assert fig["data"][0]["y"].count(None) == 1  # sent as null: plotly breaks the line


def test_the_figure_is_small_enough_to_send_every_refresh() -> None:
    ts = np.arange(START, END, 60.0)
    fig = sparkline(ts, np.sin(ts), START, END)
    assert fig["layout"]["template"] == {}  # no default theme (10 kB) shipped with it
    assert len(json.dumps(fig)) < 12 * len(ts) * 2


def test_no_gap_no_change() -> None:
    ts = np.array([0.0, 60, 120])
    got_ts, got_values = break_gaps(ts, np.array([1.0, 2, 3]))
    assert got_ts.tolist() == ts.tolist()
    assert got_values.tolist() == [1.0, 2, 3]



@given(st.floats(-1e4, 1e4), st.just(0.0) | st.floats(0.01, 1e4))
def test_an_axis_range_holds_the_data_with_round_ends(low: float, span: float) -> None:
    y0, y1 = nice_range(low, low + span)
    assert y0 < low and y1 > low + span  # room both sides
    width = span or max(abs(low + span), 1.0)
    assert y1 - y0 <= 2.6 * width  # the data fills a good part of it
    steps = [m * 10.0 ** k for k in range(-6, 6) for m in (1, 2, 5)]
    assert any(abs(y0 / s - round(y0 / s)) < 1e-6 and abs(y1 / s - round(y1 / s)) < 1e-6
               and s >= width / 4 for s in steps), (y0, y1)  # ends on a round step


@given(st.floats(-1e4, 1e4), st.floats(0.01, 1e4))
@example(8192.1875, 0.01171875)  # low / step a hair under a whole number: its end was a tick
def test_a_small_multiple_labels_round_values_inside_its_row_never_its_ends(
        low: float, span: float) -> None:
    y0, y1 = nice_range(low, low + span)
    ticks = inner_ticks(y0, y1)
    assert 2 <= len(ticks) <= 4 and all(y0 < t < y1 for t in ticks), (y0, y1, ticks)


def test_an_axis_range_stands_while_the_data_moves_a_little() -> None:
    assert nice_range(12, 50) == nice_range(14, 50) == nice_range(12, 52)


@given(st.floats(1e9, 2e9), st.sampled_from([6 * 3600, 24 * 3600]))
def test_a_time_axis_ends_just_after_now_and_moves_in_steps(now: float, span: int) -> None:
    start, end = chart_window(now, span)
    assert end - start == span and now <= end < now + span / 288 + 1e-6
    step_start = math.floor(now / (span / 288)) * (span / 288)
    assert chart_window(step_start + 1e-3, span) == chart_window(end - 1e-3, span) \
        or end - step_start <= 2e-3
