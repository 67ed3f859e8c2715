"""The post-incident report: one self-contained HTML file (it opens offline: styles, data and
the charting library are inside it), and the same printed to PDF by headless Chromium.

Built from surge.review (the record, never a screenshot). Drawn with the figures the pages
use, recoloured for paper: a governance lead attaches it to a Board paper.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import plotly.io as pio

from dashboard.figures import level_timeline, uk_ticks
from dashboard.formatting import format_span
from surge.catalogue import TRUST, Catalogue, Level, Metric
from surge.errors import SurgeError
from surge.history import Record
from surge.review import Review, Steps, Trace, traces
from surge.timefmt import UK, uk_iso

__all__ = ["chart_traces", "key_figures", "levels_figure", "metric_figure", "render_html",
           "render_pdf"]

INK = "#1b1f24"
GRID = "#d0d7de"
PDF_TIMEOUT = 120.0  # seconds Chromium may take to print a report


def render_html(review: Review, record: Record, catalogue: Catalogue, *, generated: float) -> str:
    """The report of ``review`` as one HTML document."""
    levels = {lv.number: lv for lv in catalogue.levels}
    parts = [_head(review, generated), _summary(review, levels), "<h2>Levels</h2>",
             _chart(levels_figure(review, catalogue, paper=True), first=True),
             _time_at_levels(review, levels), "<h2>Key figures</h2>",
             *_metric_charts(review, record, catalogue), _declarations(review),
             _alerts(review), _actions(review), _annotations(review), _rules(review),
             _event_log(review), "</main></body></html>"]
    return "\n".join(parts)


def render_pdf(document: str) -> bytes:
    """The report printed to PDF by headless Chromium; SurgeError saying so when it is not
    installed or fails."""
    chromium = next((shutil.which(name) for name in ("chromium", "chromium-browser",
                                                     "google-chrome") if shutil.which(name)),
                    None)
    if chromium is None:
        raise SurgeError("a PDF report needs headless Chromium, which is not installed here "
                         "(Debian: apt install chromium); --format html gives the same "
                         "report, which a browser can print")
    with tempfile.TemporaryDirectory(prefix="surge-report-") as folder:
        source, pdf = Path(folder) / "report.html", Path(folder) / "report.pdf"
        source.write_text(document, encoding="utf-8")
        command = [chromium, "--headless", "--disable-gpu", "--no-first-run",
                   "--disable-background-networking", "--no-pdf-header-footer",
                   f"--user-data-dir={folder}/profile", "--virtual-time-budget=20000",
                   f"--print-to-pdf={pdf}", source.as_uri()]
        if os.geteuid() == 0:
            command.insert(1, "--no-sandbox")  # Chromium refuses to run as root otherwise
        try:
            done = subprocess.run(command, capture_output=True, timeout=PDF_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise SurgeError(f"Chromium took over {PDF_TIMEOUT:.0f} s to print the report") \
                from None
        if not pdf.exists() or pdf.stat().st_size == 0:
            why = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise SurgeError("Chromium did not print the report: " + " / ".join(why))
        return pdf.read_bytes()


# --- text ---------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text))


def _when(ts: float) -> str:
    """Sat 24 Oct 2026 19:00:00 BST."""
    return datetime.fromtimestamp(ts, UK).strftime("%a %d %b %Y %H:%M:%S %Z")


def _badge(number: int | None, levels: dict[int, Level]) -> str:
    """A level as number, name and colour together; not known is said, never shown as 1."""
    level = levels.get(number) if number is not None else None
    if level is None:
        return '<span class="badge unknown">not known</span>'
    return (f'<span class="badge" style="background:{level.colour}">{level.number} '
            f'{_e(level.name)}</span>')


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    if not rows:
        return f'<p class="none">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _head(review: Review, generated: float) -> str:
    exercise = ('<p class="exercise">EXERCISE: this window holds an exercise\'s simulated '
                'data and events</p>') if review.exercise else ""
    return f"""<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8">
