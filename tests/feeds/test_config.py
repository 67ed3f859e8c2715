"""feeds.yaml: the keys every feed has, checked like the rules file (every problem at once, at
its FILE:LINE:COL, with did-you-mean), and handed to the adapter of the feed's type; the
settings and commands that choose the file."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from feeds.config import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT, FeedContext, FeedSpec, load_feeds
from feeds.registry import build_feeds
from surge.catalogue import Catalogue
from surge.cli import main
from surge.clock import Clock
from surge.configfile import Reader
from surge.errors import ConfigError
from surge.runmode import mode_of
from surge.settings import Settings
from tests.conftest import RULES


class Built:
    """What the test adapter builds: the spec it was given."""

    def __init__(self, spec: FeedSpec, where: str) -> None:
        self.name = spec.name
        self.function = spec.function
        self.interval = spec.interval
        self.spec = spec
        self.where = where

    def fetch(self, since, now):
        return []


def adapter() -> types.ModuleType:
    """An adapter module with one required key of its own (``where``) and one optional."""
    module = types.ModuleType("test_adapter")
    module.REQUIRED = ("where",)  # type: ignore[attr-defined]
    module.OPTIONAL = ("colour",)  # type: ignore[attr-defined]

    def build(spec: FeedSpec, reader: Reader, context: FeedContext) -> Built | None:
        where = reader.string(spec.options["where"], "a place")
        return Built(spec, where) if where is not None else None

    module.build = build  # type: ignore[attr-defined]
    return module


ADAPTERS = {"probe": adapter(), "other": adapter()}


def load(tmp_path: Path, text: str, catalogue: Catalogue) -> list:
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    context = FeedContext(catalogue, Clock(), tmp_path, tmp_path / "var", {})
    return load_feeds(path, context, ADAPTERS)


def problems(tmp_path: Path, text: str, catalogue: Catalogue) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, catalogue)
    return [str(p) for p in caught.value.problems]


def test_each_feed_is_built_by_its_type_with_the_common_keys_read(tmp_path: Path,
                                                                  catalogue: Catalogue) -> None:
    feeds = load(tmp_path, """\
feeds:
  - {name: cad, type: probe, function: call_handling, interval: 30s, where: eoc}
  - name: hub
    type: other
    function: clinical_triage
    interval: 2m
    timeout: 20s
    max_bytes: 1000
    where: hub
    colour: blue
""", catalogue)
    assert [(f.name, f.function, f.interval, f.where) for f in feeds] == [
        ("cad", "call_handling", 30.0, "eoc"), ("hub", "clinical_triage", 120.0, "hub")]
    first, second = (f.spec for f in feeds)
    assert (first.timeout, first.max_bytes) == (DEFAULT_TIMEOUT, DEFAULT_MAX_BYTES)
    assert (second.timeout, second.max_bytes, second.type) == (20.0, 1000, "other")
    assert set(second.options) == {"where", "colour"}  # the type's own keys, and only those


def test_every_problem_is_reported_at_once_where_it_was_written(tmp_path: Path,
                                                               catalogue: Catalogue) -> None:
    found = problems(tmp_path, """\
feeds:
  - {name: cad, type: prob, function: call_handling, interval: 30s, where: eoc}
  - {name: hub, type: probe, function: clinical_triag, interval: 30s, where: hub}
  - {name: hub, type: probe, function: pts, interval: 0s, where: x, colur: red}
  - {name: late, type: probe, function: pts, interval: 10s, timeout: 1m, where: x}
  - {name: big, type: probe, function: pts, interval: 10s, max_bytes: -3, where: x}
  - {name: nowhere, type: probe, function: pts, interval: 10s}
  - just text
