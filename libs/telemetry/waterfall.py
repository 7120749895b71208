"""One order's spans as a waterfall, from the span files `make up` writes (`liveloop trace <order_id>`).

Which traces are the order's:
1. every trace with a span tagged `liveloop.order.id` = the order (payment, consumers, refunds, redemptions);
2. every trace with a span tagged with the order's checkout (`liveloop.checkout.id`, as a trace of step 1 names it
   when it names one checkout only): the checkout, the payment confirm;
3. then, through span links, what led to those traces (the traces their spans link to, and so on back: the tap's,
   if the client began a trace of its own there) and what continued from them (traces whose spans link to one of
   them, and so on forward: jobs, the refund's webhook, a redemption). Backward from a later trace and forward from
   an earlier one only: a batch that links to many orders' traces is in, but not the other orders it links to.

Each trace prints as a tree of its spans by parent, each line with its offset from the first span shown, its
duration, service, name (and the durable consumer of a `process` span), the room and video it carries and the
traces it links to.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from libs.telemetry import names

Record = dict[str, Any]


def read_spans(files: Iterable[Path]) -> list[Record]:
    """Every span record in these JSON-lines files (a torn last line, from a process killed mid-write, is skipped)."""
    found: list[Record] = []
    for path in files:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and "trace_id" in record and "span_id" in record:
                    found.append(record)
    return found


def _attr(record: Record, key: str) -> Any:
    return (record.get("attributes") or {}).get(key)


@dataclass
class OrderTraces:
    """The traces of one order (by id), each with why it is in, and their spans."""

    order_id: str
    why: dict[str, str] = field(default_factory=dict)
    spans: list[Record] = field(default_factory=list)


def order_traces(spans: Sequence[Record], order_id: str) -> OrderTraces:
    """The order's traces (see the module's docstring) and every span of them."""
    by_trace: dict[str, list[Record]] = {}
    for span in spans:
        by_trace.setdefault(span["trace_id"], []).append(span)
    why: dict[str, str] = {}
    for trace_id, members in by_trace.items():
        if any(_attr(s, names.ORDER_ID) == order_id for s in members):
            why[trace_id] = "the order"
    checkouts: set[str] = set()
    for trace_id in list(why):
        named = {_attr(s, names.CHECKOUT_ID) for s in by_trace[trace_id]} - {None}
        if len(named) == 1:
            checkouts |= named
    for trace_id, members in by_trace.items():
        if trace_id not in why and any(_attr(s, names.CHECKOUT_ID) in checkouts for s in members):
            why[trace_id] = "its checkout"
    # links_to[t]: traces that spans of t link to; linked_from[t]: traces with a span linking to t.
    links_to: dict[str, set[str]] = {}
    linked_from: dict[str, set[str]] = {}
    for span in spans:
        for link in span.get("links") or []:
            if link["trace_id"] != span["trace_id"]:
                links_to.setdefault(span["trace_id"], set()).add(link["trace_id"])
                linked_from.setdefault(link["trace_id"], set()).add(span["trace_id"])
    seeds = list(why)
    for edges, reason in ((links_to, "led to it"), (linked_from, "continued from it")):
        frontier = list(seeds)
        seen = set(seeds)
        while frontier:
            current = frontier.pop()
            for other in sorted(edges.get(current, ())):
                if other not in seen:
                    seen.add(other)
                    frontier.append(other)
                    if other not in why and other in by_trace:
                        why[other] = f"{reason}: {current[:8]}"
    chosen = [s for trace_id in why for s in by_trace.get(trace_id, [])]
    return OrderTraces(order_id=order_id, why=why, spans=chosen)


def _ms(ns: int) -> str:
    return f"{ns / 1e6:9.1f} ms"


def _label(span: Record) -> str:
    parts = [span["name"]]
    consumer, room, video = _attr(span, names.CONSUMER), _attr(span, names.ROOM_ID), _attr(span, names.VIDEO_ID)
    if consumer:
        parts.append(f"by {consumer}")
    if room:
        parts.append(f"room={room}")
    if video:
        parts.append(f"video={video}")
    if span.get("status") == "ERROR":
        parts.append("ERROR")
    others = sorted({link["trace_id"][:8] for link in span.get("links") or [] if link["trace_id"] != span["trace_id"]})
    if others:
        parts.append("links " + ",".join(others))
    return "  ".join(parts)


def render(found: OrderTraces) -> str:
    """The waterfall: a block per trace (by start), its spans indented under their parents (by start)."""
    if not found.spans:
        return f"no spans of order {found.order_id} (is LIVELOOP_SPANS_DIR the directory `make up` writes to?)\n"
    origin = min(s["start_ns"] for s in found.spans)
    by_trace: dict[str, list[Record]] = {}
    for span in found.spans:
        by_trace.setdefault(span["trace_id"], []).append(span)
    service_width = max(len(_service(s)) for s in found.spans)
    out = [f"order {found.order_id}: {len(by_trace)} traces, {len(found.spans)} spans", ""]
    out.append(f"{'offset':>12} {'duration':>12}  {'service':<{service_width}}  span")
    for trace_id, members in sorted(by_trace.items(), key=lambda item: min(s["start_ns"] for s in item[1])):
        out.append(f"trace {trace_id} ({found.why[trace_id]})")
        ids = {s["span_id"] for s in members}
        children: dict[str | None, list[Record]] = {}
        for span in members:
            parent = span.get("parent_span_id")
            children.setdefault(parent if parent in ids else None, []).append(span)
        for span, depth in _tree(children, None, 0):
            offset, duration = _ms(span["start_ns"] - origin), _ms(span["end_ns"] - span["start_ns"])
            out.append(f"{offset:>12} {duration:>12}  {_service(span):<{service_width}}  {'  ' * depth}{_label(span)}")
    return "\n".join(out) + "\n"


def _tree(children: dict[str | None, list[Record]], parent: str | None, depth: int) -> Iterator[tuple[Record, int]]:
    """The spans under `parent`, depth first, each level by start."""
    for span in sorted(children.get(parent, []), key=lambda s: (s["start_ns"], s["span_id"])):
        yield span, depth
        yield from _tree(children, span["span_id"], depth + 1)


def _service(span: Record) -> str:
    service = str(span.get("service") or "?")
    return service.removeprefix("liveloop-")


__all__ = ["OrderTraces", "order_traces", "read_spans", "render"]
