"""http_json feeds: a JSON document fetched over HTTP(S) every interval, its items made samples.

    - name: cad-calls
      type: http_json
      function: call_handling
      url: "https://cad.internal/api/metrics"   # or url_env: CAD_URL (a URL that holds a key)
      interval: 30s
      timeout: 10s
      auth: {bearer_env: CAD_TOKEN}            # or basic_env: [USER_VAR, PASS_VAR],
                                               # and/or header_env: {X-Key: VAR}
      tls: {ca_file: /etc/ssl/trust-ca.pem}    # verification is on by default
      # since_param: from                      # ?from=2026-12-04T14:20:00Z on every poll
      samples:                                 # JMESPath expressions (jmespath.org)
        each: "metrics[]"                      # the list of items in the response
        metric: "name"                         # then, in each item: the metric id,
        scope: "site || 'trust'"               # the scope (the trust when left out),
        ts: "at"                               # the time (ISO 8601 with an offset, or
        value: "value"                         # seconds since 1970) and the value

``each`` finds the list of items in the response; ``metric``, ``scope``, ``ts`` and
``value`` are then looked up in each item. A constant is a JMESPath literal, in single quotes
inside the YAML quotes: ``metric: "'calls.waiting'"``, ``scope: "'trust'"`` (without them,
``calls.waiting`` would be looked up in the item as a field). ``each`` may reshape the
response, for instance one item per hospital::

    each: "hospitals[].{site: code, waiting: handover_queue, at: updated}"
    metric: "'ae.handover_queue'"
    scope: "site"

or several metrics per hospital, flattened into one list::

    each: "hospitals[].[{m: 'ae.handover_queue', site: code, v: queue, at: updated},
                        {m: 'ae.handover_longest', site: code, v: longest, at: updated}][]"

A response the feed cannot read raises ``FetchFailed`` with a message an operator can act
on: no connection, no answer within ``timeout`` (the whole poll, a body still dripping in
included), HTTP 3xx (redirects are not followed: they could carry the credentials elsewhere),
4xx or 5xx with the status and the start of the body, a body over ``max_bytes`` (enforced
while reading: a bigger body is never read whole), a body that is not JSON (its content type
and first characters), or ``each`` finding no list. An item that cannot be made a sample
(an expression finds nothing, or the wrong type) is handed to the poller as a ``Rejection``
naming the item (numbered from 0 in the list ``each`` finds) and the field, and the other
items are kept; past ``MAX_REJECTIONS`` in one response the rest are counted in one more.

Each poll returns only the samples newer than the newest one already delivered. With
``since_param`` that time is also sent to the source (UTC, to the second), so a source that
can fill a gap after an outage does. Requests are conditional: the ETag and Last-Modified
of the last good response are sent back, and a 304 Not Modified (like a 204 No Content) is a
poll with nothing new.
They are sent only once the poller has taken in that response's samples: when it could not
(the store was down), the next poll asks for the document again rather than be told it has
not changed.

Credentials and a URL that holds a key come from the environment (``*_env`` keys), are read
once when the file is read, and never appear in a message or a log: they are cut out of any
text from the network too. Certificates are verified against the usual public CAs, or only
against ``tls.ca_file`` when it is given; ``tls: {verify: false}`` turns verification off
and is logged as a warning every time the feed is built.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import re
import reprlib
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import jmespath
from jmespath.exceptions import IncompleteExpressionError, JMESPathError, LexerError, ParseError
from jmespath.functions import Functions

from feeds.base import RawSample
from feeds.config import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT, FeedContext, FeedSpec, env_value, resolve_path
from surge.catalogue import TRUST, Catalogue
from surge.configfile import Node, Reader, did_you_mean
from surge.errors import FetchFailed
from surge.samples import Rejection, Sample

__all__ = ["FIELDS", "MAX_REJECTIONS", "OPTIONAL", "REQUIRED", "Expression", "HttpJsonFeed",
           "SampleFields", "build"]

log = logging.getLogger(__name__)

REQUIRED = ("samples",)
OPTIONAL = ("url", "url_env", "auth", "tls", "since_param")

FIELDS = ("metric", "scope", "ts", "value")  # looked up in each item; scope may be left out
MAX_REJECTIONS = 100  # items of one response rejected one by one; the rest are counted
_SHOWN = 80  # characters of a body shown in a message
_WINDOW = 4096  # bytes of a body read to show its start
# A query value from the environment this long may be a key, and a part of its path this long
# (a path is mostly words such as "metrics", which messages must still be able to show).
_KEY_LENGTH = 6
_PATH_KEY_LENGTH = 16
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name
_HEADER_TEXT = re.compile(r"^[\t\x20-\x7e]*$")  # what a header value may hold
_short = reprlib.Repr()
_short.maxstring = _short.maxother = _short.maxlong = 40
_short.maxlist = _short.maxdict = 4
_short.maxlevel = 2


# --- from a response to samples -----------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A JMESPath expression as written, compiled."""

    text: str
    compiled: Any  # jmespath.parser.ParsedResult

    @classmethod
    def of(cls, text: str) -> Expression:
        """ParseError (jmespath's) when ``text`` is not an expression."""
        return cls(text, jmespath.compile(text))

    def search(self, value: Any) -> Any:
        """What the expression finds in ``value``; ValueError saying why it failed."""
        try:
            return self.compiled.search(value)
        except Exception as exc:  # untrusted data meets a third-party evaluator: never fatal
            if isinstance(exc, JMESPathError):
                detail = " ".join(str(exc).split())
            else:
                detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise ValueError(f"failed: {detail[:200]}") from None

    def __str__(self) -> str:
        return repr(self.text if len(self.text) <= 40 else self.text[:37] + "...")


