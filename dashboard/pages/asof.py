"""As the wall showed it, "/review/wall?at=EPOCH": the strategic page at a past moment,
rebuilt read-only from the record (dashboard/views/asof.py), for the debrief.

The strategic page's own view model and rendering, with ``now`` the moment asked for: the
levels, the declaration, the headline figures (STALE as they were then), the 24 hours
before, and the checklist where it can be rebuilt. A banner across the top says it is a
reconstruction, not live, with the moment in UK time, its date and UTC offset; a link goes
back to /review around that moment. No controls: nothing can be declared from the past.
Viewers and above, as /review. The header and watchdog are the live ones, as on every page.
"""

from __future__ import annotations

import math
import sys
from datetime import datetime
from typing import Any

import dash
from dash import Dash, Input, Output, State, dcc, html

from dashboard.components.tiles import section
from dashboard.context import DashboardContext, current
from dashboard.pages._support import Base, page_layout, register_refresh, rules_of
from dashboard.sessions import current_principal
from dashboard.views.asof import AsOf, read_asof
from surge.errors import ConfigError, StoreUnavailable

# nav=False: a moment is chosen from /review, not from the navigation
dash.register_page(__name__, path="/review/wall", name="As the wall showed it",
                   title="Surge — As the wall showed it", order=8, role="viewer", nav=False)

PAGE = "asof"
TITLE = "As the wall showed it"
REGIONS = ("levels", "figures", "chart", "key", "drivers", "actions")
OUTPUTS = ["asof-banner.children", "asof-back.href", "asof-levels.children",
           "asof-figures.children", "asof-chart.figure", "asof-key.children",
           "asof-drivers.children", "asof-actions.children"]
_GRAPH: Any = {"staticPlot": False, "displayModeBar": False, "responsive": True}


def moment_of(text: str | None, now: float) -> float:
    """The moment asked for (epoch seconds); ValueError saying what is wrong with it."""
    if text is None or not str(text).strip():
        raise ValueError("no moment given: open this page from /review (each event and "
                         "the window's end link to it), or add ?at=EPOCH_SECONDS")
    try:
        at = float(str(text).strip())
    except ValueError:
        raise ValueError(f"at must be a time in epoch seconds, not {str(text)[:40]!r}") \
            from None
    if not math.isfinite(at) or at < 0:
        raise ValueError("at must be a time after 1 January 1970")
    if at > now:
        raise ValueError("at is in the future: the record holds only what has happened")
    return at


def banner_text(at: float, tz: Any) -> str:
    """"As the wall showed it at 21:40:00 GMT on Friday 4 December 2026 (UTC+00:00) — ..."."""
    when = datetime.fromtimestamp(at, tz)
    offset = when.strftime("%z")
    return (f"As the wall showed it at {when:%H:%M:%S} {when:%Z} on {when:%A} {when.day} "
            f"{when:%B %Y} (UK time, UTC{offset[:3]}:{offset[3:]}) — a reconstruction from "
            f"the record, not live")


def layout(at: str | None = None, wall: str | None = None, **_query: Any) -> html.Div:
    context = current()  # (reads nothing: the moment is rebuilt in the callback)
    regions = [
        html.Div(id="asof-banner", className="banner banner-asof", role="status"),
        html.Div(html.A("← Back to the review around this moment", id="asof-back",
                        href="/review", className="asof-back")),
        dcc.Store(id="asof-at", data=at),
        html.Div(className="asof-frame", children=[
            html.Div(id="asof-levels", className="strategic-levels"),
            html.Div(id="asof-figures", className="strategic-figures"),
            html.Div(className="strategic-lower", children=[
                section("The 24 hours before: trust and functions (calculated), declared "
                        "(dashed)", [
                            dcc.Graph(id="asof-chart", config=_GRAPH, className="timeline",
                                      responsive=True,
                                      figure={"data": [], "layout": {"template": {}}}),
                            html.Div(id="asof-key")], class_name="strategic-timeline"),
                html.Div(className="strategic-side", children=[
                    section("Why: the functions and their triggers",
                            [html.Div(id="asof-drivers")], class_name="strategic-why"),
                    section("Actions of the levels then in force",
                            [html.Div(id="asof-actions")], class_name="strategic-actions"),
                ]),
            ]),
        ]),
        html.Div(id="asof-live", hidden=True),
    ]
    on_wall = wall == "1" or current_principal().kind == "screen"
    return page_layout(context, PAGE, TITLE, regions, wall=on_wall, extra_class="page-asof")


def register_callbacks(app: Dash, context: DashboardContext) -> None:
    # The strategic page's rendering, from the module Dash imported (importing it again
    # under another name would register the page twice).
    strategic = next(sys.modules[p["module"]] for p in dash.page_registry.values()
                     if p["path"] == "/")

    def build(base: Base, wall: bool) -> dict[str, Any]:
        return {"asof-live.children": ""}  # the live header and watchdog

    register_refresh(app, context, page=PAGE, title=TITLE, outputs=["asof-live.children"],
                     build=build)

    @app.callback(*[Output(i, p) for i, p in (o.rsplit(".", 1) for o in OUTPUTS)],
                  Input("asof-at", "data"),
                  State("asof-mode", "data"))
    def show(text: str | None, mode: dict[str, Any] | None) -> tuple:
        wall = bool((mode or {}).get("wall"))
        try:
            catalogue = context.catalogue()
            at = moment_of(text, context.clock())
            store = context.store()
            try:
                rules = rules_of(context, store)
            except (ConfigError, StoreUnavailable):
                rules = None  # the checklist then says it is not reconstructed
            rebuilt = read_asof(context.history(), catalogue, at, rules=rules)
        except (ValueError, ConfigError, StoreUnavailable) as exc:
            problem = [html.Strong("⚠ Nothing shown: "), str(exc)]
            return (problem, "/review", [], [], {"data": [], "layout": {}}, [], [], [])
        return show_moment(rebuilt, strategic.render(rebuilt.view, wall), catalogue.timezone)


def show_moment(rebuilt: AsOf, rendered: dict[str, Any], tz: Any) -> tuple:
    """The outputs for a rebuilt moment: the banner, the link back, the strategic regions."""
    at = rebuilt.at
    values = {f"asof-{name}": rendered[f"strategic-{name}." + ("figure" if name == "chart"
                                                                 else "children")]
              for name in REGIONS}
    if rebuilt.checklist_note is not None:
        values["asof-actions"] = [html.Div(rebuilt.checklist_note,
                                           className="actions-note asof-not-rebuilt")]
    worker = {"stopped": " The worker had stopped: levels were not being updated.",
              "not known": " Whether the worker was running is not on record."}.get(
                  rebuilt.worker, "")
    banner = [html.Strong(banner_text(at, tz), id="asof-moment"),
              html.Span(f" Rules {rebuilt.rules_version or 'not known'}.{worker}",
                        className="banner-detail")]
    return (banner, f"/review?around={at:.0f}", values["asof-levels"], values["asof-figures"],
            values["asof-chart"], values["asof-key"], values["asof-drivers"],
            values["asof-actions"])
