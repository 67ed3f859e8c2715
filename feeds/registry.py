"""The feeds the worker can poll, by name (SURGE_FEEDS)."""

from __future__ import annotations

from collections.abc import Callable

from feeds.base import Feed
from surge.catalogue import Catalogue
from surge.configfile import did_you_mean
from surge.errors import ConfigError, Problem
from surge.settings import Settings

__all__ = ["FEED_FACTORIES", "build_feeds"]


def _simulator(settings: Settings, catalogue: Catalogue, anchor: float) -> list[Feed]:
    from feeds.scenario import load_scenario
    from feeds.simulator import SimulatorConfig, simulated_feeds

    scenario = load_scenario(settings.scenario, catalogue) if settings.scenario else None
    config = SimulatorConfig(seed=settings.seed, speed=settings.speed, scenario=scenario,
                             anchor=anchor)
    return list(simulated_feeds(catalogue, config))


FEED_FACTORIES: dict[str, Callable[[Settings, Catalogue, float], list[Feed]]] = {
    "simulator": _simulator,
}


def build_feeds(settings: Settings, catalogue: Catalogue, anchor: float) -> list[Feed]:
    """The feeds named in settings.feeds; ConfigError naming any unknown one."""
    problems = [Problem("SURGE_FEEDS", f"unknown feed {name!r}{did_you_mean(name, FEED_FACTORIES)}"
                        f" (known: {', '.join(FEED_FACTORIES)})")
                for name in settings.feeds if name not in FEED_FACTORIES]
    if problems:
        raise ConfigError(problems)
    feeds: list[Feed] = []
    for name in settings.feeds:
        feeds += FEED_FACTORIES[name](settings, catalogue, anchor)
    return feeds
