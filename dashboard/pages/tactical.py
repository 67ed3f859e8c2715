"""Tactical (silver), "/tactical": one panel per function, for the control room.

Each panel: the function's calculated level and why; every trigger's current value against
its thresholds as a band scale; what is about to escalate ("calls waiting ≥ 30 for 3 min of
5 min"); the last 6 hours with the threshold bands shaded; the action checklist of its
level. Duty managers and above (never a wall screen) get a Confirm button per action, with
an optional note: surge.actions.confirm_action as the signed-in user; the guard refuses
anyone else (callback_roles), and the action checks again.
"""

from __future__ import annotations

from typing import Any

import dash
import flask
from dash import MATCH, Dash, Input, Output, State, dcc, html, no_update

from dashboard.auth import protect_callback, web_actor
from dashboard.components.bands import band_scale
from dashboard.components.levels import level_badge, level_why
from dashboard.context import DashboardContext, current
from dashboard.figures import chart_window, threshold_chart
from dashboard.formatting import uk_time
from dashboard.pages._support import Base, may, page_layout, register_refresh, rules_of
from dashboard.views.tactical import WINDOW, FunctionPanel, TriggerView, build_tactical, chart_series
from surge.actions import Conflict, Forbidden, InvalidArgument, confirm_action
from surge.auth import needed
from surge.declarations import MAX_TEXT, checklist
from surge.errors import ConfigError, StoreUnavailable

dash.register_page(__name__, path="/tactical", name="Tactical", title="Surge — Tactical",
                   order=1, role="viewer")

PAGE = "tactical"
TITLE = "Tactical (silver)"
PREFIX = "confirm-"  # every output of the confirm control: the confirm action's role
OUTPUTS = ["tactical-note.children", "tactical-panels.children", "*tactical-body.children",
           "*tactical-chart.figure", "*tactical-checklist.children"]
_GRAPH = {"staticPlot": True, "displayModeBar": False, "responsive": True}


def layout(wall: str | None = None, **_query: Any) -> html.Div:
    # the panels are made by the first refresh, from the rules in force (and made again
    # when those rules have other functions): opening the page reads nothing
    regions = [html.Div(id="tactical-note", className="page-note"),
               html.Div(id="tactical-panels", className="tactical-panels")]
    return page_layout(current(), PAGE, TITLE, regions, wall=wall == "1")


def skeleton(panels: tuple[FunctionPanel, ...], parts: dict[str, Any]) -> list:
    """Every function's panel, whole: its body, chart and checklist then update in place."""
    return [html.Section(id=f"tactical-{p.protocol}", className="panel tactical-panel", children=[
        html.Div(parts["tactical-body.children"][p.protocol],
                 id={"type": "tactical-body", "key": p.protocol},
                 className="tactical-body"),
        dcc.Graph(id={"type": "tactical-chart", "key": p.protocol}, config=_GRAPH,
                  className="tactical-chart", responsive=True,
                  figure=parts["tactical-chart.figure"][p.protocol],
                  # the chart fills its box: as high as its rows need, as wide as the panel
                  style={"height": f"{parts['tactical-chart.figure'][p.protocol]['layout']['height']}px"}),
        html.Div(parts["tactical-checklist.children"][p.protocol],
                 id={"type": "tactical-checklist", "key": p.protocol},
                 className="tactical-checklist"),
    ]) for p in panels]


# --- the refresh -----------------------------------------------------------------------------


def _trigger(t: TriggerView) -> html.Div:
    return html.Div(className=f"trigger state-{t.state}", id=t.dom_id, children=[
        html.Div(className="trigger-head", children=[
            html.Span(t.subject, className="trigger-subject"),
            level_badge(t.level, size="small", dom_id=f"{t.dom_id}-level"),
            html.Span(t.value, className="trigger-value"),
            *([html.Span("STALE", className="badge badge-stale badge-small")]
              if t.state == "stale" else []),
        ]),
        band_scale(t.scale, f"{t.dom_id}-scale"),
        html.Div(className="trigger-foot", children=[
            html.Span(t.thresholds, className="trigger-thresholds"),
            html.Span(t.age, className="trigger-age")]),
        *([html.Div(t.pending, className="trigger-pending")] if t.pending else []),
    ])


def body(panel: FunctionPanel) -> list:
    level = panel.level
    since = [html.Span(f"calculated · {level.since}", className="level-since")] \
        if level.since else []
    return [
        html.Div(className="panel-head", children=[
            html.H2(panel.label, className="panel-title"),
            html.Div([level_badge(level, dom_id=f"tactical-level-{panel.protocol}"), *since],
                     className="panel-level"),
            html.Div(level_why(level), className="level-why"),
        ]),
        html.Div([_trigger(t) for t in panel.triggers], className="triggers"),
    ]


