"""csv_drop feeds: CSV files an export writes into a folder, each read once and filed away.

    - name: pts-export
      type: csv_drop
      function: pts
      folder: /srv/surge/drop/pts   # relative to the folder of feeds.yaml; it must exist
      interval: 1m
      columns: {ts: "Date/Time", metric: "Measure", scope: "Site", value: "Value"}
      # pattern: "*.csv"            # which files of the folder are read
      # metric: pts.on_time_pct     # one metric for every row, when there is no such column
      # scope: trust                # one scope for every row, when there is no such column
      # timezone: Europe/London     # the time zone of times written without an offset
      # delimiter: ","              # ";" or "\\t" for other exports
      # settle: 10s                 # how long a file is left alone before it is read

The folder. Each poll looks at the files of ``folder`` that match ``pattern``, in any case
(never dot-files, ``*.tmp``, ``*.part`` or Excel's ``~$`` lock files), and takes each complete
one by renaming it into ``processing/``, an atomic step, so a file is read whole and once. A
file is complete when nothing has written to it for ``settle`` seconds of real time, by its
modification time and by its change time (which moves on even under a copy that keeps the
source's modification time), and it looks as it did at the previous poll. A file read is
moved to ``done/``; one that cannot be read as a whole (not text, not CSV, a column missing,
over ``max_bytes``) to ``failed/``, with ``<file>.reason.txt`` beside it saying why, and is
handed to the poller as one rejection so the feed's counts show it. A name already used in
``done/`` or ``failed/`` gets a number (``pts.1.csv``). The subfolders are made at the first
poll. Files left in ``processing/`` (the worker stopped while reading them) are read again at
the next poll: rows that reached the store before are then counted as duplicates, not stored
twice. One worker polls a feed at a time (the lease); two feeds should not share a folder
and pattern.

Never twice. The SHA-256 of every file read is kept, for 90 days, in a SQLite file under
Surge's data folder (``<data dir>/feeds/<feed>/seen.sqlite3``), written before the files are
moved. A file with the content of one read before, whatever its name, goes to ``done/`` as
``<file>.duplicate`` unread. A file that failed is not noted: put right and dropped again,
it is read. A poll takes files oldest first and stops taking more once it has read
``max_bytes`` in all or run for ``timeout`` seconds: the rest wait for the next. ``since``
does not apply: every row of a file is delivered, whatever its time.

Rows. The first row names the columns, matched after trimming spaces and ignoring case.
Each later row gives one sample from its ``ts``, ``metric``, ``scope`` and ``value``
columns (``columns`` names others; ``metric`` and ``scope`` may be constants instead, and a
scope is ``trust`` or a site code). Empty rows are skipped. A row that cannot be made a
sample (a time that is not one, an empty cell, a value that is not a number, more or fewer
cells than the header) is handed to the poller as a ``Rejection`` with its file, line and
reason, and written, as received with its line and reason, to ``<file>.rejected.csv``
beside the file in ``done/``; the other rows are kept. Rows that read but fail the
catalogue's checks (an unknown site, a value out of range) are rejected by the poller, which
quarantines them; each sample carries its ``file`` and ``line`` for that.

Text. UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8"), UTF-16 with one
(Excel's "Unicode text"), or else Windows-1252 (Excel's plain "CSV", with its £); CRLF or LF
line ends. A value may be written with thousands separators (``1,234``, quoted) or a
trailing ``%``.

Times. UK ``dd/mm/yyyy HH:MM`` or ``dd/mm/yyyy HH:MM:SS``, ISO 8601 with or without an
offset, or seconds since the epoch. A time without an offset is in ``timezone``
(Europe/London by default). In the hour the clocks go back (01:00 to 02:00 on the last
Sunday of October in the UK) a local time happens twice; the first is taken (fold=0:
British Summer Time). A local time in the hour skipped when the clocks go forward (March)
does not exist, and its row is rejected.

``fetch`` raises ``FetchFailed`` only when the folder or the feed's state cannot be used at
all: the folder is gone or not writable, the state file cannot be read or written.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from fnmatch import fnmatchcase
from pathlib import Path
from types import TracebackType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from feeds.config import FeedContext, FeedSpec, resolve_path
from surge.catalogue import TRUST
from surge.configfile import Node, Reader, did_you_mean
from surge.errors import FetchFailed
from surge.samples import Rejection

__all__ = ["DEFAULT_PATTERN", "DEFAULT_SETTLE", "DEFAULT_TIMEZONE", "FIELDS", "OPTIONAL",
           "REQUIRED", "CsvDropFeed", "Delivered", "Layout", "ReadFile", "Unreadable", "build",
           "parse_time", "parse_value", "read_csv"]

log = logging.getLogger(__name__)

Delivered = dict[str, object] | Rejection  # what a poll hands the poller: a sample or why not

REQUIRED = ("folder",)
OPTIONAL = ("columns", "pattern", "metric", "scope", "timezone", "delimiter", "settle")

FIELDS = ("ts", "metric", "scope", "value")  # what a row gives; `columns` may rename each
DEFAULT_PATTERN = "*.csv"
DEFAULT_TIMEZONE = "Europe/London"
DEFAULT_SETTLE = 10.0  # seconds a file must be left alone before it is taken
REMEMBER = 90 * 24 * 3600.0  # seconds the hash of a file read is kept
SUBFOLDERS = ("processing", "done", "failed")
STATE_FILE = "seen.sqlite3"

_NEVER_READ = (".tmp", ".part")  # suffixes of files still being written
_UK_TIME = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?", re.ASCII)
_EPOCH = re.compile(r"[+-]?\d+(?:\.\d*)?", re.ASCII)
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", re.ASCII)
_LONGEST_EPOCH = 1e11  # seconds; a larger number is milliseconds, or not a time at all


class Unreadable(Exception):
    """A file that cannot be read as a whole; the message says why, in the reader's terms."""


