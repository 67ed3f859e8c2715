"""One trigger instance over time: its input signal and the state machine of its level.

This is the normative semantics of docs/rules.md, in integer milliseconds:

- value(t) is the latest sample with timestamp <= t; stale when t - ts > stale_after, or
  before the first sample. candidate(t) is the highest level whose threshold value(t) meets.
- up(t): the highest L with the value fresh throughout [t - for, t] and candidate >= L
  throughout (both ends included). down(t): the highest candidate over [t - clear_for, t],
  defined only when fresh throughout. If up(t) > level, level = up(t); else if down(t) is
  defined and below the level, level = down(t).
- on_stale N: a stale span counts as a fresh value whose candidate is N (still flagged).

The input is piecewise constant, so up and down can only change at a change of the input
(s), or when one leaves a window (s + for, s + clear_for). The machine evaluates exactly
those instants, in order: levels are exact at every instant, not only at sample times.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["AggregateInput", "Change", "Machine", "SeriesInput"]

Change = tuple[int, int | None, float | None]
_FOREVER = 2**62  # (at ms, candidate or None when stale, value)


@dataclass
class Step:
    """A change of an instance's level or stale flag, at an exact instant."""

    at: int
    old: int
    new: int
    stale: bool
    value: float | None


class Machine:
    """The level of one trigger instance; fed changes of its candidate, advanced in time."""

    def __init__(self, base: int, for_ms: int, clear_ms: int, on_stale: int | None,
                 start: int) -> None:
        self.for_ms = for_ms
        self.clear_ms = clear_ms
        self.on_stale = on_stale
        self.level = base
        self.since = start
        self.t = start - 1  # every instant up to and including t has been evaluated
        self.segs: list[list[Any]] = [[start, None, None]]  # [start, candidate, value]
        self.stale = True
        self.steps: list[Step] = []
        self.dirty = True  # state changed since it was last saved
        self._next = start  # the earliest instant after t at which the level can change

    # --- input -------------------------------------------------------------------------

    def set(self, at: int, candidate: int | None, value: float | None) -> None:
        """The input changes at ``at``; a change at an instant already evaluated takes effect
        at the last evaluated instant (a late arrival), which is evaluated again."""
        late = at <= self.t
        at = max(at, self.t) if late else at
        self.dirty = True
        last = self.segs[-1]
        if last[0] == at:
            last[1], last[2] = candidate, value
            if len(self.segs) > 1 and self.segs[-2][1] == candidate:
                self.segs.pop()
                self.segs[-1][2] = value
        elif last[1] == candidate:
            last[2] = value
        else:
            self.segs.append([at, candidate, value])
            self._next = min(self._next, at)
        if late:
            self._evaluate(at)

    def advance(self, until: int) -> None:
        """Evaluate every instant in (t, until] at which the level can change."""
        if until <= self.t:
            return
        if until < self._next:  # nothing can change before then: the common case
            self.t = until
            return
        times: set[int] = set()
        later = _FOREVER
        for start, _, _ in self.segs:
            for x in (start, start + self.for_ms, start + self.clear_ms):
                if self.t < x <= until:
                    times.add(x)
                elif x > until and x < later:
                    later = x
        for x in sorted(times):
            self._evaluate(x)
        self.t = until
        self._next = later
        self._trim()

    def feed(self, changes: Iterable[Change], until: int) -> None:
        """Apply changes in time order, evaluating in between, then advance to ``until``."""
        for at, candidate, value in changes:
            if at > until:
                break
            self.advance(at - 1)
            self.set(at, candidate, value)
        self.advance(until)

    # --- the rule ----------------------------------------------------------------------

    def _window(self, start: int, end: int) -> list[int] | None:
        """Effective candidates of every segment meeting [start, end]; None unless the
        input is fresh (or counted as fresh by on_stale) throughout."""
        out: list[int] = []
        segs = self.segs
        for i in range(len(segs) - 1, -1, -1):
            seg_start = segs[i][0]
            if seg_start > end:
                continue
            candidate = self.on_stale if segs[i][1] is None else segs[i][1]
            if candidate is None:
                return None
            out.append(candidate)
            if seg_start <= start:
                return out
        # the window reaches back before the first segment: no sample yet, so stale
        return None if self.on_stale is None else [*out, self.on_stale]

    def _evaluate(self, t: int) -> None:
        old, was_stale = self.level, self.stale
        up_window = self._window(t - self.for_ms, t)
        current = self.value_at(t)
        self.stale = current[0] is None
        if up_window is not None and min(up_window) > self.level:
            self.level = min(up_window)
        else:
            down_window = self._window(t - self.clear_ms, t)
            if down_window is not None and max(down_window) < self.level:
                self.level = max(down_window)
        if self.level != old:
            self.since = t
        if self.level != old or self.stale != was_stale:
            self.dirty = True
            self.steps.append(Step(t, old, self.level, self.stale, current[1]))

    # --- reading -----------------------------------------------------------------------

    def value_at(self, t: int) -> tuple[int | None, float | None]:
        """(raw candidate or None when stale, value) of the input at t."""
        for start, candidate, value in reversed(self.segs):
            if start <= t:
                return candidate, value
        return None, None

    def held_since(self, level: int, t: int) -> int | None:
        """Since when the input has been fresh with candidate >= level, up to t (or None)."""
        since = None
        for start, candidate, _ in reversed(self.segs):
            if start > t:
                continue
            effective = self.on_stale if candidate is None else candidate
            if effective is None or effective < level:
                break
            since = start
        return since

    def below_since(self, t: int) -> int | None:
        """Since when the input has been fresh with candidate below the level, up to t."""
        since = None
        for start, candidate, _ in reversed(self.segs):
            if start > t:
                continue
            effective = self.on_stale if candidate is None else candidate
            if effective is None or effective >= self.level:
                break
            since = start
        return since

    def _trim(self) -> None:
        """Drop segments that no window reaching back from t can still see."""
        horizon = self.t - max(self.for_ms, self.clear_ms)
        segs = self.segs
        keep = 0
        while keep + 1 < len(segs) and segs[keep + 1][0] <= horizon:
            keep += 1
        if keep:
            del segs[:keep]
            self.dirty = True

    # --- persistence -------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"level": self.level, "since": self.since, "t": self.t, "segs": self.segs,
                "stale": self.stale}

    def restore(self, state: dict[str, Any]) -> None:
        self.level, self.since, self.t = state["level"], state["since"], state["t"]
        self.segs = [list(s) for s in state["segs"]]
        self.stale = state["stale"]
        self.dirty = False
        self._next = self.t + 1  # look again at the next advance


