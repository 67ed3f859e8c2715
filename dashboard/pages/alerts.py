"""Alerts, "/alerts": what is alerting now, who was told, who has taken it on; silences;
the alerts resolved most recently. Where a duty manager lands from a notification's link
(``/alerts#<alert id>``: each alert's card has the alert's id), often on a phone.

Each active alert: severity, level (number, name and colour), title and why, since when and
for how long, who was told, its acknowledgement or UNACKNOWLEDGED, its escalation step and
when it escalates next, SILENCED, EXERCISE. Duty managers and above (never a wall screen)
get Acknowledge (with an optional note) on each alert, Create silence, and End silence on
each silence in force: surge.actions as the signed-in user; the guard refuses anyone else
(callback_roles: the "ack-" and "silence-" outputs), and the action checks again.
"""

from __future__ import annotations

from typing import Any

import dash
import flask
from dash import MATCH, Dash, Input, Output, State, dcc, html, no_update

from dashboard.auth import protect_callback, web_actor
from dashboard.components.levels import level_badge
from dashboard.context import DashboardContext, current
from dashboard.formatting import UK, uk_time
from dashboard.pages._support import FIXED, Base, may, page_layout, register_refresh
from dashboard.views.alerts import (
    HISTORY,
    AlertCard,
    AlertsView,
    HistoryRow,
    SilenceRow,
    build_alerts,
    matcher_words,
)
from surge.actions import (
    SILENCE_FIELDS,
    Forbidden,
    InvalidArgument,
    acknowledge_alert,
    create_silence,
    end_silence,
)
from surge.alerting.book import AlertBook
from surge.auth import needed
from surge.catalogue import Catalogue
from surge.declarations import MAX_TEXT
from surge.durations import parse_duration
from surge.errors import ConfigError, StoreUnavailable

dash.register_page(__name__, path="/alerts", name="Alerts", title="Surge — Alerts", order=6,
                   role="viewer")

PAGE = "alerts"
TITLE = "Alerts"
ACK = "ack-"  # every output of the acknowledge control: the acknowledge action's role
SILENCE = "silence-"  # every output of the silence controls: the silence action's role
OUTPUTS = ["alerts-note.children", "alerts-active.children", "*alerts-card.children",
           "alerts-silences.children", "alerts-history.children"]
CARDS = FIXED + OUTPUTS.index("*alerts-card.children")  # in dash.ctx.outputs_list
WALL_HISTORY = 8  # resolved alerts on a wall screen (it never scrolls)
KINDS = ("level", "feed", "divergence", "worker", "rules", "delivery")
# Pattern ids ({"type": ..., "key": "form"}): the form is in the page only for those who may
# silence, and Dash checks only plain ids against every page's layout.
FORM = "form"

# A link to /alerts#<id>: the card is drawn by the first refresh, after the browser looked
# for it, so scroll to it (once) when it arrives and mark it.
SCROLL_TO_LINKED = """
function (children) {
    var nothing = window.dash_clientside.no_update;
    var wanted = decodeURIComponent((window.location.hash || "").slice(1));
    if (!wanted) { return nothing; }
    var tries = 0;
    (function look() {
        var card = document.getElementById(wanted);
        if (card && !card.getAttribute("data-linked")) {
            card.setAttribute("data-linked", "true");
            card.classList.add("alert-linked");
            card.scrollIntoView({block: "start"});
        } else if (!card && tries++ < 50) {
            setTimeout(look, 100);
        }
    })();
    return wanted;
}
"""


def _id(kind: str, key: str = FORM) -> dict[str, str]:
    return {"type": kind, "key": key}