# --- reading one file ------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """How the rows of a feed's files are read."""

    columns: Mapping[str, str]  # field -> the header it is read from (metric, scope: or not)
    metric: str | None = None  # the constant metric, when no column gives it
    scope: str | None = None  # the constant scope, when no column gives it
    zone: tzinfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))
    delimiter: str = ","


@dataclass(frozen=True)
class ReadFile:
    """One file read: its header, its samples, and the rows rejected (line, reason, cells)."""

    header: list[str]
    samples: list[dict[str, object]]
    rejected: list[tuple[int, str, list[str]]]


def read_csv(data: bytes, layout: Layout, name: str = "the file") -> ReadFile:
    """The samples and rejected rows of a file's bytes; Unreadable when it is not a CSV file
    with the columns ``layout`` reads."""
    text = _decode(data)
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter)
    header: list[str] | None = None
    positions: dict[str, int] = {}
    samples: list[dict[str, object]] = []
    rejected: list[tuple[int, str, list[str]]] = []
    line = 1  # where the next record starts
    try:
        for cells in rows:
            start, line = line, rows.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip() for cell in cells]
                positions = _positions(header, layout)
                continue
            try:
                samples.append({**_row_sample(cells, header, positions, layout),
                                "file": name, "line": start})
            except ValueError as exc:
                rejected.append((start, str(exc), cells))
    except csv.Error as exc:
        raise Unreadable(f"not CSV: line {rows.line_num}: {exc}") from None
    if header is None:
        raise Unreadable("the file is empty: no header row")
    return ReadFile(header, samples, rejected)


def _decode(data: bytes) -> str:
    """The text of a file: UTF-8 (a BOM or not), UTF-16 with a BOM, else Windows-1252."""
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise Unreadable("an Excel workbook (or another binary file), not CSV: save it as "
                         "\"CSV UTF-8\"")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = _decoded(data, "utf-16", "starts with a UTF-16 byte-order mark but is not "
                                        "UTF-16 text")
    elif data.startswith(codecs.BOM_UTF8):
        text = _decoded(data, "utf-8-sig", "starts with a UTF-8 byte-order mark but is not "
                                           "UTF-8 text")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = _decoded(data, "cp1252", "not text: neither UTF-8 nor Windows-1252")
    if "\x00" in text:
        raise Unreadable("not text: it contains NUL characters")
    return text


