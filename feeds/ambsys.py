"""NHS England's AmbSYS monthly ambulance indicators as samples, for backtests and demos.

Reads the published CSV (one row per month and organisation; ``.`` for a missing value;
times in seconds) and writes samples as ``ts,metric,scope,value`` for
``surge rules backtest --input``. Each month's figure is stamped at 00:00 UTC on the first
of the month, scope ``trust`` (the chosen organisation: England, a region or a trust).

    python -m feeds.ambsys ../shared/data/ambsys.csv --org Eng > england.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from surge.errors import Problem

__all__ = ["INDICATORS", "print_samples", "read_ambsys"]

# AmbSYS code -> (metric id in examples/ambsys/rules.yaml, factor from the published unit)
INDICATORS = {
    "A25": ("ambsys.c1_mean", 1 / 60),  # Category 1 mean response, s -> min
    "A26": ("ambsys.c1_p90", 1 / 60),
    "A31": ("ambsys.c2_mean", 1 / 60),  # Category 2 mean response, s -> min
    "A32": ("ambsys.c2_p90", 1 / 60),
    "A3": ("ambsys.answer_mean", 1.0),  # 999 call answer time mean, s
    "A114": ("ambsys.answer_p90", 1.0),
}


def read_ambsys(path: str | Path, org: str = "Eng") -> tuple[list[dict], list[Problem]]:
    """Rows ``{ts, metric, scope, value}`` for one organisation, and any unreadable cells
    (each with its line); readable months are kept whatever else is wrong."""
    source = str(path)
    rows: list[dict] = []
    problems: list[Problem] = []
    with open(path, newline="", encoding="ascii", errors="replace") as handle:
        reader = csv.DictReader(handle)
        needed = {"Year", "Month", "Org Code"}
        missing = needed - set(reader.fieldnames or [])
        if missing:
            return [], [Problem(source, f"not an AmbSYS file: no column(s) "
                                        f"{', '.join(sorted(missing))}", 1, 1)]
        for record in reader:
            if record["Org Code"] != org:
                continue
            line = reader.line_num
            try:
                month = datetime(int(record["Year"]), int(record["Month"]), 1, tzinfo=UTC)
            except (TypeError, ValueError):
                problems.append(Problem(source, f"bad Year/Month {record['Year']!r}/"
                                                f"{record['Month']!r}", line, 1))
                continue
            for code, (metric, factor) in INDICATORS.items():
                cell = (record.get(code) or ".").strip()
                if cell in (".", ""):
                    continue
                try:
                    value = float(cell.replace(",", "")) * factor
                except ValueError:
                    problems.append(Problem(source, f"{code} is {cell!r}, not a number", line, 1))
                    continue
                rows.append({"ts": month.isoformat().replace("+00:00", "Z"), "metric": metric,
                             "scope": "trust", "value": round(value, 3)})
    if not rows and not problems:
        problems.append(Problem(source, f"no rows for organisation {org!r} (e.g. Eng for "
                                        f"England, or a trust code such as RX9)"))
    return rows, problems


def _lines(rows: list[dict]) -> Iterator[str]:
    yield "ts,metric,scope,value"
    for row in rows:
        yield f"{row['ts']},{row['metric']},{row['scope']},{row['value']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="AmbSYS monthly CSV -> samples CSV")
    parser.add_argument("path", help="the AmbSYS CSV, e.g. ../shared/data/ambsys.csv")
    parser.add_argument("--org", default="Eng", help="organisation code (default Eng)")
    args = parser.parse_args(argv)
    return print_samples(read_ambsys, args.path, args.org)


def print_samples(read: Callable[[str, str], tuple[list[dict], list]], path: str,
                  org: str) -> int:
    """Write ``read(path, org)``'s samples to standard output as ts,metric,scope,value, its
    problems to standard error; the exit status (2: nothing could be read)."""
    try:
        rows, problems = read(path, org)
    except OSError as exc:
        print(f"error: {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    for line in _lines(rows):
        print(line)
    return 0 if rows else 2


if __name__ == "__main__":
    sys.exit(main())
