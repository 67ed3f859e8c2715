"""Every reason a sample is rejected, and that good samples in the same batch are kept."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surge.catalogue import TRUST, Catalogue
from surge.samples import (
    FUTURE_TOLERANCE,
    Rejection,
    Sample,
    SampleColumns,
    _check_columns,
    _fields,
    _iso,
    check_samples,
)

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


def checked_one_by_one(items, catalogue: Catalogue, now, retention):
    """check_samples as it was written first, one item at a time: the reference the
    column-wise checks must agree with, for every batch."""
    good: list[Sample] = []
    bad: list[Rejection] = []
    metrics = catalogue.metrics
    sites = catalogue.sites
    latest_ok = math.inf if now is None else now + FUTURE_TOLERANCE
    oldest_ok = -math.inf if now is None else now - retention
    for item in items:
        if isinstance(item, Rejection):
            bad.append(item)
            continue
        try:
            metric_id, scope, ts, value = _fields(item)
        except ValueError as exc:
            bad.append(Rejection(str(exc), item))
            continue
        metric = metrics.get(metric_id)
        if metric is None:
            bad.append(Rejection(f"unknown metric {metric_id!r}", item))
            continue
        if scope == TRUST:
            if TRUST not in metric.scopes:
                bad.append(Rejection(f"{metric_id} is reported per site, not for the trust", item))
                continue
        else:
            site = sites.get(scope)
            if site is None:
                bad.append(Rejection(f"unknown site {scope!r}", item))
                continue
            if site.kind not in metric.scopes:
                bad.append(Rejection(f"{metric_id} is not reported by a {site.kind} ({scope})",
                                     item))
                continue
        if not math.isfinite(value):
            bad.append(Rejection(f"value of {metric_id} is {value} (not a finite number)", item))
            continue
        if not metric.low <= value <= metric.high:
            bad.append(Rejection(f"value {value:g} of {metric_id} is outside its plausible range "
                                 f"[{metric.low:g}, {metric.high:g}]", item))
            continue
        if ts > latest_ok:
            assert now is not None
            bad.append(Rejection(f"timestamp {_iso(ts)} is {ts - now:.0f} s in the future "
                                 f"(more than {FUTURE_TOLERANCE:.0f} s ahead)", item))
            continue
        if ts < oldest_ok:
            bad.append(Rejection(f"timestamp {_iso(ts)} is older than the retention period",
                                 item))
            continue
        good.append(Sample(metric_id, scope, ts, value))
    return good, bad


def batches(catalogue: Catalogue) -> st.SearchStrategy[list]:
    """Batches as feeds send them: mostly good Samples, with bad ones of every kind among them,
    and sometimes mappings, rejections and things that are not samples at all."""
    metric_ids = [*catalogue.metrics, "calls.wating", ""]
    scopes = [TRUST, *catalogue.sites, "XYZ"]
    edges = sorted({x for m in catalogue.metrics.values() for x in (m.low, m.high)})
    times = st.one_of(
        st.sampled_from([NOW, NOW - 10, NOW + FUTURE_TOLERANCE, NOW + FUTURE_TOLERANCE + 1e-6,
                         NOW + 301, NOW - RETENTION, NOW - RETENTION - 1e-6, -1.0, 0.0, 1e15,
                         math.nan, math.inf, -math.inf]),
        st.floats(NOW - RETENTION - 600, NOW + 600),
        st.integers(int(NOW - RETENTION) - 600, int(NOW) + 600))
    values = st.one_of(
        st.sampled_from([*edges, *(x + d for x in edges for d in (-1e-9, 1e-9)), -0.0,
                         math.nan, math.inf, -math.inf, 1e300]),
        st.floats(-10, 8000), st.integers(-10, 8000))
    series = st.sampled_from([(m.id, s) for m in catalogue.metrics.values()
                              for s in catalogue.scopes_of(m)])

    @st.composite
    def near_good(draw: st.DrawFn) -> Sample:  # a good sample, or one with a single flaw
        metric_id, scope = draw(series)
        low, high = catalogue.metrics[metric_id].low, catalogue.metrics[metric_id].high
        ts = draw(st.floats(NOW - RETENTION, NOW + FUTURE_TOLERANCE))
        value = draw(st.floats(low, high))
        flaw = draw(st.sampled_from(["none", "metric", "scope", "ts", "value"]))
        if flaw == "metric":
            metric_id = draw(st.sampled_from(metric_ids))
        elif flaw == "scope":
            scope = draw(st.sampled_from(scopes))
        elif flaw == "ts":
            ts = draw(times)
        elif flaw == "value":
            value = draw(st.one_of(st.sampled_from(
                [low, high, low - 1e-9, high + 1e-9, int(low), int(high), -0.0, math.nan,
                 math.inf, -math.inf]), values))
        return Sample(metric_id, scope, ts, value)

    good_sample = st.builds(lambda ms, ts, f: Sample(ms[0], ms[1], float(ts),
                                                     catalogue.metrics[ms[0]].low + f * (
                                                         catalogue.metrics[ms[0]].high
                                                         - catalogue.metrics[ms[0]].low)),
                            series, st.floats(NOW - RETENTION, NOW + FUTURE_TOLERANCE),
                            st.floats(0, 1))
    any_sample = st.builds(Sample, st.sampled_from(metric_ids), st.sampled_from(scopes), times,
                           values)
    odd = st.one_of(
        st.builds(Sample, st.sampled_from(metric_ids), st.sampled_from(scopes),
                  st.sampled_from([True, None, "2026-11-26T10:00:00Z", "yesterday",
                                   datetime.fromtimestamp(NOW - 60, UTC), 10**400]),
                  values),
        st.builds(Sample, st.sampled_from(metric_ids), st.sampled_from(scopes), times,
                  st.sampled_from([True, False, None, "4.5", "lots", 10**400])),
        st.builds(Sample, st.sampled_from([7, None]), st.sampled_from(scopes), times, values),
        st.builds(lambda m, s, t, v: {"metric": m, "scope": s, "ts": t, "value": v},
                  st.sampled_from(metric_ids), st.sampled_from(scopes), times, values),
        st.just(Rejection("item 3: no 'value' at path 'v'", {"name": "calls.waiting"})),
        st.sampled_from(["calls.waiting 12", 7, None]))
    samples_only = st.lists(st.one_of(good_sample, near_good(), near_good(), any_sample),
                            max_size=60)
    anything = st.lists(st.one_of(good_sample, near_good(), any_sample, odd), max_size=60)
    return st.one_of(samples_only, samples_only, anything)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_checking_by_columns_agrees_with_checking_one_by_one(catalogue, data) -> None:
    batch = data.draw(batches(catalogue))
    now = data.draw(st.sampled_from([NOW, None]))
    try:
        expected = checked_one_by_one(batch, catalogue, now, RETENTION)
    except OverflowError:  # an int too large for a float: raised, never stored
        with pytest.raises(OverflowError):
            check_samples(batch, catalogue, now, RETENTION)
        return
    good, bad = check_samples(batch, catalogue, now, RETENTION)
    assert good == expected[0]
    assert [(type(s.ts), type(s.value)) for s in good] == [(float, float)] * len(good)
    assert [(r.reason, id(r.raw)) for r in bad] == [(r.reason, id(r.raw)) for r in expected[1]]
    again = check_samples(iter(batch), catalogue, now, RETENTION)  # any iterable will do
    assert again[0] == good and again[1] == bad


@pytest.mark.parametrize(("sample", "reason"), [
    (Sample("calls.wating", "trust", NOW, 1.0), "unknown metric 'calls.wating'"),
    (Sample("calls.waiting", "XYZ", NOW, 1.0), "unknown site 'XYZ'"),
    (Sample("calls.waiting", "RVJ", NOW, 1.0), "calls.waiting is not reported by a hospital (RVJ)"),
    (Sample("ae.handover_queue", "EOC-N", NOW, 1.0), "not reported by a eoc (EOC-N)"),
    (Sample("calls.waiting", "trust", math.nan, 1.0), "timestamp must be a time, got nan"),
    (Sample("calls.waiting", "trust", math.inf, 1.0), "timestamp must be a time, got inf"),
    (Sample("calls.waiting", "trust", NOW, math.nan), "is nan (not a finite number)"),
    (Sample("calls.waiting", "trust", NOW, -math.inf), "is -inf (not a finite number)"),
    (Sample("calls.waiting", "trust", NOW, -1e-9), "outside its plausible range [0, 2000]"),
    (Sample("calls.waiting", "trust", NOW, 2000.5), "outside its plausible range [0, 2000]"),
    (Sample("calls.waiting", "trust", NOW + 301, 1.0), "in the future (more than 300 s ahead)"),
    (Sample("calls.waiting", "trust", NOW - RETENTION - 1, 1.0), "older than the retention"),
])
def test_a_bad_sample_among_good_ones_is_rejected_with_its_reason(catalogue, sample,
                                                                  reason) -> None:
    batch = [Sample("calls.waiting", "trust", NOW - 60 * i, float(i)) for i in range(20)]
    batch.insert(10, sample)
    good, bad = check(catalogue, *batch)
    assert good == batch[:10] + batch[11:]
    assert len(bad) == 1 and reason in bad[0].reason and bad[0].raw is sample


def as_samples(columns: SampleColumns) -> list[Sample]:
    return [Sample(columns.metric_names[m], columns.scope_names[s], t, v) for m, s, t, v in
            zip(columns.metric, columns.scope, columns.ts, columns.value, strict=True)]


def test_a_batch_of_samples_is_checked_by_columns(catalogue) -> None:
    batch = [Sample("calls.waiting", "trust", NOW - 60 * i, float(i % 2000)) for i in range(600)]
    batch[7] = Sample("calls.waiting", "RVJ", NOW, 1.0)
    batch[255] = Sample("calls.waiting", "trust", NOW, -1.0)
    batch[256] = Sample("calls.waiting", "EOC-N", NOW + 400, 3.0)
    batch[599] = Sample("calls.waiting", "trust", math.nan, 3.0)
    latest_ok, oldest_ok = NOW + FUTURE_TOLERANCE, NOW - RETENTION
    checked = _check_columns(batch, catalogue, NOW, latest_ok, oldest_ok)
    assert checked is not None
    good, bad = checked.good, checked.bad
    assert good == [s for i, s in enumerate(batch) if i not in (7, 255, 256, 599)]
    columns = checked.columns  # the good samples as columns, for Store.write
    assert columns is not None and len(columns) == len(good)
    assert as_samples(columns) == good
    batch[300] = Sample("calls.wating", "trust", NOW, 1.0)  # a name not in the catalogue
    checked = _check_columns(batch, catalogue, NOW, latest_ok, oldest_ok)
    assert checked is not None and checked.columns is not None
    assert [r.raw for r in checked.bad][3] == batch[300]
    assert as_samples(checked.columns) == checked.good == [
        s for i, s in enumerate(batch) if i not in (7, 255, 256, 300, 599)]
    assert [r.raw for r in bad] == [batch[7], batch[255], batch[256], batch[599]]
    assert "not reported by a hospital" in bad[0].reason and "in the future" in bad[2].reason
    assert _check_columns([GOOD], catalogue, NOW, latest_ok, oldest_ok) is None  # one by one