@dataclass(frozen=True)
class SampleFields:
    """Where the items are in a response (``each``) and where each field is in an item."""

    each: Expression
    metric: Expression
    ts: Expression
    value: Expression
    scope: Expression | None = None  # None: every sample is for the trust

    def read(self, payload: Any, since: float | None) -> list[RawSample]:
        """The samples newer than ``since`` in a parsed response, and a Rejection for each item
        that is not a sample; FetchFailed when ``each`` does not find a list."""
        try:
            items = self.each.search(payload)
        except ValueError as exc:
            raise FetchFailed(f"samples.each {self.each} {exc}") from None
        if not isinstance(items, list):
            raise FetchFailed(f"samples.each {self.each} found {_found(items)} in the response, "
                              f"not a list: its shape is not the one expected")
        out: list[RawSample] = []
        rejected = 0
        for index, item in enumerate(items):
            sample = self.sample(index, item, since)
            if isinstance(sample, Rejection):
                rejected += 1
                if rejected > MAX_REJECTIONS:
                    continue
            if sample is not None:
                out.append(sample)
        if rejected > MAX_REJECTIONS:
            more = rejected - MAX_REJECTIONS
            out.append(Rejection(f"{more} more item(s) of the same response could not be made "
                                 f"samples (only the first {MAX_REJECTIONS} are kept one by one)",
                                 {"more_items": more}))
        return out

    def sample(self, index: int, item: Any, since: float | None) -> Sample | Rejection | None:
        """The sample of one item, a Rejection naming each field that is wrong, or None when
        the item is not newer than ``since`` (it was delivered before)."""
        problems: list[str] = []

        def field(name: str, expression: Expression, convert: Callable[[Any], Any]) -> Any:
            try:
                return convert(expression.search(item))
            except ValueError as exc:
                problems.append(f"{name} {expression} {exc}")
                return None

        ts = field("ts", self.ts, _epoch)
        if ts is not None and since is not None and ts <= since:
            return None
        metric = field("metric", self.metric, _text)
        scope = field("scope", self.scope, _text) if self.scope is not None else TRUST
        value = field("value", self.value, _number)
        if problems:
            return Rejection(f"item {index}: {'; '.join(problems)}", item)
        return Sample(metric, scope, ts, value)


def _text(found: Any) -> str:
    if isinstance(found, str) and found.strip():
        return found
    raise _wrong(found, "text")


def _number(found: Any) -> float:
    number: float | None = None
    if isinstance(found, (int, float)) and not isinstance(found, bool):
        try:
            number = float(found)
        except OverflowError:
            raise _wrong(found, "a number of a size that can be stored") from None
    elif isinstance(found, str):
        with contextlib.suppress(ValueError):
            number = float(found)
    if number is None:
        raise _wrong(found, "a number")
    if not math.isfinite(number):
        raise _wrong(found, "a finite number")
    return number


