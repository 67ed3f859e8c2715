"""Web sign-in: sessions, the login page, wall-screen links, and role checks on the server.

    install_auth(server, context)  on the app's Flask server, called by create_app:
        GET/POST /login            the sign-in page (CSRF token in the session, 16 KB form)
        POST /logout               signs out (CSRF-protected)
        GET /screen/<token>        signs a browser in as a read-only wall screen
        before_request guard       every other route needs a signed-in user or a live
                                   screen (or SURGE_ANONYMOUS_VIEW for reading), and the role
                                   that the route or the Dash callback needs
        after_request              security headers on every response
    require_role(role)             inside a Dash callback or a view: 401/403 unless allowed
    role_required(role)            decorator for a Flask view that changes state
    protect_callback(context, output_prefix, role)
                                   a page's state-changing callback: the least role its
                                   outputs need (any callback not listed is read-only)

Sessions are Flask's signed cookies, managed by Flask-Login; nothing about a session is kept
in process memory, so gunicorn workers share them. Every request re-checks the user (still
there, not disabled, epoch unchanged) or the screen (not revoked) against the store, and the
idle and absolute timeouts against the app's clock. Failed sign-ins are throttled with
Flask-Limiter in the store. Users, screens and the audit trail are surge.auth's: this module
only calls them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import flask
import flask_login
from flask import g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter, RequestLimit
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from dashboard.components.auth_pages import auth_page
from dashboard.context import DashboardContext, current
from surge import keys
from surge.auth import Actor, Screens, Users, allows, check_role, record
from surge.auth.roles import ROLES
from surge.auth.users import NAME
from surge.context import store_url
from surge.errors import StoreUnavailable, SurgeError
from surge.settings import Settings

__all__ = [
    "FAILED",
    "Principal",
    "actor",
    "csrf_ok",
    "csrf_token",
    "current_principal",
    "install_auth",
    "load_secret_key",
    "protect_callback",
    "require_role",
    "role_required",
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
SEEN_EVERY = 60.0  # seconds: the last-activity time in the cookie moves at most this often
COOKIE = "surge_session"
LIMITS_PREFIX = keys.LOGIN_LIMITS  # Flask-Limiter's counters in the store
ROLE_ATTR = "surge_role"
PUBLIC = ("/login", "/logout", "/_favicon.ico")
PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/screen/")
_AUTH_KEYS = ("_user_id", "_fresh", "_id", "kind", "role", "epoch", "token", "login_at",
              "seen_at")
_REVOKED_MARK = "screen_revoked_refused"


# --- who is asking ---------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: a signed-in user, a wall screen, or nobody (anonymous).

    ``verified`` is False when the store could not be asked whether the user or screen is
    still valid: such a session may read (pages say the store is down) but not change.
    """

    kind: str  # "user", "screen" or "anonymous"
    name: str
    role: str  # "" when anonymous
    verified: bool = True

    is_active = True  # Flask-Login: disabled users never get a Principal

    @property
    def is_authenticated(self) -> bool:
        return self.kind != "anonymous"

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"

    def get_id(self) -> str | None:
        return f"{self.kind}:{self.name}" if self.is_authenticated else None

    @property
    def label(self) -> str:
        """How the audit trail names them."""
        return f"screen:{self.name}" if self.kind == "screen" else self.name


ANONYMOUS = Principal("anonymous", "(anonymous)", "")


def current_principal() -> Principal:
    """Who the current request comes from (a session that has just ended: anonymous)."""
    who: Principal = flask_login.current_user._get_current_object()
    ended = g.pop("surge_ended", None)
    if ended is not None:
        action, details = ended
        _end_session(action, **details)
        return ANONYMOUS
    return who


def address() -> str:
    """The client's address (as ProxyFix sees it behind SURGE_TRUSTED_PROXIES proxies)."""
    return request.remote_addr or "unknown"


def actor(who: Principal | None = None) -> Actor:
    who = who or current_principal()
    return Actor(who.label, who.role, address())


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


def csrf_token() -> str:
    """This session's CSRF token, made on first use."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(sent: str | None) -> bool:
    """Whether ``sent`` is this session's CSRF token."""
    token = session.get("csrf")
    return isinstance(token, str) and isinstance(sent, str) and \
        secrets.compare_digest(token.encode(), sent.encode())