<title>Surge review {_e(uk_iso(review.start))} to {_e(uk_iso(review.end))}</title>
<style>{STYLE}</style></head><body><main>
<h1>Surge post-incident review</h1>
{exercise}
<p class="window">From <b>{_e(_when(review.start))}</b> to <b>{_e(_when(review.end))}</b>
({_e(format_span(review.end - review.start))}). Times are UK local time; the record is kept
in UTC.</p>
<p class="generated">Made from the record {_e(_when(generated))}. Calculated levels advise;
the declared level is the decision.</p>"""


def _summary(review: Review, levels: dict[int, Level]) -> str:
    trust = review.levels[0]
    median, worst, never = review.ack_times()
    acks = (f"median {format_span(median)}, longest {format_span(worst)}"
            if median is not None and worst is not None else "none acknowledged")
    rows = [
        ["Highest calculated trust level", _badge(trust.highest, levels)],
        ["Highest declared trust level", _badge(review.declared.highest, levels)
         if review.declared.highest is not None else "none declared"],
        ["Alerts", f"{len(review.alerts)} ({never} not acknowledged in the window)"],
        ["Time to acknowledge", _e(acks)],
        ["Declarations", str(len(review.declarations))],
        ["Actions confirmed", str(len(review.actions))],
        ["Annotations", str(len(review.annotations))],
    ]
    return "<h2>Summary</h2>" + _table(["", ""], rows, "")


def _time_at_levels(review: Review, levels: dict[int, Level]) -> str:
    numbers = sorted(levels)
    rows = []
    for steps in (*review.levels, review.declared):
        spent = steps.time_at()
        unknown = spent.get(None, 0.0)
        rows.append([_e(steps.label),
                     *[_e(format_span(spent[n])) if spent.get(n) else "" for n in numbers],
                     _e(format_span(unknown)) if unknown else ""])
    headers = ["", *[f"{n} {levels[n].name}" for n in numbers],
               "none declared / not known"]
    return "<h3>Time at each level</h3>" + _table(headers, rows, "")


def _declarations(review: Review) -> str:
    rows = []
    for event in review.declarations:
        level = getattr(event, "level", "")
        what = "declared" if event.kind == "declared" else "withdrew"
        calc = getattr(event, "calculated", None)
        rows.append([_e(_when(event.ts)), _e(f"{what} {level}"), _e(event.by),
                     _e("" if calc is None else calc), _e(getattr(event, "reason", ""))])
    return "<h2>Declarations</h2>" + _table(
        ["When", "What", "By", "Calculated then", "Reason"], rows,
        "No level was declared or withdrawn in this window.")


def _alerts(review: Review) -> str:
    rows = [[_e(_when(a.fired)), _e(a.name), _e(a.severity), _e(a.summary),
             _e(f"{a.by} after {format_span(a.ack_seconds)}") if a.ack_seconds is not None
             else '<b class="warn">not acknowledged</b>',
             _e(a.escalations), _e(_when(a.resolved)) if a.resolved else ""]
            for a in review.alerts]
    return "<h2>Alerts</h2>" + _table(
        ["Fired", "About", "Severity", "Summary", "Acknowledged", "Escalations", "Resolved"],
        rows, "No alert fired in this window.")


def _actions(review: Review) -> str:
    rows = [[_e(_when(a.ts)), _e(a.name), _e(a.level), _e(a.action), _e(a.by), _e(a.note)]
            for a in review.actions]
    return "<h2>Actions confirmed</h2>" + _table(
        ["When", "Checklist", "Level", "Action", "By", "Note"], rows,
        "No action was confirmed in this window.")


def _annotations(review: Review) -> str:
    rows = []
    for note in review.annotations:
        when = _when(note.at) + (f" to {_when(note.until)}" if note.until else "")
        changed = f" (changed {note.changes} time{'s' if note.changes > 1 else ''} by its " \
                  f"author; every version is on record)" if note.changes else ""
        rows.append([_e(when), _e(note.by), _e(note.about or ""), _e(note.text + changed)])
    return "<h2>Annotations</h2>" + _table(["About the time", "By", "About", "Note"], rows,
                                           "No annotations in this window.")


def _rules(review: Review) -> str:
    rows = [[_e(_when(ts)), _e(version[:12]), _e(source or "(not on record)")]
            for ts, version, source in review.rules]
    return "<h2>Rules in force</h2>" + _table(["From", "Version", "File"], rows,
                                              "No rules loading is on record before or in "
                                              "this window.")


def _event_log(review: Review) -> str:
    rows = [[_e(uk_iso(e.ts, sep=" ")), _e(e.kind), _e(e.describe())
             + (" <b>[EXERCISE]</b>" if e.exercise else "")] for e in review.events]
    return "<h2>Event log</h2>" + _table(["When (UK, with UTC offset)", "Kind", "What"], rows,
                                         "Nothing was recorded in this window.")


# --- charts -------------------------------------------------------------------------------


def _chart(figure: dict[str, Any], *, first: bool = False) -> str:
    """A figure as HTML; the first one carries the charting library itself (offline)."""
    return pio.to_html(figure, include_plotlyjs=first, full_html=False,
                       config={"displayModeBar": False, "responsive": True})


def _on_paper(figure: dict[str, Any]) -> dict[str, Any]:
    """A page figure recoloured for white paper."""
    layout = figure["layout"]
    layout["font"] = {**layout.get("font", {}), "color": INK}
    for key, axis in layout.items():
        if key.startswith(("xaxis", "yaxis")) and isinstance(axis, dict) and "gridcolor" in axis:
            axis["gridcolor"] = GRID
    for trace in figure["data"]:
        line = trace.get("line")
        if isinstance(line, dict) and line.get("color") in ("#f4f7fa", None):
            line["color"] = INK
    return figure


def _steps_xy(steps: Steps) -> tuple[list[float], list[int | None]]:
    return list(steps.ts), list(steps.levels)


def levels_figure(review: Review, catalogue: Catalogue, *, paper: bool) -> dict[str, Any]:
    """The levels of the window as steps (trust, declared, each function), declarations as
    diamonds, and a mark for every alert fired and note; on paper, or in the pages' colours."""
    marks = [(e.ts, getattr(e, "level", 0), f"{datetime.fromtimestamp(e.ts, UK):%H:%M} "
              f"{e.describe()}") for e in review.declarations if e.kind == "declared"]
    figure = level_timeline([(s.label, *_steps_xy(s)) for s in review.levels],
                            _steps_xy(review.declared), marks,
                            [(lv.number, lv.name, lv.colour) for lv in catalogue.levels],
                            review.start, review.end, height=110 + 70 * len(review.levels))
    happened = [(a.fired, "triangle-up", f"alert: {a.name}: {a.summary}") for a in review.alerts]
    happened += [(n.at, "square", f"note by {n.by}: {n.text}") for n in review.annotations]
    if happened:
        figure["data"].append({
            "type": "scatter", "x": [h[0] for h in happened], "y": [0.75] * len(happened),
            "mode": "markers", "yaxis": "y", "name": "alerts and notes",
            "marker": {"symbol": [h[1] for h in happened], "size": 11, "color": "#4aa3ff",
                       "line": {"color": "#000", "width": 1}},
            "text": [h[2][:200] for h in happened], "hovertemplate": "%{text}<extra></extra>"})
    _ticks(figure, review)
    return _on_paper(figure) if paper else figure


