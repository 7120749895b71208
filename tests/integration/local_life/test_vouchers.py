"""Vouchers are issued when a deal line is paid, once per line however often the payment arrives, and shown only to
their buyer, with the code to show at the counter and a QR payload."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import msgspec

from libs.contracts import OrderLine, VouchersIssued
from tests.harness import Stack, assert_problem, caught_up, delivered_twice, eventually, paid_order, publish
from tests.integration.local_life.support import merchant, new_deal, new_store

SERVICES = ("local_life",)

ALL_DAY = {str(day): [["00:00", "24:00"]] for day in range(7)}


async def counter(stack: Stack, **store_fields: Any) -> dict[str, Any]:
    """A merchant with an open-all-day store (Shanghai time) and its token."""
    merchant_id, token = merchant(stack)
    fields = {"timezone": "Asia/Shanghai", "opening_hours": ALL_DAY} | store_fields
    store = await new_store(stack, token, **fields)
    return {"merchant_id": merchant_id, "token": token, "store": store}


async def published_deal(stack: Stack, shop: dict[str, Any], **fields: Any) -> dict[str, Any]:
    fields.setdefault("store_ids", [shop["store"]["store_id"]])
    return await new_deal(stack, shop["token"], publish=True, **fields)


async def clerk_token(stack: Stack, shop: dict[str, Any], store_id: str | None = None) -> str:
    """A clerk added by the merchant at its store, and the clerk's token."""
    store_id = store_id or shop["store"]["store_id"]
    clerk_id = f"clerk-{uuid.uuid4().hex[:10]}"
    async with stack.client("local_life", shop["token"]) as client:
        added = await client.post(f"/seller/stores/{store_id}/clerks", json={"clerk_id": clerk_id, "name": "Ann"})
    assert added.status_code == 201, added.text
    return stack.infra.token("clerk", sub=clerk_id, store_id=store_id)


def deal_line(deal_id: str, *, quantity: int = 1, **fields: Any) -> OrderLine:
    return OrderLine(
        sku_id=str(uuid.uuid4()),
        product_id=str(uuid.uuid4()),
        title="Hotpot for two",
        sku_name="Deal",
        quantity=quantity,
        unit_price_minor=9900,
        amount_minor=9900 * quantity,
        deal_id=deal_id,
        **fields,
    )


async def issued(stack: Stack, order_id: str, count: int) -> list[dict[str, Any]]:
    """The order's vouchers once `count` of them exist."""
    db = stack.apps["local_life"].runtime.db

    async def rows() -> list:
        found = await db.fetch(
            "SELECT voucher_id::text, line_no, seq, status FROM vouchers WHERE order_id = $1 ORDER BY line_no, seq",
            order_id,
        )
        return found if len(found) >= count else []

    return [dict(r) for r in await eventually(rows, timeout=10)]


async def buy(
    stack: Stack,
    shop: dict[str, Any],
    deal: dict[str, Any],
    *,
    quantity: int = 1,
    paid_at: datetime | None = None,
    **line: Any,
) -> dict[str, Any]:
    """A buyer pays for `quantity` of the deal: the order, the buyer's token and the vouchers issued."""
    buyer_id = f"buyer-{uuid.uuid4().hex[:10]}"
    paid = paid_order(
        buyer_id=buyer_id,
        merchant_id=shop["merchant_id"],
        lines=[deal_line(deal["deal_id"], quantity=quantity, **line)],
        amount_minor=9900 * quantity,
        currency="CNY",
        paid_at=paid_at or stack.clock.now(),
    )
    await publish(stack, paid)
    vouchers = await issued(stack, paid.order_id, quantity * deal["vouchers_per_purchase"])
    return {"order": paid, "buyer": stack.infra.token("buyer", sub=buyer_id), "vouchers": vouchers}


async def buyer_view(stack: Stack, purchase: dict[str, Any]) -> list[dict[str, Any]]:
    """The buyer's vouchers of that purchase, as GET /vouchers shows them, in issue order."""
    async with stack.client("local_life", purchase["buyer"]) as client:
        listed = await client.get("/vouchers", params={"limit": 100})
    assert listed.status_code == 200, listed.text
    mine = [v for v in listed.json()["items"] if v["order_id"] == purchase["order"].order_id]
    return sorted(mine, key=lambda v: [x["voucher_id"] for x in purchase["vouchers"]].index(v["voucher_id"]))


async def outbox(stack: Stack, subject: str) -> list[dict]:
    db = stack.apps["local_life"].runtime.db
    rows = await db.fetch("SELECT payload FROM outbox WHERE subject = $1 ORDER BY created_at", subject)
    return [msgspec.json.decode(r["payload"]) for r in rows]


# --- tests -------------------------------------------------------------------------------------------


