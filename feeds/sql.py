"""sql feeds: a read-only query on a database, run every interval, its rows made samples.

    - name: hub-db
      type: sql
      function: clinical_triage
      url_env: HUB_DB_URL          # the variable holding the SQLAlchemy database URL
      interval: 1m
      query: "SELECT ts, metric, scope, value FROM surge_view WHERE ts > :since"
      # first_since: 24h           # how far back the first poll reads
      # since_as: datetime         # datetime | epoch | iso: how :since is given to the query
      # columns: {ts: recorded_at, metric: indicator, scope: site, value: reading}
      # max_rows: 100000           # the most rows one poll reads

Each poll runs ``query`` with ``:since`` bound to the newest sample time already delivered
(on the first poll, ``first_since`` before now), so the query should keep only newer rows.
``since_as`` matches the type of the source's time column: ``datetime`` (the default) a
timezone-aware UTC datetime, which the driver sends as a timestamp (SQLite receives the text
``2025-01-08 10:12:34.000000``, right for times written by SQLite's ``datetime()``);
``epoch`` seconds since 1970 as a number; ``iso`` UTC text such as
``2025-01-08T10:12:34.000000+00:00``, right for ISO text in UTC. Text compares as text, so
with the wrong choice a query may read nothing or re-read rows; re-read rows are counted as
duplicates, not stored twice.

Each row gives one sample from its columns ``ts``, ``metric``, ``scope`` and ``value``
(``columns`` names others). Without a ``scope`` column, or where it is NULL, the sample is
for the trust. ``ts`` may be a datetime, seconds since the epoch or ISO 8601 text; a
datetime or text without a time zone is taken as UTC (SQLite and ``timestamp without time
zone`` columns keep none). A row that cannot be made a sample (no time, a value that is not a
number) is handed to the poller as a ``Rejection`` with the reason, and the other rows are
kept.

A poll reads at most ``max_rows`` rows. When there are more and the query returns them in
time order (``ORDER BY ts``), the poll delivers the rows before the last time it read (a part
with no row missing) and logs a warning; the next poll goes on from there, so a backlog is
caught up in parts. Out of order, a part could leave rows behind for good, so the poll fails
instead, saying to add ``ORDER BY ts`` or to raise ``max_rows``.

Only reading is allowed, three times over. The database account should be read-only: that is
the protection that counts. The connection is read-only where the dialect allows: SQLite opens
the file read-only and sets ``PRAGMA query_only``; PostgreSQL runs each poll in a ``READ
ONLY`` transaction. And a query that is not one SELECT (or WITH ... SELECT) statement, or
that contains INSERT, UPDATE, DELETE, MERGE, INTO or a DDL word outside quotes and comments,
is refused when the file is read. That check is a plain look at the words, not a parser: it
catches a mistake, not a determined author (a function with side effects passes it), which is
why the other two layers exist.

The feed's ``timeout`` bounds a poll: SQLite waits that long for a lock and stops a query
running longer; PostgreSQL gets it as ``statement_timeout`` and, with psycopg, psycopg2 or
pg8000, as the connection timeout. Other dialects rely on their own limits.

The URL is read from the environment (``url_env``), never from the file; a relative SQLite
path in it is relative to the folder of feeds.yaml, like every path of that file. A URL that
cannot be used (not a URL, an unknown kind of database, a driver not installed, an asyncio
driver) is reported when the file is read, without the URL. Every failure to read at a poll
(the database down or locked, a wrong password, a missing table, an SQL error) raises
``FetchFailed`` with the driver's message after the URL, its password removed from both.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast
from urllib.parse import quote, unquote

from sqlalchemy import Connection, DateTime, Engine, Float, String, bindparam, create_engine, event
from sqlalchemy import text as sql_text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import TypeEngine

from feeds.base import RawSample
from feeds.config import FeedContext, FeedSpec, env_value
from surge.catalogue import TRUST
from surge.configfile import Node, Reader
from surge.errors import FetchFailed
from surge.samples import Rejection

__all__ = ["DEFAULT_FIRST_SINCE", "DEFAULT_MAX_ROWS", "OPTIONAL", "REQUIRED", "SqlFeed", "build"]

log = logging.getLogger(__name__)

REQUIRED = ("url_env", "query")
OPTIONAL = ("first_since", "since_as", "columns", "max_rows")

DEFAULT_FIRST_SINCE = 24 * 3600.0  # seconds the first poll reads back
DEFAULT_MAX_ROWS = 100_000
FIELDS = ("ts", "metric", "scope", "value")  # what a row gives; `columns` may rename each
SinceAs = Literal["datetime", "epoch", "iso"]
SINCE_AS: tuple[SinceAs, ...] = ("datetime", "epoch", "iso")
_SINCE_TYPES: dict[str, TypeEngine[Any]] = {"datetime": DateTime(timezone=True), "epoch": Float(),
                                           "iso": String()}

# The words that make a statement write, lock or change the schema. A SELECT may carry one
# inside a WITH (PostgreSQL's data-modifying CTEs, SQLite's WITH ... DELETE) or as
# SELECT ... INTO (a new table) and ... FOR UPDATE (row locks).
_WRITE_WORDS = ("insert", "update", "delete", "merge", "into", "drop", "alter", "create",
                "truncate", "grant", "revoke")
_QUOTED_OR_COMMENT = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|--[^\n]*|/\*.*?\*/",
                                re.DOTALL)
_WORD = re.compile(r"[A-Za-z_]+")
# The name of the connect argument that bounds connecting, by PostgreSQL driver.
_CONNECT_TIMEOUT = {"psycopg": "connect_timeout", "psycopg2": "connect_timeout", "pg8000": "timeout"}
_SQLITE_STEPS = 10_000  # SQLite virtual-machine steps between two looks at the clock


class SqlFeed:
    """One query on one database, polled for the samples newer than the last poll's.

    Holds a connection pool: ``close()`` (or leaving a ``with`` block) releases it.
    """

    def __init__(self, name: str, function: str, interval: float, timeout: float,
                 engine: Engine, query: str, *, first_since: float = DEFAULT_FIRST_SINCE,
                 since_as: SinceAs = "datetime", columns: Mapping[str, str] | None = None,
                 max_rows: int = DEFAULT_MAX_ROWS, shown_as: str | None = None) -> None:
        self.name = name
        self.function = function
        self.interval = interval
        self.timeout = timeout  # seconds one poll may take
        self.engine = engine
        self.first_since = first_since
        self.since_as = since_as
        self.columns = {field: (columns or {}).get(field, field) for field in FIELDS}
        self.max_rows = max_rows
        self.statement: TextClause = sql_text(query).bindparams(
            bindparam("since", type_=_SINCE_TYPES[since_as]))
        self.shown_as = shown_as or engine.url.render_as_string(hide_password=True)
        self._dialect = engine.dialect.name

    def fetch(self, since: float | None, now: float) -> list[RawSample]:
        """The rows newer than ``since`` (the lookback before ``now`` on the first poll)."""
        bound = self._since(now - self.first_since if since is None else since)
        self._check_file()
        deadline = time.monotonic() + self.timeout
        try:
            with self.engine.connect() as conn, self._bounded(conn, deadline):
                result = conn.execute(self.statement, {"since": bound})
                if not result.returns_rows:
                    raise FetchFailed(f"{self.shown_as}: the query returned no rows to read")
                names = list(result.keys())
                positions = self._positions(names)
                rows = result.fetchmany(self.max_rows + 1)
        except SQLAlchemyError as exc:
            raise FetchFailed(self._problem(exc, time.monotonic() >= deadline)) from None
        items: list[RawSample] = [_row_sample(dict(zip(names, row, strict=False)), positions)
                                  for row in rows[:self.max_rows]]
        return self._complete_part(items) if len(rows) > self.max_rows else items

    def close(self) -> None:
        """Close the pool's connections (a poll after this opens new ones)."""
        self.engine.dispose()

    def __enter__(self) -> SqlFeed:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- one poll ----------------------------------------------------------------------

    def _check_file(self) -> None:
        """A missing SQLite file said plainly (the driver says only "unable to open")."""
        path = _sqlite_file(self.engine.url)
        if path is not None and not path.exists():
            raise FetchFailed(f"{self.shown_as}: the database file {path} does not exist")

    @contextmanager
    def _bounded(self, conn: Connection, deadline: float) -> Iterator[None]:
        """This connection's transaction made read-only and bounded in time, as the dialect
        allows: ``deadline`` is the real (monotonic) time by which the query must end."""
        if self._dialect == "postgresql":
            conn.execution_options(postgresql_readonly=True)  # a READ ONLY transaction
            milliseconds = math.ceil(self.timeout * 1000)
            conn.execute(sql_text(f"SET LOCAL statement_timeout = {milliseconds}"))
            conn.execute(sql_text("SET LOCAL TIME ZONE 'UTC'"))  # naive times are then UTC
        raw = conn.connection.driver_connection if self._dialect == "sqlite" else None
        if raw is None:
            yield
            return
        # SQLite has no statement timeout: a handler it calls as it runs stops the query
        raw.set_progress_handler(lambda: time.monotonic() > deadline, _SQLITE_STEPS)
        try:
            yield
        finally:
            raw.set_progress_handler(None, 0)

    def _since(self, start: float) -> Any:
        if self.since_as == "epoch":
            return start
        try:
            moment = datetime.fromtimestamp(start, UTC)
        except (OverflowError, OSError, ValueError):
            raise FetchFailed(f"the time to read from ({start!r}) is not a date") from None
        return moment if self.since_as == "datetime" else moment.isoformat(timespec="microseconds")

    def _positions(self, names: Sequence[str]) -> dict[str, str | None]:
        """For each field, the result column it is read from (scope may have none)."""
        by_lower = {n.lower(): n for n in names}
        found: dict[str, str | None] = {}
        for field, column in self.columns.items():
            found[field] = column if column in names else by_lower.get(column.lower())
        missing = [f"{column!r}" for field, column in self.columns.items()
                   if found[field] is None and field != "scope"]
        if missing:
            raise FetchFailed(
                f"{self.shown_as}: the query returns no column {' or '.join(missing)} (it "
                f"returns {', '.join(names) or 'none'}): name them in the SELECT (... AS ts) "
                f"or map them with columns:")
        return found

    def _complete_part(self, items: list[RawSample]) -> list[RawSample]:
        """The rows before the last time read, when more rows are waiting and those read came
        in time order; FetchFailed otherwise (a part could leave rows behind for good)."""
        times = [float(item["ts"]) for item in items if isinstance(item, Mapping)]
        if not all(a <= b for a, b in pairwise(times)):
            raise FetchFailed(f"{self.shown_as}: the query returned more than {self.max_rows:,} "
                              f"rows (max_rows), not in time order: add ORDER BY ts to the "
                              f"query so a backlog is read in parts, or raise max_rows")
        last = times[-1] if times else None
        cut = next((i for i, item in enumerate(items)
                    if isinstance(item, Mapping) and item["ts"] == last), 0)
        if cut == 0:
            raise FetchFailed(f"{self.shown_as}: the query returned more than {self.max_rows:,} "
                              f"rows (max_rows), and none readable before the last time read, "
                              f"so no part of them is complete: raise max_rows")
        log.warning("feed %s: more than %d rows (max_rows) are waiting; this poll delivers "
                    "the first %d, the next goes on from there", self.name, self.max_rows, cut)
        return items[:cut]

    def _problem(self, exc: SQLAlchemyError, timed_out: bool) -> str:
        """The driver's message, on one line, with the URL and without the password."""
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        detail = " ".join(str(cause).split()) or type(cause).__name__
        if timed_out and self._dialect == "sqlite" and "interrupted" in detail:
            detail = f"the query ran longer than the timeout ({self.timeout:g} s) and was stopped"
        return f"{self.shown_as}: {_scrub(detail, self.engine.url.password)}"