def _decoded(data: bytes, encoding: str, problem: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise Unreadable(f"{problem} (byte {exc.start + 1:,} cannot be read)") from None


def _positions(header: list[str], layout: Layout) -> dict[str, int]:
    """The position of each column read, by its name trimmed and in any case."""
    folded = [cell.casefold() for cell in header]
    found: dict[str, int] = {}
    problems: list[str] = []
    for field_name, column in layout.columns.items():
        hits = [i for i, cell in enumerate(folded) if cell == column.strip().casefold()]
        if len(hits) == 1:
            found[field_name] = hits[0]
            continue
        if hits:
            problems.append(f"{len(hits)} columns are named {column!r} (columns "
                            f"{', '.join(str(i + 1) for i in hits)}): which to read is unclear")
            continue
        hint = did_you_mean(column, header)
        if not hint and field_name in ("metric", "scope"):
            hint = f" (or give {field_name}: as a constant in feeds.yaml)"
        problems.append(f"no column {_cut(column)}{hint}")
    if problems:
        shown = ", ".join(_cut(cell) for cell in header[:20]) + (", ..." if len(header) > 20
                                                                 else "")
        message = f"{'; '.join(problems)}; its columns are: {shown}"
        if len(header) == 1 and layout.delimiter != ";" and ";" in header[0]:
            message += " (separated by ';'? set delimiter: \";\")"
        elif len(header) == 1 and layout.delimiter != "\t" and "\t" in header[0]:
            message += " (separated by tabs? set delimiter: \"\\t\")"
        raise Unreadable(message)
    return found


def _row_sample(cells: list[str], header: list[str], positions: Mapping[str, int],
                layout: Layout) -> dict[str, object]:
    """The sample of one row; ValueError saying what is wrong with it."""
    if len(cells) < len(header) or any(cell.strip() for cell in cells[len(header):]):
        raise ValueError(f"the row has {len(cells)} cells and the header {len(header)} (a "
                         f"value with the delimiter in it must be in quotes)")
    metric = layout.metric or _cell(cells, positions, "metric")
    scope = layout.scope or _cell(cells, positions, "scope")
    return {"metric": metric, "scope": scope,
            "ts": parse_time(_cell(cells, positions, "ts"), layout.zone),
            "value": parse_value(_cell(cells, positions, "value"), metric)}


def _cell(cells: list[str], positions: Mapping[str, int], field_name: str) -> str:
    value = cells[positions[field_name]].strip()
    if not value:
        raise ValueError(f"{field_name} is empty" + (" (write trust or a site code)"
                                                     if field_name == "scope" else ""))
    return value


def parse_time(text: str, zone: tzinfo) -> float:
    """Seconds since the epoch of a UK date and time, ISO 8601 text or a number of seconds;
    a time without an offset is in ``zone``. ValueError saying why not."""
    moment = _UK_TIME.fullmatch(text)
    if moment:
        day, month, year, hour, minute, second = (int(g or 0) for g in moment.groups())
        try:
            local = datetime(year, month, day, hour, minute, second)
        except ValueError:
            raise ValueError(f"ts {_cut(text)} is not a date and time (dd/mm/yyyy HH:MM)") from None
        return _local(local, zone, text)
    if _EPOCH.fullmatch(text):
        seconds = float(text)
        if not abs(seconds) < _LONGEST_EPOCH:
            raise ValueError(f"ts {_cut(text)} is too large for seconds since 1970 "
                             f"(milliseconds?)")
        return seconds
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"ts {_cut(text)} is not a time: expected dd/mm/yyyy HH:MM, ISO 8601 "
                         f"or seconds since 1970") from None
    if parsed.tzinfo is None:
        return _local(parsed, zone, text)
    try:
        return parsed.timestamp()
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"ts {_cut(text)} is not a time that can be stored") from None


def _local(naive: datetime, zone: tzinfo, text: str) -> float:
    """A wall-clock time in ``zone`` as epoch seconds: of a time that happens twice, the
    first (fold=0); a time that never happens (skipped by a clock change) is an error."""
    first = naive.replace(tzinfo=zone, fold=0)
    try:
        back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        seconds = first.timestamp()
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"ts {_cut(text)} is not a time that can be stored") from None
    if back != naive:
        raise ValueError(f"ts {_cut(text)} does not exist in {zone}: the clocks went forward "
                         f"past it")
    return seconds


def parse_value(text: str, metric: str) -> float:
    """A cell's number: ``1,234`` and a trailing ``%`` are read; ValueError otherwise."""
    number = text.removesuffix("%").rstrip()
    if _THOUSANDS.fullmatch(number):
        number = number.replace(",", "")
    try:
        return float(number)
    except ValueError:
        shown = metric if len(metric) <= 60 else metric[:57] + "..."
        raise ValueError(f"value of {shown} must be a number, got {_cut(text)}") from None


