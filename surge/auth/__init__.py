"""Who may do what: roles, users, wall-screen tokens and the audit trail.

    roles.py    the four roles (viewer < duty_manager < commander < admin)
    users.py    users in Redis, argon2 password hashes, authenticate()
    screens.py  wall screens signed in by a token URL, revocable at once
    audit.py    Actor and record(): every state-changing action, as an "audit" event

The web side (sign-in pages, sessions) and the CLI (``surge users|screens|audit``) both go
through these classes, which record every change.
"""

from __future__ import annotations

from surge.auth.audit import Actor, audit_events, ensure_demo_login, record, screen_url
from surge.auth.roles import ROLES, allows, check_role
from surge.auth.screens import Screen, Screens
from surge.auth.users import PasswordRejected, User, Users

__all__ = [
    "ROLES",
    "Actor",
    "PasswordRejected",
    "Screen",
    "Screens",
    "User",
    "Users",
    "allows",
    "audit_events",
    "check_role",
    "ensure_demo_login",
    "record",
    "screen_url",
]
