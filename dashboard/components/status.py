"""The status bar at the top of every page: the trust's calculated level, the declared level
beside it (and a loud DIVERGES when they differ), the UK time, how many alerts are active
(a link to /alerts, loud while any is unacknowledged), and every failure, loudly."""

from __future__ import annotations

from dash import html

from dashboard.components.levels import declared_level, overall_level
from dashboard.data import AlertCount, StatusView
from dashboard.levels import OVERALL, missing_level

__all__ = ["ALERTS_PATH", "alerts_chip", "config_error_banner", "loading_status", "status_bar"]

ALERTS_PATH = "/alerts"
STORE_BANNER = "DATA STORE UNREACHABLE — figures below are not live"
WORKER_BANNER = "WORKER STOPPED — no new data is being collected"


def _chip(text: str, ok: bool) -> html.Span:
    # The text says the state; the colour only repeats it (never colour alone).
    return html.Span(text, className="chip " + ("chip-ok" if ok else "chip-bad"))


def alerts_chip(count: AlertCount) -> html.A:
    """"2 ALERTS (1 unacknowledged)", a link to /alerts: loud while any is unacknowledged
    or when the alerts could not be read (never a quiet "no alerts" it cannot see)."""
    loud = "chip-alerts-loud" if count.loud else "chip-alerts-quiet"
    return html.A(count.text, href=ALERTS_PATH, id="status-alerts",
                  className=f"chip chip-alerts {loud}", title=count.error,
                  **{"data-total": str(count.total),  # type: ignore[arg-type]
                     "data-unacknowledged": str(count.unacknowledged)})


def _banner(text: str, detail: str | None = None, *, kind: str = "critical",
            banner_id: str | None = None) -> html.Div:
    children: list = [html.Strong("⚠ " + text)]
    if detail:
        children.append(html.Span(detail, className="banner-detail"))
    props = {"id": banner_id} if banner_id else {}
    return html.Div(children, className=f"banner banner-{kind}", role="alert", **props)


def _line(title: str, updated: str, date: str, chips: list,
          level: html.Div | None = None, who: html.Div | None = None,
          declared: html.Div | None = None) -> html.Div:
    return html.Div(className="status-line", children=[
        html.Div(className="status-title", children=[
            html.Span("SURGE", className="brand"), html.Span(title, className="page-name")]),
        *([level] if level is not None else []),
        *([declared] if declared is not None else []),
        html.Div(className="status-time", children=[
            html.Span(updated, className="status-updated", id="status-clock"),
            html.Span(date, className="status-date")]),
        html.Div(chips, className="status-chips"),
        *([who] if who is not None else []),
    ])


def status_bar(status: StatusView, title: str = "Overview",
               last_live: str | None = None, who: html.Div | None = None) -> list:
    """The children of the status bar: one line of state (and who is signed in), then a
    banner per failure. The declared level, when the view carries it, stands beside the
    calculated one; when they diverge a banner says so under the line as well."""
    store_ok = status.store_error is None
    problems = status.feed_problems
    chips: list = [_chip("STORE OK" if store_ok else "STORE UNREACHABLE", store_ok)]
    if store_ok:
        healthy = status.feeds_total - len(problems)
        if status.feeds_total == 0:
            chips.append(_chip("NO FEEDS REPORTING", False))
        else:
            chips.append(_chip(f"FEEDS {healthy}/{status.feeds_total} OK", not problems))
        running = status.worker == "running"
        chips.append(_chip("WORKER RUNNING" if running else "WORKER STOPPED", running))
    if status.alerts is not None and status.alerts.shown:
        chips.insert(0, alerts_chip(status.alerts))
    updated, date = status.updated, status.date
    if status.clock is not None:  # the zone as well: GMT or BST
        updated = f"{updated} ({status.clock.zone})"
    declared = declared_level(status.declared) if status.declared is not None else None
    children: list = [_line(title, updated, date, chips, overall_level(status.level), who,
                            declared)]
    if status.declared is not None and status.declared.diverges:
        children.append(_banner(status.declared.flag or "DIVERGES", kind="diverges",
                                banner_id="banner-diverges"))
    if not store_ok:
        detail = status.store_error or ""
        if last_live:
            detail = f"last live data {last_live}. {detail}"
        children.append(_banner(STORE_BANNER, detail, banner_id="banner-store"))
    for problem in problems:
        children.append(_banner(problem.text, kind="feed"))
    if store_ok and status.feeds_total == 0:
        children.append(_banner("NO FEEDS HAVE REPORTED — no data is being collected",
                                kind="feed"))
    if status.worker == "stopped":
        children.append(_banner(WORKER_BANNER, banner_id="banner-worker"))
    return children


def config_error_banner(updated: str, date: str, error: Exception,
                        who: html.Div | None = None, title: str = "Overview") -> list:
    """The status bar when the rules file or settings are broken: nothing can be shown."""
    return [
        _line(title, updated, date, [_chip("CONFIGURATION BROKEN", False)],
              overall_level(missing_level(OVERALL, "the configuration is broken")), who),
        _banner("CONFIGURATION BROKEN — no figures can be shown until it is fixed",
                banner_id="banner-config"),
    ]


def loading_status(title: str = "Overview", who: html.Div | None = None,
                   updated: str = "Loading…") -> list:
    return [_line(title, updated, "", [], who=who)]