def checklist_of(panel: FunctionPanel, can_confirm: bool) -> list:
    level = panel.level
    total = len(panel.checklist)
    head = (f"Actions, level {level.number} {level.name}: {panel.confirmed} of {total} "
            f"confirmed" if total else "Actions")
    items = []
    for entry in panel.checklist:
        row: list = [html.Span("✓ DONE" if entry.done else "☐ TO DO", className="action-state"),
                     html.Span(f"level {entry.level} · {entry.owner}", className="action-where"),
                     html.Span(entry.do, className="action-do")]
        if entry.by:
            row.append(html.Span(entry.by, className="action-by"))
        if entry.previously:
            row.append(html.Span(entry.previously, className="action-was"))
        if can_confirm and not entry.done:
            row.append(html.Div(className="confirm-form", children=[
                dcc.Input(id={"type": "confirm-note", "action": entry.id}, maxLength=MAX_TEXT,
                          placeholder="Note (optional)", className="confirm-note",
                          persistence=True, persistence_type="session"),
                html.Button("Confirm", id={"type": "confirm-button", "action": entry.id},
                            className="admin-button confirm-button"),
                html.Span(id={"type": "confirm-result", "action": entry.id},
                          className="confirm-result", role="status"),
            ]))
        items.append(html.Li(row, id=entry.dom_id, className="action done" if entry.done
                             else "action open", **{"data-done": str(entry.done).lower()}))
    note = [html.Div(panel.checklist_note, className="actions-note")] \
        if panel.checklist_note else []
    return [html.H3(head, className="checklist-title"), *note,
            html.Ul(items, className="action-list")]


def render(panels: tuple[FunctionPanel, ...], now: float, tz: Any, wall: bool,
           shown: list[str], can_confirm: bool) -> dict[str, Any]:
    start, end = chart_window(now, WINDOW)
    charts = {p.protocol: threshold_chart(
        [(r.label, r.bands, r.lines, r.y_range) for r in p.chart], start, end, tz=tz,
        row_height=44 if wall else 52) for p in panels}
    parts = {"tactical-note.children": [],
             "tactical-body.children": {p.protocol: body(p) for p in panels},
             "tactical-chart.figure": charts,
             "tactical-checklist.children": {p.protocol: checklist_of(p, can_confirm)
                                             for p in panels}}
    if shown != [p.protocol for p in panels]:  # first refresh, or other functions now
        parts["tactical-panels.children"] = skeleton(panels, parts)
    return parts


def register_callbacks(app: Dash, context: DashboardContext) -> None:
    def build(base: Base, wall: bool) -> dict[str, Any]:
        store = base.store
        rules = rules_of(context, store) if store is not None else None
        if rules is None:  # the store is down and nothing was shown yet
            return {"tactical-note.children": [html.P("No figures: the data store cannot be "
                                                      "read", className="admin-error")]}
        series = store.series(chart_series(rules), base.now - WINDOW, base.now) \
            if store is not None else {}
        items = checklist(store, rules) if store is not None else None
        panels = build_tactical(rules, base.now, latest=base.latest, levels=base.levels,
                                series=series, checklist=items,
                                worker_running=base.status.worker == "running")
        return render(panels, base.now, base.catalogue.timezone, wall, list(shown()),
                      may("confirm", wall))

    def shown() -> tuple[str, ...]:
        """The functions whose panels the page holds (their components' keys)."""
        return tuple(i["id"]["key"] for i in (dash.ctx.outputs_list[6] if dash.ctx.outputs_list
                                              else []))

    def variant(wall: bool) -> tuple[Any, ...]:
        return shown(), may("confirm", wall)

    register_refresh(app, context, page=PAGE, title=TITLE, outputs=OUTPUTS, build=build,
                     variant=variant)
    protect_callback(context, PREFIX, needed("confirm"))

    @app.callback(Output({"type": "confirm-result", "action": MATCH}, "children"),
                  Input({"type": "confirm-button", "action": MATCH}, "n_clicks"),
                  State({"type": "confirm-note", "action": MATCH}, "value"),
                  prevent_initial_call=True)
    def confirm(clicks: int | None, note: str | None) -> Any:
        if not clicks:
            return no_update
        action = dash.ctx.triggered_id["action"]
        try:
            store = context.store()
            done = confirm_action(store, web_actor("page"), action_id=action,
                                  note=note or None, rules=rules_of(context, store))
        except Forbidden:  # already on the audit trail
            flask.abort(403)
        except (InvalidArgument, Conflict, StoreUnavailable, ConfigError) as exc:
            return f"Not confirmed: {exc}"
        c = done.confirmation
        when = uk_time(c.at, context.catalogue().timezone, seconds=False)
        if done.already:
            return f"Already confirmed by {c.by} at {when}"
        return f"Confirmed by {c.by} at {when}"
