"""What kind of run this is (live, simulated or an exercise), its clock, and its store.

- **live**: real feeds, the wall clock.
- **simulated**: the simulator at real speed. Real time, invented numbers: every page says
  SIMULATED DATA.
- **exercise**: a scenario, or ``--speed N`` with N != 1. The clock starts at the scenario's
  start time and runs N times faster; the data are kept apart from real data (the embedded
  store of an exercise lives in ``<data dir>/exercise``; a store that holds real feeds' data is
  refused) and every page, event and notification is marked EXERCISE.

An exercise always starts afresh: the previous exercise's samples, levels and timeline are
cleared from its store (its users and wall-screen links are kept).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from surge.catalogue import Catalogue
from surge.clock import Clock, Mode, scenario_origin
from surge.errors import ConfigError, Problem, SurgeError
from surge.settings import Settings
from surge.store import Store

__all__ = ["EXERCISE_DIR", "plan_clock", "prepare_store", "store_dir"]

log = logging.getLogger(__name__)
EXERCISE_DIR = "exercise"
SIMULATED_FEEDS = ("simulator",)
# feed types of a feeds file whose data are not happening now (replayed or invented): a file
# of nothing else runs as simulated and its pages say so; feeds/config.py refuses a file that
# puts them beside real feeds, whose pages would then show invented figures as live
NOT_LIVE_TYPES = ("replay", "simulator")


def mode_of(settings: Settings) -> Mode:
    if settings.scenario is not None or settings.speed != 1:
        return "exercise"
    path = settings.feeds_path
    if path is not None:
        types = _feed_types(path)
        return "simulated" if types and types <= set(NOT_LIVE_TYPES) else "live"
    if any(name in SIMULATED_FEEDS for name in settings.feeds):
        return "simulated"
    return "live"


def _feed_types(path: Path) -> set[str]:
    """The types of the feeds in a feeds file, read leniently (loading it reports problems)."""
    from surge.configfile import load_yaml

    try:
        root = load_yaml(path).value
    except ConfigError:
        return set()
    entries = root.get("feeds") if hasattr(root, "get") else None
    return {str(e.get("type")) for e in entries or [] if hasattr(e, "get")} \
        if isinstance(entries, list) else set()


def plan_clock(settings: Settings, catalogue: Catalogue, real_now: float | None = None) -> Clock:
    """The run's clock; ConfigError (before anything starts) for a bad scenario or speed."""
    mode = mode_of(settings)
    if mode != "exercise":
        return Clock(mode=mode)
    if settings.feeds_path is not None or not any(name in SIMULATED_FEEDS
                                                  for name in settings.feeds):
        raise ConfigError([Problem("SURGE_SPEED", "an exercise (--scenario or --speed) needs the "
                                   "simulator among the feeds (SURGE_FEEDS=simulator, and no "
                                   "feeds file)")])
    start_time = None
    name = settings.scenario
    if name is not None:
        from feeds.scenario import load_scenario  # the scenario file states its start time

        scenario = load_scenario(name, catalogue)
        start_time = scenario.start_time
        name = scenario.name
    now = time.time() if real_now is None else real_now
    return Clock.exercise(settings.speed, scenario_origin(start_time, now, catalogue.timezone),
                         scenario=name)


def store_dir(settings: Settings, clock: Clock) -> Path:
    """Where the embedded store keeps its files for this kind of run."""
    return settings.data_dir / EXERCISE_DIR if clock.exercise_mode else settings.data_dir


def prepare_store(store: Store, clock: Clock, *, fresh_exercise: bool) -> None:
    """Refuse to mix real and simulated data; start an exercise afresh; publish the clock.

    ``fresh_exercise``: this process starts the exercise (``surge run``), so the previous
    exercise's data go. A ``surge worker`` joining a running exercise adopts its clock."""
    published = store.clock_record()
    was: str = published.get("mode", "live")
    if clock.exercise_mode and store.holds_live_data():
        raise SurgeError(f"{store.where} holds real feeds' data: an exercise needs a store of "
                         f"its own (the embedded store, or an empty database)")
    if not clock.exercise_mode and was == "exercise":
        raise SurgeError(f"{store.where} holds an exercise's simulated data; use another store "
                         f"for a {clock.mode} run, or run the exercise again with --scenario/"
                         f"--speed")
    if clock.exercise_mode and fresh_exercise:
        cleared = store.clear_run_data()
        if cleared:
            log.warning("exercise: cleared %d key(s) of the previous exercise from %s",
                        cleared, store.where)
    store.publish_clock(clock.to_record())


def joined_clock(store: Store, clock: Clock) -> Clock:
    """For a worker joining a store: the clock already published there, if it is the same
    kind of run (so a standby taking over an exercise keeps its time), else ``clock``."""
    published = Clock.from_record(store.clock_record())
    if published.mode == clock.mode and published.speed == clock.speed:
        return published
    return clock
