"""Sessions: who a request comes from, CSRF tokens, the secret key, timeouts.

The browser holds Flask's signed cookie (managed by Flask-Login) with a session id; the
store holds the session (surge.auth.sessions), so signing out, or an administrator, ends it
on the server at once, and a copy of the cookie opens nothing afterwards. Nothing about a
session is kept in process memory, so gunicorn workers share them. Every request re-checks
the session, the user (still there, not disabled, epoch unchanged) or the screen (not
revoked) against the store, and the idle and absolute timeouts against the app's clock. A
session that ends is on the audit trail. Users, screens, sessions and the audit trail are
surge.auth's: this module only calls them.

A program calling the HTTP API may instead present an API token (``Authorization: Bearer
surge_...``, surge.auth.tokens): ``token_principal`` says whose it is, and ``use_principal``
makes that the caller of this one request, without a session or a cookie.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flask
import flask_login
from flask import g, request, session
from flask.sessions import SecureCookieSessionInterface

from dashboard.context import current
from surge.auth import Actor, Screens, Sessions, Tokens, Users, record, record_repeated
from surge.auth.roles import ROLES
from surge.errors import StoreUnavailable, SurgeError
from surge.settings import Settings

__all__ = [
    "ANONYMOUS",
    "COOKIE",
    "REVOKED_MARK",
    "CookieSessions",
    "Principal",
    "actor",
    "address",
    "audit",
    "audit_repeated",
    "check_timeouts",
    "csrf_ok",
    "csrf_token",
    "current_principal",
    "end_session",
    "load_principal",
    "load_secret_key",
    "sign_out",
    "start_session",
    "token_principal",
    "touch",
    "use_principal",
]

log = logging.getLogger(__name__)

SEEN_EVERY = 60.0  # seconds: the last-activity time in the cookie moves at most this often
COOKIE = "surge_session"
_AUTH_KEYS = ("_user_id", "_fresh", "_id", "kind", "role", "epoch", "token", "login_at",
              "seen_at", "sid")
REVOKED_MARK = "screen_revoked_refused"


# --- who is asking ---------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: a signed-in user, a wall screen, an API token (this request
    only, never in a session), or nobody (anonymous).

    ``verified`` is False when the store could not be asked whether the user or screen is
    still valid: such a session may read (pages say the store is down) but not change.
    """

    kind: str  # "user", "screen", "token" or "anonymous"
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
        return f"{self.kind}:{self.name}" if self.kind in ("screen", "token") else self.name


ANONYMOUS = Principal("anonymous", "(anonymous)", "")


def current_principal() -> Principal:
    """Who the current request comes from (a session that has just ended: anonymous)."""
    who: Principal = flask_login.current_user._get_current_object()
    ended = g.pop("surge_ended", None)
    if ended is not None:
        action, details = ended
        end_session(action, **details)
        return ANONYMOUS
    return who


def token_principal(authorization: str) -> Principal | None:
    """Who an ``Authorization: Bearer surge_...`` header says is calling: the API token's
    name and role (noted as used, surge.auth.tokens); None for a token that is unknown or
    revoked, or a header that is not a bearer token. StoreUnavailable if the store cannot
    be asked."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    context = current()
    found = Tokens(context.store(), context.security_clock).resolve(token.strip(), address())
    return Principal("token", found.name, found.role) if found is not None else None


def use_principal(who: Principal) -> None:
    """Make ``who`` the caller of the current request only: Flask-Login's current_user for
    this request, and nothing in the session cookie (a token comes with every request)."""
    g._login_user = who  # where Flask-Login keeps the request's user (see _clear_auth)


def address() -> str:
    """The client's address (as ProxyFix sees it behind SURGE_TRUSTED_PROXIES proxies)."""
    return request.remote_addr or "unknown"


def actor(who: Principal | None = None) -> Actor:
    who = who or current_principal()
    return Actor(who.label, who.role, address())


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


class CookieSessions(SecureCookieSessionInterface):
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


# --- sessions ----------------------------------------------------------------------------


def audit(action: str, who: Actor, **details: Any) -> None:
    """Record to the audit trail; a store that is down is logged, never a crash."""
    try:
        record(current().store(), action, who, **details)
    except StoreUnavailable as exc:
        log.warning("audit entry %s for %s not recorded: %s", action, who.user, exc)


