"""replay feeds: a file of samples played back as if it were happening now, at a chosen speed.

    - name: ambsys-ae
      type: replay
      function: ae
      interval: 30s
      file: ../ambsys/england-replay.csv  # ts,metric,scope,value; relative to feeds.yaml
      speed: 1440                         # file seconds per second: a day of the file a minute
      # start: 2022-11-01                 # the file time to begin at (a date: 00:00 UTC)
      # loop: true                        # after the last row, start again
      # hold: true                        # repeat the values of the step playing at each poll
      # metrics: {ambsys.c2_mean: ae.c2_mean, ambsys.c2_p90: null}  # file id -> catalogue id

Time. A replay starts when its entry is built (when the worker reads feeds.yaml), at that
moment of Surge time, the run's one clock (``surge/clock.py``). The file's first row (the
first at or after ``start``) is stamped with that moment, and each later row with
``moment + (its time in the file - the first row's) / speed``. Each poll returns the rows
stamped in ``(since, now]``, at their stamped times and in time order, so a row is delivered
once. ``speed`` is file seconds per second of Surge time. In a live or simulated run Surge time
is the wall clock, so ``speed: 1440`` plays a day of the file each real minute. In an exercise
at xN the whole run goes N times faster, the replay with it: the file then plays ``speed * N``
times faster than real time, and the rules' ``for``/``clear_for`` windows and the catalogue's
``stale_after``, Surge time too, keep their proportion to the file, so levels come out the
same at any clock speed. A step of the file (a month, for AmbSYS) can move a level only if,
played, it lasts longer than the trigger's ``for``. A replay begins again from ``start`` each
time its feeds file is read: its data are a performance, not a record.

Loop. With ``loop: true`` the file starts again from ``start`` after its last step, shifted
on by its length plus one step, so stamped times keep rising: the last step lasts as long as
the gap between the file's last two times (a file of one time repeats every ``interval``). A
poll reaches back at most one pass of the file.

Hold. Monthly or daily figures arrive once a step, while the catalogue's ``stale_after`` is
minutes: without hold a monthly figure is shown STALE for most of its month, rightly, as
nothing newer has come. With ``hold: true`` each poll also repeats the values of the step
playing, stamped with the poll's time, until the file's next time (the next time of any row;
for the last step, the step's length as above). A figure thus stands for its own step and no
longer: a metric missing from a step is not carried over from the one before, and when a
replay without loop ends its data go stale, as they should. A feed that holds must poll at
least as often as the shortest ``stale_after`` of the metrics it plays.

Checks. The file is read and checked whole when feeds.yaml is read, and held in memory from
then on: it must exist, be no bigger than ``max_bytes``, be UTF-8 CSV whose header has the
columns ``ts,metric,scope,value`` (an empty scope is the trust), and each row must make a
sample the catalogue accepts: ``ts`` in seconds since 1970 or ISO 8601 with an offset
(``2022-12-01T00:00:00Z``); a metric of the catalogue once renamed (with "did you mean"); a
known site; a finite value in the metric's range; one row per metric, scope and time. A bad
row is a problem of the configuration, like a bad key: the first five are reported with their
line numbers (and how many more there are) and the feed is not built. So a replay never fails
a poll and never hands the poller a Rejection. A row the catalogue of a later rules reload
does not accept is rejected by the poller like any other.

Functions. A replay plays the rows of its own function's metrics. A file with several
functions' metrics (the AmbSYS replays hold 999 call handling's and A&E's) is played by one
entry per function; a file with no row for the entry's function is a problem. ``metrics``
renames a metric id of the file to one of the catalogue, or to null to leave its rows out.

AmbSYS months as a replay file, with the metric ids of the shipped catalogue
(``AMBSYS_METRICS``):

    python -m feeds.replay --ambsys ../shared/data/ambsys.csv --org Eng > england-replay.csv
"""

from __future__ import annotations

