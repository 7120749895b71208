"""The world the authorization matrix runs in: tenant A's things of every kind, made over the public APIs as their
owners would, and the people who must not reach them (tenant B of every role, and A's own colleagues who are not
the owner: another host of A's merchant, a clerk of another of A's stores).

Everything A owns carries `World.marker` in its text (titles, names, descriptions, tracking numbers), so a refusal
that quotes an object's data is found by looking for it.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from libs.contracts import STREAMS
from tests.harness import Infra, Stack, eventually, onboard_merchant

ALL_DAY = {str(day): [["00:00", "24:00"]] for day in range(7)}


# Everyone the matrix knows, by name: tenant A's owners, A's colleagues who own nothing here (another host of A's
# merchant, the clerk of another of A's stores), tenant B of every role, and an operator (no tenant).
IDENTITIES: dict[str, str] = {
    "operator": "operator",
    "merchant A": "merchant",
    "merchant B": "merchant",
    "host A": "host",
    "host A2": "host",
    "host B": "host",
    "buyer A": "buyer",
    "buyer B": "buyer",
    "clerk A": "clerk",
    "clerk A2": "clerk",
    "clerk B": "clerk",
}


@dataclass(frozen=True)
class Identity:
    """Someone who calls: `name` says who in the matrix's messages ("merchant B"), `role` is the token's role."""

    name: str
    role: str
    token: str
    sub: str


@dataclass
class World:
    """Identities by name and A's objects by the path parameter that names them."""

    infra: Infra
    marker: str
    identities: dict[str, Identity] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, role: str, sub: str, **claims: str) -> Identity:
        identity = Identity(name, role, self.infra.token(role, sub=sub, **claims), sub)
        self.identities[name] = identity
        return identity

    def of(self, name: str) -> Identity:
        return self.identities[name]


