"""The flash-sale benchmark's printed table and verdict (pure: formatting and rules only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.cpu import MACHINE, others
from bench.results import CeilingResult, Latency, SaleResult, mean_rate, ratio

TARGET_WHILE_STOCK = 0.5
TARGET_AFTER_SOLD_OUT = 0.9
# Issue 14's targets, against the framework itself (a bare Litestar app, same server and load, same run).
TARGET_ECHO_OVER_BARE = 0.6
TARGET_SALE_OVER_ECHO = 0.8
TARGET_SALE_OVER_BARE = 0.5
TARGET_ADMISSIONS_PER_S = 5000.0
TARGET_SOLD_OUT_S = 0.3
TARGET_ADMITTED_P99_MS = 50.0
# Issue 14's feed targets (bench.feed): viewers one live instance holds while the sold-out event reaches the p99
# viewer within TARGET_FEED_P99_MS of its commit, and how fast viewers join.
TARGET_FEED_VIEWERS = 10_000
TARGET_FEED_P99_MS = 1000.0
TARGET_JOINS_PER_S = 2000.0


@dataclass(frozen=True)
class FlashTarget:
    """One of issue 14's flash-sale rows: which figure (`Report.figures()`, `bench.targets.FlashRun`), how it is
    labelled (`{stock}`, `{c}`: the run's S and C), shown, and judged (`< target` when `under`, else `>= target`)."""

    figure: str
    label: str
    digits: int
    target: float
    under: bool = False

    def shown(self) -> str:
        return f"< {self.target:,g}" if self.under else f"≥ {self.target:,g}"

    def verdict(self, value: float | None) -> str:
        return below(value, self.target) if self.under else at_least(value, self.target)


# The per-run table (`render`) and the one `make bench` ends with (`bench.targets`) both print these.
FLASH_TARGETS = (
    FlashTarget("echo_over_bare", "own echo ÷ bare Litestar", 2, TARGET_ECHO_OVER_BARE),
    FlashTarget("sale_over_echo", "sale while stock lasts ÷ own echo", 2, TARGET_SALE_OVER_ECHO),
    FlashTarget("sale_over_bare", "sale while stock lasts ÷ bare Litestar", 2, TARGET_SALE_OVER_BARE),
    FlashTarget("admissions_per_s", "admissions/s", 0, TARGET_ADMISSIONS_PER_S),
    FlashTarget("sold_out_s", "{stock} units sold out (s)", 2, TARGET_SOLD_OUT_S, under=True),
    FlashTarget("admitted_p99_ms", "p99 admitted at C={c} (ms)", 1, TARGET_ADMITTED_P99_MS, under=True),
)


@dataclass(frozen=True)
class Report:
    """Everything one benchmark run measured."""

    settings: dict[str, object]
    ceilings: Sequence[tuple[str, CeilingResult]]
    sale: SaleResult
    remaining: int | None
    lost: Sequence[str]
    orders_wait_s: float
    wrong_orders: Sequence[str] = ()
    notes: list[str] = field(default_factory=list)
    # CPU milliseconds per request (or order) of our processes, from the OS: unlike req/s, barely
    # moved by other load on the machine.
    cpu_ms: list[tuple[str, float]] = field(default_factory=list)
    # Average cores each process used in each phase (bench.cpu.cores_between).
    cpu_cores: list[tuple[str, dict[str, float]]] = field(default_factory=list)
    # The bare Litestar app's POST /echo (bench.bare), before and after, driven like the ceilings.
    bare: Sequence[tuple[str, CeilingResult]] = ()

    @property
    def ceiling_per_s(self) -> float | None:
        """Mean requests/s of the ceiling runs."""
        return mean_rate([c for _, c in self.ceilings])

    @property
    def bare_per_s(self) -> float | None:
        """Mean requests/s of the bare framework's runs."""
        return mean_rate([c for _, c in self.bare])

    @property
    def echo_over_bare(self) -> float | None:
        return ratio(self.ceiling_per_s, self.bare_per_s)

    @property
    def sale_over_bare(self) -> float | None:
        return ratio(self.sale.before_sold_out_per_s, self.bare_per_s)

    @property
    def ratio_all(self) -> float | None:
        return ratio(self.sale.requests_per_s, self.ceiling_per_s)

    @property
    def ratio_while_stock(self) -> float | None:
        return ratio(self.sale.before_sold_out_per_s, self.ceiling_per_s)

    @property
    def ratio_after_sold_out(self) -> float | None:
        return ratio(self.sale.after_sold_out_per_s, self.ceiling_per_s)

    def figures(self) -> dict[str, float | None]:
        """Issue 14's figures of this run, by `FlashTarget.figure`."""
        sale = self.sale
        return {
            "echo_over_bare": self.echo_over_bare,
            "sale_over_echo": self.ratio_while_stock,
            "sale_over_bare": self.sale_over_bare,
            "admissions_per_s": sale.admissions_per_s,
            "sold_out_s": sale.sold_out_after_s,
            "admitted_p99_ms": sale.admitted_latency.p99_ms,
        }


def failures(report: Report) -> list[str]:
    """Correctness rules the run broke; any one makes the benchmark exit non-zero."""
    sale = report.sale
    broken = []
    if sale.oversold:
        broken.append(f"oversold: {sale.admitted} admitted for {sale.stock} units")
    if report.remaining is not None and sale.admitted + report.remaining > sale.stock:
        broken.append(f"stock: {sale.admitted} admitted + {report.remaining} remaining > {sale.stock}")
    if report.lost:
        broken.append(f"lost: {len(report.lost)} admissions without an order after {report.orders_wait_s:.0f} s")
    if report.wrong_orders:
        broken.append(f"wrong orders: {len(report.wrong_orders)} for another buyer or amount")
    if sale.duplicate_order_ids:
        broken.append(f"duplicate order ids: {sale.duplicate_order_ids}")
    if sale.admitted == 0:
        broken.append("nothing was admitted: the sale never sold")
    return broken


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def at_least(value: float | None, target: float) -> str:
    """met when value >= target; n/a when it was not measured."""
    if value is None:
        return "n/a"
    return "met" if value >= target else "MISSED"


def below(value: float | None, target: float) -> str:
    """met when value < target (strictly: a target "under 50 ms" is missed at 50); n/a when not measured."""
    if value is None:
        return "n/a"
    return "met" if value < target else "MISSED"


def _framework_lines(report: Report) -> list[str]:
    """Issue 14's rows: what Liveloop keeps of the bare framework, and the sale's own figures, with their targets."""
    out = ["", f"  {'against the framework (same run)':<40}{'value':>10}{'target':>10}"]
    for label, bare in report.bare:
        out.append(f"  {'bare Litestar POST /echo ' + label + ' (req/s)':<40}{_num(bare.requests_per_s):>10}")
    figures = report.figures()
    for t in FLASH_TARGETS:
        label = t.label.format(stock=f"{report.sale.stock:,}", c=report.settings.get("C", "?"))
        value = figures[t.figure]
        out.append(f"  {label:<40}{_num(value, t.digits):>10}{t.shown():>10}  {t.verdict(value)}")
    return out


def _latency_row(label: str, lat: Latency) -> str:
    return f"  {label:<34}{lat.count:>8}{_num(lat.p50_ms, 1):>10}{_num(lat.p99_ms, 1):>10}"


def _cpu_lines(report: Report) -> list[str]:
    out: list[str] = []
    if report.cpu_cores:
        names = [n for n in ("live", "shop", "orders", "postgres", "wrk") if any(n in c for _, c in report.cpu_cores)]
        header = "".join(f"{n:>9}" for n in [*names, "other", "machine"])
        out += ["", f"  {'CPU, cores busy':<34}{header}"]
        for label, cores in report.cpu_cores:
            row = "".join(f"{_num(cores.get(n), 2):>9}" for n in names)
            row += f"{_num(others(cores), 2):>9}{_num(cores.get(MACHINE), 2):>9}"
            out.append(f"  {label:<34}{row}")
        out.append("  (other: everything else on the machine, e.g. other users' processes)")
    if report.cpu_ms:
        out += ["", "  CPU per request (ms)"]
        out += [f"  {label:<48}{value:>8.2f}" for label, value in report.cpu_ms]
    return out


def render(report: Report) -> str:
    """The table the runner prints (and docs/PERFORMANCE.md quotes)."""
    sale = report.sale
    settings = "  ".join(f"{k}={v}" for k, v in report.settings.items())
    out = [f"Flash-sale benchmark  {settings}", ""]
    out.append(f"  {'throughput':<34}{'req/s':>10}{'ratio':>8}{'target':>10}")
    for label, ceiling in report.ceilings:
        out.append(f"  {'ceiling POST /echo ' + label:<34}{_num(ceiling.requests_per_s):>10}")
    out.append(f"  {'ceiling (mean)':<34}{_num(report.ceiling_per_s):>10}")
    out.append(f"  {'sale, all requests':<34}{_num(sale.requests_per_s):>10}{_num(report.ratio_all, 2):>8}")
    window = f" ({_num(sale.sold_out_after_s, 2)} s)" if sale.sold_out_after_s is not None else ""
    out.append(
        f"  {'sale, while stock lasts' + window:<34}{_num(sale.before_sold_out_per_s):>10}"
        f"{_num(report.ratio_while_stock, 2):>8}{'>= ' + str(TARGET_WHILE_STOCK):>10}  "
        f"{at_least(report.ratio_while_stock, TARGET_WHILE_STOCK)}"
    )
    out.append(
        f"  {'sale, after sold out':<34}{_num(sale.after_sold_out_per_s):>10}"
        f"{_num(report.ratio_after_sold_out, 2):>8}{'>= ' + str(TARGET_AFTER_SOLD_OUT):>10}  "
        f"{at_least(report.ratio_after_sold_out, TARGET_AFTER_SOLD_OUT)}"
    )
    out.append(f"  {'admissions/s':<34}{_num(sale.admissions_per_s):>10}")
    if report.bare:
        out += _framework_lines(report)
    out += ["", f"  {'latency (ms)':<34}{'count':>8}{'p50':>10}{'p99':>10}"]
    out.append(_latency_row("admitted (201)", sale.admitted_latency))
    out.append(_latency_row("rejected (409)", sale.rejected_latency))
    for label, ceiling in report.ceilings:
        out.append(_latency_row(f"ceiling {label}", ceiling.latency))
    out += _cpu_lines(report)
    out += ["", "  correctness"]
    out.append(f"  {'admitted':<34}{sale.admitted:>8}  of {sale.stock} units, {sale.sent} buyers")
    out.append(f"  {'oversold (admitted - S)':<34}{sale.admitted - sale.stock:>8}  must be 0")
    remaining = "-" if report.remaining is None else str(report.remaining)
    out.append(f"  {'remaining (GET sale)':<34}{remaining:>8}  admitted + remaining must be S")
    polled = f"must be 0 (orders polled up to {report.orders_wait_s:.0f} s)"
    out.append(f"  {'lost (admitted, no order)':<34}{len(report.lost):>8}  {polled}")
    out.append(f"  {'wrong orders (buyer or amount)':<34}{len(report.wrong_orders):>8}  must be 0")
    errors = ", ".join(f"{status}: {n}" for status, n in sorted(sale.errors.items())) or "none"
    out.append(f"  {'errors (not 201/409)':<34}{sum(sale.errors.values()):>8}  {errors}")
    out += [f"  {'':<34}{'':>8}  first {status}: {body}" for status, body in sorted(sale.error_samples.items()) if body]
    out.append(f"  {'unanswered requests':<34}{sale.missing:>8}")
    out += [f"  note: {note}" for note in report.notes]
    broken = failures(report)
    out += ["", "  FAILED: " + "; ".join(broken) if broken else "  OK: nothing oversold, nothing lost"]
    return "\n".join(out)


def median(values: Sequence[float | None]) -> float | None:
    """Median of the measured values (None left out); None when there are none."""
    known = sorted(v for v in values if v is not None)
    if not known:
        return None
    mid = len(known) // 2
    return known[mid] if len(known) % 2 else (known[mid - 1] + known[mid]) / 2


def render_summary(reports: Sequence[Report]) -> str:
    """Median and range over several runs of the same benchmark."""
    rows: list[tuple[str, list[float | None], int]] = [
        ("bare Litestar req/s (mean of before/after)", [r.bare_per_s for r in reports], 0),
        ("ceiling req/s (mean of before/after)", [r.ceiling_per_s for r in reports], 0),
        (f"own echo / bare (>= {TARGET_ECHO_OVER_BARE})", [r.echo_over_bare for r in reports], 2),
        (f"sale while stock / bare (>= {TARGET_SALE_OVER_BARE})", [r.sale_over_bare for r in reports], 2),
        (f"sold out after s (< {TARGET_SOLD_OUT_S})", [r.sale.sold_out_after_s for r in reports], 2),
        ("sale req/s, all requests", [r.sale.requests_per_s for r in reports], 0),
        ("ratio, all requests", [r.ratio_all for r in reports], 2),
        (f"ratio while stock lasts (>= {TARGET_WHILE_STOCK})", [r.ratio_while_stock for r in reports], 2),
        (f"ratio after sold out (>= {TARGET_AFTER_SOLD_OUT})", [r.ratio_after_sold_out for r in reports], 2),
        ("admissions/s", [r.sale.admissions_per_s for r in reports], 0),
        ("admitted p99 (ms)", [r.sale.admitted_latency.p99_ms for r in reports], 1),
        ("rejected p99 (ms)", [r.sale.rejected_latency.p99_ms for r in reports], 1),
    ]
    out = [f"Summary of {len(reports)} runs", f"  {'':<40}{'median':>10}{'min':>10}{'max':>10}   each run"]
    for label, values, digits in rows:
        known = [v for v in values if v is not None]
        lo, hi = (min(known), max(known)) if known else (None, None)
        each = " ".join(_num(v, digits) for v in values)
        out.append(
            f"  {label:<40}{_num(median(values), digits):>10}{_num(lo, digits):>10}{_num(hi, digits):>10}   {each}"
        )
    broken = sum(1 for r in reports if failures(r))
    out.append(f"  runs that oversold or lost anything: {broken}")
    return "\n".join(out)