import argparse
import bisect
import csv
import io
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from feeds.ambsys import print_samples, read_ambsys
from feeds.config import DEFAULT_TIMEOUT, FeedContext, FeedSpec, resolve_path
from surge.catalogue import TRUST, Catalogue
from surge.configfile import Node, Reader, describe, did_you_mean
from surge.errors import Problem
from surge.samples import Sample, check_samples

__all__ = ["AMBSYS_METRICS", "COLUMNS", "MAX_ROW_PROBLEMS", "OPTIONAL", "REQUIRED", "ReplayFeed",
           "ambsys_replay_rows", "build", "main"]

REQUIRED = ("file",)
OPTIONAL = ("speed", "start", "loop", "hold", "metrics")
COLUMNS = ("ts", "metric", "scope", "value")  # as `surge rules backtest --input` reads
MAX_ROW_PROBLEMS = 5  # bad rows reported one by one; the rest are counted

# AmbSYS (feeds/ambsys.py) -> the shipped catalogue, same units: a month's mean stands in for
# the catalogue's rolling 24 h (response) and last hour (call answer). AmbSYS's 90th centile
# response times have no metric there and are left out.
AMBSYS_METRICS = {
    "ambsys.c1_mean": "ae.c1_mean",  # Category 1 mean response, min
    "ambsys.c2_mean": "ae.c2_mean",  # Category 2 mean response, min
    "ambsys.answer_mean": "calls.answer_mean",  # 999 call answer time mean, s
    "ambsys.answer_p90": "calls.answer_p90",  # 999 call answer time 90th centile, s
}


class ReplayFeed:
    """Samples from a file, played from Surge time ``origin`` at ``speed`` file seconds per
    second; holds nothing open, so there is nothing to close."""

    type = "replay"

    def __init__(self, name: str, function: str, interval: float, samples: Sequence[Sample],
                 origin: float, *, speed: float = 1.0, loop: bool = False, hold: bool = False,
                 timeout: float = DEFAULT_TIMEOUT, path: Path | None = None) -> None:
        if not samples:
            raise ValueError("a replay needs at least one sample")
        if not speed > 0:
            raise ValueError(f"speed must be above 0, got {speed!r}")
        self.name = name
        self.function = function
        self.interval = interval
        self.timeout = timeout  # seconds one poll may take (a poll only reads memory)
        self.path = path
        self.origin = origin  # Surge time at which the first row plays
        self.speed = speed
        self.loop = loop
        self.hold = hold
        self.samples = sorted(samples, key=lambda s: s.ts)
        first = self.samples[0].ts
        self.offsets = [s.ts - first for s in self.samples]  # file seconds after the first row
        times = sorted(set(self.offsets))
        last_step = times[-1] - times[-2] if len(times) > 1 else interval * speed
        self.length = times[-1] + last_step  # file seconds one pass takes

    def fetch(self, since: float | None, now: float) -> list[Sample]:
        """The rows stamped in (since, now], then (with hold) the step playing, at ``now``."""
        low = -math.inf if since is None else since
        if self.loop:
            low = max(low, now - self.length / self.speed)
        out: list[Sample] = []
        for n in self._passes(low, now):
            stamp = self._stamper(n)
            first = bisect.bisect_right(self.offsets, low, key=stamp)
            last = bisect.bisect_right(self.offsets, now, key=stamp)
            out += [s._replace(ts=stamp(offset))
                    for s, offset in zip(self.samples[first:last], self.offsets[first:last],
                                         strict=True)]
        if self.hold and now > low:
            out += self._held(now)
        return out

    def _stamper(self, n: int) -> Callable[[float], float]:
        """Surge time of a file offset in pass ``n`` (from 0)."""
        origin, speed, shift = self.origin, self.speed, n * self.length
        return lambda offset: origin + (offset + shift) / speed

    def _passes(self, low: float, now: float) -> range:
        """The passes of the file that may have rows stamped in (low, now]."""
        if not self.loop:
            return range(1)
        per_pass = self.length / self.speed
        first = 0 if low == -math.inf else math.floor((low - self.origin) / per_pass)
        last = math.floor((now - self.origin) / per_pass)
        return range(max(first - 1, 0), max(last + 2, 0))  # a pass either side: rounding

    def _held(self, now: float) -> list[Sample]:
        """The rows of the step playing at ``now`` stamped ``now``, unless they were stamped
        ``now`` already, or no step is playing (before the start, after the end)."""
        n = self._pass_at(now)
        stamp = self._stamper(n)
        last = bisect.bisect_right(self.offsets, now, key=stamp) - 1
        if last < 0:
            return []
        step = self.offsets[last]
        if stamp(step) >= now:
            return []
        if now >= stamp(self.length):  # past the last step's end (only without loop)
            return []
        first = bisect.bisect_left(self.offsets, step)
        return [s._replace(ts=now) for s in self.samples[first:last + 1]]

    def _pass_at(self, now: float) -> int:
        if not self.loop:
            return 0
        n = max(math.floor((now - self.origin) * self.speed / self.length), 0)
        while n > 0 and self._stamper(n)(0.0) > now:
            n -= 1
        while self._stamper(n + 1)(0.0) <= now:
            n += 1
        return n


