"""Signing in and out: the /login, /logout and /screen/<token> routes and their pages.

    GET/POST /login      the sign-in page (CSRF token in the session, 16 KB form)
    POST /logout         signs out, ending the session in the store (CSRF-protected)
    GET /screen/<token>  signs a browser in as a read-only wall screen; never over a user's
                         session (a link from another site cannot sign anyone out)

Failed sign-ins and failed screen links are throttled in the store, per address and per user
name (surge.auth.throttle): a place is taken before the password is checked, so a burst gets
no more checks than the limit, and only a few passwords are hashed at once in a process
(argon2 takes 64 MB each); the rest are turned away at once. Refusals anyone can repeat are
recorded once per address and window, with a count. Screen links (secrets) are kept out of
the request logs. install_login is called by install_auth (dashboard/auth.py), which guards
every other route.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import flask
import markupsafe
from flask import request, session
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
    audit_repeated,
    csrf_ok,
    csrf_token,
    current_principal,
    sign_out,
    start_session,
)
from surge.auth import Actor, Screens, Throttle, Users
from surge.auth.throttle import address_key, user_key
from surge.auth.users import NAME
from surge.errors import StoreUnavailable

__all__ = [
    "BUSY",
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
BUSY = "Sign-in is busy: try again in a moment."
ENDED = "Your session has ended: please sign in again."
FORM_EXPIRED = "The sign-in form had expired: please try again."
STORE_DOWN = "Sign-in is not possible now: the data store cannot be reached. Try again shortly."
REVOKED = "This screen link has been revoked or is not valid"
LINKS_THROTTLED = "Too many screen links that were not valid: wait a minute, then try again."

MAX_FORM = 16 * 1024  # bytes: a sign-in form is a few hundred
MAX_NAME_FIELD = 256  # longer is not a user name (they are at most 64)
MAX_PASSWORD_FIELD = 1024
HASHING_AT_ONCE = 2  # password checks at once in one process; more get BUSY (503) at once


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


class _SignIn:
    """POST /login for one app: a place in the throttle, then a password check, a few at once."""

    def __init__(self, context: DashboardContext) -> None:
        self.context = context
        self.hashing = threading.BoundedSemaphore(HASHING_AT_ONCE)

    def __call__(self) -> Response:
        if request.method == "GET":
            return _login_form()
        context = self.context
        form = request.form  # at most MAX_FORM bytes (the guard): 413 past that
        name = str(form.get("username") or "")
        try:
            throttle = Throttle(context.store(), context.settings.login_limit)
            place = throttle.take((user_key(name), address_key(address())),
                                  context.security_clock())
        except StoreUnavailable as exc:
            log.warning("sign-in refused: %s", exc)
            return login_page(503, STORE_DOWN)
        if not place.allowed:
            who = name.strip() if NAME.fullmatch(name.strip()) else "(invalid user name)"
            per = "for this user" if place.full == user_key(name) else "from this address"
            audit_repeated("login_throttled", Actor(who, "", address()),
                           reason=f"too many failed sign-ins {per}")
            return login_page(429, THROTTLED)
        # the place is kept for a failure: a bad form counts as one
        if not csrf_ok(form.get("csrf")):
            audit("login_rejected", Actor("(not recorded)", "", address()),
                  reason="missing or wrong form token")
            return login_page(400, FORM_EXPIRED)
        password = form.get("password")
        if (not name or password is None or len(name) > MAX_NAME_FIELD
                or len(password) > MAX_PASSWORD_FIELD):
            audit("login_rejected", Actor("(not recorded)", "", address()),
                  reason="malformed form")
            return login_page(400, FAILED)
        if not self.hashing.acquire(blocking=False):
            place.give_back()  # not tried: it does not count
            answer = login_page(503, BUSY)
            answer.headers["Retry-After"] = "1"
            return answer
        try:
            user = Users(context.store(), context.security_clock).authenticate(
                name.strip(), password, address=address())
            if user is not None:
                place.give_back()  # successful sign-ins are not counted
                start_session(Principal("user", user.name, user.role),
                              context.security_clock(), lasts=context.settings.session_max,
                              epoch=user.epoch)
        except StoreUnavailable as exc:
            log.warning("sign-in refused: %s", exc)
            return login_page(503, STORE_DOWN)
        finally:
            self.hashing.release()
        if user is None:
            return login_page(401, FAILED)
        return flask.redirect(_safe_next(form.get("next")))


def _login_form() -> Response:
    who = current_principal()
    if who.is_authenticated:
        return flask.redirect(_safe_next(request.args.get("next")))
    if request.args.get("signed_out"):
        return login_page(200, "You have signed out.", tone="ok")
    ended = session.pop("ended", None)
    return login_page(401, ENDED) if ended else login_page()


def _logout() -> Response:
    if not csrf_ok(request.form.get("csrf")):
        return page(400, "Sign out", message="The sign-out form had expired: reload the page "
                    "and sign out again.", link=("/", "Back to the overview"))
    who = current_principal()
    if who.is_authenticated:
        audit("logout", actor(who))
    sign_out()
    return flask.redirect("/login?signed_out=1")


def _screen(token: str) -> Response:
    context = current()
    who = current_principal()
    if who.kind == "user":  # never signed out by a link, whoever sent it
        return _signed_in_as_user(who)
    try:
        links = Throttle(context.store(), context.settings.login_limit)
        place = links.take((address_key(address(), "screen-link"),), context.security_clock())
        if not place.allowed:
            audit_repeated("screen_link_throttled", Actor("(unknown screen)", "", address()),
                           reason="too many screen links that were not valid from this address")
            return page(429, "Wall screen", message=LINKS_THROTTLED)
        screen = Screens(context.store(), context.security_clock).resolve(token, address=address())
        if screen is not None:
            place.give_back()
            signed_in = Principal("screen", screen.name, "viewer")
            start_session(signed_in, context.security_clock(), lasts=None, token=token)
    except StoreUnavailable as exc:
        log.warning("screen sign-in refused: %s", exc)
        return page(503, "Wall screen", message=STORE_DOWN)
    if screen is None:
        audit_repeated(REVOKED_MARK, Actor("(unknown screen)", "", address()),
                       reason="unknown or revoked screen link")
        if not who.is_authenticated:  # a signed-in screen's session is left as it is
            session.clear()
            session["ended"] = REVOKED_MARK
        return revoked_page()
    audit("screen_signed_in", actor(signed_in), screen=screen.name)
    return flask.redirect("/")


def _signed_in_as_user(who: Principal) -> flask.Response:
    """A screen link opened while signed in as a user: nothing changes; sign out first."""
    response = page(409, "Wall screen link", page_id="screen-over-user",
                    message=f"This browser is signed in as {who.name}. A wall-screen link "
                            f"would sign {who.name} out, so it has not been used. To make "
                            f"this browser a wall screen, sign out, then open the link again.",
                    link=("/", "Stay signed in: back to the overview"))
    form = markupsafe.Markup(
        '<form method="post" action="/logout" class="auth-form">'
        '<input type="hidden" name="csrf" value="{}">'
        '<button type="submit" id="sign-out-first">Sign out {}</button></form>'
    ).format(csrf_token(), who.name)
    html = response.get_data(as_text=True).replace("</main>", form + "</main>", 1)
    response.set_data(html)
    return response


def _too_large(exc: RequestEntityTooLarge) -> Any:
    if request.path == "/login":
        audit_repeated("login_rejected", Actor("(not recorded)", "", address()),
                       reason="form too large")
        return login_page(413, FAILED)
    answer = flask.jsonify({"error": "the request is too large"}) \
        if request.path.startswith(("/_dash-", "/api/")) else flask.make_response(
            "Request too large", 413)
    answer.status_code = 413
    answer.headers["Connection"] = "close"  # the rest of the body is not read
    return answer


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
    server.add_url_rule("/login", "surge_login", _SignIn(context), methods=["GET", "POST"])
    server.add_url_rule("/logout", "surge_logout", _logout, methods=["POST"])
    server.add_url_rule("/screen/<token>", "surge_screen", _screen)
    server.register_error_handler(RequestEntityTooLarge, _too_large)