def layout(wall: str | None = None, **_query: Any) -> html.Div:
    context = current()
    on_wall = wall == "1"
    form: list = []
    if may("silence", on_wall):  # (only then is the catalogue read)
        try:
            form = [silence_form(context.catalogue())]
        except ConfigError:
            form = [silence_form(None)]
    regions = [
        html.Div(id="alerts-note", className="page-note alerts-note"),
        html.Section(className="panel alerts-active-panel", children=[
            html.H2("Active alerts", className="panel-title"),
            html.Div(id="alerts-active", className="alerts-list")]),
        html.Div(className="alerts-lower", children=[
            html.Section(className="panel alerts-silences-panel", children=[
                html.H2("Silences in force", className="panel-title"),
                html.P("A silence stops the notifications of the alerts it matches, not the "
                       "alerts: they stay on this page, marked SILENCED.",
                       className="control-note"),
                html.Div(id="alerts-silences"), *form]),
            html.Section(className="panel alerts-history-panel", children=[
                html.H2("Resolved most recently", className="panel-title"),
                html.Div(id="alerts-history")]),
        ]),
        html.Div(id="alerts-linked", hidden=True),
    ]
    return page_layout(context, PAGE, TITLE, regions, wall=on_wall)


def silence_form(catalogue: Catalogue | None) -> html.Div:
    """Create a silence: what it matches (at least one field), for how long, and why."""
    def options(pairs: list[tuple[Any, str]]) -> list[dict[str, Any]]:
        return [{"label": label, "value": value} for value, label in pairs]

    sites = [(s.code, f"{s.code} {s.name}") for s in catalogue.sites.values()] \
        if catalogue else []
    functions = [(f.id, f.label) for f in catalogue.functions] if catalogue else []
    levels = [(lv.number, f"{lv.number} {lv.name} or above") for lv in catalogue.levels] \
        if catalogue else []

    def field(label: str, control: Any) -> html.Label:
        return html.Label([html.Span(label, className="silence-label"), control],
                          className="silence-field")

    return html.Div(className="silence-form", id="silence-form", children=[
        html.H3("Create a silence (duty manager)", className="checklist-title"),
        html.Div(className="silence-fields", children=[
            field("Kind", dcc.Dropdown(id=_id("silence-kind"), placeholder="any kind",
                                       options=options([(k, k) for k in KINDS]))),
            field("Name", dcc.Input(id=_id("silence-name"), type="text", maxLength=200,
                                    placeholder="any name: e.g. ae@RVJ, cad-calls",
                                    className="silence-input")),
            field("Site", dcc.Dropdown(id=_id("silence-site"), placeholder="any site",
                                       options=options(sites))),
            field("Function", dcc.Dropdown(id=_id("silence-function"),
                                           placeholder="any function",
                                           options=options(functions))),
            field("Level", dcc.Dropdown(id=_id("silence-min-level"), placeholder="any level",
                                        options=options(levels))),
            field("For", dcc.Input(id=_id("silence-duration"), type="text", maxLength=20,
                                   placeholder="30m, 2h (at most 7d)",
                                   className="silence-input")),
            field("Reason (required)", dcc.Input(id=_id("silence-reason"), type="text",
                                                 maxLength=MAX_TEXT,
                                                 placeholder="e.g. feed under maintenance",
                                                 className="silence-input")),
        ]),
        html.Button("Create silence", id=_id("silence-create"),
                    className="admin-button silence-create"),
        html.Div(id=_id("silence-result"), className="admin-result", role="status"),
    ])


# --- the refresh -----------------------------------------------------------------------------


