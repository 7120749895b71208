"""Refunds local_life asks for (local.refund.requested.v1) are grants like any other: one Stripe refund of exactly the
units' share, once per grant id however often the request arrives, never past the line or the order; a team buy that
did not fill refunds its member's whole line although nothing was ever issued."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import msgspec

from libs.contracts import DealRefundRequested, RefundUnits
from tests.harness import Stack, caught_up, delivered_twice, eventually, publish
from tests.integration.local_life.support import merchant, new_deal, new_store
from tests.integration.orders.fake_stripe import stripe_refunds
from tests.integration.orders.support import Buyer, events_of, new_buyer, new_seller, pay_checkout

SERVICES = ("shop", "local_life", "orders")


async def deal_of(stack: Stack, **fields: Any) -> dict[str, Any]:
    """A published USD 99.00 deal of a fresh merchant, sold at one store."""
    _, token = merchant(stack)
    store = await new_store(stack, token)
    fields = {"currency": "USD", "store_ids": [store["store_id"]]} | fields
    return await new_deal(stack, token, publish=True, **fields)


async def bought(stack: Stack, deal: dict[str, Any], quantity: int) -> tuple[Buyer, dict[str, Any]]:
    """A buyer who paid `quantity` of the deal: the paid order as the checkout shows it."""
    buyer = new_buyer(stack)
    paid = await pay_checkout(stack, buyer, [{"deal_id": deal["deal_id"], "quantity": quantity}])
    return buyer, paid["orders"][0]


def refund_request(order: dict[str, Any], buyer: Buyer, *units: tuple[int, int], **fields: Any) -> DealRefundRequested:
    return DealRefundRequested(
        **{
            "grant_id": str(uuid.uuid4()),
            "reason": "buyer",
            "order_id": order["order_id"],
            "buyer_id": buyer.buyer_id,
            "merchant_id": order["merchant_id"],
            "deal_id": order["lines"][0]["deal_id"],
            "lines": [RefundUnits(line_no=n, quantity=q) for n, q in units],
        }
        | fields
    )


async def line_of(buyer: Buyer, order_id: str) -> dict[str, Any]:
    found = await buyer.client.get(f"/orders/{order_id}")
    assert found.status_code == 200, found.text
    return found.json()["lines"][0]


async def settled(db: asyncpg.Connection, grant_id: str) -> asyncpg.Record | None:
    found = await db.fetchrow(
        "SELECT status, origin, amount_minor, stripe_refund_id FROM orders.refund_grants WHERE grant_id = $1", grant_id
    )
    return found if found is not None and found["status"] != "pending" else None


async def intent_of(db: asyncpg.Connection, order_id: str) -> str:
    return await db.fetchval(
        """SELECT p.stripe_payment_intent_id
           FROM orders.payments p JOIN orders.orders o ON o.checkout_id = p.checkout_id WHERE o.order_id = $1""",
        order_id,
    )


async def test_a_voucher_refund_is_one_stripe_refund_of_its_share_however_often_asked(
    stack: Stack, db: asyncpg.Connection
) -> None:
    deal = await deal_of(stack)
    buyer, order = await bought(stack, deal, 2)

    async def issued() -> dict[str, Any] | None:
        line = await line_of(buyer, order["order_id"])
        return line if line["ledger"]["shipped"] == 2 else None

    await eventually(issued, timeout=15)
    voucher = await db.fetchrow(
        "SELECT voucher_id::text, amount_minor FROM local_life.vouchers WHERE order_id = $1 ORDER BY seq LIMIT 1",
        order["order_id"],
    )
    asked = refund_request(order, buyer, (0, 1), voucher_ids=[voucher["voucher_id"]])
    await delivered_twice(stack, asked)
    # The same refund again under a new event id (local_life re-asking): the grant id makes it one.
    await publish(stack, msgspec.structs.replace(asked, event_id=str(uuid.uuid4())))

    grant = await eventually(lambda: settled(db, asked.grant_id), timeout=15)
    assert (grant["status"], grant["origin"], grant["amount_minor"]) == ("succeeded", "local_life", 9900)
    assert voucher["amount_minor"] == 9900
    await eventually(lambda: caught_up(stack, "orders", "orders__deal_refunds", "LOCAL", deliveries=1), timeout=15)
    refunds = await stripe_refunds(stack.infra.stripe_base, await intent_of(db, order["order_id"]))
    assert [(r["amount"], r["metadata"]["grant_id"]) for r in refunds] == [(9900, asked.grant_id)]
    requested = await events_of(db, "orders.refund.requested.v1", order["order_id"])
    succeeded = await eventually(lambda: events_of(db, "orders.refund.succeeded.v1", order["order_id"]))
    assert [e["grant_id"] for e in requested] == [e["grant_id"] for e in succeeded] == [asked.grant_id]
    refunded = succeeded[0]["refund_lines"][0]
    assert (refunded["line_no"], refunded["quantity"], refunded["amount_minor"]) == (0, 1, 9900)
    assert succeeded[0]["lines"][0]["deal_id"] == deal["deal_id"]
    line = await line_of(buyer, order["order_id"])
    assert (line["ledger"]["refunded"], line["ledger"]["refundable"]) == (1, 1)
    await buyer.client.aclose()


async def test_a_team_that_did_not_fill_refunds_the_unissued_line_in_full_once(
    stack: Stack, db: asyncpg.Connection
) -> None:
    deal = await deal_of(stack, team_size=3)
    buyer, order = await bought(stack, deal, 2)
    (line,) = order["lines"]
    # The checkout opened a team: its id came back from local_life with the seat.
    assert line["team_id"]
    line = await line_of(buyer, order["order_id"])
    assert (line["ledger"]["shipped"], line["ledger"]["to_ship"], line["ledger"]["refundable"]) == (0, 0, 2)

    failed = refund_request(order, buyer, (0, 2), reason="team_failed", team_id=line["team_id"])
    await delivered_twice(stack, failed)
    grant = await eventually(lambda: settled(db, failed.grant_id), timeout=15)
    assert (grant["status"], grant["amount_minor"]) == ("succeeded", 19800)
    refunds = await stripe_refunds(stack.infra.stripe_base, await intent_of(db, order["order_id"]))
    assert [(r["amount"], r["metadata"]["grant_id"]) for r in refunds] == [(19800, failed.grant_id)]
    # Nothing is left to refund: a second team failure for the line (another grant id) is refused, no money moves.
    again = refund_request(order, buyer, (0, 1), reason="team_failed")
    await publish(stack, again)
    refused = await eventually(
        lambda: db.fetchval("SELECT reason FROM orders.refused_grants WHERE grant_id = $1", again.grant_id)
    )
    assert refused == "over-refundable"
    assert len(await stripe_refunds(stack.infra.stripe_base, await intent_of(db, order["order_id"]))) == 1
    await buyer.client.aclose()


async def test_a_refund_of_what_is_not_the_deals_is_refused_and_an_unknown_order_dropped(
    stack: Stack, db: asyncpg.Connection
) -> None:
    deal = await deal_of(stack)
    buyer, order = await bought(stack, deal, 1)
    seller = await new_seller(stack, 1500)
    goods_buyer = new_buyer(stack)
    goods = (await pay_checkout(stack, goods_buyer, [{"sku_id": seller.sku_id, "quantity": 1}]))["orders"][0]

    other_merchant = refund_request(order, buyer, (0, 1), merchant_id=str(uuid.uuid4()))
    goods_line = refund_request(goods, goods_buyer, (0, 1), deal_id=deal["deal_id"])
    unknown_order = refund_request(order, buyer, (0, 1), order_id=str(uuid.uuid4()))
    for event in (other_merchant, goods_line, unknown_order):
        await publish(stack, event)
    await eventually(lambda: caught_up(stack, "orders", "orders__deal_refunds", "LOCAL", deliveries=3), timeout=15)

    for event, order_id in ((other_merchant, order["order_id"]), (goods_line, goods["order_id"])):
        failed = await eventually(lambda order_id=order_id: events_of(db, "orders.refund.failed.v1", order_id))
        assert [(e["grant_id"], e["reason"]) for e in failed] == [(event.grant_id, "not-the-deal")]
    orders = [order["order_id"], goods["order_id"]]
    assert await db.fetchval("SELECT count(*) FROM orders.refund_grants WHERE order_id = ANY($1::uuid[])", orders) == 0
    assert await db.fetchval("SELECT count(*) FROM orders.dead_letters") == 0
    for client in (buyer.client, goods_buyer.client):
        await client.aclose()
