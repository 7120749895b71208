"""One trace from the buyer's cart tap to shop's reservation; the payment trace runs on and links back."""

from __future__ import annotations

import uuid

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from libs.contracts import RESERVE_STOCK, OrderPaid
from libs.telemetry import names
from tests.e2e.flows import open_shopfront, room_stats, sku_stock
from tests.harness import Stack, eventually


def _service(span: ReadableSpan) -> str:
    return str(span.resource.attributes.get("service.name"))


def _trace(span: ReadableSpan) -> int:
    return span.context.trace_id


def _find(spans: list[ReadableSpan], name: str, service: str, trace_id: int | None = None) -> list[ReadableSpan]:
    return [
        s
        for s in spans
        if s.name == name and _service(s) == f"liveloop-{service}" and (trace_id is None or _trace(s) == trace_id)
    ]


def _server_span(spans: list[ReadableSpan], service: str, method: str, path_suffix: str) -> ReadableSpan:
    found = [
        s
        for s in spans
        if _service(s) == f"liveloop-{service}"
        and s.kind == SpanKind.SERVER
        and s.attributes.get("http.method", s.attributes.get("http.request.method")) == method
        and str(s.attributes.get("http.target", s.attributes.get("url.path", ""))).endswith(path_suffix)
    ]
    assert len(found) == 1, [(s.name, dict(s.attributes)) for s in found]
    return found[0]


async def test_room_id_and_trace_ride_from_cart_to_paid_order_and_counters(stack: Stack) -> None:
    front = await open_shopfront(stack, stock=3)
    sku = front.sku_ids[1]
    stack.spans.clear()

    async with stack.client("shop", front.buyer_token) as shop:
        added = await shop.post(
            "/cart/items", json={"sku_id": sku, "quantity": 1, "source": {"type": "room", "id": front.room_id}}
        )
        assert added.status_code == 201, added.text
    async with stack.client("orders", front.buyer_token) as orders:
        checkout = await orders.post(
            "/checkout",
            json={"items": [{"sku_id": sku, "quantity": 1, "room_id": front.room_id}]},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert checkout.status_code == 201, checkout.text
        body = checkout.json()
        order_id = body["orders"][0]["order_id"]
        confirm = await orders.post(
            f"/payments/{body['payment']['payment_id']}/confirm", json={"payment_method": "pm_card_visa"}
        )
        assert confirm.status_code == 202, confirm.text
    await eventually(lambda: _committed(stack, front, sku), timeout=15)
    await eventually(lambda: _counted(stack, front), timeout=10)

    spans = list(stack.spans.get_finished_spans())
    room = front.room_id

    # The cart request carries the room from the first tap.
    cart_span = _server_span(spans, "shop", "POST", "/cart/items")
    assert cart_span.attributes.get(names.ROOM_ID) == room

    # Checkout: orders asks shop over NATS, in the same trace, and the room rides along.
    checkout_span = _server_span(spans, "orders", "POST", "/checkout")
    checkout_trace = _trace(checkout_span)
    (ask,) = _find(spans, f"{RESERVE_STOCK} publish", "orders", checkout_trace)
    (reserve,) = _find(spans, f"{RESERVE_STOCK} process", "shop", checkout_trace)
    assert reserve.parent is not None
    assert reserve.parent.span_id == ask.context.span_id
    for span in (checkout_span, ask, reserve):
        assert span.attributes.get(names.ROOM_ID) == room, span.name

    # Payment: Stripe's webhook starts a new trace that continues into shop and live...
    webhook_span = _server_span(spans, "orders", "POST", "/stripe/webhook")
    paid_trace = _trace(webhook_span)
    assert paid_trace != checkout_trace
    publishes = [
        s
        for s in _find(spans, f"{OrderPaid.SUBJECT} publish", "orders", paid_trace)
        if s.attributes.get("messaging.message.id")
    ]
    assert publishes, "orders.order.paid.v1 was not published from the webhook's trace"
    shop_commit = _find(spans, f"{OrderPaid.SUBJECT} process", "shop", paid_trace)
    live_count = _find(spans, f"{OrderPaid.SUBJECT} process", "live", paid_trace)
    assert shop_commit, "shop's stock commit is not in the payment trace"
    assert live_count, "live's counter update is not in the payment trace"
    publish_ids = {s.context.span_id for s in publishes}
    for span in (*shop_commit, *live_count):
        assert span.parent is not None
        assert span.parent.span_id in publish_ids
    # ...and links back to the checkout that created the payment.
    in_paid_trace = [s for s in spans if _trace(s) == paid_trace]
    linked = {link.context.trace_id for s in in_paid_trace for link in s.links}
    assert checkout_trace in linked
    # The room id rides on every hop of the payment trace that concerns this order.
    for span in (*publishes, *shop_commit, *live_count):
        assert span.attributes.get(names.ROOM_ID) == room, span.name
    assert any(s.attributes.get(names.ORDER_ID) == order_id for s in in_paid_trace)


async def _committed(stack: Stack, front, sku: str) -> bool:
    return await sku_stock(stack, front, sku) == (2, 0)


async def _counted(stack: Stack, front) -> bool:
    return (await room_stats(stack, front))["paid_orders"] == 1
