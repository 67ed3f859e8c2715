"""A run with a feeds file, as docs/feeds.md and examples/feeds/README.md say to start one:
`surge run --feeds-file examples/feeds/ambsys-replay.yaml` polls the file's replays (not the
simulated trust), says it is a simulated run, and stores the real AmbSYS figures of the
month playing under the shipped catalogue's metrics."""

from __future__ import annotations

import csv
import json
import subprocess
import time
from datetime import UTC, datetime

from tests.e2e.conftest import REPO, SURGE, _env, free_port, start_surge

EXAMPLE = REPO / "examples" / "feeds" / "ambsys-replay.yaml"
DATA = REPO / "examples" / "ambsys" / "england-replay.csv"


def december_2022(metric: str) -> float:
    """The file's figure for December 2022, as the replay's first month plays it."""
    first = datetime(2022, 12, 1, tzinfo=UTC).timestamp()
    with DATA.open(newline="") as rows:
        for row in csv.DictReader(rows):
            if row["metric"] == metric and _epoch(row["ts"]) == first:
                return float(row["value"])
    raise AssertionError(f"{metric} has no December 2022 row in {DATA}")


def test_a_run_with_the_ambsys_replay_plays_real_months_as_a_simulated_run(tmp_path) -> None:
    run = start_surge(tmp_path / "var", free_port(), "--feeds-file", str(EXAMPLE))
    try:
        def status() -> dict:
            done = subprocess.run([SURGE, "status", "--json", "--data-dir", str(run.data_dir)],
                                  cwd=REPO, env=_env(), capture_output=True, text=True,
                                  timeout=60)
            return json.loads(done.stdout)

        deadline = time.monotonic() + 60
        while True:
            report = status()
            feeds = {f["feed"]: f for f in report.get("feeds", [])}
            if {"ambsys-ae", "ambsys-calls"} <= set(feeds) and \
                    all(feeds[n]["samples_accepted"] for n in ("ambsys-ae", "ambsys-calls")):
                break
            assert time.monotonic() < deadline, f"the replays were not polled: {report}"
            time.sleep(1)
        assert set(feeds) == {"ambsys-ae", "ambsys-calls"}  # not the simulated trust
        assert all(f["healthy"] for f in feeds.values())
        assert report["clock"]["mode"] == "simulated"  # replayed data never pass for live
        latest = run.store().latest()
        assert latest[("ae.c2_mean", "trust")][1] == december_2022("ae.c2_mean")
        assert latest[("calls.answer_mean", "trust")][1] == december_2022("calls.answer_mean")
    finally:
        assert run.stop() == 0, "".join(run.output[-40:])


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