def _ok(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in (statuses or (200, 201)), f"{response.request.url}: {response.text}"
    return response.json() if response.content else {}


async def build_world(stack: Stack) -> World:
    """Tenant A's merchant, host, buyer and clerk with one real thing of every kind a route's path names, and the
    identities that must not reach them."""
    marker = f"authz-{uuid.uuid4().hex[:12]}"
    world = World(stack.infra, marker)
    merchant_a, _ = await onboard_merchant(stack, name=f"Merchant A {marker}")
    merchant_b, _ = await onboard_merchant(stack, name="Merchant B")
    tag = uuid.uuid4().hex[:8]
    world.add("operator", "operator", f"operator-{tag}")
    world.add("merchant A", "merchant", f"merchant-a-{tag}", merchant_id=merchant_a)
    world.add("merchant B", "merchant", f"merchant-b-{tag}", merchant_id=merchant_b)
    world.add("host A", "host", f"host-a-{tag}", merchant_id=merchant_a)
    world.add("host A2", "host", f"host-a2-{tag}", merchant_id=merchant_a)
    world.add("host B", "host", f"host-b-{tag}", merchant_id=merchant_b)
    world.add("buyer A", "buyer", f"buyer-a-{tag}")
    world.add("buyer B", "buyer", f"buyer-b-{tag}")
    ids = world.ids
    ids["merchant_id"] = merchant_a
    ids["host_id"] = world.of("host A").sub

    def client(service: str, who: str) -> httpx.AsyncClient:
        return stack.client(service, world.of(who).token)

    # shop: a product with one SKU.
    async with client("shop", "merchant A") as shop:
        body = {
            "title": f"Teapot {marker}",
            "description": f"Secret description {marker}",
            "skus": [{"name": f"Blue {marker}", "price_minor": 2500, "currency": "USD", "stock": 50}],
        }
        product = _ok(await shop.post("/seller/products", json=body))
    ids["product_id"] = product["product_id"]
    ids["sku_id"] = product["skus"][0]["sku_id"]

    # local_life: stores (A's two, B's one) with a clerk each, and a published deal at A's first store.
    clerks = {"clerk A": ("merchant A", merchant_a), "clerk A2": ("merchant A", merchant_a)}
    clerks["clerk B"] = ("merchant B", merchant_b)
    stores: dict[str, str] = {}
    for clerk, (merchant, merchant_id) in clerks.items():
        # Only A's own store carries the marker: what the others see of their own is theirs to see.
        secret = marker if clerk == "clerk A" else clerk
        async with client("local_life", merchant) as seller:
            store = {
                "name": f"Store {secret}",
                "address": f"1 Secret Street {secret}",
                "lat": 31.2304,
                "lng": 121.4737,
                "opening_hours": ALL_DAY,
            }
            store_id = _ok(await seller.post("/seller/stores", json=store))["store_id"]
            sub = f"{clerk.replace(' ', '-').lower()}-{tag}"
            _ok(await seller.post(f"/seller/stores/{store_id}/clerks", json={"clerk_id": sub, "name": secret}))
        stores[clerk] = store_id
        world.add(clerk, "clerk", sub, merchant_id=merchant_id, store_id=store_id)
    ids["store_id"] = stores["clerk A"]
    ids["clerk_id"] = world.of("clerk A").sub
    async with client("local_life", "merchant A") as seller:
        deal = {
            "title": f"Tea ceremony {marker}",
            "description": f"Secret terms {marker}",
            "price_minor": 3000,
            "original_value_minor": 5000,
            "currency": "USD",
            "valid_days": 30,
            "store_ids": [stores["clerk A"]],
        }
        deal_id = _ok(await seller.post("/seller/deals", json=deal))["deal_id"]
        _ok(await seller.post(f"/seller/deals/{deal_id}/publish"))
    ids["deal_id"] = deal_id

    # live: host A's room, live, with the product in its bag, a flash sale, a coupon drop and a video.
    async with client("live", "host A") as host:
        room = _ok(await host.post("/rooms", json={"title": f"Tea live {marker}"}))
        room_id = room["room_id"]
        _ok(await host.post(f"/rooms/{room_id}/start"))

        async def in_bag() -> bool:
            added = await host.post(f"/rooms/{room_id}/bag", json={"product_id": ids["product_id"]})
            assert added.status_code in (200, 201, 409), added.text
            return added.status_code in (200, 201)

        await eventually(in_bag, timeout=20)
        sale = {"sku_id": ids["sku_id"], "quantity": 2, "price_minor": 999, "per_buyer_limit": 1, "duration_s": 3600}
        ids["sale_id"] = _ok(await host.post(f"/rooms/{room_id}/flash-sales", json=sale))["sale_id"]
        drop = {
            "kind": "amount_off",
            "amount_off_minor": 100,
            "currency": "USD",
            "min_spend_minor": 1000,
            "per_buyer_limit": 1,
            "total": 10,
            "valid_until": (stack.clock.now() + timedelta(days=2)).isoformat(),
        }
        ids["drop_id"] = _ok(await host.post(f"/rooms/{room_id}/coupon-drops", json=drop))["drop_id"]
        stats = _ok(await host.get(f"/rooms/{room_id}/stats"))
        ids["session_id"] = stats["sessions"][0]["session_id"]
        video = {
            "title": f"How to brew {marker}",
            "media_url": "https://cdn.example/v/tea.mp4",
            "duration_s": 30,
            "anchors": [{"product_id": ids["product_id"]}],
            "room_id": room_id,
        }
        ids["video_id"] = _ok(await host.post("/videos", json=video))["video_id"]
    ids["room_id"] = room_id

    # orders: buyer A's cart line, a paid order of the product (shipped by merchant A), and vouchers of the deal.
    async with client("shop", "buyer A") as cart:
        line = {"sku_id": ids["sku_id"], "quantity": 1, "source": {"type": "room", "id": room_id}}
        _ok(await cart.post("/cart/items", json=line))
    goods, vouchers = await asyncio.gather(
        _paid(stack, world, [{"sku_id": ids["sku_id"], "quantity": 2}]),
        _paid(stack, world, [{"deal_id": deal_id, "quantity": 2}]),
    )
    ids["checkout_id"] = goods["checkout_id"]
    ids["payment_id"] = goods["payment"]["payment_id"]
    ids["order_id"] = goods["orders"][0]["order_id"]
    async with client("orders", "merchant A") as seller:
        shipment = {"carrier": "ups", "tracking_number": f"TRACK-{marker}"}
        shipped = _ok(await seller.post(f"/seller/orders/{ids['order_id']}/shipments", json=shipment))
    ids["shipment_id"] = shipped["shipment_id"]

    # local_life: the deal's two vouchers: clerk A redeems one, buyer A asks a refund of the other.
    voucher_order = vouchers["orders"][0]["order_id"]
    async with client("local_life", "buyer A") as mine:

        async def two() -> list[dict[str, Any]] | None:
            found = [v for v in _ok(await mine.get("/vouchers"))["items"] if v["order_id"] == voucher_order]
            return found if len(found) == 2 else None

        redeemed, kept = await eventually(two, timeout=30)
    async with client("local_life", "clerk A") as counter:
        prepared = _ok(await counter.post("/redemptions/prepare", json={"code": redeemed["code"]}))
        verify = {"verify_token": prepared["verify_token"], "voucher_ids": [redeemed["voucher_id"]]}
        verified = _ok(await counter.post("/redemptions/verify", json=verify))
    ids["redemption_id"] = verified["vouchers"][0]["redemption_id"]
    ids["voucher_id"] = redeemed["voucher_id"]
    async with client("local_life", "buyer A") as mine:
        asked = await mine.post(
            "/vouchers/refund", json={"voucher_ids": [kept["voucher_id"]]}, headers={"Idempotency-Key": marker}
        )
    ids["refund_id"] = _ok(asked, 202)["refund_id"]

    # aftersales: buyer A's case on the shipped order, rejected by merchant A and escalated to operators.
    async with client("aftersales", "buyer A") as buyer:
        case = {
            "order_id": ids["order_id"],
            "kind": "refund_only",
            "reason_code": "damaged",
            "description": f"Cracked lid {marker}",
            "evidence_urls": [],
            "lines": [{"line_no": 0, "quantity": 1}],
        }

        async def opened() -> dict[str, Any] | None:
            # aftersales learns of the order and its shipment from orders' events.
            answer = await buyer.post("/cases", json=case, headers={"Idempotency-Key": uuid.uuid4().hex})
            if answer.status_code in (404, 409):
                return None
            return _ok(answer, 201)

        ids["case_id"] = (await eventually(opened, timeout=30))["case_id"]
    async with client("aftersales", "merchant A") as seller:
        _ok(await seller.post(f"/seller/cases/{ids['case_id']}/reject", json={"reason": f"used {marker}"}))
    async with client("aftersales", "buyer A") as buyer:
        _ok(await buyer.post(f"/cases/{ids['case_id']}/escalate"))

    # live: host tiers computed, so host A's tier exists for its owner to read.
    async with client("live", "operator") as operator:
        _ok(await operator.post("/host-tiers/recompute"))
    assert {name: who.role for name, who in world.identities.items()} == IDENTITIES
    await eventually(lambda: settled(stack), timeout=30, interval=0.2)
    return world


async def settled(stack: Stack) -> bool:
    """Nothing is still on its way: every outbox published, every consumer caught up, no job due. Then what an
    owner reads stays put unless someone acts."""
    for served in stack.apps.values():
        runtime = served.runtime
        if await runtime.db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
            return False
        if await runtime.db.fetchval("SELECT count(*) FROM due_jobs WHERE due_at <= $1", stack.clock.now()):
            return False
    bus = next(iter(stack.apps.values())).runtime.bus
    for stream in STREAMS:
        for info in await bus.js.consumers_info(bus.stream(stream)):
            if info.num_pending or info.num_ack_pending:
                return False
    return True


async def _paid(stack: Stack, world: World, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Buyer A checks `items` out and pays with Stripe's test Visa: the paid checkout."""
    async with stack.client("orders", world.of("buyer A").token) as orders:
        placed = _ok(
            await orders.post("/checkout", json={"items": items}, headers={"Idempotency-Key": uuid.uuid4().hex}), 201
        )
        payment = placed["payment"]["payment_id"]
        _ok(await orders.post(f"/payments/{payment}/confirm", json={"payment_method": "pm_card_visa"}), 202)

        async def paid() -> dict[str, Any] | None:
            found = _ok(await orders.get(f"/checkouts/{placed['checkout_id']}"))
            return found if found["status"] == "paid" else None

        return await eventually(paid, timeout=30)