# --- building one entry of feeds.yaml -------------------------------------------------------

def build(spec: FeedSpec, reader: Reader, context: FeedContext) -> ReplayFeed | None:
    """The feed of one ``type: replay`` entry; None after reporting every problem in it."""
    before = len(reader.problems)
    options = spec.options
    speed = _speed(reader, options["speed"]) if "speed" in options else 1.0
    loop = bool(reader.boolean(options["loop"])) if "loop" in options else False
    hold = bool(reader.boolean(options["hold"])) if "hold" in options else False
    start = _start(reader, options["start"]) if "start" in options else None
    catalogue = context.catalogue
    renames = _renames(reader, options["metrics"], catalogue) if "metrics" in options else {}
    path = resolve_path(reader, options["file"], context)
    rows = _checked_rows(reader, options["file"], path, spec.max_bytes, catalogue, renames,
                         options.get("metrics")) if path is not None else None
    if rows is None or len(reader.problems) > before:
        return None
    samples = [s for s in rows if catalogue.metrics[s.metric].function == spec.function]
    if not samples:
        functions = sorted({catalogue.metrics[s.metric].function for s in rows})
        reader.error(options["file"], f"{options['file'].value} has no rows for function "
                                      f"{spec.function} (its metrics are for "
                                      f"{', '.join(functions)}): a replay plays its own "
                                      f"function's metrics")
        return None
    if start is not None:
        played = [s for s in samples if s.ts >= start]
        if not played:
            reader.error(options["start"], f"the file's last row for {spec.function} is at "
                                           f"{_iso(max(s.ts for s in samples))}: nothing "
                                           f"to play from {_iso(start)}")
            return None
        samples = played
    if hold:
        soonest = min({catalogue.metrics[s.metric] for s in samples},
                      key=lambda m: (m.stale_after, m.id))
        if spec.interval > soonest.stale_after:
            reader.error(options["hold"], f"interval {spec.interval:g} s is longer than "
                                          f"{soonest.id}'s stale_after ({soonest.stale_after} s):"
                                          f" held figures would show STALE between polls")
            return None
    return ReplayFeed(spec.name, spec.function, spec.interval, samples, context.clock(),
                      speed=speed, loop=loop, hold=hold, timeout=spec.timeout, path=path)


def _speed(reader: Reader, node: Node) -> float:
    speed = reader.number(node, "a speed (file seconds per second), such as 1440")
    if speed is not None and speed <= 0:
        reader.error(node, f"expected a speed above 0, got {speed:g}")
    return speed if speed is not None and speed > 0 else 1.0