def card_body(card: AlertCard) -> html.Div:
    """What an alert's card says; it is updated in place (the controls beside it stay)."""
    marks: list = [html.Span(card.severity.upper(),
                             className=f"alert-severity severity-{card.severity}")]
    if card.level is not None:
        marks.append(level_badge(card.level, size="small"))
    else:
        marks.append(html.Span(card.kind.upper(), className="alert-kind"))
    if card.silenced:
        marks.append(html.Span("SILENCED", className="alert-mark alert-silenced"))
    if card.exercise:
        marks.append(html.Span("EXERCISE", className="alert-mark alert-exercise"))
    ack = card.ack
    ack_lines: list = [html.Strong(ack.text, className="ack-text")]
    if ack.note:
        ack_lines.append(html.Span(f"“{ack.note}”", className="ack-note-text"))
    if ack.detail:
        ack_lines.append(html.Span(ack.detail, className="ack-detail"))
    facts = [("since", "Since", f"{card.since} · {card.fired}"), ("told", "Told", card.told)]
    if card.withheld:
        facts.append(("withheld", "Not told (silenced)", card.withheld))
    facts.append(("escalation", "Escalation", card.escalation))
    if card.silenced:
        facts.append(("silenced", "Silenced", card.silenced))
    facts.append(("matches", "Matches", card.what))
    return html.Div(
        className=f"alert-inner severity-{card.severity} ack-{ack.state}",
        **{"data-ack": ack.state, "data-severity": card.severity},  # type: ignore[arg-type]
        children=[
            html.Div(marks, className="alert-marks"),
            html.H3(card.title, className="alert-title"),
            html.Div(card.reason, className="alert-reason"),
            html.Div(ack_lines, className=f"alert-ack ack-{ack.state}",
                     role="alert" if ack.state == "unacknowledged" else None),
            html.Dl([part for key, label, text in facts
                     for part in (html.Dt(label), html.Dd(text, className=f"fact-{key}"))],
                    className="alert-facts"),
        ])


def ack_form(card: AlertCard) -> html.Div:
    return html.Div(className="ack-form", children=[
        dcc.Input(id={"type": "ack-note", "alert": card.id}, type="text", maxLength=MAX_TEXT,
                  placeholder="Note (optional): what you are doing about it",
                  className="ack-note", persistence=True, persistence_type="session"),
        html.Button("Acknowledge", id={"type": "ack-button", "alert": card.id},
                    className="admin-button ack-button"),
        html.Div(id={"type": "ack-result", "alert": card.id}, className="ack-result",
                 role="status"),
    ])


def skeleton(cards: tuple[AlertCard, ...], bodies: dict[str, Any], can_ack: bool) -> list:
    """Every active alert's card, whole (its id is the alert's, for /alerts#<id>); their
    bodies then update in place."""
    return [html.Section(id=c.id, className="panel alert-card", children=[
        html.Div(bodies[c.id], id={"type": "alerts-card", "key": c.id}, className="alert-body"),
        *([ack_form(c)] if can_ack else []),
    ]) for c in cards]


def note(view: AlertsView) -> list:
    banners = [html.Div(html.Strong("⚠ " + p), className="banner banner-critical", role="alert")
               for p in view.problems]
    summary = html.Div(view.summary, id="alerts-summary",
                       className="alerts-summary" + (" alerts-unacked" if view.unacknowledged
                                                     else ""),
                       **{"data-total": str(view.total),  # type: ignore[arg-type]
                          "data-unacknowledged": str(view.unacknowledged)})
    return [*banners, summary]


def silences(rows: tuple[SilenceRow, ...], can_end: bool) -> list:
    if not rows:
        return [html.P("No silence is in force: every alert notifies its receivers.",
                       className="alerts-empty")]
    items = []
    for row in rows:
        covers = f"silences {row.covers} active alert{'s' if row.covers != 1 else ''}"
        children: list = [
            html.Div([html.Strong(row.what, className="silence-what"),
                      html.Span(f" {row.until}", className="silence-until")]),
            html.Div(f"“{row.reason}”", className="silence-reason"),
            html.Div(f"{row.by} · {covers} · {row.id}", className="silence-by"),
        ]
        if can_end:
            children.append(html.Div(className="silence-end-form", children=[
                dcc.Input(id={"type": "silence-end-reason", "silence": row.id}, type="text",
                          maxLength=MAX_TEXT, placeholder="Why end it early (optional)",
                          className="silence-input"),
                html.Button("End silence", id={"type": "silence-end", "silence": row.id},
                            className="admin-button secondary silence-end"),
                html.Div(id={"type": "silence-end-result", "silence": row.id},
                         className="ack-result", role="status"),
            ]))
        items.append(html.Li(children, id=row.id, className="silence"))
    return [html.Ul(items, className="silence-list")]