# --- the secret that signs cookies -------------------------------------------------------


def load_secret_key(settings: Settings) -> str:
    """SURGE_SECRET_KEY, else the key in <data_dir>/secret_key, made once (mode 0600).

    Created by a hard link from a complete temporary file, so that several gunicorn
    workers starting together all read the same, whole key.
    """
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_dir) / "secret_key"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32) + "\n")
            try:
                os.link(tmp, path)
                log.info("created the session secret key in %s", path)
            except FileExistsError:
                pass  # another worker made it first: use theirs
            finally:
                tmp.unlink()
        key = path.read_text().strip()
        if path.stat().st_mode & 0o077:
            log.warning("%s is readable by other users: run `chmod 600 %s`", path, path)
    except OSError as exc:
        raise SurgeError(f"cannot read or create the session secret key {path}: "
                         f"{exc.strerror or exc}; set SURGE_SECRET_KEY or make "
                         f"SURGE_DATA_DIR writable") from None
    if len(key) < 32:
        raise SurgeError(f"{path} holds no usable key (under 32 characters): delete it and "
                         f"it is made again (every session then ends)")
    return key


class _CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the key loaded on first use (not at import) and
    a cookie that fails its signature check (tampered, or too old) marked as rejected."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()

    def get_signing_serializer(self, app: flask.Flask) -> Any:
        if not app.secret_key:
            with self._lock:
                if not app.secret_key:
                    app.secret_key = load_secret_key(self._settings)
        return super().get_signing_serializer(app)

    def open_session(self, app: flask.Flask, request: flask.Request) -> Any:
        opened = super().open_session(app, request)
        if opened is not None and not opened and request.cookies.get(self.get_cookie_name(app)):
            opened.surge_rejected = True  # type: ignore[attr-defined]
        return opened


# --- pages served by this module ---------------------------------------------------------

def _page(status: int, heading: str, *, message: str | None = None, tone: str = "bad",
          form: bool = False, link: tuple[str, str] | None = None,
          page_id: str = "auth-page") -> flask.Response:
    context = current()
    problem = str(context.settings_error) if context.settings_error else None
    html = auth_page(heading, message=message, tone=tone, form=form, link=link,
                     csrf=csrf_token() if form else "", next_path=_safe_next(_next_field()),
                     problem=problem, page_id=page_id)
    response = flask.make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _login_page(status: int = 200, message: str | None = None,
                tone: str = "bad") -> flask.Response:
    return _page(status, "Sign in", message=message, tone=tone, form=True, page_id="login-page")


def _revoked_page() -> flask.Response:
    return _page(403, "Screen link not valid", message=REVOKED + ".",
                 link=("/login", "Sign in with a user name instead"), page_id="revoked-page")


def _json(status: int, error: str, **extra: Any) -> Response:
    response = flask.jsonify({"error": error, **extra})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


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


# --- sessions ----------------------------------------------------------------------------


def _audit(action: str, who: Actor, **details: Any) -> None:
    """Record to the audit trail; a store that is down is logged, never a crash."""
    try:
        record(current().store(), action, who, **details)
    except StoreUnavailable as exc:
        log.warning("audit entry %s for %s not recorded: %s", action, who.user, exc)


def _session_actor() -> Actor:
    kind, _, name = str(session.get("_user_id", "")).partition(":")
    label = f"screen:{name}" if kind == "screen" else name or "(unknown)"
    return Actor(label, str(session.get("role", "")), address())


def _clear_auth() -> None:
    for key in _AUTH_KEYS:
        session.pop(key, None)
    g.pop("_login_user", None)  # Flask-Login: the next current_user is anonymous


def _end_session(action: str, **details: Any) -> None:
    """End the signed-in session now, on the record; the next page says why."""
    _audit(action, _session_actor(), **details)
    _clear_auth()
    session["ended"] = action


def _start_session(who: Principal, now: float, **fields: Any) -> None:
    session.clear()  # nothing from before signing in is carried over, not even the CSRF token
    flask_login.login_user(who)
    session.permanent = True
    session.update(kind=who.kind, role=who.role, login_at=now, seen_at=now,
                   csrf=secrets.token_urlsafe(32), **fields)


