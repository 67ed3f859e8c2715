"""Admin ("/admin"): actions for the admin role; today, asking the worker to reload the rules.

Who may open the page is declared where it registers (``role=``); the guard refuses anyone
else before the page is rendered, and the navigation links it only for them. The reload
(the button, and POST /api/rules/reload for scripts) is surge.actions.reload_rules: this
module says who is acting and shows the result; the action checks the role and records it.
Users and screens are managed with `surge users` and `surge screens` (docs/security.md).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import dash
import flask
from dash import Dash, Input, Output, html

from dashboard.auth import protect_callback, role_required, web_actor
from dashboard.context import DashboardContext, current
from dashboard.formatting import local_time
from dashboard.pages._support import page_layout, register_refresh
from dashboard.sessions import csrf_ok
from surge.actions import Forbidden, RulesReloadRequested, Via, reload_rules
from surge.auth import needed
from surge.errors import StoreUnavailable

dash.register_page(__name__, path="/admin", name="Admin", title="Surge — Admin", order=9,
                   role="admin")

PREFIX = "admin-"  # every output of this page's callbacks: the reload action's role
RELOAD_BUTTON = "admin-reload-button"
RELOAD_RESULT = "admin-reload-result"
API_RELOAD = "/api/rules/reload"
UK = ZoneInfo("Europe/London")


def layout(wall: str | None = None, **_query: Any) -> html.Div:
    # the header every page carries (calculated and declared level, UK time); the reload
    # control is never on a wall screen
    return page_layout(current(), "admin", "Admin", [
        html.Div(className="admin", children=[html.Section(className="panel admin-panel", children=[
            html.H2("Rules", className="panel-title"),
            html.P("Ask the worker to reload the rules file: it checks the file first and "
                   "keeps the running rules if the file has problems. The request is recorded "
                   "in the audit trail."),
            html.Button("Reload rules", id=RELOAD_BUTTON, className="admin-button"),
            html.Div(id=RELOAD_RESULT, className="admin-result", role="status"),
        ])]) if wall != "1" else html.Div(),
    ], wall=wall == "1")


def describe(done: RulesReloadRequested) -> str:
    """One sentence saying what happened, in UK time."""
    when = local_time(done.at, UK)
    if done.problems:
        return (f"Reload of {done.rules} requested at {when}, but the file has "
                f"{len(done.problems)} problem(s): the worker will keep the running rules.")
    return f"Reload of {done.rules} requested at {when}: the worker applies it within one tick (5 s)."


def register_callbacks(app: Dash, context: DashboardContext) -> None:
    role = needed("reload_rules")
    protect_callback(context, PREFIX, role)
    register_refresh(app, context, page="admin", title="Admin", outputs=[],
                     build=lambda _base, _wall: {})

    def reload(via: Via) -> RulesReloadRequested:
        try:
            return reload_rules(context.store(), web_actor(via), rules=context.settings.rules)
        except Forbidden:  # already on the audit trail
            flask.abort(403)

    @app.callback(Output(RELOAD_RESULT, "children"), Input(RELOAD_BUTTON, "n_clicks"),
                  prevent_initial_call=True)
    def reload_clicked(_clicks: int | None) -> list:
        try:
            done = reload("page")
        except StoreUnavailable as exc:
            return [html.P(f"Not requested: {exc}", className="admin-error")]
        return [html.P(describe(done))] + ([html.Ul([html.Li(p) for p in done.problems])]
                                           if done.problems else [])

    @role_required(role)
    def api_reload() -> flask.Response:
        headers = flask.request.headers
        if not headers.get("X-Requested-With") and not csrf_ok(headers.get("X-CSRF-Token")):
            return _error(400, "send the header X-Requested-With (or X-CSRF-Token) with this "
                               "request")
        try:
            done = reload("api")
        except StoreUnavailable as exc:
            return _error(503, str(exc))
        return flask.jsonify({"requested": True, "message": describe(done),
                              "problems": list(done.problems), "by": done.by})

    app.server.add_url_rule(API_RELOAD, "api_rules_reload", api_reload, methods=["POST"])


def _error(status: int, message: str) -> flask.Response:
    response = flask.jsonify({"error": message})
    response.status_code = status
    return response
