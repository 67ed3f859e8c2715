"""Who may do what: roles, users, wall-screen tokens and the audit trail.

    audit.py        Actor and record(): every state-changing action, as an "audit" event
    roles.py        the four roles (viewer < duty_manager < commander < admin), and the
                    least role each action needs
    users.py        users in Redis, argon2 password hashes, authenticate()
    screens.py      wall screens signed in by a token URL, revocable at once
    sessions.py     signed-in sessions in the store, ended on the server at once
    throttle.py     failed attempts counted in the store before they are tried
    first_start.py  the admin login and demo wall screen of an empty store

Imports go one way: audit, roles and throttle import nothing else of surge.auth; sessions
imports audit; users and screens import audit and sessions; first_start imports users and
screens. All of it reaches Redis through the store's public methods. The web side (sign-in
pages, sessions), the CLI and surge.actions go through these classes, which record every
change.
"""

from __future__ import annotations

from surge.auth.audit import Actor, Via, audit_events, flush_repeats, record, record_repeated
from surge.auth.first_start import ensure_demo_login
from surge.auth.roles import NEEDED, ROLES, allows, check_role, needed
from surge.auth.screens import Screen, Screens, screen_url
from surge.auth.sessions import Session, Sessions
from surge.auth.throttle import Attempt, Throttle
from surge.auth.tokens import ApiToken, TokenPrincipal, Tokens
from surge.auth.users import PasswordRejected, User, Users

__all__ = [
    "NEEDED",
    "ROLES",
    "Actor",
    "ApiToken",
    "Attempt",
    "PasswordRejected",
    "Screen",
    "Screens",
    "Session",
    "Sessions",
    "Throttle",
    "TokenPrincipal",
    "Tokens",
    "User",
    "Users",
    "Via",
    "allows",
    "audit_events",
    "check_role",
    "ensure_demo_login",
    "flush_repeats",
    "needed",
    "record",
    "record_repeated",
    "screen_url",
]
