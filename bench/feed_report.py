"""The feed benchmark's arithmetic and table (pure: records in, figures and text out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bench.cpu import MACHINE, others
from bench.feed_viewers import ViewerRecord
from bench.results import NS_PER_S, percentile

MS = 1_000_000  # ns
ADMITTED = 201


@dataclass(frozen=True)
class Purchase:
    """One buyer's purchase as the buyer saw it (monotonic ns)."""

    status: int
    start_ns: int
    end_ns: int
    problem: str = ""  # the problem type of a refusal (`sold-out`, ...)


@dataclass(frozen=True)
class Spread:
    """Milliseconds over a set of viewers: the first, p50, p99 and the last."""

    count: int
    first_ms: float | None
    p50_ms: float | None
    p99_ms: float | None
    last_ms: float | None


def spread(values_ns: Sequence[int]) -> Spread:
    """Nearest-rank p50/p99 and the extremes of durations given in ns."""
    ms = [v / MS for v in values_ns]
    if not ms:
        return Spread(0, None, None, None, None)
    return Spread(len(ms), min(ms), percentile(ms, 50), percentile(ms, 99), max(ms))


def rate(count: int, start_ns: int | None, end_ns: int | None) -> float | None:
    """count per second over [start, end]; None for an empty or unknown window."""
    if start_ns is None or end_ns is None or end_ns <= start_ns:
        return None
    return count * NS_PER_S / (end_ns - start_ns)


def wall_to_monotonic_ns(wall_ns: int, offset_ns: int) -> int:
    """A CLOCK_REALTIME instant on the CLOCK_MONOTONIC scale, given offset = time_ns() - monotonic_ns() (same host)."""
    return wall_ns - offset_ns


@dataclass(frozen=True)
class Memory:
    """Live's resident memory (bytes) around one size's viewers."""

    before: int
    joined: int
    after: int | None = None  # after every viewer disconnected and live went quiet

    def per_viewer_kb(self, viewers: int) -> float | None:
        return (self.joined - self.before) / viewers / 1024 if viewers else None

    @property
    def returned(self) -> float | None:
        """Share of what the viewers took that came back after they left (0..1; negative = grew further)."""
        grown = self.joined - self.before
        if self.after is None or grown <= 0:
            return None
        return (self.joined - self.after) / grown


@dataclass(frozen=True)
class FeedRun:
    """What one size measured (raw), from the viewer processes, the buyers, live's outbox and the OS."""

    viewers: int
    records: Sequence[ViewerRecord]
    purchases: Sequence[Purchase]
    stock: int
    sold_out_ns: int | None = None  # the sale.sold_out event's occurred_at (live's clock, set in the sell-out's
    # transaction just before its commit), on the monotonic scale
    relay_ns: int | None = None  # when live's relay began the sweep that published it (outbox published_at)
    memory: Memory | None = None
    open_after: int | None = None  # live's established connections on its port once the viewers left
    quiet_after_s: float | None = None  # how long live took to go quiet after they left
    # Cores each process used per phase (bench.cpu.cores_between), and live's CPU seconds per phase.
    cores: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    live_cpu_s: Mapping[str, float] = field(default_factory=dict)
    nofile: Mapping[str, int] = field(default_factory=dict)  # open-file limits: live's, the viewers'


@dataclass(frozen=True)
class FeedResult:
    """The figures of one size."""

    run: FeedRun
    connected: int
    failed: int
    missed: int  # viewers without the sold-out event
    errors: Mapping[str, int]  # failure reasons, counted
    join_s: float | None  # first connect attempt to the last first event
    joins_per_s: float | None
    first_event: Spread  # connect attempt -> `state`, per viewer
    admitted: int
    last_admitted_ns: int | None  # the last 201 as its buyer saw it
    sold_out_after_s: float | None  # first purchase sent -> sold-out event (occurred_at)
    from_commit: Spread  # sold-out occurred_at -> each viewer's receipt
    from_last_201: Spread  # last 201 seen by its buyer -> each viewer's receipt
    relay_ms: float | None  # occurred_at -> the relay's sweep that published it
    changes_min: int
    changes_max: int
    deliveries: int  # events after `state`, all viewers
    delivery_s: float | None  # first change seen by any viewer -> last sold-out seen
    events_per_s: float | None
    bytes_in: int


