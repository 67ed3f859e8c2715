"""A function's panel on the overview: its calculated level, its metrics (value, sparkline,
age) and, for A&E, the handover table with each hospital's calculated level."""

from __future__ import annotations

import re

from dash import dcc, html

from dashboard.components.levels import panel_head, site_level
from dashboard.data import (
    SPARK_WINDOW,
    HandoverTable,
    MetricView,
    PanelView,
    Reading,
)
from dashboard.figures import sparkline
from surge.errors import ConfigError

__all__ = ["config_problems", "function_panel", "panels"]

_GRAPH_CONFIG = {"staticPlot": True, "displayModeBar": False, "responsive": True}
SPARK_HEIGHT = {True: 38, False: 30}  # px, key metric / other metric
_NUMBER = re.compile(r"(\d[\d.,]*)")


def panels(views: tuple[PanelView, ...], now: float) -> list:
    return [function_panel(view, now) for view in views]


def function_panel(view: PanelView, now: float) -> html.Section:
    key = [m for m in view.metrics if m.metric.key]
    minor = [m for m in view.metrics if not m.metric.key]
    body: list = [html.Div([_metric(m, now, key=False) for m in minor], className="metrics-minor")]
    if view.handover is not None:
        body.append(_handover(view.handover))
    wide = view.handover is not None  # the handover table needs room beside the metrics
    return html.Section(
        [panel_head(view.function.label, view.level),
         html.Div([_metric(m, now, key=True) for m in key], className="metrics-key"),
         html.Div(body, className="panel-body" + (" with-table" if wide else ""))],
        id=f"panel-{view.function.id}",
        className=f"panel panel-{view.function.id}" + (" panel-wide" if wide else ""))


def _value_text(text: str) -> list | str:
    """Numbers in large type, units in smaller: "1 h 35 min" -> 1, h, 35, min."""
    if not _NUMBER.search(text):
        return text  # NO DATA: all of it large
    parts = [p for p in _NUMBER.split(text) if p]
    return [html.Span(p, className="num-part" if _NUMBER.fullmatch(p) else "unit-part")
            for p in parts]


def _value_row(dom_id: str, reading: Reading) -> html.Div:
    children: list = [html.Span(_value_text(reading.text), className="value")]
    if reading.state == "stale":
        children.append(html.Span(reading.badge, className="badge badge-stale"))
    return html.Div(children, id=dom_id, className="value-row", **{"data-state": reading.state})


def _metric(view: MetricView, now: float, *, key: bool) -> html.Div:
    reading = view.reading
    spark: object
    if view.spark is not None:
        ts, values = view.spark
        height = SPARK_HEIGHT[key]
        fig = sparkline(ts, values, now - SPARK_WINDOW, now, muted=reading.state != "live",
                        height=height)
        spark = dcc.Graph(id=f"spark-{view.metric.id.replace('.', '-')}", figure=fig,
                          config=_GRAPH_CONFIG, className="spark",
                          style={"height": f"{height}px"})
    elif view.sites:
        spark = html.Div([_site_chip(s.site.code, s.reading) for s in view.sites],
                         className="site-values")
    else:
        spark = html.Div(className="spark")
    age: list = [html.Span(reading.age)]
    if view.scope_note:
        age = [html.Span(f"{view.scope_note} · {reading.age}")]
    if key and view.spark is not None:
        age.append(html.Span(f"trend: last {SPARK_WINDOW // 3600} h", className="spark-span"))
    return html.Div(
        className=f"metric {'metric-key' if key else 'metric-minor'} state-{reading.state}",
        children=[
            html.Div(view.metric.label, className="metric-label"),
            _value_row(view.dom_id, reading),
            spark,
            html.Div(age, className="metric-age"),
        ])


def _site_chip(code: str, reading: Reading) -> html.Span:
    text = f"{code} {reading.text}" + (" STALE" if reading.state == "stale" else "")
    return html.Span(text, className=f"site-chip state-{reading.state}")


def _cell(reading: Reading) -> html.Td:
    children: list = [reading.text]
    if reading.state == "stale":
        children = [reading.text, html.Span("STALE", className="badge badge-stale badge-small")]
    return html.Td(children, className=f"num state-{reading.state}",
                   title=reading.badge or reading.age)


def _handover(table: HandoverTable) -> html.Div:
    with_levels = any(row.level is not None for row in table.rows)
    level_head = [html.Th("Calculated level")] if with_levels else []
    head = html.Tr([html.Th("Hospital")] + level_head +
                   [html.Th(h, className="num") for _, h in table.columns])
    rows = []
    for row in table.rows:
        name: list = [row.site.name]
        if row.worst:
            name = [html.Span("▲ WORST", className="worst-label"), row.site.name]
        level = [site_level(row.level)] if row.level is not None else []
        if with_levels and row.level is None:
            level = [html.Td()]
        rows.append(html.Tr([html.Td(name, className="site")] + level +
                            [_cell(c) for c in row.cells],
                            id=f"handover-{row.site.code}",
                            className="worst" if row.worst else None))
    return html.Div(className="handover", children=[
        html.H3("Hospital handover: ambulances waiting to hand over, by hospital",
                className="handover-title"),
        html.Table([html.Thead(head), html.Tbody(rows)], id="handover-table"),
    ])


def config_problems(error: Exception, hint: str) -> list:
    """The panel area when the configuration is broken: every problem, where it is."""
    problems = error.problems if isinstance(error, ConfigError) else [error]
    lines = [str(p) for p in problems]
    return [html.Section(id="config-problems", className="panel panel-error", children=[
        html.H2("The configuration has problems", className="panel-title"),
        html.P(hint, className="problem-hint"),
        html.Ul([html.Li(line, className="problem") for line in lines]),
    ])]
