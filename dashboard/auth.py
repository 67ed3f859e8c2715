"""Role checks on the server: install_auth, the guard before every request, and headers.

    install_auth(server, context)  on the app's Flask server, called by create_app:
        sessions                   a cookie naming a session kept in the store
                                   (dashboard/sessions.py)
        /login, /logout, /screen/  signing in and out, throttled (dashboard/login.py)
        before_request guard       a body over SURGE_MAX_BODY is refused unread (413); a
                                   callback from nobody is refused unread (401); every other
                                   route needs a signed-in user or a live screen (or
                                   SURGE_ANONYMOUS_VIEW for reading), and the role that the
                                   page, the route or the Dash callback needs; under /api/,
                                   an ``Authorization: Bearer`` API token instead (never
                                   the session), 401 when it is unknown or revoked
        after_request              security headers on every response: no-store on all but
                                   static files, and a Content-Security-Policy
    finish_setup(app)              Dash's first-request set-up, done before any request, and
                                   the policy's hashes of Dash's inline scripts
    page roles                     each page declares who may open it where it registers:
                                   ``dash.register_page(__name__, ..., role="admin")``; the
                                   guard (page loads and Dash's page routing) and the
                                   navigation (``pages_for``) read dash.page_registry
    require_role(role)             inside a Dash callback or a view: 401/403 unless allowed
    role_required(role)            decorator for a Flask view that changes state
    protect_callback(context, output_prefix, role)
                                   a page's state-changing callback: the least role its
                                   outputs need (any callback not listed is read-only)
    web_actor(via)                 who is acting in this request, for surge.actions

Refusals are on the audit trail. Roles, and the least role of each action, are surge.auth's:
this module only checks them; the actions themselves (surge.actions) check again.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import dash
import flask
import flask_login
import werkzeug.test
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
    audit_repeated,
    check_timeouts,
    current_principal,
    load_principal,
    token_principal,
    touch,
    use_principal,
)
from surge.auth import Actor, Via, allows, check_role
from surge.auth.roles import ROLES
from surge.errors import StoreUnavailable

__all__ = [
    "finish_setup",
    "install_auth",
    "page_role",
    "pages_for",
    "protect_callback",
    "require_role",
    "role_required",
    "web_actor",
]

ROLE_ATTR = "surge_role"
PUBLIC = ("/login", "/logout", "/_favicon.ico")
PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/screen/")
API_PREFIX = "/api/"  # where an API token (Authorization: Bearer) is taken
STATIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/_favicon.ico")  # may be cached
CSP = "surge_csp"  # server.config key: the policy, made by finish_setup
# Everything from this site only. Scripts: this site's files, and Dash's inline scripts by
# their hashes (added by finish_setup). Styles: inline too, as dash-renderer and Dash's core
# components add <style> elements of their own making (no hash can name them); a style can
# change how a page looks, not run anything.
POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
ROUTER_OUTPUT = "_pages_content.children"  # Dash's page routing callback renders a page
ROUTER_INPUT = "_pages_location"


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


def web_actor(via: Via) -> Actor:
    """Who is acting in the current request, as surge.actions takes it: 401 when nobody is
    signed in, 503 when the store cannot confirm their role. The action checks the role."""
    who = current_principal()
    if not who.is_authenticated:
        flask.abort(401)
    if not who.verified:
        flask.abort(503)
    return replace(actor(who), via=via)


# --- page roles, from dash.page_registry --------------------------------------------------


def page_role(page: Mapping[str, Any]) -> str:
    """The least role that may open a page: the ``role`` given to ``dash.register_page``."""
    role = page.get("role")
    if role is None:
        raise ValueError(f"page {page.get('module')} ({page.get('path')}) declares no role: "
                         f"add role=\"viewer\" (or the least role that may open it) to its "
                         f"dash.register_page call")
    return check_role(role)


def pages_for(role: str) -> list[Mapping[str, Any]]:
    """The registered pages ``role`` may open, in the registry's order."""
    return [p for p in dash.page_registry.values() if allows(role, page_role(p))]


