"""Issue 14's targets table: every figure `make bench` measures against its target, from the benchmarks' summaries.

    python -m bench.targets FLASH.json FEED.json

`python -m bench.flash_sale --summary FLASH.json` and `python -m bench.feed --summary FEED.json` write the summaries
(JSON): just the figures this table needs, each run's settings and how busy the rest of the machine was ("other" cores
per phase, bench.cpu.others), and what broke the run's correctness checks. They are written whenever the benchmark ran,
failed checks included, and not when it could not run at all. The benchmarks print their own, longer tables and own
the exit codes for correctness; this prints one row per target from both runs so that `make bench` ends with the whole
table. A summary that is not there shows as "not run"; one that cannot be read or decoded exits 2, else 0.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import msgspec

from bench.cpu import others
from bench.feed_report import FeedResult
from bench.feed_report import failures as feed_failures
from bench.report import (
    FLASH_TARGETS,
    TARGET_FEED_P99_MS,
    TARGET_FEED_VIEWERS,
    TARGET_JOINS_PER_S,
    Report,
    at_least,
    below,
    median,
)
from bench.report import failures as flash_failures

NOT_RUN = "not run"

# --- the summaries ---------------------------------------------------------------------------------------------


class FlashRun(msgspec.Struct, frozen=True, kw_only=True):
    """One flash-sale run's figures that issue 14 sets targets for (from bench.report.Report)."""

    echo_over_bare: float | None
    sale_over_echo: float | None  # while stock lasts
    sale_over_bare: float | None  # while stock lasts
    admissions_per_s: float | None
    sold_out_s: float | None
    admitted_p99_ms: float | None
    oversold: int
    lost: int  # admissions without an order
    wrong: int  # orders for another buyer or amount
    failures: list[str] = []
    other_cores: dict[str, float] = {}  # phase -> cores busy outside the benchmark


class FlashSummary(msgspec.Struct, frozen=True, kw_only=True, tag="flash_sale"):
    """What `bench.flash_sale --summary` writes: every run's figures, in order (one unless --repeat)."""

    finished_at: datetime
    settings: dict[str, object]
    stock: int
    concurrency: int | None
    runs: list[FlashRun]


class FeedSize(msgspec.Struct, frozen=True, kw_only=True):
    """One viewer count's figures from the feed benchmark (from bench.feed_report.FeedResult)."""

    viewers: int
    connected: int
    failed: int
    missed: int  # viewers without the sale.sold_out event
    joins_per_s: float | None
    sold_out_p99_ms: float | None  # sold_out commit -> p99 viewer
    admitted: int
    stock: int
    failures: list[str] = []
    other_cores: dict[str, float] = {}


class FeedSummary(msgspec.Struct, frozen=True, kw_only=True, tag="feed"):
    """What `bench.feed --summary` writes: one entry per viewer count, in the order they ran."""

    finished_at: datetime
    settings: dict[str, object]
    sizes: list[FeedSize]


def _other_cores(phases: Iterable[tuple[str, Mapping[str, float]]]) -> dict[str, float]:
    return {label: round(other, 3) for label, cores in phases if (other := others(cores)) is not None}


def flash_run(report: Report) -> FlashRun:
    """The summary's figures of one flash-sale run."""
    sale = report.sale
    return FlashRun(
        **report.figures(),
        oversold=sale.oversold,
        lost=len(report.lost),
        wrong=len(report.wrong_orders),
        failures=flash_failures(report),
        other_cores=_other_cores(report.cpu_cores),
    )


def flash_summary(reports: Sequence[Report], finished_at: datetime | None = None) -> FlashSummary:
    """The summary of one `bench.flash_sale` invocation (its runs share the settings)."""
    first = reports[0]
    concurrency = first.settings.get("C")
    return FlashSummary(
        finished_at=finished_at or datetime.now(UTC),
        settings=dict(first.settings),
        stock=first.sale.stock,
        concurrency=concurrency if isinstance(concurrency, int) else None,
        runs=[flash_run(report) for report in reports],
    )


def feed_size(result: FeedResult) -> FeedSize:
    """The summary's figures of one viewer count."""
    return FeedSize(
        viewers=result.run.viewers,
        connected=result.connected,
        failed=result.failed,
        missed=result.missed,
        joins_per_s=result.joins_per_s,
        sold_out_p99_ms=result.from_commit.p99_ms,
        admitted=result.admitted,
        stock=result.run.stock,
        failures=feed_failures(result),
        other_cores=_other_cores(result.run.cores.items()),
    )


def feed_summary(
    results: Sequence[FeedResult], settings: Mapping[str, object], finished_at: datetime | None = None
) -> FeedSummary:
    """The summary of one `bench.feed` invocation."""
    return FeedSummary(
        finished_at=finished_at or datetime.now(UTC),
        settings=dict(settings),
        sizes=[feed_size(result) for result in results],
    )


