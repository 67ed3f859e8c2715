"""alerting.yaml into frozen objects: who is told about which alerts, how, and when; and the
SMTP server from SURGE_SMTP_URL.

The file is checked like the rules file: every problem at once, sorted by line, as
``FILE:LINE:COL: message`` with "did you mean ...?" for a misspelt key or receiver. Secrets
never live in it: header values, webhook URLs that carry a key, and the SMTP password come
from the environment (``headers_env``, ``url_env``, SURGE_SMTP_URL), so the file can be read,
reviewed and kept in version control by anyone.

Given the rules (``rules=``), the sites, functions and level names a route matches on are
checked against them too, so that a misspelt site is reported rather than never matching.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from surge.catalogue import content_digest, read_document
from surge.configfile import Node, Reader, describe, did_you_mean
from surge.durations import format_duration
from surge.errors import ConfigError, Problem

if TYPE_CHECKING:
    from surge.rules.model import Rules

__all__ = [
    "FORMATS",
    "KINDS",
    "MAX_RECEIVERS",
    "MAX_ROUTES",
    "AlertingConfig",
    "AlertmanagerTarget",
    "EmailTarget",
    "Match",
    "Receiver",
    "Route",
    "SmtpServer",
    "Step",
    "Timing",
    "WebhookTarget",
    "check_alerting",
    "load_alerting",
    "smtp_server",
    "summary",
]

KINDS = ("level", "feed", "rules", "worker", "divergence", "delivery", "archive")
FORMATS = ("json", "teams", "slack")
MAX_RECEIVERS = 200
MAX_ROUTES = 200
MAX_STEPS = 10  # escalation steps in one route
MAX_ADDRESSES = 100  # email addresses in one receiver
SECRETS_HINT = "secrets come from the environment: use headers_env / SURGE_SMTP_URL"


# --- what the file says ------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """How long things wait, in seconds: ``defaults:``, and each route's own."""

    group_wait: float = 10.0  # alerts for one receiver within this are sent as one message
    repeat_interval: float = 1800.0  # an unacknowledged alert is sent again this often
    ack_timeout: float = 1800.0  # an acknowledgement lasts this long while the alert fires
    divergence_after: float = 900.0  # declared and calculated trust levels differ this long
    delivery_max_age: float = 900.0  # a notification is retried this long, then failed


@dataclass(frozen=True)
class EmailTarget:
    to: tuple[str, ...]
    starttls: bool = True


@dataclass(frozen=True)
class WebhookTarget:
    url: str = field(repr=False)  # may carry a key when it comes from url_env
    format: str = "json"  # json | teams | slack
    headers_env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    timeout: float = 10.0
    url_env: str | None = None  # the environment variable the URL was read from, if any

    @property
    def shown(self) -> str:
        """The URL as it may be printed or logged."""
        return f"${self.url_env}" if self.url_env else self.url


@dataclass(frozen=True)
class AlertmanagerTarget:
    url: str
    timeout: float = 10.0


@dataclass(frozen=True)
class Receiver:
    """Someone to tell, and every way of telling them (each is used)."""

    name: str
    email: EmailTarget | None = None
    webhook: WebhookTarget | None = None
    alertmanager: AlertmanagerTarget | None = None


@dataclass(frozen=True)
class Match:
    """Which alerts a route is for; a key left out matches anything."""

    kind: str | None = None
    min_level: int | None = None
    name: str | None = None
    site: str | None = None
    function: str | None = None

    def matches(self, kind: str, name: str, level: int | None, site: str | None,
                function: str | None) -> bool:
        """Whether an alert with these labels is one this route is for. An alert without a
        level never meets a min_level."""
        return ((self.kind is None or kind == self.kind)
                and (self.min_level is None or (level is not None and level >= self.min_level))
                and (self.name is None or name == self.name)
                and (self.site is None or site == self.site)
                and (self.function is None or function == self.function))

    def covers(self, other: Match) -> bool:
        """Whether every alert ``other`` matches is matched by this too."""
        return ((self.kind is None or self.kind == other.kind)
                and (self.min_level is None
                     or (other.min_level is not None and other.min_level >= self.min_level))
                and all(mine is None or mine == theirs for mine, theirs in
                        ((self.name, other.name), (self.site, other.site),
                         (self.function, other.function))))


@dataclass(frozen=True)
class Step:
    """Who is told next when an alert is still unacknowledged ``after`` seconds on."""

    after: float
    receiver: str


