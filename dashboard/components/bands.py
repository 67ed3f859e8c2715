"""A trigger's value against its thresholds, as a band scale: a horizontal bar with each
level's band shaded in its colour and numbered, a tick and value at each threshold, and a
marker at each current value (stale markers hatched, NO DATA said in words)."""

from __future__ import annotations

from dash import html

from dashboard.views.tactical import BandScale

__all__ = ["band_scale"]


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def band_scale(scale: BandScale, dom_id: str) -> html.Div:
    """The bar, its threshold labels under it, and the markers over it."""
    bands = [html.Div(html.Span(str(b.level), className="band-number"),
                      className="band", title=f"level {b.level} {b.name}",
                      style={"left": _pct(b.start), "width": _pct(max(0.0, b.end - b.start)),
                             "backgroundColor": b.colour})
             for b in scale.bands if b.end > b.start]
    ticks = [html.Div(text, className="band-tick", style={"left": _pct(pos)})
             for pos, text in scale.ticks]
    markers = [html.Div(html.Span(m.text, className="marker-text") if m.text else None,
                        className=f"band-marker marker-{m.state}"
                                  + (" marker-right" if m.position > 0.75 else ""),
                        style={"left": _pct(m.position)})
               for m in scale.markers if m.state != "missing"]
    return html.Div(id=dom_id, className="band-scale", title=scale.worse,
                    **{"data-markers": str(len(markers))}, children=[  # type: ignore[arg-type]
        html.Div(className="band-bar", children=[*bands, *markers]),
        html.Div(className="band-ticks", children=[
            html.Span(scale.low, className="band-end band-low"), *ticks,
            html.Span(scale.high, className="band-end band-high")]),
    ])
