"""Overview ("/overview"): each function's figures, trend and age, for control-room walls.

The layout is a skeleton; one callback, fired at load and then every SURGE_REFRESH, reads
the store once (latest values, all sparkline series, feed health, worker heartbeat, the
levels the rules engine published, the declared level) and rebuilds the status bar (the
header every page carries: calculated and declared level, UK time) and the four panels.
With ``?wall=1``: no navigation, as on every page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import dash
from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboard.components.panels import config_problems, panels
from dashboard.components.session import signed_in_badge
from dashboard.components.status import config_error_banner, loading_status, status_bar
from dashboard.components.watchdog import STORE_ID, watchdog
from dashboard.context import DashboardContext, current
from dashboard.data import (
    SPARK_WINDOW,
    OverviewView,
    build_overview,
    count_alerts,
    sparkline_series,
)
from dashboard.formatting import UK, local_time
from dashboard.pages._support import page_paths, read_alerts
from surge.catalogue import Catalogue
from surge.declarations import trust_status
from surge.errors import ConfigError, StoreUnavailable
from surge.store import Store

dash.register_page(__name__, path="/overview", name="Overview", title="Surge — Overview",
                   order=5, role="viewer")

log = logging.getLogger(__name__)

INTERVAL_ID = "overview-interval"
STATUS_ID = "status-bar"
PANELS_ID = "overview-panels"


def layout(wall: str | None = None, **_query: Any) -> html.Div:
    context = current()
    on_wall = wall == "1"
    who = None if on_wall else signed_in_badge()
    return html.Div(className="screen page page-overview " + ("wall" if on_wall else "desk"),
                    **{"data-page": "overview", "data-paths": page_paths()},  # type: ignore[arg-type]
                    children=[
        dcc.Interval(id=INTERVAL_ID, interval=context.refresh_ms),
        watchdog(context.refresh_ms, data={"wall": on_wall}),
        html.Header(loading_status(who=who), id=STATUS_ID, className="status-bar"),
        html.Main(html.P("Loading…", className="loading"), id=PANELS_ID, className="panels"),
    ])


def register_callbacks(app: Dash, context: DashboardContext) -> None:
    @app.callback(
        Output(STATUS_ID, "children"),
        Output(PANELS_ID, "children"),
        Output(PANELS_ID, "className"),
        Output(STORE_ID, "data"),
        Input(INTERVAL_ID, "n_intervals"),
        State(STORE_ID, "data"),
    )
    def refresh(_n: int | None, previous: Mapping[str, Any] | None) -> tuple:
        # a wall screen's mode rides in the watchdog's data, from the layout on
        wall = bool((previous or {}).get("wall"))
        out = refresh_overview(context, previous or {},
                               who=None if wall else signed_in_badge())
        stamp = out[3]
        return (*out[:3], {**stamp, "wall": wall} if isinstance(stamp, dict) else stamp)


def read_store(store: Store, catalogue: Catalogue, now: float) -> OverviewView:
    """One read of everything the overview shows (latest, sparklines, feeds, worker, levels)."""
    latest = store.latest()
    series = store.series(sparkline_series(catalogue), now - SPARK_WINDOW, now)
    levels = store.published_levels(catalogue)
    alerts, alerts_error = read_alerts(store)
    return build_overview(catalogue, latest, series, store.feed_status(), store.worker(), now,
                          levels=levels, trust=trust_status(store, catalogue, now, levels),
                          alerts=count_alerts(alerts, error=alerts_error))


def refresh_overview(context: DashboardContext, previous: Mapping[str, Any],
                     who: html.Div | None = None) -> tuple:
    """(status bar, panels, panels class, watchdog data) for one refresh; ``who`` is the
    session badge for the end of the status line."""
    now = context.clock()
    try:
        catalogue = context.catalogue()
    except ConfigError as exc:
        hint = ("Fix the environment and restart the dashboard." if context.settings_error
                else f"Fix {context.settings.rules}; this screen checks it again on every "
                     f"refresh.")
        # a broken rules file names no time zone: UK time, the default
        stamp = {"uk": local_time(now, UK), "live_uk": None}
        return (config_error_banner(f"Updated {local_time(now, UK)} UK time", "", exc, who),
                config_problems(exc, hint), "panels panels-error", stamp)
    uk = local_time(now, catalogue.timezone)
    last_live = previous.get("live_uk")
    try:
        try:
            view = read_store(context.store(), catalogue, now)
        except StoreUnavailable as exc:
            view = build_overview(catalogue, {}, {}, [], None, now, store_error=str(exc))
            status = status_bar(view.status, last_live=last_live, who=who)
            if last_live:  # keep the last figures on screen, greyed out as not live
                return status, no_update, "panels not-live", {"uk": uk, "live_uk": last_live}
            return (status, panels(view.panels, now), "panels not-live",
                    {"uk": uk, "live_uk": None})
        return status_bar(view.status, who=who), panels(view.panels, now), "panels", \
            {"uk": uk, "live_uk": uk}
    except Exception as exc:
        # A bug must not leave figures looking live. The watchdog data is not updated, so
        # after three intervals the screen also says it is not updating.
        log.exception("overview refresh failed")
        return ([html.Div([html.Strong("SCREEN ERROR — figures below are not live"),
                           html.Span(f"{type(exc).__name__}: {exc}", className="banner-detail")],
                          className="banner banner-critical", role="alert")],
                no_update, "panels not-live", no_update)
