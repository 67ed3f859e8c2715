"""Role checks on the server: install_auth, the guard before every request, and headers.

    install_auth(server, context)  on the app's Flask server, called by create_app:
        sessions                   signed cookies (dashboard/sessions.py)
        /login, /logout, /screen/  signing in and out, throttled (dashboard/login.py)
        before_request guard       every other route needs a signed-in user or a live
                                   screen (or SURGE_ANONYMOUS_VIEW for reading), and the role
                                   that the route or the Dash callback needs
        after_request              security headers on every response
    require_role(role)             inside a Dash callback or a view: 401/403 unless allowed
    role_required(role)            decorator for a Flask view that changes state
    protect_callback(context, output_prefix, role)
                                   a page's state-changing callback: the least role its
                                   outputs need (any callback not listed is read-only)

Refusals are on the audit trail. Roles are surge.auth's: this module only checks them.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import flask
import flask_login
from flask import g, request, session
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from dashboard.context import DashboardContext, current
from dashboard.login import ENDED, MAX_FORM, REVOKED, install_login, login_page, page, revoked_page
from dashboard.sessions import (
    ANONYMOUS,
    COOKIE,
    REVOKED_MARK,
    CookieSessions,
    Principal,
    actor,
    address,
    audit,
    check_timeouts,
    current_principal,
    load_principal,
    touch,
)
from surge.auth import Actor, allows, check_role
from surge.auth.roles import ROLES

__all__ = [
    "install_auth",
    "protect_callback",
    "require_role",
    "role_required",
]

ROLE_ATTR = "surge_role"
PUBLIC = ("/login", "/logout", "/_favicon.ico")
PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/screen/")


# --- role checks -------------------------------------------------------------------------


def require_role(needed: str) -> Principal:
    """The current principal if their role includes ``needed``; else abort with 401
    (not signed in), 403 (role too low) or 503 (the store cannot confirm the role)."""
    check_role(needed)
    who = current_principal()
    if not who.is_authenticated:
        flask.abort(401)
    if not allows(who.role, needed):
        flask.abort(403)
    if not who.verified:
        flask.abort(503)
    return who


def role_required(needed: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a Flask view that changes state: the guard refuses anyone below ``needed``
    before the view runs, and the view checks again."""
    check_role(needed)

    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            require_role(needed)
            return view(*args, **kwargs)

        setattr(checked, ROLE_ATTR, needed)
        return checked

    return wrap


def protect_callback(context: DashboardContext, output_prefix: str, role: str) -> None:
    """Callbacks whose output ids start with ``output_prefix`` need ``role``."""
    context.callback_roles[output_prefix] = check_role(role)


def callback_role(roles: dict[str, str], output: str) -> str:
    """The least role a Dash callback needs, from its ``output`` ("id.prop" or
    "..id.prop...id.prop.."): the highest of its outputs; unlisted outputs are viewer."""
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    needed = "viewer"
    for part in parts:
        component = part.rsplit(".", 1)[0]
        names = [component]
        if component.startswith("{"):  # a pattern-matching id: match each of its values
            with contextlib.suppress(ValueError, AttributeError):
                names += [str(v) for v in json.loads(component).values()]
        for prefix, role in roles.items():
            if any(n.startswith(prefix) for n in names) and \
                    ROLES.index(role) > ROLES.index(needed):
                needed = role
    return needed


# --- the guard ---------------------------------------------------------------------------


def _json(status: int, error: str, **extra: Any) -> Response:
    response = flask.jsonify({"error": error, **extra})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _public(path: str) -> bool:
    return path in PUBLIC or path.startswith(PUBLIC_PREFIXES)


def _wants_json() -> bool:
    return request.path.startswith(("/_dash-", "/api/")) or request.method != "GET"


def _needed_role(context: DashboardContext) -> str:
    if request.path == "/_dash-update-component":
        body = request.get_json(silent=True)
        output = body.get("output") if isinstance(body, dict) else None
        return callback_role(context.callback_roles, output) if isinstance(output, str) \
            else "viewer"
    view = flask.current_app.view_functions.get(request.endpoint or "")
    return getattr(view, ROLE_ATTR, "viewer")


def _target() -> str:
    """What a refused request asked for, for the audit trail (the caller chose it: cut short)."""
    body = request.get_json(silent=True) if request.is_json else None
    output = body.get("output") if isinstance(body, dict) else None
    text = f"callback {output}" if isinstance(output, str) else f"{request.method} {request.path}"
    return text[:200]


def _guard() -> Response | None:
    path = request.path
    if path in ("/login", "/logout"):
        request.max_content_length = MAX_FORM
    if _public(path):
        return None
    context = current()
    if path == "/_dash-update-component" and request.method == "POST" and not request.is_json:
        return _json(400, "expected a JSON callback request")  # also stops cross-site forms
    if path.startswith("/api/"):
        request.max_content_length = MAX_FORM
    if getattr(session, "surge_rejected", False):
        audit("session_rejected", Actor("(unknown)", "", address()),
              reason="invalid or expired session cookie")
        session["ended"] = "session_rejected"
    now = context.clock()
    check_timeouts(context.settings, now)
    needed = g.surge_needed = _needed_role(context)
    who = current_principal()
    if who.is_authenticated:
        if not allows(who.role, needed):
            audit("access_refused", actor(who), needed=needed, target=_target())
            return _json(403, f"this needs the {needed} role", needed=needed) \
                if _wants_json() else page(403, "Not allowed",
                                           message=f"This page needs the {needed} role.",
                                           link=("/", "Back to the overview"))
        if not who.verified and needed != "viewer":
            return _json(503, "the data store cannot be reached to check your role")
        touch(now)
        return None
    ended = session.get("ended")
    if ended == REVOKED_MARK:  # stays until the screen (or a user) signs in again
        return _json(401, REVOKED, ended=ended) if _wants_json() else revoked_page()
    if needed == "viewer" and context.settings.anonymous_view:
        return None
    if needed != "viewer":
        audit("access_refused", actor(ANONYMOUS), needed=needed, target=_target())
    if _wants_json():
        return _json(401, "sign-in required", login="/login")
    if ended:
        session.pop("ended", None)
        return login_page(401, ENDED)
    query = request.query_string.decode("latin-1")
    return flask.redirect("/login?next=" + quote(path + (f"?{query}" if query else ""), safe=""))


def _headers(response: flask.Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
    if current().settings.https:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


# --- wiring ------------------------------------------------------------------------------


def install_auth(server: flask.Flask, context: DashboardContext) -> None:
    """Sessions, the sign-in routes, the guard and the headers, on one app's server."""
    settings = context.settings
    server.config.update(
        SESSION_COOKIE_NAME=COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.https,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_max),
        RATELIMIT_ENABLED=True,
    )
    server.session_interface = CookieSessions(settings)
    if settings.trusted_proxies:
        hops = settings.trusted_proxies
        server.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            server.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    manager = flask_login.LoginManager()
    manager.init_app(server)
    manager.user_loader(load_principal)
    manager.anonymous_user = lambda: ANONYMOUS

    install_login(server, context)
    # first, so that nothing else (Dash's set-up included) runs for a refused request
    server.before_request_funcs.setdefault(None, []).insert(0, _guard)
    server.after_request(_headers)
