"""Surge time: the one source of "now" for data, levels, events, ages and the page clock.

A live run reads the wall clock. An exercise (a scenario, or ``--speed N``) runs a clock
that starts at the scenario's start time and goes ``speed`` times faster than real time;
every sample, window, staleness check, event and page clock of that run reads it, so a
five-hour simulated evening takes five minutes at x60 and escalates exactly as it would live.

Two things deliberately stay on real time whatever the mode: process liveness (the worker
lease and heartbeat: a process is alive or not in real seconds) and security timeouts
(sessions, throttles). ``real_seconds`` converts a span of Surge time into real seconds for
the schedulers that have to wait it out.

The clock of a run is published in the store (``Store.publish_clock``) so that every other
process on that store (web workers, ``surge status``, ``surge events``) tells the same time.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = ["LIVE", "Clock", "Mode", "scenario_origin"]

Mode = Literal["live", "simulated", "exercise"]
UK = ZoneInfo("Europe/London")


@dataclass(frozen=True)
class Clock:
    """Callable: ``clock()`` is Surge's now, UTC epoch seconds.

    ``mode`` says what the data are: ``live`` (real feeds), ``simulated`` (the simulator at
    real speed: invented numbers, real time) or ``exercise`` (a scenario or a faster clock).
    """

    mode: Mode = "live"
    speed: float = 1.0
    origin: float | None = None  # Surge time at real time `real_start`; None: the wall clock
    real_start: float = 0.0
    scenario: str | None = None
    real: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"clock speed must be above 0, got {self.speed!r}")

    def __call__(self) -> float:
        if self.origin is None:
            return self.real()
        return self.origin + (self.real() - self.real_start) * self.speed

    @classmethod
    def exercise(cls, speed: float, origin: float | None = None, scenario: str | None = None,
                 real: Callable[[], float] = time.time) -> Clock:
        """An exercise clock starting now (real time) at Surge time ``origin`` (default now)."""
        start = real()
        return cls("exercise", speed, start if origin is None else origin, start, scenario, real)

    @property
    def exercise_mode(self) -> bool:
        return self.mode == "exercise"

    @property
    def simulated(self) -> bool:
        """True when the data are invented (a simulator run or an exercise)."""
        return self.mode != "live"

    def real_seconds(self, seconds: float) -> float:
        """How many real seconds a span of Surge time takes."""
        return seconds / self.speed

    def banner(self) -> str | None:
        """The words every page and notification must carry, or None for live data."""
        if self.mode == "exercise":
            speed = f"{self.speed:g}"
            return f"EXERCISE — SIMULATED DATA, TIME x{speed}"
        if self.mode == "simulated":
            return "SIMULATED DATA"
        return None

    # --- publishing, so other processes on the same store share it ------------------------

    def to_record(self) -> dict[str, str]:
        record = {"mode": self.mode, "speed": repr(self.speed), "real_start": repr(self.real_start)}
        if self.origin is not None:
            record["origin"] = repr(self.origin)
        if self.scenario:
            record["scenario"] = self.scenario
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, str] | None,
                    real: Callable[[], float] = time.time) -> Clock:
        """The clock a run published; the live wall clock when nothing was published."""
        if not record:
            return cls(real=real)
        mode = record.get("mode", "live")
        if mode not in ("live", "simulated", "exercise"):
            mode = "live"
        origin = record.get("origin")
        return cls(mode=mode,  # type: ignore[arg-type]
                   speed=float(record.get("speed", 1.0)),
                   origin=float(origin) if origin is not None else None,
                   real_start=float(record.get("real_start", 0.0)),
                   scenario=record.get("scenario") or None, real=real)


LIVE = Clock()


def scenario_origin(start_time: dt.time | None, real_now: float, tz: dt.tzinfo = UK) -> float:
    """Where an exercise clock starts: the most recent ``start_time`` (local), or now."""
    if start_time is None:
        return real_now
    local = dt.datetime.fromtimestamp(real_now, tz)
    start = dt.datetime.combine(local.date(), start_time, tz)
    if start.timestamp() > real_now:
        start = dt.datetime.combine(local.date() - dt.timedelta(days=1), start_time, tz)
    return start.timestamp()
