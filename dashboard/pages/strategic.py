"""Strategic (gold), "/": the trust's level as the strategic commander reads it.

The calculated level (advice) and the declared level (the decision) side by side, very
large, with who declared it, when and why, and a loud flag while they differ; how long the
trust has been at its level; which functions and triggers set it; the last 24 hours as
steps, with declarations marked; the actions of the levels in force and how many are
confirmed; the headline figures with their ages. Commanders (never a wall screen) also get
the Declare control: surge.actions.declare_level and withdraw_declaration, as the signed-in
user; the guard refuses anyone else (callback_roles), and the action checks again.
"""

from __future__ import annotations

from typing import Any

import dash
import flask
from dash import MATCH, Dash, Input, Output, State, dcc, html, no_update

from dashboard.auth import protect_callback, web_actor
from dashboard.components.levels import declared_badge, level_badge, level_why
from dashboard.components.tiles import figure_tile, level_key, section
from dashboard.context import DashboardContext, current
from dashboard.figures import level_timeline
from dashboard.formatting import uk_time
from dashboard.pages._support import Base, may, page_layout, register_refresh, rules_of
from dashboard.views.strategic import DAY, ActionsView, StrategicView, build_strategic
from surge.actions import Conflict, Forbidden, InvalidArgument, declare_level, withdraw_declaration
from surge.auth import needed
from surge.declarations import MAX_TEXT, checklist
from surge.errors import ConfigError, StoreUnavailable
from surge.events import DeclarationWithdrawn, Declared, LevelChanged, read_events

dash.register_page(__name__, path="/", name="Strategic", title="Surge — Strategic", order=0,
                   role="viewer")

PAGE = "strategic"
TITLE = "Strategic (gold)"
PREFIX = "declare-"  # every output of the declare control: the declare action's role
# Pattern ids ({"type": ..., "key": "trust"}): the control is in the page only for those who
# may declare, and Dash checks only plain ids against every page's layout.
LEVEL = {"type": "declare-level", "key": "trust"}
REASON = {"type": "declare-reason", "key": "trust"}
DECLARE = {"type": "declare-button", "key": "trust"}
WITHDRAW = {"type": "declare-withdraw", "key": "trust"}
RESULT = {"type": "declare-result", "key": "trust"}
OUTPUTS = ["strategic-levels.children", "strategic-key.children", "strategic-figures.children",
           "strategic-drivers.children", "strategic-chart.figure", "strategic-actions.children"]
_GRAPH = {"staticPlot": False, "displayModeBar": False, "responsive": True}


def layout(wall: str | None = None, **_query: Any) -> html.Div:
    context = current()
    on_wall = wall == "1"
    regions = [
        html.Div(id="strategic-levels", className="strategic-levels"),
        html.Div(id="strategic-figures", className="strategic-figures"),
        html.Div(className="strategic-lower", children=[
            section("Last 24 hours: trust and functions (calculated), declared (dashed)", [
                dcc.Graph(id="strategic-chart", config=_GRAPH, className="timeline",
                          responsive=True,
                          figure={"data": [], "layout": {"template": {}}}),
                html.Div(id="strategic-key")], class_name="strategic-timeline"),
            html.Div(className="strategic-side", children=[
                section("Why: the functions and their triggers",
                        [html.Div(id="strategic-drivers")], class_name="strategic-why"),
                section("Actions of the levels in force", [html.Div(id="strategic-actions")],
                        class_name="strategic-actions"),
            ]),
        ]),
    ]
    controls = []
    if may("declare", on_wall):  # (only then is the catalogue read: opening a page reads
        try:                     # nothing from the store)
            controls = [declare_control(context.catalogue().levels)]
        except ConfigError:
            controls = [declare_control(())]
    return page_layout(context, PAGE, TITLE, regions, wall=on_wall, controls=controls)


def declare_control(levels: Any) -> html.Section:
    """Declare the trust's level (with a reason, required) or withdraw the declaration."""
    options = [{"label": f"{lv.number} {lv.name}", "value": lv.number} for lv in levels]
    return html.Section(id="declare-control", className="panel declare-control", children=[
        html.H2("Declare the trust's level (commander)", className="panel-title"),
        html.P("The declared level is the decision; the calculated level is advice. Both are "
               "recorded with who, when and why.", className="control-note"),
        dcc.RadioItems(id=LEVEL, options=options, className="declare-levels",
                       inputClassName="declare-radio"),
        dcc.Textarea(id=REASON, maxLength=MAX_TEXT, className="declare-reason",
                     placeholder="Reason (required): what you know that the triggers do not",
                     persistence=True, persistence_type="session"),
        html.Div(className="control-buttons", children=[
            html.Button("Declare", id=DECLARE, className="admin-button"),
            html.Button("Withdraw declaration", id=WITHDRAW, className="admin-button secondary"),
        ]),
        html.Div(id=RESULT, className="admin-result", role="status"),
    ])


# --- the refresh -----------------------------------------------------------------------------


