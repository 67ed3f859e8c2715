"""The one way samples enter Surge: check them, store them, announce the batch.

Feeds (through the poller), ``surge ingest`` and any push API call ``ingest``. Bad samples
are rejected with their reasons and the good ones in the same batch are kept. What is
stored is announced atomically with the write (a batch notice in the store), so the active
worker's rules engine evaluates it whichever process wrote it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from surge.catalogue import Catalogue
from surge.samples import Rejection, Sample, check_batch
from surge.store import Store

__all__ = ["FEED_SOURCE", "IngestReport", "RawSample", "feed_source", "ingest", "polled"]

RawSample = Sample | Mapping[str, Any] | Rejection

# A batch's source names who stored it; a feed the worker polls writes as "feed:NAME". The
# rules engine waits for polled feeds before it evaluates a moment (their samples arrive a
# poll after they are stamped), but not for data pushed to it (`surge ingest`, an API).
FEED_SOURCE = "feed:"


def feed_source(feed: str) -> str:
    return FEED_SOURCE + feed


def polled(source: str) -> bool:
    """Whether a batch came from a feed the worker polls (else it was pushed)."""
    return source.startswith(FEED_SOURCE)


@dataclass(frozen=True)
class IngestReport:
    """What became of one batch."""

    source: str
    at: float
    accepted: int = 0
    duplicates: int = 0
    late: list[Sample] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    newest: float | None = None  # the newest timestamp among the good samples
    notices: tuple[str, ...] = ()  # the batch notices the rules engine reads it by

    @property
    def total(self) -> int:
        return self.accepted + self.duplicates + len(self.late) + len(self.rejected)


def ingest(store: Store, catalogue: Catalogue, raw: Iterable[RawSample], *, source: str,
           now: float) -> IngestReport:
    """Check ``raw`` against the catalogue at time ``now``, store the good samples."""
    checked = check_batch(raw, catalogue, now, store.retention)
    result = store.write(checked.good, source=source, columns=checked.columns)
    if checked.columns is not None:
        newest = float(checked.columns.ts.max()) if len(checked.columns) else None
    else:
        newest = max((s.ts for s in checked.good), default=None)
    return IngestReport(source, now, result.accepted, result.duplicates, result.late, checked.bad,
                        newest, result.notices)