# --- a row -------------------------------------------------------------------------------


def _row_sample(row: Mapping[str, Any], positions: Mapping[str, str | None]) -> RawSample:
    """A sample mapping (ts as epoch seconds, value as a number) or a Rejection saying why."""
    try:
        ts = _epoch(row[positions["ts"]] if positions["ts"] else None)
        metric = row[positions["metric"]] if positions["metric"] else None
        if not isinstance(metric, str) or not metric:
            raise ValueError(f"metric must be text, got {_shown(metric)}")
        scope = row[positions["scope"]] if positions["scope"] else None
        if scope is None:
            scope = TRUST
        elif not isinstance(scope, str) or not scope:
            raise ValueError(f"scope must be text (a site code, or NULL for the trust), got "
                             f"{_shown(scope)}")
        value = _number(row[positions["value"]] if positions["value"] else None, metric)
    except ValueError as exc:
        return Rejection(str(exc), dict(row))
    return {"metric": metric, "scope": scope, "ts": ts, "value": value}


def _epoch(value: Any) -> float:
    """Seconds since the epoch from a datetime, a number or ISO 8601 text; naive is UTC."""
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"ts {_shown(value)} is not an ISO 8601 time") from None
    elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except (OverflowError, ValueError):
            seconds = math.nan
        if not math.isfinite(seconds):
            raise ValueError(f"ts {_shown(value)} is not a time")
        return seconds
    if moment is None:
        raise ValueError(f"ts must be a time (a datetime, seconds since the epoch or ISO 8601 "
                         f"text), got {_shown(value)}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp()
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"ts {_shown(value)} is not a time that can be stored") from None


