"""Signing in and out: the /login, /logout and /screen/<token> routes and their pages.

    GET/POST /login      the sign-in page (CSRF token in the session, 16 KB form)
    POST /logout         signs out (CSRF-protected)
    GET /screen/<token>  signs a browser in as a read-only wall screen

Failed sign-ins are throttled with Flask-Limiter in the store, per user name and per
address, and screen links (secrets) are kept out of the request logs. install_login is
called by install_auth (dashboard/auth.py), which guards every other route.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from typing import Any

import flask
from flask import request, session
from flask_limiter import Limiter, RequestLimit
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Response

from dashboard.components.auth_pages import auth_page
from dashboard.context import DashboardContext, current
from dashboard.sessions import (
    REVOKED_MARK,
    Principal,
    actor,
    address,
    audit,
    csrf_ok,
    csrf_token,
    current_principal,
    start_session,
)
from surge import keys
from surge.auth import Actor, Screens, Users
from surge.auth.users import NAME
from surge.context import store_url
from surge.errors import StoreUnavailable

__all__ = [
    "ENDED",
    "FAILED",
    "MAX_FORM",
    "REVOKED",
    "THROTTLED",
    "install_login",
    "login_page",
    "page",
    "revoked_page",
]

log = logging.getLogger(__name__)

FAILED = "Sign-in failed: check the user name and password."
THROTTLED = "Too many failed sign-ins: wait a minute, then try again."
ENDED = "Your session has ended: please sign in again."
FORM_EXPIRED = "The sign-in form had expired: please try again."
STORE_DOWN = "Sign-in is not possible now: the data store cannot be reached. Try again shortly."
REVOKED = "This screen link has been revoked or is not valid"

MAX_FORM = 16 * 1024  # bytes: a sign-in form is a few hundred
MAX_NAME_FIELD = 256  # longer is not a user name (they are at most 64)
MAX_PASSWORD_FIELD = 1024
LIMITS_PREFIX = keys.LOGIN_LIMITS  # Flask-Limiter's counters in the store


# --- pages served outside Dash ----------------------------------------------------------


def page(status: int, heading: str, *, message: str | None = None, tone: str = "bad",
         form: bool = False, link: tuple[str, str] | None = None,
         page_id: str = "auth-page") -> flask.Response:
    """A page of this module's own (sign in, not allowed, ...), never cached."""
    context = current()
    problem = str(context.settings_error) if context.settings_error else None
    html = auth_page(heading, message=message, tone=tone, form=form, link=link,
                     csrf=csrf_token() if form else "", next_path=_safe_next(_next_field()),
                     problem=problem, page_id=page_id)
    response = flask.make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def login_page(status: int = 200, message: str | None = None,
               tone: str = "bad") -> flask.Response:
    """The sign-in form, with a message above it."""
    return page(status, "Sign in", message=message, tone=tone, form=True, page_id="login-page")


def revoked_page() -> flask.Response:
    """What a revoked or unknown screen link shows."""
    return page(403, "Screen link not valid", message=REVOKED + ".",
                link=("/login", "Sign in with a user name instead"), page_id="revoked-page")


def _next_field() -> str | None:
    try:
        return request.values.get("next")
    except HTTPException:  # a form too large to read
        return request.args.get("next")


def _safe_next(raw: str | None) -> str:
    """Where to go after signing in: a path on this site, never another site."""
    if (not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw
            or len(raw) > 2000 or not raw.isprintable()
            or raw.startswith(("/login", "/logout", "/screen/"))):
        return "/"
    return raw


# --- the views ---------------------------------------------------------------------------


def _login() -> Response:
    context = current()
    if request.method == "GET":
        who = current_principal()
        if who.is_authenticated:
            return flask.redirect(_safe_next(request.args.get("next")))
        if request.args.get("signed_out"):
            return login_page(200, "You have signed out.", tone="ok")
        ended = session.pop("ended", None)
        return login_page(401, ENDED) if ended else login_page()
    form = request.form
    if not csrf_ok(form.get("csrf")):
        audit("login_rejected", Actor("(not recorded)", "", address()),
              reason="missing or wrong form token")
        return login_page(400, FORM_EXPIRED)
    name, password = form.get("username"), form.get("password")
    if (name is None or password is None or len(name) > MAX_NAME_FIELD
            or len(password) > MAX_PASSWORD_FIELD):
        audit("login_rejected", Actor("(not recorded)", "", address()), reason="malformed form")
        return login_page(400, FAILED)
    name = name.strip()
    try:
        user = Users(context.store(), context.security_clock).authenticate(name, password,
                                                                 address=address())
    except StoreUnavailable as exc:
        log.warning("sign-in refused: %s", exc)
        return login_page(503, STORE_DOWN)
    if user is None:
        return login_page(401, FAILED)
    start_session(Principal("user", user.name, user.role), context.security_clock(), epoch=user.epoch)
    return flask.redirect(_safe_next(form.get("next")))