def history(rows: tuple[HistoryRow, ...]) -> list:
    if not rows:
        return [html.P("No alert has resolved yet.", className="alerts-empty")]
    items = []
    for row in rows:
        head: list = [html.Span(row.severity.upper(),
                                className=f"alert-severity severity-{row.severity}")]
        if row.level is not None:
            head.append(level_badge(row.level, size="small"))
        if row.exercise:
            head.append(html.Span("EXERCISE", className="alert-mark alert-exercise"))
        head.append(html.Span(row.title, className="history-title"))
        items.append(html.Li(id=f"history-{row.id}", className="history-row", children=[
            html.Div(head, className="history-head"),
            html.Div(f"fired {row.fired} · resolved {row.resolved} · lasted {row.lasted}",
                     className="history-times"),
            html.Div([html.Span(row.ack, className="history-ack" + (
                "" if row.acknowledged else " history-never")),
                html.Span(f" · told: {row.told}", className="history-told")]),
        ]))
    return [html.Ul(items, className="history-list")]


def render(view: AlertsView, shown: list[str], can_ack: bool,
           can_silence: bool) -> dict[str, Any]:
    bodies = {c.id: card_body(c) for c in view.alerts}
    parts: dict[str, Any] = {
        "alerts-note.children": note(view), "alerts-card.children": bodies,
        "alerts-silences.children": silences(view.silences, can_silence),
        "alerts-history.children": history(view.history)}
    if shown != [c.id for c in view.alerts]:  # first refresh, or other alerts now
        parts["alerts-active.children"] = skeleton(view.alerts, bodies, can_ack)
    return parts


def _not_shown(why: str) -> dict[str, Any]:
    """Nothing that could read as "no alerts": say why none are shown."""
    return {"alerts-note.children": [html.Div(
                [html.Strong("⚠ ALERTS NOT AVAILABLE"), html.Span(why, className="banner-detail")],
                className="banner banner-critical", role="alert")],
            "alerts-active.children": [], "alerts-silences.children": [],
            "alerts-history.children": []}


def _zone(context: DashboardContext) -> Any:
    try:
        return context.catalogue().timezone
    except ConfigError:
        return UK


def _done(text: str) -> html.Span:
    return html.Span(text, className="admin-ok")


def _refused(exc: Exception) -> html.Span:
    return html.Span(f"Nothing changed: {exc}", className="admin-error")


def _duration(text: str | None) -> float:
    """Seconds of a silence's "For": InvalidArgument in words when it does not read."""
    if not text or not text.strip():
        raise InvalidArgument("say for how long: a duration such as 30m or 2h (at most 7d)")
    try:
        seconds = parse_duration(text.strip())
    except ValueError as exc:
        raise InvalidArgument(f"for how long: {exc}") from None
    if seconds <= 0:
        raise InvalidArgument("a silence must last: a duration such as 30m or 2h")
    return float(seconds)


