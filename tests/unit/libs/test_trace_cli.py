"""`liveloop trace <order_id>`: the spans the services wrote to their files, one order's traces chosen by its id and
span links, printed as an indented waterfall."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from libs.cli import main
from libs.telemetry import names
from libs.telemetry.span_file import SpanFileExporter, span_files

ROOM = "room-7f3a"


def tracer(directory: Path, service: str, **exporter: int) -> trace.Tracer:
    provider = TracerProvider(resource=Resource.create({"service.name": f"liveloop-{service}"}))
    provider.add_span_processor(SimpleSpanProcessor(SpanFileExporter(directory / f"{service}.jsonl", **exporter)))
    return provider.get_tracer("test")


def new_root() -> trace.Context:
    return trace.set_span_in_context(trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT))


def an_order(directory: Path, order_id: str, checkout_id: str) -> dict[str, trace.SpanContext]:
    """Spans as the services write them for one order: tap + checkout in the client's trace, the webhook's trace
    (linked to the checkout), a refund job's trace (linked to the webhook's). The span contexts by role."""
    orders, live = tracer(directory, "orders"), tracer(directory, "live")
    made: dict[str, trace.SpanContext] = {}
    with live.start_as_current_span("session", context=new_root()) as client:
        made["client"] = client.get_span_context()
        with live.start_as_current_span("POST /rooms/{room_id}/join", attributes={names.ROOM_ID: ROOM}) as tap:
            made["tap"] = tap.get_span_context()
        with orders.start_as_current_span("POST /checkout", attributes={names.CHECKOUT_ID: checkout_id}) as span:
            made["checkout"] = span.get_span_context()
            with orders.start_as_current_span("rpc.shop.stock.reserve.v1 publish") as ask:
                made["reserve"] = ask.get_span_context()
    with orders.start_as_current_span(
        "stripe payment_intent.succeeded process",
        context=new_root(),
        links=[trace.Link(made["checkout"])],
        attributes={names.CHECKOUT_ID: checkout_id, names.ROOM_ID: ROOM},
    ) as paid:
        made["paid"] = paid.get_span_context()
        with orders.start_as_current_span("order paid", attributes={names.ORDER_ID: order_id, names.ROOM_ID: ROOM}):
            pass
    with orders.start_as_current_span(
        "job refund_grant", context=new_root(), links=[trace.Link(made["paid"])], attributes={names.ROOM_ID: ROOM}
    ) as job:
        made["refund"] = job.get_span_context()
    return made


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["trace", *argv])
    return code, capsys.readouterr().out


def test_the_waterfall_holds_the_orders_traces_indented_by_parent(tmp_path: Path, capsys) -> None:
    order_id, checkout_id = str(uuid.uuid4()), str(uuid.uuid4())
    an_order(tmp_path, order_id, checkout_id)
    an_order(tmp_path, str(uuid.uuid4()), str(uuid.uuid4()))  # someone else's

    code, out = run(capsys, order_id, "--dir", str(tmp_path))

    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"order {order_id}: 3 traces, 7 spans"
    assert len([line for line in lines if " ms " in line]) == 7
    checkout = next(line for line in lines if "POST /checkout" in line)
    reserve = next(line for line in lines if "rpc.shop.stock.reserve.v1 publish" in line)
    assert reserve.index("rpc.") == checkout.index("POST") + 2  # a child, two spaces further in
    tap = next(line for line in lines if "POST /rooms/{room_id}/join" in line)
    assert "live" in tap
    assert f"room={ROOM}" in tap
    assert sum(line.startswith("trace ") for line in lines) == 3
    assert any("continued from it" in line for line in lines if line.startswith("trace "))
    assert any("its checkout" in line for line in lines if line.startswith("trace "))


def test_a_batch_linking_to_several_orders_is_in_but_the_other_orders_are_not(tmp_path: Path, capsys) -> None:
    order_id, other = str(uuid.uuid4()), str(uuid.uuid4())
    mine = an_order(tmp_path, order_id, str(uuid.uuid4()))
    theirs = an_order(tmp_path, other, str(uuid.uuid4()))
    with tracer(tmp_path, "live").start_as_current_span(
        "funnel batch", context=new_root(), links=[trace.Link(mine["paid"]), trace.Link(theirs["paid"])]
    ):
        pass

    code, out = run(capsys, order_id, "--dir", str(tmp_path))

    assert code == 0
    assert "funnel batch" in out
    assert format(theirs["paid"].trace_id, "032x") not in out.replace("links ", "")
    assert out.count("order paid") == 1


def test_offsets_and_durations_are_in_milliseconds_from_the_first_span(tmp_path: Path, capsys) -> None:
    order_id = str(uuid.uuid4())
    an_order(tmp_path, order_id, str(uuid.uuid4()))

    _, out = run(capsys, order_id, "--dir", str(tmp_path))

    first = next(line for line in out.splitlines() if "session" in line)
    offset, duration = first.split("ms")[0].strip(), first.split("ms")[1].strip()
    assert float(offset) == 0.0
    assert float(duration) >= 0.0


def test_an_unknown_order_or_no_files_is_said_and_exits_1(tmp_path: Path, capsys) -> None:
    code = main(["trace", str(uuid.uuid4()), "--dir", str(tmp_path / "nowhere")])
    assert code == 1
    assert "no span files" in capsys.readouterr().err

    an_order(tmp_path, str(uuid.uuid4()), str(uuid.uuid4()))
    code, out = run(capsys, str(uuid.uuid4()), "--dir", str(tmp_path))
    assert code == 1
    assert out.startswith("no spans of order")


def test_a_torn_last_line_is_skipped(tmp_path: Path, capsys) -> None:
    order_id = str(uuid.uuid4())
    an_order(tmp_path, order_id, str(uuid.uuid4()))
    with (tmp_path / "orders.jsonl").open("a") as torn:
        torn.write('{"trace_id": "ab')

    code, out = run(capsys, order_id, "--dir", str(tmp_path))

    assert code == 0
    assert "7 spans" in out


def test_a_full_file_is_rotated_and_still_read(tmp_path: Path) -> None:
    spans = tracer(tmp_path, "orders", max_bytes=200)  # under one span's line: every write rotates
    for n in range(5):
        with spans.start_as_current_span(f"span {n}", context=new_root()):
            pass

    files = span_files(tmp_path)
    assert [f.name for f in files] == ["orders.jsonl", "orders.jsonl.1"]
    records = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert {r["service"] for r in records} == {"liveloop-orders"}
    assert sorted(r["name"] for r in records) == ["span 3", "span 4"]  # the older ones went with rotated-out files
