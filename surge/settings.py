"""Settings from the environment (and CLI options), parsed once into a frozen object.

| variable              | default            | meaning                                             |
|-----------------------|--------------------|-----------------------------------------------------|
| SURGE_REDIS_URL       | (embedded store)   | redis://, rediss:// or unix:// URL of the store     |
| SURGE_DATA_DIR        | ./var              | embedded store data, secrets, local state           |
| SURGE_RULES           | ./surge_rules.yaml | the rules file (metric catalogue, sites, levels)    |
| SURGE_HOST            | 127.0.0.1          | address the web server listens on                   |
| SURGE_PORT            | 8050               | port the web server listens on                      |
| SURGE_RETENTION       | 35d                | the hot window: how long samples and events stay in |
|                       |                    | the store before they are archived (docs/review.md) |
| SURGE_ARCHIVE         | DATA_DIR/archive   | where days older than the hot window are kept, as   |
|                       |                    | Parquet: a directory, or a file:// or s3:// URL     |
| SURGE_FEEDS_FILE      | ./feeds.yaml       | the feeds the worker polls (docs/feeds.md); absent: |
|                       |                    | the feeds named in SURGE_FEEDS                      |
| SURGE_FEEDS           | simulator          | built-in feeds polled when there is no feeds file   |
| SURGE_SCENARIO        | (none)             | simulator scenario name or file                     |
| SURGE_SPEED           | 1                  | simulated time runs this many times faster          |
| SURGE_SEED            | 1                  | simulator seed                                      |
| SURGE_REFRESH         | 5s                 | how often pages refresh                             |
| SURGE_SECRET_KEY      | (generated)        | signs session cookies (32+ characters); unset: made |
|                       |                    | once into SURGE_DATA_DIR/secret_key, mode 0600      |
| SURGE_HTTPS           | off                | served over HTTPS: Secure cookies and HSTS          |
| SURGE_TRUSTED_PROXIES | 0                  | proxies in front whose X-Forwarded-* are believed   |
| SURGE_ANONYMOUS_VIEW  | off                | read-only viewing without signing in (trusted LANs) |
| SURGE_IDLE_TIMEOUT    | 12h                | a session ends after this long without activity     |
| SURGE_SESSION_MAX     | 24h                | a session ends this long after signing in           |
| SURGE_LOGIN_LIMIT     | 5/minute           | failed sign-ins allowed per user and per address    |
| SURGE_MAX_BODY        | 1M                 | largest request body accepted; k = KiB, M = MiB     |
| SURGE_ALERTING        | ./alerting.yaml    | who is alerted how (docs/alerting.md); absent: none |
| SURGE_SMTP_URL        | (none)             | smtp://user:pass@host:port (STARTTLS), smtps://...,  |
|                       |                    | or smtp://host:port?starttls=off for a local relay  |
| SURGE_PUBLIC_URL      | http://HOST:PORT   | the dashboard's address as people reach it: links   |
|                       |                    | in alerts                                           |
| SURGE_METRICS_TOKEN   | (none)             | when set, GET /metrics needs "Authorization: Bearer |
|                       |                    | <token>" (32+ characters); unset: open, as usual    |
|                       |                    | for Prometheus exporters (it holds no patient data) |

Booleans take 1/0, true/false, yes/no or on/off. Wall screens (signed in by a screen URL)
are exempt from both timeouts: they end only when revoked. A store URL is checked whole (its
host, port and database number), and shown with its password hidden. A data dir that is a
file, or lies under one, is refused here; ``prepare_data_dir`` (for the commands that write
in it) makes it, private, and checks that it can be written in.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from surge.durations import parse_duration
from surge.errors import ConfigError, Problem
from surge.store import redact_url

__all__ = ["Settings", "prepare_data_dir"]


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    data_dir: Path = Path("var")
    rules: Path = Path("surge_rules.yaml")
    host: str = "127.0.0.1"
    port: int = 8050
    retention: int = 35 * 86400
    archive: str | None = None  # None: data_dir / "archive"
    feeds: tuple[str, ...] = ("simulator",)
    feeds_file: Path | None = None  # None: ./feeds.yaml if it exists
    scenario: str | None = None
    speed: float = 1.0
    seed: int = 1
    refresh: int = 5
    secret_key: str | None = field(default=None, repr=False)  # never in a repr or a log
    https: bool = False
    trusted_proxies: int = 0
    anonymous_view: bool = False
    idle_timeout: int = 12 * 3600
    session_max: int = 24 * 3600
    login_limit: str = "5/minute"
    max_body: int = 1024 * 1024
    alerting: Path = Path("alerting.yaml")
    smtp_url: str | None = field(default=None, repr=False)  # may hold a password
    public_url: str | None = None
    metrics_token: str | None = field(default=None, repr=False)  # never in a repr or a log

    @property
    def feeds_path(self) -> Path | None:
        """The feeds file in force: SURGE_FEEDS_FILE, else ./feeds.yaml when there is one;
        None: the built-in feeds of SURGE_FEEDS."""
        if self.feeds_file is not None:
            return self.feeds_file
        default = Path("feeds.yaml")
        return default if default.exists() else None

    @property
    def link_base(self) -> str:
        """Where people reach the dashboard, for links in alerts."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from SURGE_* variables, then non-None overrides (CLI options)."""
        env = os.environ if env is None else env
        problems: list[Problem] = []
        values: dict[str, Any] = {}

        def take(var: str, name: str, parse: Any, secret: bool = False,
                 show: Callable[[str], str] = str) -> None:
            raw = env.get(var)
            if raw is None or raw == "":
                return
            try:
                values[name] = parse(raw)
            except ValueError as exc:
                got = "" if secret else f" (got {show(raw)!r})"  # a secret is never echoed
                problems.append(Problem(var, f"{exc}{got}"))

        take("SURGE_REDIS_URL", "redis_url", _url, show=_shown_url)
        take("SURGE_DATA_DIR", "data_dir", _data_dir)
        take("SURGE_RULES", "rules", Path)
        take("SURGE_HOST", "host", str)
        take("SURGE_PORT", "port", _port)
        take("SURGE_RETENTION", "retention", _positive_duration)
        take("SURGE_ARCHIVE", "archive", _archive)
        take("SURGE_FEEDS", "feeds", _names)
        take("SURGE_FEEDS_FILE", "feeds_file", Path)
        take("SURGE_SCENARIO", "scenario", str)
        take("SURGE_SPEED", "speed", _speed)
        take("SURGE_SEED", "seed", _int)
        take("SURGE_REFRESH", "refresh", _positive_duration)
        take("SURGE_SECRET_KEY", "secret_key", _secret, secret=True)
        take("SURGE_HTTPS", "https", _bool)
        take("SURGE_TRUSTED_PROXIES", "trusted_proxies", _hops)
        take("SURGE_ANONYMOUS_VIEW", "anonymous_view", _bool)
        take("SURGE_IDLE_TIMEOUT", "idle_timeout", _positive_duration)
        take("SURGE_SESSION_MAX", "session_max", _positive_duration)
        take("SURGE_LOGIN_LIMIT", "login_limit", _rate_limit)
        take("SURGE_MAX_BODY", "max_body", _body_size)
        take("SURGE_ALERTING", "alerting", Path)
        take("SURGE_SMTP_URL", "smtp_url", _smtp_url, secret=True)
        take("SURGE_PUBLIC_URL", "public_url", _public_url)
        take("SURGE_METRICS_TOKEN", "metrics_token", _secret, secret=True)
        given = {k: v for k, v in overrides.items() if v is not None}
        # options are checked as their variables are, and named as the user gave them
        for option, name, check, show in (("--redis-url", "redis_url", _url, _shown_url),
                                          ("--data-dir", "data_dir", _data_dir, str)):
            if name in given:
                try:
                    given[name] = check(str(given[name]))
                except ValueError as exc:
                    problems.append(Problem(option, f"{exc} (got {show(str(given[name]))!r})"))
        if problems:
            raise ConfigError(problems)
        settings = cls(**values)
        return replace(settings, **given)

    @property
    def archive_location(self) -> str:
        """Where the archive is: SURGE_ARCHIVE, else the archive directory in the data dir."""
        return self.archive or str(self.data_dir / "archive")

    @property
    def embedded(self) -> bool:
        return self.redis_url is None


