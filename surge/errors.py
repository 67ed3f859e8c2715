"""The exceptions Surge raises for problems a user can cause, and how they are worded.

    SurgeError                  anything a user can cause; printed without a traceback
     +-- ConfigError            one or more problems in a config file or setting
     +-- StoreUnavailable       the Redis/Valkey store cannot be reached
     +-- FetchFailed            a feed could not fetch from its source (raised by feeds)
     +-- LeaseLost              another worker is active now: this one must not write
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ConfigError", "FetchFailed", "LeaseLost", "Problem", "StoreUnavailable",
           "SurgeError"]


class SurgeError(Exception):
    """A problem the user can fix; the message is meant to be read by them."""


@dataclass(frozen=True)
class Problem:
    """One problem in a config source, located as precisely as is known."""

    source: str  # a file path, or an environment variable / option name
    message: str
    line: int | None = None  # 1-based
    col: int | None = None  # 1-based

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.source}: {self.message}"
        return f"{self.source}:{self.line}:{self.col or 1}: {self.message}"


class ConfigError(SurgeError):
    """Every problem found in one config source, reported together."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(cls, source: str | Path, message: str) -> ConfigError:
        return cls([Problem(str(source), message)])


class StoreUnavailable(SurgeError):
    """The store could not be reached; the message says where it was looked for."""


class FetchFailed(SurgeError):
    """A feed's source could not be read this time; the poller records and retries."""


class LeaseLost(SurgeError):
    """This worker no longer holds the lease: another is active, and only it may write."""
