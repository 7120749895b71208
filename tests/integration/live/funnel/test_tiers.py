"""Host tiers and customer segments from events: views, payments and refunds published as their owners publish
them, folded by the funnel's consumers, recomputed on demand and by the daily job, read over HTTP."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from libs.contracts import OrderLine, OrderPaid, RefundLine, RefundSucceeded, RoomViewed
from tests.harness import Infra, Stack, assert_problem, eventually, publish
from tests.integration.live.support import control, create_room, new_id

SERVICES = ("live",)
# Thresholds a handful of events can reach (GPM is per 1,000 views: 4 views of 60.00 is 15,000.00 per 1,000).
SETTINGS = {
    "tier_currency": "USD",
    "host_tier_s_net_minor": 50_000,
    "host_tier_s_gpm_minor": 10_000_000,
    "host_tier_a_net_minor": 20_000,
    "host_tier_a_gpm_minor": 5_000_000,
    "host_tier_b_net_minor": 5_000,
    "host_tier_b_gpm_minor": 1_000_000,
    "customer_loyal_orders": 3,
    "customer_loyal_net_minor": 30_000,
}
DAY = timedelta(days=1)


@dataclass
class Host:
    """A host with a live room of a merchant, and the tokens to read as them."""

    host_id: str
    token: str
    merchant_id: str
    merchant: str
    room_id: str
    session_id: str


async def live_host(stack: Stack, infra: Infra, db: asyncpg.Connection, merchant_id: str | None = None) -> Host:
    room = await create_room(stack, infra, merchant_id)
    await control(stack, room, "start")
    session_id = await db.fetchval("SELECT current_session_id::text FROM live.rooms WHERE room_id = $1", room.room_id)
    return Host(room.body["host_id"], room.host, room.merchant_id, room.merchant, room.room_id, session_id)


async def viewed(stack: Stack, host: Host, viewers: int, at: datetime, viewer_id: str | None = None) -> None:
    for _ in range(viewers):
        await publish(
            stack,
            RoomViewed(
                visit_id=new_id(),
                room_id=host.room_id,
                session_id=host.session_id,
                host_id=host.host_id,
                merchant_id=host.merchant_id,
                viewer_id=viewer_id or f"viewer-{uuid.uuid4().hex[:8]}",
                joined_at=at,
            ),
        )


def _line(amount_minor: int, room_id: str) -> OrderLine:
    return OrderLine(
        sku_id=new_id(),
        product_id=new_id(),
        title="Linen Shirt",
        sku_name="M",
        quantity=1,
        unit_price_minor=amount_minor,
        amount_minor=amount_minor,
        room_id=room_id,
    )


async def paid(
    stack: Stack, host: Host, amount_minor: int, at: datetime, *, buyer_id: str | None = None, currency: str = "USD"
) -> OrderPaid:
    """An order of one line sold in the host's room, paid at `at`."""
    order = OrderPaid(
        order_id=new_id(),
        checkout_id=new_id(),
        payment_id=new_id(),
        buyer_id=buyer_id or f"buyer-{uuid.uuid4().hex[:8]}",
        merchant_id=host.merchant_id,
        lines=[_line(amount_minor, host.room_id)],
        amount_minor=amount_minor,
        currency=currency,
        paid_at=at,
    )
    await publish(stack, order)
    return order


async def refunded(stack: Stack, order: OrderPaid, amount_minor: int, at: datetime) -> None:
    line = order.lines[0]
    await publish(
        stack,
        RefundSucceeded(
            grant_id=new_id(),
            order_id=order.order_id,
            checkout_id=order.checkout_id,
            buyer_id=order.buyer_id,
            merchant_id=order.merchant_id,
            amount_minor=amount_minor,
            currency=order.currency,
            refund_lines=[
                RefundLine(line_no=0, sku_id=line.sku_id, quantity=1, amount_minor=amount_minor, room_id=line.room_id)
            ],
            lines=order.lines,
            stripe_refund_id=f"re_{uuid.uuid4().hex[:12]}",
            refunded_at=at,
        ),
    )


async def folded(db: asyncpg.Connection, merchant_id: str, facts: int) -> None:
    """Wait until the funnel holds `facts` facts of the merchant (the consumers have folded what was published)."""

    async def count() -> bool:
        found = await db.fetchval("SELECT count(*) FROM live.funnel_facts WHERE merchant_id = $1", merchant_id)
        assert found <= facts, found
        return found == facts

    await eventually(count, timeout=20)