def _first_error_kind(error: str) -> str:
    return error.split(":", 1)[0][:60]


def summarize(run: FeedRun) -> FeedResult:
    """The figures of one size from its raw measurements."""
    records = run.records
    connected = [r for r in records if r.state_ns]
    errors: dict[str, int] = {}
    for r in records:
        if r.error:
            kind = _first_error_kind(r.error)
            errors[kind] = errors.get(kind, 0) + 1
    started = [r.started_ns for r in records if r.started_ns]
    first_attempt = min(started) if started else None
    last_state = max((r.state_ns for r in connected), default=None)
    join_ns = last_state - first_attempt if first_attempt is not None and last_state is not None else None
    received = [r.sold_out_ns for r in records if r.sold_out_ns]
    admitted = [p for p in run.purchases if p.status == ADMITTED]
    last_admitted = max((p.end_ns for p in admitted), default=None)
    first_purchase = min((p.start_ns for p in run.purchases), default=None)
    first_change = min((r.first_change_ns for r in records if r.first_change_ns), default=None)
    last_received = max(received, default=None)
    deliveries = sum(r.changes for r in records)
    changes = [r.changes for r in connected] or [0]
    sold_out_after = (
        (run.sold_out_ns - first_purchase) / NS_PER_S
        if run.sold_out_ns is not None and first_purchase is not None
        else None
    )
    return FeedResult(
        run=run,
        connected=len(connected),
        failed=sum(1 for r in records if r.error) + max(0, run.viewers - len(records)),
        missed=run.viewers - len(received),
        errors=errors,
        join_s=join_ns / NS_PER_S if join_ns is not None else None,
        joins_per_s=rate(len(connected), first_attempt, last_state),
        first_event=spread([r.state_ns - r.started_ns for r in connected]),
        admitted=len(admitted),
        last_admitted_ns=last_admitted,
        sold_out_after_s=sold_out_after,
        from_commit=spread([t - run.sold_out_ns for t in received]) if run.sold_out_ns is not None else spread([]),
        from_last_201=spread([t - last_admitted for t in received]) if last_admitted is not None else spread([]),
        relay_ms=(run.relay_ns - run.sold_out_ns) / MS
        if run.relay_ns is not None and run.sold_out_ns is not None
        else None,
        changes_min=min(changes),
        changes_max=max(changes),
        deliveries=deliveries,
        delivery_s=(last_received - first_change) / NS_PER_S
        if last_received is not None and first_change is not None and last_received > first_change
        else None,
        events_per_s=rate(deliveries, first_change, last_received),
        bytes_in=sum(r.bytes_in for r in records),
    )


def failures(result: FeedResult) -> list[str]:
    """What makes the run exit 1: a viewer that failed to connect or stay, or missed the sold-out event."""
    broken = []
    if result.failed:
        reasons = ", ".join(f"{n} {kind}" for kind, n in sorted(result.errors.items(), key=lambda kv: -kv[1]))
        broken.append(f"{result.run.viewers} viewers: {result.failed} failed ({reasons or 'never started'})")
    if result.missed:
        broken.append(f"{result.run.viewers} viewers: {result.missed} missed the sold-out event")
    if result.admitted != result.run.stock:
        broken.append(f"{result.run.viewers} viewers: {result.admitted} admitted of {result.run.stock} units")
    return broken


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ms(s: Spread, attr: str) -> str:
    return _num(getattr(s, attr), 1)


def _cpu_ms_per(result: FeedResult, phase: str, count: int) -> float | None:
    used = result.run.live_cpu_s.get(phase)
    return used * 1000 / count if used is not None and count else None


def _cpu_us_per(result: FeedResult, phase: str, count: int) -> float | None:
    used = result.run.live_cpu_s.get(phase)
    return used * 1e6 / count if used is not None and count else None


PHASES = (("join", "joining"), ("sale", "sale and fan-out"), ("fanout", "sold-out -> last viewer"))


