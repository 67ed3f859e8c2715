"""Every reason a sample is rejected, and that good samples in the same batch are kept."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from surge.catalogue import Catalogue
from surge.samples import Rejection, Sample, check_samples

NOW = 1_790_000_000.0
RETENTION = 35 * 86400


def check(catalogue: Catalogue, *items):
    return check_samples(list(items), catalogue, NOW, RETENTION)


GOOD = {"metric": "calls.waiting", "scope": "trust", "ts": NOW - 10, "value": 12}


@pytest.mark.parametrize(("item", "reason"), [
    ({**GOOD, "metric": "calls.wating"}, "unknown metric 'calls.wating'"),
    ({**GOOD, "scope": "XYZ"}, "unknown site 'XYZ'"),
    ({**GOOD, "scope": "RVJ"}, "calls.waiting is not reported by a hospital (RVJ)"),
    ({**GOOD, "metric": "ae.handover_queue", "scope": "trust", "value": 1}, None),
    ({**GOOD, "value": math.nan}, "is nan (not a finite number)"),
    ({**GOOD, "value": math.inf}, "is inf (not a finite number)"),
    ({**GOOD, "value": "lots"}, "must be a number, got 'lots'"),
    ({**GOOD, "value": True}, "must be a number, got True"),
    ({**GOOD, "value": None}, "must be a number, got None"),
    ({**GOOD, "value": -1}, "outside its plausible range [0, 2000]"),
    ({**GOOD, "value": 2000.5}, "outside its plausible range [0, 2000]"),
    ({**GOOD, "ts": NOW + 301}, "in the future (more than 300 s ahead)"),
    ({**GOOD, "ts": NOW - RETENTION - 1}, "older than the retention period"),
    ({**GOOD, "ts": "yesterday"}, "is not an ISO 8601 time"),
    ({**GOOD, "ts": "2026-11-26T10:00:00"}, "has no time zone"),
    ({"metric": "calls.waiting", "value": 1}, "missing field(s): ts"),
    ({**GOOD, "metric": 7}, "metric must be text"),
    ("calls.waiting 12", "expected a sample with metric, scope, ts and value, got str"),
])
def test_bad_samples_are_rejected_with_their_reason(catalogue, item, reason) -> None:
    good, bad = check(catalogue, item)
    if reason is None:
        assert len(good) == 1 and not bad
    else:
        assert not good
        assert reason in bad[0].reason
        assert bad[0].raw is item


def test_the_rest_of_a_batch_is_kept(catalogue) -> None:
    items = [GOOD, {**GOOD, "value": "x"}, {**GOOD, "ts": NOW - 5}, {**GOOD, "metric": "nope"}]
    good, bad = check(catalogue, *items)
    assert [s.ts for s in good] == [NOW - 10, NOW - 5]
    assert len(bad) == 2


def test_what_a_feed_could_not_read_is_rejected_with_its_reason_beside_the_good(
        catalogue) -> None:
    unreadable = Rejection("item 3: no 'value' at path 'v'", {"name": "calls.waiting"})
    good = Sample("calls.waiting", "trust", NOW - 60, 12.0)
    kept, bad = check_samples([good, unreadable], catalogue, NOW, 86400)
    assert kept == [good] and bad == [unreadable]


def test_the_plausible_range_and_future_limit_are_inclusive(catalogue) -> None:
    good, bad = check(catalogue, {**GOOD, "value": 0}, {**GOOD, "value": 2000},
                      {**GOOD, "ts": NOW + 300})
    assert len(good) == 3 and not bad


def test_timestamps_may_be_iso_strings_or_aware_datetimes(catalogue) -> None:
    when = datetime.fromtimestamp(NOW - 60, UTC)
    good, bad = check(catalogue, {**GOOD, "ts": when.isoformat().replace("+00:00", "Z")},
                      {**GOOD, "ts": when}, Sample("calls.waiting", "EOC-N", NOW - 60, 3.0),
                      {**GOOD, "value": "4.5"})
    assert not bad
    assert [s.ts for s in good] == [NOW - 60] * 3 + [NOW - 10]
    assert good[3].value == 4.5
