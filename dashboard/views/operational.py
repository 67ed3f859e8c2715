"""The operational (bronze) page's view model: every site's figures, worst first.

Per kind of site (hospitals, emergency operations centres, PTS zones), one row per site:
each metric reported there (value, and its state: live, STALE, NO DATA), the site's
calculated level where the rules judge it per site, and the age of its oldest figure.
Rows are ordered worst first: highest level, then the worst value of the first column.
The rows are plain dicts for the grid (dash-ag-grid): numbers to sort and filter by, and
beside each the text shown, which says STALE or NO DATA in words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dashboard.data import HANDOVER_COLUMNS, Latest, read_value
from dashboard.formatting import format_age
from dashboard.levels import Levels, level_view
from surge.catalogue import Catalogue, Metric

__all__ = ["KINDS", "Column", "SiteTable", "build_operational", "site_table"]

# kind of site -> (heading, the protocol whose per-site level is shown, first metrics)
KINDS = {
    "hospital": ("Hospitals: ambulances waiting to hand over", "ae", tuple(HANDOVER_COLUMNS)),
    "eoc": ("Emergency operations centres: 999 calls", "call_handling", ("calls.waiting",)),
    "pts_zone": ("Patient transport (PTS) zones", "pts", ("pts.discharges_over_2h",)),
}
_SHORT = {  # shorter column headings than the metrics' labels
    "ae.handover_queue": "Waiting to hand over",
    "ae.handover_longest": "Longest wait",
    "ae.handovers_over_60": "Over 60 min (today)",
    "ae.hours_lost": "Hours lost (today)",
}


@dataclass(frozen=True)
class Column:
    field: str  # m0, m1, ...: the number; m0_text: what is shown; m0_state
    metric: str
    heading: str
    worse: str  # higher | lower


@dataclass(frozen=True)
class SiteTable:
    kind: str
    heading: str
    columns: tuple[Column, ...]
    rows: tuple[dict[str, Any], ...]  # worst first
    with_level: bool


def _columns(catalogue: Catalogue, kind: str, first: Sequence[str]) -> tuple[Column, ...]:
    metrics: list[Metric] = [catalogue.metrics[m] for m in first
                             if m in catalogue.metrics and kind in catalogue.metrics[m].scopes]
    metrics += [m for m in catalogue.metrics.values() if kind in m.scopes and m not in metrics]
    return tuple(Column(f"m{i}", m.id, _SHORT.get(m.id, m.label), m.worse)
                 for i, m in enumerate(metrics))


def site_table(catalogue: Catalogue, kind: str, latest: Latest, levels: Levels | None,
               now: float, *, worker_running: bool = True) -> SiteTable | None:
    """The table of one kind of site; None when the catalogue has no such site."""
    heading, protocol, first = KINDS.get(kind, (kind, "", ()))
    sites = catalogue.sites_of(kind)
    columns = _columns(catalogue, kind, first)
    if not sites or not columns:
        return None
    tz = catalogue.timezone
    with_level = any(f"{protocol}@{s.code}" in (levels or {}) for s in sites)
    rows = []
    for site in sites:
        row: dict[str, Any] = {"code": site.code, "site": site.name}
        oldest: float | None = None
        for column in columns:
            metric = catalogue.metrics[column.metric]
            reading = read_value(metric, latest.get((metric.id, site.code)), now, tz,
                                 compact=True)
            text = reading.text
            if reading.state == "stale":
                text = f"{text} · {reading.badge}"
            row[column.field] = reading.value
            row[f"{column.field}_text"] = text
            row[f"{column.field}_state"] = reading.state
            if reading.at is not None:
                oldest = reading.at if oldest is None else min(oldest, reading.at)
        row["age"] = format_age(now - oldest) if oldest is not None else "no value received"
        if with_level:
            view = level_view(f"{protocol}@{site.code}", levels, catalogue, now,
                              worker_running=worker_running)
            row["level"] = view.number
            text = f"{view.number} {view.name}" if view.number is not None else view.name
            row["level_text"] = f"{text} — {view.flag}" if view.flag else text
            row["level_state"] = view.state
            row["level_style"] = ({"backgroundColor": view.colour, "color": view.text_colour}
                                  if view.live else {})
        rows.append(row)
    rows.sort(key=lambda r: _badness(r, columns[0], with_level), reverse=True)
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return SiteTable(kind, heading, columns, tuple(rows), with_level)


def _badness(row: Mapping[str, Any], first: Column, with_level: bool) -> tuple:
    """Worst first: a live level, then the first column's value (missing values last)."""
    level = row.get("level") if with_level else None
    value = row.get(first.field)
    worse = -1e18 if value is None else (value if first.worse == "higher" else -value)
    return (level or 0, row.get(f"{first.field}_state") == "live", worse)


def build_operational(catalogue: Catalogue, latest: Latest, levels: Levels | None,
                      now: float, *, worker_running: bool = True) -> tuple[SiteTable, ...]:
    """Hospitals, EOCs and PTS zones, each as a table (kinds the catalogue lacks left out)."""
    tables = (site_table(catalogue, kind, latest, levels, now, worker_running=worker_running)
              for kind in KINDS)
    return tuple(t for t in tables if t is not None)