def render(view: StrategicView, wall: bool) -> dict[str, Any]:
    calc = view.calculated
    declared = view.declared
    flag_class = "big-flag diverges" if declared.diverges else "big-flag"
    levels = html.Div(className="big-levels", children=[
        html.Div(className="big-level", children=[
            level_badge(calc, size="huge", prefix="CALCULATED LEVEL",
                        dom_id="strategic-level-overall"),
            html.Div("Advice: from the rules", className="big-caption"),
            html.Div(view.at_level, className="big-since", id="strategic-at-level"),
        ]),
        html.Div(className="big-level", children=[
            declared_badge(declared, size="huge", dom_id="strategic-level-declared"),
            html.Div("Decision: declared by the strategic commander", className="big-caption"),
            html.Div(f"{declared.at} by {declared.by}" if declared.by else declared.flag,
                     className="big-since"),
            *([html.Div(f"“{declared.reason}”", className="big-reason")]
              if declared.reason else []),
        ]),
        # (a divergence has the header's banner, on every page; here, what else to know)
        *([html.Div(declared.flag, className=flag_class, id="strategic-flag")]
          if declared.flag and declared.number is not None and not declared.diverges
          else []),
    ])
    figures = [figure_tile(h.label, h.dom_id, h.reading) for h in view.headlines]
    drivers = [html.Div(className="driver" + (" driver-on" if d.drives else ""), children=[
        html.Div([html.Span("▶ sets the trust level" if d.drives else "", className="driver-mark"),
                  html.Span(d.label, className="driver-name"),
                  level_badge(d.level, size="small", dom_id=f"driver-level-{d.protocol}")],
                 className="driver-head"),
        *level_why(d.level)]) for d in view.drivers]
    timeline = view.timeline
    levels_key = [(lv.number, lv.name, lv.colour) for lv in view.levels]
    figure = level_timeline(
        [(row.label, row.ts, row.levels) for row in timeline.rows],
        (timeline.declared.ts, timeline.declared.levels),
        [(m.ts, m.level, m.text) for m in timeline.marks], levels_key,
        timeline.start, timeline.end, height=300 if wall else 330)
    return {"strategic-levels.children": levels, "strategic-figures.children": figures,
            "strategic-key.children": level_key(view.levels),
            "strategic-drivers.children": drivers, "strategic-chart.figure": figure,
            "strategic-actions.children": actions(view.actions, wall)}


def actions(view: ActionsView, wall: bool) -> list:
    head = html.Div(f"{view.confirmed} of {view.total} confirmed", id="strategic-confirmed",
                    className="actions-count" + (" actions-open" if view.confirmed < view.total
                                                 else ""))
    note = [html.Div(view.note, className="actions-note")] if view.note else []
    items = [html.Li([html.Span("✓ DONE" if a.done else "☐ TO DO", className="action-state"),
                      html.Span(f"{a.protocol_label}, level {a.level} · {a.owner}",
                                className="action-where"),
                      html.Span(a.do, className="action-do"),
                      *([html.Span(a.by, className="action-by")] if a.by else [])],
                     className="action done" if a.done else "action open")
             for a in view.items]
    return [head, *note, html.Ul(items, className="action-list")]


def register_callbacks(app: Dash, context: DashboardContext) -> None:
    def build(base: Base, wall: bool) -> dict[str, Any]:
        events: list[Any] = []
        items = None
        if base.store is not None:
            events = read_events(base.store, start=base.now - DAY, end=base.now,
                                 kinds=[LevelChanged, Declared, DeclarationWithdrawn])
            items = checklist(base.store, rules_of(context, base.store))
        view = build_strategic(base.catalogue, base.now, levels=base.levels, trust=base.trust,
                               latest=base.latest, events=events, checklist=items,
                               worker_running=base.status.worker == "running")
        return render(view, wall)

    register_refresh(app, context, page=PAGE, title=TITLE, outputs=OUTPUTS, build=build)
    protect_callback(context, PREFIX, needed("declare"))

    def match(ident: dict[str, str]) -> dict[str, Any]:
        return {**ident, "key": MATCH}

    @app.callback(Output(match(RESULT), "children"), Input(match(DECLARE), "n_clicks"),
                  Input(match(WITHDRAW), "n_clicks"), State(match(LEVEL), "value"),
                  State(match(REASON), "value"), prevent_initial_call=True)
    def submit(declare: int | None, withdraw: int | None, level: Any,
               reason: str | None) -> Any:
        if not declare and not withdraw:
            return no_update
        try:
            actor = web_actor("page")
            store, catalogue = context.store(), context.catalogue()
            tz = catalogue.timezone
            if (dash.ctx.triggered_id or {}).get("type") == WITHDRAW["type"]:
                gone = withdraw_declaration(store, actor, reason=reason or None,
                                            catalogue=catalogue)
                return [html.P(f"Declaration of level {gone.level} withdrawn at "
                               f"{uk_time(gone.at, tz)} UK time.", className="admin-ok")]
            made = declare_level(store, actor, level=level, reason=reason or "",
                                 catalogue=catalogue)
        except Forbidden:  # already on the audit trail
            flask.abort(403)
        except (InvalidArgument, Conflict, StoreUnavailable) as exc:
            return [html.P(f"Nothing changed: {exc}", className="admin-error")]
        d = made.declaration
        text = f"Level {d.level} {d.level_name} declared at {uk_time(d.at, tz)} UK time."
        if made.diverges:
            text += " It differs from the calculated level: every page flags it."
        return [html.P(text, className="admin-ok")]
