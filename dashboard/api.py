"""The HTTP API for other systems (/api/v1/): read the levels; declare, withdraw, confirm.

    GET    /api/v1/levels                  viewer        calculated and declared levels
    POST   /api/v1/declaration             commander     surge.actions.declare_level
    DELETE /api/v1/declaration             commander     surge.actions.withdraw_declaration
    POST   /api/v1/actions/<id>/confirm    duty_manager  surge.actions.confirm_action

Each view is a thin caller of surge.actions: it reads the JSON body, says who is acting
(``web_actor("api")``) and answers with what the action recorded. Who is calling is the
guard's business (dashboard/auth.py): a signed-in session, or an API token (``Authorization:
Bearer surge_...``); it refuses anyone below the role each view declares with
``role_required`` before the view runs, and the action checks again. A session's POST or
DELETE must also carry the session's CSRF token in ``X-CSRF-Token`` (checked here; a token
needs none). Bodies are JSON objects of at most 16 KB (the guard: 413 past that); a field that
is missing, unknown or of the wrong type is a 400 naming it. Answers are JSON, errors
``{"error": ...}``, never a traceback. docs/api.md is the reference for callers.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

import flask
from flask import request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from dashboard.auth import role_required, web_actor
from dashboard.context import DashboardContext, current
from dashboard.data import worker_stopped
from dashboard.sessions import actor, audit, csrf_ok, csrf_token, current_principal
from surge.actions import (
    ConfirmationMade,
    Conflict,
    DeclarationMade,
    Forbidden,
    InvalidArgument,
    UnknownAction,
    UnknownActor,
    WithdrawalMade,
    confirm_action,
    declare_level,
    withdraw_declaration,
)
from surge.auth import needed
from surge.catalogue import Catalogue
from surge.configfile import did_you_mean
from surge.declarations import MAX_TEXT, Declaration, TrustStatus, rules_in_force, trust_status
from surge.errors import ConfigError, StoreUnavailable
from surge.levels import PublishedLevel, describe, describe_pending
from surge.timefmt import utc_iso

__all__ = ["PREFIX", "install_api", "levels_json"]

PREFIX = "/api/v1"
CSRF_HEADER = "X-CSRF-Token"
CSRF_REFUSED = "CSRF token missing or wrong"
SHOWN_KINDS = ("protocol", "site")  # published levels listed beside the trust's
SAID = {  # werkzeug's errors, as this API says them (the view itself says more when it can)
    401: "sign-in required: a signed-in session or an API token (Authorization: Bearer)",
    403: "not allowed for this role",
    503: "the data store cannot be reached to check who is calling: try again shortly",
}
ENDPOINTS = ("GET /api/v1/levels, POST /api/v1/declaration, DELETE /api/v1/declaration, "
             "POST /api/v1/actions/ID/confirm")


class _Refused(Exception):
    """A request the API answers with ``status`` and a message (and the field at fault)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


# --- answers ---------------------------------------------------------------------------------


def _error(status: int, message: str, **extra: Any) -> Response:
    response = flask.jsonify({"error": message, **{k: v for k, v in extra.items() if v}})
    response.status_code = status
    return response