def _ticks(figure: dict[str, Any], review: Review) -> None:
    """Time ticks suited to the window's length (every 1 h up to a day, then wider)."""
    hours = review.hours
    step = 1 if hours <= 14 else 3 if hours <= 48 else 12 if hours <= 24 * 8 else 24 * 7
    values, labels = uk_ticks(review.start, review.end, min(step, 24))
    if step > 24:
        values, labels = values[::7], labels[::7]
    if hours > 24:  # name the day
        labels = [datetime.fromtimestamp(v, UK).strftime("%d %b ") + text
                  for v, text in zip(values, labels, strict=True)]
    figure["layout"]["xaxis"].update(tickvals=values, ticktext=labels)


def _metric_charts(review: Review, record: Record, catalogue: Catalogue) -> list[str]:
    """Per function, its key figures for the trust over the window (every peak kept)."""
    drawn = chart_traces(review, record, catalogue)
    return [_chart(figure) for function in catalogue.functions
            if (figure := metric_figure(review, catalogue, function.id, drawn, paper=True))]


def key_figures(catalogue: Catalogue, function_id: str) -> list[Metric]:
    """The trust-wide figures a function's chart shows: its key metrics, else all."""
    metrics = [m for m in catalogue.metrics_of(function_id) if TRUST in m.scopes]
    return [m for m in metrics if m.key] or metrics


def chart_traces(review: Review, record: Record, catalogue: Catalogue
                 ) -> dict[tuple[str, str], Trace]:
    """What every function's chart draws, in one read of the record."""
    wanted = [(m.id, TRUST) for f in catalogue.functions for m in key_figures(catalogue, f.id)]
    return traces(record, wanted, review.start, review.end)


