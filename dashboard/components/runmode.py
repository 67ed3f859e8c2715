"""The band every page carries when its figures are not real: EXERCISE or SIMULATED DATA.

A wall screen must never show invented numbers as real, nor exercise time as the time. The
band is in the app's frame (outside every page), read from the run's clock on each page
load and checked again every few seconds, so a screen left open across a restart into an
exercise (or out of one) shows the right thing without a reload.
"""

from __future__ import annotations

from dash import Dash, Input, Output, dcc, html
from dash.development.base_component import Component

from dashboard.context import DashboardContext
from surge.clock import Clock

__all__ = ["BAND_ID", "band", "frame", "register"]

BAND_ID = "run-mode-band"
CHECK_ID = "run-mode-check"
CHECK_MS = 10_000


def band(clock: Clock) -> tuple[list[html.Span], str, bool]:
    """(children, className, hidden) of the band for this run's clock."""
    text = clock.banner()
    if text is None:
        return [], "run-mode-band", True
    detail = f" · scenario {clock.scenario}" if clock.scenario else ""
    kind = "run-mode-exercise" if clock.exercise_mode else "run-mode-simulated"
    return ([html.Span(text, className="run-mode-text"),
             html.Span(detail, className="run-mode-detail")],
            f"run-mode-band {kind}", False)


def frame(context: DashboardContext, page: Component) -> html.Div:
    """The app's layout: the band above the page container."""
    children, class_name, hidden = band(context.run_clock())
    return html.Div([
        html.Div(children, id=BAND_ID, className=class_name, hidden=hidden, role="status",
                 **{"aria-live": "polite"}),  # type: ignore[arg-type]
        dcc.Interval(id=CHECK_ID, interval=CHECK_MS),
        page,
    ])


def register(app: Dash, context: DashboardContext) -> None:
    @app.callback(Output(BAND_ID, "children"), Output(BAND_ID, "className"),
                  Output(BAND_ID, "hidden"), Input(CHECK_ID, "n_intervals"))
    def check(_n: int | None) -> tuple:
        return band(context.run_clock())
