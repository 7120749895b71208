"""The flash-sale benchmark's arithmetic: pure functions over per-request records, no I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

NS_PER_S = 1_000_000_000
ADMITTED = 201
REJECTED = 409


@dataclass(frozen=True)
class Record:
    """One request as the load tool saw it: status, monotonic start/end (ns), ids."""

    status: int
    start_ns: int | None
    end_ns: int
    request_id: str
    order_id: str = ""
    detail: str = ""  # start of the body of an error answer (not 201/409)

    @property
    def latency_ms(self) -> float | None:
        """Time from writing the request to reading its response, or None if unmatched."""
        if self.start_ns is None:
            return None
        return (self.end_ns - self.start_ns) / 1e6


def parse_records(lines: Iterable[str]) -> list[Record]:
    """Records from the wrk script's TSV lines (status, start_ns, end_ns, request_id, order_id, detail)."""
    records = []
    for line in lines:
        fields = line.rstrip("\n").split("\t")
        if len(fields) < 4 or not fields[0].isdigit():
            continue  # a line cut short by a time-bounded stop
        start = int(fields[1]) if fields[1] else None
        order_id = fields[4] if len(fields) > 4 else ""
        detail = fields[5] if len(fields) > 5 else ""
        records.append(Record(int(fields[0]), start, int(fields[2]), fields[3], order_id, detail))
    return records


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of values; None when there are none."""
    if not values:
        return None
    if not 0 <= p <= 100:
        raise ValueError("p must be between 0 and 100")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Latency:
    """p50/p99 of a set of requests, in milliseconds."""

    count: int
    p50_ms: float | None
    p99_ms: float | None


def latency_of(records: Iterable[Record]) -> Latency:
    """p50/p99 over the records whose start is known."""
    values = [r.latency_ms for r in records if r.latency_ms is not None]
    return Latency(len(values), percentile(values, 50), percentile(values, 99))


def _rate(count: int, start_ns: int, end_ns: int) -> float | None:
    """count per second over [start, end], or None for an empty window."""
    if end_ns <= start_ns:
        return None
    return count * NS_PER_S / (end_ns - start_ns)


def _span(records: Sequence[Record]) -> tuple[int, int]:
    """(first request's start, last response's end); starts unknown fall back to ends."""
    starts = [r.start_ns if r.start_ns is not None else r.end_ns for r in records]
    return min(starts), max(r.end_ns for r in records)


@dataclass(frozen=True)
class CeilingResult:
    """The trivial endpoint, driven exactly like the sale."""

    sent: int
    completed: int
    ok: int
    duration_s: float
    requests_per_s: float | None
    latency: Latency
    first_ns: int = 0
    last_ns: int = 0


def ceiling_result(records: Sequence[Record], sent: int) -> CeilingResult:
    """Throughput and latency of one ceiling run (2xx count as ok)."""
    if not records:
        return CeilingResult(sent, 0, 0, 0.0, None, Latency(0, None, None))
    first, last = _span(records)
    return CeilingResult(
        sent=sent,
        completed=len(records),
        ok=sum(1 for r in records if 200 <= r.status < 300),
        duration_s=(last - first) / NS_PER_S,
        requests_per_s=_rate(len(records), first, last),
        latency=latency_of(records),
        first_ns=first,
        last_ns=last,
    )


def mean_rate(runs: Sequence[CeilingResult]) -> float | None:
    """Mean requests/s of the ceiling runs that measured one."""
    rates = [r.requests_per_s for r in runs if r.requests_per_s is not None]
    return sum(rates) / len(rates) if rates else None


@dataclass(frozen=True)
class SaleResult:
    """What the sale run did, split at the moment the last unit was handed out."""

    stock: int
    sent: int
    completed: int
    admitted: int
    rejected: int
    errors: dict[int, int]  # status -> count, for everything neither 201 nor 409
    error_samples: dict[int, str]  # status -> the first such answer's body (start)
    missing: int  # sent but never answered (socket errors, time bound)
    duration_s: float
    sold_out: bool
    sold_out_after_s: float | None  # first request -> last admission's response
    admissions_per_s: float | None
    requests_per_s: float | None
    before_sold_out_per_s: float | None  # responses completed up to the last admission
    after_sold_out_per_s: float | None  # responses completed after it
    admitted_latency: Latency
    rejected_latency: Latency
    order_ids: tuple[str, ...]
    duplicate_order_ids: int
    # CLOCK_MONOTONIC instants (ns): first request written, last admission read, last response read.
    first_ns: int = 0
    sold_out_ns: int | None = None
    last_ns: int = 0

    @property
    def oversold(self) -> int:
        """Units admitted beyond the stock (must be 0)."""
        return max(0, self.admitted - self.stock)


def sale_result(records: Sequence[Record], *, stock: int, sent: int) -> SaleResult:
    """Classify the sale's responses and compute rates before and after the sell-out."""
    admitted = [r for r in records if r.status == ADMITTED]
    rejected = [r for r in records if r.status == REJECTED]
    errors: dict[int, int] = {}
    samples: dict[int, str] = {}
    for r in records:
        if r.status not in (ADMITTED, REJECTED):
            errors[r.status] = errors.get(r.status, 0) + 1
            samples.setdefault(r.status, r.detail)
    order_ids = tuple(r.order_id for r in admitted)
    empty = Latency(0, None, None)
    if not records:
        return SaleResult(
            stock, sent, 0, 0, 0, errors, samples, sent, 0.0, False, None, None, None, None, None, empty, empty, (), 0
        )
    first, last = _span(records)
    sold_out = len(admitted) >= stock
    # The sell-out moment as a client sees it: the last admission's response.
    cut = max(r.end_ns for r in admitted) if sold_out and admitted else last
    before = sum(1 for r in records if r.end_ns <= cut)
    return SaleResult(
        stock=stock,
        sent=sent,
        completed=len(records),
        admitted=len(admitted),
        rejected=len(rejected),
        errors=errors,
        error_samples=samples,
        missing=max(0, sent - len(records)),
        duration_s=(last - first) / NS_PER_S,
        sold_out=sold_out,
        sold_out_after_s=(cut - first) / NS_PER_S if sold_out else None,
        admissions_per_s=_rate(len(admitted), first, cut) if admitted else None,
        requests_per_s=_rate(len(records), first, last),
        before_sold_out_per_s=_rate(before, first, cut),
        after_sold_out_per_s=_rate(len(records) - before, cut, last) if sold_out else None,
        admitted_latency=latency_of(admitted),
        rejected_latency=latency_of(rejected),
        order_ids=order_ids,
        duplicate_order_ids=len(order_ids) - len(set(order_ids)),
        first_ns=first,
        sold_out_ns=cut if sold_out else None,
        last_ns=last,
    )


def ratio(rate: float | None, ceiling: float | None) -> float | None:
    """rate ÷ ceiling, or None when either is unknown."""
    if rate is None or not ceiling:
        return None
    return rate / ceiling
