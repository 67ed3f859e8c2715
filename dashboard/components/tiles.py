"""Small pieces the command pages share: a figure as a tile with its age (STALE and NO DATA
loud), a key of the levels (number, name and colour), and a section with a heading."""

from __future__ import annotations

from collections.abc import Sequence

from dash import html

from dashboard.data import Reading
from dashboard.levels import text_colour
from surge.catalogue import Level

__all__ = ["figure_tile", "level_chip", "level_key", "section"]


def figure_tile(label: str, dom_id: str, reading: Reading) -> html.Div:
    """A headline figure: label, value (NO DATA in red), STALE badge, and its age."""
    value: list = [html.Span(reading.text, className="value")]
    if reading.state == "stale":
        value.append(html.Span(reading.badge, className="badge badge-stale"))
    return html.Div(className=f"tile metric state-{reading.state}", children=[
        html.Div(label, className="metric-label"),
        html.Div(value, id=dom_id, className="value-row",
                 **{"data-state": reading.state}),  # type: ignore[arg-type]
        html.Div(reading.age, className="metric-age"),
    ])


def level_chip(number: int, name: str, colour: str) -> html.Span:
    """A level in a sentence: "3 Severe pressure" on its colour."""
    return html.Span([html.Strong(str(number)), f" {name}"], className="level-chip",
                     style={"backgroundColor": colour, "color": text_colour(colour)})


def level_key(levels: Sequence[Level]) -> html.Div:
    """The levels in force, as a key for a chart or a band graphic."""
    return html.Div([level_chip(lv.number, lv.name, lv.colour) for lv in levels],
                    className="level-key")


def section(title: str, children: list, *, dom_id: str | None = None,
            class_name: str = "") -> html.Section:
    props = {"id": dom_id} if dom_id else {}
    return html.Section([html.H2(title, className="panel-title"), *children],
                        className=f"panel {class_name}".strip(), **props)