def _page_at(path: str) -> Mapping[str, Any] | None:
    """The registered page served at ``path`` (a path or a path template's match)."""
    wanted = path.strip("/").split("/")
    for entry in dash.page_registry.values():
        template = str(entry.get("path_template") or entry.get("path", "")).strip("/").split("/")
        if len(template) == len(wanted) and all(
                t == w or (t.startswith("<") and t.endswith(">") and w)
                for t, w in zip(template, wanted, strict=True)):
            return entry
    return None


def _routed_path(body: Mapping[str, Any]) -> str:
    """The path Dash's page routing callback was asked to render, from its inputs."""
    for item in body.get("inputs") or []:
        if isinstance(item, dict) and item.get("id") == ROUTER_INPUT \
                and item.get("property") == "pathname":
            value = item.get("value")
            return value if isinstance(value, str) else "/"
    return "/"


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


def _highest(*roles: str) -> str:
    return max(roles, key=ROLES.index)


def _needed_role(context: DashboardContext) -> str:
    if request.path == "/_dash-update-component":
        body = request.get_json(silent=True)
        output = body.get("output") if isinstance(body, dict) else None
        if not isinstance(output, str):
            return "viewer"
        needed = callback_role(context.callback_roles, output)
        if ROUTER_OUTPUT in output and isinstance(body, dict):  # rendering a page: its role
            shown = _page_at(_routed_path(body))
            needed = _highest(needed, page_role(shown) if shown else "viewer")
        return needed
    view = flask.current_app.view_functions.get(request.endpoint or "")
    needed = getattr(view, ROLE_ATTR, "viewer")
    if request.method == "GET":
        shown = _page_at(request.path)
        if shown is not None:
            needed = _highest(needed, page_role(shown))
    return needed


def _read_within_limit() -> None:
    """Read a body sent without a Content-Length (chunked) now, up to the limit: 413 if
    there is more (the rest is not read). Bodies with a length were checked by it."""
    if request.content_length is None and "wsgi.input_terminated" in request.environ:
        request.get_data()  # at most max_content_length bytes, kept for Dash
        if request.stream.read(1):  # past the limit: raises RequestEntityTooLarge
            flask.abort(413)


def _target() -> str:
    """What a refused request asked for, for the audit trail (the caller chose it: cut short)."""
    body = request.get_json(silent=True) if request.is_json else None
    output = body.get("output") if isinstance(body, dict) else None
    text = f"callback {output}" if isinstance(output, str) else f"{request.method} {request.path}"
    return text[:200]


def _guard() -> Response | None:
    path = request.path
    context = current()
    # A body is never read past its limit: refused at once by its Content-Length, and cut
    # off at the limit while read when it has none (chunked).
    request.max_content_length = MAX_FORM if path in ("/login", "/logout") or \
        path.startswith("/api/") else context.settings.max_body
    if (request.content_length or 0) > request.max_content_length:
        flask.abort(413)
    if _public(path):
        return None
    callback = path == "/_dash-update-component"
    if callback and request.method == "POST" and not request.is_json:
        return _json(400, "expected a JSON callback request")  # also stops cross-site forms
    now = context.security_clock()  # real time: an exercise's fast clock ends no session
    bearer = path.startswith(API_PREFIX) and "Authorization" in request.headers
    if bearer:  # a program with an API token: the token says who, whatever the cookie says
        _read_within_limit()
        refused = _use_token()
        if refused is not None:
            return refused
    else:
        if getattr(session, "surge_rejected", False):
            audit_repeated("session_rejected", Actor("(unknown)", "", address()),
                           reason="invalid or expired session cookie")
            session["ended"] = "session_rejected"
        check_timeouts(context.settings, now)
        if callback and "_user_id" not in session and not context.settings.anonymous_view:
            # nobody is signed in: refused before the body is read, let alone parsed
            ended = session.get("ended")
            if ended == REVOKED_MARK:
                return _json(401, REVOKED, ended=ended)
            return _json(401, "sign-in required", login="/login")
        _read_within_limit()
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
        if not bearer:  # a program's calls are not someone using a page
            touch(now)
        return None
    ended = session.get("ended")
    if ended == REVOKED_MARK:  # stays until the screen (or a user) signs in again
        return _json(401, REVOKED, ended=ended) if _wants_json() else revoked_page()
    if needed == "viewer" and context.settings.anonymous_view:
        return None
    if needed != "viewer" and _wants_json():  # (opening a page: sent to sign in, below)
        audit_repeated("access_refused", actor(ANONYMOUS), needed=needed, target=_target())
    if _wants_json():
        return _json(401, "sign-in required", login="/login")
    if ended:
        session.pop("ended", None)
        return login_page(401, ENDED)
    query = request.query_string.decode("latin-1")
    return flask.redirect("/login?next=" + quote(path + (f"?{query}" if query else ""), safe=""))


