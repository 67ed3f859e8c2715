"""Operational (bronze), "/operational": every site's figures, worst first, for hospital
ambulance liaison officers, EOC team leaders and PTS control.

One grid (dash-ag-grid) per kind of site: each hospital's ambulances waiting, longest wait,
handovers over 60 min and hours lost today, with its calculated level; each EOC's calls
waiting; each PTS zone's figures. Sortable and filterable; the rows come worst first and are
updated in place (by site code), so a sort or a filter someone set survives each refresh.
A STALE or NO DATA figure says so in the cell, on a hatched or red ground.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_ag_grid as dag
from dash import Dash, html

from dashboard.context import DashboardContext, current
from dashboard.pages._support import Base, page_layout, register_refresh
from dashboard.views.operational import KINDS, SiteTable, build_operational

dash.register_page(__name__, path="/operational", name="Operational",
                   title="Surge — Operational", order=2, role="viewer")

PAGE = "operational"
TITLE = "Operational (bronze)"
OUTPUTS = [f"operational-{kind}.{prop}" for kind in KINDS
           for prop in ("columnDefs", "rowData")]
_THEME = {"function": "themeQuartz.withPart(agGrid.colorSchemeDark)"}


def grid_id(kind: str) -> str:
    return f"operational-{kind}"


def column_defs(table: SiteTable, wall: bool) -> list[dict[str, Any]]:
    """The grid's columns: site, level, each metric (sorted by number, shown as text)."""
    cols: list[dict[str, Any]] = [
        {"field": "rank", "headerName": "#", "width": 70, "filter": False},
        {"field": "site", "headerName": "Site", "pinned": "left", "minWidth": 230, "flex": 2},
    ]
    if table.with_level:
        cols.append({"field": "level", "headerName": "Calculated level", "minWidth": 200,
                     "flex": 2, "filter": "agNumberColumnFilter",
                     "valueFormatter": {"function": "params.data.level_text"},
                     "cellStyle": {"function": "params.data.level_style"},
                     "cellClass": {"function": "'level-cell level-' + params.data.level_state"}})
    for c in table.columns:
        cols.append({"field": c.field, "headerName": c.heading, "minWidth": 130, "flex": 1,
                     "filter": "agNumberColumnFilter", "type": "rightAligned",
                     "valueFormatter": {"function": f"params.data.{c.field}_text"},
                     "cellClass": {"function": f"'state-' + params.data.{c.field}_state"}})
    cols.append({"field": "age", "headerName": "Oldest figure", "minWidth": 160, "flex": 1,
                 "sortable": False, "filter": False})
    if wall:  # a wall screen is read, not used: no sorting or filter menus on it
        cols = [{**c, "filter": False, "sortable": False} for c in cols]
    return cols


def grid(kind: str, heading: str, wall: bool) -> html.Section:
    """A grid whose columns and rows the refresh fills from the catalogue in force."""
    return html.Section(className=f"panel site-grid site-grid-{kind}", children=[
        html.H2(heading, className="panel-title"),
        dag.AgGrid(
            id=grid_id(kind), columnDefs=[],
            rowData=[], getRowId="params.data.code",
            defaultColDef={"sortable": not wall, "filter": not wall, "resizable": True,
                           "floatingFilter": False, "suppressMovable": True,
                           "wrapHeaderText": True, "autoHeaderHeight": True},
            dashGridOptions={"theme": _THEME, "domLayout": "autoHeight",
                             "animateRows": False, "suppressCellFocus": True,
                             "headerHeight": 34, "rowHeight": 34 if wall else 32},
            className="site-grid-table", style={"width": "100%"}),
    ])


def layout(wall: str | None = None, **_query: Any) -> html.Div:
    on_wall = wall == "1"
    regions = [html.Div([grid(kind, heading, on_wall) for kind, (heading, _, _) in KINDS.items()],
                        className="site-grids")]
    return page_layout(current(), PAGE, TITLE, regions, wall=on_wall)


def register_callbacks(app: Dash, context: DashboardContext) -> None:
    def build(base: Base, wall: bool) -> dict[str, Any]:
        tables = build_operational(base.catalogue, base.latest, base.levels, base.now,
                                   worker_running=base.status.worker == "running")
        out: dict[str, Any] = {}
        for t in tables:
            out[f"operational-{t.kind}.columnDefs"] = column_defs(t, wall)
            out[f"operational-{t.kind}.rowData"] = list(t.rows)
        return out

    register_refresh(app, context, page=PAGE, title=TITLE, outputs=OUTPUTS, build=build)
