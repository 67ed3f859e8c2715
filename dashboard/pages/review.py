"""Review, "/review": what the record says about a window of time, for the debrief after a
hard night (surge.review; the same as `surge export --what report`).

Pick a window (last 24 hours, last night 19:00 to 07:00, last 7 days, or from/to in UK
time; ``/review?around=EPOCH`` opens the four hours around a moment, as each event's link
does). The page shows the levels as steps (trust calculated and declared, each function)
with alerts and notes marked, each function's key figures, time at each level, and every
event in a sortable, filterable table; it links the window's exports, and "as the wall
showed it" (/review/wall, dashboard/pages/asof.py) at each event and at the window's end.
Duty managers and above add a note at a time or over a span: surge.actions.annotate as the
signed-in user; the guard refuses anyone else (the "note-" outputs), and the action checks
again. On a wall screen (``?wall=1``, or signed in as one) it runs unattended: no picker,
filters, exports or note form, the story only. Everything is read from the whole record
(context.history(): the store's hot window and the archive); notes are written to the store.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import urlencode

import dash
import dash_ag_grid as dag
import flask
from dash import ALL, MATCH, Dash, Input, Output, State, dcc, html, no_update

from dashboard.auth import protect_callback, role_required, web_actor
from dashboard.context import DashboardContext, current
from dashboard.formatting import UK, format_span
from dashboard.pages._support import Base, may, page_layout, register_refresh
from dashboard.report import (
    chart_traces,
    levels_figure,
    metric_figure,
    render_html,
    render_pdf,
)
from dashboard.sessions import current_principal
from dashboard.views.review import MAX_WINDOW, PRESETS, local_time_of, my_notes, window_of
from surge.actions import Conflict, Forbidden, InvalidArgument, annotate
from surge.auth import needed
from surge.catalogue import Catalogue
from surge.declarations import MAX_TEXT
from surge.errors import ConfigError, StoreUnavailable, SurgeError
from surge.review import (
    Review,
    event_subject,
    events_csv,
    read_review,
    review_series,
    samples_csv_parts,
)
from surge.timefmt import uk_iso

dash.register_page(__name__, path="/review", name="Review", title="Surge — Review", order=7,
                   role="viewer")

PAGE = "review"
TITLE = "Post-incident review"
NOTE = "note-"  # every output of the note form: the annotate action's role
MINE = "mine-note"  # the choice of one's own notes to change (read-only: not protected)
FORM = "form"
EXPORTS = (("samples", "csv", "Samples (CSV)"), ("events", "csv", "Events (CSV)"),
           ("report", "html", "Report (HTML)"), ("report", "pdf", "Report (PDF)"))
_THEME = {"function": "themeQuartz.withPart(agGrid.colorSchemeDark)"}
EXPORTS_AT_ONCE = 2  # per web process: a report may start Chromium, a month of samples is big


def _id(kind: str, key: str = FORM) -> dict[str, str]:
    return {"type": kind, "key": key}


# --- the layout ------------------------------------------------------------------------------


def layout(wall: str | None = None, around: str | None = None, start: str | None = None,
           end: str | None = None, **_query: Any) -> html.Div:
    context = current()
    on_wall = wall == "1" or current_principal().kind == "screen"
    # (their options come with the window: the layout reads nothing, not even the rules)
    # On a wall screen the controls are hidden, not left out: they give the window.
    filters = html.Div(className="review-picker", hidden=on_wall, children=[
        dcc.Dropdown(id="review-function", options=[], placeholder="every function",
                     className="review-preset"),
        dcc.Dropdown(id="review-site", options=[], placeholder="every site",
                     className="review-preset"),
    ])
    picker = html.Div(className="review-picker", hidden=on_wall, children=[
        dcc.Dropdown(id="review-preset", options=[{"label": v, "value": k}
                                                 for k, v in PRESETS.items()],
                     value="24h", clearable=False, className="review-preset"),
        dcc.Input(id="review-from", type="text", placeholder="From: 2026-10-24 19:00",
                  value=start or "", debounce=True, className="silence-input"),
        dcc.Input(id="review-to", type="text", placeholder="To: 2026-10-25 07:00",
                  value=end or "", debounce=True, className="silence-input"),
        html.Button("Show", id="review-show", className="admin-button"),
        dcc.Store(id="review-around", data=around),
    ])
    regions: list[Any] = [
        html.Section(className="panel review-picker-panel", children=[
            html.H2("Window", className="panel-title"), picker,
            html.Div(id="review-window", className="review-window", role="status"),
            html.Div(id="review-downloads", className="review-downloads")]),
        html.Section(className="panel", children=[
            html.H2("Summary", className="panel-title"), html.Div(id="review-summary")]),
        html.Section(className="panel", children=[
            html.H2("Levels", className="panel-title"),
            html.P("Steps of the calculated levels and the declared trust level (dashed); "
                   "◆ a declaration, ▲ an alert fired, ■ a note.", className="control-note"),
            dcc.Graph(id="review-levels", config={"displayModeBar": False}),
            html.Div(id="review-time-at")]),
        # a wall screen is one screen high and nobody scrolls it: the story (window,
        # summary, levels, notes) without the figures and the table, made to be explored
        html.Section(className="panel", hidden=on_wall, children=[
            html.H2("Key figures (trust)", className="panel-title"),
            html.Div(id="review-figures")]),
        html.Section(className="panel", hidden=on_wall, children=[
            html.H2("Events", className="panel-title"), filters,
            dag.AgGrid(id="review-grid", rowData=[], columnDefs=[
                {"field": "when", "headerName": "When (UK)", "width": 210, "sort": "asc"},
                {"field": "kind", "width": 170},
                {"field": "about", "width": 200},
                {"field": "what", "flex": 1, "wrapText": True, "autoHeight": True},
                {"field": "around", "headerName": "", "width": 90, "cellRenderer": "markdown",
                 "sortable": False, "filter": False},
                {"field": "wall", "headerName": "As the wall showed it", "width": 170,
                 "cellRenderer": "markdown", "sortable": False, "filter": False}],
                defaultColDef={"sortable": True, "filter": True, "resizable": True},
                dashGridOptions={"theme": _THEME, "pagination": True,
                                 "paginationPageSize": 50, "animateRows": False},
                className="review-grid", style={"height": "620px", "width": "100%"})]),
        html.Section(className="panel", children=[
            html.H2("Notes", className="panel-title"), html.Div(id="review-notes"),
            *([note_form()] if may("annotate", on_wall) else [])]),
        html.Div(id="review-live", hidden=True),
        dcc.Store(id="review-mine", data=[]),  # the signed-in user's notes in the window
    ]
    return page_layout(context, PAGE, TITLE, regions, wall=on_wall)


def note_form() -> html.Div:
    def field(label: str, control: Any) -> html.Label:
        return html.Label([html.Span(label, className="silence-label"), control],
                          className="silence-field")

    return html.Div(className="silence-form", id="note-form", children=[
        html.H3("Add a note (duty manager)", className="checklist-title"),
        html.Div(className="silence-fields", children=[
            field("Note (required)", dcc.Input(id=_id("note-text"), type="text",
                                               maxLength=MAX_TEXT, className="silence-input",
                                               placeholder="e.g. HALO on scene at RVX")),
            field("At (UK time; blank: now)", dcc.Input(
                id=_id("note-at"), type="text", className="silence-input",
                placeholder="2026-10-24 21:40")),
            field("Until (a span; optional)", dcc.Input(
                id=_id("note-until"), type="text", className="silence-input",
                placeholder="2026-10-24 22:30")),
            field("About (optional)", dcc.Input(id=_id("note-about"), type="text",
                                                maxLength=200, className="silence-input",
                                                placeholder="a site, a function, a feed")),
            field("Or change my note (its text only)", dcc.Dropdown(
                id=_id(MINE), options=[], placeholder="— none: add a new note —",
                className="review-preset")),
        ]),
        html.Button("Add or change note", id=_id("note-add"), className="admin-button"),
        html.Div(id=_id("note-result"), className="admin-result", role="status"),
    ])


# --- what the page shows ---------------------------------------------------------------------


def summary(review: Review, catalogue: Catalogue) -> list:
    levels = {lv.number: lv for lv in catalogue.levels}

    def badge(number: int | None) -> Any:
        level = levels.get(number) if number is not None else None
        if level is None:
            return html.Span("not known" if number is None else str(number),
                             className="review-badge unknown")
        return html.Span(f"{level.number} {level.name}", className="review-badge",
                         style={"background": level.colour})

    median, worst, never = review.ack_times()
    rows = [
        ("Highest calculated trust level", badge(review.levels[0].highest)),
        ("Highest declared trust level", badge(review.declared.highest)
         if review.declared.highest is not None else "none declared"),
        ("Alerts", f"{len(review.alerts)} ({never} not acknowledged in the window)"),
        ("Time to acknowledge", f"median {format_span(median)}, longest {format_span(worst)}"
         if median is not None and worst is not None else "none acknowledged"),
        ("Declarations", str(len(review.declarations))),
        ("Actions confirmed", str(len(review.actions))),
        ("Notes", str(len(review.annotations))),
    ]
    marks = [html.Div("EXERCISE: this window holds an exercise's simulated data and events",
                      className="banner banner-exercise")] if review.exercise else []
    return [*marks, html.Dl([part for label, value in rows
                             for part in (html.Dt(label), html.Dd(value))],
                            className="alert-facts review-facts")]


def time_at(review: Review, catalogue: Catalogue) -> html.Table:
    numbers = [lv.number for lv in catalogue.levels]
    head = html.Tr([html.Th(""), *[html.Th(f"{lv.number} {lv.name}") for lv in catalogue.levels],
                    html.Th("none declared / not known")])
    body = []
    for steps in (*review.levels, review.declared):
        spent = steps.time_at()
        body.append(html.Tr([html.Td(steps.label),
                             *[html.Td(format_span(spent[n]) if spent.get(n) else "")
                               for n in numbers],
                             html.Td(format_span(spent[None]) if spent.get(None) else "")]))
    return html.Table([html.Thead(head), html.Tbody(body)], className="review-table")


def event_rows(review: Review, function: str | None, site: str | None) -> list[dict[str, Any]]:
    rows = []
    for event in review.events:
        about = event_subject(event)
        if function and not about.startswith(function):
            continue
        if site and f"@{site}" not in about and about != site:
            continue
        rows.append({"when": uk_iso(event.ts, sep=" "), "kind": event.kind,
                     "about": about, "what": event.describe()
                     + (" [EXERCISE]" if event.exercise else ""),
                     "around": f"[around](/review?around={event.ts:.0f})",
                     "wall": f"[the wall then]({wall_link(event.ts)})"})
    return rows


def note_list(review: Review) -> list:
    if not review.annotations:
        return [html.P("No notes about this window.", className="alerts-empty")]
    items = []
    for note in review.annotations:
        when = uk_iso(note.at, sep=" ") + (
            f" to {uk_iso(note.until, ' ')}" if note.until else "")
        changed = f" · changed {note.changes}×" if note.changes else ""
        items.append(html.Li([html.Span(when, className="silence-until"), " ",
                              html.Strong(note.text),
                              html.Span(f" — {note.by}" + (f" on {note.about}" if note.about
                                                            else "") + f" · {note.note}"
                                        + changed, className="silence-by")],
                             id=f"note-{note.note}", className="silence"))
    return [html.Ul(items, className="silence-list")]


def wall_link(at: float) -> str:
    """The strategic page as the wall showed it at ``at`` (dashboard/pages/asof.py); the
    second after, so what was recorded within that second is in it."""
    return f"/review/wall?at={math.ceil(at)}"


def window_end(end: float) -> list:
    return [html.A("As the wall showed it at the window's end", href=wall_link(end),
                   id="review-wall-link", className="review-wall-link")]


def downloads(start: float, end: float) -> list:
    links = []
    for what, fmt, label in EXPORTS:
        query = urlencode({"what": what, "format": fmt, "start": f"{start:.0f}",
                           "end": f"{end:.0f}"})
        links.append(html.A(label, href=f"/review/export?{query}", className="admin-button",
                            download="", target="_blank"))
    return [html.Span("Export this window: ", className="control-note"), *links]


# --- callbacks and the export route ----------------------------------------------------------


def register_callbacks(app: Dash, context: DashboardContext) -> None:
    def build(base: Base, wall: bool) -> dict[str, Any]:
        return {"review-live.children": ""}  # the header and watchdog; the review is below

    register_refresh(app, context, page=PAGE, title=TITLE, outputs=["review-live.children"],
                     build=build)
    protect_callback(context, NOTE, needed("annotate"))

    def zone() -> tzinfo:
        try:
            return context.catalogue().timezone
        except ConfigError:
            return UK

    @app.callback(Output("review-window", "children"), Output("review-summary", "children"),
                  Output("review-levels", "figure"), Output("review-time-at", "children"),
                  Output("review-figures", "children"), Output("review-grid", "rowData"),
                  Output("review-notes", "children"), Output("review-downloads", "children"),
                  Output("review-function", "options"), Output("review-site", "options"),
                  Output("review-mine", "data"),
                  Input("review-preset", "value"), Input("review-show", "n_clicks"),
                  Input("review-function", "value"), Input("review-site", "value"),
                  State("review-from", "value"), State("review-to", "value"),
                  State("review-around", "data"), State("review-mode", "data"))
    def show(preset: str | None, _clicks: int | None, function: str | None, site: str | None,
             start: str | None, end: str | None, around: str | None,
             mode: dict[str, Any] | None) -> tuple:
        if dash.ctx.triggered_id == "review-preset":
            start = end = around = None  # a preset replaces a typed or linked window
        elif dash.ctx.triggered_id == "review-show":
            around = None  # what was typed replaces a linked window
        try:
            catalogue = context.catalogue()
            t1, t2 = window_of(preset, start, end, around, context.clock(), zone())
            record = context.history()
            review = read_review(record, catalogue, t1, t2)
            drawn = chart_traces(review, record, catalogue)  # every chart's, in one read
            figures = [dcc.Graph(figure=f, config={"displayModeBar": False})
                       for f_id in [f.id for f in catalogue.functions
                                    if function in (None, f.id)]
                       if (f := metric_figure(review, catalogue, f_id, drawn, paper=False))]
        except (ValueError, ConfigError, StoreUnavailable) as exc:
            problem = html.Div([html.Strong("⚠ Nothing shown: "), str(exc)],
                               className="banner banner-critical", role="alert")
            return (problem, [], {}, [], [], [], [], [], [], [], [])
        span = [f"From {uk_iso(t1, ' ')} to {uk_iso(t2, ' ')} ({format_span(t2 - t1)}) · ",
                *window_end(t2)]
        wall = bool((mode or {}).get("wall"))
        return (span, summary(review, catalogue), levels_figure(review, catalogue, paper=False),
                time_at(review, catalogue), figures, event_rows(review, function, site),
                note_list(review), [] if wall else downloads(t1, t2),
                [{"label": f.label, "value": f.id} for f in catalogue.functions],
                [{"label": f"{s.code} {s.name}", "value": s.code}
                 for s in catalogue.sites.values()],
                my_notes(review.annotations, current_principal().name or ""))

    @app.callback(Output(_id(MINE, ALL), "options"), Input("review-mine", "data"),
                  State(_id(MINE, ALL), "id"))
    def offer_mine(mine: list[dict[str, str]] | None, forms: list[Any]) -> list[Any]:
        return [mine or [] for _ in forms]

    @app.callback(Output(_id("note-result", MATCH), "children"),
                  Input(_id("note-add", MATCH), "n_clicks"),
                  State(_id("note-text", MATCH), "value"), State(_id("note-at", MATCH), "value"),
                  State(_id("note-until", MATCH), "value"),
                  State(_id("note-about", MATCH), "value"), State(_id(MINE, MATCH), "value"),
                  prevent_initial_call=True)
    def add_note(clicks: int | None, text: str | None, at: str | None, until: str | None,
                 about: str | None, change: str | None) -> Any:
        if not clicks:
            return no_update
        try:
            actor = web_actor("page")
            made = annotate(context.store(), actor, text=text or "",
                            at=local_time_of(at, "At", zone()) if at and at.strip() else None,
                            until=local_time_of(until, "Until", zone()) if until and until.strip()
                            else None, about=about or None, note=change or None)
        except Forbidden:  # already on the audit trail
            flask.abort(403)
        except (InvalidArgument, Conflict, ValueError, StoreUnavailable) as exc:
            return html.Span(f"Nothing changed: {exc}", className="admin-error")
        if change:
            return html.Span(f"Note {made.note} changed by {made.record['by']}: every "
                             f"version is kept. Show the window again to see it.",
                             className="admin-ok")
        return html.Span(f"Note {made.note} added by {made.record['by']} about "
                         f"{uk_iso(made.record['at'], ' ')}. Show the window "
                         f"again to see it on the timeline.", className="admin-ok")

    exporting = threading.BoundedSemaphore(EXPORTS_AT_ONCE)

    @role_required(needed("view"))
    def export() -> flask.Response:
        if not exporting.acquire(blocking=False):
            busy = _plain(429, f"{EXPORTS_AT_ONCE} exports are being made already: try again "
                               f"in a minute")
            busy.headers["Retry-After"] = "30"
            return busy
        release = _Once(exporting.release)
        try:
            response = make_export(release)
        except BaseException:
            release()
            raise
        if response.is_streamed:  # held until sent whole, or the download dropped
            response.call_on_close(release)
        else:
            release()
        return response

    def make_export(done: Callable[[], None]) -> flask.Response:
        args = flask.request.args
        what, fmt = args.get("what", ""), args.get("format", "")
        if (what, fmt) not in {(w, f) for w, f, _ in EXPORTS}:
            return _plain(400, "what and format must be one of: " + ", ".join(
                f"{w} {f}" for w, f, _ in EXPORTS))
        try:
            t1, t2 = float(args.get("start", "")), float(args.get("end", ""))
        except ValueError:
            return _plain(400, "start and end must be times (epoch seconds)")
        if not (math.isfinite(t1) and math.isfinite(t2)) or t2 <= t1 or t2 - t1 > MAX_WINDOW:
            return _plain(400, f"end must be after start, at most {MAX_WINDOW / 86400:.0f} "
                               f"days later")
        try:
            catalogue, record = context.catalogue(), context.history()
            name = f"surge-{what}-{datetime.fromtimestamp(t1, UK):%Y%m%d-%H%M}"
            if what == "samples":  # streamed: a long window is never held whole
                parts = samples_csv_parts(record, review_series(catalogue), t1, t2)
                return _file(_streamed(parts, done), "text/csv", f"{name}.csv")
            review = read_review(record, catalogue, t1, t2)
            if what == "events":
                out = io.StringIO()
                events_csv(review.events, out)
                return _file(out.getvalue().encode(), "text/csv", f"{name}.csv")
            document = render_html(review, record, catalogue, generated=context.clock())
            if fmt == "html":
                return _file(document.encode(), "text/html", f"{name}.html")
            return _file(render_pdf(document), "application/pdf", f"{name}.pdf")
        except (ConfigError, StoreUnavailable) as exc:
            return _plain(503, f"the record cannot be read: {exc}")
        except SurgeError as exc:  # no Chromium for a PDF
            return _plain(503, str(exc))

    app.server.add_url_rule("/review/export", "review_export", export, methods=["GET"])


class _Once:
    """Calls ``action`` the first time it is called, from whichever thread."""

    def __init__(self, action: Callable[[], None]) -> None:
        self._action = action
        self._lock = threading.Lock()
        self._done = False

    def __call__(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._action()


def _streamed(parts: Iterator[tuple[str, int]], done: Callable[[], None]) -> Iterator[bytes]:
    try:
        for text, _ in parts:
            yield text.encode()
    finally:
        done()


def _plain(status: int, text: str) -> flask.Response:
    return flask.Response(text + "\n", status=status, mimetype="text/plain")


def _file(data: bytes | Iterator[bytes], mimetype: str, name: str) -> flask.Response:
    return flask.Response(data, mimetype=mimetype,
                          headers={"Content-Disposition": f'attachment; filename="{name}"',
                                   "Cache-Control": "no-store"})
