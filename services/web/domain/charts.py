"""Charts as SVG made on the server from plain numbers: a per-minute line chart and a funnel bar chart.

Pure functions of their arguments (the text comes translated through `translate`, numbers and times are formatted
for `language`); no I/O. The markup uses presentation attributes only (no `style=""`, no `<style>`, no script), so
the Content-Security-Policy (`default-src 'self'`) lets it be inlined in a page, where it inherits the page's fonts
(CJK included). Each chart is `role="img"` labelled by its `<title>` and `<desc>`; the page puts the same numbers in
a table beside it for whoever cannot see the picture.

Why not a charting library: pygal writes its CSS into a `<style>` element and adds a script, matplotlib writes
`style` attributes (and would bring numpy), so inlined either would be refused by the CSP, or would be an `<img>`
whose text no screen reader or test can read; leather is close but has no title/desc or axis titles. Two chart
kinds are ~200 lines here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape

from babel.numbers import format_decimal, format_percent

from services.web.domain import LANGUAGES, language_of

Translate = Callable[[str], str]

# Distinguishable without colour too: each series also has its own dash pattern and marker shape.
PALETTE = ("#0b57d0", "#b3261e", "#146c2e", "#7a4500", "#6b3fa0")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2")
WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 40, 56
# Beyond this many minutes the line is drawn without a marker per minute.
MARKERS_UP_TO = 90
MAX_X_TICKS = 6
Y_TICKS = 5

# Every text the charts show, as msgids (the page's catalogue translates them).
CHART_TEXT = (
    "Minute (UTC)",
    "Per minute",
    "Funnel per minute",
    "Per-minute counts from %(start)s to %(end)s (UTC); most in one minute: %(peak)s.",
    "Nothing happened in any minute yet.",
    "Conversion funnel",
    "%(first)s: %(first_value)s; %(last)s: %(last_value)s.",
    "%(rate)s of the step before",
)


@dataclass(frozen=True)
class Series:
    """One line of a per-minute chart: its name (a msgid), its key (for tests and styling), a count per minute."""

    key: str
    label: str
    values: dict[datetime, int]


@dataclass(frozen=True)
class Step:
    """One bar of a funnel: its name (a msgid), its key, its count, and its rate from the step before (the API's)."""

    key: str
    label: str
    value: int
    rate: float | None


def _number(value: float, language: str) -> str:
    return format_decimal(value, locale=LANGUAGES[language_of(language)])


def percent(rate: float | None, language: str) -> str:
    """`12.5%`; an en dash when there is no rate (the step before was 0)."""
    if rate is None:
        return "\u2013"
    return format_percent(rate, format="#,##0.0%", locale=LANGUAGES[language_of(language)])


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^k at or above `value` (at least 1): a y axis' top that reads well."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if step * top >= value:
                return step * top
        top *= 10


def minute_range(series: Sequence[Series]) -> list[datetime]:
    """Every minute from the first to the last one any series has (minutes with nothing are zero, not skipped)."""
    minutes = sorted({m.astimezone(UTC).replace(second=0, microsecond=0) for s in series for m in s.values})
    if not minutes:
        return []
    span = int((minutes[-1] - minutes[0]) / timedelta(minutes=1))
    return [minutes[0] + timedelta(minutes=n) for n in range(span + 1)]


def _x_ticks(count: int) -> list[int]:
    """Indexes of the minutes labelled on the x axis: the first, the last, and evenly between."""
    if count <= MAX_X_TICKS:
        return list(range(count))
    step = (count - 1) / (MAX_X_TICKS - 1)
    return sorted({round(n * step) for n in range(MAX_X_TICKS)})


def text_width(text: str, font_size: float = 13) -> float:
    """About how wide `text` is drawn (no font metrics on the server): CJK characters are square, Latin ones ~0.6."""
    return sum(font_size if unicodedata.east_asian_width(c) in "WF" else font_size * 0.6 for c in text)


def _svg_open(chart_id: str, title: str, desc: str, testid: str, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" data-testid="{escape(testid)}"'
        f' viewBox="0 0 {WIDTH} {height}" width="100%" role="img"'
        f' aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" font-size="13" fill="#1a1a1a">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
    ]


def minute_chart(series: Sequence[Series], translate: Translate, language: str, *, chart_id: str) -> str:
    """A line per series over every minute from the first to the last (UTC), with labelled axes and a legend."""
    minutes = minute_range(series)
    lines = [[s.values.get(m, 0) for m in minutes] for s in _normalised(series)]
    peak = max((v for line in lines for v in line), default=0)
    title = translate("Funnel per minute")
    if minutes:
        desc = translate("Per-minute counts from %(start)s to %(end)s (UTC); most in one minute: %(peak)s.") % {
            "start": minutes[0].strftime("%H:%M"),
            "end": minutes[-1].strftime("%H:%M"),
            "peak": _number(peak, language),
        }
    else:
        desc = translate("Nothing happened in any minute yet.")
    out = _svg_open(chart_id, title, desc, "minute-chart", HEIGHT)
    top = nice_ceiling(peak)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (len(minutes) - 1) if len(minutes) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * v / top

    # The y axis: gridlines and counts, and its title.
    out.append('<g class="axis y" aria-hidden="true">')
    for n in range(Y_TICKS + 1):
        value = top * n / Y_TICKS
        if value != int(value) and n not in (0, Y_TICKS):
            continue
        at = y(value)
        out.append(f'<line x1="{LEFT}" y1="{at:.1f}" x2="{WIDTH - RIGHT}" y2="{at:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{at + 4:.1f}" text-anchor="end">{escape(_number(value, language))}</text>')
    middle = TOP + plot_h / 2
    out.append(
        f'<text x="14" y="{middle:.1f}" text-anchor="middle" transform="rotate(-90 14 {middle:.1f})"'
        f' data-testid="y-axis-title">{escape(translate("Per minute"))}</text>'
    )
    out.append("</g>")
    # The x axis: minutes as HH:MM (UTC), and its title.
    out.append('<g class="axis x" aria-hidden="true">')
    out.append(f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="#767676"/>')
    for i in _x_ticks(len(minutes)):
        out.append(
            f'<text x="{x(i):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{minutes[i].strftime("%H:%M")}</text>'
        )
    out.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 10}" text-anchor="middle" data-testid="x-axis-title">'
        f"{escape(translate('Minute (UTC)'))}</text>"
    )
    out.append("</g>")
    # The lines, then the legend along the top (each entry as wide as its label needs).
    legend_x = float(LEFT)
    for n, (s, values) in enumerate(zip(_normalised(series), lines, strict=True)):
        colour, dash = PALETTE[n % len(PALETTE)], DASHES[n % len(DASHES)]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        out.append(f'<g class="series" data-series="{escape(s.key)}" data-total="{sum(values)}">')
        if len(values) > 1:
            out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"{dashed}/>')
        if len(values) <= MARKERS_UP_TO:
            for i, v in enumerate(values):
                out.append(_marker(n, x(i), y(v), colour))
        out.append("</g>")
        label = translate(s.label)
        out.append(
            f'<g class="legend" aria-hidden="true"><line x1="{legend_x:.1f}" y1="16" x2="{legend_x + 24:.1f}" y2="16"'
            f' stroke="{colour}" stroke-width="2"{dashed}/>{_marker(n, legend_x + 12, 16, colour)}'
            f'<text x="{legend_x + 30:.1f}" y="20">{escape(label)}</text></g>'
        )
        legend_x += 30 + text_width(label) + 24
    out.append("</svg>")
    return "".join(out)


