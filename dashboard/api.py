"""The HTTP API for other systems (/api/v1/): read the levels and the alerts; declare,
withdraw, confirm; acknowledge alerts, create and end silences; push samples.

    GET    /api/v1/levels                  viewer        calculated and declared levels
    POST   /api/v1/declaration             commander     surge.actions.declare_level
    DELETE /api/v1/declaration             commander     surge.actions.withdraw_declaration
    POST   /api/v1/actions/<id>/confirm    duty_manager  surge.actions.confirm_action
    GET    /api/v1/alerts                  viewer        active alerts, silences, resolved
    POST   /api/v1/alerts/<id>/ack         duty_manager  surge.actions.acknowledge_alert
    POST   /api/v1/silences                duty_manager  surge.actions.create_silence
    DELETE /api/v1/silences/<id>           duty_manager  surge.actions.end_silence
    POST   /api/v1/samples                 feed token    feeds.push.receive

Each view is a thin caller of surge.actions: it reads the JSON body, says who is acting
(``web_actor("api")``) and answers with what the action recorded. Who is calling is the
guard's business (dashboard/auth.py): a signed-in session, or an API token (``Authorization:
Bearer surge_...``); it refuses anyone below the role each view declares with
``role_required`` before the view runs, and the action checks again. A session's POST or
DELETE must also carry the session's CSRF token in ``X-CSRF-Token`` (checked here; a token
needs none). Bodies are JSON objects of at most 16 KB (the guard: 413 past that); a field that
is missing, unknown or of the wrong type is a 400 naming it. Answers are JSON, errors
``{"error": ...}``, never a traceback. docs/api.md is the reference for callers.

POST /api/v1/samples is another kind of door, answered ahead of the guard: its caller is a
system pushing the samples of one feed, with a feed token (``surge tokens add NAME --feed
FEED``, surge.auth.tokens), never a session or a role. Its body is JSON or CSV of up to
SURGE_MAX_BODY and at most feeds.push.MAX_SAMPLES samples; the feed must be a push feed of
the feeds file (feeds/push.py), read again when the file changes. No token is 401, a role
token or a feed that is not a push feed 403 (audited, nothing else changed); a body that is
neither JSON nor CSV 415, one that cannot be read 400 saying where, one too big 413. The
answer (200; 422 when every sample was rejected) says what became of each sample.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

import flask
from flask import request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Response

from dashboard.auth import role_required, web_actor
from dashboard.context import DashboardContext, current
from dashboard.data import worker_stopped
from dashboard.sessions import (
    ANONYMOUS,
    actor,
    address,
    audit,
    audit_repeated,
    csrf_ok,
    csrf_token,
    current_principal,
)
from dashboard.views.alerts import HISTORY, ack_state, urgency
from feeds.push import (
    BodyUnreadable,
    Kind,
    PushFeed,
    PushReport,
    TooManySamples,
    push_feeds,
    read_samples,
    receive,
)
from feeds.registry import ADAPTERS, feed_context
from surge.actions import (
    AlertAcknowledgement,
    AnnotationMade,
    ConfirmationMade,
    Conflict,
    DeclarationMade,
    Forbidden,
    InvalidArgument,
    SilenceMade,
    UnknownAction,
    UnknownActor,
    UnknownAlert,
    WithdrawalMade,
    acknowledge_alert,
    annotate,
    confirm_action,
    create_silence,
    declare_level,
    end_silence,
    withdraw_declaration,
)
from surge.alerting.book import Ack, Alert, AlertBook, RecordUnreadable, Silence
from surge.auth import Actor, Tokens, needed
from surge.catalogue import Catalogue
from surge.configfile import did_you_mean
from surge.declarations import MAX_TEXT, Declaration, TrustStatus, rules_in_force, trust_status
from surge.durations import parse_duration
from surge.errors import ConfigError, StoreUnavailable
from surge.levels import PublishedLevel, describe, describe_pending
from surge.timefmt import utc_iso

__all__ = ["PREFIX", "SAMPLES", "alert_json", "alerts_json", "install_api", "levels_json",
           "pushed_json"]

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
             "POST /api/v1/actions/ID/confirm, GET /api/v1/alerts, POST /api/v1/alerts/ID/ack, "
             "POST /api/v1/silences, DELETE /api/v1/silences/ID, GET /api/v1/annotations, "
             "POST /api/v1/annotations, PUT /api/v1/annotations/ID, POST /api/v1/samples")
SAMPLES = f"{PREFIX}/samples"
BODY_KINDS: dict[str, Kind] = {"application/json": "json", "text/csv": "csv"}
FEED_TOKEN_NEEDED = ("a feed token is required: send Authorization: Bearer surge_... with a "
                     "token made by `surge tokens add NAME --feed FEED`")


class _Refused(Exception):
    """A request the API answers with ``status`` and a message (and the field at fault)."""

    def __init__(self, status: int, message: str, field: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field
        self.headers = dict(headers or {})


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
            refused = _error(exc.status, exc.message, field=exc.field)
            refused.headers.update(exc.headers)
            return refused
        except (Forbidden, UnknownActor) as exc:  # a refusal is on the audit trail already
            return _error(403, str(exc))
        except (UnknownAction, UnknownAlert) as exc:
            return _error(404, str(exc))
        except InvalidArgument as exc:
            return _error(400, str(exc))
        except Conflict as exc:
            return _error(409, str(exc))
        except StoreUnavailable as exc:
            return _error(503, f"the data store cannot be reached: {exc}")
        except RecordUnreadable as exc:
            return _error(503, str(exc))
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


def _ends(body: Mapping[str, Any], now: float) -> float:
    """When a silence ends (Surge time): ``duration`` ("2h") from now, or ``ends`` (ISO 8601
    with its zone), exactly one of them; 400 naming the field otherwise."""
    duration, ends = body.get("duration"), body.get("ends")
    if (duration is None) == (ends is None):
        raise _Refused(400, "say how long the silence lasts: either duration (such as \"2h\") "
                            "or ends (such as \"2026-11-18T15:00:00Z\"), not both",
                       field="duration")
    if duration is not None:
        if not isinstance(duration, str):
            raise _Refused(400, f"duration must be text such as \"30m\" or \"2h\", not "
                                f"{_json_type(duration)}", field="duration")
        try:
            seconds = parse_duration(duration)
        except ValueError as exc:
            raise _Refused(400, f"duration: {exc}", field="duration") from None
        if seconds <= 0:
            raise _Refused(400, "duration must be more than 0: such as \"30m\" or \"2h\"",
                           field="duration")
        return now + seconds
    if not isinstance(ends, str):
        raise _Refused(400, f"ends must be an ISO 8601 time (text), not {_json_type(ends)}",
                       field="ends")
    try:
        when = datetime.fromisoformat(ends)
    except ValueError:
        raise _Refused(400, f"ends must be an ISO 8601 time such as \"2026-11-18T15:00:00Z\", "
                            f"not {ends[:40]!r}", field="ends") from None
    if when.tzinfo is None:
        raise _Refused(400, "ends must say its time zone: \"2026-11-18T15:00:00Z\" (UTC) or "
                            "\"2026-11-18T15:00:00+01:00\"", field="ends")
    return when.timestamp()


def _time(body: Mapping[str, Any], name: str) -> float | None:
    """An ISO 8601 time with its zone (null or absent: None); 400 naming the field."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Refused(400, f"{name} must be an ISO 8601 time (text), not {_json_type(value)}",
                       field=name)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise _Refused(400, f"{name} must be an ISO 8601 time such as "
                            f"\"2026-11-18T15:00:00Z\", not {value[:40]!r}", field=name) from None
    if when.tzinfo is None:
        raise _Refused(400, f"{name} must say its time zone: \"2026-11-18T15:00:00Z\" (UTC) "
                            f"or \"2026-11-18T15:00:00+01:00\"", field=name)
    return when.timestamp()


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


