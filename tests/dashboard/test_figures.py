"""Sparklines: tiny, static, neutral, honest about gaps and the time window."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go

from dashboard.figures import SPARK_COLOUR, SPARK_MUTED, break_gaps, sparkline

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
