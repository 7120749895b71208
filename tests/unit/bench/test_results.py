"""The flash-sale benchmark's arithmetic: percentiles, the sell-out split, rates and ratios."""

from __future__ import annotations

import pytest

from bench.results import (
    Record,
    ceiling_result,
    mean_rate,
    parse_records,
    percentile,
    ratio,
    sale_result,
)

MS = 1_000_000  # ns
S = 1_000_000_000


def rec(status: int, start_ms: float, end_ms: float, rid: str = "", order_id: str = "") -> Record:
    return Record(status, int(start_ms * MS), int(end_ms * MS), rid, order_id)


def test_nearest_rank_percentiles() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert percentile(list(reversed(range(1, 11))), 50) == 5  # order of arrival does not matter


def test_percentile_of_nothing_is_none_and_out_of_range_is_refused() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], 101)


def test_records_parse_from_the_wrk_script_lines() -> None:
    lines = [
        "201\t1000\t3000\ts1-0\t0b0f5a1e-7d2c-4d8f-9d55-2f1f4f6a7b8c\n",
        "409\t1500\t2500\ts1-1\t\n",
        '500\t\t4000\t\t\t{"type": "internal"}\n',  # no request id echoed: latency unknown
        "20",  # cut short by a time-bounded stop
    ]
    records = parse_records(lines)
    assert records == [
        Record(201, 1000, 3000, "s1-0", "0b0f5a1e-7d2c-4d8f-9d55-2f1f4f6a7b8c"),
        Record(409, 1500, 2500, "s1-1", ""),
        Record(500, None, 4000, "", "", '{"type": "internal"}'),
    ]
    assert records[0].latency_ms == pytest.approx(0.002)
    assert records[2].latency_ms is None


def test_sale_splits_at_the_last_admission() -> None:
    # 3 units; all handed out by t=1 s; 1 rejection before, 4 after over the next 0.5 s.
    records = [
        rec(201, 0, 400, "a", "o1"),
        rec(409, 100, 600, "b"),
        rec(201, 200, 800, "c", "o2"),
        rec(201, 300, 1000, "d", "o3"),
        rec(409, 900, 1100, "e"),
        rec(409, 950, 1200, "f"),
        rec(409, 1000, 1300, "g"),
        rec(409, 1050, 1500, "h"),
    ]
    result = sale_result(records, stock=3, sent=8)
    assert (result.admitted, result.rejected, result.errors, result.missing) == (3, 5, {}, 0)
    assert result.sold_out
    assert result.sold_out_after_s == pytest.approx(1.0)
    assert result.admissions_per_s == pytest.approx(3.0)
    assert result.before_sold_out_per_s == pytest.approx(4.0)  # 4 responses in [0, 1 s]
    assert result.after_sold_out_per_s == pytest.approx(8.0)  # 4 responses in (1 s, 1.5 s]
    assert result.requests_per_s == pytest.approx(8 / 1.5)
    assert result.duration_s == pytest.approx(1.5)
    assert result.oversold == 0
    assert result.order_ids == ("o1", "o2", "o3")
    assert result.duplicate_order_ids == 0


def test_latency_is_reported_per_outcome() -> None:
    records = [rec(201, 0, 10 * (i + 1), f"a{i}", f"o{i}") for i in range(10)]
    records += [rec(409, 0, 2, f"r{i}") for i in range(50)]
    result = sale_result(records, stock=10, sent=60)
    assert result.admitted_latency.count == 10
    assert result.admitted_latency.p50_ms == pytest.approx(50)
    assert result.admitted_latency.p99_ms == pytest.approx(100)
    assert result.rejected_latency.p50_ms == pytest.approx(2)


def test_sale_that_never_sells_out_has_no_after_phase() -> None:
    records = [rec(201, 0, 500, "a", "o1"), rec(409, 0, 1000, "b")]
    result = sale_result(records, stock=5, sent=2)
    assert not result.sold_out
    assert result.sold_out_after_s is None
    assert result.after_sold_out_per_s is None
    assert result.before_sold_out_per_s == pytest.approx(2.0)  # the whole run is "while stock lasts"


def test_errors_missing_oversold_and_duplicates_are_counted() -> None:
    records = [
        rec(201, 0, 100, "a", "o1"),
        rec(201, 0, 110, "b", "o1"),
        rec(201, 0, 120, "c", "o3"),
        rec(429, 0, 130, "d"),
        Record(500, 0, 140 * MS, "e", "", "first"),
        Record(500, 0, 150 * MS, "f", "", "second"),
    ]
    result = sale_result(records, stock=2, sent=8)
    assert result.errors == {429: 1, 500: 2}
    assert result.error_samples == {429: "", 500: "first"}
    assert result.missing == 2
    assert result.oversold == 1
    assert result.duplicate_order_ids == 1


def test_empty_sale_run_reports_everything_missing() -> None:
    result = sale_result([], stock=10, sent=100)
    assert (result.completed, result.admitted, result.missing) == (0, 0, 100)
    assert result.requests_per_s is None


def test_ceiling_rate_is_completed_over_first_start_to_last_end() -> None:
    records = [rec(201, i, i + 5, f"c{i}") for i in range(0, 1000, 10)]  # 100 requests, 0..995 ms
    result = ceiling_result(records, sent=100)
    assert result.completed == result.ok == 100
    assert result.requests_per_s == pytest.approx(100 / 0.995)
    assert result.latency.p50_ms == pytest.approx(5)


def test_mean_rate_and_ratio_skip_unknowns() -> None:
    a = ceiling_result([rec(201, 0, 500), rec(201, 0, 1000)], sent=2)  # 2/s
    b = ceiling_result([rec(201, 0, 250), rec(201, 0, 500)], sent=2)  # 4/s
    empty = ceiling_result([], sent=2)
    assert mean_rate([a, b, empty]) == pytest.approx(3.0)
    assert mean_rate([empty]) is None
    assert ratio(1.5, 3.0) == pytest.approx(0.5)
    assert ratio(None, 3.0) is None
    assert ratio(1.0, None) is None
    assert ratio(1.0, 0.0) is None