@dataclass(frozen=True)
class Route:
    match: Match
    receiver: str
    escalate: tuple[Step, ...] = ()
    continue_: bool = False  # `continue: true`: later routes that match are used too
    timing: Timing = Timing()
    line: int = 0  # where the route starts in the file, for messages


@dataclass(frozen=True)
class AlertingConfig:
    timing: Timing
    receivers: Mapping[str, Receiver]
    routes: tuple[Route, ...]
    version: str  # a short hash of what the file says, not of its layout or comments
    source: str

    def routes_for(self, kind: str, name: str, level: int | None, site: str | None,
                   function: str | None) -> list[Route]:
        """The routes an alert goes to: the first that matches, and after it the next ones
        while the one before says ``continue: true``."""
        found: list[Route] = []
        for route in self.routes:
            if route.match.matches(kind, name, level, site, function):
                found.append(route)
                if not route.continue_:
                    break
        return found


def load_alerting(path: str | Path, *, rules: Rules | None = None,
                  env: Mapping[str, str] | None = None) -> AlertingConfig:
    """The alerting config in a file; ConfigError listing every problem, sorted by line."""
    config, problems = check_alerting(path, rules=rules, env=env)
    if problems or config is None:
        raise ConfigError(problems)
    return config


def check_alerting(path: str | Path, *, rules: Rules | None = None,
                   env: Mapping[str, str] | None = None
                   ) -> tuple[AlertingConfig | None, list[Problem]]:
    """The config and no problems, or None and every problem; never raises for a bad file.

    ``env`` (default: the process environment) is where ``url_env`` URLs are read from."""
    try:
        root = read_document(path)
    except ConfigError as err:
        return None, [_reworded(p) for p in err.problems]
    reader = Reader(path)
    config = _Parser(reader, os.environ if env is None else env, rules).config(
        root, content_digest(root)[:12])
    problems = sorted(reader.problems, key=lambda p: (p.line or 0, p.col or 0))
    return (None if problems else config), problems


def _reworded(problem: Problem) -> Problem:
    """A problem found by the shared YAML reader, in this file's terms."""
    message = (problem.message.replace("in a rules file", "in alerting.yaml")
               .replace("docs/rules.md", "docs/alerting.md"))
    if message == "the file is empty":
        message = ("the file is empty: no receivers, so nobody is alerted (to turn alerting "
                   "off, remove the file)")
    return Problem(problem.source, message, problem.line, problem.col)


# --- reading it ---------------------------------------------------------------------------------

TOP_KEYS = ("defaults", "receivers", "routes")
DEFAULT_KEYS = ("group_wait", "repeat_interval", "ack_timeout", "divergence_after",
                "delivery_max_age")
ROUTE_TIMING_KEYS = ("group_wait", "repeat_interval", "ack_timeout")
RECEIVER_KEYS = ("name", "email", "webhook", "alertmanager")
TARGETS = ("email", "webhook", "alertmanager")
EMAIL_KEYS = ("to", "starttls")
WEBHOOK_KEYS = ("url", "url_env", "format", "headers_env", "timeout")
ALERTMANAGER_KEYS = ("url", "timeout")
ROUTE_KEYS = ("match", "receiver", "escalate", "continue", *ROUTE_TIMING_KEYS)
MATCH_KEYS = ("kind", "min_level", "name", "site", "function")
STEP_KEYS = ("after", "receiver")

# (least, most) seconds for each timing; None: no bound that side
_TIMING_BOUNDS: dict[str, tuple[int, int | None]] = {
    "group_wait": (0, 600),  # longer holds back the first message of an alert
    "repeat_interval": (60, None),  # shorter floods a phone with the same alert
    "ack_timeout": (60, None),
    "divergence_after": (0, None),
    "delivery_max_age": (60, None),
}
_TIMEOUT_BOUNDS = (1, 120)

_RECEIVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_INLINE_CREDENTIALS = re.compile(r"://[^/\s@]*:[^/\s@]*@")
_SECRET_PARTS = ("password", "passwd", "secret", "token", "api_key", "apikey",
                 "authorization", "credential", "private_key")
_SECRET_KEYS = frozenset({"auth", "pass", "pwd", "bearer"})
_SECRET_PARAMS = frozenset({"sig", "signature", "token", "access_token", "api_key", "apikey",
                            "key", "secret", "client_secret", "password", "pass", "auth",
                            "code"})
_SECRET_HOSTS = ("hooks.slack.com", "webhook.office.com")  # the URL itself is the key


def _is_secret_key(key: object) -> bool:
    name = str(key).strip().lower().replace("-", "_")
    return name in _SECRET_KEYS or any(part in name for part in _SECRET_PARTS)


