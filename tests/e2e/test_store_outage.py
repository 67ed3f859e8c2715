"""A store outage loses no sample, with real processes: `surge worker` polls an HTTP source
that only ever serves "now" (it cannot be asked again for what it served), the Valkey server
is frozen (SIGSTOP) for 30 s and then thawed, and `surge samples` must list every value the
source served, once each, in order: what was polled during the outage waited in the feed's
spool on disk and was written back first when the store returned."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import server_pid
from tests.e2e.conftest import REPO, SURGE, _env

pytestmark = pytest.mark.slow


class NowOnly:
    """An HTTP source of one figure that changes at every request and keeps no history."""

    def __init__(self) -> None:
        self.served: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner.lock:
                    at = datetime.now(UTC).replace(microsecond=0)
                    if owner.served and owner.served[-1][0] == at.isoformat():
                        body = owner.body(*owner.served[-1])  # the same second: the same
                    else:
                        owner.served.append((at.isoformat(), len(owner.served) % 90))
                        body = owner.body(*owner.served[-1])
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"

    def feeds_file(self, folder: Path, interval: str) -> Path:
        """A feeds file of one http_json feed (cad-now) polling this source."""
        path = folder / "feeds.yaml"
        path.write_text(f"""\
feeds:
  - name: cad-now
    type: http_json
    function: call_handling
    url: "{self.url}"
    interval: {interval}
    timeout: 1s
    samples: {{each: "metrics[]", metric: "name", ts: "at", value: "value"}}
""")
        return path

    def check_stored_once(self, env: dict[str, str], log: Path) -> None:
        """`surge samples` lists every value this source served, once each, in order."""
        with self.lock:
            served = list(self.served)
        listed = subprocess.run([SURGE, "samples", "calls.waiting", "--from", "10m", "--json"],
                                cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        stored = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
        stored_at = [(datetime.fromisoformat(s["ts"].replace("Z", "+00:00")), s["value"])
                     for s in stored]
        want = [(datetime.fromisoformat(at), float(v)) for at, v in served]
        assert stored_at == want, (f"served {len(want)}, stored {len(stored_at)}:\n"
                                   + log.read_text()[-3000:])

    @staticmethod
    def body(at: str, value: int) -> bytes:
        return json.dumps({"metrics": [{"name": "calls.waiting", "at": at,
                                        "value": value}]}).encode()


def test_thirty_seconds_of_a_frozen_store_lose_no_sample(tmp_path: Path,
                                                        own_valkey: Any) -> None:
    source = NowOnly()
    feeds = source.feeds_file(tmp_path, interval="2s")
    env = _env(SURGE_REDIS_URL=own_valkey.connection_url, SURGE_DATA_DIR=str(tmp_path / "var"),
               SURGE_FEEDS_FILE=str(feeds))
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen([SURGE, "worker"], cwd=REPO, env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        time.sleep(10)  # polling
        frozen = len(source.served)
        assert frozen >= 2, log.read_text()[-2000:]
        os.kill(server_pid(own_valkey), signal.SIGSTOP)
        time.sleep(30)
        os.kill(server_pid(own_valkey), signal.SIGCONT)
        assert len(source.served) >= frozen + 6  # polled on during the outage, not blocked
        spool = tmp_path / "var" / "spool" / "cad-now.jsonl"
        deadline = time.monotonic() + 60
        while spool.exists() or "spooled sample(s) written" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        time.sleep(5)  # a poll or two after the store is back
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(60)
    source.check_stored_once(env, log)