def register_callbacks(app: Dash, context: DashboardContext) -> None:
    def build(base: Base, wall: bool) -> dict[str, Any]:
        if base.store is None:  # the store is down and nothing was shown yet
            return _not_shown("the data store cannot be read")
        if base.alerts is None:
            error = base.status.alerts.error if base.status.alerts else None
            return _not_shown(error or "the alerts could not be read")
        book = AlertBook(base.store)
        view = build_alerts(base.alerts, base.catalogue, base.now, acks=book.acks(),
                            silences=book.silences(), resolved=book.resolved(HISTORY),
                            worker_running=base.status.worker == "running",
                            history=WALL_HISTORY if wall else HISTORY)
        return render(view, list(shown()), may("acknowledge", wall), may("silence", wall))

    def shown() -> tuple[str, ...]:
        """The alerts whose cards the page holds (their components' keys), in order."""
        found = dash.ctx.outputs_list[CARDS] if dash.ctx.outputs_list else []
        return tuple(i["id"]["key"] for i in found)

    def variant(wall: bool) -> tuple[Any, ...]:
        return shown(), may("acknowledge", wall), may("silence", wall)

    register_refresh(app, context, page=PAGE, title=TITLE, outputs=OUTPUTS, build=build,
                     variant=variant)
    protect_callback(context, ACK, needed("acknowledge"))
    protect_callback(context, SILENCE, needed("silence"))

    app.clientside_callback(SCROLL_TO_LINKED, Output("alerts-linked", "title"),
                            Input("alerts-active", "children"))

    @app.callback(Output({"type": "ack-result", "alert": MATCH}, "children"),
                  Input({"type": "ack-button", "alert": MATCH}, "n_clicks"),
                  State({"type": "ack-note", "alert": MATCH}, "value"),
                  prevent_initial_call=True)
    def acknowledge(clicks: int | None, text: str | None) -> Any:
        if not clicks:
            return no_update
        alert = dash.ctx.triggered_id["alert"]
        try:
            done = acknowledge_alert(context.store(), web_actor("page"), alert=alert,
                                     note=text or None)
        except Forbidden:  # already on the audit trail
            flask.abort(403)
        except (InvalidArgument, StoreUnavailable) as exc:
            return _refused(exc)
        when = uk_time(done.at, _zone(context), seconds=False)
        return _done(f"Acknowledged by {done.by} at {when} UK time: its escalation stops.")

    def match(kind: str) -> dict[str, Any]:
        return {"type": kind, "key": MATCH}

    @app.callback(Output(match("silence-result"), "children"),
                  Input(match("silence-create"), "n_clicks"),
                  *[State(match(f"silence-{f.replace('_', '-')}"), "value")
                    for f in SILENCE_FIELDS],
                  State(match("silence-duration"), "value"),
                  State(match("silence-reason"), "value"),
                  prevent_initial_call=True)
    def silence(clicks: int | None, *values: Any) -> Any:
        if not clicks:
            return no_update
        *fields, duration, reason = values
        matcher = {name: value.strip() if isinstance(value, str) else value
                   for name, value in zip(SILENCE_FIELDS, fields, strict=True)
                   if value is not None and (not isinstance(value, str) or value.strip())}
        try:
            actor = web_actor("page")
            ends = context.clock() + _duration(duration)
            made = create_silence(context.store(), actor, matcher=matcher, ends=ends,
                                  reason=reason or "")
        except Forbidden:  # already on the audit trail
            flask.abort(403)
        except (InvalidArgument, StoreUnavailable) as exc:
            return _refused(exc)
        until = uk_time(made.ends, _zone(context), seconds=False, now=context.clock())
        return _done(f"Silence {made.id} in force until {until} UK time: "
                     f"{matcher_words(made.matcher)}. Nobody is told of these alerts meanwhile.")

    @app.callback(Output({"type": "silence-end-result", "silence": MATCH}, "children"),
                  Input({"type": "silence-end", "silence": MATCH}, "n_clicks"),
                  State({"type": "silence-end-reason", "silence": MATCH}, "value"),
                  prevent_initial_call=True)
    def unsilence(clicks: int | None, reason: str | None) -> Any:
        if not clicks:
            return no_update
        which = dash.ctx.triggered_id["silence"]
        try:
            end_silence(context.store(), web_actor("page"), silence=which,
                        reason=reason or None)
        except Forbidden:  # already on the audit trail
            flask.abort(403)
        except (InvalidArgument, StoreUnavailable) as exc:
            return _refused(exc)
        return _done(f"Silence {which} ended: matching alerts notify again.")
