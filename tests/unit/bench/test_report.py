"""The flash-sale benchmark's verdict and table: what fails the run, what the reader sees."""

from __future__ import annotations

from bench import scenario
from bench.report import Report, failures, render, render_summary
from bench.results import Record, ceiling_result, sale_result

MS = 1_000_000


def rec(status: int, start_ms: float, end_ms: float, rid: str = "", order_id: str = "") -> Record:
    return Record(status, int(start_ms * MS), int(end_ms * MS), rid, order_id)


def _report(sale_records: list[Record], *, stock: int, remaining: int | None = 0, lost: tuple[str, ...] = ()) -> Report:
    ceiling = ceiling_result([rec(201, 0, i) for i in range(1, 101)], sent=100)  # 100 req in 0.1 s: 1000/s
    return Report(
        settings={"S": stock, "B": len(sale_records), "C": 4},
        ceilings=[("before", ceiling), ("after", ceiling)],
        sale=sale_result(sale_records, stock=stock, sent=len(sale_records)),
        remaining=remaining,
        lost=lost,
        orders_wait_s=60,
    )


def _clean_sale() -> list[Record]:
    # 2 units out by 10 ms (4 responses: 400/s, ratio 0.4); 6 rejections by 16 ms (1000/s, ratio 1.0).
    return [
        rec(201, 0, 5, "a", "o1"),
        rec(409, 0, 6, "b"),
        rec(409, 0, 8, "c"),
        rec(201, 0, 10, "d", "o2"),
        *[rec(409, 10, 11 + i, f"r{i}") for i in range(6)],
    ]


def test_a_clean_run_passes_and_shows_ratios_against_targets() -> None:
    report = _report(_clean_sale(), stock=2)
    assert failures(report) == []
    text = render(report)
    assert "OK: nothing oversold, nothing lost" in text
    while_stock = next(line for line in text.splitlines() if "while stock lasts" in line)
    after = next(line for line in text.splitlines() if "after sold out" in line)
    assert "0.40" in while_stock
    assert "MISSED" in while_stock
    assert "1.00" in after
    assert "met" in after


def test_oversold_fails_the_run() -> None:
    records = [*_clean_sale(), rec(201, 0, 12, "x", "o3")]
    report = _report(records, stock=2)
    assert any(f.startswith("oversold: 3 admitted for 2 units") for f in failures(report))
    assert "FAILED" in render(report)


def test_lost_orders_fail_the_run() -> None:
    report = _report(_clean_sale(), stock=2, lost=("o2",))
    assert failures(report) == ["lost: 1 admissions without an order after 60 s"]


def test_more_remaining_than_the_admissions_left_fails_the_run() -> None:
    report = _report(_clean_sale(), stock=2, remaining=1)
    assert failures(report) == ["stock: 2 admitted + 1 remaining > 2"]


def test_a_sale_that_admitted_nobody_fails_the_run() -> None:
    report = _report([rec(409, 0, 1, "a"), rec(500, 0, 2, "b")], stock=2, remaining=2)
    assert failures(report) == ["nothing was admitted: the sale never sold"]
    assert "500: 1" in render(report)


def test_orders_for_another_buyer_or_amount_fail_the_run() -> None:
    report = _report(_clean_sale(), stock=2)
    report = Report(**{**report.__dict__, "wrong_orders": ("o1",)})
    assert failures(report) == ["wrong orders: 1 for another buyer or amount"]


def test_summary_of_several_runs_gives_median_and_range() -> None:
    fast = _report(_clean_sale(), stock=2)
    slow_records = [
        Record(r.status, r.start_ns, r.start_ns + (r.end_ns - r.start_ns) * 2, r.request_id, r.order_id)
        for r in _clean_sale()
    ]
    slow = _report(slow_records, stock=2)
    text = render_summary([fast, slow, fast])
    row = next(line for line in text.splitlines() if line.strip().startswith("ratio after sold out"))
    assert row.split()[-6:] == ["1.00", "0.50", "1.00", "1.00", "0.50", "1.00"]  # median min max, each run
    assert "runs that oversold or lost anything: 0" in text


def test_the_framework_rows_divide_by_the_bare_apps_rate_and_judge_each_target() -> None:
    report = _report(_clean_sale(), stock=2)
    bare = ceiling_result([rec(200, 0, i / 2) for i in range(1, 101)], sent=100)  # 100 req in 50 ms: 2000/s
    report = Report(**{**report.__dict__, "bare": [("before", bare), ("after", bare)]})
    assert report.echo_over_bare == 0.5
    assert report.sale_over_bare == 0.2
    lines = {line.split("  ")[1].strip(): line for line in render(report).splitlines() if line.startswith("  ")}
    assert "0.50" in lines["own echo ÷ bare Litestar"]
    assert "MISSED" in lines["own echo ÷ bare Litestar"]
    assert "0.20" in lines["sale while stock lasts ÷ bare Litestar"]
    # Sold out after 10 ms: under the 0.3 s target; the admitted p99 (10 ms) under 50 ms.
    assert lines["2 units sold out (s)"].rstrip().endswith("met")
    assert lines["p99 admitted at C=4 (ms)"].rstrip().endswith("met")
    assert "bare Litestar req/s (mean of before/after)" in render_summary([report, report])


def test_without_the_bare_app_no_framework_rows_are_printed() -> None:
    assert "against the framework" not in render(_report(_clean_sale(), stock=2))


def test_the_batch_note_counts_what_the_sale_did_between_two_readings() -> None:
    before = {"written": 7.0, "conflict": 2.0, "locked": 0.0}
    after = {"written": 19.0, "conflict": 5.0, "locked": 1.0}
    assert scenario.batch_note(before, after) == (
        "admission batches (all live instances): 12 written on their snapshot, 3 conflicts (decided again), "
        "1 written under the locks"
    )
    assert scenario.batch_note(None, after) is None
