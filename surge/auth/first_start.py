"""The first start of an empty store: an ``admin`` user and a demo wall screen, shown once."""

from __future__ import annotations

import secrets

from surge.auth.audit import Actor
from surge.auth.screens import Screens, screen_url
from surge.auth.users import Users
from surge.errors import SurgeError
from surge.store import Store

__all__ = ["DEMO_SCREEN", "ensure_demo_login"]

DEMO_SCREEN = "Demo wall screen"


def ensure_demo_login(store: Store, base_url: str) -> tuple[str, str, str] | None:
    """On first start (no users at all): an ``admin`` user with a random password and a
    demo wall screen; returns (user, password, screen URL) to print once. None otherwise:
    an existing store is never given a default or reset password."""
    users = Users(store)
    if users.list():
        return None
    actor = Actor("surge run (first start)", "admin", "local")
    password = secrets.token_urlsafe(18)  # 24 characters, 144 bits
    try:
        users.add("admin", "admin", password, by=actor)
    except SurgeError:  # another process got there first
        return None
    screens = Screens(store)
    live = {s.name for s in screens.list() if not s.revoked}
    name = next(n for n in (DEMO_SCREEN, *(f"{DEMO_SCREEN} {i}" for i in range(2, 1000)))
                if n not in live)
    token = screens.add(name, by=actor)
    return "admin", password, screen_url(base_url, token)