def render(results: Sequence[FeedResult], settings: Mapping[str, object]) -> str:
    """The table the runner prints: one column per size."""
    head = "  ".join(f"{k}={v}" for k, v in settings.items())
    width = 11
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, values: list[str]) -> None:
        rows.append((label, values))

    def mb(value: int | None) -> str:
        return _num(value / 2**20, 1) if value is not None else "-"

    row("viewers", [f"{r.run.viewers:,}" for r in results])
    row("connected", [f"{r.connected:,}" for r in results])
    row("failed connections", [f"{r.failed:,}" for r in results])
    row("missed sale.sold_out", [f"{r.missed:,}" for r in results])
    rows.append(("", []))
    row("joining (s)", [_num(r.join_s, 2) for r in results])
    row("viewers joined per s", [_num(r.joins_per_s) for r in results])
    row("first event p50 (ms)", [_ms(r.first_event, "p50_ms") for r in results])
    row("first event p99 (ms)", [_ms(r.first_event, "p99_ms") for r in results])
    row("live CPU per join (ms)", [_num(_cpu_ms_per(r, "join", r.connected), 2) for r in results])
    rows.append(("", []))
    row("live RSS before (MB)", [mb(r.run.memory.before if r.run.memory else None) for r in results])
    row("live RSS all joined (MB)", [mb(r.run.memory.joined if r.run.memory else None) for r in results])
    row("KB per viewer", [_num(r.run.memory.per_viewer_kb(r.connected), 1) if r.run.memory else "-" for r in results])
    row("live RSS after they left (MB)", [mb(r.run.memory.after if r.run.memory else None) for r in results])
    returned = [r.run.memory.returned if r.run.memory else None for r in results]
    row("returned to the OS", [f"{v:.0%}" if v is not None else "-" for v in returned])
    row("live went quiet after (s)", [_num(r.run.quiet_after_s, 1) for r in results])
    row("live connections left", [_num(r.run.open_after) for r in results])
    for name in ("live", "viewers"):
        row(f"open-file limit, {name}", [_num(r.run.nofile.get(name)) for r in results])
    rows.append(("", []))
    row("units admitted", [f"{r.admitted}/{r.run.stock}" for r in results])
    row("sold out after (s)", [_num(r.sold_out_after_s, 2) for r in results])
    row("feed events per viewer", [f"{r.changes_min}-{r.changes_max}" if r.changes_min != r.changes_max
                                   else str(r.changes_min) for r in results])  # fmt: skip
    row("deliveries (all viewers)", [f"{r.deliveries:,}" for r in results])
    row("events/s delivered", [_num(r.events_per_s) for r in results])
    row("live CPU per delivery, buying incl. (us)", [_num(_cpu_us_per(r, "sale", r.deliveries), 1) for r in results])
    rows.append(("", []))
    row("sold_out: relay picked up (ms)", [_num(r.relay_ms, 1) for r in results])
    for attr, label in (("first_ms", "first"), ("p50_ms", "p50"), ("p99_ms", "p99"), ("last_ms", "last")):
        row(f"sold_out commit -> {label} viewer (ms)", [_ms(r.from_commit, attr) for r in results])
    for attr, label in (("p50_ms", "p50"), ("last_ms", "last")):
        row(f"sold_out last 201 -> {label} (ms)", [_ms(r.from_last_201, attr) for r in results])
    names = ("live", "viewers", "bench", "postgres", "shop", "orders")
    for phase, label in PHASES:
        present = [r for r in results if phase in r.run.cores]
        if not present:
            continue
        rows.append(("", []))
        for name in (*names, "other", MACHINE):
            values = []
            for r in results:
                cores = r.run.cores.get(phase)
                if not cores:
                    values.append("-")
                elif name == "other":
                    values.append(_num(others(cores), 2))
                else:
                    values.append(_num(cores.get(name), 2))
            if any(v not in ("-", "0.00") for v in values) or name in ("live", "other", MACHINE):
                row(f"cores, {label}: {name}", values)
    label_width = max(len(label) for label, _ in rows) + 2
    out = [f"Feed fan-out benchmark  {head}", ""]
    for label, values in rows:
        out.append(f"  {label:<{label_width}}" + "".join(f"{v:>{width}}" for v in values) if label else "")
    out.append("")
    out.append("  commit = the sale.sold_out event's occurred_at, stamped in live's sell-out transaction just before")
    out.append("  its commit (CLOCK_REALTIME, put on CLOCK_MONOTONIC with this process's offset); receive times are")
    out.append("  time.monotonic_ns() in the viewer process; bench = this process (the buyers during the sale, the CPU")
    out.append("  meter); other = everything else on the machine, the kernel's loopback TCP work in softirq included.")
    return "\n".join(out)
