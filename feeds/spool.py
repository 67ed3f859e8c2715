"""Samples a feed took while the store was down, kept on disk until the store takes them.

A feed's source does not wait for Surge: samples fetched while the store cannot be written
would be lost, and a source that only serves "now" cannot give them again. So the poller
hands them to the feed's spool: an append-only file under the data dir
(``<data dir>/spool/<feed>.jsonl``), one line per batch, flushed and fsynced before the poll
counts as done, so it survives the worker being killed and restarted. Before a feed's next
batch is written, the spool is written to the store in the order it was taken, batch by
batch, and the file is emptied once the store has them all. Samples written twice (the worker
died between writing a batch and noting it) are duplicates, which the store ignores: nothing
is stored twice, nothing is lost.

The file is bounded (``max_bytes``, 256 MiB by default: about three million samples, days
of a busy feed); a batch that would pass it is refused with a loud error and counted as
dropped, never silently.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from surge.errors import StoreUnavailable
from surge.samples import Sample
from surge.store import Store

__all__ = ["DEFAULT_MAX_BYTES", "DrainReport", "Spool", "spooled_counts"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
FOLDER = "spool"


@dataclass(frozen=True)
class DrainReport:
    """What one drain wrote: batches and samples handed to the store, and how they fared."""

    batches: int = 0
    samples: int = 0
    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    left: int = 0  # samples still spooled (the store went down again)


class Spool:
    """One feed's spool file; thread-safe (a poll and a drain may not overlap in it)."""

    def __init__(self, data_dir: Path, feed: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = Path(data_dir) / FOLDER / f"{_safe(feed)}.jsonl"
        self.feed = feed
        self.max_bytes = max_bytes
        self.dropped = 0  # samples refused because the spool was full
        self._lock = threading.Lock()

    def pending(self) -> bool:
        """Whether anything is spooled (without reading it)."""
        return self.path.exists()

    def __len__(self) -> int:
        """Samples spooled now."""
        with self._lock:
            return sum(len(samples) for _, samples in self._batches())

    def add(self, source: str, samples: Sequence[Sample]) -> bool:
        """Keep a batch the store could not take; False (and an error logged) when the spool
        is full and the batch is dropped."""
        if not samples:
            return True
        line = json.dumps({"source": source, "samples": [list(s) for s in samples]},
                          separators=(",", ":")) + "\n"
        data = line.encode()
        with self._lock:
            size = self.path.stat().st_size if self.path.exists() else 0
            if size + len(data) > self.max_bytes:
                self.dropped += len(samples)
                log.error("feed %s: spool %s is full (%d bytes): %d sample(s) DROPPED; the "
                          "store has been down too long", self.feed, self.path, size,
                          len(samples))
                return False
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with open(self.path, "ab+") as out:
                if size:  # a line torn by a kill mid-write must not swallow this one
                    out.seek(-1, os.SEEK_END)
                    if out.read(1) != b"\n":
                        data = b"\n" + data
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        return True

    def drain(self, store: Store) -> DrainReport:
        """Write what is spooled to the store, in order; what the store does not take
        (it is down again) stays, from the first batch not written."""
        with self._lock:
            batches = list(self._batches())
            if not batches:
                return DrainReport()
            written = accepted = duplicates = late = samples_written = 0
            try:
                for source, samples in batches:
                    result = store.write(samples, source=source)
                    written += 1
                    samples_written += len(samples)
                    accepted += result.accepted
                    duplicates += result.duplicates
                    late += len(result.late)
            except StoreUnavailable:
                self._keep(batches[written:])
                left = sum(len(s) for _, s in batches[written:])
                return DrainReport(written, samples_written, accepted, duplicates, late, left)
            self.path.unlink(missing_ok=True)
            log.info("feed %s: %d spooled sample(s) written to the store (%d new, %d already "
                     "there, %d late)", self.feed, samples_written, accepted, duplicates, late)
            return DrainReport(written, samples_written, accepted, duplicates, late, 0)

    def _batches(self) -> Iterator[tuple[str, list[Sample]]]:
        """The spooled batches in order; a torn last line (killed mid-write) is skipped."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return
        for number, line in enumerate(lines, 1):
            try:
                batch = json.loads(line)
                samples = [Sample(str(m), str(s), float(t), float(v))
                           for m, s, t, v in batch["samples"]]
            except (ValueError, KeyError, TypeError) as exc:
                log.error("feed %s: spool %s line %d cannot be read (%s): skipped", self.feed,
                          self.path, number, exc)
                continue
            yield str(batch.get("source", "")), samples

    def _keep(self, batches: Sequence[tuple[str, list[Sample]]]) -> None:
        """Rewrite the file with what is left, atomically."""
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "wb") as out:
            for source, samples in batches:
                out.write(json.dumps({"source": source, "samples": [list(s) for s in samples]},
                                     separators=(",", ":")).encode() + b"\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)


# What spooled_counts has counted of each spool file: (file id, bytes counted, samples in
# them). A spool only grows until it is emptied or rewritten, so a scrape reads only what was
# added since the last; a file that is not the one counted (another file id, or shorter) is
# counted afresh.
_counted: dict[Path, tuple[tuple[int, int, bytes], int, int]] = {}  # guarded by the lock
_counted_lock = threading.Lock()
FINGERPRINT = 64  # bytes from the start of a file that, with its inode, tell it apart


def spooled_counts(data_dir: Path) -> dict[str, int]:
    """Samples spooled per feed file under ``data_dir`` (for status and metrics), reading
    only what each file gained since the last call."""
    folder = Path(data_dir) / FOLDER
    paths = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    out: dict[str, int] = {}
    with _counted_lock:
        for gone in [p for p in _counted if p.parent == folder and p not in paths]:
            del _counted[gone]
        for path in paths:
            try:
                out[path.stem] = _count(path)
            except FileNotFoundError:  # emptied meanwhile
                _counted.pop(path, None)
    return out


def _count(path: Path) -> int:
    with open(path, "rb") as f:
        stat = os.fstat(f.fileno())
        file_id = (stat.st_dev, stat.st_ino, f.read(FINGERPRINT))
        known, done, count = _counted.get(path, (file_id, 0, 0))
        if known != file_id or stat.st_size < done:
            done, count = 0, 0
        f.seek(done)
        data = f.read()
    end = data.rfind(b"\n") + 1  # a line still being written is counted once it ends
    for line in data[:end].splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError):  # unreadable: a drain
            count += len(json.loads(line)["samples"])  # skips it too
    _counted[path] = (file_id, done + end, count)
    return count


def _safe(name: str) -> str:
    """A feed name as a file name (names are checked elsewhere; this only keeps it inside)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "_"
