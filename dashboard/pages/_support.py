"""What every page shares: its skeleton (header, refresh interval, watchdog), the one read of
the store every refresh starts from, and the refresh itself, which sends only what changed.

Not a page (Dash skips modules whose name starts with "_"). A page lists its regions, the
outputs its refresh fills ("strategic-drivers.children", "strategic-chart.figure"), and a
``build`` function from a ``Base`` read to their values. The harness:

- reads the catalogue, the store (latest values, feeds, workers, levels, the declaration),
  and builds the page's view, once per data change for every screen of the process
  (dashboard/viewcache.py): a screen's refresh then only compares digests;
- when the rules file is broken, says so in the header and the first region;
- when the store is down, keeps the last figures on screen greyed out as not live, with
  the store banner, and never writes the watchdog's "last live" time;
- when ``build`` raises, says SCREEN ERROR and lets the watchdog time out;
- otherwise sends a region only when its content changed since that screen's last refresh
  (the digests it was sent are kept in the page, not in the server), and a figure whose
  layout is unchanged as a Patch of its data only, so the browser redraws it in place.

An output written "*TYPE.PROP" is every component with the id {"type": TYPE, "key": ...}
in the page (one per function, say): ``build`` returns a dict of key -> value for it. When
a region draws such components afresh, ``build`` returns their values too: they are noted
as sent, so the next refresh sends only what changed since.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import dash
import flask
import plotly.utils
from dash import ALL, Dash, Input, Output, Patch, State, dcc, html, no_update

from dashboard.components.panels import config_problems
from dashboard.components.session import signed_in_badge
from dashboard.components.status import config_error_banner, loading_status, status_bar
from dashboard.components.watchdog import STORE_ID, watchdog
from dashboard.context import DashboardContext
from dashboard.data import Latest, StatusView, build_status, count_alerts
from dashboard.formatting import UK, local_time
from dashboard.levels import Levels
from dashboard.sessions import current_principal
from surge.alerting.book import Alert, AlertBook, RecordUnreadable
from surge.auth import allows, needed
from surge.catalogue import Catalogue
from surge.declarations import TrustStatus, trust_status
from surge.declarations import rules_in_force as read_rules
from surge.errors import ConfigError, StoreUnavailable
from surge.rules.model import Rules
from surge.store import FeedStatus, Store

__all__ = ["Base", "Build", "Variant", "may", "page_layout", "read_alerts", "read_base",
           "refresh_page", "register_refresh", "rules_of", "shared_base"]

log = logging.getLogger(__name__)
RULES_CACHE = "surge_pages_rules"  # app.server.extensions: parsed rules by version


@dataclass(frozen=True)
class Base:
    """One read of what every page shows; ``store`` None when it did not answer."""

    catalogue: Catalogue
    now: float
    store: Store | None
    store_error: str | None
    latest: Latest
    feeds: list[FeedStatus]
    worker: Mapping[str, str] | None
    levels: Levels | None  # None: the store did not answer
    trust: TrustStatus | None
    status: StatusView
    alerts: Mapping[str, Alert] | None = None  # active alerts; None: not read


def read_base(context: DashboardContext, catalogue: Catalogue, now: float) -> Base:
    """Latest values, feeds, workers, the levels, the declaration and the active alerts
    (one HGETALL, for every header's count and the alerts page); a Base saying the store is
    down when it does not answer."""
    try:
        store = context.store()
        latest = store.latest()
        feeds = store.feed_status()
        worker = store.worker()
        levels = store.published_levels(catalogue)
        trust = trust_status(store, catalogue, now, levels)
        alerts, alerts_error = read_alerts(store)
    except StoreUnavailable as exc:
        status = build_status(catalogue, [], None, now, store_error=str(exc),
                              alerts=count_alerts(None, error=str(exc)))
        return Base(catalogue, now, None, str(exc), {}, [], None, None, None, status)
    status = build_status(catalogue, feeds, worker, now, levels=levels, trust=trust,
                          alerts=count_alerts(alerts, error=alerts_error))
    return Base(catalogue, now, store, None, latest, feeds, worker, levels, trust, status,
                alerts)


def read_alerts(store: Store) -> tuple[dict[str, Alert] | None, str | None]:
    """The active alerts, or None and why when a record does not read: every header then
    says ALERTS NOT AVAILABLE, rather than every page failing (StoreUnavailable passes)."""
    try:
        return AlertBook(store).active(), None
    except RecordUnreadable as exc:
        log.error("the active alerts do not read: %s", exc)
        return None, f"the alerts in the store do not read: {exc}"


def rules_of(context: DashboardContext, store: Store) -> Rules:
    """The rules in force (protocols, actions), parsed once per version for this app."""
    version = context.catalogue().version
    cache: dict[str, Rules] = flask.current_app.extensions.setdefault(RULES_CACHE, {})
    rules = cache.get(version)
    if rules is None:
        rules = read_rules(store, context.settings.rules)
        cache.clear()  # one version at a time
        cache[rules.version] = rules
    return rules


def may(action: str, wall: bool) -> bool:
    """Whether the signed-in user's controls for ``action`` are shown (never on a wall
    screen). Showing them protects nothing: the guard and the action check again."""
    if wall:
        return False
    who = current_principal()
    return who.kind == "user" and who.verified and allows(who.role, needed(action))


# --- the skeleton ----------------------------------------------------------------------------


def page_paths() -> str:
    """{page name: path} of every registered page, as JSON, for the wall-screen playlist
    (assets/rotate.js): a page's name is its module's last part."""
    return json.dumps({str(p["module"]).rsplit(".", 1)[-1]: p["relative_path"]
                       for p in dash.page_registry.values()})


def page_layout(context: DashboardContext, page: str, title: str, regions: list[Any], *,
                wall: bool, controls: list[Any] | None = None,
                extra_class: str = "") -> html.Div:
    """A page: header (status bar), its regions, controls (not on a wall screen), the
    refresh interval, the watchdog, and the page's memory of what it last sent."""
    who = None if wall else signed_in_badge(page=page)
    mode = "wall" if wall else "desk"
    return html.Div(className=f"screen page page-{page} {mode} {extra_class}".strip(),
                    **{"data-page": page, "data-paths": page_paths()},  # type: ignore[arg-type]
                    children=[
        dcc.Interval(id=f"{page}-interval", interval=context.refresh_ms),
        dcc.Store(id=f"{page}-mode", data={"wall": wall}),
        dcc.Store(id=f"{page}-digests", data={}),
        watchdog(context.refresh_ms),
        html.Header(loading_status(title, who=who), id=f"{page}-status",
                    className="status-bar"),
        html.Main(regions, id=f"{page}-main", className="page-main"),
        *([] if wall or not controls else controls),
    ])