def _epoch(found: Any) -> float:
    """Seconds since the epoch from a number of them or ISO 8601 text with an offset."""
    if isinstance(found, (int, float)) and not isinstance(found, bool):
        try:
            seconds = float(found)
        except OverflowError:
            seconds = math.inf
        if math.isfinite(seconds):
            return seconds
    elif isinstance(found, str):
        try:
            moment = datetime.fromisoformat(found.strip())
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is None:
            raise ValueError(f"found {_found(found)}, a time without an offset (add Z for UTC)")
        if moment is not None:
            return moment.timestamp()
    raise _wrong(found, "a time (ISO 8601 with an offset, or seconds since 1970)")


def _wrong(found: Any, expected: str) -> ValueError:
    """The problem with what an expression found in an item."""
    return ValueError("found nothing" if found is None else f"found {_found(found)}, not "
                                                           f"{expected}")


def _found(value: Any) -> str:
    """What an expression found, as a message shows it."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    return _short.repr(value)


# --- the feed -----------------------------------------------------------------------------


class HttpJsonFeed:
    """One URL, polled for the samples in its JSON newer than the last poll's.

    Holds an HTTP client (kept-alive connections): ``close()`` (or leaving a ``with`` block)
    releases it.
    """

    def __init__(self, name: str, function: str, interval: float, url: str,
                 fields: SampleFields, *, timeout: float = DEFAULT_TIMEOUT,
                 max_bytes: int = DEFAULT_MAX_BYTES, headers: Mapping[str, str] | None = None,
                 verify: bool | ssl.SSLContext = True, since_param: str | None = None,
                 secrets: Iterable[str] = (), credentials_from: Sequence[str] = ()) -> None:
        self.name = name
        self.function = function
        self.interval = interval
        self.timeout = timeout  # seconds one poll may take, from connecting to the last byte
        self.max_bytes = max_bytes
        self.fields = fields
        self.since_param = since_param
        self.url = httpx.URL(url)
        self.where = f"{self.url.host}:{self.url.port or _PORTS.get(self.url.scheme, '')}"
        self.credentials_from = tuple(credentials_from)  # variable names, for a 401's message
        self._secrets = _variants(secrets)
        self._redacting = _Redacting(self._scrub)  # httpx logs each request's URL
        logging.getLogger("httpx").addFilter(self._redacting)
        self._validators: dict[str, str] = {}  # If-None-Match / If-Modified-Since to send
        self._delivered: float | None = None  # the newest sample time the last 200 gave
        self.client = httpx.Client(
            headers={"Accept": "application/json", "User-Agent": f"surge (feed {name})",
                     **(headers or {})},
            timeout=httpx.Timeout(timeout), verify=verify, follow_redirects=False)
        if verify is False:
            log.warning("feed %s: TLS certificate verification is OFF (tls: {verify: false}): "
                        "anyone on the network path to %s can read and change its data%s; "
                        "name the CA with tls: {ca_file: ...} instead", name, self.where,
                        " and its credentials" if credentials_from else "")
        if self.url.scheme == "http" and credentials_from:
            log.warning("feed %s sends its credentials (%s) to %s over plain http, unencrypted",
                        name, ", ".join(credentials_from), self.where)

    def fetch(self, since: float | None, now: float) -> list[RawSample]:
        """The samples newer than ``since`` in the document at the URL, and a Rejection for
        each item of it that is not a sample."""
        try:
            return self._fetch(since)
        except FetchFailed as exc:
            raise FetchFailed(self._scrub(str(exc))) from None

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()
        logging.getLogger("httpx").removeFilter(self._redacting)

    def __enter__(self) -> HttpJsonFeed:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- one poll ----------------------------------------------------------------------

    def _fetch(self, since: float | None) -> list[RawSample]:
        url = self.url
        if self.since_param and since is not None:  # (params= would drop the URL's own query)
            url = url.copy_set_param(self.since_param, _iso(since))
        deadline = time.monotonic() + self.timeout
        try:
            with self.client.stream("GET", url, headers=self._conditions(since)) as response:
                if response.status_code in (204, 304):  # nothing new
                    return []
                if response.status_code >= 300:
                    raise FetchFailed(self._refused(response))
                body = self._body(response, deadline)
                content_type = response.headers.get("content-type", "")
                validators = {"If-None-Match": response.headers.get("etag"),
                              "If-Modified-Since": response.headers.get("last-modified")}
        except httpx.HTTPError as exc:
            raise FetchFailed(self._unreachable(exc)) from None
        except httpx.InvalidURL as exc:
            raise FetchFailed(f"the URL cannot be used: {exc}") from None
        samples = self.fields.read(self._payload(body, content_type), since)
        self._validators = {k: v for k, v in validators.items() if v}
        self._delivered = max((s.ts for s in samples if isinstance(s, Sample)), default=None)
        return samples

    def _conditions(self, since: float | None) -> dict[str, str]:
        """The validators of the last good response, once the poller has taken in its
        samples (``since`` has reached them); none before, so nothing unstored is lost to a
        304."""
        if self._delivered is not None and (since is None or since < self._delivered):
            return {}
        return self._validators

    def _body(self, response: httpx.Response, deadline: float) -> bytes:
        """The body, read no further than ``max_bytes`` and no later than ``deadline``."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchFailed(f"the response is {int(declared):,} bytes; the limit is "
                              f"{self.max_bytes:,} (max_bytes): nothing of it was read")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchFailed(f"the response is over {self.max_bytes:,} bytes, the limit "
                                  f"(max_bytes): reading stopped at {size:,}")
            chunks.append(chunk)
            if time.monotonic() > deadline:  # each read is timed; the whole body is too
                raise FetchFailed(f"the response from {self.where} was still arriving after "
                                  f"the timeout ({self.timeout:g} s), {size:,} bytes in")
        return b"".join(chunks)

    def _payload(self, body: bytes, content_type: str) -> Any:
        """The parsed JSON of a body; FetchFailed showing what it is instead."""
        kind = content_type or "not given"
        if not body.strip():
            raise FetchFailed(f"the response is empty (content type {kind})")
        try:
            return json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the stack
            start = self._start(body[:_WINDOW], complete=len(body) <= _WINDOW)
            raise FetchFailed(f"the response is not JSON (content type {kind})"
                              f"{': ' + start if start else ''}") from None

    def _refused(self, response: httpx.Response) -> str:
        """What a 3xx, 4xx or 5xx says, with the start of its body."""
        status = response.status_code
        message = f"HTTP {status} {response.reason_phrase} from {self.where}".rstrip()
        if 300 <= status < 400:
            return message + (" (redirects are not followed: set the feed's URL to the address "
                              "the source moved to)")
        body, complete = b"", False
        try:
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > _WINDOW:
                    break
            else:
                complete = True
        except httpx.HTTPError:
            pass
        start = self._start(body[:_WINDOW], complete and len(body) <= _WINDOW)
        if start:
            message += f": {start}"
        if status in (401, 403) and self.credentials_from:
            message += f" (check the credentials in {', '.join(self.credentials_from)})"
        return message

    def _unreachable(self, exc: httpx.HTTPError) -> str:
        """An operator's sentence for a transport failure."""
        detail = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, httpx.ConnectTimeout):
            return f"could not connect to {self.where} within the timeout ({self.timeout:g} s)"
        if isinstance(exc, httpx.TimeoutException):
            return f"no answer from {self.where} within the timeout ({self.timeout:g} s)"
        unverified = _unverified(exc)
        if unverified is not None:
            return (f"the TLS certificate of {self.where} could not be verified ({unverified}): "
                    f"if it is issued by the trust's own CA, name that CA's certificate with "
                    f"tls: {{ca_file: ...}}")
        if isinstance(exc, httpx.ConnectError):
            return f"cannot connect to {self.where}: {detail}"
        if isinstance(exc, httpx.RemoteProtocolError):
            return f"{self.where} broke off the response: {detail}"
        if isinstance(exc, httpx.DecodingError):
            return f"the response from {self.where} cannot be decoded: {detail}"
        return f"{self.where}: {type(exc).__name__}: {detail}"

    def _start(self, part: bytes, complete: bool) -> str:
        """The first characters of a body (of ``part`` of it, the whole when ``complete``),
        secrets cut out; nothing when a secret cut in two at the end of the part could be
        among them (it would no longer be recognised)."""
        text = self._scrub(" ".join(part.decode("utf-8", "replace").split()))
        longest = len(self._secrets[0]) if self._secrets else 0
        if not text or (not complete and len(text) < _SHOWN + longest):
            return ""
        return repr(text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "...")

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