def alert_json(alert: Alert, now: float, ack: Ack | None = None,
               silences: Mapping[str, Silence] | None = None) -> dict[str, Any]:
    """One alert (active or resolved): what, how bad, since when, who was told, its
    acknowledgement (``taken_up`` false: recorded, the worker stops its escalation at its
    next step) and its escalation."""
    state = ack_state(alert, ack)
    acknowledgement = None
    if state == "acknowledged":
        acknowledgement = {"by": alert.acked_by, **_at("at", alert.acked_at),
                           "note": alert.ack_note, **_at("expires", alert.ack_expires),
                           "taken_up": True}
    elif state == "pending" and ack is not None:
        acknowledgement = {"by": ack.by, **_at("at", ack.at), "note": ack.note or None,
                           **_at("expires", None), "taken_up": False}
    active = alert.resolved_at is None
    step = alert.next_step
    upcoming = alert.next_escalation(now) if active and state == "unacknowledged" else None
    silence = next((s for s in (silences or {}).values() if s.covers(alert, now)), None)
    return {
        "id": alert.id, "kind": alert.kind, "name": alert.name, "title": alert.title,
        "level": alert.level, "level_name": alert.level_name, "severity": alert.severity,
        "reason": alert.reason, **_at("since", alert.since), **_at("fired_at", alert.fired_at),
        "site": alert.site, "function": alert.function, "exercise": alert.exercise,
        "receivers": list(alert.receivers), "notified": list(alert.notified),
        "withheld": list(alert.withheld),
        "unacknowledged": state == "unacknowledged",
        "unacknowledged_for": round(alert.unacked_for(now if active else
                                                      alert.resolved_at or now), 1),
        "acknowledgement": acknowledgement,
        "escalation": {
            "step": alert.step, "steps": len(alert.chain),
            "chain": [{"after": after, "receiver": receiver} for after, receiver in alert.chain],
            "next": {"receiver": step[1], **_at("at", upcoming)}
            if step is not None and upcoming is not None else None},
        "silenced_by": silence.id if silence is not None and active else None,
        **_at("resolved_at", alert.resolved_at), "resolved_reason": alert.resolved_reason,
        "url": f"/alerts#{alert.id}"}