def _number(value: Any, metric: str) -> float:
    """The value as a float (NaN and infinities included: the poller rejects those)."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        try:
            return float(value)
        except (OverflowError, ValueError):  # an int past float's range; Decimal('sNaN')
            raise ValueError(f"value of {metric} is not a number that can be stored: "
                             f"{_shown(value)}") from None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if value is None:
        raise ValueError(f"value of {metric} is NULL")
    raise ValueError(f"value of {metric} must be a number, got {_shown(value)}")


def _shown(value: Any) -> str:
    """A cell as a message shows it: NULL, or its repr cut to a readable length."""
    if value is None:
        return "NULL"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- building it from feeds.yaml ---------------------------------------------------------


def build(spec: FeedSpec, reader: Reader, context: FeedContext) -> SqlFeed | None:
    """The feed of one ``type: sql`` entry; None after reporting every problem in it."""
    before = len(reader.problems)
    options = spec.options
    query = _query(reader, options["query"])
    first_since = DEFAULT_FIRST_SINCE
    if "first_since" in options:
        seconds = reader.duration(options["first_since"])
        if seconds is not None and seconds <= 0:
            reader.error(options["first_since"], "expected a duration above 0, such as 24h")
        first_since = float(seconds or 0)
    since_as: SinceAs = "datetime"
    if "since_as" in options:
        since_as = cast(SinceAs, reader.choice(options["since_as"], SINCE_AS) or since_as)
    columns = _columns(reader, options["columns"]) if "columns" in options else {}
    max_rows = DEFAULT_MAX_ROWS
    if "max_rows" in options:
        got = reader.number(options["max_rows"], "a number of rows")
        if got is not None and (got < 1 or got != int(got)):
            reader.error(options["max_rows"], f"expected a whole number of rows >= 1, got {got:g}")
        max_rows = int(got or 0)
    engine = _engine(reader, options["url_env"], spec, context)
    if len(reader.problems) > before or engine is None or query is None:
        if engine is not None:
            engine.dispose()
        return None
    return SqlFeed(spec.name, spec.function, spec.interval, spec.timeout, engine, query,
                   first_since=first_since, since_as=since_as, columns=columns,
                   max_rows=max_rows, shown_as=_shown_url(engine.url))


def _query(reader: Reader, node: Node) -> str | None:
    """The query, if it is one SELECT statement using :since and no other parameter.

    A look at the words outside quotes and comments, not a parse: a defence in depth behind
    the read-only account and connection (see the module docstring)."""
    query = reader.string(node, "an SQL SELECT statement")
    if query is None:
        return None
    code = _QUOTED_OR_COMMENT.sub(" ", query).strip().rstrip(";").strip()
    words = [w.lower() for w in _WORD.findall(code)]
    problems = []
    if not words or words[0] not in ("select", "with"):
        first = words[0].upper() if words else "nothing"
        problems.append(f"the query must be one SELECT (or WITH ... SELECT) statement; it "
                        f"starts with {first}")
    elif ";" in code:
        problems.append("the query must be one statement: remove the ';' inside it")
    else:
        writes = sorted({w.upper() for w in words if w in _WRITE_WORDS})
        if writes:
            problems.append(f"the query contains {', '.join(writes)}: a feed only reads (the "
                            f"database account should be read-only too)")
    if not problems:
        try:
            names = set(sql_text(query).compile().params)
        except SQLAlchemyError as exc:
            names = set()
            problems.append(f"the query cannot be read: {exc}")
        if "since" not in names and not problems:
            problems.append("the query does not use :since, so each poll would read every row "
                            "again: add WHERE ts > :since")
        others = sorted(names - {"since"})
        if others:
            problems.append(f"the query has the parameter(s) {', '.join(':' + n for n in others)}"
                            f"; only :since is given a value (write \\: for a literal colon)")
    for problem in problems:
        reader.error(node, problem)
    return None if problems else query


def _columns(reader: Reader, node: Node) -> dict[str, str]:
    children = reader.mapping(node, optional=FIELDS,
                              what="a mapping of ts, metric, scope, value to column names")
    columns: dict[str, str] = {}
    for field, child in (children or {}).items():
        name = reader.string(child, "a column name")
        if name is not None:
            columns[field] = name
    return columns


def _engine(reader: Reader, node: Node, spec: FeedSpec, context: FeedContext) -> Engine | None:
    """An engine for the URL in the variable named at ``node`` (nothing connects yet)."""
    value = env_value(reader, node, context, "the database URL")
    if value is None:
        return None
    variable = str(node.value)
    try:
        url = make_url(value)
    except ArgumentError:  # its message quotes the URL, password and all
        reader.error(node, f"the value of {variable} is not a database URL (such as "
                           f"postgresql+psycopg://user@host/db or sqlite:///path/to/file.db)")
        return None
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        reader.error(node, f"the URL in {variable} names the unknown database kind "
                           f"{url.drivername!r}")
        return None
    if getattr(dialect, "is_async", False):
        reader.error(node, f"the URL in {variable} names an asyncio driver ({url.drivername}); "
                           f"use a synchronous one, such as postgresql+psycopg")
        return None
    url, connect_args = _read_only(url, spec.timeout, context)
    try:
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except ImportError as exc:
        reader.error(node, f"the URL in {variable} needs the {url.drivername} driver, which is "
                           f"not installed ({exc.name or exc})")
        return None
    except (SQLAlchemyError, TypeError, ValueError) as exc:
        reader.error(node, f"the URL in {variable} cannot be used: "
                           f"{_scrub(' '.join(str(exc).split()), url.password)}")
        return None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connected)
    return engine


def _read_only(url: URL, timeout: float, context: FeedContext) -> tuple[URL, dict[str, Any]]:
    """The URL and connect arguments that open the database read-only (SQLite), with the
    timeout for connecting or waiting on a lock."""
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        connect_args = {"timeout": timeout, "check_same_thread": False}
        path = _sqlite_path(url, context)
        if path is not None and "uri" not in url.query:
            url = url.set(database="file:" + quote(str(path)),
                          query={**url.query, "mode": "ro", "uri": "true"})
    elif url.get_backend_name() == "postgresql":
        arg = _CONNECT_TIMEOUT.get(url.get_driver_name())
        if arg is not None:
            connect_args[arg] = max(2, math.ceil(timeout))  # libpq's least is 2 s
    return url, connect_args


def _sqlite_path(url: URL, context: FeedContext) -> Path | None:
    """The file of a SQLite URL, relative to the folder of feeds.yaml; None in memory."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    path = Path(database).expanduser()
    return path if path.is_absolute() else context.base_dir / path


def _sqlite_file(url: URL) -> Path | None:
    """The file a read-only SQLite URL opens (see _read_only)."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or url.query.get("mode") != "ro" \
            or not database.startswith("file:"):
        return None
    return Path(unquote(database.removeprefix("file:")))


def _shown_url(url: URL) -> str:
    """The URL as messages show it: the user's form, the password hidden."""
    if url.get_backend_name() == "sqlite":
        path = _sqlite_file(url)
        if path is not None:  # as written, not escaped for a URL
            return f"{url.drivername}:///{path}"
    return url.render_as_string(hide_password=True)


def _scrub(text: str, password: str | None) -> str:
    """``text`` with the password, as written or URL-encoded, replaced by ***."""
    for secret in {password, quote(password or "", safe="")} - {None, ""}:
        assert secret is not None
        text = text.replace(secret, "***")
    return text


def _sqlite_connected(dbapi_connection: Any, _record: Any) -> None:
    """Every new SQLite connection: no writes, and text that is not UTF-8 read, not fatal."""
    dbapi_connection.text_factory = lambda data: data.decode("utf-8", "replace")
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA query_only = ON")
    finally:
        cursor.close()
