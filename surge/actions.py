"""Every state-changing action, one function each: the same for a page, the API and the CLI.

An action takes the store, who is acting (an Actor: name, role, address, via) and its
arguments. It checks the actor's role against the one role table (surge.auth.roles.NEEDED),
makes the change, records it on the audit trail (and its own event, when it has one) and
returns a frozen record of what it did. Pages, API routes and commands are thin callers:
they say who is acting and show the result; none of them repeats a check or a write.

    SurgeError
     +-- Forbidden       the actor's role is below what the action needs (on the audit trail)
     +-- UnknownActor    acting as a user who does not exist, or is disabled
     +-- InvalidArgument a level that does not exist, an empty or too long reason, a bad name
     |    +-- UnknownAction  no action of the rules in force has this id
     +-- Conflict        not possible as things stand: nothing declared to withdraw, an
                         action whose level is not in force

A refusal is audited and changes nothing else; a bad argument or a conflict changes nothing.

To add an action (acknowledge an alert, silence a feed, ...): one row in NEEDED, a frozen
result dataclass and one function here, shaped like ``reload_rules``::

    def acknowledge(store: Store, actor: Actor, *, alert: str, note: str) -> Acknowledgement:
        _allow(store, actor, "acknowledge")
        ...write through the store's public methods...
        entry = record(store, "alert_acknowledged", actor, alert=alert, note=note)
        return Acknowledgement(...)

An action whose state and record must not part (a declaration, a confirmation) writes its
event and its audit entry in the same transaction as its state (``_audit`` builds the entry).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from surge import keys
from surge.auth.audit import Actor, Via, record
from surge.auth.roles import allows, check_role, needed
from surge.auth.tokens import ApiToken, Tokens, check_feed_name, check_token_name
from surge.auth.users import Users
from surge.catalogue import Catalogue
from surge.configfile import did_you_mean
from surge.declarations import (
    MAX_TEXT,
    Confirmation,
    Declaration,
    PlannedAction,
    declaration_record,
    diverging_since,
    episode_field,
    planned_actions,
)
from surge.errors import SurgeError
from surge.events import (
    ActionConfirmed,
    AlertAcknowledged,
    Annotation,
    AuditEntry,
    DeclarationWithdrawn,
    Declared,
    Recorder,
    SilenceCreated,
    SilenceEnded,
    ok_by_default,
)
from surge.levels import OVERALL
from surge.rules.loader import check_rules
from surge.rules.model import Rules
from surge.store import Store

__all__ = [
    "Actor",
    "AlertAcknowledgement",
    "AnnotationMade",
    "ConfirmationMade",
    "Conflict",
    "DeclarationMade",
    "Forbidden",
    "InvalidArgument",
    "RulesReloadRequested",
    "SilenceMade",
    "TokenAdded",
    "TokenRevoked",
    "UnknownAction",
    "UnknownActor",
    "UnknownAlert",
    "Via",
    "WithdrawalMade",
    "acknowledge_alert",
    "act_as",
    "add_token",
    "annotate",
    "confirm_action",
    "create_silence",
    "declare_level",
    "end_silence",
    "reload_rules",
    "revoke_token",
    "withdraw_declaration",
]

_TRIES = 10  # attempts at a compare-and-set write before giving up (another change raced it)


class Forbidden(SurgeError):
    """``role`` may not do ``action``, which needs ``needed``; the refusal is audited."""

    def __init__(self, action: str, role: str, needed: str) -> None:
        self.action, self.role, self.needed = action, role, needed
        super().__init__(f"not allowed: {action} needs the {needed} role; "
                         f"{role or 'no role'} is not enough")


class UnknownActor(SurgeError):
    """Acting as a user who does not exist or is disabled."""


class InvalidArgument(SurgeError):
    """An argument the action cannot take: the message says what is allowed."""


class UnknownAlert(InvalidArgument):
    """No active alert has that id."""


class UnknownAction(InvalidArgument):
    """No action of the rules in force has this id."""


class Conflict(SurgeError):
    """The action does not fit how things stand now (nothing declared to withdraw, an action
    whose level is not in force)."""


# --- who is acting ---------------------------------------------------------------------


def act_as(store: Store, name: str, *, via: Via, address: str = "local") -> Actor:
    """The named user as the actor, with the role the store holds for them; UnknownActor
    for an unknown or disabled user (a disabled user's attempt is on the audit trail)."""
    try:
        user = Users(store).require(name)
    except SurgeError as exc:  # unknown (with the closest name), or not a valid user name
        raise UnknownActor(str(exc)) from None
    if user.disabled:
        record(store, "access_refused", Actor(user.name, user.role, address, via),
               reason="disabled user")
        raise UnknownActor(f"user {name!r} is disabled: a disabled user cannot act "
                           f"(`surge users enable {name}` lets them again)")
    return Actor(user.name, user.role, address, via)


def _allow(store: Store, actor: Actor, action: str) -> None:
    """Forbidden, on the audit trail, unless the actor's role allows ``action``."""
    least = needed(action)
    if not allows(actor.role, least):
        record(store, "access_refused", actor, needed=least, target=f"action {action}")
        raise Forbidden(action, actor.role, least)


# --- the actions -----------------------------------------------------------------------


@dataclass(frozen=True)
class RulesReloadRequested:
    """The worker was asked to reload ``rules``; ``problems`` are what it will reject
    (when there are any, it keeps the running rules)."""

    at: float
    by: str
    rules: str
    problems: tuple[str, ...]
    audit_id: str

    @property
    def accepted(self) -> bool:
        return not self.problems


def reload_rules(store: Store, actor: Actor, *, rules: Path | str) -> RulesReloadRequested:
    """Ask the running worker to reload the rules file; the file is checked first, so the
    caller can say at once what the worker will reject. Needs ``reload_rules``."""
    _allow(store, actor, "reload_rules")
    _, problems = check_rules(rules)
    at = store.clock()
    store.request_reload(by=actor.label)
    entry = record(store, "rules_reload_requested", actor, at=at, rules=str(rules),
                   problems=len(problems))
    return RulesReloadRequested(at=at, by=actor.label, rules=str(rules),
                                problems=tuple(str(p) for p in problems), audit_id=entry)


# --- the declared trust level --------------------------------------------------------------


@dataclass(frozen=True)
class DeclarationMade:
    """``declaration`` is in force; ``previous`` was the level declared before it (None: no
    declaration); whether it diverges from the calculated level, and since when."""

    declaration: Declaration
    previous: int | None
    diverges: bool
    diverging_since: float | None
    event_id: str
    audit_id: str


@dataclass(frozen=True)
class WithdrawalMade:
    """The declaration of ``level`` was withdrawn: no level is declared now."""

    at: float
    by: str
    level: int
    reason: str
    event_id: str
    audit_id: str


def declare_level(store: Store, actor: Actor, *, level: int, reason: str,
                  catalogue: Catalogue) -> DeclarationMade:
    """Declare the trust's level (one of ``catalogue``'s, the rules in force) with a reason;
    it replaces any declaration in force. Needs ``declare``. The Declared event, the audit
    entry and the declaration are written in one transaction."""
    _allow(store, actor, "declare")
    number = _check_level(level, catalogue)
    why = _check_text(reason, "reason", required=True)
    name = catalogue.level(number).name
    recorder = Recorder(store)
    for _ in range(_TRIES):
        before = store.declaration()
        now = recorder.now()
        calculated = store.published_levels(catalogue).get(OVERALL)
        was = diverging_since(store, before, calculated) if before else None
        kept = declaration_record(level=number, level_name=name, at=now, by=actor.name,
                                  role=actor.role, via=actor.via, reason=why,
                                  rules_version=catalogue.version, calculated=calculated,
                                  diverging_before=was)
        previous = int(before["level"]) if before else None
        calc = calculated.level if calculated is not None else None
        event = Declared(ts=now, by=actor.name, role=actor.role, via=actor.via, level=number,
                         level_name=name, previous=previous, calculated=calc, reason=why,
                         rules_version=catalogue.version)
        audit = _audit(actor, "level_declared", now, level=number, reason=why,
                       previous=previous, calculated=calc)
        ids = store.swap_declaration(before, kept, [recorder.encode(event),
                                                    recorder.encode(audit)])
        if ids is not None:
            since = kept["diverging_since"]
            return DeclarationMade(Declaration.from_record(kept, catalogue), previous,
                                   since is not None, since, ids[0], ids[1])
    raise Conflict("the declaration kept changing while this one was made; nothing was "
                   "declared: look again and try again")


def withdraw_declaration(store: Store, actor: Actor, *, reason: str | None = None,
                         catalogue: Catalogue) -> WithdrawalMade:
    """Withdraw the declaration in force (Conflict when there is none): the calculated level
    is shown alone again. Needs ``declare``."""
    _allow(store, actor, "declare")
    why = _check_text(reason, "reason", required=False)
    recorder = Recorder(store)
    for _ in range(_TRIES):
        before = store.declaration()
        if not before:
            raise Conflict("nothing to withdraw: no level is declared")
        now = recorder.now()
        level = int(before["level"])
        calculated = store.published_levels(catalogue).get(OVERALL)
        calc = calculated.level if calculated is not None else None
        event = DeclarationWithdrawn(ts=now, by=actor.name, role=actor.role, via=actor.via,
                                     level=level, reason=why, calculated=calc,
                                     rules_version=catalogue.version)
        audit = _audit(actor, "declaration_withdrawn", now, level=level, reason=why,
                       calculated=calc)
        ids = store.swap_declaration(before, None, [recorder.encode(event),
                                                    recorder.encode(audit)])
        if ids is not None:
            return WithdrawalMade(now, actor.name, level, why, ids[0], ids[1])
    raise Conflict("the declaration kept changing while it was withdrawn; nothing was "
                   "withdrawn: look again and try again")


# --- the action checklist ------------------------------------------------------------------


@dataclass(frozen=True)
class ConfirmationMade:
    """``action`` is confirmed in the current episode of its protocol's level. ``already``:
    it had been confirmed before (``confirmation`` is that one; nothing was recorded)."""

    confirmation: Confirmation
    action: PlannedAction
    already: bool
    event_id: str  # "" when already
    audit_id: str  # "" when already


def confirm_action(store: Store, actor: Actor, *, action_id: str, note: str | None = None,
                   rules: Rules) -> ConfirmationMade:
    """Confirm an action in force now as done, with an optional note. Needs ``confirm``.
    Confirming it again in the same episode changes nothing and returns the first
    confirmation (``already``); an unknown id is UnknownAction, an action of a level above
    its protocol's level now is Conflict."""
    _allow(store, actor, "confirm")
    text = _check_text(note, "note", required=False)
    planned = planned_actions(rules)
    action = planned.get(action_id)
    if action is None:
        raise UnknownAction(f"unknown action {action_id!r}{did_you_mean(action_id, planned)}; "
                            f"`surge actions` lists the actions in force with their ids")
    level = store.published_levels(rules.catalogue).get(action.protocol)
    if level is None:
        raise Conflict(f"{action.protocol_label} has no calculated level yet (is the worker "
                       f"running? see `surge status`), so none of its actions is in force")
    if level.level < action.level:
        raise Conflict(f"action {action.id} is for {action.protocol_label} at level "
                       f"{action.level} and above; it is at level {level.level} "
                       f"{level.level_name} now, so the action is not in force")
    recorder = Recorder(store)
    now = recorder.now()
    kept = {"action_id": action.id, "level": level.level, "since": level.since,
            "do": action.do, "action_level": action.level, "owner": action.owner,
            "by": actor.name, "role": actor.role, "via": actor.via, "at": now, "note": text}
    event = ActionConfirmed(ts=now, by=actor.name, role=actor.role, via=actor.via,
                            name=action.protocol, level=level.level, since=level.since,
                            action=action.do, action_id=action.id, action_level=action.level,
                            owner=action.owner, note=text, rules_version=rules.version)
    audit = _audit(actor, "action_confirmed", now, action_id=action.id,
                   protocol=action.protocol, level=level.level, note=text)
    where = episode_field(level.since, level.level, action.id)
    ids = store.add_confirmation(action.protocol, where, kept,
                                 [recorder.encode(event), recorder.encode(audit)])
    if ids is None:
        first = store.confirmations(action.protocol)[where]
        return ConfirmationMade(Confirmation.from_record(action.protocol, first), action,
                                True, "", "")
    return ConfirmationMade(Confirmation.from_record(action.protocol, kept), action, False,
                            ids[0], ids[1])


# --- API tokens ----------------------------------------------------------------------------


# --- alerts: acknowledging, and silences --------------------------------------------------

SILENCE_FIELDS = ("kind", "name", "site", "function", "min_level")
MAX_SILENCE = 7 * 86400.0  # seconds: a silence longer than a week is a config change


@dataclass(frozen=True)
class AlertAcknowledgement:
    """``alert`` is taken on by ``by``: its escalation stops until the acknowledgement
    expires (the route's ack_timeout) while it still fires."""

    alert: str
    name: str
    by: str
    at: float
    note: str
    event_id: str


def acknowledge_alert(store: Store, actor: Actor, *, alert: str,
                      note: str | None = None) -> AlertAcknowledgement:
    """Acknowledge an active alert (InvalidArgument if there is no such active alert).
    Needs ``acknowledge``. The acknowledgement, its event and its audit entry are written
    in one transaction; the worker tells everyone notified so far, at its next step."""
    from surge.alerting.book import Ack, AlertBook, dump

    _allow(store, actor, "acknowledge")
    text = _check_text(note, "note", required=False)
    found = AlertBook(store).active().get(alert) if isinstance(alert, str) else None
    if found is None:
        raise UnknownAlert(f"there is no active alert {str(alert)[:40]!r}: it may have "
                           f"resolved; see `surge alerts list`")
    recorder = Recorder(store)
    now = recorder.now()
    event = AlertAcknowledged(ts=now, by=actor.name, role=actor.role, via=actor.via,
                              alert=found.id, name=found.name, note=text)
    audit = _audit(actor, "alert_acknowledged", now, alert=found.id, name=found.name,
                   note=text)
    ids = store.put_field(keys.ALERT_ACKS, found.id,
                          dump(Ack(by=actor.name, role=actor.role, at=now, note=text,
                                   via=actor.via or "")),
                          [recorder.encode(event), recorder.encode(audit)])
    return AlertAcknowledgement(found.id, found.name, actor.name, now, text, ids[0])


@dataclass(frozen=True)
class SilenceMade:
    id: str
    matcher: dict[str, Any]
    ends: float
    reason: str
    by: str
    event_id: str


def create_silence(store: Store, actor: Actor, *, matcher: Mapping[str, Any], ends: float,
                   reason: str) -> SilenceMade:
    """Silence the alerts matching ``matcher`` (kind, name, site, function, min_level;
    at least one) until ``ends`` (Surge time), for a reason (required). Needs ``silence``.
    Silenced alerts still show on /alerts; nobody is notified of them meanwhile."""
    from surge.alerting.book import Silence, dump

    _allow(store, actor, "silence")
    why = _check_text(reason, "reason", required=True)
    if not isinstance(matcher, Mapping) or not matcher:
        raise InvalidArgument(f"say what to silence: one or more of "
                              f"{', '.join(SILENCE_FIELDS)}")
    clean: dict[str, Any] = {}
    for key, value in matcher.items():
        if key not in SILENCE_FIELDS:
            raise InvalidArgument(f"a silence cannot match on {str(key)[:40]!r}"
                                  f"{did_you_mean(key, SILENCE_FIELDS)}; it matches on "
                                  f"{', '.join(SILENCE_FIELDS)}")
        if key == "min_level":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 9:
                raise InvalidArgument("min_level must be a level number")
        elif not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise InvalidArgument(f"{key} must be a name (text)")
        clean[key] = value.strip() if isinstance(value, str) else value
    recorder = Recorder(store)
    now = recorder.now()
    if isinstance(ends, bool) or not isinstance(ends, int | float) or ends != ends:
        raise InvalidArgument("the end of a silence must be a time")
    if ends <= now:
        raise InvalidArgument("a silence must end in the future")
    if ends - now > MAX_SILENCE:
        raise InvalidArgument("a silence may last at most 7 days: for longer, change the "
                              "routes in the alerting config")
    silence = Silence(id="si-" + secrets.token_hex(5), matcher=clean, ends=float(ends),
                      reason=why, by=actor.name, created=now)
    event = SilenceCreated(ts=now, by=actor.name, role=actor.role, via=actor.via,
                           silence=silence.id, matcher=clean, ends=silence.ends, reason=why)
    audit = _audit(actor, "silence_created", now, silence=silence.id, matcher=clean,
                   ends=silence.ends, reason=why)
    ids = store.put_field(keys.SILENCES, silence.id, dump(silence),
                          [recorder.encode(event), recorder.encode(audit)])
    return SilenceMade(silence.id, clean, silence.ends, why, actor.name, ids[0])


def end_silence(store: Store, actor: Actor, *, silence: str,
                reason: str | None = None) -> str:
    """Lift a silence before its end. Needs ``silence``; returns the event's id."""
    from surge.alerting.book import AlertBook

    _allow(store, actor, "silence")
    why = _check_text(reason, "reason", required=False)
    if not isinstance(silence, str) or silence not in AlertBook(store).silences():
        raise InvalidArgument(f"there is no silence {str(silence)[:40]!r} in force")
    recorder = Recorder(store)
    now = recorder.now()
    event = SilenceEnded(ts=now, silence=silence, reason=why or "lifted", by=actor.name,
                         via=actor.via)
    audit = _audit(actor, "silence_ended", now, silence=silence, reason=why)
    return store.put_field(keys.SILENCES, silence, None,
                           [recorder.encode(event), recorder.encode(audit)])[0]


@dataclass(frozen=True)
class TokenAdded:
    """A new API token: ``token`` is shown once and never stored (only its sha256 is). A feed
    token has ``feed`` and no role ("")."""

    name: str
    role: str
    token: str = field(repr=False)
    feed: str | None = None


@dataclass(frozen=True)
class TokenRevoked:
    """The API token no longer works; ``already``: it had been revoked before."""

    token: ApiToken
    already: bool


def add_token(store: Store, actor: Actor, *, name: str, role: str | None = None,
              feed: str | None = None, tokens: Tokens | None = None) -> TokenAdded:
    """Add an API token with ``role`` (from the one role table), or a feed token that may only
    push the samples of ``feed`` (one of the two). Needs ``manage_tokens``."""
    _allow(store, actor, "manage_tokens")
    if (role is None) == (feed is None):
        raise InvalidArgument("give the token one of a role (what it may do with the API) and "
                              "a feed (whose samples it may push)")
    try:
        check_token_name(name)
        if role is not None:
            check_role(role)
        if feed is not None:
            check_feed_name(feed)
    except (SurgeError, ValueError) as exc:
        raise InvalidArgument(str(exc)) from None
    tokens = tokens or Tokens(store)
    live = tokens.get(name)
    if live is not None and not live.revoked:
        raise Conflict(f"an API token named {name!r} already exists; revoke it first or "
                       f"choose another name")
    if feed is not None:
        return TokenAdded(name, "", tokens.add_feed(name, feed, by=actor), feed)
    assert role is not None
    return TokenAdded(name, role, tokens.add(name, role, by=actor))


def revoke_token(store: Store, actor: Actor, *, name: str,
                 tokens: Tokens | None = None) -> TokenRevoked:
    """Revoke an API token at once. Needs ``manage_tokens``."""
    _allow(store, actor, "manage_tokens")
    tokens = tokens or Tokens(store)
    before = tokens.get(name)
    if before is None:
        known = [t.name for t in tokens.list()]
        raise InvalidArgument(f"unknown API token {name!r}{did_you_mean(name, known)}")
    after = tokens.revoke(name, by=actor)
    return TokenRevoked(after, before.revoked)


# --- checks shared by the actions ------------------------------------------------------------


# --- notes on the timeline ---------------------------------------------------------------

FUTURE_NOTE = 300.0  # seconds ahead of the clock a note may be about (clocks differ a little)


@dataclass(frozen=True)
class AnnotationMade:
    """Note ``note`` as it stands now (``record``: its times and every version, oldest
    first), after a new note (``edit`` 0) or its author's change ``edit``."""

    note: str
    edit: int
    record: Mapping[str, Any]
    event_id: str
    audit_id: str


def annotate(store: Store, actor: Actor, *, text: str, at: float | None = None,
             until: float | None = None, about: str | None = None,
             note: str | None = None) -> AnnotationMade:
    """Put a note on the timeline, at a time (default now) or over a span; or, with
    ``note``, change the text of a note of one's own: every version is kept, and nobody
    changes or removes another's note. Needs ``annotate``."""
    _allow(store, actor, "annotate")
    words = _check_text(text, "note", required=True)
    subject = _check_text(about, "subject", required=False) or None
    recorder = Recorder(store)
    for _ in range(_TRIES):
        now = recorder.now()
        before = store.annotations().get(note) if note is not None else None
        if note is not None and before is None:
            raise InvalidArgument(f"there is no note {note[:40]!r} to change")
        if before is not None and before["by"] != actor.name:
            raise Conflict(f"note {note} is {before['by']}'s: only its author may change it "
                           f"(add a note of your own instead)")
        if before is None:
            when = now if at is None else _check_time(at, "at", now)
            end = None if until is None else _check_time(until, "until", now)
            if end is not None and end <= when:
                raise InvalidArgument("until must be after at: a span ends after it starts")
            number = 0
            ident = note or f"an-{secrets.token_hex(5)}"
            kept: dict[str, Any] = {"note": ident, "by": actor.name, "role": actor.role,
                                    "at": when, "until": end, "about": subject, "versions": []}
        else:
            if at is not None or until is not None or about is not None:
                raise InvalidArgument("a change of a note changes its text only; add a new "
                                      "note for another time or subject")
            ident, number = before["note"], len(before["versions"])
            kept = {**before, "versions": list(before["versions"])}
            when, end, subject = kept["at"], kept["until"], kept["about"]
        kept["versions"].append({"text": words, "ts": now, "via": actor.via, "edit": number})
        event = Annotation(ts=now, by=actor.name, role=actor.role, via=actor.via, text=words,
                           name=subject, note=ident, time=when, until=end, edit=number)
        audit = _audit(actor, "annotated" if number == 0 else "annotation_changed", now,
                       note=ident, edit=number)
        ids = store.swap_annotation(ident, before, kept, [recorder.encode(event),
                                                          recorder.encode(audit)])
        if ids is not None:
            return AnnotationMade(ident, number, kept, ids[0], ids[1])
    raise Conflict("the note kept changing while this change was made; nothing was "
                   "written: look again and try again")


def _check_time(value: Any, what: str, now: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InvalidArgument(f"{what} must be a time")
    if value > now + FUTURE_NOTE:
        raise InvalidArgument(f"{what} is in the future: a note is about what has happened")
    return float(value)


def _check_level(level: Any, catalogue: Catalogue) -> int:
    known = ", ".join(f"{lv.number} {lv.name}" for lv in catalogue.levels)
    if isinstance(level, bool) or not isinstance(level, int):
        raise InvalidArgument(f"the level must be a number; the levels are {known}")
    try:
        catalogue.level(level)
    except KeyError:
        raise InvalidArgument(f"there is no level {level}; the levels are {known}") from None
    return level


def _check_text(text: str | None, what: str, *, required: bool) -> str:
    """``text`` trimmed; InvalidArgument when required and empty, too long, or holding
    control characters (other than new lines and tabs)."""
    if text is None and not required:
        return ""
    if not isinstance(text, str):
        raise InvalidArgument(f"the {what} must be text")
    text = text.strip()
    if required and not text:
        raise InvalidArgument(f"a {what} is required: say why, in at most {MAX_TEXT} "
                              f"characters")
    if len(text) > MAX_TEXT:
        raise InvalidArgument(f"the {what} is {len(text)} characters long; at most "
                              f"{MAX_TEXT} are allowed")
    if any(not (c.isprintable() or c in "\n\t") for c in text):
        raise InvalidArgument(f"the {what} must not hold control characters")
    return text


def _audit(actor: Actor, action: str, at: float, **details: Any) -> AuditEntry:
    """The audit entry of an action, for writing in the action's own transaction."""
    return AuditEntry(ts=at, action=action, user=actor.name, role=actor.role,
                      address=actor.address, via=actor.via, ok=ok_by_default(action),
                      details=details)