_PORTS = {"http": 80, "https": 443}


class _Redacting(logging.Filter):
    """Cuts a feed's secrets out of what httpx logs: it logs the URL of every request, and a
    URL from the environment may hold a key."""

    def __init__(self, scrub: Callable[[str], str]) -> None:
        super().__init__()
        self.scrub = scrub

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        scrubbed = self.scrub(text)
        if scrubbed != text:
            record.msg, record.args = scrubbed, None
        return True


def _iso(since: float) -> str:
    """``since`` as ISO 8601 UTC to the second (down: a source then sends a little more)."""
    try:
        return datetime.fromtimestamp(math.floor(since), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        raise FetchFailed(f"the time to read from ({since!r}) is not a date") from None


def _unverified(exc: BaseException) -> str | None:
    """Why a certificate was refused, if that is what ``exc`` comes from."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or seen.reason or "certificate verify failed")
        seen = seen.__cause__ or seen.__context__
    return "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else None


def _variants(secrets: Iterable[str]) -> list[str]:
    """Each secret as written and as a URL would carry it, longest first (so a secret that
    holds another is cut out whole)."""
    found = {form for secret in secrets if secret
             for form in (secret, quote(secret, safe=""), quote_plus(secret, safe=""))}
    return sorted(found, key=len, reverse=True)


# --- building it from feeds.yaml ------------------------------------------------------------


def build(spec: FeedSpec, reader: Reader, context: FeedContext) -> HttpJsonFeed | None:
    """The feed of one ``type: http_json`` entry; None after reporting every problem in it."""
    before = len(reader.problems)
    options = spec.options
    url, secrets = _url(reader, spec, context)
    fields = _sample_fields(reader, options["samples"], context.catalogue)
    headers: dict[str, str] = {}
    credentials_from: list[str] = []
    if "auth" in options:
        secrets += _auth(reader, options["auth"], context, headers, credentials_from)
    verify: bool | ssl.SSLContext = True
    if "tls" in options:
        verify = _tls(reader, options["tls"], context, url)
    since_param = None
    if "since_param" in options:
        since_param = reader.string(options["since_param"], "the name of a query parameter")
    if len(reader.problems) > before or url is None or fields is None:
        return None
    return HttpJsonFeed(spec.name, spec.function, spec.interval, url, fields,
                        timeout=spec.timeout, max_bytes=spec.max_bytes, headers=headers,
                        verify=verify, since_param=since_param, secrets=secrets,
                        credentials_from=credentials_from)


def _url(reader: Reader, spec: FeedSpec, context: FeedContext) -> tuple[str | None, list[str]]:
    """The URL, from the file or the environment, and what of it must not be shown."""
    options = spec.options
    if "url" in options and "url_env" in options:
        reader.error(options["url_env"], "give url or url_env, not both (url_env names the "
                                         "variable holding a URL with a key in it)")
        return None, []
    if "url" not in options and "url_env" not in options:
        reader.error(spec.node, "missing required key 'url' (or 'url_env', naming the "
                                "variable that holds the URL)")
        return None, []
    if "url" in options:
        text = reader.string(options["url"], "an http:// or https:// URL")
        problem = _url_problem(text) if text is not None else None
        if problem is not None:
            reader.error(options["url"], f"{problem}, got {text!r}")
            return None, []
        if text is not None and httpx.URL(text).password:
            reader.error(options["url"], "the URL holds a password: keep it out of the file "
                                         "(auth: {basic_env: [USER_VAR, PASS_VAR]}, or url_env)")
            return None, []
        return text, []
    node = options["url_env"]
    text = env_value(reader, node, context, "the feed's URL")
    problem = _url_problem(text) if text is not None else None
    if problem is not None:  # the value itself is not shown: it may hold a key
        reader.error(node, f"the value of {node.value}: {problem}")
        return None, []
    if text is None:
        return None, []
    return text, _url_secrets(text)


def _url_secrets(text: str) -> list[str]:
    """What of a URL from the environment a message must not show: the URL, its query, its
    password, each value in its query and each part of its path long enough to be a key
    (messages name only the host and port: these are cut out of text from the network)."""
    url = httpx.URL(text)
    values = [value for _, value in url.params.multi_items() if len(value) >= _KEY_LENGTH]
    keys = [part for part in url.path.split("/") if len(part) >= _PATH_KEY_LENGTH]
    return [text, str(url), url.query.decode("ascii", "replace"), url.password or "",
            *values, *keys]


def _url_problem(text: str) -> str | None:
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        return "expected an http:// or https:// URL"
    if url.scheme not in ("http", "https") or not url.host:
        return "expected an http:// or https:// URL with a host"
    return None


def _sample_fields(reader: Reader, node: Node, catalogue: Catalogue) -> SampleFields | None:
    children = reader.mapping(node, required=("each", "metric", "ts", "value"),
                              optional=("scope",),
                              what="a mapping of JMESPath expressions: each, metric, scope, "
                                   "ts, value")
    if children is None:
        return None
    found: dict[str, Expression] = {}
    for name, child in children.items():
        expression = _expression(reader, child, name, catalogue)
        if expression is not None:
            found[name] = expression
    if any(name not in found for name in ("each", "metric", "ts", "value", *children)):
        return None
    return SampleFields(found["each"], found["metric"], found["ts"], found["value"],
                        found.get("scope"))


def _expression(reader: Reader, node: Node, name: str, catalogue: Catalogue) -> Expression | None:
    """The compiled expression at ``node``, after the checks that can be made before any
    data: its syntax, its functions, and a metric or scope given as a constant."""
    text = reader.string(node, "a JMESPath expression")
    if text is None:
        return None
    known = {"metric": list(catalogue.metrics), "scope": [TRUST, *catalogue.sites]}.get(name, [])
    if text.strip() in known:  # `metric: calls.waiting` would look up the field calls.waiting
        reader.error(node, f"{text.strip()!r} would be looked up in each item as a field; for "
                           f"the {name} itself write a JMESPath literal, in single quotes inside "
                           f"the YAML quotes: {name}: \"'{text.strip()}'\"")
        return None
    try:
        expression = Expression.of(text)
    except ParseError as exc:
        reader.error(node, f"not a JMESPath expression: {_syntax(exc)}")
        return None
    except JMESPathError as exc:  # the empty expression
        reader.error(node, f"not a JMESPath expression: {exc}")
        return None
    problems = _function_problems(expression.compiled.parsed)
    tree = expression.compiled.parsed
    if tree.get("type") == "literal" and name in ("metric", "scope"):
        constant = tree.get("value")
        if not isinstance(constant, str) or constant not in known:
            what = "metric" if name == "metric" else "scope (trust or a site code)"
            hint = did_you_mean(constant, known) if isinstance(constant, str) else ""
            problems.append(f"unknown {what} {constant!r}{hint}")
    for problem in problems:
        reader.error(node, problem)
    return None if problems else expression


def _syntax(exc: ParseError) -> str:
    """Where and why an expression cannot be read (jmespath's own text spans lines)."""
    at = f"character {exc.lex_position + 1}" if exc.lex_position is not None else "its end"
    if isinstance(exc, IncompleteExpressionError):
        return f"it ends too soon, at {at}"
    if isinstance(exc, LexerError):
        return f"cannot read {exc.token_value!r} at {at}"
    token = f" {exc.token_value!r}" if exc.token_value not in (None, "") else ""
    return f"unexpected{token} at {at}"


def _function_problems(tree: Mapping[str, Any]) -> list[str]:
    """Unknown functions and wrong numbers of arguments, which jmespath finds only when it
    reaches them in the data."""
    problems: list[str] = []
    table = Functions.FUNCTION_TABLE
    pending = [tree]
    while pending:
        node = pending.pop()
        pending.extend(c for c in node.get("children", []) if isinstance(c, dict))
        if node.get("type") != "function_expression":
            continue
        name, given = node.get("value"), len(node.get("children", []))
        if name not in table:
            problems.append(f"unknown function {name}(){did_you_mean(name, table)}")
            continue
        signature = table[name]["signature"]
        variadic = any(arg.get("variadic") for arg in signature)
        if given < len(signature) or (given > len(signature) and not variadic):
            problems.append(f"{name}() takes {len(signature)}{' or more' if variadic else ''} "
                            f"argument(s), given {given}")
    return problems


def _auth(reader: Reader, node: Node, context: FeedContext, headers: dict[str, str],
          credentials_from: list[str]) -> list[str]:
    """Fill ``headers`` from the auth entry; the secrets it used."""
    children = reader.mapping(node, optional=("bearer_env", "basic_env", "header_env"),
                              what="a mapping with bearer_env, basic_env or header_env")
    if children is None:
        return []
    if not children:
        reader.error(node, "expected bearer_env, basic_env or header_env")
    if "bearer_env" in children and "basic_env" in children:
        reader.error(node, "bearer_env and basic_env both set the Authorization header: give "
                           "one", at_key="basic_env")
    secrets: list[str] = []
    if "bearer_env" in children:
        child = children["bearer_env"]
        token = _header_secret(reader, child, context, "the bearer token")
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
            secrets.append(token)
        credentials_from.append(str(child.value))
    if "basic_env" in children:
        pair = reader.sequence(children["basic_env"], "a list of two variable names: "
                                                      "[USER_VAR, PASS_VAR]")
        if pair is not None and len(pair) != 2:
            reader.error(children["basic_env"], f"expected two variable names, [USER_VAR, "
                                                f"PASS_VAR], got {len(pair)}")
        elif pair is not None:
            user = env_value(reader, pair[0], context, "the user name")
            password = env_value(reader, pair[1], context, "the password")
            if user is not None and ":" in user:
                reader.error(pair[0], f"the value of {pair[0].value} holds a ':', which a user "
                                      f"name for basic authentication cannot")
            elif user is not None and password is not None:
                encoded = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
                headers["Authorization"] = f"Basic {encoded}"
                secrets += [password, encoded]  # (a user name is not secret)
            credentials_from += [str(p.value) for p in pair]
    if "header_env" in children:
        for key, child in reader.items(children["header_env"], "a mapping of header names "
                                                                "to variable names"):
            name = str(key)
            if not _TOKEN.match(name):
                reader.error(children["header_env"], f"{name!r} is not an HTTP header name",
                             at_key=key)
                continue
            if name.lower() == "authorization" and "Authorization" in headers:
                reader.error(children["header_env"], "Authorization is set already by "
                                                     "bearer_env or basic_env", at_key=key)
                continue
            value = _header_secret(reader, child, context, f"the value of the {name} header")
            if value is not None:
                headers[name] = value
                secrets.append(value)
            credentials_from.append(str(child.value))
    return secrets


def _header_secret(reader: Reader, node: Node, context: FeedContext, what: str) -> str | None:
    """A secret for a header, which must be printable ASCII (it is not shown if not)."""
    value = env_value(reader, node, context, what)
    if value is not None and not _HEADER_TEXT.match(value):
        reader.error(node, f"the value of {node.value} holds a line break, a control character "
                           f"or a non-ASCII character, which an HTTP header cannot carry")
        return None
    return value


def _tls(reader: Reader, node: Node, context: FeedContext,
         url: str | None) -> bool | ssl.SSLContext:
    """True (verify against the public CAs), a context trusting only ca_file, or False."""
    children = reader.mapping(node, optional=("ca_file", "verify"),
                              what="a mapping with ca_file or verify")
    if children is None:
        return True
    if url is not None and httpx.URL(url).scheme != "https":
        reader.error(node, "tls applies to https URLs; this feed's URL is http")
    verify = reader.boolean(children["verify"]) if "verify" in children else True
    if "ca_file" not in children:
        return verify is not False
    if verify is False:
        reader.error(node, "ca_file is not used when verify is false: remove one of them",
                     at_key="ca_file")
        return False
    path = resolve_path(reader, children["ca_file"], context)
    if path is None:
        return True
    if not path.is_file():
        reader.error(children["ca_file"], f"file not found: {path}")
        return True
    try:
        return ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as exc:
        reader.error(children["ca_file"], f"{path} is not a PEM file of CA certificates "
                                          f"({' '.join(str(exc).split())})")
        return True