# --- files -----------------------------------------------------------------------------------------------------

Summary = TypeVar("Summary", FlashSummary, FeedSummary)


class SummaryError(Exception):
    """A summary file that is there but cannot be read or decoded."""


def write(path: Path, summary: FlashSummary | FeedSummary) -> None:
    """Write the summary as JSON, whole or not at all: an interrupted run leaves no half file to misread."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(msgspec.json.format(msgspec.json.encode(summary), indent=2) + b"\n")
    partial.replace(path)


def read(path: Path, kind: type[Summary]) -> Summary | None:
    """The summary in `path`; None when there is no such file (its benchmark did not run)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SummaryError(f"{path}: {exc.strerror or exc}") from exc
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.DecodeError as exc:  # malformed JSON, or the other benchmark's summary (its tag differs)
        raise SummaryError(f"{path}: not a {kind.__name__}: {exc}") from exc


# --- the table -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One target: what was measured, what issue 14 asks, and whether it was met."""

    label: str
    value: str
    target: str
    verdict: str  # met, MISSED, n/a (not measured in a run that ran), not run


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _judged(label: str, value: float | None, digits: int, target: float, *, under: bool, absent: str | None) -> Row:
    """A row for a figure against `>= target` (or `< target` when under); absent says why there is no run."""
    shown = f"< {target:,g}" if under else f"≥ {target:,g}"
    if absent is not None:
        return Row(label, "-", shown, absent)
    return Row(label, _num(value, digits), shown, below(value, target) if under else at_least(value, target))


def _flash_rows(flash: FlashSummary | None, absent: str) -> list[Row]:
    """With --repeat, each figure is the median over the runs (as bench.report.render_summary shows it)."""
    runs = flash.runs if flash is not None else []
    stock = f"{flash.stock:,}" if flash is not None else "S"
    c = flash.concurrency if flash is not None and flash.concurrency is not None else "C"
    gone = absent if flash is None else None
    return [
        _judged(
            t.label.format(stock=stock, c=c),
            median([getattr(run, t.figure) for run in runs]),
            t.digits,
            t.target,
            under=t.under,
            absent=gone,
        )
        for t in FLASH_TARGETS
    ]


def qualifying(sizes: Sequence[FeedSize]) -> FeedSize | None:
    """The largest viewer count with no failed viewer, none that missed sold_out, and its p99 under the target."""
    fine = [
        s
        for s in sizes
        if s.failed == 0 and s.missed == 0 and s.sold_out_p99_ms is not None and s.sold_out_p99_ms < TARGET_FEED_P99_MS
    ]
    return max(fine, key=lambda s: s.viewers, default=None)


def _feed_rows(feed: FeedSummary | None, absent: str) -> list[Row]:
    viewers_label = f"SSE viewers per live instance, sold_out p99 < {TARGET_FEED_P99_MS / 1000:g} s"
    viewers_target = f"≥ {TARGET_FEED_VIEWERS:,}"
    joins_label = "viewers connecting per second"
    if feed is None or not feed.sizes:
        why = absent if feed is None else "n/a"
        return [Row(viewers_label, "-", viewers_target, why), Row(joins_label, "-", f"≥ {TARGET_JOINS_PER_S:,g}", why)]
    best = qualifying(feed.sizes)
    if best is None:
        viewers = Row(viewers_label, "none qualified", viewers_target, "MISSED")
    else:
        met = "met" if best.viewers >= TARGET_FEED_VIEWERS else "MISSED"
        viewers = Row(viewers_label, f"{best.viewers:,} (p99 {_num(best.sold_out_p99_ms, 1)} ms)", viewers_target, met)
    # Joining gets slower as the room fills: the largest count run is the one the target is about.
    largest = max(feed.sizes, key=lambda s: s.viewers)
    joins = _judged(joins_label, largest.joins_per_s, 0, TARGET_JOINS_PER_S, under=False, absent=None)
    if largest.joins_per_s is not None:
        joins = Row(joins.label, f"{joins.value} at {largest.viewers:,}", joins.target, joins.verdict)
    return [viewers, joins]


