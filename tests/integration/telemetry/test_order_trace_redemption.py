"""A voucher redeemed at the counter, days after its order was paid and in a trace of its own, leads back to the
trace its vouchers were issued in (the payment's) by a span link, and carries the order and the room it was sold in."""

from __future__ import annotations

import uuid

from opentelemetry.sdk.trace import ReadableSpan

from libs.contracts import OrderPaid, VoucherRedeemed
from libs.telemetry import names
from libs.telemetry.span_file import span_record
from libs.telemetry.waterfall import order_traces
from tests.harness import Stack, eventually
from tests.integration.local_life.test_redemption import prepare, verify
from tests.integration.local_life.test_vouchers import buy, buyer_view, clerk_token, counter, published_deal

SERVICES = ("local_life",)


def _of_local_life(span: ReadableSpan) -> bool:
    return span.resource.attributes.get("service.name") == "liveloop-local_life"


async def test_a_redemption_links_to_the_trace_its_vouchers_were_issued_in(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop, vouchers_per_purchase=1)
    room_id = str(uuid.uuid4())
    purchase = await buy(stack, shop, deal, room_id=room_id)
    order_id = purchase["order"].order_id
    (issuing,) = [
        s
        for s in stack.spans.get_finished_spans()
        if _of_local_life(s)
        and s.name == f"{OrderPaid.SUBJECT} process"
        and s.attributes.get(names.CONSUMER) == "local_life__vouchers"
        and s.attributes.get(names.ORDER_ID) == order_id
    ]

    (voucher,) = await buyer_view(stack, purchase)
    clerk = await clerk_token(stack, shop)
    prepared = await prepare(stack, clerk, code=voucher["code"])
    assert prepared.status_code == 200, prepared.text
    verified = await verify(stack, clerk, prepared.json()["verify_token"], [voucher["voucher_id"]])
    assert verified.status_code == 200, verified.text

    (redeemed,) = [
        s
        for s in stack.spans.get_finished_spans()
        if s.name == "POST /redemptions/verify" and s.attributes.get(names.ORDER_ID) == order_id
    ]
    assert redeemed.context.trace_id != issuing.context.trace_id
    assert [(link.context.trace_id, link.context.span_id) for link in redeemed.links] == [
        (issuing.context.trace_id, issuing.context.span_id)
    ]
    assert redeemed.attributes.get(names.ROOM_ID) == room_id

    async def announced() -> ReadableSpan | None:
        found = [
            s
            for s in stack.spans.get_finished_spans()
            if s.name == f"{VoucherRedeemed.SUBJECT} publish" and s.context.trace_id == redeemed.context.trace_id
        ]
        return found[0] if found else None

    published = await eventually(announced)
    assert published.attributes.get(names.ROOM_ID) == room_id  # the funnel's voucher_redeemed fact's hop

    # `liveloop trace <order_id>` shows the redemption with the payment's trace.
    found = order_traces([span_record(s) for s in stack.spans.get_finished_spans()], order_id)
    chosen = {(r["trace_id"], r["span_id"]) for r in found.spans}
    for span in (issuing, redeemed, published):
        assert (format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")) in chosen, span.name
