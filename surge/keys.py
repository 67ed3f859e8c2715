"""Every Redis key Surge uses: the only module that knows key names.

| key                                 | type   | owner        | retention                          |
|-------------------------------------|--------|--------------|------------------------------------|
| surge:ts:{metric}:{scope}:{day}     | string | store.write  | archived, then deleted, once its   |
|                                     |        |              | day leaves the hot window; expires |
|                                     |        |              | 7 days later should that stall     |
|   fixed 12-byte records, sorted by time: uint32 ms since the day's UTC midnight, float64 value |
| surge:latest                        | hash   | store.write  | one field per series, kept         |
|   field "{metric}|{scope}", value "{ts_ms}|" + 8-byte float64                                  |
| surge:batches                       | stream | store.write        | newest ~5,000 batch notices   |
|   one entry per stored batch: "src" (writer) and "b" (the accepted records, by series);   |
|   the rules engine reads it, so it evaluates every batch whoever wrote it                   |
| surge:clock                         | hash   | surge run / worker | the run's clock: mode, speed, origin |
| surge:events                        | stream | store.append_events | the hot window; older days are |
|   archived, then trimmed (surge.archive)                                                    |
|   entry: "kind", "at" (UTC epoch s), "data" (JSON: schema, exercise, the kind's fields; see  |
|   surge.events); id "max(at ms, last id ms)-seq", so ids follow event time (docs/events.md)  |
| surge:archive                       | hash   | surge.archive      | frontier: the first UTC day   |
|   still in the store (older days are in the archive); archived_at; last_error(_at)          |
| surge:quarantine                    | stream | store.quarantine   | newest ~10,000 entries        |
| surge:feed:{feed}                   | hash   | store.record_poll  | kept; one per feed            |
|   function, interval, state (up/degraded/down), last_success, last_attempt, last_error(_at), |
|   last_sample, down_since, failing_since, failures (in a row), last_attempts, last_duration; |
|   counters: polls, failed_polls, retries, accepted, rejected, late, duplicates, and          |
|   "rejected:{category}" per store.REJECTION_REASONS category                                |
| surge:feeds                         | set    | store.record_poll  | names of feeds seen           |
| surge:worker:lease                  | string | the active worker  | its id; expires unless renewed |
| surge:worker:last                   | string | the active worker  | id of the latest active worker |
| surge:workers                       | hash   | every worker       | id -> JSON; dropped when expired |
|   pid, host, role (active/standby), started, rules_version, expires_ms                      |
| surge:rules                         | hash   | the active worker  | the rules in force: version, text, |
|   source, loaded_by, loaded_at; every process uses this version                           |
| surge:engine                        | hash   | rules engine       | its state: "meta", "derived",   |
|   and "i:{trigger identity}" per trigger instance; kept so a restart continues exactly        |
| surge:levels                        | hash   | rules engine       | every level now, with reasons |
| surge:engine:reload                 | string | `surge rules reload` | deleted when the worker acts |
| surge:user:{name}                   | hash   | surge.auth.users   | kept; never deleted (disabled)  |
|   role, disabled, created, password_changed, epoch, and "hash": the argon2 hash, never the password |
| surge:users                         | set    | surge.auth.users   | names of every user           |
| surge:screen:{name}                 | hash   | surge.auth.screens | kept (revoked: until name reused) |
|   created, token_sha256, last_seen, last_address, revoked, revoked_at; never the token itself |
| surge:screens                       | set    | surge.auth.screens | names of every screen         |
| surge:screen-token:{sha256 hex}     | string | surge.auth.screens | screen name; deleted on revoke |
| surge:token:{name}                  | hash   | surge.auth.tokens  | kept (revoked: until name reused) |
|   role, created, created_by, token_sha256, last_used, last_address, revoked, revoked_at;   |
|   never the token itself                                                                   |
| surge:tokens                        | set    | surge.auth.tokens  | names of every API token      |
| surge:token-hash:{sha256 hex}       | string | surge.auth.tokens  | token name; deleted on revoke |
| surge:declaration                   | string | surge.actions      | the declared trust level, JSON; |
|   deleted on withdrawal. level, level_name, at, by, role, via, reason, calculated,         |
|   rules_version; diverging_since and the calculated level it was worked out for            |
|   (seen_level, seen_since), which surge.declarations.trust_status brings up to date         |
| surge:checklist:{protocol}          | hash   | surge.actions      | kept: a few fields per episode |
|   field "{episode since}|{level}|{action id}" -> JSON confirmation: by, role, via, at, note |
| surge:alerts                        | hash   | surge.alerting     | active alerts: id -> JSON     |
| surge:alerts:resolved               | zset   | surge.alerting     | resolved alerts, by end; ~2,000 |
| surge:alerts:acks                   | hash   | surge.actions      | alert id -> acknowledgement   |
|   JSON: by, role, at, note, via; read by the alerter, dropped when the alert resolves      |
| surge:alerts:conditions             | hash   | surge.alerting     | raised by events: a rules file |
|   rejected, a delivery failed; "kind:name" -> JSON condition, deleted when it clears       |
| surge:alerts:groups                 | hash   | surge.alerting     | receiver -> JSON messages     |
|   waiting for group_wait, and when they are due                                            |
| surge:silences                      | hash   | surge.actions      | silence id -> JSON: matcher,  |
|   ends, reason, by; deleted when it ends                                                    |
| surge:outbox                        | hash   | surge.alerting     | notification id -> JSON:      |
|   receiver, messages, every attempt's outcome, state (pending, delivered, failed)          |
| surge:outbox:due                    | zset   | surge.alerting     | pending ids by next attempt   |
|   (real time, ms); a claimed one is held HOLD seconds, then due again if not recorded      |
| surge:alerts:worker-claim           | string | web / standby      | who sends "no active worker"  |
| surge:session:{sha256 hex}          | hash   | surge.auth.sessions | until signed out or ended; a   |
|   user's expires SURGE_SESSION_MAX after sign-in. kind, name, created, last_seen, address;  |
|   keyed by the sha256 of the id in the browser's cookie, never the id itself               |
| surge:sessions:{kind}:{name}        | set    | surge.auth.sessions | the session digests of one user |
|   or screen; members whose session has gone are dropped when listed or added to            |
| surge:login-limit:{what}:{who}      | zset   | surge.auth.throttle | failed sign-ins and screen    |
|   links in the last window (member: attempt id, score: time); expires with the window      |
| surge:audit-repeats                 | zset   | surge.auth.audit   | open repeat counts, by window start |
| surge:audit-repeat:{action}:{address} | hash | surge.auth.audit   | one open count of a refusal    |
|   repeated from one address: start, last, count, entry (JSON); recorded and deleted when   |
|   its window has closed                                                                    |

Audit entries are events of kind "audit" in surge:events (surge.auth.audit), so they are kept
with the timeline and nothing edits or deletes them.
"""

