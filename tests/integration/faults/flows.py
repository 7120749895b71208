"""The five flows the fault suite runs under every crash point, over the public HTTP APIs only, as apps would.

Each flow takes the stack (in-process `Stack` or real processes, `procs.Procs`) and a seeded `random.Random`, drives
one user story to its end, and asserts what its users would see: the buyer's checkout paid once, the sale's units
sold or back on the shelf, the case refunded, the voucher redeemed once and the refund made once, the team filled or
refunded. A request that fails in a way a real app would retry (a 5xx while a process dies and comes back) is tried
again with the same Idempotency-Key. What a flow cannot see (charges at Stripe, outbox and inbox rows, stock
equations) is the invariant checker's (devstack/invariants/), run after every round.

A flow returns an optional `Later`: an outcome that takes longer than a round (a team buy that fails at its deadline,
at least 60 s away) is awaited once, at the end of the module.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx

from tests.e2e.flows import Shopfront, sku_stock
from tests.harness import eventually
from tests.integration.local_life.support import deal_body
from tests.integration.orders.support import Seller, stock

# A flow's own deadline for an outcome the user waits for; generous: it may wait out a restart and an ack wait.
WAIT_S = 90.0
ALL_DAY = {str(day): [["00:00", "24:00"]] for day in range(7)}
TEAM_WINDOW_S = 60  # the shortest a merchant may give a team buy
SALE_PAY_WITHIN_S = 30  # the shortest a host may give a flash sale's buyers to pay

Later = Callable[[], Awaitable[None]]

# The settings every fault module starts the services with (each adds its own payment windows): a lost webhook is
# looked up 2 s after the confirm, a dead process's job runs again after 3 s, an orphan intent is found 4 s after its
# request, a message whose ack died comes back after 4 s, and the throttles let a test's rush through.
FAST_RECOVERY: dict[str, object] = {
    "consumer_ack_wait_s": 4.0,
    "job_lease_s": 3.0,
    "reconcile_after_s": 2.0,
    "reconcile_interval_s": 2.0,
    "orphan_sweep_interval_s": 2.0,
    "orphan_grace_s": 4.0,
    "checkout_rate_per_s": 50.0,
    "checkout_burst": 100,
    "purchase_rate_per_s": 50.0,
    "purchase_burst": 100,
    "relay_interval_s": 0.05,
    "scheduler_interval_s": 0.1,
    "db_pool_max": 6,
}


class StackLike(Protocol):
    infra: Any

    def client(self, service: str, token: str | None = None) -> httpx.AsyncClient: ...


async def send(
    client: httpx.AsyncClient, method: str, url: str, *, ok: tuple[int, ...], key: bool = False, **kwargs: Any
) -> httpx.Response:
    """One request as an app sends it: with an Idempotency-Key if asked, tried again (same key) on a 5xx for up to
    WAIT_S; the answer must be one of `ok`."""
    headers = {"Idempotency-Key": str(uuid.uuid4())} if key else {}

    async def answered() -> httpx.Response | None:
        response = await client.request(method, url, headers=headers, **kwargs)
        if response.status_code >= 500:
            return None
        assert response.status_code in ok, f"{method} {url}: {response.status_code} {response.text}"
        return response

    return await eventually(answered, timeout=WAIT_S, interval=0.3)


async def _get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any] | None:
    response = await client.get(url)
    return response.json() if response.status_code == 200 else None


async def pay(client: httpx.AsyncClient, payment_id: str, method: str = "pm_card_visa") -> None:
    """Confirm a payment; a second confirm of a payment already under way is refused and that is fine."""
    await send(client, "POST", f"/payments/{payment_id}/confirm", ok=(202, 409), json={"payment_method": method})


async def checkout_paid(client: httpx.AsyncClient, checkout_id: str) -> dict[str, Any]:
    async def paid() -> dict[str, Any] | None:
        found = await _get_json(client, f"/checkouts/{checkout_id}")
        if found and found["status"] == "paid" and all(o["status"] == "paid" for o in found["orders"]):
            return found
        return None

    return await eventually(paid, timeout=WAIT_S, interval=0.3)


# --- set-up, as the back office does it: every write keyed, so a retry after a lost answer does it once ----------


async def new_seller(stack: StackLike, price_minor: int, *, stock: int) -> Seller:
    """An operator onboards a merchant; the merchant lists one product of one SKU."""
    async with stack.client("shop", stack.infra.token("operator")) as operator:
        made = await send(
            operator,
            "POST",
            "/merchants",
            ok=(201,),
            key=True,
            json={"name": f"Merchant {uuid.uuid4().hex[:6]}", "currency": "USD"},
        )
    merchant_id = made.json()["merchant_id"]
    token = stack.infra.token("merchant", merchant_id=merchant_id)
    async with stack.client("shop", token) as seller:
        listed = await send(
            seller,
            "POST",
            "/seller/products",
            ok=(201,),
            key=True,
            json={
                "title": "Oolong tea",
                "description": "Roasted",
                "skus": [{"name": "one", "price_minor": price_minor, "currency": "USD", "stock": stock}],
            },
        )
    product = listed.json()
    return Seller(merchant_id, token, product["product_id"], [s["sku_id"] for s in product["skus"]])


async def open_shopfront(stack: StackLike, *, stock: int, price_minor: int) -> Shopfront:
    """A merchant's product in the bag of a live room its host started (tests/e2e/flows.py's, every write keyed; a
    start whose answer was lost is seen as the room being live already)."""
    seller = await new_seller(stack, price_minor, stock=stock)
    host_token = stack.infra.token("host", merchant_id=seller.merchant_id)
    async with stack.client("live", host_token) as host:
        made = await send(
            host, "POST", "/rooms", ok=(201,), key=True, json={"title": "Drop", "merchant_id": seller.merchant_id}
        )
        room_id = made.json()["room_id"]
        await send(host, "POST", f"/rooms/{room_id}/start", ok=(200, 409))

        async def bag_accepts() -> bool:
            added = await host.post(f"/rooms/{room_id}/bag", json={"product_id": seller.product_id})
            assert added.status_code in (200, 201, 409) or added.status_code >= 500, added.text
            return added.status_code in (200, 201)

        # live learns of the product from shop's event: 409 until then.
        await eventually(bag_accepts, timeout=WAIT_S, interval=0.2)
    buyer_id = f"buyer-{uuid.uuid4().hex[:10]}"
    return Shopfront(
        merchant_id=seller.merchant_id,
        merchant_token=seller.token,
        host_token=host_token,
        buyer_token=stack.infra.token("buyer", sub=buyer_id),
        buyer_id=buyer_id,
        room_id=room_id,
        product_id=seller.product_id,
        sku_ids=seller.sku_ids,
        price_minor=price_minor,
    )


# --- 1. checkout -> pay -> webhook -> stock commit ----------------------------------------------------------------


async def checkout_and_pay(stack: StackLike, rng: random.Random) -> Later | None:
    seller = await new_seller(stack, rng.choice((1500, 2599, 999)), stock=20)
    quantity = rng.randint(1, 3)
    buyer_id = f"buyer-{uuid.uuid4().hex[:10]}"
    async with stack.client("orders", stack.infra.token("buyer", sub=buyer_id)) as orders:
        placed = await send(
            orders,
            "POST",
            "/checkout",
            ok=(201,),
            key=True,
            json={"items": [{"sku_id": seller.sku_id, "quantity": quantity}]},
        )
        body = placed.json()
        await pay(orders, body["payment"]["payment_id"])
        await checkout_paid(orders, body["checkout_id"])

    async def committed() -> bool:
        return await stock(stack, seller, seller.sku_id) == (20 - quantity, 0)

    await eventually(committed, timeout=WAIT_S, interval=0.3)
    return None


# --- 2. flash-sale purchase -> order -> pay or expire ------------------------------------------------------------


async def flash_sale(stack: StackLike, rng: random.Random) -> Later | None:
    front = await open_shopfront(stack, stock=10, price_minor=2599)
    sku = front.sku_ids[0]
    units = rng.randint(2, 3)
    async with stack.client("live", front.host_token) as host:
        created = await send(
            host,
            "POST",
            f"/rooms/{front.room_id}/flash-sales",
            ok=(201,),
            key=True,
            json={
                "sku_id": sku,
                "quantity": units,
                "price_minor": 999,
                "per_buyer_limit": 1,
                "duration_s": 900,
                "pay_within_s": SALE_PAY_WITHIN_S,
            },
        )
    sale = created.json()
    buyers = [stack.infra.token("buyer") for _ in range(units + 1)]
    admitted: list[tuple[str, str]] = []
    for token in buyers:
        async with stack.client("live", token) as live:
            tapped = await send(
                live,
                "POST",
                f"/rooms/{front.room_id}/flash-sales/{sale['sale_id']}/purchase",
                ok=(201, 409),
                key=True,
                json={"quantity": 1},
            )
        if tapped.status_code == 201:
            admitted.append((token, tapped.json()["order_id"]))
    assert len(admitted) == units, f"{units} units, {len(admitted)} admitted"
    payers = rng.randint(1, units)
    for n, (token, order_id) in enumerate(admitted):
        async with stack.client("orders", token) as orders:
            order = await eventually(lambda o=orders, i=order_id: _get_json(o, f"/orders/{i}"), timeout=WAIT_S)
            if n < payers:
                await pay(orders, order["payment_id"])

    async def outcomes() -> bool:
        statuses = []
        for token, order_id in admitted:
            async with stack.client("orders", token) as orders:
                found = await _get_json(orders, f"/orders/{order_id}")
            statuses.append(found and found["status"])
        return statuses == ["paid"] * payers + ["cancelled"] * (units - payers)

    # Paid units leave the shelf; the unpaid orders expire with the window and their units go back to the sale.
    await eventually(outcomes, timeout=WAIT_S, interval=0.5)

    async def shelf() -> bool:
        return await sku_stock(stack, front, sku) == (10 - payers, units - payers)

    await eventually(shelf, timeout=WAIT_S, interval=0.5)
    return None


# --- 3. after-sales refund ---------------------------------------------------------------------------------------


async def aftersales_refund(stack: StackLike, rng: random.Random) -> Later | None:
    price, quantity = rng.choice((800, 1200)), rng.randint(1, 3)
    seller = await new_seller(stack, price, stock=20)
    buyer_id = f"buyer-{uuid.uuid4().hex[:10]}"
    token = stack.infra.token("buyer", sub=buyer_id)
    async with stack.client("orders", token) as orders:
        placed = await send(
            orders,
            "POST",
            "/checkout",
            ok=(201,),
            key=True,
            json={"items": [{"sku_id": seller.sku_id, "quantity": quantity}]},
        )
        await pay(orders, placed.json()["payment"]["payment_id"])
        paid = await checkout_paid(orders, placed.json()["checkout_id"])
    order_id = paid["orders"][0]["order_id"]
    async with stack.client("orders", seller.token) as seller_orders:
        await send(
            seller_orders,
            "POST",
            f"/seller/orders/{order_id}/shipments",
            ok=(201,),
            key=True,
            json={"carrier": "dhl", "tracking_number": uuid.uuid4().hex},
        )
    refund_units = rng.randint(1, quantity)
    async with stack.client("aftersales", token) as cases, stack.client("aftersales", seller.token) as merchant:
        # Aftersales knows an order by its events (placed, paid, shipped): until it has heard of the shipment it
        # answers 409, and 404 while it has not heard of the order at all, e.g. when its consumer died before the ack
        # and the message waits out the ack wait. The buyer's app tries again; the key makes it one case.
        case_key = {"Idempotency-Key": str(uuid.uuid4())}

        async def case_opened() -> httpx.Response | None:
            response = await cases.post(
                "/cases",
                headers=case_key,
                json={
                    "order_id": order_id,
                    "kind": "refund_only",
                    "reason_code": "not_received",
                    "description": "The parcel never came",
                    "evidence_urls": [],
                    "lines": [{"line_no": 0, "quantity": refund_units}],
                },
            )
            # 422 `quantity-exceeds-refundable` ("0 units shipped") while it has heard of the order, not the shipment.
            assert (
                response.status_code in (201, 404, 409)
                or response.status_code >= 500
                or (response.status_code == 422 and response.json()["type"].endswith("/quantity-exceeds-refundable"))
            ), response.text
            return response if response.status_code == 201 else None

        opened = await eventually(case_opened, timeout=WAIT_S, interval=0.3)
        case = opened.json()
        await send(merchant, "POST", f"/seller/cases/{case['case_id']}/approve", ok=(200, 409))

        async def refunded() -> dict[str, Any] | None:
            found = await _get_json(cases, f"/cases/{case['case_id']}")
            return found if found and found["status"] == "refunded" else None

        closed = await eventually(refunded, timeout=WAIT_S, interval=0.3)
    assert closed["refund_amount_minor"] == refund_units * price
    return None


# --- 4. voucher: buy, redeem, undo, redeem again, refund the other ------------------------------------------------


async def _store_with_clerk(stack: StackLike, merchant_token: str, merchant_id: str) -> tuple[str, str]:
    async with stack.client("local_life", merchant_token) as merchant:
        made = await send(
            merchant,
            "POST",
            "/seller/stores",
            ok=(201,),
            json={
                "name": f"Spa {uuid.uuid4().hex[:6]}",
                "address": "1 Nanjing Road",
                "lat": 31.2304,
                "lng": 121.4737,
                "opening_hours": ALL_DAY,
            },
        )
        store_id = made.json()["store_id"]
        clerk_id = f"clerk-{uuid.uuid4().hex[:10]}"
        await send(
            merchant,
            "POST",
            f"/seller/stores/{store_id}/clerks",
            ok=(201, 409),
            json={"clerk_id": clerk_id, "name": "Counter"},
        )
    return store_id, stack.infra.token("clerk", sub=clerk_id, merchant_id=merchant_id, store_id=store_id)


async def _deal(stack: StackLike, merchant_token: str, store_id: str, **fields: Any) -> dict[str, Any]:
    async with stack.client("local_life", merchant_token) as merchant:
        drafted = await send(
            merchant,
            "POST",
            "/seller/deals",
            ok=(201,),
            json=deal_body(currency="USD", price_minor=4900, store_ids=[store_id], **fields),
        )
        deal = drafted.json()
        await send(merchant, "POST", f"/seller/deals/{deal['deal_id']}/publish", ok=(200, 409))
    return deal


def _merchant(stack: StackLike) -> tuple[str, str]:
    merchant_id = str(uuid.uuid4())
    return merchant_id, stack.infra.token("merchant", merchant_id=merchant_id)


async def _buy_deal(stack: StackLike, token: str, deal_id: str, quantity: int, team_id: str | None = None) -> dict:
    item: dict[str, Any] = {"deal_id": deal_id, "quantity": quantity} | ({"team_id": team_id} if team_id else {})
    async with stack.client("orders", token) as orders:
        placed = await send(orders, "POST", "/checkout", ok=(201,), key=True, json={"items": [item]})
        await pay(orders, placed.json()["payment"]["payment_id"])
        return await checkout_paid(orders, placed.json()["checkout_id"])


async def _vouchers(stack: StackLike, token: str, order_id: str, count: int, status: str | None = None) -> list[dict]:
    async with stack.client("local_life", token) as local:

        async def listed() -> list[dict] | None:
            found = await _get_json(local, "/vouchers?limit=100")
            mine = [v for v in (found or {}).get("items", []) if v["order_id"] == order_id]
            if status is not None:
                mine = [v for v in mine if v["status"] == status]
            return mine if len(mine) == count else None

        return await eventually(listed, timeout=WAIT_S, interval=0.3)


async def _redeem(clerk: httpx.AsyncClient, code: str, voucher_id: str) -> dict[str, Any]:
    prepared = await send(clerk, "POST", "/redemptions/prepare", ok=(200,), json={"code": code})
    verified = await send(
        clerk,
        "POST",
        "/redemptions/verify",
        ok=(200,),
        json={"verify_token": prepared.json()["verify_token"], "voucher_ids": [voucher_id]},
    )
    (outcome,) = verified.json()["vouchers"]
    assert outcome["outcome"] == "redeemed", outcome
    return outcome


async def voucher_redeem_undo_refund(stack: StackLike, rng: random.Random) -> Later | None:
    merchant_id, merchant_token = _merchant(stack)
    store_id, clerk_token = await _store_with_clerk(stack, merchant_token, merchant_id)
    deal = await _deal(stack, merchant_token, store_id, title=f"Spa {uuid.uuid4().hex[:6]}")
    buyer_token = stack.infra.token("buyer", sub=f"buyer-{uuid.uuid4().hex[:10]}")
    paid = await _buy_deal(stack, buyer_token, deal["deal_id"], 2)
    order_id = paid["orders"][0]["order_id"]
    used, kept = await _vouchers(stack, buyer_token, order_id, 2)
    async with stack.client("local_life", clerk_token) as clerk:
        first = await _redeem(clerk, used["code"], used["voucher_id"])
        if rng.random() < 0.5:
            # The clerk took the wrong one back: undo, then redeem it again.
            await send(clerk, "POST", f"/redemptions/{first['redemption_id']}/undo", ok=(200, 409))
            await _vouchers(stack, buyer_token, order_id, 2, status="unused")
            await _redeem(clerk, used["code"], used["voucher_id"])
    async with stack.client("local_life", buyer_token) as local:
        await send(local, "POST", "/vouchers/refund", ok=(202,), key=True, json={"voucher_ids": [kept["voucher_id"]]})

        async def settled() -> bool:
            a = await _get_json(local, f"/vouchers/{used['voucher_id']}")
            b = await _get_json(local, f"/vouchers/{kept['voucher_id']}")
            return bool(a and b and (a["status"], b["status"]) == ("redeemed", "refunded"))

        await eventually(settled, timeout=WAIT_S, interval=0.3)
    return None


# --- 5. team buy: fill, or fail at its deadline -------------------------------------------------------------------


async def team_buy(stack: StackLike, rng: random.Random) -> Later | None:
    merchant_id, merchant_token = _merchant(stack)
    store_id, _ = await _store_with_clerk(stack, merchant_token, merchant_id)
    deal = await _deal(
        stack,
        merchant_token,
        store_id,
        title=f"Hotpot {uuid.uuid4().hex[:6]}",
        team_size=2,
        team_window_s=TEAM_WINDOW_S,
    )
    opener = stack.infra.token("buyer", sub=f"buyer-{uuid.uuid4().hex[:10]}")
    first = await _buy_deal(stack, opener, deal["deal_id"], 1)
    team_id = first["orders"][0]["lines"][0]["team_id"]
    assert team_id, first
    fills = rng.random() < 0.5

    async def team_is(status: str) -> bool:
        async with stack.client("local_life") as anyone:
            found = await _get_json(anyone, f"/teams/{team_id}")
        return bool(found and found["status"] == status)

    if fills:
        joiner = stack.infra.token("buyer", sub=f"buyer-{uuid.uuid4().hex[:10]}")
        second = await _buy_deal(stack, joiner, deal["deal_id"], 1, team_id=team_id)
        await eventually(lambda: team_is("filled"), timeout=WAIT_S, interval=0.3)
        await _vouchers(stack, opener, first["orders"][0]["order_id"], 1, status="unused")
        await _vouchers(stack, joiner, second["orders"][0]["order_id"], 1, status="unused")
        return None

    async def failed_and_refunded() -> None:
        # Nobody joined: at the deadline the team fails and the opener's money is given back, once.
        await eventually(lambda: team_is("failed"), timeout=TEAM_WINDOW_S + WAIT_S, interval=0.5)
        async with stack.client("orders", opener) as orders:

            async def refunded() -> bool:
                found = await _get_json(orders, f"/orders/{first['orders'][0]['order_id']}")
                return bool(found and found.get("refunded_minor", 0) == found["amount_minor"])

            await eventually(refunded, timeout=WAIT_S, interval=0.5)

    return failed_and_refunded


FLOWS: dict[str, Callable[[StackLike, random.Random], Awaitable[Later | None]]] = {
    "checkout_and_pay": checkout_and_pay,
    "flash_sale": flash_sale,
    "aftersales_refund": aftersales_refund,
    "voucher_redeem_undo_refund": voucher_redeem_undo_refund,
    "team_buy": team_buy,
}
