"""Who may do what: roles, users, wall-screen tokens and the audit trail.

    audit.py        Actor and record(): every state-changing action, as an "audit" event
    roles.py        the four roles (viewer < duty_manager < commander < admin), and the
                    least role each action needs
    users.py        users in Redis, argon2 password hashes, authenticate()
    screens.py      wall screens signed in by a token URL, revocable at once
    first_start.py  the admin login and demo wall screen of an empty store

Imports go one way: audit and roles import nothing else of surge.auth; users and screens
import audit; first_start imports users and screens. All of it reaches Redis through the
store's public methods. The web side (sign-in pages, sessions), the CLI and surge.actions
go through these classes, which record every change.
"""

from __future__ import annotations

from surge.auth.audit import Actor, Via, audit_events, record
from surge.auth.first_start import ensure_demo_login
from surge.auth.roles import NEEDED, ROLES, allows, check_role, needed
from surge.auth.screens import Screen, Screens, screen_url
from surge.auth.tokens import ApiToken, TokenPrincipal, Tokens
from surge.auth.users import PasswordRejected, User, Users

__all__ = [
    "NEEDED",
    "ROLES",
    "Actor",
    "ApiToken",
    "PasswordRejected",
    "Screen",
    "Screens",
    "TokenPrincipal",
    "Tokens",
    "User",
    "Users",
    "Via",
    "allows",
    "audit_events",
    "check_role",
    "ensure_demo_login",
    "needed",
    "record",
    "screen_url",
]