from __future__ import annotations

__all__ = [
    "ALERTS",
    "ALERTS_RESOLVED",
    "ALERT_ACKS",
    "ALERT_CONDITIONS",
    "ALERT_GROUPS",
    "ANNOTATIONS",
    "ARCHIVE",
    "AUDIT_REPEATS",
    "BATCHES",
    "CHUNK_MATCH",
    "CLOCK",
    "DAY_MS",
    "DECLARATION",
    "ENGINE",
    "EVENTS",
    "FEEDS",
    "LATEST",
    "LEASE",
    "LEASE_LAST",
    "LEVELS",
    "LOGIN_LIMITS",
    "META",
    "OUTBOX",
    "OUTBOX_DUE",
    "QUARANTINE",
    "RELOAD",
    "RULES",
    "SCREENS",
    "SILENCES",
    "TOKENS",
    "USERS",
    "WORKER",
    "WORKERS",
    "WORKER_ALERT_CLAIM",
    "audit_repeat",
    "checklist",
    "chunk",
    "feed",
    "is_account_key",
    "login_limit",
    "screen",
    "screen_token",
    "series_field",
    "session",
    "sessions_of",
    "split_series_field",
    "token",
    "token_hash",
    "user",
]

PREFIX = "surge:"
LATEST = PREFIX + "latest"
EVENTS = PREFIX + "events"
BATCHES = PREFIX + "batches"
CLOCK = PREFIX + "clock"
QUARANTINE = PREFIX + "quarantine"
FEEDS = PREFIX + "feeds"
WORKER = PREFIX + "worker"  # no longer written; kept so old keys can be recognised
LEASE = PREFIX + "worker:lease"
LEASE_LAST = PREFIX + "worker:last"
WORKERS = PREFIX + "workers"
RULES = PREFIX + "rules"
META = PREFIX + "meta"
ENGINE = PREFIX + "engine"
LOGIN_LIMITS = PREFIX + "login-limit"  # prefix of the failed-attempt counts (surge.auth.throttle)
LEVELS = PREFIX + "levels"
RELOAD = PREFIX + "engine:reload"
USERS = PREFIX + "users"
SCREENS = PREFIX + "screens"
TOKENS = PREFIX + "tokens"
DECLARATION = PREFIX + "declaration"
ARCHIVE = PREFIX + "archive"  # hash: frontier (first day still here), archived_at, last_error
ANNOTATIONS = PREFIX + "annotations"  # hash: note id -> the note and its every version (JSON)
ALERTS = PREFIX + "alerts"
ALERTS_RESOLVED = PREFIX + "alerts:resolved"
ALERT_ACKS = PREFIX + "alerts:acks"
ALERT_CONDITIONS = PREFIX + "alerts:conditions"
ALERT_GROUPS = PREFIX + "alerts:groups"
SILENCES = PREFIX + "silences"
OUTBOX = PREFIX + "outbox"
OUTBOX_DUE = PREFIX + "outbox:due"
WORKER_ALERT_CLAIM = PREFIX + "alerts:worker-claim"
AUDIT_REPEATS = PREFIX + "audit-repeats"
DAY_MS = 86_400_000


