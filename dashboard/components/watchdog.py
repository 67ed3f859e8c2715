"""The client-side watchdog: a screen that stops updating says so (see assets/watchdog.js).

A page that refreshes puts ``watchdog(interval_ms)`` in its layout and writes
``{"uk": "14:03:22"}`` into the watchdog's store after every completed refresh. The
script shows a full-width banner when no refresh has completed for three intervals,
whatever the cause: server down, network down, or the callback failing.
"""

from __future__ import annotations

from dash import ClientsideFunction, Dash, Input, Output, dcc, html

__all__ = ["STORE_ID", "WATCHDOG_ID", "register", "watchdog"]

WATCHDOG_ID = "screen-watchdog"
STORE_ID = "screen-watchdog-refresh"


def watchdog(interval_ms: int, data: dict | None = None) -> html.Div:
    """``data``: the store's first value (a page may keep what it needs beside "uk")."""
    return html.Div([dcc.Store(id=STORE_ID, data=data)], id=WATCHDOG_ID, hidden=True,
                    **{"data-interval-ms": str(interval_ms)})  # type: ignore[arg-type]


def register(app: Dash) -> None:
    app.clientside_callback(
        ClientsideFunction(namespace="surge", function_name="recordRefresh"),
        Output(WATCHDOG_ID, "title"),
        Input(STORE_ID, "data"),
    )