async def recompute_tiers(stack: Stack, infra: Infra) -> dict:
    async with stack.client("live", infra.token("operator")) as operator:
        response = await operator.post("/host-tiers/recompute")
    assert response.status_code == 200, response.text
    return response.json()


async def tier_of(stack: Stack, host: Host, token: str | None = None) -> dict:
    async with stack.client("live", token or host.token) as client:
        response = await client.get(f"/hosts/{host.host_id}/tier")
    assert response.status_code == 200, response.text
    return response.json()


async def customers(stack: Stack, merchant_id: str, token: str, **params: str) -> dict:
    async with stack.client("live", token) as client:
        response = await client.get(f"/merchants/{merchant_id}/customers", params=params)
    assert response.status_code == 200, response.text
    return response.json()


# --- host tiers -----------------------------------------------------------------------------------------------


async def test_hosts_get_the_tier_their_last_30_days_earn(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    now = stack.clock.now()
    s, a, b, c = [await live_host(stack, infra, db) for _ in range(4)]
    # S: 4 views, 60.00 paid: net 60,000, GPM 60,000 * 1000 / 4 = 15,000,000.
    await viewed(stack, s, 4, now - DAY)
    await paid(stack, s, 60_000, now - DAY)
    # A: the same, with 20.00 refunded: net 40,000 (short of S), GPM (gross) 15,000,000.
    await viewed(stack, a, 4, now - DAY)
    a_order = await paid(stack, a, 60_000, now - DAY)
    # The refund comes once the payment is folded, as a refund does in life (not in the payment's ingest batch).
    await folded(db, a.merchant_id, 5)
    await refunded(stack, a_order, 20_000, now - DAY / 2)
    # B: 10 views, 12.00 paid: net 12,000 (short of A), GPM 1,200,000.
    await viewed(stack, b, 10, now - DAY)
    await paid(stack, b, 12_000, now - DAY)
    # C: 2 views; its sales do not count: 500.00 in EUR, and 500.00 paid 31 days ago (and its 3 views then).
    await viewed(stack, c, 2, now - DAY)
    await paid(stack, c, 50_000, now - DAY, currency="EUR")
    await viewed(stack, c, 3, now - 31 * DAY)
    await paid(stack, c, 50_000, now - 31 * DAY)
    for host, facts in ((s, 5), (a, 6), (b, 11), (c, 7)):
        await folded(db, host.merchant_id, facts)

    done = await recompute_tiers(stack, infra)
    assert done["hosts"] >= 4

    answers = {h.host_id: await tier_of(stack, h) for h in (s, a, b, c)}
    figures = {
        host_id: {k: answer["tier"][k] for k in ("tier", "views", "gross_paid_minor", "refunded_minor", "net_minor")}
        | {"gpm_minor": answer["tier"]["gpm_minor"]}
        for host_id, answer in answers.items()
    }
    assert figures == {
        s.host_id: dict(
            tier="S", views=4, gross_paid_minor=60_000, refunded_minor=0, net_minor=60_000, gpm_minor=15_000_000
        ),
        a.host_id: dict(
            tier="A", views=4, gross_paid_minor=60_000, refunded_minor=20_000, net_minor=40_000, gpm_minor=15_000_000
        ),
        b.host_id: dict(
            tier="B", views=10, gross_paid_minor=12_000, refunded_minor=0, net_minor=12_000, gpm_minor=1_200_000
        ),
        c.host_id: dict(tier="C", views=2, gross_paid_minor=0, refunded_minor=0, net_minor=0, gpm_minor=0),
    }
    tier = answers[s.host_id]["tier"]
    assert tier["currency"] == "USD"
    assert tier["computed_at"] == done["computed_at"]
    assert datetime.fromisoformat(tier["window_from"]) <= now - 30 * DAY + timedelta(minutes=1)
    assert answers[s.host_id]["changes"] == [
        {
            "computed_at": done["computed_at"],
            "tier": "S",
            "previous_tier": None,
            "net_minor": 60_000,
            "gpm_minor": 15_000_000,
        }
    ]


async def test_a_tier_change_is_kept_with_when_it_happened(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    now = stack.clock.now()
    host = await live_host(stack, infra, db)
    await viewed(stack, host, 4, now - DAY)
    order = await paid(stack, host, 60_000, now - DAY)
    await folded(db, host.merchant_id, 5)
    first = await recompute_tiers(stack, infra)
    assert (await tier_of(stack, host))["tier"]["tier"] == "S"

    await refunded(stack, order, 55_000, now - DAY / 2)
    await folded(db, host.merchant_id, 6)
    second = await recompute_tiers(stack, infra)

    answer = await tier_of(stack, host)
    # Net 5,000 reaches B's net; GPM stays 15,000,000 (gross-based).
    assert answer["tier"]["tier"] == "B"
    assert answer["tier"]["since"] == second["computed_at"]
    assert [(c["tier"], c["previous_tier"], c["computed_at"]) for c in answer["changes"]] == [
        ("B", "S", second["computed_at"]),
        ("S", None, first["computed_at"]),
    ]
    # A recompute that changes nothing adds no change.
    await recompute_tiers(stack, infra)
    assert len((await tier_of(stack, host))["changes"]) == 2


async def test_a_tier_is_read_by_the_host_its_merchant_and_operators_only(
    stack: Stack, infra: Infra, db: asyncpg.Connection
) -> None:
    now = stack.clock.now()
    host = await live_host(stack, infra, db)
    await viewed(stack, host, 1, now - DAY)
    await folded(db, host.merchant_id, 1)
    await recompute_tiers(stack, infra)

    assert (await tier_of(stack, host, host.merchant))["tier"]["tier"] == "C"
    assert (await tier_of(stack, host, infra.token("operator")))["tier"]["tier"] == "C"
    url = f"/hosts/{host.host_id}/tier"
    for stranger in (infra.token("host", merchant_id=host.merchant_id), infra.token("merchant", merchant_id=new_id())):
        async with stack.client("live", stranger) as client:
            assert_problem(await client.get(url), 404)
    async with stack.client("live", infra.token("buyer")) as buyer:
        assert_problem(await buyer.get(url), 403)
        assert_problem(await buyer.post("/host-tiers/recompute"), 403)
    async with stack.client("live", host.token) as own:
        assert_problem(await own.post("/host-tiers/recompute"), 403)
    # A host never computed is not found, even by itself.
    newcomer = await live_host(stack, infra, db)
    async with stack.client("live", newcomer.token) as client:
        assert_problem(await client.get(f"/hosts/{newcomer.host_id}/tier"), 404)


# --- customer segments ----------------------------------------------------------------------------------------


async def test_a_merchant_lists_its_customers_by_segment(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    now = stack.clock.now()
    shop = await live_host(stack, infra, db)
    prospect, new, active, paying, loyal, at_risk = (
        f"{name}-{uuid.uuid4().hex[:6]}" for name in ("prospect", "new", "active", "paying", "loyal", "at-risk")
    )
    await viewed(stack, shop, 1, now - 10 * DAY, viewer_id=prospect)
    await paid(stack, shop, 4_000, now - DAY, buyer_id=new)
    await paid(stack, shop, 3_000, now - 100 * DAY, buyer_id=active)
    await paid(stack, shop, 2_000, now - 2 * DAY, buyer_id=active)
    await paid(stack, shop, 7_000, now - 45 * DAY, buyer_id=paying)
    for days in (50, 20, 5):
        await paid(stack, shop, 10_000, now - days * DAY, buyer_id=loyal)
    refund_me = await paid(stack, shop, 9_000, now - 120 * DAY, buyer_id=at_risk)
    await folded(db, shop.merchant_id, 9)
    await refunded(stack, refund_me, 1_000, now - 119 * DAY)
    await folded(db, shop.merchant_id, 10)

    async with stack.client("live", shop.merchant) as merchant:
        response = await merchant.post(f"/merchants/{shop.merchant_id}/customers/recompute")
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["customers"] == 6
    assert done["segments"] == {"prospect": 1, "at_risk": 1, "loyal": 1, "active": 1, "new": 1, "paying": 1}

    page = await customers(stack, shop.merchant_id, shop.merchant)
    assert page["computed_at"] == done["computed_at"]
    rows = [
        (c["person_id"], c["segment"], c["recency_days"], c["frequency"], c["monetary_minor"], c["currency"])
        for c in page["items"]
    ]
    # Most monetary first: R in whole days since the last payment, F paid orders in 365 days, M paid - refunded.
    assert rows == [
        (loyal, "loyal", 5, 3, 30_000, "USD"),
        (at_risk, "at_risk", 120, 1, 8_000, "USD"),
        (paying, "paying", 45, 1, 7_000, "USD"),
        (active, "active", 2, 2, 5_000, "USD"),
        (new, "new", 1, 1, 4_000, "USD"),
        (prospect, "prospect", None, 0, 0, "USD"),
    ]

    only_new = await customers(stack, shop.merchant_id, shop.merchant, segment="new")
    assert [c["person_id"] for c in only_new["items"]] == [new]
    first = await customers(stack, shop.merchant_id, shop.merchant, limit="4")
    rest = await customers(stack, shop.merchant_id, shop.merchant, limit="4", cursor=first["next_cursor"])
    assert [c["person_id"] for c in first["items"] + rest["items"]] == [r[0] for r in rows]
    assert rest["next_cursor"] is None


async def test_customers_are_the_merchants_own_and_segments_are_known(
    stack: Stack, infra: Infra, db: asyncpg.Connection
) -> None:
    shop = await live_host(stack, infra, db)
    url = f"/merchants/{shop.merchant_id}/customers"
    for stranger in (infra.token("merchant", merchant_id=new_id()),):
        async with stack.client("live", stranger) as client:
            assert_problem(await client.get(url), 404)
            assert_problem(await client.post(f"{url}/recompute"), 404)
    for other_role in (shop.token, infra.token("operator"), infra.token("buyer")):
        async with stack.client("live", other_role) as client:
            assert_problem(await client.get(url), 403)
    async with stack.client("live", shop.merchant) as merchant:
        before = await merchant.get(url)
        assert before.status_code == 200, before.text
        assert before.json() == {"merchant_id": shop.merchant_id, "computed_at": None, "items": [], "next_cursor": None}
        assert_problem(await merchant.get(url, params={"segment": "whales"}), 422, "unknown-segment", "segment")
        assert_problem(await merchant.get(url, params={"cursor": "not-a-cursor"}), 400, "invalid-cursor", "cursor")


# --- the daily run (last: it moves the module's clock a day on) ------------------------------------------------


async def test_the_daily_job_recomputes_tiers_and_segments(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    async def next_run() -> datetime | None:
        due = await db.fetchval("SELECT due_at FROM live.due_jobs WHERE kind = 'funnel_tiers_daily' AND key = 'daily'")
        # The first run (at start-up) has moved it to the next 02:00 UTC.
        return due if due is not None and due > stack.clock.now() else None

    due_at = await eventually(next_run)
    assert (due_at.hour, due_at.minute) == (2, 0)
    now = stack.clock.now()
    host = await live_host(stack, infra, db)
    buyer = f"buyer-{uuid.uuid4().hex[:6]}"
    await viewed(stack, host, 10, now - DAY)
    await paid(stack, host, 12_000, now - DAY, buyer_id=buyer)
    await folded(db, host.merchant_id, 11)

    stack.clock.advance((due_at - stack.clock.now()).total_seconds() + 1)

    async def computed() -> dict | None:
        answer = await tier_of_or_none(stack, host)
        return answer if answer and datetime.fromisoformat(answer["tier"]["computed_at"]) >= due_at else None

    answer = await eventually(computed, timeout=20)
    assert (answer["tier"]["tier"], answer["tier"]["net_minor"], answer["tier"]["gpm_minor"]) == (
        "B",
        12_000,
        1_200_000,
    )

    async def segmented() -> dict | None:
        page = await customers(stack, host.merchant_id, host.merchant)
        return page if page["computed_at"] and datetime.fromisoformat(page["computed_at"]) >= due_at else None

    page = await eventually(segmented, timeout=20)
    # Paid a day before the run (a day and some hours by it): new; the ten viewers who never paid: prospects.
    assert [(c["person_id"], c["segment"], c["frequency"], c["monetary_minor"]) for c in page["items"][:1]] == [
        (buyer, "new", 1, 12_000)
    ]
    assert [c["segment"] for c in page["items"][1:]] == ["prospect"] * 10

    following = await db.fetchval("SELECT due_at FROM live.due_jobs WHERE kind = 'funnel_tiers_daily'")
    assert following == due_at + DAY


async def tier_of_or_none(stack: Stack, host: Host) -> dict | None:
    async with stack.client("live", host.token) as client:
        response = await client.get(f"/hosts/{host.host_id}/tier")
    return response.json() if response.status_code == 200 else None