ACCOUNT_PREFIXES = (PREFIX + "user:", PREFIX + "screen:", PREFIX + "screen-token:",
                    PREFIX + "session", PREFIX + "token", LOGIN_LIMITS)


def is_account_key(key: str) -> bool:
    """Keys about people and screens (kept when an exercise's data are cleared)."""
    return key in (USERS, SCREENS) or key.startswith(ACCOUNT_PREFIXES)


CHUNK_MATCH = f"{PREFIX}ts:*"  # every day chunk (a SCAN pattern)


def chunk(metric: str, scope: str, day: int) -> str:
    """The key holding one series' samples for one UTC day (days since 1970-01-01)."""
    return f"{PREFIX}ts:{metric}:{scope}:{day}"


def series_field(metric: str, scope: str) -> str:
    return f"{metric}|{scope}"


def split_series_field(field: str) -> tuple[str, str]:
    metric, _, scope = field.partition("|")
    return metric, scope


def feed(name: str) -> str:
    return f"{PREFIX}feed:{name}"


def user(name: str) -> str:
    return f"{PREFIX}user:{name}"


def screen(name: str) -> str:
    return f"{PREFIX}screen:{name}"


def screen_token(digest: str) -> str:
    """The key mapping a screen token's sha256 (hex) to the screen's name."""
    return f"{PREFIX}screen-token:{digest}"


def session(digest: str) -> str:
    """The key of one signed-in session, by the sha256 (hex) of its id."""
    return f"{PREFIX}session:{digest}"


def sessions_of(kind: str, name: str) -> str:
    """The set of session digests of one user (kind "user") or wall screen ("screen")."""
    return f"{PREFIX}sessions:{kind}:{name}"


def login_limit(what: str, who: str) -> str:
    """Recent failed attempts of one kind ("address", "user", "screen-link") by one caller."""
    return f"{LOGIN_LIMITS}:{what}:{who}"


def audit_repeat(action: str, address: str) -> str:
    """The open count of one refusal repeated from one address."""
    return f"{PREFIX}audit-repeat:{action}:{address}"


def token(name: str) -> str:
    """The key of one API token's record (never the token itself)."""
    return f"{PREFIX}token:{name}"


def token_hash(digest: str) -> str:
    """The key mapping an API token's sha256 (hex) to the token's name."""
    return f"{PREFIX}token-hash:{digest}"


def checklist(protocol: str) -> str:
    """The confirmations of one protocol's action checklist, by episode."""
    return f"{PREFIX}checklist:{protocol}"