def _cut(text: str, longest: int = 60) -> str:
    """A cell as a message quotes it, cut to a readable length."""
    shown = repr(text)
    return shown if len(shown) <= longest else shown[:longest - 4] + "...'"


# --- the feed: taking, reading and filing files ------------------------------------------


@dataclass
class _Taken:
    """A file taken (or to be taken) this poll, and what became of it."""

    path: Path  # where it is: the drop folder until taken, then processing/
    name: str  # as it was dropped (or as found in processing/)
    digest: str | None = None
    read: ReadFile | None = None
    failed: str | None = None  # why it could not be read
    duplicate_of: str | None = None
    leftover: bool = False  # found in processing/: taken by an earlier run, perhaps not read


class CsvDropFeed:
    """The CSV files dropped into one folder, each read once.

    Holds the SQLite file of the hashes read: ``close()`` (or leaving a ``with`` block)
    closes it.
    """

    def __init__(self, name: str, function: str, interval: float, timeout: float,
                 folder: Path, state_dir: Path, layout: Layout, *,
                 pattern: str = DEFAULT_PATTERN, max_bytes: int = 10 * 1024 * 1024,
                 settle: float = DEFAULT_SETTLE, wall: Callable[[], float] = time.time) -> None:
        self.name = name
        self.function = function
        self.interval = interval
        self.timeout = timeout  # seconds a poll may go on taking files
        self.folder = folder
        self.state_path = state_dir / STATE_FILE
        self.layout = layout
        self.pattern = pattern
        self.max_bytes = max_bytes
        self.settle = settle
        self.wall = wall  # real time, not Surge time: file times are real
        self._looks: dict[str, tuple[int, int, int]] = {}  # name -> (size, mtime, ctime)
        self._db: sqlite3.Connection | None = None

    def fetch(self, since: float | None, now: float) -> list[Delivered]:
        """The rows of the files complete now; ``since`` and ``now`` do not apply."""
        processing, done, failed = self._subfolders()
        deadline = time.monotonic() + self.timeout
        taken: list[_Taken] = []
        read = 0
        seen: dict[str, str] = {}  # digest -> name in processing/, of this poll's files
        for size, item in self._candidates(processing):
            if taken and (time.monotonic() > deadline or read + size > self.max_bytes):
                break  # the rest wait for the next poll, where they are
            if item.leftover or self._move_in(item, processing):
                read += self._read(item, seen)
                taken.append(item)
        self._remember([t for t in taken if t.read is not None])
        out: list[Delivered] = []
        for item in taken:
            out.extend(self._file_away(item, done, failed))
        return out

    def close(self) -> None:
        """Close the state file (the next poll opens it again)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> CsvDropFeed:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- one poll ----------------------------------------------------------------------

    def _subfolders(self) -> list[Path]:
        if not self.folder.is_dir():
            raise FetchFailed(f"the drop folder {self.folder} does not exist (or is not a folder)")
        paths = [self.folder / sub for sub in SUBFOLDERS]
        try:
            for path in paths:
                path.mkdir(exist_ok=True)
        except OSError as exc:
            raise FetchFailed(f"the drop folder {self.folder}: cannot make {path.name}/ in it: "
                              f"{exc.strerror or exc}") from None
        return paths

    def _candidates(self, processing: Path) -> list[tuple[int, _Taken]]:
        """(size, file) of the files to read, oldest first: those left in processing/, then
        the complete files of the folder."""
        left = sorted((stat.st_mtime, path.name, stat.st_size, path)
                      for path, stat in _listed(processing))
        ready: list[tuple[float, str, int, Path]] = []
        looks: dict[str, tuple[int, int, int]] = {}
        for path, stat in _listed(self.folder):
            if not self._wanted(path.name):
                continue
            look = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
            looks[path.name] = look
            quiet = self.wall() - max(stat.st_mtime, stat.st_ctime) >= self.settle
            if quiet and self._looks.get(path.name, look) == look:
                ready.append((stat.st_mtime, path.name, stat.st_size, path))
        self._looks = looks
        return ([(size, _Taken(path, name, leftover=True)) for _, name, size, path in left]
                + [(size, _Taken(path, name)) for _, name, size, path in sorted(ready)])

    def _wanted(self, name: str) -> bool:
        folded = name.casefold()
        return (fnmatchcase(folded, self.pattern.casefold()) and not name.startswith((".", "~$"))
                and not folded.endswith(_NEVER_READ))

    def _move_in(self, item: _Taken, processing: Path) -> bool:
        """Take a file: rename it into processing/ (False when it has gone meanwhile)."""
        target = _vacant(processing, item.name)
        try:
            os.rename(item.path, target)
        except FileNotFoundError:  # deleted, or taken by another process
            return False
        except OSError as exc:
            raise FetchFailed(f"cannot move {item.path} into {processing}: "
                              f"{exc.strerror or exc}") from None
        self._looks.pop(item.name, None)
        item.path = target
        return True

    def _read(self, item: _Taken, seen: dict[str, str]) -> int:
        """Read one taken file into ``item``; the bytes it read."""
        try:
            size = item.path.stat().st_size
            if size > self.max_bytes:
                item.failed = (f"the file is {size:,} bytes, over the feed's limit of "
                               f"{self.max_bytes:,} (max_bytes): it was not read")
                return 0
            with open(item.path, "rb") as handle:
                data = handle.read(self.max_bytes + 1)
        except OSError as exc:
            item.failed = f"cannot be read: {exc.strerror or exc}"
            return 0
        if len(data) > self.max_bytes:  # it grew after it was taken
            item.failed = (f"the file is over the feed's limit of {self.max_bytes:,} bytes "
                           f"(max_bytes): it was not read")
            return 0
        item.digest = hashlib.sha256(data).hexdigest()
        earlier = seen.get(item.digest) or self._seen(item.digest)
        if earlier is not None and not (item.leftover and earlier == item.path.name):
            item.duplicate_of = earlier
            return len(data)
        seen[item.digest] = item.path.name
        try:
            item.read = read_csv(data, self.layout, item.name)
        except Unreadable as exc:
            item.failed = str(exc)
        return len(data)

    def _file_away(self, item: _Taken, done: Path, failed: Path) -> list[Delivered]:
        """Move a file read to done/ (its rejected rows beside it) or failed/ (with why);
        what it gives the poller."""
        out: list[Delivered] = []
        if item.failed is not None:
            base = _vacant(failed, item.name)
            _write_text(failed / f"{base.name}.reason.txt", item.failed + "\n")
            self._move(item, base)
            log.warning("feed %s: %s cannot be read (moved to %s): %s", self.name, item.name,
                        base, item.failed)
            return [Rejection(f"{item.name}: {item.failed} (moved to failed/{base.name})",
                              {"file": item.name})]
        base = _vacant(done, item.name)
        if item.duplicate_of is not None:
            self._move(item, base.with_name(base.name + ".duplicate"))
            log.info("feed %s: %s has the content of %s, read before: moved to done/ unread",
                     self.name, item.name, item.duplicate_of)
            return out
        assert item.read is not None
        read = item.read
        if read.rejected:
            _write_rejected(done / f"{base.name}.rejected.csv", read)
        out.extend(read.samples)
        out.extend(Rejection(f"{item.name} line {line}: {reason}", _as_received(read.header, cells))
                   for line, reason, cells in read.rejected)
        self._move(item, base)
        log.info("feed %s: read %s: %d row(s), %d rejected", self.name, item.name,
                 len(read.samples), len(read.rejected))
        return out

    def _move(self, item: _Taken, target: Path) -> None:
        """A failed move is logged, not raised: the rows are delivered, and the file, still in
        processing/, is read again next poll (the store ignores rows it has)."""
        try:
            os.rename(item.path, target)
        except OSError as exc:
            log.error("feed %s: cannot move %s to %s: %s", self.name, item.path, target,
                      exc.strerror or exc)

    # --- the hashes of the files read ----------------------------------------------------

    def _state(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self.state_path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.state_path, timeout=max(self.timeout, 1.0),
                                     check_same_thread=False)
            except (OSError, sqlite3.Error) as exc:
                raise FetchFailed(self._state_problem(exc)) from None
            try:
                with db:
                    db.execute("CREATE TABLE IF NOT EXISTS seen (sha256 TEXT PRIMARY KEY, "
                               "name TEXT NOT NULL, taken REAL NOT NULL)")
            except sqlite3.Error as exc:
                db.close()
                raise FetchFailed(self._state_problem(exc)) from None
            self._db = db
        return self._db

    def _seen(self, digest: str) -> str | None:
        """The name of the file read before with this content, if any."""
        try:
            row = self._state().execute("SELECT name FROM seen WHERE sha256 = ?",
                                        (digest,)).fetchone()
        except sqlite3.Error as exc:
            raise FetchFailed(self._state_problem(exc)) from None
        return str(row[0]) if row else None

    def _remember(self, read: Sequence[_Taken]) -> None:
        """Note the files read, in one transaction, before any is moved: a failure here leaves
        them all in processing/, to be read again."""
        if not read:
            return
        at = self.wall()
        try:
            with self._state() as db:
                db.executemany("INSERT OR REPLACE INTO seen VALUES (?, ?, ?)",
                               [(t.digest, t.path.name, at) for t in read])
                db.execute("DELETE FROM seen WHERE taken < ?", (at - REMEMBER,))
        except sqlite3.Error as exc:
            raise FetchFailed(self._state_problem(exc)) from None

    def _state_problem(self, exc: Exception) -> str:
        detail = getattr(exc, "strerror", None) or exc
        return (f"the record of files read, {self.state_path}, cannot be used: {detail} "
                f"(if it is damaged, move it away: files read before may then be read again)")


def _listed(folder: Path) -> list[tuple[Path, os.stat_result]]:
    """The plain files of a folder (no dot-files, links or folders), with their status."""
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        raise FetchFailed(f"the folder {folder} cannot be read: {exc.strerror or exc}") from None
    listed = []
    for entry in entries:
        try:
            if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                continue
            listed.append((Path(entry.path), entry.stat(follow_symlinks=False)))
        except OSError:  # gone since the folder was listed
            continue
    return listed


def _vacant(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name`` with a number (pts.1.csv) when that or a file kept beside
    it is there already."""
    stem, suffix = os.path.splitext(name)
    for n in range(100_000):
        candidate = name if n == 0 else f"{stem}.{n}{suffix}"
        if not any((folder / (candidate + extra)).exists()
                   for extra in ("", ".duplicate", ".rejected.csv", ".reason.txt")):
            return folder / candidate
    raise FetchFailed(f"{folder} holds 100,000 files named like {name}: clear it out")