def _check_timeouts(settings: Settings, now: float) -> None:
    """End a user's session that is past the idle or absolute timeout (screens have none)."""
    if session.get("kind") != "user":
        return
    login_at, seen_at = session.get("login_at"), session.get("seen_at")
    if not isinstance(login_at, int | float) or not isinstance(seen_at, int | float):
        _end_session("session_rejected", reason="incomplete session")
    elif now - login_at > settings.session_max:
        _end_session("session_expired", reason="absolute", after=settings.session_max)
    elif now - seen_at > settings.idle_timeout:
        _end_session("session_expired", reason="idle", after=settings.idle_timeout)


def _touch(now: float) -> None:
    """Note activity for the idle timeout (at most once a minute; refreshes are not activity)."""
    if session.get("kind") != "user" or _automatic_refresh():
        return
    seen_at = session.get("seen_at")
    if not isinstance(seen_at, int | float) or now - seen_at >= SEEN_EVERY:
        session["seen_at"] = now


def _automatic_refresh() -> bool:
    """A callback fired only by a timer (dcc.Interval), not by anyone using the page."""
    if request.path != "/_dash-update-component":
        return False
    body = request.get_json(silent=True)
    changed = body.get("changedPropIds") if isinstance(body, dict) else None
    return isinstance(changed, list) and bool(changed) and \
        all(str(p).endswith(".n_intervals") for p in changed)


def _load(user_id: str) -> Principal | None:
    """Flask-Login's user loader: the user or screen in the session, if still valid."""
    context = current()
    kind, _, name = user_id.partition(":")
    try:
        if kind == "user":
            user = Users(context.store(), context.clock).get(name)
            if user is None or user.disabled:
                g.surge_ended = ("session_ended", {"reason": "user disabled"})
            elif user.epoch != session.get("epoch"):
                g.surge_ended = ("session_ended", {"reason": "password, role or status changed"})
            else:
                return Principal("user", user.name, user.role)
            return None
        if kind == "screen":
            if g.get("surge_needed", "viewer") != "viewer":
                return Principal("screen", name, "viewer", verified=False)  # refused anyway
            screen = Screens(context.store(), context.clock).resolve(
                str(session.get("token", "")), address=address())
            if screen is None or screen.name != name:
                g.surge_ended = (_REVOKED_MARK, {"screen": name})
                return None
            return Principal("screen", name, "viewer")
    except StoreUnavailable:
        role = str(session.get("role", ""))
        if kind in ("user", "screen") and role in ROLES:
            return Principal(kind, name, role, verified=False)
    return None


# --- the guard ---------------------------------------------------------------------------


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
        _audit("session_rejected", Actor("(unknown)", "", address()),
               reason="invalid or expired session cookie")
        session["ended"] = "session_rejected"
    now = context.clock()
    _check_timeouts(context.settings, now)
    needed = g.surge_needed = _needed_role(context)
    who = current_principal()
    if who.is_authenticated:
        if not allows(who.role, needed):
            _audit("access_refused", actor(who), needed=needed, target=_target())
            return _json(403, f"this needs the {needed} role", needed=needed) \
                if _wants_json() else _page(403, "Not allowed",
                                            message=f"This page needs the {needed} role.",
                                            link=("/", "Back to the overview"))
        if not who.verified and needed != "viewer":
            return _json(503, "the data store cannot be reached to check your role")
        _touch(now)
        return None
    ended = session.get("ended")
    if ended == _REVOKED_MARK:  # stays until the screen (or a user) signs in again
        return _json(401, REVOKED, ended=ended) if _wants_json() else _revoked_page()
    if needed == "viewer" and context.settings.anonymous_view:
        return None
    if needed != "viewer":
        _audit("access_refused", actor(ANONYMOUS), needed=needed, target=_target())
    if _wants_json():
        return _json(401, "sign-in required", login="/login")
    if ended:
        session.pop("ended", None)
        return _login_page(401, ENDED)
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


# --- the views ---------------------------------------------------------------------------