def _smtp_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("expected smtp://[user:password@]host[:port] or smtps://...")
    try:
        parts.port  # noqa: B018  (a bad port raises)
    except ValueError:
        raise ValueError("the port is not a number from 1 to 65535") from None
    return raw


def _public_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected http://host[:port] or https://...")
    return raw.rstrip("/")


def _url(raw: str) -> str:
    """A store URL whose every part redis-py would use: it ignores a database that is not a
    number (so ``redis://host/abc`` would silently be database 0), so that is refused here."""
    if not raw.startswith(("redis://", "rediss://", "unix://", "valkey://", "valkeys://")):
        raise ValueError("expected a URL starting redis://, rediss:// or unix://")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ValueError("expected a port number from 1 to 65535 after the host") from None
    query = parse_qs(parts.query)
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("expected the socket's path, as in unix:///run/redis.sock?db=0")
        db = ""
    else:
        if not parts.hostname:
            raise ValueError("expected a host, as in redis://host:6379/0")
        if port == 0:
            raise ValueError("expected a port number from 1 to 65535 after the host")
        db = parts.path.removeprefix("/")
    for number in [db, *query.get("db", [])]:
        if number and not (number.isascii() and number.isdigit()):
            raise ValueError(f"the database must be a whole number such as 0, as in "
                             f"redis://host:6379/0, not {number!r}")
    return raw


