"""The buyer's confirm request, read in its trace: it leads back to the checkout's trace and names the room the
checkout's lines were bought in, without the client saying the room again."""

from __future__ import annotations

import uuid
from contextlib import aclosing

from opentelemetry.sdk.trace import ReadableSpan

from libs.telemetry import names
from tests.harness import Stack
from tests.integration.orders.support import checkout, new_buyer, new_seller

SERVICES = ("shop", "orders")
CONFIRM = "POST /payments/{payment_id}/confirm"


def traceparent() -> tuple[str, str]:
    """A client's fresh W3C traceparent and its trace id."""
    trace_id = uuid.uuid4().hex
    return f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01", trace_id


def confirm_span(stack: Stack, payment_id: str) -> ReadableSpan:
    (span,) = [
        s
        for s in stack.spans.get_finished_spans()
        if s.name == CONFIRM and (s.attributes or {}).get(names.PAYMENT_ID) == payment_id
    ]
    return span


async def test_the_confirm_span_links_to_the_checkouts_trace_and_carries_the_room_of_its_lines(stack: Stack) -> None:
    seller = await new_seller(stack, 1500)
    buyer = new_buyer(stack)
    room_id = f"room-{uuid.uuid4().hex[:8]}"
    async with aclosing(buyer.client):
        checkout_parent, checkout_trace = traceparent()
        buyer.client.headers["traceparent"] = checkout_parent
        placed = await checkout(buyer.client, [{"sku_id": seller.sku_id, "quantity": 1, "room_id": room_id}])
        assert placed.status_code == 201, placed.text
        payment_id = placed.json()["payment"]["payment_id"]

        confirm_parent, confirm_trace = traceparent()  # another request: a trace of its own, no room in it
        confirmed = await buyer.client.post(
            f"/payments/{payment_id}/confirm",
            json={"payment_method": "pm_card_visa"},
            headers={"traceparent": confirm_parent},
        )
        assert confirmed.status_code == 202, confirmed.text

    span = confirm_span(stack, payment_id)
    assert format(span.context.trace_id, "032x") == confirm_trace
    assert [format(link.context.trace_id, "032x") for link in span.links] == [checkout_trace]
    assert span.attributes.get(names.ROOM_ID) == room_id


async def test_a_confirm_of_lines_bought_outside_rooms_names_no_room(stack: Stack) -> None:
    seller = await new_seller(stack, 900)
    buyer = new_buyer(stack)
    async with aclosing(buyer.client):
        placed = await checkout(buyer.client, [{"sku_id": seller.sku_id, "quantity": 1}])
        assert placed.status_code == 201, placed.text
        payment_id = placed.json()["payment"]["payment_id"]
        confirmed = await buyer.client.post(f"/payments/{payment_id}/confirm", json={"payment_method": "pm_card_visa"})
        assert confirmed.status_code == 202, confirmed.text

    span = confirm_span(stack, payment_id)
    assert names.ROOM_ID not in (span.attributes or {})
    assert len(span.links) == 1  # still the checkout's trace
