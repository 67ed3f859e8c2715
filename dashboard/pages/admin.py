"""Admin ("/admin"): actions for the admin role; today, asking the worker to reload the rules.

The page is linked only for admins, but that protects nothing: the server refuses the
reload callback (and POST /api/rules/reload, the same action for scripts) to anyone else
before it runs, and the action checks the role again. Users and screens are managed with
`surge users` and `surge screens` (see docs/security.md).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import dash
import flask
from dash import Dash, Input, Output, dcc, html

from dashboard.auth import protect_callback, require_role, role_required
from dashboard.components.session import signed_in_badge
from dashboard.components.status import loading_status
from dashboard.context import DashboardContext, current
from dashboard.formatting import local_time
from dashboard.sessions import Principal, actor, csrf_ok, current_principal
from surge.auth import record
from surge.errors import StoreUnavailable
from surge.rules.loader import check_rules

dash.register_page(__name__, path="/admin", name="Admin", title="Surge — Admin", order=9)

PREFIX = "admin-"  # every output of this page's callbacks: admin only
RELOAD_BUTTON = "admin-reload-button"
RELOAD_RESULT = "admin-reload-result"
API_RELOAD = "/api/rules/reload"
UK = ZoneInfo("Europe/London")


def layout(**_query: Any) -> html.Div:
    who = current_principal()
    if who.role == "admin":
        body: list = [html.Section(className="panel admin-panel", children=[
            html.H2("Rules", className="panel-title"),
            html.P(f"Ask the worker to reload {current().settings.rules}: it checks the file "
                   f"first and keeps the running rules if the file has problems. The request "
                   f"is recorded in the audit trail."),
            html.Button("Reload rules", id=RELOAD_BUTTON, className="admin-button"),
            html.Div(id=RELOAD_RESULT, className="admin-result", role="status"),
        ])]
    else:
        body = [html.Section(className="panel admin-panel", children=[
            html.H2("Not allowed", className="panel-title"),
            html.P("This page needs the admin role.", id="admin-refused"),
            dcc.Link("Back to the overview", href="/"),
            # Dash checks every callback's ids against each page's layout: keep them, inert
            html.Div([html.Button(id=RELOAD_BUTTON, disabled=True),
                      html.Div(id=RELOAD_RESULT)], hidden=True),
        ])]
    return html.Div(className="screen", children=[
        html.Header(loading_status("Admin", who=signed_in_badge(page="admin"), updated=""),
                    className="status-bar"),
        html.Main(body, className="admin"),
    ])


def request_rules_reload(context: DashboardContext, who: Principal) -> tuple[str, list[str]]:
    """Ask the worker to reload the rules, on the record; (what happened, file problems)."""
    _, problems = check_rules(context.settings.rules)
    store = context.store()
    store.request_reload(by=f"web:{who.label}")
    record(store, "rules_reload_requested", actor(who), rules=str(context.settings.rules),
           problems=len(problems))
    when = local_time(context.clock(), UK)
    if problems:
        return (f"Reload requested at {when}, but the rules file has {len(problems)} "
                f"problem(s): the worker will keep the running rules.",
                [str(p) for p in problems])
    return (f"Reload requested at {when}: the worker applies it within one tick (5 s).", [])


def register_callbacks(app: Dash, context: DashboardContext) -> None:
    protect_callback(context, PREFIX, "admin")

    @app.callback(Output(RELOAD_RESULT, "children"), Input(RELOAD_BUTTON, "n_clicks"),
                  prevent_initial_call=True)
    def reload_rules(_clicks: int | None) -> list:
        who = require_role("admin")
        try:
            message, problems = request_rules_reload(context, who)
        except StoreUnavailable as exc:
            return [html.P(f"Not requested: {exc}", className="admin-error")]
        return [html.P(message)] + ([html.Ul([html.Li(p) for p in problems])] if problems
                                    else [])

    @role_required("admin")
    def api_reload() -> flask.Response:
        headers = flask.request.headers
        if not headers.get("X-Requested-With") and not csrf_ok(headers.get("X-CSRF-Token")):
            response = flask.jsonify({"error": "send the header X-Requested-With (or "
                                               "X-CSRF-Token) with this request"})
            response.status_code = 400
            return response
        try:
            message, problems = request_rules_reload(context, current_principal())
        except StoreUnavailable as exc:
            response = flask.jsonify({"error": str(exc)})
            response.status_code = 503
            return response
        return flask.jsonify({"requested": True, "message": message, "problems": problems})

    app.server.add_url_rule(API_RELOAD, "api_rules_reload", api_reload, methods=["POST"])
