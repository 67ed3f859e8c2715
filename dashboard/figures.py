"""Plotly figures for the pages, built from plain arrays (no store, no Dash).

Figures are returned as plain dicts, the plotly figure format ``dcc.Graph`` takes:
building ``go.Figure`` objects validates and deep-copies every point, which for the
overview's 27 sparklines cost more than everything else in a refresh together.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["SPARK_COLOUR", "SPARK_MUTED", "break_gaps", "sparkline"]

SPARK_COLOUR = "#8fb3d9"  # neutral blue-grey: a sparkline shows shape, never a level
SPARK_MUTED = "#5a5f66"  # for stale series
GAP = 300.0  # seconds without a sample after which the line is broken, not joined


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