def _shown_url(raw: str) -> str:
    """A URL as it may be shown: any password hidden, even in a URL too broken to parse."""
    try:
        return redact_url(raw)
    except ValueError:  # a bad port, say: hide everything before the host
        scheme, _, rest = raw.partition("://")
        netloc, slash, path = rest.partition("/")
        if "@" in netloc:
            netloc = "***@" + netloc.rpartition("@")[2]
        return f"{scheme}://{netloc}{slash}{path}"


def _archive(raw: str) -> str:
    scheme, sep, _ = raw.partition("://")
    if sep and scheme not in ("file", "s3", "gs", "gcs", "hdfs", "abfs"):
        raise ValueError("expected a directory, or a file://, s3://, gs:// or abfs:// URL")
    if not sep:
        _data_dir(raw)  # a path is checked as the data dir is
    return raw


def _data_dir(raw: str) -> Path:
    """A path that is, or can become, a directory: not a file, nor under one."""
    path = Path(raw)
    try:
        if path.exists() and not path.is_dir():
            raise ValueError(f"{path} is a file, not a directory" if path.is_file()
                             else f"{path} is not a directory")
        for parent in path.absolute().parents:
            if parent.exists():
                if not parent.is_dir():
                    raise ValueError(f"{parent} is a file, so {path} cannot be made")
                break
    except OSError as exc:
        raise ValueError(f"cannot look at {path}: {exc.strerror or exc}") from None
    return path


def prepare_data_dir(path: Path, setting: str = "SURGE_DATA_DIR") -> None:
    """Make the data dir (mode 0700; an existing one loses group and other access) and check
    that files can be made in it: ConfigError naming ``setting`` otherwise. Commands that
    write there call it before they do anything else."""
    try:
        _data_dir(str(path))
    except ValueError as exc:
        raise ConfigError.single(setting, str(exc)) from None
    doing = f"cannot make {path}"
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        doing = f"cannot write in {path}"
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            path.chmod(mode & 0o700)
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError.single(setting, f"{doing}: {exc.strerror or exc}") from None


def _port(raw: str) -> int:
    port = _int(raw)
    if not 1 <= port <= 65535:
        raise ValueError("expected a port number from 1 to 65535")
    return port


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("expected a whole number") from None


def _speed(raw: str) -> float:
    try:
        speed = float(raw)
    except ValueError:
        raise ValueError("expected a number such as 1 or 60") from None
    if not 0 < speed <= 10_000:
        raise ValueError("expected a speed above 0 and at most 10000")
    return speed


def _positive_duration(raw: str) -> int:
    seconds = parse_duration(raw)
    if seconds <= 0:
        raise ValueError("expected a duration longer than 0s")
    return seconds


def _names(raw: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    if not names:
        raise ValueError("expected a comma-separated list of feed names")
    return names


MIN_SECRET = 32


def _secret(raw: str) -> str:
    if len(raw.strip()) < MIN_SECRET:
        raise ValueError(f"expected at least {MIN_SECRET} characters, such as the output of "
                         f"`python3 -c 'import secrets; print(secrets.token_hex(32))'`")
    return raw.strip()


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("expected 1 or 0 (also true/false, yes/no, on/off)")


def _hops(raw: str) -> int:
    hops = _int(raw)
    if not 0 <= hops <= 5:
        raise ValueError("expected the number of reverse proxies in front, from 0 to 5")
    return hops


def _body_size(raw: str) -> int:
    """A size in bytes, or with k or M (KiB, MiB): from 16k (a sign-in form) to 64M."""
    text = raw.strip().lower().removesuffix("b")
    scale = {"k": 1024, "m": 1024 * 1024}.get(text[-1:], 1)
    digits = text[:-1] if scale > 1 else text
    if not digits.isdigit():
        raise ValueError('expected a size such as "1M", "512k" or "65536"')
    size = int(digits) * scale
    if not 16 * 1024 <= size <= 64 * 1024 * 1024:
        raise ValueError("expected a size from 16k to 64M")
    return size


def _rate_limit(raw: str) -> str:
    """A rate (the ``limits`` package's notation) such as "5/minute" or "10 per hour"."""
    from limits import parse_many

    text = raw.strip()
    try:
        rates = parse_many(text)
    except ValueError:
        rates = []
    if len(rates) != 1:
        raise ValueError('expected one rate such as "5/minute" or "20 per hour"')
    if rates[0].amount < 1:
        raise ValueError("expected at least 1 attempt per period")
    return text
