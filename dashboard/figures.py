"""Plotly figures for the pages, built from plain arrays (no store, no Dash).

Figures are returned as plain dicts, the plotly figure format ``dcc.Graph`` takes:
building ``go.Figure`` objects validates and deep-copies every point, which for the
overview's 27 sparklines cost more than everything else in a refresh together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

import numpy as np

from dashboard.formatting import UK

__all__ = ["SPARK_COLOUR", "SPARK_MUTED", "break_gaps", "chart_window", "inner_ticks", "level_timeline",
           "nice_range", "sparkline", "threshold_chart", "uk_ticks"]

SPARK_COLOUR = "#8fb3d9"  # neutral blue-grey: a sparkline shows shape, never a level
SPARK_MUTED = "#5a5f66"  # for stale series
GAP = 300.0  # seconds without a sample after which the line is broken, not joined


def chart_window(now: float, span: float, steps: int = 288) -> tuple[float, float]:
    """The time axis of a chart that a wall screen redraws for days: ``span`` seconds ending
    at ``now`` rounded up to the next ``span / steps``, so the axis (its range and tick
    labels: the figure's layout) stays the same for many refreshes and the browser patches
    the lines in place. An axis that slid with every refresh made plotly redraw the whole
    figure and measure every label again, and its cache of label sizes grew for hours."""
    step = span / steps
    end = math.ceil(now / step) * step
    return end - span, end


def nice_range(low: float, high: float) -> tuple[float, float]:
    """An axis range around [low, high], its ends on round numbers (whole multiples of 1, 2
    or 5 x 10^k, about a quarter of the span), with room on both sides: it moves only when
    the data passes a round number, not with every new point, so the figure's layout stands."""
    span = high - low
    if span <= 1e-9 * max(abs(low), abs(high), 1.0):  # flat: a range about the value
        span = max(abs(high), 1.0)
    raw = span / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return (math.floor(low / step - 0.05) * step, math.ceil(high / step + 0.05) * step)


def inner_ticks(low: float, high: float) -> list[float]:
    """Two to four round values strictly inside (low, high), the coarsest such: small
    multiples are stacked row on row, and a label at a row's end would sit on the next's."""
    span = high - low
    if not span > 0:
        return []
    power = 10 ** math.floor(math.log10(span))
    for step in (m * power / 10 ** k for k in range(3) for m in (5, 2, 1)):
        # (a millionth of a step apart from an end counts as on it: low / step can come out
        # a hair under a whole number, making the end itself the first tick)
        near = step * 1e-6
        first = math.floor(low / step) * step
        ticks = [round(first + i * step, 10) for i in range(7)
                 if low + near < first + i * step < high - near]
        if len(ticks) >= 2:
            return ticks[:4]
    return []


def break_gaps(ts: np.ndarray, values: np.ndarray,
               gap: float = GAP) -> tuple[np.ndarray, np.ndarray]:
    """Insert a NaN between samples further apart than ``gap``, so outages show as gaps."""
    ts = np.asarray(ts, dtype=float)
    values = np.asarray(values, dtype=float)
    if len(ts) < 2:
        return ts, values
    cuts = np.flatnonzero(np.diff(ts) > gap) + 1
    if len(cuts) == 0:
        return ts, values
    return np.insert(ts, cuts, ts[cuts - 1] + gap / 2), np.insert(values, cuts, np.nan)


def sparkline(ts: np.ndarray, values: np.ndarray, start: float, end: float, *,
              muted: bool = False, gap: float = GAP, height: int = 40) -> dict[str, Any]:
    """A tiny, static line of one series over [start, end] (epoch s): no axes, no legend.

    The x range is fixed to the window, so a series that stopped an hour ago visibly ends
    an hour short of the right-hand edge. x is in minutes before ``end`` and values are
    rounded, to keep the JSON sent every refresh small.
    """
    colour = SPARK_MUTED if muted else SPARK_COLOUR
    ts, y = break_gaps(ts, values, gap)
    x = np.round((ts - end) / 60.0, 1).tolist()
    y_list = [None if np.isnan(v) else v for v in np.round(y, 3).tolist()]  # None: a gap
    data = []
    if x:
        data = [
            {"type": "scatter", "x": x, "y": y_list, "mode": "lines", "hoverinfo": "skip",
             "line": {"color": colour, "width": 2}, "connectgaps": False},
            {"type": "scatter", "x": x[-1:], "y": y_list[-1:], "mode": "markers",
             "hoverinfo": "skip", "marker": {"color": colour, "size": 6}},
        ]
    finite = y[np.isfinite(y)] if len(y) else y
    if len(finite):
        low, high = float(finite.min()), float(finite.max())
        pad = (high - low) * 0.12 or max(abs(high) * 0.1, 1.0)
        y_range = [low - pad, high + pad]
    else:
        y_range = [0.0, 1.0]
    layout = {
        "template": {},  # not plotly's default theme (10 kB a figure, and light)
        "height": height,
        "margin": {"l": 0, "r": 4, "t": 4, "b": 4},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "showlegend": False,
        "hovermode": False,
        "xaxis": {"visible": False, "range": [(start - end) / 60.0, 0.0], "fixedrange": True},
        "yaxis": {"visible": False, "range": y_range, "fixedrange": True},
    }
    return {"data": data, "layout": layout}


# --- time axes in UK time -----------------------------------------------------------------


def uk_ticks(start: float, end: float, step_hours: int, tz: tzinfo = UK) -> tuple[list, list]:
    """Tick positions (epoch s) and labels for a time axis over [start, end]: each instant
    whose UK local time is a whole multiple of ``step_hours``. The axis is in UTC instants,
    so the hour the clocks repeat in October gets two ticks (01:00 BST, 01:00 GMT) and the
    one they skip in March none; the zone is named when the window spans a change."""
    values: list[float] = []
    labels: list[str] = []
    first = math.ceil(start / 3600) * 3600
    zones = {datetime.fromtimestamp(t, tz).strftime("%Z") for t in (start, end)}
    for t in range(int(first), int(end) + 1, 3600):
        local = datetime.fromtimestamp(t, tz)
        if local.minute or local.hour % step_hours:
            continue
        label = local.strftime("%H:%M")
        if len(zones) > 1:
            label += f" {local:%Z}"
        values.append(float(t))
        labels.append(label)
    return values, labels


def _rgba(colour: str, alpha: float) -> str:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _axis_base() -> dict[str, Any]:
    return {"template": {}, "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
            "showlegend": False, "hovermode": "closest",
            "font": {"color": "#c9d1da", "size": 14}}


def level_timeline(rows: Sequence[tuple[str, Sequence[float], Sequence[int | None]]],
                   declared: tuple[Sequence[float], Sequence[int | None]] | None,
                   marks: Sequence[tuple[float, int, str]],
                   levels: Sequence[tuple[int, str, str]], start: float, end: float, *,
                   tz: tzinfo = UK, height: int = 330) -> dict[str, Any]:
    """Levels as steps over [start, end], one small row per series (the trust first), each
    row's level bands faintly shaded in the levels' colours, the level number on its axis;
    on the trust's row, the declared level as a dashed white step and a diamond at each
    declaration. ``levels``: (number, name, colour) of each, lowest first."""
    n = max(1, len(rows))
    gap = 0.04
    size = (1.0 - gap * (n - 1)) / n
    numbers = [lv[0] for lv in levels] or [1, 2, 3, 4]
    low, high = min(numbers) - 0.5, max(numbers) + 0.5
    layout = _axis_base()
    layout.update(height=height, margin={"l": 190, "r": 10, "t": 4, "b": 26})
    ticks, labels = uk_ticks(start, end, 3, tz)
    layout["xaxis"] = {"range": [start, end], "tickvals": ticks, "ticktext": labels,
                       "fixedrange": True, "showgrid": True, "gridcolor": "#263140",
                       "zeroline": False}
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    data: list[dict[str, Any]] = []
    for i, (label, ts, values) in enumerate(rows):
        axis = "" if i == 0 else str(i + 1)
        top = 1.0 - i * (size + gap)
        layout[f"yaxis{axis}"] = {"domain": [top - size, top], "range": [low, high],
                                  "tickvals": numbers, "fixedrange": True, "showgrid": False,
                                  "zeroline": False, "tickfont": {"size": 12}}
        for number, _name, colour in levels:
            shapes.append({"type": "rect", "xref": "paper", "yref": f"y{axis}", "x0": 0,
                           "x1": 1, "y0": number - 0.5, "y1": number + 0.5, "line": {"width": 0},
                           "fillcolor": _rgba(colour, 0.16), "layer": "below"})
        annotations.append({"text": label, "xref": "paper", "yref": f"y{axis}", "x": 0,
                            "xshift": -24, "y": (low + high) / 2, "xanchor": "right",
                            "showarrow": False, "font": {"size": 14}})
        data.append({"type": "scatter", "x": list(ts), "y": list(values), "mode": "lines",
                     "line": {"shape": "hv", "width": 3, "color": "#f4f7fa"},
                     "connectgaps": False, "yaxis": f"y{axis}", "name": label,
                     "hovertemplate": f"{label}: level %{{y}}<extra></extra>"})
    if declared is not None and rows:
        ts, values = declared
        data.append({"type": "scatter", "x": list(ts), "y": list(values), "mode": "lines",
                     "line": {"shape": "hv", "width": 3, "dash": "dash", "color": "#ffb020"},
                     "connectgaps": False, "yaxis": "y", "name": "declared",
                     "hovertemplate": "declared: level %{y}<extra></extra>"})
    if marks and rows:
        data.append({"type": "scatter", "x": [m[0] for m in marks], "y": [m[1] for m in marks],
                     "mode": "markers", "yaxis": "y", "name": "declarations",
                     "marker": {"symbol": "diamond", "size": 13, "color": "#ffb020",
                                "line": {"color": "#000", "width": 1}},
                     "text": [m[2] for m in marks], "hovertemplate": "%{text}<extra></extra>"})
    layout["xaxis"]["anchor"] = f"y{n if n > 1 else ''}"  # the time under the last row
    layout["shapes"] = shapes
    layout["annotations"] = annotations
    return {"data": data, "layout": layout}


def threshold_chart(rows: Sequence[tuple[str, Sequence[tuple[float, float, str]],
                                         Sequence[tuple[str, Sequence[float], Sequence[float]]],
                                         tuple[float, float]]],
                    start: float, end: float, *, tz: tzinfo = UK,
                    row_height: int = 58) -> dict[str, Any]:
    """Small multiples over [start, end], one row per trigger: its level bands shaded
    (y0, y1, colour), its series as lines (one per site when judged at each site), fixed
    y range. ``rows``: (label, bands, lines, (y_min, y_max))."""
    n = max(1, len(rows))
    gap = 0.05 if n > 1 else 0.0
    size = (1.0 - gap * (n - 1)) / n
    layout = _axis_base()
    layout.update(height=max(90, row_height * n + 30),
                  margin={"l": 44, "r": 8, "t": 4, "b": 24}, hovermode=False)
    ticks, labels = uk_ticks(start, end, 1, tz)
    layout["xaxis"] = {"range": [start, end], "tickvals": ticks, "ticktext": labels,
                       "fixedrange": True, "showgrid": True, "gridcolor": "#263140",
                       "zeroline": False, "tickfont": {"size": 12}}
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    data: list[dict[str, Any]] = []
    for i, (label, bands, lines, (y0, y1)) in enumerate(rows):
        axis = "" if i == 0 else str(i + 1)
        top = 1.0 - i * (size + gap)
        layout[f"yaxis{axis}"] = {"domain": [top - size, top], "range": [y0, y1],
                                  "fixedrange": True, "showgrid": False, "zeroline": False,
                                  "tickvals": inner_ticks(y0, y1), "tickfont": {"size": 11}}
        for b0, b1, colour in bands:
            shapes.append({"type": "rect", "xref": "paper", "yref": f"y{axis}", "x0": 0,
                           "x1": 1, "y0": b0, "y1": b1, "line": {"width": 0},
                           "fillcolor": _rgba(colour, 0.28), "layer": "below"})
        annotations.append({"text": label, "xref": "paper", "yref": f"y{axis} domain",
                            "x": 0.005, "y": 1, "xanchor": "left", "yanchor": "top",
                            "showarrow": False, "font": {"size": 12, "color": "#f4f7fa"},
                            "bgcolor": "rgba(10,13,18,0.6)"})
        for name, ts, values in lines:
            x, y = break_gaps(np.asarray(ts, dtype=float), np.asarray(values, dtype=float))
            data.append({"type": "scatter", "x": np.round(x, 0).tolist(),
                         "y": [None if np.isnan(v) else v for v in np.round(y, 2).tolist()],
                         "mode": "lines", "yaxis": f"y{axis}", "name": name,
                         "line": {"width": 2 if len(lines) == 1 else 1.3,
                                  "color": SPARK_COLOUR}, "connectgaps": False,
                         "hoverinfo": "skip"})
    layout["xaxis"]["anchor"] = f"y{n if n > 1 else ''}"  # the time under the last row
    layout["shapes"] = shapes
    layout["annotations"] = annotations
    return {"data": data, "layout": layout}
