"""Calculated surge levels on screen: number, name and colour always together, and why.

Every badge carries ``data-level`` (the number, or "none"), ``data-stale`` (the engine's
stale flag) and ``data-state`` (live, stale, not-live or missing) for browser tests. Only a
live badge is painted in its level's colour; a stale or not-updating one keeps the colour
on its number only, on a hatched grey ground, with the reason it is not live in words.
These are calculated levels (advice): nothing here may read as a declared level.
"""

from __future__ import annotations

from dash import html

from dashboard.levels import LevelView, PendingView
from dashboard.views.header import DeclaredView

__all__ = ["declared_badge", "declared_level", "level_badge", "level_why", "overall_level",
           "panel_head", "site_level"]


def _data(view: LevelView) -> dict[str, str]:
    return {
        "data-level": "none" if view.number is None else str(view.number),
        "data-stale": "true" if view.engine_stale else "false",
        "data-state": view.state,
    }


def _colours(colour: str, text: str) -> dict[str, str]:
    return {"backgroundColor": colour, "color": text}


def level_badge(view: LevelView, *, size: str = "panel", prefix: str | None = None,
                dom_id: str | None = None) -> html.Div:
    """The badge: [prefix] number — name [flag]; painted only when live. ``dom_id``: for a
    second badge of the same level on one page (the id must be unique)."""
    children: list = []
    if prefix:
        words = prefix.split()
        children.append(html.Span([html.Span(w + " ") for w in words[:-1]] +
                                  [html.Span(words[-1])], className="level-prefix"))
    style = None
    if view.number is None:
        label = view.name
        if prefix:  # CALCULATED LEVEL NOT AVAILABLE
            label = view.name.removeprefix("LEVEL ")
        elif size == "small":  # a table cell, beside NO DATA
            label = "NO LEVEL"
        children.append(html.Span(label, className="level-name"))
    else:
        number_style = None if view.live else _colours(view.colour, view.text_colour)
        number = html.Span(str(view.number), className="level-number", style=number_style)
        name = html.Span(view.name, className="level-name")
        flag = None
        if view.flag:
            text = view.flag.partition(" — ")[0] if size == "small" else view.flag
            flag = html.Span(text, className="level-flag")
        if size == "large":  # the flag under the name: the status bar has no room beside
            children += [number, html.Span("—", className="level-dash"),
                         html.Span([name] + ([flag] if flag else []), className="level-text")]
        elif size == "small":  # number and name never part; a flag may go under them
            children += [html.Span([number, name], className="level-core")]
            children += [flag] if flag else []
        else:
            children += [number, name] + ([flag] if flag else [])
        if view.live:
            style = _colours(view.colour, view.text_colour)
    title = " · ".join(t for t in (view.flag, view.since, view.reason_detail) if t)
    return html.Div(children, id=dom_id or view.dom_id, style=style, title=title or None,
                    className=f"level level-{size} level-{view.state}",
                    **_data(view))  # type: ignore[arg-type]


def _pending(pending: PendingView) -> html.Div:
    more = f" (+{pending.more} more)" if pending.more else ""
    return html.Div(className="level-pending", title=pending.line, children=[
        html.Span(f"▲ {pending.number} {pending.name}", className="pending-chip",
                  style=_colours(pending.colour, pending.text_colour)),
        html.Span(f" pending: {pending.condition}{more}", className="pending-text"),
    ])


def level_why(view: LevelView) -> list:
    """The lines under a level: why it is what it is, and any pending escalation."""
    lines: list = []
    if view.number is None:
        lines.append(html.Div(f"No calculated level: {view.flag}", className="level-reason"))
    elif view.reason:
        lines.append(html.Div(view.reason, className="level-reason",
                              title=view.reason_detail or view.reason))
    if view.pending is not None:
        lines.append(_pending(view.pending))
    return lines


def overall_level(view: LevelView) -> html.Div:
    """The trust's calculated level for the status bar: large, labelled as advice."""
    since = f" · {view.since}" if view.since else ""
    return html.Div(className="status-level", children=[
        level_badge(view, size="large", prefix="CALCULATED LEVEL"),
        html.Div(className="level-meta", children=[
            html.Div(f"Trust level, calculated (advice){since}", className="level-advice"),
            *level_why(view),
        ]),
    ])


def panel_head(title: str, view: LevelView) -> html.Div:
    """A function panel's header: its name, its calculated level and since when, and why."""
    level: list = [level_badge(view)]
    if view.number is not None:
        since = f"calculated · {view.since}" if view.since else "calculated"
        level.append(html.Span(since, className="level-since"))
    return html.Div(className="panel-head", children=[
        html.H2(title, className="panel-title"),
        html.Div(level, className="panel-level"),
        html.Div(level_why(view), className="level-why"),
    ])


def site_level(view: LevelView) -> html.Td:
    """A hospital's calculated level, as a cell of the handover table."""
    children: list = [level_badge(view, size="small")]
    if view.pending is not None:
        children.append(html.Span(f"▲ {view.pending.number} pending",
                                  className="pending-small", title=view.pending.line))
    return html.Td(children, className="site-level")


def declared_badge(view: DeclaredView, *, size: str = "large",
                   dom_id: str = "level-declared") -> html.Div:
    """The declared level: DECLARED LEVEL, number — name, on the level's colour (a decision,
    so it has no stale state); grey and in words when nothing is declared or it is unknown."""
    prefix = html.Span([html.Span("DECLARED "), html.Span("LEVEL")], className="level-prefix")
    style = None
    if view.number is None:
        children: list = [prefix, html.Span(view.name, className="level-name")]
        state = view.state
    else:
        style = _colours(view.colour, view.text_colour)
        dash = [html.Span("—", className="level-dash")] if size == "large" else []
        children = [prefix, html.Span(str(view.number), className="level-number"), *dash,
                    html.Span(view.name, className="level-name")]
        state = "live"
    return html.Div(children, id=dom_id, style=style,
                    className=f"level level-{size} level-declared level-{state}",
                    title=" · ".join(t for t in (view.by, view.at, view.reason) if t) or None,
                    **{"data-level": "none" if view.number is None else str(view.number),
                       "data-agreement": view.agreement})  # type: ignore[arg-type]


def declared_level(view: DeclaredView) -> html.Div:
    """The declared level for the status bar: the badge, who and when, and the flag."""
    meta: list = []
    if view.number is not None:
        meta.append(html.Div(f"{view.at} by {view.by}", className="level-advice"))
        if view.reason:
            meta.append(html.Div(f"“{view.reason}”", className="level-reason",
                                 title=view.reason))
    if view.flag:
        kind = "diverges" if view.diverges else "note"
        meta.append(html.Div(view.flag, className=f"declared-flag declared-{kind}",
                             id="declared-flag"))
    return html.Div(className="status-level status-declared", children=[
        declared_badge(view),
        html.Div(meta, className="level-meta"),
    ])