def silence_json(silence: Silence) -> dict[str, Any]:
    return {"id": silence.id, "matcher": dict(silence.matcher), "reason": silence.reason,
            "by": silence.by, **_at("ends", silence.ends), **_at("created", silence.created)}


def alerts_json(context: DashboardContext) -> dict[str, Any]:
    """The active alerts (most urgent first), the silences in force and the alerts resolved
    most recently (newest first), with the counts the pages' headers show."""
    store = context.store()
    now = context.clock()
    book = AlertBook(store)
    active, acks = book.active(), book.acks()
    silences = {k: s for k, s in book.silences().items() if s.ends > now}
    ordered = sorted(active.values(), key=lambda a: urgency(a, ack_state(a, acks.get(a.id))))
    shown = [alert_json(a, now, acks.get(a.id), silences) for a in ordered]
    return {**_at("at", now), "mode": context.run_clock().mode,
            "worker": "stopped" if worker_stopped(store.worker(), now) else "running",
            "counts": {"active": len(shown),
                       "unacknowledged": sum(a["unacknowledged"] for a in shown),
                       "silences": len(silences)},
            "active": shown,
            "silences": [silence_json(s) for s in sorted(silences.values(),
                                                         key=lambda s: (s.ends, s.id))],
            "resolved": [alert_json(a, now) for a in book.resolved(HISTORY)]}


def acknowledged_json(done: AlertAcknowledgement) -> dict[str, Any]:
    return {"acknowledgement": {"alert": done.alert, "name": done.name, "by": done.by,
                                **_at("at", done.at), "note": done.note or None,
                                "via": "api"},
            "event_id": done.event_id}


def silenced_json(made: SilenceMade) -> dict[str, Any]:
    return {"silence": {"id": made.id, "matcher": made.matcher, "reason": made.reason,
                        "by": made.by, **_at("ends", made.ends)},
            "event_id": made.event_id}


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


def note_json(record: Mapping[str, Any]) -> dict[str, Any]:
    """A note on the timeline: its times, author, subject, text now and every version."""
    versions = record.get("versions") or [{}]
    return {"id": record["note"], "by": record["by"], "role": record.get("role"),
            **_at("at", record.get("at")), **_at("until", record.get("until")),
            "about": record.get("about"), "text": versions[-1].get("text"),
            "versions": [{"text": v.get("text"), "edit": v.get("edit"), "via": v.get("via"),
                          **_at("written", v.get("ts"))} for v in versions]}