def _use_token() -> Response | None:
    """Take the request's API token as its caller (this request only): 401 for a token
    that is unknown or revoked (on the audit trail, once per address and five minutes, as
    any refusal of a caller who is not signed in), 503 when the store cannot be asked."""
    try:
        who = token_principal(request.headers.get("Authorization", ""))
    except StoreUnavailable as exc:
        return _json(503, f"the data store cannot be reached to check the API token: {exc}")
    if who is None:
        audit_repeated("access_refused", actor(ANONYMOUS), needed=_needed_role(current()),
                       reason="unknown or revoked API token", target=_target())
        refused = _json(401, "API token not valid: unknown or revoked (send the header "
                             "Authorization: Bearer surge_...)")
        refused.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return refused
    use_principal(who)
    return None


def _headers(response: flask.Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Content-Security-Policy",
                       flask.current_app.config.get(CSP) or _policy(()))
    if not request.path.startswith(STATIC_PREFIXES):  # pages, callbacks, the API, errors
        headers["Cache-Control"] = "no-store"
    if current().settings.https:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def _policy(script_hashes: tuple[str, ...]) -> str:
    directives = {**POLICY, "script-src": " ".join([POLICY["script-src"], *script_hashes])}
    return "; ".join(f"{name} {value}" for name, value in directives.items())


# --- before the first request --------------------------------------------------------------

_SETUP_LOCK = threading.Lock()  # one app's set-up at a time (Dash's page registry is shared)


def finish_setup(app: dash.Dash) -> None:
    """Run Dash's first-request set-up now (assets, the page router and its title callback,
    the validation layout), so that it is complete before any request is served: done by
    the first request, requests arriving at once could be served by a half-made app (500s,
    pages without their scripts, a page-title callback missing for good). Then fix the
    Content-Security-Policy, with the hashes of Dash's inline scripts."""
    server = app.server
    setup = [f for f in server.before_request_funcs.get(None, []) if f is not _guard]
    # A request with no session and no cookie: nothing in a page's layout reads the store
    # for it, and the cookie-signing key is not needed yet.
    environ = werkzeug.test.EnvironBuilder(path="/").get_environ()
    context = flask.ctx.RequestContext(server, environ,
                                       session=server.session_interface.make_null_session(server))
    with _SETUP_LOCK, context:
        for step in setup:
            step()
    server.config[CSP] = _policy(tuple(app.csp_hashes()))


# --- wiring ------------------------------------------------------------------------------


def install_auth(server: flask.Flask, context: DashboardContext) -> None:
    """Sessions, the sign-in routes, the guard and the headers, on one app's server."""
    for entry in dash.page_registry.values():
        page_role(entry)  # every page says who may open it, or the app does not start
    settings = context.settings
    server.config.update(
        SESSION_COOKIE_NAME=COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.https,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_max),
        MAX_CONTENT_LENGTH=settings.max_body,
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