def _login() -> Response:
    context = current()
    if request.method == "GET":
        who = current_principal()
        if who.is_authenticated:
            return flask.redirect(_safe_next(request.args.get("next")))
        if request.args.get("signed_out"):
            return _login_page(200, "You have signed out.", tone="ok")
        ended = session.pop("ended", None)
        return _login_page(401, ENDED) if ended else _login_page()
    form = request.form
    if not csrf_ok(form.get("csrf")):
        _audit("login_rejected", Actor("(not recorded)", "", address()),
               reason="missing or wrong form token")
        return _login_page(400, FORM_EXPIRED)
    name, password = form.get("username"), form.get("password")
    if (name is None or password is None or len(name) > MAX_NAME_FIELD
            or len(password) > MAX_PASSWORD_FIELD):
        _audit("login_rejected", Actor("(not recorded)", "", address()), reason="malformed form")
        return _login_page(400, FAILED)
    name = name.strip()
    try:
        user = Users(context.store(), context.clock).authenticate(name, password,
                                                                 address=address())
    except StoreUnavailable as exc:
        log.warning("sign-in refused: %s", exc)
        return _login_page(503, STORE_DOWN)
    if user is None:
        return _login_page(401, FAILED)
    _start_session(Principal("user", user.name, user.role), context.clock(), epoch=user.epoch)
    return flask.redirect(_safe_next(form.get("next")))


def _logout() -> Response:
    if not csrf_ok(request.form.get("csrf")):
        return _page(400, "Sign out", message="The sign-out form had expired: reload the page "
                     "and sign out again.", link=("/", "Back to the overview"))
    who = current_principal()
    if who.is_authenticated:
        _audit("logout", actor(who))
    session.clear()
    return flask.redirect("/login?signed_out=1")


def _screen(token: str) -> Response:
    context = current()
    try:
        screen = Screens(context.store(), context.clock).resolve(token, address=address())
    except StoreUnavailable as exc:
        log.warning("screen sign-in refused: %s", exc)
        return _page(503, "Wall screen", message=STORE_DOWN)
    if screen is None:
        _audit(_REVOKED_MARK, Actor("(unknown screen)", "", address()),
               reason="unknown or revoked screen link")
        session.clear()
        session["ended"] = _REVOKED_MARK
        return _revoked_page()
    who = Principal("screen", screen.name, "viewer")
    _start_session(who, context.clock(), token=token)
    _audit("screen_signed_in", actor(who), screen=screen.name)
    return flask.redirect("/")


def _throttled(per: str) -> Callable[[RequestLimit], flask.Response | None]:
    def breach(_limit: RequestLimit) -> flask.Response | None:
        try:
            name = request.form.get("username", "")
        except HTTPException:
            name = ""
        who = name if NAME.fullmatch(name) else "(invalid user name)"
        _audit("login_throttled", Actor(who, "", address()),
               reason=f"too many failed sign-ins {per}")
        return _login_page(429, THROTTLED)

    return breach


def _too_large(exc: RequestEntityTooLarge) -> Any:
    if request.path == "/login":
        _audit("login_rejected", Actor("(not recorded)", "", address()),
               reason="form too large")
        return _login_page(413, FAILED)
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
    server.session_interface = _CookieSessions(settings)
    if settings.trusted_proxies:
        hops = settings.trusted_proxies
        server.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            server.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    _redact_screen_links()

    manager = flask_login.LoginManager()
    manager.init_app(server)
    manager.user_loader(_load)
    manager.anonymous_user = lambda: ANONYMOUS

    uri, options = _limiter_storage(context)
    limiter = Limiter(_address_key, app=server, storage_uri=uri, storage_options=options,
                      strategy="moving-window", swallow_errors=True)

    def failed(response: flask.Response) -> bool:
        return response.status_code in (400, 401, 413)

    login = _login
    for key, per in ((_user_key, "for this user"), (_address_key, "from this address")):
        login = limiter.limit(settings.login_limit, key_func=key, methods=["POST"],
                              deduct_when=failed, on_breach=_throttled(per))(login)
    server.add_url_rule("/login", "surge_login", login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "surge_logout", _logout, methods=["POST"])
    server.add_url_rule("/screen/<token>", "surge_screen", _screen)
    server.register_error_handler(RequestEntityTooLarge, _too_large)
    # first, so that nothing else (Dash's set-up included) runs for a refused request
    server.before_request_funcs.setdefault(None, []).insert(0, _guard)
    server.after_request(_headers)
