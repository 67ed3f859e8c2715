"""Protocols, "/protocols": the rules in force, put into words for people.

The levels; each function's triggers and thresholds in words, how they combine and what
stale data does; the action cards of each level; which version is in force, loaded when and
by whom. Sent again only when the rules in force change.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Dash, html

from dashboard.components.tiles import level_chip, section
from dashboard.context import DashboardContext, current
from dashboard.pages._support import Base, page_layout, register_refresh, rules_of
from dashboard.views.protocols import ProtocolRule, ProtocolsView, build_protocols

dash.register_page(__name__, path="/protocols", name="Protocols", title="Surge — Protocols",
                   order=3, role="viewer")

PAGE = "protocols"
TITLE = "Protocols in force"
OUTPUTS = ["protocols-body.children"]


def layout(wall: str | None = None, **_query: Any) -> html.Div:
    regions = [html.Div(id="protocols-body", className="protocols-body")]
    return page_layout(current(), PAGE, TITLE, regions, wall=wall == "1")


def _protocol(p: ProtocolRule) -> html.Section:
    triggers = [html.Li(className="rule", children=[
        html.Div(t.subject, className="rule-subject"),
        html.Div([html.Span([level_chip(n, name, colour), f" {words}"], className="rule-threshold")
                  for n, name, colour, words in t.thresholds], className="rule-thresholds"),
        html.Div(t.timing + (f"; {t.weight}" if t.weight else ""), className="rule-timing"),
    ]) for t in p.triggers]
    cards = [html.Div(className="action-card", children=[
        html.Div(level_chip(c.level, c.name, c.colour), className="card-level"),
        html.Ul([html.Li([html.Span(do, className="action-do"),
                          html.Span(f" · {owner} · {ident}", className="action-where")])
                 for ident, do, owner in c.actions])]) for c in p.cards]
    return section(p.label, [
        html.P(f"{p.combine}. {p.stale}.", className="control-note"),
        html.H3("Triggers", className="checklist-title"), html.Ul(triggers, className="rules"),
        html.H3("Action cards", className="checklist-title"),
        html.Div(cards or [html.P("No actions listed.")], className="action-cards"),
    ], dom_id=f"protocol-{p.id}", class_name="protocol")


def render(view: ProtocolsView) -> list:
    return [
        html.Div(className="panel protocols-head", children=[
            html.P(view.loaded, id="protocols-version", className="protocols-version"),
            html.Div([level_chip(n, name, colour) for n, name, colour in view.levels],
                     className="level-key"),
            html.P(view.overall, className="control-note"),
        ]),
        html.Div([_protocol(p) for p in view.protocols], className="protocols-grid"),
    ]


def register_callbacks(app: Dash, context: DashboardContext) -> None:
    def build(base: Base, wall: bool) -> dict[str, Any]:
        if base.store is None:  # the header says the store is down
            return {}
        rules = rules_of(context, base.store)
        published = {k: v for k, v in base.store.rules_in_force().items() if k != "text"}
        return {"protocols-body.children": render(build_protocols(rules, published, base.now))}

    register_refresh(app, context, page=PAGE, title=TITLE, outputs=OUTPUTS, build=build)