def annotated_json(made: AnnotationMade) -> dict[str, Any]:
    return {"annotation": note_json(made.record), "event_id": made.event_id,
            "audit_id": made.audit_id}


def pushed_json(report: PushReport) -> dict[str, Any]:
    """What became of one push: how many samples were stored, already held (duplicates) or
    older than what is held (late), and each rejected sample's place in the body (its index
    in the JSON list, or its line in the CSV) with the reason."""
    return {"feed": report.feed, "function": report.function, "source": report.source,
            **_at("at", report.at), "received": report.received, "accepted": report.accepted,
            "duplicates": report.duplicates,
            "late": [{"metric": s.metric, "scope": s.scope, **_at("ts", s.ts)}
                     for s in report.late],
            "rejected": [{report.position: where, "reason": reason}
                         for where, reason in report.rejected]}


# --- pushed samples --------------------------------------------------------------------------


class _PushFeeds:
    """The push feeds of the feeds file in force, read again when the file or the rules
    version changes (one look at the file per push). One per app, as its context is."""

    def __init__(self, context: DashboardContext) -> None:
        self._context = context
        self._read: tuple[Any, ...] | None = None  # what the file was when last read
        self._feeds: dict[str, PushFeed] = {}
        self._error: ConfigError | None = None
        self._lock = threading.Lock()

    def get(self, name: str, catalogue: Catalogue) -> PushFeed | None:
        """The push feed ``name`` (None: no such push feed, or no feeds file); ConfigError
        when the feeds file has problems."""
        settings = self._context.settings
        path = settings.feeds_path
        if path is None:
            return None
        read: tuple[Any, ...]
        try:
            stat = path.stat()
            read = (str(path), stat.st_mtime_ns, stat.st_size, catalogue.version)
        except OSError:  # (load_feeds says what is wrong with it)
            read = (str(path), None, None, catalogue.version)
        with self._lock:
            if read != self._read:
                context = feed_context(settings, catalogue, self._context.run_clock())
                try:
                    self._feeds, self._error = push_feeds(path, context, ADAPTERS), None
                except ConfigError as exc:
                    self._feeds, self._error = {}, exc
                self._read = read
            if self._error is not None:
                raise self._error
            return self._feeds.get(name)


def _body_kind() -> Kind:
    """JSON or CSV, from the request's Content-Type; 415 for anything else."""
    mimetype = request.mimetype
    kind = BODY_KINDS.get(mimetype) or ("json" if mimetype.endswith("+json") else None)
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if kind is None or charset not in ("utf-8", "utf8"):
        sent = request.headers.get("Content-Type", "")[:80] or "no Content-Type"
        raise _Refused(415, f"send the samples as Content-Type: application/json (a list of "
                            f"samples) or text/csv (the columns ts,metric,scope,value), in "
                            f"UTF-8; not {sent}")
    return kind


def _too_big(limit: int) -> str:
    return (f"the body is over {limit:,} bytes, the most one push may send (SURGE_MAX_BODY): "
            f"send the samples in several pushes")


def _read_body(limit: int) -> bytes:
    """The body, read up to ``limit`` bytes (request.max_content_length): 413 past that, the
    rest unread."""
    try:
        body = request.get_data(cache=False)
        if request.content_length is None and request.stream.read(1):
            raise RequestEntityTooLarge()
    except RequestEntityTooLarge:
        raise _Refused(413, _too_big(limit)) from None
    return body


# --- the views -------------------------------------------------------------------------------


def _answer(status: int, body: Mapping[str, Any]) -> Response:
    response = flask.jsonify(body)
    response.status_code = status
    return response


def _with_csrf(response: Response) -> Response:
    """A read's answer to a signed-in user carries the session's CSRF token: what its POSTs
    and DELETEs must send back."""
    if current_principal().kind == "user":
        response.headers[CSRF_HEADER] = csrf_token()
    return response


