"""Bad settings stop the real `surge` command with one line naming the setting and exit 2:
never a traceback, and nothing made (no store, no admin login) before the check."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from tests.e2e.conftest import free_port
from tests.faults.conftest import surge

pytestmark = pytest.mark.slow


def refused(done: subprocess.CompletedProcess[str], setting: str, why: str) -> None:
    """Exit 2, one line of output: the setting and what is wrong with it."""
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert done.returncode == 2, done.stdout
    assert "Traceback" not in done.stdout, done.stdout
    assert len(lines) == 1 and lines[0].startswith(f"error: {setting}: "), done.stdout
    assert why in lines[0], done.stdout
    assert "password:" not in done.stdout  # no admin login made before the check


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return surge("run", "--port", str(free_port()), *args, timeout=60, **env)


@pytest.fixture
def unwritable(tmp_path: Path) -> Iterator[Path]:
    """A directory this process really cannot write in, even as root (immutable)."""
    path = tmp_path / "locked"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode:
        pytest.skip("needs chattr +i (or a non-root user) to make a directory unwritable")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_data_dir_that_is_a_file(tmp_path) -> None:
    a_file = tmp_path / "var"
    a_file.write_text("")
    refused(run(SURGE_DATA_DIR=str(a_file)), "SURGE_DATA_DIR", "is a file, not a directory")
    by_option = run("--data-dir", str(a_file))  # click checks the option itself
    assert by_option.returncode == 2 and "Traceback" not in by_option.stdout
    assert "'--data-dir'" in by_option.stdout and "is a file" in by_option.stdout
    refused(run("--data-dir", str(a_file / "var")), "--data-dir", f"{a_file} is a file")
    assert a_file.read_text() == ""


def test_a_data_dir_under_a_file(tmp_path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    refused(run(SURGE_DATA_DIR=str(a_file / "var")), "SURGE_DATA_DIR",
            f"{a_file} is a file")


def test_a_data_dir_that_cannot_be_written(unwritable) -> None:
    refused(run(SURGE_DATA_DIR=str(unwritable)), "SURGE_DATA_DIR", "cannot write")
    refused(run(SURGE_DATA_DIR=str(unwritable / "var")), "SURGE_DATA_DIR", "cannot")
    assert list(unwritable.iterdir()) == []


def test_a_bad_data_dir_with_a_store_of_its_own_creates_no_admin(tmp_path, redis_client,
                                                                  redis_url) -> None:
    a_file = tmp_path / "var"
    a_file.write_text("")
    done = run(SURGE_DATA_DIR=str(a_file), SURGE_REDIS_URL=redis_url)
    refused(done, "SURGE_DATA_DIR", "is a file")
    assert redis_client.dbsize() == 0  # no user, no clock, nothing


@pytest.mark.parametrize("db", ["abc", "0x1", "-1", "1/2"])
def test_a_database_that_is_not_a_number(db, redis_client, redis_url) -> None:
    where = urlsplit(redis_url)
    url = f"redis://{where.hostname}:{where.port}/{db}"
    refused(run(SURGE_REDIS_URL=url), "SURGE_REDIS_URL", "database")
    refused(run("--redis-url", url), "--redis-url", "database")
    refused(surge("status", SURGE_REDIS_URL=url), "SURGE_REDIS_URL", "database")
    assert redis_client.dbsize() == 0  # not silently database 0
    for n in range(16):
        assert redis.Redis.from_url(f"redis://{where.hostname}:{where.port}/{n}").dbsize() == 0


def test_a_bad_url_never_shows_its_password() -> None:
    done = run(SURGE_REDIS_URL="redis://surge:s3cret-pass@127.0.0.1:notaport/0")
    refused(done, "SURGE_REDIS_URL", "port")
    assert "s3cret-pass" not in done.stdout