def _logout() -> Response:
    if not csrf_ok(request.form.get("csrf")):
        return page(400, "Sign out", message="The sign-out form had expired: reload the page "
                    "and sign out again.", link=("/", "Back to the overview"))
    who = current_principal()
    if who.is_authenticated:
        audit("logout", actor(who))
    session.clear()
    return flask.redirect("/login?signed_out=1")


def _screen(token: str) -> Response:
    context = current()
    try:
        screen = Screens(context.store(), context.security_clock).resolve(token, address=address())
    except StoreUnavailable as exc:
        log.warning("screen sign-in refused: %s", exc)
        return page(503, "Wall screen", message=STORE_DOWN)
    if screen is None:
        audit(REVOKED_MARK, Actor("(unknown screen)", "", address()),
              reason="unknown or revoked screen link")
        session.clear()
        session["ended"] = REVOKED_MARK
        return revoked_page()
    who = Principal("screen", screen.name, "viewer")
    start_session(who, context.security_clock(), token=token)
    audit("screen_signed_in", actor(who), screen=screen.name)
    return flask.redirect("/")


def _throttled(per: str) -> Callable[[RequestLimit], flask.Response | None]:
    def breach(_limit: RequestLimit) -> flask.Response | None:
        try:
            name = request.form.get("username", "")
        except HTTPException:
            name = ""
        who = name if NAME.fullmatch(name) else "(invalid user name)"
        audit("login_throttled", Actor(who, "", address()),
              reason=f"too many failed sign-ins {per}")
        return login_page(429, THROTTLED)

    return breach


def _too_large(exc: RequestEntityTooLarge) -> Any:
    if request.path == "/login":
        audit("login_rejected", Actor("(not recorded)", "", address()),
              reason="form too large")
        return login_page(413, FAILED)
    return exc


def _address_key() -> str:
    return "address:" + address()


def _user_key() -> str:
    """The submitted user name, hashed: it may be a password typed in the wrong box, and
    the key is kept in Redis (for a minute) and named in Flask-Limiter's log."""
    try:
        name = request.form.get("username", "")
    except HTTPException:  # too large: the view says so
        name = ""
    return "user:" + hashlib.sha256(name.strip().encode()).hexdigest()[:32]


def _limiter_storage(context: DashboardContext) -> tuple[str, dict[str, Any]]:
    """Flask-Limiter's storage: the store's own connection pool when the app was given a
    store, else the store URL; in memory (one worker's count) when there is none yet."""
    store = context.store_if_open()
    if store is not None:
        return "redis://", {"connection_pool": store.client.connection_pool,
                            "key_prefix": LIMITS_PREFIX}
    try:
        url = store_url(context.settings)
    except StoreUnavailable as exc:
        log.warning("sign-in throttling is per process until the store is found: %s", exc)
        return "memory://", {}
    if url.startswith("unix://"):
        url = "redis+unix://" + url.removeprefix("unix://")
    return url, {"key_prefix": LIMITS_PREFIX}


def _redact_screen_links() -> None:
    """Screen tokens in request lines (werkzeug's and gunicorn's access logs) are secrets."""
    for name in ("werkzeug", "gunicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactScreenTokens) for f in logger.filters):
            logger.addFilter(_RedactScreenTokens())


class _RedactScreenTokens(logging.Filter):
    TOKEN = re.compile(r"/screen/[^/?\s\"']+")

    def _clean(self, value: Any) -> Any:
        return self.TOKEN.sub("/screen/[token]", value) if isinstance(value, str) else value

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.msg)
        if isinstance(record.args, dict):
            record.args = {k: self._clean(v) for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(self._clean(v) for v in record.args)
        return True


# --- wiring ------------------------------------------------------------------------------


def install_login(server: flask.Flask, context: DashboardContext) -> None:
    """The sign-in routes, throttled, and screen links redacted from the request logs."""
    _redact_screen_links()
    uri, options = _limiter_storage(context)
    limiter = Limiter(_address_key, app=server, storage_uri=uri, storage_options=options,
                      strategy="moving-window", swallow_errors=True)

    def failed(response: flask.Response) -> bool:
        return response.status_code in (400, 401, 413)

    login = _login
    for key, per in ((_user_key, "for this user"), (_address_key, "from this address")):
        login = limiter.limit(context.settings.login_limit, key_func=key, methods=["POST"],
                              deduct_when=failed, on_breach=_throttled(per))(login)
    server.add_url_rule("/login", "surge_login", login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "surge_logout", _logout, methods=["POST"])
    server.add_url_rule("/screen/<token>", "surge_screen", _screen)
    server.register_error_handler(RequestEntityTooLarge, _too_large)