def _normalised(series: Sequence[Series]) -> list[Series]:
    """Series keyed by whole UTC minutes (the API's minutes are whole already; a client's might not be)."""
    return [
        Series(s.key, s.label, {m.astimezone(UTC).replace(second=0, microsecond=0): v for m, v in s.values.items()})
        for s in series
    ]


def _marker(n: int, cx: float, cy: float, colour: str) -> str:
    """A marker per series of its own shape: circle, square, triangle, diamond, cross."""
    shape = n % 5
    if shape == 0:
        return f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{colour}"/>'
    if shape == 1:
        return f'<rect x="{cx - 3:.1f}" y="{cy - 3:.1f}" width="6" height="6" fill="{colour}"/>'
    if shape == 2:
        return (
            f'<path d="M{cx:.1f} {cy - 4:.1f}L{cx + 4:.1f} {cy + 3:.1f}L{cx - 4:.1f} {cy + 3:.1f}Z" fill="{colour}"/>'
        )
    if shape == 3:
        return (
            f'<path d="M{cx:.1f} {cy - 4:.1f}L{cx + 4:.1f} {cy:.1f}L{cx:.1f} {cy + 4:.1f}L{cx - 4:.1f} {cy:.1f}Z"'
            f' fill="{colour}"/>'
        )
    cross = f"M{cx - 3:.1f} {cy - 3:.1f}L{cx + 3:.1f} {cy + 3:.1f}M{cx + 3:.1f} {cy - 3:.1f}L{cx - 3:.1f} {cy + 3:.1f}"
    return f'<path d="{cross}" stroke="{colour}" stroke-width="2"/>'


def funnel_chart(steps: Sequence[Step], translate: Translate, language: str, *, chart_id: str) -> str:
    """A horizontal bar per step, widest for the largest count, each with its count and its rate from the step
    before (as the API computed it)."""
    label_w, value_w, row_h, gap = 150, 190, 28, 10
    height = TOP + len(steps) * (row_h + gap) + 8
    title = translate("Conversion funnel")
    if steps:
        desc = translate("%(first)s: %(first_value)s; %(last)s: %(last_value)s.") % {
            "first": translate(steps[0].label),
            "first_value": _number(steps[0].value, language),
            "last": translate(steps[-1].label),
            "last_value": _number(steps[-1].value, language),
        }
    else:
        desc = ""
    out = _svg_open(chart_id, title, desc, "funnel-chart", height)
    widest = max((s.value for s in steps), default=0) or 1
    bar_room = WIDTH - label_w - value_w - RIGHT
    for n, step in enumerate(steps):
        top = TOP - 24 + n * (row_h + gap)
        width = bar_room * step.value / widest
        rate = (
            "" if n == 0 else " · " + translate("%(rate)s of the step before") % {"rate": percent(step.rate, language)}
        )
        out.append(f'<g class="step" data-step="{escape(step.key)}" data-value="{step.value}">')
        baseline = top + row_h / 2 + 5
        out.append(
            f'<text x="{label_w - 8}" y="{baseline:.1f}" text-anchor="end">{escape(translate(step.label))}</text>'
        )
        out.append(
            f'<rect x="{label_w}" y="{top}" width="{max(width, 1):.1f}" height="{row_h}"'
            f' fill="{PALETTE[0]}" fill-opacity="{1 - 0.12 * n:.2f}"/>'
        )
        out.append(
            f'<text x="{label_w + max(width, 1) + 6:.1f}" y="{baseline:.1f}" data-testid="funnel-value">'
            f"{escape(_number(step.value, language) + rate)}</text>"
        )
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)
