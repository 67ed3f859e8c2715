"""The Dash app factory, and ``server`` for gunicorn (``gunicorn dashboard.app:server``).

Pages live one per module in ``dashboard/pages/``; each registers itself with
``dash.register_page`` and may define ``register_callbacks(app, context)``, which the
factory calls, so that callbacks belong to this app and not to a process-wide registry.
Run-time state (settings, clock, catalogue, store) lives in a DashboardContext on the
Flask server, never in module globals: each gunicorn worker has its own. Every route and
callback is behind the sign-in and role checks of dashboard/auth.py.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dash
import flask
from dash import Dash

from dashboard.auth import finish_setup, install_auth
from dashboard.components import runmode, watchdog
from dashboard.context import EXTENSION, DashboardContext
from surge.clock import Clock
from surge.settings import Settings
from surge.store import Store

__all__ = ["create_app", "server"]  # noqa: F822  (server: made on first access, below)

HERE = Path(__file__).resolve().parent
PAGES = HERE / "pages"
ASSETS = HERE.parent / "assets"


def create_app(settings: Settings | None = None, store: Store | None = None,
               clock: Clock | Callable[[], float] | None = None) -> Dash:
    """A dashboard app, set up whole before it serves anything (its first request finds
    nothing left to do). ``clock``: the run's clock (`surge run`); None follows the clock
    the worker published in the store (read once while setting up, if the store answers)."""
    if settings is None:
        context = DashboardContext.from_env(store, clock)
    else:
        context = DashboardContext(settings, store, clock)
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder=str(PAGES),
        assets_folder=str(ASSETS),
        title="Surge",
        update_title=None,  # type: ignore[arg-type]  # documented; no "Updating..." flicker
    )
    app.server.extensions[EXTENSION] = context
    app.layout = functools.partial(runmode.frame, context, dash.page_container)
    install_auth(app.server, context)
    watchdog.register(app)
    runmode.register(app, context)
    for page in dash.page_registry.values():
        module = sys.modules.get(page["module"])
        register = getattr(module, "register_callbacks", None)
        if register is not None:
            register(app, context)
    finish_setup(app)  # complete before the first request, not by it
    return app


@functools.cache
def _server() -> flask.Flask:
    return create_app().server


def __getattr__(name: str) -> Any:
    """``server``: the app for gunicorn, from SURGE_* settings, made when first asked for
    (not on import, so `surge run` and the tests, which build their own, never make it)."""
    if name == "server":
        return _server()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