def _answers(view: Callable[..., Response]) -> Callable[..., Response]:
    """A view whose refusals, bad arguments and conflicts are JSON answers with their status:
    400 bad input, 403 not allowed, 404 unknown action, 409 conflict, 503 store or rules."""

    @functools.wraps(view)
    def answered(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except _Refused as exc:
            return _error(exc.status, exc.message, field=exc.field)
        except (Forbidden, UnknownActor) as exc:  # a refusal is on the audit trail already
            return _error(403, str(exc))
        except UnknownAction as exc:
            return _error(404, str(exc))
        except InvalidArgument as exc:
            return _error(400, str(exc))
        except Conflict as exc:
            return _error(409, str(exc))
        except StoreUnavailable as exc:
            return _error(503, f"the data store cannot be reached: {exc}")
        except ConfigError as exc:
            return _error(503, f"the rules in force cannot be read: {exc}")

    return answered


def _http_error(exc: HTTPException) -> Any:
    """Werkzeug's errors (404, 405, ...) as JSON under /api/v1/; elsewhere as they were."""
    if not request.path.startswith(PREFIX + "/"):
        return exc
    response = exc.get_response()
    said = SAID.get(exc.code or 0, f"{exc.name}: {exc.description}")
    response.set_data(json.dumps({"error": said}))
    response.mimetype = "application/json"
    return response


def _at(name: str, ts: float | None) -> dict[str, Any]:
    """A time as UTC ISO 8601 (``name``) and UTC epoch seconds (``name_epoch``)."""
    return {name: utc_iso(ts) if ts is not None else None, f"{name}_epoch": ts}


# --- request bodies --------------------------------------------------------------------------


def _body(fields: Collection[str]) -> dict[str, Any]:
    """The request's JSON object (an empty body is ``{}``): 400 for a body that is not JSON,
    not an object, or has a field other than ``fields``."""
    raw = request.get_data(cache=True)  # at most 16 KB: the guard refuses more, unread
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8, too deep, huge numbers
        detail = str(exc) if isinstance(exc, json.JSONDecodeError) else "it cannot be read"
        raise _Refused(400, f"the body is not valid JSON ({detail}): send a JSON object "
                            f"with Content-Type: application/json") from None
    if not isinstance(body, dict):
        example = json.dumps(dict.fromkeys(fields, "..."))
        raise _Refused(400, f"the body must be a JSON object, such as {example}")
    for name in body:
        if name not in fields:
            shown = name if len(name) <= 64 else name[:64] + "…"
            raise _Refused(400, f"unknown field {shown!r}{did_you_mean(name, fields)}; the "
                                f"fields are {', '.join(fields) or 'none'}", field=shown)
    return body


def _text(body: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    """A text field (null or absent: None); 400 when it is required and missing, or not text.
    How long it may be, and what it may hold, is the action's to say."""
    value = body.get(name)
    if value is None:
        if required:
            raise _Refused(400, f"{name} is required: say why, in at most {MAX_TEXT} "
                                f"characters", field=name)
        return None
    if not isinstance(value, str):
        raise _Refused(400, f"{name} must be text (a JSON string), not {_json_type(value)}",
                       field=name)
    return value


def _level(body: Mapping[str, Any], catalogue: Catalogue) -> int:
    known = ", ".join(f"{lv.number} {lv.name}" for lv in catalogue.levels)
    value = body.get("level")
    if value is None:
        raise _Refused(400, f"level is required: one of {known}", field="level")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Refused(400, f"level must be a whole number, not {_json_type(value)}: one of "
                            f"{known}", field="level")
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _csrf_checked() -> None:
    """A signed-in session's change needs its CSRF token in X-CSRF-Token (a cross-site page
    cannot read it); an API token needs none. A refusal is audited."""
    who = current_principal()
    if who.kind == "token" or csrf_ok(request.headers.get(CSRF_HEADER)):
        return
    audit("access_refused", actor(who), reason=CSRF_REFUSED.lower(),
          target=f"{request.method} {request.path}"[:200])
    raise _Refused(403, f"{CSRF_REFUSED}: send this session's token in the {CSRF_HEADER} "
                        f"header (GET {PREFIX}/levels returns it in the same header)")


# --- what the API says -----------------------------------------------------------------------


def level_json(level: PublishedLevel | None) -> dict[str, Any] | None:
    """One calculated level as the engine published it, with why, in words."""
    if level is None:
        return None
    protocol, _, site = level.name.partition("@")
    pending = describe_pending(level.pending, with_level=True) if level.pending else None
    return {"name": level.name, "kind": level.kind,
            "protocol": protocol if level.kind != "overall" else None, "site": site or None,
            "level": level.level, "level_name": level.level_name, **_at("since", level.since),
            "stale": level.stale, "why": describe(level) or None, "pending": pending}


def declaration_json(d: Declaration) -> dict[str, Any]:
    return {"level": d.level, "level_name": d.level_name, "by": d.by, "role": d.role,
            "via": d.via, **_at("at", d.at), "reason": d.reason, "calculated": d.calculated,
            "rules_version": d.rules_version}


def trust_json(status: TrustStatus) -> dict[str, Any]:
    return {"calculated": level_json(status.calculated),
            "declared": declaration_json(status.declared) if status.declared else None,
            "agreement": status.agreement, "diverges": status.diverges,
            **_at("diverging_since", status.diverging_since)}


def levels_json(context: DashboardContext) -> dict[str, Any]:
    """The trust's calculated and declared levels, each function's and site's calculated
    level, the rules version, and whether the data are stale (any level held on stale data,
    none published, or the worker no longer updating them)."""
    catalogue = context.catalogue()
    store = context.store()
    now = context.clock()
    status = trust_status(store, catalogue, now)
    published = store.published_levels(catalogue)
    running = not worker_stopped(store.worker(), now)
    shown = {name: level for name, level in published.items() if level.kind in SHOWN_KINDS}
    stale = (not running or status.calculated is None
             or any(level.stale for level in [status.calculated, *shown.values()] if level))
    return {**_at("at", now), "mode": context.run_clock().mode,
            "rules_version": catalogue.version, "worker": "running" if running else "stopped",
            "stale": stale, "trust": trust_json(status),
            "levels": {name: level_json(level) for name, level in sorted(shown.items())}}


def declared_json(made: DeclarationMade) -> dict[str, Any]:
    return {"declared": declaration_json(made.declaration), "previous": made.previous,
            "diverges": made.diverges, **_at("diverging_since", made.diverging_since),
            "event_id": made.event_id, "audit_id": made.audit_id}


def withdrawn_json(gone: WithdrawalMade) -> dict[str, Any]:
    return {"withdrawn": {"level": gone.level, "by": gone.by, **_at("at", gone.at),
                          "reason": gone.reason},
            "event_id": gone.event_id, "audit_id": gone.audit_id}


def confirmed_json(done: ConfirmationMade) -> dict[str, Any]:
    c, a = done.confirmation, done.action
    return {"confirmation": {"action_id": c.action_id, "protocol": c.protocol,
                             "level": c.level, **_at("since", c.since), "by": c.by,
                             "role": c.role, "via": c.via, **_at("at", c.at), "note": c.note},
            "action": {"id": a.id, "protocol": a.protocol, "protocol_label": a.protocol_label,
                       "level": a.level, "owner": a.owner, "do": a.do},
            "already": done.already, "event_id": done.event_id, "audit_id": done.audit_id}


# --- the views -------------------------------------------------------------------------------


def _answer(status: int, body: Mapping[str, Any]) -> Response:
    response = flask.jsonify(body)
    response.status_code = status
    return response


def install_api(server: flask.Flask, context: DashboardContext) -> None:
    """The /api/v1/ routes on one app's server (after install_auth: its guard covers them)."""

    @role_required(needed("view"))
    @_answers
    def levels() -> Response:
        response = _answer(200, levels_json(current()))
        if current_principal().kind == "user":  # what its POSTs and DELETEs must send back
            response.headers[CSRF_HEADER] = csrf_token()
        return response

    @role_required(needed("declare"))
    @_answers
    def declare() -> Response:
        _csrf_checked()
        body = _body(("level", "reason"))
        catalogue = context.catalogue()
        level, reason = _level(body, catalogue), _text(body, "reason", required=True)
        made = declare_level(context.store(), web_actor("api"), level=level,
                             reason=reason or "", catalogue=catalogue)
        return _answer(201, declared_json(made))

    @role_required(needed("declare"))
    @_answers
    def withdraw() -> Response:
        _csrf_checked()
        reason = _text(_body(("reason",)), "reason", required=False)
        gone = withdraw_declaration(context.store(), web_actor("api"), reason=reason,
                                    catalogue=context.catalogue())
        return _answer(200, withdrawn_json(gone))

    @role_required(needed("confirm"))
    @_answers
    def confirm(action_id: str) -> Response:
        _csrf_checked()
        note = _text(_body(("note",)), "note", required=False)
        store = context.store()
        rules = rules_in_force(store, context.settings.rules)  # the worker's, with actions
        done = confirm_action(store, web_actor("api"), action_id=action_id, note=note,
                              rules=rules)
        return _answer(200 if done.already else 201, confirmed_json(done))

    def unknown(rest: str) -> Response:  # rather than Dash's page for any path
        return _error(404, f"no such endpoint: GET {PREFIX}/{rest[:100]}; the endpoints are "
                           f"{ENDPOINTS} (docs/api.md)")

    add = server.add_url_rule
    add(f"{PREFIX}/levels", "api_levels", levels, methods=["GET"])
    add(f"{PREFIX}/declaration", "api_declare", declare, methods=["POST"])
    add(f"{PREFIX}/declaration", "api_withdraw", withdraw, methods=["DELETE"])
    add(f"{PREFIX}/actions/<action_id>/confirm", "api_confirm", confirm, methods=["POST"])
    add(f"{PREFIX}/<path:rest>", "api_unknown", unknown, methods=["GET"])
    server.register_error_handler(HTTPException, _http_error)