def metric_figure(review: Review, catalogue: Catalogue, function_id: str,
                  drawn: Mapping[tuple[str, str], Trace], *, paper: bool
                  ) -> dict[str, Any] | None:
    """One function's key figures for the trust over the window, one row each, every peak
    kept (None: it reports none for the trust), from ``drawn`` (chart_traces: every
    function's, read at once). A window over 3 days is drawn from rollups: the band from
    each bucket's lowest to highest sample, and its mean."""
    function = next(f for f in catalogue.functions if f.id == function_id)
    shown = key_figures(catalogue, function_id)
    if not shown:
        return None
    ink, grid = (INK, GRID) if paper else ("#f4f7fa", "#263140")
    data: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    layout: dict[str, Any] = {
        "template": {}, "height": 90 + 120 * len(shown), "showlegend": False,
        "paper_bgcolor": "white" if paper else "rgba(0,0,0,0)",
        "plot_bgcolor": "white" if paper else "rgba(0,0,0,0)",
        "font": {"color": INK if paper else "#c9d1da", "size": 12},
        "margin": {"l": 60, "r": 10, "t": 30, "b": 30},
        "title": {"text": function.label, "x": 0, "font": {"size": 15}}}
    gap = 0.06
    size = (1 - gap * (len(shown) - 1)) / len(shown)
    for i, metric in enumerate(shown):
        axis = "" if i == 0 else str(i + 1)
        top = 1 - i * (size + gap)
        got = drawn[(metric.id, TRUST)]
        layout[f"yaxis{axis}"] = {"domain": [top - size, top], "gridcolor": grid,
                                  "zeroline": False, "title": {"text": metric.unit}}
        layout[f"xaxis{axis}"] = {"range": [review.start, review.end], "anchor": f"y{axis}",
                                  "showticklabels": i == len(shown) - 1,
                                  "gridcolor": grid, "matches": "x" if i else None}
        on = {"xaxis": f"x{axis}", "yaxis": f"y{axis}"}
        if got.low is not None and got.high is not None:
            band = "rgba(27,31,36,0.18)" if paper else "rgba(244,247,250,0.22)"
            data.append({"type": "scatter", "x": got.ts.tolist(), "y": got.low.tolist(),
                         "mode": "lines", "line": {"width": 0}, "hoverinfo": "skip", **on})
            data.append({"type": "scatter", "x": got.ts.tolist(), "y": got.high.tolist(),
                         "mode": "lines", "line": {"width": 0}, "fill": "tonexty",
                         "fillcolor": band, "name": f"{metric.label} (range)",
                         "hovertemplate": f"highest: %{{y}} {metric.unit}<extra></extra>", **on})
        data.append({"type": "scatter", "x": got.ts.tolist(), "y": got.values.tolist(),
                     "mode": "lines", "line": {"color": ink, "width": 1.6}, **on,
                     "name": metric.label,
                     "hovertemplate": f"{metric.label}{' (mean)' if got.step else ''}: "
                                      f"%{{y}} {metric.unit}<extra></extra>"})
        resolution = "" if got.step is None else (
            f" — {'hourly' if got.step == 3600 else '5-minute'} mean, band: lowest to highest")
        notes.append(
            {"text": f"{metric.label}" + (resolution if len(got) else
                                          " — no data in this window"),
             "xref": "paper", "yref": f"y{axis} domain", "x": 0, "y": 1.0,
             "xanchor": "left", "yanchor": "bottom", "showarrow": False,
             "font": {"size": 12}})
    layout["annotations"] = notes
    figure = {"data": data, "layout": layout}
    _ticks_all(figure, review, len(shown))
    return figure


def _ticks_all(figure: dict[str, Any], review: Review, rows: int) -> None:
    holder: dict[str, Any] = {"layout": {"xaxis": {}}}
    _ticks(holder, review)
    for i in range(rows):
        axis = "xaxis" if i == 0 else f"xaxis{i + 1}"
        figure["layout"][axis].update(holder["layout"]["xaxis"])


STYLE = """
body { font-family: "Segoe UI", Arial, sans-serif; color: #1b1f24; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 26px; margin: 0 0 8px; } h2 { font-size: 20px; margin: 28px 0 8px;
  border-bottom: 2px solid #1b1f24; } h3 { font-size: 16px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; page-break-inside: auto; }
th, td { border: 1px solid #c4ccd4; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #eef1f4; } tr { page-break-inside: avoid; }
.badge { display: inline-block; padding: 2px 8px; border-radius: 4px; color: #fff;
  font-weight: 700; text-shadow: 0 0 2px #000; }
.badge.unknown { background: #6b7480; }
.exercise { background: #7b2cbf; color: #fff; font-weight: 700; padding: 6px 10px; }
.none { color: #4a525c; font-style: italic; } .warn { color: #b00020; }
.window, .generated { font-size: 14px; }
@media print { main { padding: 0; } h2 { page-break-after: avoid; } }
"""