def _start(reader: Reader, node: Node) -> float | None:
    """A date (00:00 UTC) or a time with an offset, from YAML or from text."""
    value = node.value
    if isinstance(value, str):
        try:
            value = (date.fromisoformat(value.strip()) if len(value.strip()) == 10
                     else datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            reader.error(node, f"expected a date such as 2022-11-01, or a time with an offset "
                               f"such as 2022-11-01T00:00:00Z, got {value!r}")
            return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            reader.error(node, f"the time {value.isoformat()} has no UTC offset: add one (Z for "
                               f"UTC), or give a date")
            return None
        return value.timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    reader.error(node, f"expected a date such as 2022-11-01, got {describe(value)}")
    return None


def _renames(reader: Reader, node: Node, catalogue: Catalogue) -> dict[str, str | None]:
    """File metric id -> catalogue metric id, or None to leave it out; a target the catalogue
    does not have is reported here and left out of the result (so its rows are not reported
    again)."""
    known = sorted(catalogue.metrics)
    renames: dict[str, str | None] = {}
    for key, child in reader.items(node, "a mapping of the file's metric ids to catalogue ids"):
        if child.value is None:
            renames[str(key)] = None
        elif not isinstance(child.value, str):
            reader.error(child, f"expected a catalogue metric id (or null to leave it out), got "
                                f"{describe(child.value)}")
        elif child.value not in catalogue.metrics:
            reader.error(child, f"unknown metric {child.value!r}{did_you_mean(child.value, known)}")
        else:
            renames[str(key)] = child.value
    return renames


def _checked_rows(reader: Reader, node: Node, path: Path, max_bytes: int, catalogue: Catalogue,
                  renames: Mapping[str, str | None],
                  metrics_node: Node | None) -> list[Sample] | None:
    """The file's rows as samples, renamed; every problem reported at the ``file`` key (a
    rename's at the rename)."""
    shown = str(node.value)
    text = _text(reader, node, path, max_bytes)
    if text is None:
        return None
    parsed, problems = _parse(text)
    if problems and problems[0][0] == 1:  # the header: nothing else can be read
        reader.error(node, f"{shown}: {problems[0][1]}")
        return None
    seen_ids = {raw.metric for _, raw in parsed}
    for key in renames:
        if key not in seen_ids and metrics_node is not None:
            reader.error(metrics_node, f"metric {key!r} is in no row of {shown}"
                                       f"{did_you_mean(key, sorted(seen_ids))}", at_key=key)
    # renamed to something unusable: reported at the rename, not again for each row
    broken = {str(k) for k in (metrics_node.value if metrics_node is not None and
                                hasattr(metrics_node.value, "keys") else ())} - set(renames)
    rows: list[Sample] = []
    unknown: dict[str, list[int]] = {}
    sites = sorted([TRUST, *catalogue.sites])
    first_line: dict[tuple[str, str, float], int] = {}
    for line, raw in parsed:
        metric = renames.get(raw.metric, raw.metric)
        if metric is None or raw.metric in broken:
            continue
        if metric not in catalogue.metrics:
            unknown.setdefault(metric, []).append(line)
            continue
        if raw.scope not in catalogue.sites and raw.scope != TRUST:
            problems.append((line, f"unknown site {raw.scope!r}{did_you_mean(raw.scope, sites)}"))
            continue
        sample = raw._replace(metric=metric)
        _, bad = check_samples([sample], catalogue, now=None, retention=math.inf)
        if bad:
            problems.append((line, bad[0].reason))
            continue
        series_at = (sample.metric, sample.scope, sample.ts)
        if series_at in first_line:
            problems.append((line, f"a second row for {sample.metric} at {sample.scope}, "
                                   f"{_iso(sample.ts)} (the first is on line "
                                   f"{first_line[series_at]})"))
            continue
        first_line[series_at] = line
        rows.append(sample)
    known = sorted(catalogue.metrics)
    for metric, lines in list(unknown.items())[:MAX_ROW_PROBLEMS]:
        more = f" and {len(lines) - 1} more" if len(lines) > 1 else ""
        reader.error(node, f"{shown}: metric {metric!r} (line {lines[0]}{more}) is not in the "
                           f"catalogue{did_you_mean(metric, known)}: rename it under metrics "
                           f"(null leaves it out)")
    if len(unknown) > MAX_ROW_PROBLEMS:
        reader.error(node, f"{shown}: and {len(unknown) - MAX_ROW_PROBLEMS} more metric(s) not "
                           f"in the catalogue")
    problems.sort()
    for line, message in problems[:MAX_ROW_PROBLEMS]:
        reader.error(node, f"{shown} line {line}: {message}")
    if len(problems) > MAX_ROW_PROBLEMS:
        reader.error(node, f"{shown}: and {len(problems) - MAX_ROW_PROBLEMS} more bad row(s)")
    if not parsed and not problems:
        reader.error(node, f"{shown} has no rows, only its header")
    return None if problems or unknown or not parsed else rows


def _text(reader: Reader, node: Node, path: Path, max_bytes: int) -> str | None:
    shown = str(node.value)
    try:
        size = path.stat().st_size
        if path.is_dir():
            reader.error(node, f"{shown} is a folder, not a file")
            return None
        if size > max_bytes:
            reader.error(node, f"{shown} is {size:,} bytes; this feed reads at most {max_bytes:,} "
                               f"(max_bytes)")
            return None
        data = path.read_bytes()
    except FileNotFoundError:
        reader.error(node, f"file not found: {path}")
        return None
    except OSError as exc:
        reader.error(node, f"{shown} cannot be read: {exc.strerror or exc}")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reader.error(node, f"{shown} is not UTF-8 text (byte {exc.start + 1})")
        return None


def _parse(text: str) -> tuple[list[tuple[int, Sample]], list[tuple[int, str]]]:
    """(line, sample as written) for each good row, (line, problem) for each bad one; a
    problem on line 1 is the header's."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    names = [cell.strip().lower() for cell in header or []]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        return [], [(1, f"missing column(s) {', '.join(missing)}; expected a header row "
                        f"{','.join(COLUMNS)}")]
    at = {c: names.index(c) for c in COLUMNS}
    rows: list[tuple[int, Sample]] = []
    problems: list[tuple[int, str]] = []
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(names):
            problems.append((line, f"expected {len(names)} fields, got {len(cells)}"))
            continue
        metric, scope = cells[at["metric"]].strip(), cells[at["scope"]].strip() or TRUST
        try:
            ts = _time(cells[at["ts"]])
            value = _value(cells[at["value"]])
        except ValueError as exc:
            problems.append((line, str(exc)))
            continue
        if not metric:
            problems.append((line, "no metric"))
            continue
        rows.append((line, Sample(metric, scope, ts, value)))
    return rows, problems


def _time(cell: str) -> float:
    text = cell.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise ValueError(f"ts {text!r} is not a time")
        return seconds
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"ts {text!r} is neither seconds since 1970 nor an ISO 8601 time") \
            from None
    if moment.tzinfo is None:
        raise ValueError(f"ts {text!r} has no UTC offset (write 2022-12-01T00:00:00Z, or "
                         f"+01:00)")
    return moment.timestamp()


def _value(cell: str) -> float:
    try:
        return float(cell.strip())
    except ValueError:
        raise ValueError(f"value {cell.strip()!r} is not a number") from None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- writing replay files -------------------------------------------------------------------

def ambsys_replay_rows(path: str | Path, org: str = "Eng") -> tuple[list[dict[str, Any]],
                                                                   list[Problem]]:
    """AmbSYS rows (``feeds.ambsys.read_ambsys``) with the shipped catalogue's metric ids
    (AMBSYS_METRICS); the indicators it has no metric for are left out."""
    rows, problems = read_ambsys(path, org)
    return [{**row, "metric": AMBSYS_METRICS[row["metric"]]} for row in rows
            if row["metric"] in AMBSYS_METRICS], problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="A replay file (ts,metric,scope,value) with the shipped catalogue's metric "
                    "ids, from NHS England's AmbSYS CSV")
    parser.add_argument("--ambsys", required=True, metavar="PATH",
                        help="the AmbSYS CSV, e.g. ../shared/data/ambsys.csv")
    parser.add_argument("--org", default="Eng",
                        help="organisation code: Eng for England (default), a region, or a "
                             "trust such as RYF")
    args = parser.parse_args(argv)
    return print_samples(ambsys_replay_rows, args.ambsys, args.org)


if __name__ == "__main__":
    sys.exit(main())