def _as_received(header: list[str], cells: list[str]) -> dict[str, str]:
    """A row as a mapping of its header's names (``column N`` for a cell past the header)."""
    row: dict[str, str] = {}
    for i, cell in enumerate(cells):
        key = header[i] if i < len(header) and header[i] else f"column {i + 1}"
        while key in row:
            key += "'"
        row[key] = cell
    return row


def _write_rejected(path: Path, read: ReadFile) -> None:
    """The rejected rows, as received with their line and reason, for Excel (UTF-8, BOM)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["line", "reason", *read.header])
    writer.writerows([line, reason, *cells] for line, reason, cells in read.rejected)
    _write_text(path, out.getvalue(), encoding="utf-8-sig")


def _write_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Written whole or not at all (a file beside a moved file; a failure is logged)."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with open(temporary, "w", encoding=encoding, newline="") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        log.error("cannot write %s: %s", path, exc.strerror or exc)


# --- building it from feeds.yaml ---------------------------------------------------------


def build(spec: FeedSpec, reader: Reader, context: FeedContext) -> CsvDropFeed | None:
    """The feed of one ``type: csv_drop`` entry; None after reporting every problem in it."""
    before = len(reader.problems)
    options = spec.options
    folder = _folder(reader, options["folder"], context)
    metric = _metric(reader, options["metric"], context) if "metric" in options else None
    scope = _scope(reader, options["scope"], context) if "scope" in options else None
    if metric is not None and scope is not None:
        _scope_fits(reader, options["scope"], metric, scope, context)
    columns = _columns(reader, options, metric_given="metric" in options,
                       scope_given="scope" in options)
    zone = _zone(reader, options["timezone"]) if "timezone" in options else None
    pattern = _pattern(reader, options["pattern"]) if "pattern" in options else DEFAULT_PATTERN
    delimiter = _delimiter(reader, options["delimiter"]) if "delimiter" in options else ","
    settle = DEFAULT_SETTLE
    if "settle" in options:
        seconds = reader.duration(options["settle"])
        settle = float(seconds) if seconds is not None else settle
    if len(reader.problems) > before or folder is None or columns is None:
        return None
    layout = Layout(columns, metric, scope, zone or ZoneInfo(DEFAULT_TIMEZONE), delimiter or ",")
    return CsvDropFeed(spec.name, spec.function, spec.interval, spec.timeout, folder,
                       context.data_dir / "feeds" / _safe(spec.name), layout,
                       pattern=pattern or DEFAULT_PATTERN, max_bytes=spec.max_bytes,
                       settle=settle)


def _folder(reader: Reader, node: Node, context: FeedContext) -> Path | None:
    """The drop folder: it must exist (a wrong path would otherwise wait for files forever)."""
    path = resolve_path(reader, node, context)
    if path is None:
        return None
    if not path.exists():
        reader.error(node, f"the folder {path} does not exist: create it (the export writes "
                           f"into it) or correct the path")
        return None
    if not path.is_dir():
        reader.error(node, f"{path} is not a folder")
        return None
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        reader.error(node, f"Surge cannot read and write the folder {path} (it moves files "
                           f"into processing/, done/ and failed/ under it)")
        return None
    return path


def _metric(reader: Reader, node: Node, context: FeedContext) -> str | None:
    metric = reader.string(node, "a metric id")
    known = context.catalogue.metrics
    if metric is not None and metric not in known:
        reader.error(node, f"unknown metric {metric!r}{did_you_mean(metric, known)}")
        return None
    return metric


def _scope(reader: Reader, node: Node, context: FeedContext) -> str | None:
    scope = reader.string(node, "trust or a site code")
    known = [TRUST, *context.catalogue.sites]
    if scope is not None and scope not in known:
        reader.error(node, f"unknown scope {scope!r}{did_you_mean(scope, known)} (expected "
                           f"trust or a site code)")
        return None
    return scope


def _scope_fits(reader: Reader, node: Node, metric: str, scope: str,
                context: FeedContext) -> None:
    site = context.catalogue.sites.get(scope)
    if not context.catalogue.metrics[metric].reported_at(site):
        where = "the trust" if site is None else f"a {site.kind} ({scope})"
        reader.error(node, f"{metric} is not reported for {where}")


def _columns(reader: Reader, options: Mapping[str, Node], metric_given: bool,
             scope_given: bool) -> dict[str, str] | None:
    """Field -> the column it is read from; a field given as a constant has none."""
    named: dict[str, str] = {}
    if "columns" in options:
        node = options["columns"]
        children = reader.mapping(node, optional=FIELDS,
                                  what="a mapping of ts, metric, scope, value to column names")
        if children is None:
            return None
        for field_name, child in children.items():
            name = reader.string(child, "a column name")
            if name is None:
                continue
            if (field_name, True) in (("metric", metric_given), ("scope", scope_given)):
                reader.error(child, f"{field_name} is given as a constant too: give it as a "
                                    f"column or as a constant, not both")
                continue
            named[field_name] = name.strip()
        by_column: dict[str, list[str]] = {}
        for field_name, name in named.items():
            by_column.setdefault(name.casefold(), []).append(field_name)
        for fields in by_column.values():
            if len(fields) > 1:
                reader.error(node, f"{' and '.join(fields)} are read from the same column "
                                   f"{named[fields[0]]!r}")
    constants = {"metric": metric_given, "scope": scope_given}
    return {f: named.get(f, f) for f in FIELDS if not constants.get(f)}


def _zone(reader: Reader, node: Node) -> tzinfo | None:
    name = reader.string(node, "a time zone name such as Europe/London")
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        hint = did_you_mean(name, sorted(available_timezones()))
        reader.error(node, f"unknown time zone {name!r}"
                           f"{hint or ' (expected a name such as Europe/London)'}")
        return None


def _pattern(reader: Reader, node: Node) -> str | None:
    pattern = reader.string(node, "a file name pattern such as *.csv")
    if pattern is not None and ("/" in pattern or "\\" in pattern):
        reader.error(node, f"expected a file name pattern such as *.csv, got {pattern!r}: the "
                           f"folder is given by folder:")
        return None
    return pattern


def _delimiter(reader: Reader, node: Node) -> str | None:
    value = node.value
    if not isinstance(value, str) or len(value) != 1 or value in "\"\r\n":
        reader.error(node, f"expected one character, such as \",\" or \";\" (\"\\t\" for a "
                           f"tab), got {value!r}")
        return None
    return value


def _safe(name: str) -> str:
    """A feed name as a folder name (names are checked elsewhere; this only keeps it inside)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "_"
