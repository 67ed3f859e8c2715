"""Settings from the environment: defaults, overrides and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from surge.errors import ConfigError
from surge.settings import Settings


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
