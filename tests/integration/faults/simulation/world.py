"""The world a run builds before its first step: the merchant's goods, deal, store and clerk, its host's live room,
and the buyers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tests.harness import Stack, onboard_merchant
from tests.integration.faults.simulation.api import Api
from tests.integration.faults.simulation.config import (
    ALL_DAY,
    BUYERS,
    DEAL_PER_BUYER,
    DEAL_PRICE,
    DEAL_TOTAL,
    SKU_PRICES,
    SKU_STOCK,
)


@dataclass(frozen=True)
class World:
    """What `build` made: ids, and the tokens of the merchant, the clerk, the host and each buyer."""

    merchant_id: str
    merchant: str
    product_id: str
    skus: list[tuple[str, int]]  # (sku_id, price_minor)
    clerk: str
    deal_id: str
    host: str
    room_id: str
    buyers: list[str]


async def build(stack: Stack, api: Api, seed: int) -> World:
    """The merchant's goods, deal, store and clerk, its host's live room, and the buyers (no fault armed yet)."""
    infra = stack.infra
    merchant_id, merchant = await onboard_merchant(stack, name=f"Sim {seed}")
    shop = api.client("shop", merchant)
    product = await api.call(
        shop,
        "POST",
        "/seller/products",
        json={
            "title": "Oolong tea",
            "description": "Roasted, in tins",
            "skus": [
                {"name": f"tin {n}", "price_minor": price, "currency": "USD", "stock": SKU_STOCK}
                for n, price in enumerate(SKU_PRICES)
            ],
        },
    )
    api.expect("a product", product, 201)
    product_id = product.body["product_id"]
    skus = [(sku["sku_id"], sku["price_minor"]) for sku in product.body["skus"]]
    local = api.client("local_life", merchant)
    store = await api.call(
        local,
        "POST",
        "/seller/stores",
        json={
            "name": f"Tea house {seed}",
            "address": "1 Nanjing Road",
            "lat": 31.2304,
            "lng": 121.4737,
            "opening_hours": ALL_DAY,
        },
    )
    api.expect("a store", store, 201)
    store_id = store.body["store_id"]
    clerk_id = f"clerk-{uuid.uuid4().hex[:10]}"
    added = await api.call(
        local, "POST", f"/seller/stores/{store_id}/clerks", json={"clerk_id": clerk_id, "name": "Counter"}
    )
    api.expect("a clerk", added, 200, 201)
    clerk = infra.token("clerk", sub=clerk_id, merchant_id=merchant_id, store_id=store_id)
    drafted = await api.call(
        local,
        "POST",
        "/seller/deals",
        json={
            "title": f"Tea tasting {seed}",
            "price_minor": DEAL_PRICE,
            "original_value_minor": 8800,
            "currency": "USD",
            "valid_days": 30,
            "store_ids": [store_id],
            "total_quantity": DEAL_TOTAL,
            "per_buyer_limit": DEAL_PER_BUYER,
        },
    )
    api.expect("a deal", drafted, 201)
    deal_id = drafted.body["deal_id"]
    published = await api.call(local, "POST", f"/seller/deals/{deal_id}/publish")
    api.expect("publishing the deal", published, 200)
    # A live room the merchant's host sells both in: every line names it, so live counts every sale, refund
    # and voucher of the run for it (counters fed by events: an event applied twice shows there).
    host = infra.token("host", sub=f"host-{uuid.uuid4().hex[:10]}", merchant_id=merchant_id)
    live = api.client("live", host)
    room = await api.call(live, "POST", "/rooms", json={"title": f"Tea live {seed}", "merchant_id": merchant_id})
    api.expect("a room", room, 201)
    room_id = room.body["room_id"]
    api.expect("going live", await api.call(live, "POST", f"/rooms/{room_id}/start"), 200)
    buyers = [infra.token("buyer", sub=f"buyer-{uuid.uuid4().hex[:10]}") for _ in range(BUYERS)]
    return World(merchant_id, merchant, product_id, skus, clerk, deal_id, host, room_id, buyers)