def install_api(server: flask.Flask, context: DashboardContext) -> None:
    """The /api/v1/ routes on one app's server (after install_auth: its guard covers them),
    and the samples door, put ahead of the guard."""

    @role_required(needed("view"))
    @_answers
    def levels() -> Response:
        return _with_csrf(_answer(200, levels_json(current())))

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

    @role_required(needed("view"))
    @_answers
    def alerts() -> Response:
        return _with_csrf(_answer(200, alerts_json(current())))

    @role_required(needed("acknowledge"))
    @_answers
    def acknowledge(alert_id: str) -> Response:
        _csrf_checked()
        note = _text(_body(("note",)), "note", required=False)
        done = acknowledge_alert(context.store(), web_actor("api"), alert=alert_id, note=note)
        return _answer(201, acknowledged_json(done))

    @role_required(needed("silence"))
    @_answers
    def silence() -> Response:
        _csrf_checked()
        body = _body(("matcher", "duration", "ends", "reason"))
        matcher = body.get("matcher")
        if not isinstance(matcher, dict) or not matcher:
            raise _Refused(400, "matcher is required: an object of one or more of kind, name, "
                                "site, function, min_level, such as {\"kind\": \"feed\"}",
                           field="matcher")
        reason = _text(body, "reason", required=True)
        ends = _ends(body, context.clock())
        made = create_silence(context.store(), web_actor("api"), matcher=matcher, ends=ends,
                              reason=reason or "")
        return _answer(201, silenced_json(made))

    @role_required(needed("silence"))
    @_answers
    def unsilence(silence_id: str) -> Response:
        _csrf_checked()
        reason = _text(_body(("reason",)), "reason", required=False)
        store = context.store()
        if silence_id not in AlertBook(store).silences():
            raise _Refused(404, f"there is no silence {silence_id[:40]!r} in force: it may have "
                                f"ended (GET {PREFIX}/alerts lists those in force)")
        event_id = end_silence(store, web_actor("api"), silence=silence_id, reason=reason)
        return _answer(200, {"ended": {"id": silence_id, "reason": reason,
                                       **_at("at", context.clock())},
                             "event_id": event_id})

    pushed_feeds = _PushFeeds(context)

    @role_required(needed("view"))
    @_answers
    def notes() -> Response:
        start = _time(request.args, "from")
        end = _time(request.args, "to")
        found = [n for n in context.store().annotations().values()
                 if (start is None or (n.get("until") or n["at"]) >= start)
                 and (end is None or n["at"] <= end)]
        found.sort(key=lambda n: (n["at"], n["note"]))
        return _with_csrf(_answer(200, {"annotations": [note_json(n) for n in found]}))

    @role_required(needed("annotate"))
    @_answers
    def add_note() -> Response:
        _csrf_checked()
        body = _body(("text", "at", "until", "about"))
        made = annotate(context.store(), web_actor("api"),
                        text=_text(body, "text", required=True) or "",
                        at=_time(body, "at"), until=_time(body, "until"),
                        about=_text(body, "about", required=False))
        return _answer(201, annotated_json(made))

    @role_required(needed("annotate"))
    @_answers
    def change_note(note: str) -> Response:
        _csrf_checked()
        text = _text(_body(("text",)), "text", required=True) or ""
        store = context.store()
        if note not in store.annotations():
            raise _Refused(404, f"there is no note {note[:40]!r} (GET {PREFIX}/annotations "
                                f"lists them)")
        return _answer(200, annotated_json(annotate(store, web_actor("api"), text=text,
                                                    note=note)))

    def pushing_feed() -> tuple[PushFeed, Catalogue]:
        """The push feed whose token the request presents, and the catalogue in force: 401
        without a live token (none, unknown, revoked), 403 for a role token or a feed that is
        not a push feed of the feeds file, each refusal on the audit trail as the guard
        records its own; 503 when the store, the rules or the feeds file cannot be read."""
        target = f"{request.method} {request.path}"
        scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            audit_repeated("access_refused", actor(ANONYMOUS), reason="no feed token",
                           target=target)
            raise _Refused(401, FEED_TOKEN_NEEDED, headers={"WWW-Authenticate": "Bearer"})
        try:
            who = Tokens(context.store(), context.security_clock).resolve(token.strip(),
                                                                          address())
        except StoreUnavailable as exc:
            raise _Refused(503, f"the data store cannot be reached to check the feed token: "
                                f"{exc}") from None
        if who is None:
            audit_repeated("access_refused", actor(ANONYMOUS),
                           reason="unknown or revoked API token", target=target)
            raise _Refused(401, "feed token not valid: unknown or revoked (send the header "
                                "Authorization: Bearer surge_...)",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        caller = Actor(f"token:{who.name}", who.role, who.address)
        if who.feed is None:
            audit("access_refused", caller, reason="a role token cannot push samples",
                  target=target)
            raise _Refused(403, "a role token cannot push samples: make a feed token for the "
                                "pushing system with `surge tokens add NAME --feed FEED`")
        catalogue = context.catalogue()  # the samples are checked against the rules in force
        try:
            feed = pushed_feeds.get(who.feed, catalogue)
        except ConfigError as exc:
            raise _Refused(503, f"the feeds file has problems, so no push is taken until they "
                                f"are fixed (`surge feeds check`): {exc.problems[0]}") from None
        if feed is None:
            path = context.settings.feeds_path
            audit("access_refused", caller, reason="not a push feed of the feeds file",
                  feed=who.feed, target=target)
            where = f"the feeds file {path}" if path is not None else \
                "the feeds file (there is none: SURGE_FEEDS_FILE or ./feeds.yaml)"
            raise _Refused(403, f"feed {who.feed!r} is not a push feed of {where}: add it, "
                                f"with type: push, its function and its interval (docs/feeds.md)")
        return feed, catalogue

    @_answers
    def push() -> Response:
        limit = context.settings.max_body
        request.max_content_length = limit  # (not the guard's 16 KB: a push may be large)
        if (request.content_length or 0) > limit:
            raise _Refused(413, _too_big(limit))
        feed, catalogue = pushing_feed()
        kind = _body_kind()
        try:
            received = read_samples(kind, _read_body(limit))
        except BodyUnreadable as exc:
            return _error(400, str(exc), line=exc.line, column=exc.column)
        except TooManySamples as exc:
            raise _Refused(413, str(exc)) from None
        try:
            report = receive(feed, context.store(), catalogue, received, context.run_clock())
        except StoreUnavailable as exc:
            raise _Refused(503, f"the data store cannot be reached: {exc}; send the same body "
                                f"again when it answers (what was stored already is counted "
                                f"as duplicates, never stored twice)") from None
        return _answer(422 if report.stored_nothing else 200, pushed_json(report))

    def samples_door() -> Response | None:
        """POST /api/v1/samples, before the guard (whose callers are sessions and role
        tokens, and whose API bodies are at most 16 KB): nothing else is answered here."""
        if request.path != SAMPLES:
            return None
        if request.method != "POST":
            refused = _error(405, f"{request.method} is not allowed on {SAMPLES}: a system "
                                  f"POSTs its samples there")
            refused.headers["Allow"] = "POST"
            return refused
        return push()

    def unknown(rest: str) -> Response:  # rather than Dash's page for any path
        return _error(404, f"no such endpoint: GET {PREFIX}/{rest[:100]}; the endpoints are "
                           f"{ENDPOINTS} (docs/api.md)")

    add = server.add_url_rule
    add(f"{PREFIX}/levels", "api_levels", levels, methods=["GET"])
    add(f"{PREFIX}/declaration", "api_declare", declare, methods=["POST"])
    add(f"{PREFIX}/declaration", "api_withdraw", withdraw, methods=["DELETE"])
    add(f"{PREFIX}/actions/<action_id>/confirm", "api_confirm", confirm, methods=["POST"])
    add(f"{PREFIX}/alerts", "api_alerts", alerts, methods=["GET"])
    add(f"{PREFIX}/alerts/<alert_id>/ack", "api_ack", acknowledge, methods=["POST"])
    add(f"{PREFIX}/silences", "api_silence", silence, methods=["POST"])
    add(f"{PREFIX}/silences/<silence_id>", "api_unsilence", unsilence, methods=["DELETE"])
    add(f"{PREFIX}/annotations", "api_notes", notes, methods=["GET"])
    add(f"{PREFIX}/annotations", "api_add_note", add_note, methods=["POST"])
    add(f"{PREFIX}/annotations/<note>", "api_change_note", change_note, methods=["PUT"])
    add(f"{PREFIX}/<path:rest>", "api_unknown", unknown, methods=["GET"])
    server.register_error_handler(HTTPException, _http_error)
    server.before_request_funcs.setdefault(None, []).insert(0, samples_door)