async def test_a_paid_deal_line_gets_its_vouchers_once_however_often_the_payment_arrives(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop, vouchers_per_purchase=3)
    room_id = str(uuid.uuid4())
    paid = paid_order(
        merchant_id=shop["merchant_id"],
        lines=[deal_line(deal["deal_id"], quantity=2, room_id=room_id)],
        currency="CNY",
        paid_at=stack.clock.now(),
    )
    await delivered_twice(stack, paid)
    await eventually(lambda: caught_up(stack, "local_life", "local_life__vouchers", "ORDERS", deliveries=2))
    first = await issued(stack, paid.order_id, 6)
    await publish(stack, paid, msg_id=str(uuid.uuid4()))  # the outbox row published once more, later
    await eventually(lambda: caught_up(stack, "local_life", "local_life__vouchers", "ORDERS", deliveries=3))
    again = await issued(stack, paid.order_id, 6)
    assert again == first
    assert [(v["line_no"], v["seq"], v["status"]) for v in first] == [(0, n, "unused") for n in range(1, 7)]

    announced = [e for e in await outbox(stack, VouchersIssued.SUBJECT) if e["source"]["order_id"] == paid.order_id]
    assert len(announced) == 1
    event = announced[0]
    assert event["deal_id"] == deal["deal_id"]
    assert event["buyer_id"] == paid.buyer_id
    assert event["source"] == {"order_id": paid.order_id, "line_no": 0, "room_id": room_id, "flash_sale_id": None}
    assert sorted(v["voucher_id"] for v in event["vouchers"]) == sorted(v["voucher_id"] for v in first)


async def test_the_buyer_sees_each_code_and_qr_and_nobody_else_does(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop, vouchers_per_purchase=2, valid_days=10)
    purchase = await buy(stack, shop, deal)
    mine = await buyer_view(stack, purchase)
    assert len(mine) == 2
    codes = {v["code"] for v in mine}
    assert len(codes) == 2
    for voucher in mine:
        assert len(voucher["code"]) == 25
        assert voucher["code"].count("-") == 4
        assert voucher["qr"].startswith(f"v1.{voucher['voucher_id']}.")
        assert voucher["qr"].count(".") == 2
        assert voucher["code"] not in voucher["qr"]
        assert voucher["deal_title"] == deal["title"]
        assert voucher["status"] == "unused"
        assert voucher["redemptions"] == []
        valid = datetime.fromisoformat(voucher["valid_until"]) - datetime.fromisoformat(voucher["valid_from"])
        assert valid == timedelta(days=10)

    one = mine[0]
    async with stack.client("local_life", purchase["buyer"]) as client:
        shown = await client.get(f"/vouchers/{one['voucher_id']}")
    assert shown.status_code == 200, shown.text
    assert shown.json() == one

    stranger = stack.infra.token("buyer")
    async with stack.client("local_life", stranger) as client:
        assert_problem(await client.get(f"/vouchers/{one['voucher_id']}"), 404, "voucher-not-found")
        assert_problem(await client.get("/vouchers/not-a-uuid"), 404, "voucher-not-found")
        assert (await client.get("/vouchers")).json() == {"items": [], "next_cursor": None}
    async with stack.client("local_life", shop["token"]) as client:
        assert (await client.get(f"/vouchers/{one['voucher_id']}")).status_code == 403

    # Only a hash, the last 4 characters and a sealed form are stored: never the code itself.
    db = stack.apps["local_life"].runtime.db
    row = await db.fetchrow("SELECT * FROM vouchers WHERE voucher_id = $1", one["voucher_id"])
    plain = one["code"].replace("-", "")
    assert plain not in " ".join(str(value) for value in dict(row).values())
    assert row["code_last4"] == plain[16:20]


async def test_the_buyers_list_pages_newest_first(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop, vouchers_per_purchase=5)
    purchase = await buy(stack, shop, deal)
    seen: list[str] = []
    cursor = None
    async with stack.client("local_life", purchase["buyer"]) as client:
        while True:
            params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await client.get("/vouchers", params=params)).json()
            seen += [v["voucher_id"] for v in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert_problem(await client.get("/vouchers", params={"cursor": "nonsense"}), 400, "invalid-cursor", "cursor")
        assert (await client.get("/vouchers", params={"limit": 0})).status_code == 400
    assert sorted(seen) == sorted(v["voucher_id"] for v in purchase["vouchers"])
    assert len(seen) == 5


async def test_lines_of_unknown_deals_or_another_merchants_get_nothing_and_the_rest_are_issued(stack: Stack) -> None:
    shop, other = await counter(stack), await counter(stack)
    deal = await published_deal(stack, shop)
    others_deal = await published_deal(stack, other)
    paid = paid_order(
        merchant_id=shop["merchant_id"],
        lines=[
            deal_line(str(uuid.uuid4())),  # a deal local_life never heard of
            deal_line(others_deal["deal_id"]),  # another merchant's
            OrderLine(
                sku_id=str(uuid.uuid4()),
                product_id=str(uuid.uuid4()),
                title="Not a deal",
                sku_name="-",
                quantity=1,
                unit_price_minor=100,
                amount_minor=100,
            ),
            deal_line(deal["deal_id"], quantity=2),
        ],
        currency="CNY",
        paid_at=stack.clock.now(),
    )
    await publish(stack, paid)
    vouchers = await issued(stack, paid.order_id, 2)
    assert [(v["line_no"], v["seq"]) for v in vouchers] == [(3, 1), (3, 2)]
    db = stack.apps["local_life"].runtime.db
    # Not dead-lettered: the event was applied (skipping what it cannot issue).
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 0
