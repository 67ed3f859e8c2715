"""Links to the other pages a signed-in user may open, from the roles the pages registered
with (dash.page_registry). Hiding a link protects nothing: the guard in dashboard/auth.py
reads the same roles and refuses everyone else."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dash import dcc

from dashboard.auth import pages_for

__all__ = ["nav_links", "page_key"]


def page_key(page: Mapping[str, Any]) -> str:
    """A page's short name: its module's last part ("admin" for dashboard/pages/admin.py)."""
    return str(page["module"]).rsplit(".", 1)[-1]


def nav_links(role: str, current: str) -> list[dcc.Link]:
    """A link to every page ``role`` may open except ``current`` (a page_key) and those kept
    out of the navigation (``nav=False``: reached from another page, such as the wall at a
    past moment from /review), in order."""
    return [dcc.Link(page["name"], href=page["relative_path"], id=f"nav-{page_key(page)}",
                     className="session-action")
            for page in pages_for(role)
            if page_key(page) != current and page.get("nav", True)]
