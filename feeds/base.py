"""The protocol every feed adapter implements, and the one error it raises."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from surge.errors import FetchFailed
from surge.ingest import RawSample

__all__ = ["Feed", "FetchFailed", "RawSample"]


@runtime_checkable
class Feed(Protocol):
    """A source of samples for one function, polled every ``interval`` seconds.

    ``fetch`` returns the samples with ``since < ts <= now`` (``since`` is the newest sample
    time already delivered, or None on the first poll). Times are Surge time, the run's one
    clock (``surge.clock``): the wall clock in a live run, faster in an exercise, where a feed
    may be polled less often than ``interval`` (never more than once a real second). It may
    return raw mappings with keys metric, scope, ts, value: the poller checks them; and a
    ``surge.samples.Rejection`` (reason, what was received) for an item of the payload it could
    not make a sample of, which the poller counts and quarantines like any rejection. It raises
    ``FetchFailed`` when the source cannot be read; the poller records that and tries again
    next interval.
    """

    name: str
    function: str
    interval: float

    def fetch(self, since: float | None, now: float) -> Iterable[RawSample]: ...