class _Parser:
    """One pass over the file, reporting into ``reader``."""

    def __init__(self, reader: Reader, env: Mapping[str, str], rules: Rules | None) -> None:
        self.reader = reader
        self.env = env
        self.rules = rules
        self.secret_keys: set[tuple[int, int]] = set()  # already reported as secrets

    def error(self, node: Node, message: str, at_key: Any = None) -> None:
        self.reader.error(node, message, at_key)

    # --- the whole file ---------------------------------------------------------------------

    def config(self, root: Node, version: str) -> AlertingConfig | None:
        if not isinstance(root.value, CommentedMap):
            self.error(root, f"expected a mapping with receivers and routes, got "
                             f"{_brief(root.value)} (see docs/alerting.md)")
            return None
        self._find_secrets(root)
        top = self.fields(root, TOP_KEYS)
        timing = self.timing(top["defaults"], DEFAULT_KEYS, Timing()) if "defaults" in top \
            else Timing()
        receivers, written = self.receivers(root, top.get("receivers"))
        routes = self.routes(root, top.get("routes"), timing, written, written != {})
        if timing is None or receivers is None or routes is None:
            return None
        return AlertingConfig(timing, MappingProxyType(receivers), routes, version,
                              self.reader.source)

    def fields(self, node: Node, allowed: Iterable[str], required: Iterable[str] = (),
               what: str = "a mapping") -> dict[str, Node]:
        """The children of a mapping; unknown keys reported with did-you-mean, and keys that
        hold a secret reported once, as such."""
        if not isinstance(node.value, CommentedMap):
            self.error(node, f"expected {what}, got {_brief(node.value)}")
            return {}
        allowed = tuple(allowed)
        children: dict[str, Node] = {}
        for key in node.value:
            if str(key) in allowed:
                children[str(key)] = node.child(key)
            elif node.key_position(key) not in self.secret_keys:
                self.error(node, f"unknown key {_brief(key)}{did_you_mean(key, allowed)}",
                           at_key=key)
        for key in required:
            if key not in children:
                self.error(node, f"missing required key {key!r}")
        return children

    def _find_secrets(self, root: Node) -> None:
        """Every key anywhere that names a secret, and every URL with user:password@ in it.

        The keys of headers_env are header names (Authorization is one), not secrets. Each
        list or mapping is read once, however many aliases (*name) repeat it."""
        pending = [root]
        seen: set[int] = set()
        while pending:
            node = pending.pop()
            if isinstance(node.value, (CommentedMap, CommentedSeq)):
                if id(node.value) in seen:
                    continue
                seen.add(id(node.value))
            if isinstance(node.value, CommentedMap):
                for key in node.value:
                    if node.name.endswith("headers_env") or not _is_secret_key(key):
                        pending.append(node.child(key))
                        continue
                    self.secret_keys.add(node.key_position(key))
                    self.error(node, f"{_brief(key)}: {SECRETS_HINT}", at_key=key)
            elif isinstance(node.value, CommentedSeq):
                pending.extend(node.child(i) for i in range(len(node.value)))
            elif isinstance(node.value, str) and _INLINE_CREDENTIALS.search(node.value):
                self.error(node, f"a URL with user:password@ in it: {SECRETS_HINT}")

    # --- timings ------------------------------------------------------------------------------

    def timing(self, node: Node, keys: tuple[str, ...], base: Timing) -> Timing | None:
        f = self.fields(node, keys, what="durations such as {group_wait: 10s, "
                                         "repeat_interval: 30m, ack_timeout: 30m}")
        values: dict[str, float] = {}
        for key, child in f.items():
            seconds = self.duration(child, *_TIMING_BOUNDS[key])
            if seconds is not None:
                values[key] = seconds
        if len(values) < len(f) or (f == {} and not isinstance(node.value, CommentedMap)):
            return None
        return Timing(**{**_as_dict(base), **values})

    def duration(self, node: Node, least: int, most: int | None) -> float | None:
        seconds = self.reader.duration(node)
        if seconds is None:
            return None
        if seconds < least or (most is not None and seconds > most):
            if most is None:
                bound = "more than 0" if least == 1 else f"at least {format_duration(least)}"
            else:
                bound = f"from {format_duration(least)} to {format_duration(most)}"
            self.error(node, f"expected {bound}, got {format_duration(seconds)}")
            return None
        return float(seconds)

    # --- receivers ----------------------------------------------------------------------------

    def receivers(self, root: Node, node: Node | None
                  ) -> tuple[dict[str, Receiver] | None, dict[str, int] | None]:
        """The sound receivers, and every name written (with its line), sound or not; None
        when the section cannot be read, so that the routes' receivers are not checked."""
        written: dict[str, int] = {}
        if node is None:
            self.error(root, "no receivers: nobody is alerted; add receivers and routes "
                             "(see docs/alerting.md), or remove the file to turn alerting off")
            return None, written
        items = self.reader.sequence(node, "a list of receivers, each starting with - name:")
        if items is None:
            return None, None
        if not items:
            self.error(node, "no receivers: nobody is alerted; add at least one")
            return None, written
        if len(items) > MAX_RECEIVERS:
            self.error(node, f"{len(items):,} receivers; the limit is {MAX_RECEIVERS} "
                             f"(see Limits in docs/alerting.md)")
            return None, None
        receivers: dict[str, Receiver] = {}
        before = len(self.reader.problems)
        for item in items:
            receiver = self.receiver(item, written)
            if receiver is not None:
                receivers[receiver.name] = receiver
        return (None if len(self.reader.problems) > before else receivers), written

    def receiver(self, node: Node, written: dict[str, int]) -> Receiver | None:
        f = self.fields(node, RECEIVER_KEYS, required=("name",),
                        what="a receiver such as {name: duty-managers, email: {to: [...]}}")
        name = self.receiver_name(f["name"], written) if "name" in f else None
        misspelt = isinstance(node.value, CommentedMap) and any(
            did_you_mean(k, TARGETS) for k in node.value if str(k) not in RECEIVER_KEYS)
        if isinstance(node.value, CommentedMap) and not any(t in f for t in TARGETS) \
                and not misspelt:  # a misspelt target is reported as such
            self.error(node, "a receiver needs at least one of email, webhook or alertmanager")
        email = self.email(f["email"]) if "email" in f else None
        webhook = self.webhook(f["webhook"]) if "webhook" in f else None
        alertmanager = self.alertmanager(f["alertmanager"]) if "alertmanager" in f else None
        if name is None:
            return None
        return Receiver(name, email, webhook, alertmanager)

    def receiver_name(self, node: Node, written: dict[str, int]) -> str | None:
        value = node.value
        if not (isinstance(value, str) and _RECEIVER_NAME.match(value)):
            self.error(node, f"a receiver name is letters, digits, -, _ and . (up to 64), such "
                             f"as duty-managers, got {_brief(value)}")
            return None
        if value in written:
            self.error(node, f"duplicate receiver name {value!r}: the receiver on line "
                             f"{written[value]} already has it")
            return None
        written[value] = node.line
        return value

    def email(self, node: Node) -> EmailTarget | None:
        f = self.fields(node, EMAIL_KEYS, required=("to",),
                        what="{to: [someone@example.nhs.uk]}")
        addresses = self.addresses(f["to"]) if "to" in f else None
        starttls = self.reader.boolean(f["starttls"]) if "starttls" in f else True
        if addresses is None or starttls is None:
            return None
        return EmailTarget(addresses, starttls)

    def addresses(self, node: Node) -> tuple[str, ...] | None:
        items = [node] if isinstance(node.value, str) else self.reader.sequence(
            node, "a list of email addresses such as [duty.managers@example.nhs.uk]")
        if items is None:
            return None
        if not items:
            self.error(node, "to: give at least one address")
            return None
        if len(items) > MAX_ADDRESSES:
            self.error(node, f"{len(items)} addresses; the limit is {MAX_ADDRESSES}: "
                             f"use a mailing list")
            return None
        found: list[str] = []
        for item in items:
            value = item.value
            if not isinstance(value, str) or not _EMAIL.match(value.strip()):
                hint = (": write the address alone, without a name or <>"
                        if isinstance(value, str) and "<" in value else "")
                self.error(item, f"expected an email address such as "
                                 f"duty.managers@example.nhs.uk, got {_brief(value)}{hint}")
            elif value.strip().lower() in (a.lower() for a in found):
                self.error(item, f"{value.strip()} is listed twice")
            else:
                found.append(value.strip())
        return tuple(found) if len(found) == len(items) else None

    def webhook(self, node: Node) -> WebhookTarget | None:
        f = self.fields(node, WEBHOOK_KEYS, what='{url: "https://...", format: json}')
        if not isinstance(node.value, CommentedMap):
            return None
        url: str | None = None
        url_env = None
        if ("url" in f) == ("url_env" in f):
            self.error(node, "give url, or url_env naming the environment variable that "
                             "holds it (for a URL with a key in it), but not both")
        elif "url" in f:
            url = self.url(f["url"], secret_ok=False)
        else:
            url_env, url = self.url_from_env(f["url_env"])
        fmt = self.reader.choice(f["format"], FORMATS) if "format" in f else "json"
        headers = self.headers_env(f["headers_env"]) if "headers_env" in f else {}
        timeout = self.duration(f["timeout"], *_TIMEOUT_BOUNDS) if "timeout" in f else 10.0
        if url is None or fmt is None or headers is None or timeout is None:
            return None
        return WebhookTarget(url, fmt, MappingProxyType(headers), timeout, url_env)

    def alertmanager(self, node: Node) -> AlertmanagerTarget | None:
        f = self.fields(node, ALERTMANAGER_KEYS, required=("url",),
                        what='{url: "http://alertmanager:9093"}')
        url = self.url(f["url"], secret_ok=False) if "url" in f else None
        timeout = self.duration(f["timeout"], *_TIMEOUT_BOUNDS) if "timeout" in f else 10.0
        if url is None or timeout is None:
            return None
        return AlertmanagerTarget(url, timeout)

    def url(self, node: Node, *, secret_ok: bool, shown: str = "") -> str | None:
        """An http(s) URL with a host. The URL is never repeated in a message: it may hold
        a key. ``shown``: where it came from, when not from the file itself."""
        value = node.value
        prefix = f"the URL in {shown} " if shown else ""
        if not isinstance(value, str) or not value.strip():
            self.error(node, f"{prefix}expected a URL such as https://host/path, got "
                             f"{'nothing' if shown else _brief(value)}")
            return None
        text = value.strip()
        if any(c.isspace() for c in text):
            self.error(node, f"{prefix}has a space in it: a URL has none (write %20)")
            return None
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            self.error(node, f"{prefix}is not a URL that can be read (a bad port or address)")
            return None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.error(node, f"{prefix}expected an http:// or https:// URL with a host, such "
                             f"as https://host/path")
            return None
        if port == 0:
            self.error(node, f"{prefix}the port must be from 1 to 65535")
            return None
        if not secret_ok and not _INLINE_CREDENTIALS.search(text):
            secret = self._secret_in_url(parts.hostname, parts.query)
            if secret:
                self.error(node, f"this URL carries a key ({secret}): {SECRETS_HINT}; put "
                                 f"the whole URL in an environment variable and write "
                                 f"url_env: ITS_NAME instead of url")
                return None
        return text

    @staticmethod
    def _secret_in_url(host: str, query: str) -> str | None:
        if any(host == h or host.endswith("." + h) for h in _SECRET_HOSTS):
            return f"a {host} URL is itself the key"
        names = [k for k, _ in parse_qsl(query, keep_blank_values=True)
                 if k.lower() in _SECRET_PARAMS]
        return f"the {names[0]} parameter" if names else None

    def url_from_env(self, node: Node) -> tuple[str | None, str | None]:
        name = node.value
        if not (isinstance(name, str) and _ENV_NAME.match(name)):
            self.error(node, f"expected the name of an environment variable such as "
                             f"TEAMS_WEBHOOK_URL, got {_brief(name)}")
            return None, None
        value = self.env.get(name)
        if not value:
            self.error(node, f"the environment variable {name} is not set: it holds this "
                             f"webhook's URL")
            return name, None
        url = self.url(Node(value, node.line, node.col, node.name), secret_ok=True, shown=name)
        return name, url

    def headers_env(self, node: Node) -> dict[str, str] | None:
        headers: dict[str, str] = {}
        before = len(self.reader.problems)
        for key, child in self.reader.items(node, "a mapping of header name to the environment "
                                                  "variable holding its value, such as "
                                                  "{Authorization: OPS_WEBHOOK_AUTH}"):
            if not (isinstance(key, str) and _HEADER_NAME.match(key)):
                self.error(node, f"{_brief(key)} is not an HTTP header name", at_key=key)
                continue
            value = child.value
            if not (isinstance(value, str) and _ENV_NAME.match(value)):
                self.error(child, f"expected the name of the environment variable that "
                                  f"holds the {key} header, such as OPS_WEBHOOK_AUTH, not the "
                                  f"value: {SECRETS_HINT}")
                continue
            headers[key] = value
        return None if len(self.reader.problems) > before else headers

    # --- routes -------------------------------------------------------------------------------

    def routes(self, root: Node, node: Node | None, defaults: Timing | None,
               written: dict[str, int] | None, any_receivers: bool) -> tuple[Route, ...] | None:
        if node is None:
            if any_receivers:
                self.error(root, "no routes: nobody is alerted; add routes saying which alerts "
                                 "go to which receiver (see docs/alerting.md)")
            return None
        items = self.reader.sequence(node, "a list of routes, each starting with - match:")
        if items is None:
            return None
        if not items:
            self.error(node, "no routes: nobody is alerted; add at least one")
            return None
        if len(items) > MAX_ROUTES:
            self.error(node, f"{len(items):,} routes; the limit is {MAX_ROUTES} "
                             f"(see Limits in docs/alerting.md)")
            return None
        routes = [self.route(item, defaults or Timing(), written) for item in items]
        sound = [r for r in routes if r is not None]
        self._check_reachable(items, routes)
        return tuple(sound) if len(sound) == len(routes) and defaults is not None else None

    def route(self, node: Node, defaults: Timing, written: dict[str, int] | None
              ) -> Route | None:
        f = self.fields(node, ROUTE_KEYS, required=("receiver",),
                        what="a route such as {match: {kind: feed}, receiver: duty-managers}")
        if not isinstance(node.value, CommentedMap):
            return None
        match = self.match(f["match"]) if "match" in f else Match()
        receiver = self.receiver_ref(f["receiver"], written) if "receiver" in f else None
        escalate = self.escalate(f["escalate"], receiver, written) if "escalate" in f else ()
        go_on = self.reader.boolean(f["continue"]) if "continue" in f else False
        own = {k: self.duration(f[k], *_TIMING_BOUNDS[k]) for k in ROUTE_TIMING_KEYS if k in f}
        values = {k: v for k, v in own.items() if v is not None}
        if (match is None or receiver is None or escalate is None or go_on is None
                or len(values) < len(own)):
            return None
        timing = Timing(**{**_as_dict(defaults), **values})
        return Route(match, receiver, escalate, go_on, timing, node.line)

    def match(self, node: Node) -> Match | None:
        if node.value is None:
            return Match()
        f = self.fields(node, MATCH_KEYS, what="a mapping such as {kind: level, min_level: 3}")
        if not isinstance(node.value, CommentedMap):
            return None
        before = len(self.reader.problems)
        kind = self.reader.choice(f["kind"], KINDS) if "kind" in f else None
        min_level = self.min_level(node, f["min_level"], kind) if "min_level" in f else None
        labels = {key: self.reader.string(f[key], "text") if key in f else None
                  for key in ("name", "site", "function")}
        if self.rules is not None and len(self.reader.problems) == before:
            self.against_rules(f, kind)
        if len(self.reader.problems) > before:
            return None
        return Match(kind, min_level, labels["name"], labels["site"], labels["function"])

    def min_level(self, parent: Node, node: Node, kind: str | None) -> int | None:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4:
            self.error(node, f"expected a level from 1 to 4, got {_brief(value)}")
            return None
        if kind not in (None, "level"):
            self.error(parent, f"min_level only applies to level alerts (kind: level), not "
                               f"to kind: {kind}", at_key="min_level")
            return None
        return int(value)

    def against_rules(self, f: dict[str, Node], kind: str | None) -> None:
        """Sites, functions and level names that the rules do not have never match."""
        assert self.rules is not None
        catalogue = self.rules.catalogue
        if "site" in f and f["site"].value not in catalogue.sites:
            hint = did_you_mean(f["site"].value, catalogue.sites)
            self.error(f["site"], f"unknown site {_brief(f['site'].value)}{hint}: the rules "
                                  f"have no such site, so this never matches")
        functions = [fn.id for fn in catalogue.functions]
        if "function" in f and f["function"].value not in functions:
            hint = did_you_mean(f["function"].value, functions)
            self.error(f["function"], f"unknown function {_brief(f['function'].value)}{hint}: "
                                      f"the functions are {', '.join(functions)}")
        if "name" in f and kind == "level":
            name = str(f["name"].value)
            protocol, at, site = name.partition("@")
            known = ["overall", *self.rules.protocols]
            if protocol not in known or (at and (protocol == "overall"
                                                 or site not in catalogue.sites)):
                examples = [*known, *(f"{p}@{s}" for p in self.rules.protocols
                                      for s in catalogue.sites)]
                self.error(f["name"], f"no level is called {name!r}{did_you_mean(name, examples)}"
                                      f": level names are overall, a protocol such as "
                                      f"{known[-1]}, or a protocol at a site such as "
                                      f"{known[-1]}@{next(iter(catalogue.sites), 'RVJ')}")

    def receiver_ref(self, node: Node, written: dict[str, int] | None) -> str | None:
        """A receiver's name; None and a problem if there is none such. With ``written``
        None (the receivers could not be read) only its shape is checked."""
        value = node.value
        if isinstance(value, str) and (written is None or value in written):
            return value
        written = written or {}
        hint = did_you_mean(value, written) if isinstance(value, str) else ""
        listed = f" (the receivers are {', '.join(written)})" if written and not hint else ""
        self.error(node, f"unknown receiver {_brief(value)}{hint}{listed}")
        return None

    def escalate(self, node: Node, first: str | None, written: dict[str, int] | None
                 ) -> tuple[Step, ...] | None:
        items = self.reader.sequence(node, "a list of steps such as "
                                           "[{after: 10m, receiver: tactical-commanders}]")
        if items is None:
            return None
        if len(items) > MAX_STEPS:
            self.error(node, f"{len(items)} escalation steps; the limit is {MAX_STEPS}")
            return None
        before = len(self.reader.problems)
        steps: list[Step] = []
        afters: list[tuple[float, Node]] = []
        told = [first] if first else []
        for item in items:
            f = self.fields(item, STEP_KEYS, required=STEP_KEYS,
                            what="a step such as {after: 10m, receiver: tactical-commanders}")
            after = self.duration(f["after"], 1, None) if "after" in f else None
            receiver = self.receiver_ref(f["receiver"], written) if "receiver" in f else None
            if receiver is not None and receiver in told:
                self.error(f["receiver"], f"{receiver} is already told by then: each step "
                                          f"tells someone new (repeat_interval reminds)")
            elif receiver is not None:
                told.append(receiver)
            if after is not None:
                afters.append((after, f["after"]))
                if receiver is not None:
                    steps.append(Step(after, receiver))
        for (prev, _), (after, where) in pairwise(afters):
            if after <= prev:
                self.error(where, f"the steps must come later and later: after "
                                  f"{format_duration(after)} is not later than the step "
                                  f"before's {format_duration(prev)}")
        if len(self.reader.problems) > before:
            return None
        return tuple(steps)

    def _check_reachable(self, items: list[Node], routes: list[Route | None]) -> None:
        """A route that an earlier route (without continue) always takes first is dead."""
        for i, (node, route) in enumerate(zip(items, routes, strict=True)):
            if route is None:
                continue
            for earlier in routes[:i]:
                if earlier is not None and not earlier.continue_ \
                        and earlier.match.covers(route.match):
                    self.error(node, f"this route is never used: the route on line "
                                     f"{earlier.line} matches every alert it would, and comes "
                                     f"first (put this one before it, or give that one "
                                     f"continue: true)")
                    break


