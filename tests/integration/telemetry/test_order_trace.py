"""One paid-then-refunded order's trace, read from the spans the services exported: from the viewer's tap in a room,
through cart, checkout, payment and an after-sales refund, by parent ids and span links only, with the room on the
payment and the refund; and `liveloop trace`'s selection finds every one of those spans from the order id alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from contextlib import aclosing
from datetime import UTC, datetime

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from libs.contracts import RefundSucceeded
from libs.telemetry import names
from libs.telemetry.span_file import span_record
from libs.telemetry.waterfall import order_traces, render
from tests.harness import Stack, eventually
from tests.integration.aftersales.support import call, case_as, open_case
from tests.integration.live.support import room_selling, seller_with_stock

SERVICES = ("live", "shop", "orders", "aftersales")
TAP = "POST /funnel/events"  # the viewer's tap on the product in the room's bag
PAID = "stripe payment_intent.succeeded process"

Key = tuple[int, int]


def _key(span: ReadableSpan) -> Key:
    return (span.context.trace_id, span.context.span_id)


def _service(span: ReadableSpan) -> str:
    return str(span.resource.attributes.get("service.name"))


def leads_back(spans: Iterable[ReadableSpan], start: ReadableSpan) -> dict[Key, ReadableSpan]:
    """Every span `start` leads back to through its parent and its links, and theirs (a span's causes)."""
    by_key = {_key(s): s for s in spans}
    found: dict[Key, ReadableSpan] = {}
    frontier = [start]
    while frontier:
        span = frontier.pop()
        if _key(span) in found:
            continue
        found[_key(span)] = span
        causes = [(span.context.trace_id, span.parent.span_id)] if span.parent else []
        causes += [(link.context.trace_id, link.context.span_id) for link in span.links]
        frontier += [by_key[c] for c in causes if c in by_key]
    return found


def client_headers(room_id: str) -> tuple[dict[str, str], int, int]:
    """A client's W3C headers (one traceparent for the session, the room as baggage), its trace id and span id."""
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    headers = {"traceparent": f"00-{trace_id}-{span_id}-01", "baggage": f"{names.ROOM_ID}={room_id}"}
    return headers, int(trace_id, 16), int(span_id, 16)


async def test_a_refunded_orders_trace_runs_from_the_tap_in_the_room_to_the_refund(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 5)
    room = await room_selling(stack, seller)
    buyer_id = f"buyer-{uuid.uuid4().hex[:10]}"
    buyer = stack.infra.token("buyer", sub=buyer_id)
    merchant = stack.infra.token("merchant", merchant_id=seller.merchant_id)
    headers, client_trace, client_span = client_headers(room.room_id)

    # The viewer taps in the room, adds to the cart from it and checks out, all in the app's one trace; the checkout
    # names no room: the cart line's source says it.
    async with aclosing(stack.client("live", buyer)) as live:
        joined = await live.post(f"/rooms/{room.room_id}/join", headers=headers)
        assert joined.status_code == 200, joined.text
        click = {
            "kind": "click",
            "at": datetime.now(UTC).isoformat(),
            "room_id": room.room_id,
            "product_id": seller.product_id,
            "surface": "bag",
        }
        tapped = await live.post("/funnel/events", json={"events": [click]}, headers=headers)
        assert tapped.status_code == 202, tapped.text
    async with aclosing(stack.client("shop", buyer)) as shop:
        added = await shop.post(
            "/cart/items",
            json={"sku_id": seller.sku_id, "quantity": 1, "source": {"type": "room", "id": room.room_id}},
            headers=headers,
        )
        assert added.status_code == 201, added.text
    async with aclosing(stack.client("orders", buyer)) as orders:
        placed = await orders.post(
            "/checkout",
            json={"items": [{"sku_id": seller.sku_id, "quantity": 1}]},
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert placed.status_code == 201, placed.text
        checkout = placed.json()
        order_id = checkout["orders"][0]["order_id"]
        # Paying is another request of its own, without the room: the platform knows it.
        confirmed = await orders.post(
            f"/payments/{checkout['payment']['payment_id']}/confirm", json={"payment_method": "pm_card_visa"}
        )
        assert confirmed.status_code == 202, confirmed.text

        async def paid() -> bool:
            state = await orders.get(f"/orders/{order_id}")
            return state.status_code == 200 and state.json()["status"] == "paid"

        await eventually(paid, timeout=20)

    async with aclosing(stack.client("orders", merchant)) as seller_orders:
        shipped = await seller_orders.post(
            f"/seller/orders/{order_id}/shipments", json={"carrier": "ups", "tracking_number": uuid.uuid4().hex}
        )
        assert shipped.status_code == 201, shipped.text

    # The buyer asks for the money back (keeping the goods), the merchant agrees: a case's trace, then Stripe's.
    async def case_opened() -> str | None:
        body = {
            "order_id": order_id,
            "kind": "refund_only",
            "reason_code": "damaged",
            "description": "arrived broken",
            "lines": [{"line_no": 0, "quantity": 1}],
        }
        opened = await open_case(stack, buyer, body)
        return opened.json()["case_id"] if opened.status_code == 201 else None

    case_id = await eventually(case_opened, timeout=20)
    approved = await call(stack, merchant, f"/seller/cases/{case_id}/approve")
    assert approved.status_code == 200, approved.text

    async def refunded() -> bool:
        return (await case_as(stack, buyer, f"/cases/{case_id}"))["status"] == "refunded"

    await eventually(refunded, timeout=30)

    spans = list(stack.spans.get_finished_spans())
    of_order = {s.context.trace_id for s in spans if (s.attributes or {}).get(names.ORDER_ID) == order_id}

    async def refund_span() -> ReadableSpan | None:
        found = [
            s
            for s in stack.spans.get_finished_spans()
            if s.name == f"{RefundSucceeded.SUBJECT} process"
            and _service(s) == "liveloop-aftersales"
            and s.context.trace_id in of_order
        ]
        return found[0] if found else None

    refund = await eventually(refund_span)
    spans = list(stack.spans.get_finished_spans())
    (tap,) = [s for s in spans if s.name == TAP and s.context.trace_id == client_trace]
    assert tap.kind == SpanKind.SERVER
    assert tap.parent is not None
    assert tap.parent.span_id == client_span

    # Followed back from the refund, by parents and links only, the trace reaches the client's session the tap began.
    causes = leads_back(spans, refund)
    in_session = [s for s in causes.values() if s.parent is not None and s.parent.span_id == client_span]
    assert [s.name for s in in_session] == ["POST /checkout"]
    assert in_session[0].attributes.get(names.ROOM_ID) == room.room_id  # named by no field: the client's baggage
    assert {_service(s) for s in causes.values()} >= {"liveloop-orders", "liveloop-aftersales"}
    assert len({trace_id for trace_id, _ in causes}) >= 2  # a hop no parent spans: a link did it

    # The room rides on the payment and on the refund, though neither request named it.
    (payment,) = [s for s in spans if s.name == PAID and s.context.trace_id in of_order]
    assert payment.attributes.get(names.ROOM_ID) == room.room_id
    published = causes[(refund.context.trace_id, refund.parent.span_id)] if refund.parent else None
    assert published is not None
    assert published.name == f"{RefundSucceeded.SUBJECT} publish"
    for span in (published, refund):
        assert span.attributes.get(names.ROOM_ID) == room.room_id, span.name

    # What `liveloop trace <order_id>` prints holds the tap, the cart, the checkout, the payment and the refund.
    found = order_traces([span_record(s) for s in spans], order_id)
    chosen = {(int(r["trace_id"], 16), int(r["span_id"], 16)) for r in found.spans}
    cart = [s for s in spans if s.name == "POST /cart/items" and s.context.trace_id == client_trace]
    for span in (tap, *cart, payment, refund, *in_session):
        assert _key(span) in chosen, span.name
    printed = render(found)
    assert f"room={room.room_id}" in printed
    assert TAP in printed
    assert f"{RefundSucceeded.SUBJECT} process" in printed