def _correctness_row(flash: FlashSummary | None, feed: FeedSummary | None, flash_absent: str, feed_absent: str) -> Row:
    """Added up over every flash-sale run; `lost` adds the feed's viewers that never got sale.sold_out."""
    runs = flash.runs if flash is not None else []
    oversold = sum(r.oversold for r in runs) if flash is not None else None
    wrong = sum(r.wrong for r in runs) if flash is not None else None
    missed = sum(s.missed for s in feed.sizes) if feed is not None else None
    lost = None if flash is None and feed is None else sum(r.lost for r in runs) + (missed or 0)
    counts = (oversold, lost, wrong)
    value = "-" if flash is None and feed is None else " / ".join("-" if n is None else f"{n:,}" for n in counts)
    if any(counts):
        verdict = "MISSED"  # whatever did not run, something that did broke a rule
    elif flash is None and feed is None:
        verdict = flash_absent
    elif flash is None:
        verdict = f"{flash_absent} (flash sale)"
    elif feed is None:
        verdict = f"{feed_absent} (feed)"
    else:
        verdict = "met"
    return Row("oversold / lost* / wrong orders", value, "0 / 0 / 0", verdict)


def rows(
    flash: FlashSummary | None, feed: FeedSummary | None, flash_absent: str = NOT_RUN, feed_absent: str = NOT_RUN
) -> list[Row]:
    """Every target, in issue 14's order; the absent strings say why a summary is missing."""
    return [
        *_flash_rows(flash, flash_absent),
        *_feed_rows(feed, feed_absent),
        _correctness_row(flash, feed, flash_absent, feed_absent),
    ]


def _context(name: str, summary: FlashSummary | FeedSummary | None, other: Mapping[str, float]) -> str:
    """The run's settings, and the most cores anything outside it took in one phase (a busy machine shows here)."""
    if summary is None:
        return f"  {name}: no summary"
    settings = "  ".join(f"{k}={v}" for k, v in summary.settings.items())
    line = f"  {name}: finished {summary.finished_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC  {settings}"
    if other:
        phase, cores = max(other.items(), key=lambda kv: kv[1])
        line += f"  (busiest 'other': {cores:.2f} cores, {phase})"
    return line


def _flash_notes(flash: FlashSummary | None) -> tuple[dict[str, float], list[str]]:
    """'other' cores per run and phase, and what broke each run."""
    runs = list(enumerate(flash.runs, 1)) if flash is not None else []
    other = {f"run {n}, {phase}": cores for n, run in runs for phase, cores in run.other_cores.items()}
    return other, [f"flash sale run {n}: {line}" for n, run in runs for line in run.failures]


def _feed_notes(feed: FeedSummary | None) -> tuple[dict[str, float], list[str]]:
    sizes = feed.sizes if feed is not None else []
    other = {f"{s.viewers:,} viewers, {phase}": cores for s in sizes for phase, cores in s.other_cores.items()}
    return other, [f"feed: {line}" for s in sizes for line in s.failures]


def render(
    flash: FlashSummary | None, feed: FeedSummary | None, flash_absent: str = NOT_RUN, feed_absent: str = NOT_RUN
) -> str:
    """The table `make bench` ends with, the runs' context, and what broke their correctness checks."""
    out = ["Issue 14 targets, from this run's summaries", ""]
    out.append(f"  {'':<52}{'value':>24}{'target':>12}  verdict")
    out += [
        f"  {r.label:<52}{r.value:>24}{r.target:>12}  {r.verdict}" for r in rows(flash, feed, flash_absent, feed_absent)
    ]
    out.append("")
    out.append("  * lost: admissions without an order (flash sale), plus viewers that never got sale.sold_out (feed):")
    out.append("    either way, something the sale committed that never reached the one it was for.")
    if flash is not None and len(flash.runs) > 1:
        out.append(f"  flash sale: median of {len(flash.runs)} runs; oversold / lost / wrong added up over them.")
    flash_other, flash_broken = _flash_notes(flash)
    feed_other, feed_broken = _feed_notes(feed)
    out += ["", _context("flash sale", flash, flash_other), _context("feed", feed, feed_other)]
    out += [f"  FAILED {line}" for line in flash_broken + feed_broken]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Print the table; 2 if a summary file is there but unreadable or corrupt, else 0."""
    parser = argparse.ArgumentParser(prog="python -m bench.targets", description=__doc__.splitlines()[0])
    parser.add_argument("flash", type=Path, help="what `bench.flash_sale --summary` wrote")
    parser.add_argument("feed", type=Path, help="what `bench.feed --summary` wrote")
    args = parser.parse_args(argv)
    problems: list[str] = []
    absent = {"flash": NOT_RUN, "feed": NOT_RUN}
    flash: FlashSummary | None = None
    feed: FeedSummary | None = None
    try:
        flash = read(args.flash, FlashSummary)
    except SummaryError as exc:
        problems.append(str(exc))
        absent["flash"] = "unreadable"
    try:
        feed = read(args.feed, FeedSummary)
    except SummaryError as exc:
        problems.append(str(exc))
        absent["feed"] = "unreadable"
    print(render(flash, feed, absent["flash"], absent["feed"]), flush=True)
    for problem in problems:
        print(f"bench | {problem}", file=sys.stderr)
    return 2 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