class SeriesInput:
    """The candidate of one series over time, with the instants it goes stale."""

    def __init__(self, stale_ms: int, candidate: Any) -> None:
        self.stale_ms = stale_ms
        self.candidate = candidate  # value -> level
        self.last_ts: int | None = None
        self.last_value: float | None = None
        self.stale_sent = True

    def add(self, ts: int, value: float) -> Change | None:
        """The change a new sample makes; None for one not newer than the last (ignored)."""
        if self.last_ts is not None and ts <= self.last_ts:
            return None
        self.last_ts, self.last_value, self.stale_sent = ts, value, False
        return ts, self.candidate(value), value

    @property
    def latest(self) -> int | None:
        """The time of the latest sample taken."""
        return self.last_ts

    def next_stale(self) -> int | None:
        """The instant the latest sample goes stale, unless that change was already made."""
        if self.stale_sent or self.last_ts is None:
            return None
        return self.last_ts + self.stale_ms + 1

    def stale_change(self) -> Change:
        self.stale_sent = True
        assert self.last_ts is not None
        return self.last_ts + self.stale_ms + 1, None, None

    def state(self) -> dict[str, Any]:
        return {"ts": self.last_ts, "v": self.last_value, "sent": self.stale_sent}

    def restore(self, state: dict[str, Any]) -> None:
        self.last_ts, self.last_value, self.stale_sent = state["ts"], state["v"], state["sent"]


class AggregateInput:
    """An aggregate (max, min, sum, mean, count_over) over the fresh sites' latest values."""

    def __init__(self, sites: tuple[str, ...], stale_ms: int, how: str, count_over: float | None,
                 higher_is_worse: bool, candidate: Any) -> None:
        self.sites = sites
        self.stale_ms = stale_ms
        self.how = how
        self.count_over = count_over
        self.higher_is_worse = higher_is_worse
        self.candidate = candidate
        self.last: dict[str, tuple[int, float]] = {}
        self.stale_sent: set[str] = set()

    def add(self, site: str, ts: int, value: float) -> Change | None:
        """The change a site's new sample makes; None for one not newer than its last."""
        if site in self.last and ts <= self.last[site][0]:
            return None
        self.last[site] = (ts, value)
        self.stale_sent.discard(site)
        return self._change(ts)

    @property
    def latest(self) -> int | None:
        """The time of the latest sample taken, of any site."""
        return max((ts for ts, _ in self.last.values()), default=None)

    def next_stale(self) -> int | None:
        pending = [ts + self.stale_ms + 1 for site, (ts, _) in self.last.items()
                   if site not in self.stale_sent]
        return min(pending) if pending else None

    def stale_change(self) -> Change:
        at = self.next_stale()
        assert at is not None
        for site, (ts, _) in self.last.items():
            if ts + self.stale_ms + 1 == at:
                self.stale_sent.add(site)
        return self._change(at)

    def fresh(self, t: int) -> dict[str, float]:
        return {site: value for site, (ts, value) in self.last.items()
                if t - ts <= self.stale_ms}

    def _change(self, t: int) -> Change:
        fresh = self.fresh(t)
        if not fresh:
            return t, None, None
        value = aggregate(self.how, list(fresh.values()), self.count_over, self.higher_is_worse)
        return t, self.candidate(value), value

    def state(self) -> dict[str, Any]:
        return {"last": self.last, "sent": sorted(self.stale_sent)}

    def restore(self, state: dict[str, Any]) -> None:
        self.last = {site: (int(ts), float(v)) for site, (ts, v) in state["last"].items()}
        self.stale_sent = set(state["sent"])


def aggregate(how: str, values: list[float], count_over: float | None,
              higher_is_worse: bool) -> float:
    if how == "max":
        return max(values)
    if how == "min":
        return min(values)
    if how == "sum":
        return math.fsum(values)
    if how == "mean":
        return math.fsum(values) / len(values)
    assert how == "count_over" and count_over is not None
    if higher_is_worse:
        return float(sum(1 for v in values if v >= count_over))
    return float(sum(1 for v in values if v <= count_over))
