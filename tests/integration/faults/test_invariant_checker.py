"""The invariant checker (devstack/invariants/) finds nothing wrong after real flows, and finds each invariant
broken on purpose: one corruption at a time (in the database, at localstripe or in JetStream), reported under exactly
that invariant with the object's id, and undone before the next.

The five services run in-process (`Stack`) for the flows of tests/integration/faults/flows.py (seeds chosen so every
outcome comes within seconds: the sale's buyers all pay, the team fills, the voucher is undone and redeemed again);
then they are stopped, so that nothing repairs a corruption (the relay would republish an outbox row, a consumer
would take a message) before the checker sees it. Every check uses the same `now`, taken once everything stopped.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import nats
import pytest
import pytest_asyncio

from devstack.invariants import INVARIANTS, Verdict, check_invariants, settle
from tests.harness import Infra, Stack
from tests.integration.faults import flows
from tests.integration.orders.support import new_seller

# Each flow with a seed whose choices end quickly (found by running each flow's rng calls; see the module docstring).
FLOW_SEEDS = {
    "checkout_and_pay": 1,
    "flash_sale": 4,  # two units, both buyers pay
    "aftersales_refund": 1,
    "voucher_redeem_undo_refund": 1,  # undo, then redeem again
    "team_buy": 1,  # the team fills
}
LATE = timedelta(minutes=5)

pytestmark = pytest.mark.timeout(300)


@dataclass
class World:
    """What the flows left, as the checker saw it while the services ran and once they had stopped."""

    infra: Infra
    now: datetime
    running: Verdict
    stopped: Verdict
    # A checkout nobody pays (its window is still open at `now`), and its payment.
    unpaid_checkout_id: str
    unpaid_payment_id: str
    flow_s: float


async def _unpaid_checkout(stack: Stack) -> tuple[str, str]:
    """A merchant edits its stock (the edit ledger), and a buyer checks out without paying."""
    seller = await new_seller(stack, 1500, stock=8)
    async with stack.client("shop", seller.token) as shop:
        edited = await shop.patch(f"/seller/skus/{seller.sku_id}", json={"stock_on_hand": 11})
        assert edited.status_code == 200, edited.text
    async with stack.client("orders", stack.infra.token("buyer")) as orders:
        placed = await flows.send(
            orders, "POST", "/checkout", ok=(201,), key=True, json={"items": [{"sku_id": seller.sku_id, "quantity": 2}]}
        )
    body = placed.json()
    return body["checkout_id"], body["payment"]["payment_id"]


async def check(infra: Infra, now: datetime | None = None) -> Verdict:
    return await check_invariants(
        database_url=infra.database_url,
        nats_url=infra.nats_url,
        namespace=infra.namespace,
        stripe_base=infra.stripe_base,
        now=now,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(infra: Infra) -> AsyncIterator[World]:
    stack = Stack(infra)
    try:
        await stack.start()
        started = asyncio.get_running_loop().time()
        outcomes = await asyncio.gather(
            *(flows.FLOWS[name](stack, random.Random(seed)) for name, seed in FLOW_SEEDS.items()),
            _unpaid_checkout(stack),
        )
        flow_s = asyncio.get_running_loop().time() - started
        assert all(later is None for later in outcomes[:-1]), "a flow left an outcome for later: pick FLOW_SEEDS again"
        unpaid_checkout_id, unpaid_payment_id = outcomes[-1]
        await settle(database_url=infra.database_url, nats_url=infra.nats_url, namespace=infra.namespace, timeout=60)
        running = await check(infra)
    finally:
        await stack.stop()
    now = datetime.now(UTC)
    stopped = await check(infra, now)
    yield World(infra, now, running, stopped, unpaid_checkout_id, unpaid_payment_id, flow_s)


async def only(world: World, invariant: str, *ids: str) -> Verdict:
    """Check at the world's `now`: exactly `invariant` is violated, and its violations name every id."""
    verdict = await check(world.infra, world.now)
    assert verdict.violated() == {invariant}, verdict.violations
    named = "\n".join(verdict.violations)
    for object_id in ids:
        assert object_id in named, (object_id, verdict.violations)
    return verdict


def stripe_api(infra: Infra) -> httpx.AsyncClient:
    """localstripe as the account's owner calls it."""
    return httpx.AsyncClient(base_url=infra.stripe_base, auth=("sk_test_liveloop", ""), timeout=10)


