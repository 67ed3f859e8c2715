"""Settings from the environment: defaults, overrides and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from surge.errors import ConfigError
from surge.settings import Settings, prepare_data_dir


def test_defaults_are_the_demo() -> None:
    s = Settings.from_env({})
    assert s.embedded and s.port == 8050 and s.host == "127.0.0.1"
    assert s.data_dir == Path("var") and s.retention == 35 * 86400 and s.feeds == ("simulator",)


def test_environment_then_options() -> None:
    env = {"SURGE_REDIS_URL": "rediss://u:p@h:6380/2", "SURGE_PORT": "9000",
           "SURGE_RETENTION": "7d", "SURGE_SPEED": "60", "SURGE_FEEDS": "simulator, other"}
    s = Settings.from_env(env, port=9100, host=None)
    assert s.redis_url == "rediss://u:p@h:6380/2" and not s.embedded
    assert (s.port, s.host, s.retention, s.speed) == (9100, "127.0.0.1", 7 * 86400, 60.0)
    assert s.feeds == ("simulator", "other")


def test_every_bad_variable_is_named_at_once() -> None:
    env = {"SURGE_PORT": "70000", "SURGE_RETENTION": "forever", "SURGE_SPEED": "-1",
           "SURGE_REDIS_URL": "localhost:6379", "SURGE_SEED": "x"}
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env)
    text = str(err.value)
    for var in env:
        assert var in text
    assert "SURGE_PORT: expected a port number from 1 to 65535 (got '70000')" in text
    assert "SURGE_REDIS_URL: expected a URL starting redis://" in text


@pytest.mark.parametrize("url", ["redis://h/abc", "redis://h:6379/0x1", "redis://h/1/2",
                                 "redis://h/-1", "redis://h:6379/0?db=x", "unix:///s.sock?db=a"])
def test_a_database_that_is_not_a_number_is_refused(url) -> None:
    with pytest.raises(ConfigError, match=r"SURGE_REDIS_URL: the database must be a whole"):
        Settings.from_env({"SURGE_REDIS_URL": url})


@pytest.mark.parametrize(("url", "why"), [("redis://h:port/0", "port number"),
                                          ("redis://:6379/0", "expected a host"),
                                          ("redis://h:0/0", "port number"),
                                          ("unix://", "socket's path")])
def test_a_url_with_a_bad_part_is_refused(url, why) -> None:
    with pytest.raises(ConfigError, match=why):
        Settings.from_env({"SURGE_REDIS_URL": url})


@pytest.mark.parametrize("url", ["redis://h", "redis://h/", "redis://h:6379/15",
                                 "rediss://u:p@h:6380/2?ssl_cert_reqs=none",
                                 "unix:///run/redis.sock?db=3", "redis://[::1]:6379/0"])
def test_good_urls_are_kept_as_given(url) -> None:
    assert Settings.from_env({"SURGE_REDIS_URL": url}).redis_url == url


def test_a_bad_url_is_shown_without_its_password() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"SURGE_REDIS_URL": "redis://u:hunter2-secret@h:x/0"})
    assert "hunter2" not in str(err.value) and "***@h:x/0" in str(err.value)


def test_options_are_checked_and_named_as_given(tmp_path) -> None:
    a_file = tmp_path / "f"
    a_file.write_text("")
    with pytest.raises(ConfigError) as err:
        Settings.from_env({}, redis_url="redis://h/abc", data_dir=a_file)
    assert [p.source for p in err.value.problems] == ["--redis-url", "--data-dir"]


def test_a_data_dir_that_is_or_lies_under_a_file_is_refused(tmp_path) -> None:
    a_file = tmp_path / "f"
    a_file.write_text("")
    with pytest.raises(ConfigError, match=r"SURGE_DATA_DIR: .*/f is a file, not a directory"):
        Settings.from_env({"SURGE_DATA_DIR": str(a_file)})
    with pytest.raises(ConfigError, match=r"SURGE_DATA_DIR: .*/f is a file, so .* cannot be"):
        Settings.from_env({"SURGE_DATA_DIR": str(a_file / "var" / "deeper")})
    assert Settings.from_env({"SURGE_DATA_DIR": str(tmp_path / "new")}).data_dir == \
        tmp_path / "new"
    assert not (tmp_path / "new").exists()  # reading settings makes nothing


def test_prepare_data_dir_makes_it_private_and_checks_it_can_be_written(tmp_path) -> None:
    path = tmp_path / "var"
    prepare_data_dir(path)
    assert path.is_dir() and path.stat().st_mode & 0o777 == 0o700 and not list(path.iterdir())
    path.chmod(0o755)  # as an older version made it
    prepare_data_dir(path)
    assert path.stat().st_mode & 0o777 == 0o700
    (path / "x").write_text("")
    with pytest.raises(ConfigError, match=r"--data-dir: .*/x is a file"):
        prepare_data_dir(path / "x", "--data-dir")