# --- in words -------------------------------------------------------------------------------------


def summary(config: AlertingConfig) -> str:
    """What a file that checked clean does, in words, for `surge alerting check`."""
    routes = config.routes
    lines = [f"{config.source}: OK — {_count(len(config.receivers), 'receiver')}, "
             f"{_count(len(routes), 'route')}; version {config.version}",
             "Receivers:"]
    for receiver in config.receivers.values():
        lines.append(f"  {receiver.name}: {_targets(receiver)}")
    lines.append("Routes (the first that matches is used, and the next ones too after "
                 "continue: true):")
    for n, route in enumerate(routes, 1):
        lines.append(f"  {n}. {describe_match(route.match)} -> {route.receiver}"
                     f"{' (and on to the next routes)' if route.continue_ else ''}")
        if route.escalate:
            chain = ", then ".join(f"{s.receiver} after {format_duration(s.after)}"
                                   for s in route.escalate)
            lines.append(f"     if nobody acknowledges it: {chain}")
        own = [f"{k} {format_duration(getattr(route.timing, k))}" for k in ROUTE_TIMING_KEYS
               if getattr(route.timing, k) != getattr(config.timing, k)]
        if own:
            lines.append(f"     its own timing: {', '.join(own)}")
    unrouted = [k for k in KINDS if not any(
        r.match.kind in (None, k) and (r.match.min_level is None or k == "level")
        for r in routes)]
    if unrouted:
        lines.append(f"Nobody is told about: {', '.join(f'{k} alerts' for k in unrouted)}")
    used = {r.receiver for r in routes} | {s.receiver for r in routes for s in r.escalate}
    unused = [name for name in config.receivers if name not in used]
    if unused:
        lines.append(f"Not used by any route: {', '.join(unused)}")
    t = config.timing
    lines.append(f"Unacknowledged alerts are sent again every {format_duration(t.repeat_interval)}"
                 f"; an acknowledgement lasts {format_duration(t.ack_timeout)} while the alert "
                 f"still fires.")
    lines.append(f"Defaults: group_wait {format_duration(t.group_wait)}, repeat_interval "
                 f"{format_duration(t.repeat_interval)}, ack_timeout "
                 f"{format_duration(t.ack_timeout)}, divergence_after "
                 f"{format_duration(t.divergence_after)}, delivery_max_age "
                 f"{format_duration(t.delivery_max_age)}")
    return "\n".join(lines)