async def post(api: httpx.AsyncClient, path: str, data: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(path, data=data)
    assert response.status_code == 200, response.text
    return response.json()


async def left(db: asyncpg.Connection, what: str, sql: str, *args: object) -> asyncpg.Record:
    """The row the flows should have left; a clear failure if they did not (flows.py changed what it does)."""
    row = await db.fetchrow(sql, *args)
    assert row is not None, f"the flows left no {what}: pick FLOW_SEEDS again for what flows.py now does"
    return row


async def paid_checkout(db: asyncpg.Connection) -> asyncpg.Record:
    """A paid checkout of one order, with no refund: its payment, order and intent."""
    return await left(
        db,
        "a paid checkout of one order with no refund",
        """SELECT c.checkout_id::text, p.payment_id::text, o.order_id::text, p.stripe_payment_intent_id AS intent_id,
                  o.amount_minor, o.currency
           FROM orders.checkouts c JOIN orders.payments p USING (checkout_id) JOIN orders.orders o USING (checkout_id)
           WHERE c.status = 'paid'
             AND NOT EXISTS (SELECT 1 FROM orders.refund_grants g WHERE g.order_id = o.order_id)
           ORDER BY c.created_at LIMIT 1""",
    )


# --- clean --------------------------------------------------------------------------------------------------------


async def test_real_flows_leave_every_invariant_clean(world: World) -> None:
    world.running.assert_clean()
    world.stopped.assert_clean()
    # Every invariant looked at something, or its being clean would mean nothing.
    assert all(world.stopped.checked[name] > 0 for name in INVARIANTS), world.stopped.summary()
    assert world.stopped.summary().startswith("7 invariants, 0 violations: stock ")
    print(
        f"flows {world.flow_s:.1f}s; {world.running.summary()} ({world.running.took_s:.2f}s running, "
        f"{world.stopped.took_s:.2f}s stopped)"
    )


# --- 1. stock -----------------------------------------------------------------------------------------------------


async def test_a_sku_with_one_unit_too_many_on_hand_breaks_stock(world: World, db: asyncpg.Connection) -> None:
    (sku_id,) = await left(
        db,
        "a SKU that sold units",
        "SELECT sku_id::text FROM shop.reservation_lines WHERE status = 'committed' ORDER BY sku_id LIMIT 1",
    )
    await db.execute("UPDATE shop.skus SET stock_on_hand = stock_on_hand + 1 WHERE sku_id = $1", sku_id)
    try:
        await only(world, "stock", sku_id)
    finally:
        await db.execute("UPDATE shop.skus SET stock_on_hand = stock_on_hand - 1 WHERE sku_id = $1", sku_id)


async def test_a_sale_that_returned_a_unit_shop_never_took_back_breaks_stock(
    world: World, db: asyncpg.Connection
) -> None:
    (sale_id,) = await left(
        db,
        "a flash sale that sold units",
        "SELECT sale_id::text FROM live.flash_sales WHERE remaining + returned < quantity",
    )
    await db.execute("UPDATE live.flash_sales SET returned = returned + 1 WHERE sale_id = $1", sale_id)
    try:
        verdict = await only(world, "stock", sale_id)
        assert "shop took back 0, the sale returned 1" in "\n".join(verdict.violations)
    finally:
        await db.execute("UPDATE live.flash_sales SET returned = returned - 1 WHERE sale_id = $1", sale_id)


# --- 2. charges ---------------------------------------------------------------------------------------------------


async def test_a_paid_checkout_whose_charge_differs_from_what_orders_recorded_breaks_charges(
    world: World, db: asyncpg.Connection
) -> None:
    paid = await paid_checkout(db)
    await db.execute(
        "UPDATE orders.payments SET amount_minor = amount_minor + 1 WHERE payment_id = $1", paid["payment_id"]
    )
    try:
        await only(world, "charges", paid["checkout_id"])
    finally:
        await db.execute(
            "UPDATE orders.payments SET amount_minor = amount_minor - 1 WHERE payment_id = $1", paid["payment_id"]
        )


async def test_money_taken_at_stripe_for_an_unpaid_checkout_breaks_charges(
    world: World, db: asyncpg.Connection
) -> None:
    """A second intent of a payment took money (as a lost recording and a confirm would), and orders owes nothing."""
    amount, currency = await db.fetchrow(
        "SELECT amount_minor, currency FROM orders.payments WHERE payment_id = $1", world.unpaid_payment_id
    )
    async with stripe_api(world.infra) as api:
        intent = await post(
            api,
            "/v1/payment_intents",
            {
                "amount": amount,
                "currency": currency.lower(),
                "metadata[payment_id]": world.unpaid_payment_id,
                "metadata[checkout_id]": world.unpaid_checkout_id,
            },
        )
        await post(api, f"/v1/payment_intents/{intent['id']}", {"payment_method": "pm_card_visa"})
        assert (await post(api, f"/v1/payment_intents/{intent['id']}/confirm", {}))["status"] == "succeeded"
        try:
            await only(world, "charges", intent["id"], world.unpaid_checkout_id)
        finally:
            # Made right as orders would: the money is owed back (superseded) and was refunded in full.
            refund = await post(api, "/v1/refunds", {"payment_intent": intent["id"]})
            await db.execute(
                """INSERT INTO orders.refunds (stripe_payment_intent_id, payment_id, reason, amount_minor, currency,
                                               status, stripe_refund_id, created_at, refunded_at)
                   VALUES ($1, $2, 'superseded', $3, $4, 'refunded', $5, $6, $6)""",
                intent["id"],
                world.unpaid_payment_id,
                amount,
                currency,
                refund["id"],
                world.now,
            )


async def test_an_intent_neither_recorded_nor_cancelled_breaks_charges(world: World) -> None:
    async with stripe_api(world.infra) as api:
        intent = await post(
            api,
            "/v1/payment_intents",
            {"amount": 1500, "currency": "usd", "metadata[payment_id]": world.unpaid_payment_id},
        )
        try:
            await only(world, "charges", intent["id"])
        finally:
            await post(api, f"/v1/payment_intents/{intent['id']}/cancel", {})


# --- 3. refunds ---------------------------------------------------------------------------------------------------


async def test_a_refund_at_stripe_orders_does_not_know_breaks_refunds(world: World, db: asyncpg.Connection) -> None:
    paid = await paid_checkout(db)
    async with stripe_api(world.infra) as api:
        refund = await post(api, "/v1/refunds", {"payment_intent": paid["intent_id"], "amount": 100})
    try:
        await only(world, "refunds", refund["id"], paid["intent_id"])
    finally:
        # Made right as orders would: a grant of the order names it.
        await db.execute(
            """INSERT INTO orders.refund_grants (grant_id, order_id, origin, amount_minor, currency, status,
                                                 stripe_payment_intent_id, stripe_refund_id, created_at, settled_at)
               VALUES ($1, $2, 'cancel', 100, $3, 'succeeded', $4, $5, $6, $6)""",
            uuid.uuid4(),
            paid["order_id"],
            paid["currency"],
            paid["intent_id"],
            refund["id"],
            world.now,
        )


async def test_a_succeeded_grant_whose_refund_stripe_does_not_have_breaks_refunds(
    world: World, db: asyncpg.Connection
) -> None:
    grant_id, refund_id = await left(
        db,
        "an after-sales refund",
        """SELECT grant_id::text, stripe_refund_id FROM orders.refund_grants
           WHERE status = 'succeeded' AND origin = 'case'""",
    )
    await db.execute(
        "UPDATE orders.refund_grants SET stripe_refund_id = 're_nowhere' WHERE grant_id = $1::uuid", grant_id
    )
    try:
        await only(world, "refunds", grant_id, "re_nowhere")
    finally:
        await db.execute(
            "UPDATE orders.refund_grants SET stripe_refund_id = $2 WHERE grant_id = $1::uuid", grant_id, refund_id
        )


# --- 4. vouchers --------------------------------------------------------------------------------------------------


async def test_a_voucher_redeemed_twice_breaks_vouchers(world: World, db: asyncpg.Connection) -> None:
    """Only with the unique index gone can the database hold it; the checker counts, it does not trust the index."""
    redemption = await left(
        db, "a redeemed voucher", "SELECT * FROM local_life.redemptions WHERE undone_at IS NULL LIMIT 1"
    )
    twin = uuid.uuid4()
    async with db.transaction():
        await db.execute("DROP INDEX local_life.redemptions_live")
        await db.execute(
            """INSERT INTO local_life.redemptions (redemption_id, voucher_id, deal_id, merchant_id, store_id, clerk_id,
                                                   redeemed_at, order_id, line_no)
               SELECT $2, voucher_id, deal_id, merchant_id, store_id, clerk_id, redeemed_at, order_id, line_no
               FROM local_life.redemptions WHERE redemption_id = $1""",
            redemption["redemption_id"],
            twin,
        )
    try:
        await only(world, "vouchers", str(redemption["voucher_id"]), str(twin))
    finally:
        async with db.transaction():
            await db.execute("DELETE FROM local_life.redemptions WHERE redemption_id = $1", twin)
            await db.execute(
                "CREATE UNIQUE INDEX redemptions_live ON local_life.redemptions (voucher_id) WHERE undone_at IS NULL"
            )


async def test_a_refunded_voucher_that_is_redeemed_breaks_vouchers(world: World, db: asyncpg.Connection) -> None:
    voucher = await left(
        db, "a refunded voucher", "SELECT * FROM local_life.vouchers WHERE status = 'refunded' LIMIT 1"
    )
    (store_id,) = await left(db, "a redemption", "SELECT store_id FROM local_life.redemptions LIMIT 1")
    redemption_id = uuid.uuid4()
    await db.execute(
        """INSERT INTO local_life.redemptions (redemption_id, voucher_id, deal_id, merchant_id, store_id, clerk_id,
                                               redeemed_at, order_id, line_no)
           VALUES ($1, $2, $3, $4, $5, 'clerk-late', $6, $7, $8)""",
        redemption_id,
        voucher["voucher_id"],
        voucher["deal_id"],
        voucher["merchant_id"],
        store_id,
        world.now,
        voucher["order_id"],
        voucher["line_no"],
    )
    try:
        await only(world, "vouchers", str(voucher["voucher_id"]), str(redemption_id))
    finally:
        await db.execute("DELETE FROM local_life.redemptions WHERE redemption_id = $1", redemption_id)


# --- 5. events ----------------------------------------------------------------------------------------------------


async def test_an_outbox_row_left_unpublished_breaks_events(world: World, db: asyncpg.Connection) -> None:
    event_id, published_at = await left(
        db,
        "an OrderPaid in orders' outbox",
        "SELECT event_id::text, published_at FROM orders.outbox WHERE subject = 'orders.order.paid.v1' LIMIT 1",
    )
    await db.execute("UPDATE orders.outbox SET published_at = NULL WHERE event_id = $1::uuid", event_id)
    try:
        await only(world, "events", event_id)
    finally:
        await db.execute("UPDATE orders.outbox SET published_at = $2 WHERE event_id = $1::uuid", event_id, published_at)


async def test_a_published_event_a_consumer_never_applied_breaks_events(world: World, db: asyncpg.Connection) -> None:
    row = await db.fetchrow(
        "DELETE FROM shop.inbox WHERE (consumer, event_id) = (SELECT consumer, event_id FROM shop.inbox "
        "WHERE consumer = 'shop__commit_paid_stock' LIMIT 1) RETURNING *"
    )
    try:
        await only(world, "events", "shop__commit_paid_stock", str(row["event_id"]))
    finally:
        await db.execute(
            "INSERT INTO shop.inbox (consumer, event_id, subject, processed_at) VALUES ($1, $2, $3, $4)", *row.values()
        )


async def test_an_inbox_row_for_an_event_nobody_published_breaks_events(world: World, db: asyncpg.Connection) -> None:
    """What a fact applied twice under a second event id that no outbox holds would leave."""
    phantom = uuid.uuid4()
    await db.execute(
        "INSERT INTO shop.inbox (consumer, event_id, subject) VALUES ('shop__commit_paid_stock', $1, $2)",
        phantom,
        "orders.order.paid.v1",
    )
    try:
        await only(world, "events", str(phantom))
    finally:
        await db.execute("DELETE FROM shop.inbox WHERE event_id = $1", phantom)


async def test_a_message_no_consumer_took_breaks_events(world: World) -> None:
    nc = await nats.connect(world.infra.nats_url)
    stream = f"{world.infra.namespace}_ORDERS"
    try:
        js = nc.jetstream()
        ack = await js.publish(f"{world.infra.namespace}.orders.order.shipped.v1", b"{}")
        try:
            await only(world, "events", "aftersales__shipments")
        finally:
            await js.delete_msg(stream, ack.seq)
    finally:
        await nc.close()


async def test_a_dead_letter_breaks_events(world: World) -> None:
    nc = await nats.connect(world.infra.nats_url)
    dlq = f"{world.infra.namespace}_DLQ"
    try:
        js = nc.jetstream()
        await js.publish(
            f"{world.infra.namespace}.dlq.shop__returns",
            b"{}",
            headers={"Liveloop-Original-Subject": "aftersales.return.received.v1"},
        )
        try:
            await only(world, "events", dlq, "shop__returns")
        finally:
            await js.purge_stream(dlq)
    finally:
        await nc.close()


# --- 6. stuck -----------------------------------------------------------------------------------------------------


async def test_a_checkout_unpaid_past_its_window_breaks_stuck(world: World, db: asyncpg.Connection) -> None:
    pay_by = await db.fetchval(
        "UPDATE orders.checkouts c SET pay_by = $2 FROM orders.checkouts old "
        "WHERE c.checkout_id = $1::uuid AND old.checkout_id = c.checkout_id RETURNING old.pay_by",
        world.unpaid_checkout_id,
        world.now - LATE,
    )
    try:
        await only(world, "stuck", world.unpaid_checkout_id)
    finally:
        await db.execute(
            "UPDATE orders.checkouts SET pay_by = $2 WHERE checkout_id = $1::uuid", world.unpaid_checkout_id, pay_by
        )


async def test_a_due_job_nobody_ran_breaks_stuck(world: World, db: asyncpg.Connection) -> None:
    due_at = await db.fetchval(
        "SELECT due_at FROM orders.due_jobs WHERE kind = 'payment_timeout' AND key = $1", world.unpaid_checkout_id
    )
    await db.execute(
        "UPDATE orders.due_jobs SET due_at = $2 WHERE kind = 'payment_timeout' AND key = $1",
        world.unpaid_checkout_id,
        world.now - LATE,
    )
    try:
        await only(world, "stuck", f"payment_timeout {world.unpaid_checkout_id}")
    finally:
        await db.execute(
            "UPDATE orders.due_jobs SET due_at = $2 WHERE kind = 'payment_timeout' AND key = $1",
            world.unpaid_checkout_id,
            due_at,
        )


async def test_a_team_buy_open_past_its_deadline_breaks_stuck(world: World, db: asyncpg.Connection) -> None:
    team = await left(db, "a filled team", "SELECT * FROM local_life.teams WHERE status = 'filled' LIMIT 1")
    await db.execute(
        """UPDATE local_life.teams
           SET status = 'open', closed_at = NULL, opened_at = $2::timestamptz - interval '1 hour', deadline = $2
           WHERE team_id = $1""",
        team["team_id"],
        world.now - LATE,
    )
    try:
        await only(world, "stuck", str(team["team_id"]))
    finally:
        await db.execute(
            "UPDATE local_life.teams SET status = $2, closed_at = $3, opened_at = $4, deadline = $5 WHERE team_id = $1",
            team["team_id"],
            team["status"],
            team["closed_at"],
            team["opened_at"],
            team["deadline"],
        )


# --- 7. funnel ----------------------------------------------------------------------------------------------------


async def test_a_funnel_minute_off_by_one_breaks_funnel(world: World, db: asyncpg.Connection) -> None:
    key = await left(
        db,
        "a rollup of paid orders",
        "SELECT scope, scope_id, step, minute, currency FROM live.funnel_minutes WHERE step = 'paid' LIMIT 1",
    )
    where = "scope = $1 AND scope_id = $2 AND step = $3 AND minute = $4 AND currency = $5"
    await db.execute(f"UPDATE live.funnel_minutes SET n = n + 1 WHERE {where}", *key.values())
    try:
        verdict = await only(world, "funnel", key["scope_id"])
        assert "paid" in verdict.violations[0]
    finally:
        await db.execute(f"UPDATE live.funnel_minutes SET n = n - 1 WHERE {where}", *key.values())


async def test_a_buyer_the_funnel_never_counted_breaks_funnel(world: World, db: asyncpg.Connection) -> None:
    row = await db.fetchrow(
        """DELETE FROM live.funnel_uniques WHERE (scope, scope_id, kind, person_id) =
               (SELECT scope, scope_id, kind, person_id FROM live.funnel_uniques WHERE kind = 'buyer' LIMIT 1)
           RETURNING *"""
    )
    try:
        await only(world, "funnel", row["person_id"])
    finally:
        await db.execute("INSERT INTO live.funnel_uniques VALUES ($1, $2, $3, $4, $5)", *row.values())


# --- and everything was put back ----------------------------------------------------------------------------------


async def test_every_case_was_undone(world: World) -> None:
    """The cases made right what they broke (a refund owed and made, a grant): the data is consistent again."""
    (await check(world.infra, world.now)).assert_clean()