""", catalogue)
    text = "\n".join(found)
    path = str(tmp_path / "feeds.yaml")
    assert all(p.startswith(path + ":") for p in found), found  # FILE:LINE:COL, each
    assert ":2:" in text and "'prob'" in text and "did you mean 'probe'" in text
    assert ":3:" in text and "did you mean 'clinical_triage'" in text
    assert ":4:" in text and "'hub' is used already (line 3)" in text
    assert "above 0" in text and "did you mean 'colour'" in text
    assert "timeout 60 s is longer than the interval 10 s" in text
    assert "whole number of bytes" in text
    assert "missing required key 'where'" in text  # the type's own required key
    assert ":8:" in text and "expected a feed" in text
    assert len(found) == 9, found


@pytest.mark.parametrize(("text", "message"), [
    ("feeds: []\n", "no feeds"),
    ("feeds: {cad: 1}\n", "expected a list of feeds"),
    ("sources: []\n", "missing required key 'feeds'"),
    ("feeds: [\n", "YAML syntax"),
])
def test_a_file_of_the_wrong_shape_says_what_is_wrong(tmp_path: Path, catalogue: Catalogue,
                                                      text: str, message: str) -> None:
    assert any(message in p for p in problems(tmp_path, text, catalogue))


# --- which file, and what a run with it is -------------------------------------------------


def test_the_feeds_file_is_the_setting_or_else_feeds_yaml_where_it_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings().feeds_path is None  # no file: the built-in feeds (the simulator)
    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    assert Settings().feeds_path == Path("feeds.yaml")
    chosen = Settings.from_env({"SURGE_FEEDS_FILE": "elsewhere.yaml"})
    assert chosen.feeds_path == Path("elsewhere.yaml")


def test_a_run_of_replays_and_simulators_only_is_simulated_and_one_of_real_feeds_is_live(
        tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - {name: a, type: replay}\n  - {name: b, type: simulator}\n")
    assert mode_of(Settings(feeds_file=path)) == "simulated"
    path.write_text("feeds:\n  - {name: b, type: http_json}\n")
    assert mode_of(Settings(feeds_file=path)) == "live"


def test_invented_or_replayed_figures_never_run_beside_real_feeds(tmp_path: Path,
                                                                 catalogue: Catalogue) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n"
                    "  - {name: cad, type: push, function: call_handling, interval: 1m}\n"
                    "  - {name: sim, type: simulator, function: pts, interval: 1m}\n")
    with pytest.raises(ConfigError) as caught:
        build_feeds(Settings(feeds_file=path), catalogue, Clock())
    assert f"{path}:3:" in str(caught.value)
    assert "a simulator feed (sim) cannot run beside real feeds (such as cad, line 2)" in str(
        caught.value)


def test_the_simulator_is_a_feed_type_of_its_own(tmp_path: Path, catalogue: Catalogue) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n"
                    "  - {name: sim-999, type: simulator, function: call_handling, interval: 20s}\n"
                    "  - {name: other-trust, type: simulator, function: call_handling,"
                    " interval: 20s, seed: 7}\n")
    now = 1_750_000_000.0
    feeds = build_feeds(Settings(feeds_file=path), catalogue, Clock(real=lambda: now))
    assert [(f.name, f.interval) for f in feeds] == [("sim-999", 20.0), ("other-trust", 20.0)]
    first, other = (f.fetch(now - 60, now) for f in feeds)
    wanted = {m.id for m in catalogue.metrics_of("call_handling")}
    assert first and {s.metric for s in first} == wanted
    assert {s.ts for s in first} == {now - 40, now - 20, now}  # on the entry's 20 s grid
    assert [s.value for s in first] != [s.value for s in other]  # its own seed
    path.write_text("feeds:\n  - {name: s, type: simulator, function: pts, interval: 1m,"
                    " seed: 1.5, colour: red}\n")
    with pytest.raises(ConfigError) as caught:
        build_feeds(Settings(feeds_file=path), catalogue, Clock())
    assert "unknown key 'colour'" in str(caught.value)
    path.write_text("feeds:\n  - {name: s, type: simulator, function: pts, interval: 1m,"
                    " seed: 1.5}\n")
    with pytest.raises(ConfigError) as caught:
        build_feeds(Settings(feeds_file=path), catalogue, Clock())
    assert f"{path}:2:" in str(caught.value) and "expected a whole number, got 1.5" in str(
        caught.value)


def test_the_worker_builds_the_feeds_of_the_file_in_force(tmp_path: Path,
                                                         catalogue: Catalogue) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - {name: x, type: nothing-known, function: pts, interval: 1m}\n")
    with pytest.raises(ConfigError) as caught:
        build_feeds(Settings(feeds_file=path), catalogue, Clock())
    assert str(path) in str(caught.value) and "nothing-known" in str(caught.value)


def test_surge_feeds_check_lists_every_problem_and_fails(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - {name: x, type: nothing-known, function: ptz, interval: 1m}\n")
    result = CliRunner().invoke(main, ["feeds", "check", str(path), "--rules", str(RULES)])
    assert result.exit_code == 1
    assert f"{path}:2:" in result.output and "did you mean 'pts'" in result.output
    missing = CliRunner().invoke(main, ["feeds", "check", str(tmp_path / "none.yaml"),
                                        "--rules", str(RULES)])
    assert missing.exit_code == 1 and "file not found" in missing.output