_KIND_WORDS = {"level": "level alerts", "feed": "feed alerts (a feed down)",
               "rules": "rules alerts (a rules or alerting file rejected)",
               "worker": "worker alerts (no worker running)",
               "divergence": "divergence alerts (declared and calculated levels differ)",
               "delivery": "delivery alerts (a notification could not be sent)",
               "archive": "archive alerts (days could not be archived)"}


def describe_match(match: Match) -> str:
    """Which alerts a route is for, in words."""
    words = _KIND_WORDS[match.kind] if match.kind else "every alert"
    if match.min_level is not None:
        words += f" at level {match.min_level} or above"
    if match.name is not None:
        words += f" for {match.name}"
    if match.site is not None:
        words += f" at site {match.site}"
    if match.function is not None:
        words += f" in {match.function}"
    return words[0].upper() + words[1:]


def _targets(receiver: Receiver) -> str:
    parts = []
    if receiver.email:
        parts.append(f"email to {', '.join(receiver.email.to)}")
    if receiver.webhook:
        parts.append(f"webhook {receiver.webhook.shown} ({receiver.webhook.format})")
    if receiver.alertmanager:
        parts.append(f"Alertmanager at {receiver.alertmanager.url}")
    return "; ".join(parts)


# --- SURGE_SMTP_URL ---------------------------------------------------------------------------