def audit_repeated(action: str, who: Actor, **details: Any) -> None:
    """Record a refusal anyone can repeat at will: the first from an address in a window,
    then one count (surge.auth.audit.record_repeated); a store that is down is logged."""
    try:
        record_repeated(current().store(), action, who, now=current().security_clock(),
                        **details)
    except StoreUnavailable as exc:
        log.warning("audit entry %s for %s not recorded: %s", action, who.user, exc)


def _sessions() -> Sessions:
    context = current()
    return Sessions(context.store(), context.security_clock)


def _end_on_server() -> None:
    """Delete this browser's session from the store (if the store can be reached)."""
    kind, _, name = str(session.get("_user_id", "")).partition(":")
    sid = session.get("sid")
    if kind in ("user", "screen") and isinstance(sid, str):
        try:
            _sessions().end(sid, kind, name)
        except StoreUnavailable as exc:  # it expires by itself (a user's), or is ended later
            log.warning("session of %s not ended in the store: %s", name, exc)


def _session_actor() -> Actor:
    kind, _, name = str(session.get("_user_id", "")).partition(":")
    label = f"screen:{name}" if kind == "screen" else name or "(unknown)"
    return Actor(label, str(session.get("role", "")), address())


def _clear_auth() -> None:
    for key in _AUTH_KEYS:
        session.pop(key, None)
    g.pop("_login_user", None)  # Flask-Login: the next current_user is anonymous


def end_session(action: str, **details: Any) -> None:
    """End the signed-in session now, in the store and on the record; the next page says
    why."""
    audit(action, _session_actor(), **details)
    _end_on_server()
    _clear_auth()
    session["ended"] = action


def sign_out() -> None:
    """End this browser's session in the store and forget it."""
    _end_on_server()
    session.clear()


def start_session(who: Principal, now: float, *, lasts: float | None, **fields: Any) -> None:
    """Sign this browser in as ``who``: a session in the store (``lasts`` seconds, or until
    ended) and its id in the cookie. StoreUnavailable if the store cannot record it."""
    sid = _sessions().start(who.kind, who.name, address=address(), lasts=lasts)
    _end_on_server()  # a screen signing in again: its old session ends
    session.clear()  # nothing from before signing in is carried over, not even the CSRF token
    flask_login.login_user(who)
    session.permanent = True
    session.update(kind=who.kind, role=who.role, login_at=now, seen_at=now, sid=sid,
                   csrf=secrets.token_urlsafe(32), **fields)


def check_timeouts(settings: Settings, now: float) -> None:
    """End a user's session that is past the idle or absolute timeout (screens have none)."""
    if session.get("kind") != "user":
        return
    login_at, seen_at = session.get("login_at"), session.get("seen_at")
    if not isinstance(login_at, int | float) or not isinstance(seen_at, int | float):
        end_session("session_rejected", reason="incomplete session")
    elif now - login_at > settings.session_max:
        end_session("session_expired", reason="absolute", after=settings.session_max)
    elif now - seen_at > settings.idle_timeout:
        end_session("session_expired", reason="idle", after=settings.idle_timeout)


def touch(now: float) -> None:
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


def load_principal(user_id: str) -> Principal | None:
    """Flask-Login's user loader: the user or screen in the session, if still valid."""
    context = current()
    kind, _, name = user_id.partition(":")
    sid = str(session.get("sid", ""))
    try:
        if kind == "user":
            user = Users(context.store(), context.security_clock).get(name)
            if user is None or user.disabled:
                g.surge_ended = ("session_ended", {"reason": "user disabled"})
            elif user.epoch != session.get("epoch"):
                g.surge_ended = ("session_ended", {"reason": "password, role or status changed"})
            elif not _sessions().check(sid, "user", name, address=address()):
                g.surge_ended = ("session_ended", {"reason": "signed out or ended on the server"})
            else:
                return Principal("user", user.name, user.role)
            return None
        if kind == "screen":
            if g.get("surge_needed", "viewer") != "viewer":
                return Principal("screen", name, "viewer", verified=False)  # refused anyway
            screen = Screens(context.store(), context.security_clock).resolve(
                str(session.get("token", "")), address=address())
            if screen is None or screen.name != name:
                g.surge_ended = (REVOKED_MARK, {"screen": name})
                return None
            if not _sessions().check(sid, "screen", name, address=address()):
                g.surge_ended = ("session_ended", {"reason": "ended on the server"})
                return None
            return Principal("screen", name, "viewer")
    except StoreUnavailable:
        role = str(session.get("role", ""))
        if kind in ("user", "screen") and role in ROLES:
            return Principal(kind, name, role, verified=False)
    return None
