"""Status, "/status": is everything that feeds the screens working?

Feeds (health, ages, counts), rejections by reason and the quarantine's latest entries, the
store, the active and standby workers (with the rules engine's liveness), the last
evaluation and the rules version in force. Every failure is listed first, in words.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Dash, html

from dashboard.components.tiles import section
from dashboard.context import DashboardContext, current
from dashboard.pages._support import Base, page_layout, register_refresh
from dashboard.views.status import StatusPageView, build_status_page
from surge.errors import StoreUnavailable

dash.register_page(__name__, path="/status", name="Status", title="Surge — Status", order=4,
                   role="viewer")

PAGE = "status"
TITLE = "Status"
OUTPUTS = ["status-problems.children", "status-feeds.children", "status-quarantine.children",
           "status-system.children"]


def layout(wall: str | None = None, **_query: Any) -> html.Div:
    regions = [
        html.Div(id="status-problems", className="status-problems"),
        html.Div(className="status-grid", children=[
            section("Feeds", [html.Div(id="status-feeds")], class_name="status-feeds-panel"),
            section("Rejected samples", [html.Div(id="status-quarantine")]),
            section("Store, workers, rules", [html.Div(id="status-system")]),
        ]),
    ]
    return page_layout(current(), PAGE, TITLE, regions, wall=wall == "1")


def _table(head: list[str], rows: list[list[Any]], dom_id: str | None = None,
           classes: list[str] | None = None) -> html.Table:
    props = {"id": dom_id} if dom_id else {}
    return html.Table(className="plain-table", **props, children=[
        html.Thead(html.Tr([html.Th(h) for h in head])),
        html.Tbody([html.Tr([html.Td(c) for c in row], className=(classes or [""] * len(rows))[i])
                    for i, row in enumerate(rows)])])


def render(view: StatusPageView) -> dict[str, Any]:
    problems = ([html.Div(html.Strong("⚠ " + p), className="banner banner-critical",
                          role="alert") for p in view.problems]
                or [html.Div("✓ Everything reporting: feeds healthy, a worker active, rules "
                             "in force", className="all-well", id="status-all-well")])
    feeds = _table(["Feed", "Function", "State", "Last good poll", "Newest sample", "Counts"],
                   [[f.name, f.function, f.state, f.last_poll, f.newest_sample, f.counts]
                    for f in view.feeds], "status-feed-table",
                   ["row-ok" if f.healthy else "row-bad" for f in view.feeds])
    rejected: list[Any] = [html.P(f"Reasons among the latest {view.quarantine_seen} "
                                  f"quarantined samples", className="control-note")]
    if view.rejections:
        rejected.append(_table(["Feed", "Reason", "Samples"],
                               [[f, r, str(n)] for f, r, n in view.rejections]))
        rejected.append(html.H3("Latest in quarantine", className="checklist-title"))
        rejected.append(_table(["Time", "Feed", "Reason", "Sample"],
                               [list(q) for q in view.quarantine], "status-quarantine-table"))
    else:
        rejected = [html.P("No sample has been rejected.", className="all-well")]
    system = [
        html.H3("Store", className="checklist-title"),
        _table(["", ""], [list(r) for r in view.store]),
        html.H3("Workers", className="checklist-title"),
        _table(["Worker", "Role", "Where", "Started", "Rules", "Feeds", "Rules engine"],
               [[w.id, w.role, w.host, w.started, w.rules_version, w.feeds, w.engine]
                for w in view.workers], "status-workers",
               ["row-bad" if w.stuck else "" for w in view.workers])
        if view.workers else html.P("NO WORKER IS RUNNING", className="admin-error"),
        html.P(f"Last evaluation: {view.last_evaluation}", id="status-last-evaluation"),
        html.H3("Rules in force", className="checklist-title"),
        _table(["", ""], [list(r) for r in view.rules], "status-rules"),
    ]
    return {"status-problems.children": problems, "status-feeds.children": [feeds],
            "status-quarantine.children": rejected, "status-system.children": system}


def register_callbacks(app: Dash, context: DashboardContext) -> None:
    def build(base: Base, wall: bool) -> dict[str, Any]:
        store = base.store
        error = base.store_error
        server: dict[str, Any] = {}
        eviction = None
        quarantined: list[Any] = []
        workers: list[Any] = []
        rules: dict[str, str] = {}
        where = store.where if store is not None else "the store"
        if store is not None:
            try:
                server, eviction = store.server_info(), store.eviction_warning()
                quarantined = store.quarantined(200)
                workers = store.workers()
                rules = {k: v for k, v in store.rules_in_force().items() if k != "text"}
            except StoreUnavailable as exc:
                error = str(exc)
        view = build_status_page(base.catalogue, base.now, context.security_clock(),
                                 store_error=error, where=where, server=server,
                                 eviction=eviction, feeds=base.feeds, quarantined=quarantined,
                                 workers=workers, rules=rules)
        return render(view)

    register_refresh(app, context, page=PAGE, title=TITLE, outputs=OUTPUTS, build=build)