SMTP_FORMS = ("smtp://user:password@host:port (STARTTLS), smtps://user:password@host:port "
              "(TLS from the start) or smtp://host:port?starttls=off (a local relay, no TLS)")
_SMTP_PARAMS = ("starttls", "from")
_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class SmtpServer:
    """Where email alerts are sent from. Its repr never shows the password."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True  # STARTTLS is required: no mail goes out unencrypted
    ssl: bool = False  # TLS from the first byte (smtps://)
    sender: str | None = None  # ?from=surge@example.nhs.uk; None: the channel's default


def smtp_server(url: str, source: str = "SURGE_SMTP_URL") -> SmtpServer:
    """The SMTP server a URL describes; ConfigError naming ``source`` otherwise.

    No message ever repeats the URL or any part of it that could be its password."""
    problems: list[str] = []
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ConfigError.single(source, f"the port or address cannot be read: expected "
                                         f"{SMTP_FORMS}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ConfigError.single(source, f"expected {SMTP_FORMS}")
    if not parts.hostname:
        problems.append("there is no host")
    if port == 0:
        problems.append("the port must be from 1 to 65535")
    if parts.path not in ("", "/") or parts.fragment:
        problems.append("nothing may follow the host and port but ?starttls=off or ?from=")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not password:
        problems.append("the password is empty")
    if username and password is None:
        problems.append("a user needs a password: user:password@host")
    if password and not username:
        problems.append("a password needs a user: user:password@host")
    starttls = scheme == "smtp"
    sender = None
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "starttls":
            if scheme == "smtps":
                problems.append("starttls does not apply to smtps://, which is TLS from the "
                                "start")
            elif value.lower() in _OFF:
                starttls = False
            elif value.lower() not in _ON:
                problems.append("starttls is on or off")
        elif name == "from":
            if _EMAIL.match(value):
                sender = value
            else:
                problems.append("from= is not an email address")
        else:  # never named: a password with a ? in it lands here
            problems.append(f"unknown setting after ?{did_you_mean(name, _SMTP_PARAMS)}: "
                            f"only starttls=off and from= may follow it")
    if password and scheme == "smtp" and not starttls:
        problems.append("a password is never sent unencrypted: leave out starttls=off, or "
                        "use smtps://")
    if problems:
        raise ConfigError([Problem(source, p) for p in problems])
    assert parts.hostname is not None
    return SmtpServer(parts.hostname, port or (465 if scheme == "smtps" else 25), username,
                      password, starttls, scheme == "smtps", sender)


# --- small helpers ------------------------------------------------------------------------------


def _as_dict(timing: Timing) -> dict[str, float]:
    return {k: getattr(timing, k) for k in DEFAULT_KEYS}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _brief(value: object) -> str:
    text = describe(value)
    return text if len(text) <= 60 else text[:50] + "..." + text[-1]
