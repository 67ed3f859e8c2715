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
import flask_compress
from dash import Dash

from dashboard.api import install_api
from dashboard.auth import finish_setup, install_auth
from dashboard.components import runmode, watchdog
from dashboard.context import EXTENSION, DashboardContext
from dashboard.metrics import install_metrics
from dashboard.viewcache import install_timing
from surge.clock import Clock
from surge.settings import Settings
from surge.store import Store

__all__ = ["create_app", "install_compression", "server"]  # noqa: F822  (server: below)

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
    install_api(app.server, context)
    install_metrics(app.server, context)  # after install_auth: exempt from its guard
    install_compression(app.server)
    install_timing(app.server)
    watchdog.register(app)
    runmode.register(app, context)
    for page in dash.page_registry.values():
        module = sys.modules.get(page["module"])
        register = getattr(module, "register_callbacks", None)
        if register is not None:
            register(app, context)
    finish_setup(app)  # complete before the first request, not by it
    return app


COMPRESS = "surge_compress"  # server.extensions: the Compress object (its cache: static files)
ASSET_MAX_AGE = 86400  # s: /assets/ URLs carry their file's mtime, so a change is fetched


class _StaticCompressed:
    """flask-compress's cache: each static file compressed once per process (plotly.js is
    4.8 MB: gzip at every first load of every screen would cost a second of CPU each)."""

    def __init__(self) -> None:
        self._kept: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self._kept.get(key)

    def set(self, key: str, value: bytes) -> None:
        if not key.endswith(";"):  # (pages, callbacks and the API: never kept)
            self._kept[key] = value

    def keys(self) -> list[str]:
        """What is kept: "br;/_dash-component-suites/..."."""
        return list(self._kept)


def _static_key(request: flask.Request) -> str:
    static = request.path.startswith(("/_dash-component-suites/", "/assets/"))
    return request.full_path if static else ""


def install_compression(server: flask.Flask) -> None:
    """Compress pages, callback responses and scripts (brotli, else gzip), and let browsers
    keep static files: Dash's scripts are fingerprinted (kept a year), /assets/ a day."""
    server.config.update(
        COMPRESS_ALGORITHM=["br", "gzip"],
        COMPRESS_BR_LEVEL=5,  # callback JSON: ~5x smaller at a fraction of a ms
        COMPRESS_CACHE_BACKEND=_StaticCompressed,
        COMPRESS_CACHE_KEY=_static_key,
        SEND_FILE_MAX_AGE_DEFAULT=ASSET_MAX_AGE,
    )
    server.extensions[COMPRESS] = flask_compress.Compress(server)


@functools.cache
def _server() -> flask.Flask:
    app = create_app()
    watch_for_workers(app)
    return app.server


def watch_for_workers(app: Dash) -> None:
    """A served dashboard also watches that a worker is active, and alerts if none is
    (surge/alerting/watch.py): the worker cannot say so itself."""
    from surge.alerting.watch import WorkerWatch

    context: DashboardContext = app.server.extensions[EXTENSION]
    if context.settings_error is not None:
        return
    try:
        store = context.store()
    except Exception:  # (the pages say the store is down)
        return
    WorkerWatch(store, context.settings, context.clock,
                exercise=lambda: context.run_clock().exercise_mode).start()


def __getattr__(name: str) -> Any:
    """``server``: the app for gunicorn, from SURGE_* settings, made when first asked for
    (not on import, so `surge run` and the tests, which build their own, never make it)."""
    if name == "server":
        return _server()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