# --- the refresh -----------------------------------------------------------------------------


def _digest(value: Any) -> str:
    text = json.dumps(value, cls=plotly.utils.PlotlyJSONEncoder, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _digest_of(key: str, value: Any) -> str:
    """A region's digest; a figure's is "data:layout", so a new layout is told apart."""
    if key.endswith(".figure") and isinstance(value, dict):
        return f"{_digest(value.get('data'))}:{_digest(value.get('layout'))}"
    return _digest(value)


@dataclass(frozen=True)
class Rendered:
    """A page's outputs as built once for every screen showing it, with their digests
    (a "*" output's values and digests by key), and the wall screens' header."""

    built: Mapping[str, Any]
    digests: Mapping[str, Any]
    header: Any


def _render(outputs: list[str], built: Mapping[str, Any], header: Any) -> Rendered:
    digests: dict[str, Any] = {}
    for output in outputs:
        name = output.lstrip("*")
        if name not in built:
            continue
        if output.startswith("*"):
            digests[name] = {k: _digest_of(name, v) for k, v in built[name].items()}
        else:
            digests[name] = _digest_of(name, built[name])
    return Rendered(built, digests, header)


def _changed(key: str, value: Any, digest: str, digests: dict[str, str]) -> Any:
    """``value``, a Patch of a figure's data, or no_update when this screen has it already
    (``digests``: what it was last sent, updated here)."""
    before = digests.get(key, "")
    digests[key] = digest
    if before == digest:
        return no_update
    figure = key.split(":", 1)[0].endswith(".figure")  # "name.figure" or "name.figure:key"
    if figure and isinstance(value, dict) and ":" in digest \
            and before.endswith(":" + digest.split(":", 1)[1]):
        patch = Patch()
        patch["data"] = value.get("data", [])
        return patch
    return value


FIXED = 4  # outputs every refresh has before the page's own


def _value(output: str, index: int, view: Rendered, digests: dict[str, str]) -> Any:
    built = view.built
    if not output.startswith("*"):
        return _changed(output, built[output], view.digests[output], digests) \
            if output in built else no_update
    name = output[1:]
    found, sums = built.get(name, {}), view.digests.get(name, {})
    ids = dash.ctx.outputs_list[FIXED + index] if dash.ctx.outputs_list else []
    present = {i["id"]["key"] for i in ids}
    for key in found.keys() - present:  # sent inside a region that (re)drew the components
        _changed(f"{name}:{key}", found[key], sums[key], digests)
    return [_changed(f"{name}:{i['id']['key']}", found[i["id"]["key"]], sums[i["id"]["key"]],
                     digests)
            if i["id"]["key"] in found else no_update for i in ids]


def _unchanged(output: str, index: int) -> Any:
    if not output.startswith("*"):
        return no_update
    ids = dash.ctx.outputs_list[FIXED + index] if dash.ctx.outputs_list else []
    return [no_update] * len(ids)


def shared_base(context: DashboardContext, catalogue: Catalogue) -> tuple[Base, int]:
    """The store's picture, read once per data change for every screen of this process
    (dashboard/viewcache.py), and the serial of that read."""
    try:
        mark: Any = (catalogue.version, context.store().change_mark())
    except StoreUnavailable:
        mark = (catalogue.version, None)  # read again (and found down) after FRESH seconds
    entry = context.views.get(("store",), mark,
                              lambda: read_base(context, catalogue, context.clock()))
    return entry.value, entry.serial


def refresh_page(context: DashboardContext, *, page: str, title: str, outputs: list[str],
                 previous: Mapping[str, Any] | None, wall: bool,
                 build: Callable[[Base], Mapping[str, Any]], variant: Any = ()) -> tuple:
    """(status bar, main's class, digests, watchdog data, *outputs) for one refresh.

    The view (``build``'s outputs, their digests, a wall screen's header) is built once per
    data change and shared by every screen showing this page with the same ``variant``
    (what else, besides the data and ``wall``, changes what ``build`` makes)."""
    previous = previous or {}
    digests: dict[str, str] = dict(previous.get("digests") or {})
    last_live = previous.get("live_uk")
    who = None if wall else signed_in_badge(page=page)
    now = context.clock()
    unchanged = [_unchanged(o, i) for i, o in enumerate(outputs)]
    try:
        catalogue = context.catalogue()
    except ConfigError as exc:
        hint = ("Fix the environment and restart the dashboard." if context.settings_error
                else f"Fix {context.settings.rules}; this screen checks it again on every "
                     f"refresh.")
        header = config_error_banner(f"Updated {local_time(now, UK)} UK time", "", exc, who,
                                     title=title)
        values = [config_problems(exc, hint), *unchanged[1:]]
        return (header, "page-main not-live", {}, {"uk": local_time(now, UK), "live_uk": None},
                *values)
    uk = local_time(now, catalogue.timezone)
    try:
        base, serial = shared_base(context, catalogue)
        if base.store_error is not None and last_live:
            # keep the last figures on screen, greyed out as not live
            header = status_bar(base.status, title, last_live=last_live, who=who)
            return (header, "page-main not-live", {**previous, "digests": digests},
                    {"uk": uk, "live_uk": last_live}, *unchanged)
        view = context.views.get(
            ("view", page, wall, variant), serial,
            lambda: _render(outputs, build(base),
                           status_bar(base.status, title) if wall else None)).value
        values = [_value(o, i, view, digests) for i, o in enumerate(outputs)]
        live = base.store_error is None
        header = view.header if wall else status_bar(base.status, title, who=who)
        return (header, "page-main" if live else "page-main not-live",
                {"digests": digests, "live_uk": uk if live else None},
                {"uk": uk, "live_uk": uk if live else None}, *values)
    except Exception as exc:
        # A bug must not leave figures looking live. The watchdog data is not updated, so
        # after three intervals the screen also says it is not updating.
        log.exception("%s refresh failed", page)
        return ([html.Div([html.Strong("SCREEN ERROR — figures below are not live"),
                           html.Span(f"{type(exc).__name__}: {exc}", className="banner-detail")],
                          className="banner banner-critical", role="alert")],
                "page-main not-live", no_update, no_update, *unchanged)


Build = Callable[["Base", bool], Mapping[str, Any]]  # (base, wall) -> output -> value
Variant = Callable[[bool], Any]  # (wall) -> what else the page's build depends on


def register_refresh(app: Dash, context: DashboardContext, *, page: str, title: str,
                     outputs: list[str], build: Build, variant: Variant | None = None) -> None:
    """The page's one refresh callback: at load, then every SURGE_REFRESH. Read-only: no
    output of it may start with a state-changing callback's prefix. ``variant``: when the
    page's build depends on more than the data and wall mode (the signed-in user's role,
    which components the page holds), a hashable value saying so for this request."""
    targets = [Output({"type": o[1:].rsplit(".", 1)[0], "key": ALL}, o.rsplit(".", 1)[1])
               if o.startswith("*") else Output(*o.rsplit(".", 1)) for o in outputs]

    @app.callback(
        Output(f"{page}-status", "children"),
        Output(f"{page}-main", "className"),
        Output(f"{page}-digests", "data"),
        Output(STORE_ID, "data", allow_duplicate=True),
        *targets,
        Input(f"{page}-interval", "n_intervals"),
        State(f"{page}-digests", "data"),
        State(f"{page}-mode", "data"),
        prevent_initial_call="initial_duplicate",
    )
    def refresh(_n: int | None, previous: Mapping[str, Any] | None,
                mode: Mapping[str, Any] | None) -> tuple:
        wall = bool((mode or {}).get("wall"))
        return refresh_page(context, page=page, title=title, outputs=outputs,
                            previous=previous, wall=wall, build=lambda base: build(base, wall),
                            variant=variant(wall) if variant is not None else ())
