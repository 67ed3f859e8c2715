"""The feed registry: feeds by name, built on the run's clock, and no two feeds sharing a name."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from feeds.base import Feed
from feeds.registry import FEED_FACTORIES, build_feeds
from feeds.scenario import load_scenario
from feeds.simulator import SimulatedFeed
from surge.catalogue import Catalogue, load_catalogue
from surge.clock import Clock, scenario_origin
from surge.errors import ConfigError, FetchFailed
from surge.settings import Settings

RULES = Path(__file__).resolve().parents[2] / "surge_rules.yaml"
# Wednesday 8 January 2025, 10:12:34 UTC: the real time every clock here reads.
REAL_NOW = dt.datetime(2025, 1, 8, 10, 12, 34, tzinfo=dt.UTC).timestamp()


def real() -> float:
    return REAL_NOW


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(RULES)


def simulated(feeds: list[Feed]) -> dict[str, SimulatedFeed]:
    assert all(isinstance(f, SimulatedFeed) for f in feeds)
    return {f.name: f for f in feeds if isinstance(f, SimulatedFeed)}


def exercise(scenario: str, speed: float, catalogue: Catalogue) -> Clock:
    """The clock `surge run --scenario NAME --speed N` runs on."""
    start_time = load_scenario(scenario, catalogue).start_time
    origin = scenario_origin(start_time, REAL_NOW, catalogue.timezone)
    return Clock.exercise(speed, origin, scenario, real=real)


def test_the_simulator_gives_one_feed_per_function(catalogue: Catalogue) -> None:
    feeds = build_feeds(Settings(), catalogue, Clock(real=real))
    assert [f.name for f in feeds] == [f"sim-{f.id}" for f in catalogue.functions]
    assert all(isinstance(f, Feed) for f in feeds)


def test_without_an_exercise_the_scenario_starts_when_the_feeds_are_built(
        catalogue: Catalogue) -> None:
    settings = Settings(scenario="handover-crisis")
    for feed in simulated(build_feeds(settings, catalogue, Clock("simulated", real=real))).values():
        assert feed.start == REAL_NOW


def test_an_exercise_scenario_starts_at_the_clocks_origin(catalogue: Catalogue) -> None:
    clock = exercise("winter-evening-surge", 60, catalogue)
    settings = Settings(scenario="winter-evening-surge", speed=60)
    feeds = simulated(build_feeds(settings, catalogue, clock))
    assert {f.start for f in feeds.values()} == {clock.origin}
    local = dt.datetime.fromtimestamp(feeds["sim-ae"].start, catalogue.timezone)
    assert (local.date(), local.hour, local.minute) == (dt.date(2025, 1, 7), 17, 0)
    # Samples are stamped in Surge time: what the exercise clock reads, not the wall clock.
    samples = feeds["sim-call_handling"].fetch(None, clock())
    assert max(s.ts for s in samples) == clock.origin


def test_an_outage_lasts_three_polls_at_the_exercise_speed(catalogue: Catalogue) -> None:
    # At x600 the worker polls sim-clinical_triage every 600 Surge seconds (once a real
    # second), so the ten-minute outage from 2m is stretched to three polls: 2m to 32m.
    clock = exercise("feed-outage", 600, catalogue)
    assert clock.origin is not None
    feed = simulated(build_feeds(Settings(scenario="feed-outage", speed=600), catalogue,
                                 clock))["sim-clinical_triage"]
    for minutes in (2, 12, 31):
        with pytest.raises(FetchFailed):
            feed.fetch(None, clock.origin + minutes * 60)
    assert feed.fetch(None, clock.origin + 32 * 60)


def test_an_unknown_feed_is_named_with_a_suggestion(catalogue: Catalogue) -> None:
    with pytest.raises(ConfigError) as caught:
        build_feeds(Settings(feeds=("simulater",)), catalogue, Clock(real=real))
    assert str(caught.value) == ("SURGE_FEEDS: unknown feed 'simulater' (did you mean "
                                 "'simulator'?) (known: simulator)")


def test_a_feed_listed_twice_is_refused(catalogue: Catalogue) -> None:
    with pytest.raises(ConfigError) as caught:
        build_feeds(Settings(feeds=("simulator", "simulator")), catalogue, Clock(real=real))
    assert str(caught.value) == ("SURGE_FEEDS: 'simulator' is listed 2 times: list each "
                                 "feed once")


def test_two_feeds_with_one_name_are_refused_naming_the_clash(catalogue: Catalogue) -> None:
    factories = {"simulator": FEED_FACTORIES["simulator"],
                 "training-sim": FEED_FACTORIES["simulator"]}
    with pytest.raises(ConfigError) as caught:
        build_feeds(Settings(feeds=("simulator", "training-sim")), catalogue, Clock(real=real),
                    factories)
    problems = str(caught.value).splitlines()
    assert problems == [f"SURGE_FEEDS: feed name 'sim-{f.id}' is used by 2 feeds (from "
                        f"simulator and training-sim): each feed needs a name of its own"
                        for f in catalogue.functions]
    # Each alone is fine.
    assert build_feeds(Settings(feeds=("training-sim",)), catalogue, Clock(real=real), factories)
