"""The feeds the worker can poll, by name (SURGE_FEEDS); a name may be used by one feed only."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType

from feeds import csv_drop, http_json, push, replay, simulator, sql
from feeds.base import Feed
from feeds.config import FeedContext, load_feeds
from surge.catalogue import Catalogue
from surge.clock import Clock
from surge.configfile import did_you_mean
from surge.errors import ConfigError, Problem
from surge.settings import Settings

__all__ = ["ADAPTERS", "FEED_FACTORIES", "FeedFactory", "build_feeds", "feed_context"]

# (settings, catalogue, the run's clock) -> the feeds of one SURGE_FEEDS entry
FeedFactory = Callable[[Settings, Catalogue, Clock], list[Feed]]


def _simulator(settings: Settings, catalogue: Catalogue, clock: Clock) -> list[Feed]:
    from feeds.scenario import load_scenario
    from feeds.simulator import SimulatorConfig, simulated_feeds

    scenario = load_scenario(settings.scenario, catalogue) if settings.scenario else None
    # An exercise clock starts at the scenario's start time, so that is where the
    # scenario's events are timed from; otherwise the scenario starts now.
    start = clock.origin if clock.exercise_mode and clock.origin is not None else clock()
    # The worker polls a feed at most once a real second, which is `speed` Surge seconds.
    config = SimulatorConfig(seed=settings.seed, scenario=scenario, start=start,
                             poll_spacing=clock.speed)
    return list(simulated_feeds(catalogue, config))


# feeds.yaml: each feed's `type` -> the module that builds it (feeds/config.py says what such
# a module has). A new adapter is one module and one line here.
ADAPTERS: dict[str, ModuleType] = {
    "csv_drop": csv_drop,
    "http_json": http_json,
    "push": push,
    "replay": replay,
    "simulator": simulator,
    "sql": sql,
}


def feed_context(settings: Settings, catalogue: Catalogue, clock: Clock) -> FeedContext:
    """What building the feeds of the feeds file may use: paths in it are relative to it."""
    path = settings.feeds_path
    return FeedContext(catalogue=catalogue, clock=clock,
                       base_dir=(path.parent if path is not None else Path(".")).resolve(),
                       data_dir=settings.data_dir, env=os.environ)


FEED_FACTORIES: dict[str, FeedFactory] = {
    "simulator": _simulator,
}


def build_feeds(settings: Settings, catalogue: Catalogue, clock: Clock,
                factories: Mapping[str, FeedFactory] = FEED_FACTORIES) -> list[Feed]:
    """The feeds of the feeds file in force (settings.feeds_path), or else those named in
    settings.feeds, built for this clock.

    ConfigError naming every unknown entry, every entry listed twice, and every feed name
    that two feeds would share (the poller and scheduler key everything by feed name).
    """
    path = settings.feeds_path
    if path is not None:
        return load_feeds(path, feed_context(settings, catalogue, clock), ADAPTERS)
    problems = [Problem("SURGE_FEEDS", f"unknown feed {name!r}{did_you_mean(name, factories)}"
                        f" (known: {', '.join(factories)})")
                for name in settings.feeds if name not in factories]
    problems += [Problem("SURGE_FEEDS", f"{name!r} is listed {count} times: list each feed once")
                 for name, count in Counter(settings.feeds).items() if count > 1]
    if problems:
        raise ConfigError(problems)
    feeds: list[Feed] = []
    made_by: dict[str, list[str]] = {}
    for entry in settings.feeds:
        for feed in factories[entry](settings, catalogue, clock):
            feeds.append(feed)
            made_by.setdefault(feed.name, []).append(entry)
    clashes = [Problem("SURGE_FEEDS", f"feed name {name!r} is used by {len(entries)} feeds "
                                      f"(from {' and '.join(dict.fromkeys(entries))}): "
                                      f"each feed needs a name of its own")
               for name, entries in made_by.items() if len(entries) > 1]
    if clashes:
        raise ConfigError(clashes)
    return feeds
