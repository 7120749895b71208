"""The issue's story, over HTTP only, against real Postgres, NATS and localstripe: a merchant publishes a deal usable
at 2 of its 3 stores; a buyer near store A finds it with the right distance; buys 2 in a live room and pays; gets 2
vouchers; a clerk at store C is refused (wrong store) and a clerk at store A redeems one; the buyer refunds the other
and Stripe holds one refund of exactly one voucher's price; the room shows 2 sold, 1 redeemed, 1 refunded."""

from __future__ import annotations

import math
import random
import uuid

import httpx

from tests.e2e.flows import open_shopfront, room_stats
from tests.harness import PROBLEM, Stack, eventually

PRICE = 4900
EARTH_RADIUS_M = 6_371_008.8


def reference_distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """The great-circle distance by the Vincenty formula on a sphere (numerically unlike the haversine the service
    uses, so the two agreeing is a check, not a copy)."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lng2 - lng1)
    y = math.hypot(
        math.cos(p2) * math.sin(dl), math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    )
    x = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return EARTH_RADIUS_M * math.atan2(y, x)


async def stripe_refunds(stack: Stack, intent_id: str) -> list[dict]:
    """Every refund Stripe (localstripe) holds for the PaymentIntent."""
    async with httpx.AsyncClient(base_url=stack.infra.stripe_base, auth=("sk_test_liveloop", "")) as api:
        listed = await api.get("/v1/refunds", params={"payment_intent": intent_id, "limit": "100"})
    assert listed.status_code == 200, listed.text
    return listed.json()["data"]


async def test_a_deal_bought_in_a_room_is_redeemed_once_at_the_right_store_and_refunded_once(stack: Stack) -> None:
    front = await open_shopfront(stack)
    merchant = stack.client("local_life", front.merchant_token)
    # A town of its own, so deals of other tests are never nearer.
    lat, lng = random.uniform(-50, 50), random.uniform(-150, 150)
    spots = {"A": (lat, lng), "B": (lat + 0.02, lng + 0.01), "C": (lat - 0.01, lng - 0.004)}
    all_day = {str(day): [["00:00", "24:00"]] for day in range(7)}

    # 1. Three stores, a clerk at A and at C, and a deal usable at A and B only.
    stores: dict[str, str] = {}
    clerks: dict[str, str] = {}
    async with merchant:
        for name, (s_lat, s_lng) in spots.items():
            made = await merchant.post(
                "/seller/stores",
                json={
                    "name": f"Spa {name}",
                    "address": f"{name} Street 1",
                    "lat": s_lat,
                    "lng": s_lng,
                    "opening_hours": all_day,
                },
            )
            assert made.status_code == 201, made.text
            stores[name] = made.json()["store_id"]
        for name in ("A", "C"):
            clerk_id = f"clerk-{uuid.uuid4().hex[:10]}"
            added = await merchant.post(
                f"/seller/stores/{stores[name]}/clerks", json={"clerk_id": clerk_id, "name": name}
            )
            assert added.status_code == 201, added.text
            clerks[name] = stack.infra.token(
                "clerk", sub=clerk_id, merchant_id=front.merchant_id, store_id=stores[name]
            )
        drafted = await merchant.post(
            "/seller/deals",
            json={
                "title": f"Spa afternoon {uuid.uuid4().hex[:6]}",
                "price_minor": PRICE,
                "original_value_minor": 8800,
                "currency": "USD",
                "valid_days": 30,
                "store_ids": [stores["A"], stores["B"]],
            },
        )
        assert drafted.status_code == 201, drafted.text
        deal_id = drafted.json()["deal_id"]
        assert (await merchant.post(f"/seller/deals/{deal_id}/publish")).status_code == 200

    # 2. A buyer 300 m from store A finds the deal with A as its nearest eligible store, at the right distance.
    here = (lat + 0.0027, lng)
    async with stack.client("local_life", front.buyer_token) as buyer_local:
        nearby = await buyer_local.get("/deals/nearby", params={"lat": here[0], "lng": here[1], "radius_m": 5000})
        assert nearby.status_code == 200, nearby.text
        (found,) = [item for item in nearby.json()["items"] if item["deal"]["deal_id"] == deal_id]
        assert found["store"]["store_id"] == stores["A"]
        assert abs(found["distance_m"] - reference_distance_m(*here, *spots["A"])) < 1.0

    # 3. The buyer buys 2 in the live room and pays.
    async with stack.client("orders", front.buyer_token) as orders:
        placed = await orders.post(
            "/checkout",
            json={"items": [{"deal_id": deal_id, "quantity": 2, "room_id": front.room_id}]},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert placed.status_code == 201, placed.text
        (order,) = placed.json()["orders"]
        assert order["amount_minor"] == 2 * PRICE
        confirmed = await orders.post(
            f"/payments/{placed.json()['payment']['payment_id']}/confirm", json={"payment_method": "pm_card_visa"}
        )
        assert confirmed.status_code == 202, confirmed.text
    intent_id = placed.json()["payment"]["client_secret"].split("_secret_")[0]

    # 4. Two vouchers, one per purchase.
    async with stack.client("local_life", front.buyer_token) as buyer_local:

        async def two_vouchers() -> list[dict] | None:
            listed = (await buyer_local.get("/vouchers")).json()["items"]
            mine = [v for v in listed if v["order_id"] == order["order_id"]]
            return mine if len(mine) == 2 else None

        vouchers = await eventually(two_vouchers, timeout=20)
    assert {v["status"] for v in vouchers} == {"unused"}
    used, kept = vouchers

    # 5. Store C cannot redeem it (the deal is not sold there); store A redeems it.
    async with stack.client("local_life", clerks["C"]) as counter_c:
        refused = await counter_c.post("/redemptions/prepare", json={"code": used["code"]})
        assert refused.status_code == 409, refused.text
        assert (refused.json()["type"], refused.json()["reason"]) == (PROBLEM + "voucher-not-usable", "wrong-store")
    async with stack.client("local_life", clerks["A"]) as counter_a:
        prepared = await counter_a.post("/redemptions/prepare", json={"code": used["code"]})
        assert prepared.status_code == 200, prepared.text
        offered = {v["voucher_id"] for v in prepared.json()["vouchers"]}
        assert offered == {used["voucher_id"], kept["voucher_id"]}  # both of the line's vouchers are usable here
        verified = await counter_a.post(
            "/redemptions/verify",
            json={"verify_token": prepared.json()["verify_token"], "voucher_ids": [used["voucher_id"]]},
        )
        assert verified.status_code == 200, verified.text
        assert [v["outcome"] for v in verified.json()["vouchers"]] == ["redeemed"]

    # 6. The buyer refunds the other voucher: one Stripe refund of exactly one voucher's price.
    async with stack.client("local_life", front.buyer_token) as buyer_local:
        asked = await buyer_local.post(
            "/vouchers/refund",
            json={"voucher_ids": [kept["voucher_id"]]},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert asked.status_code == 202, asked.text

        async def refunded() -> dict | None:
            current = (await buyer_local.get(f"/vouchers/{kept['voucher_id']}")).json()
            return current if current["status"] == "refunded" else None

        await eventually(refunded, timeout=20)
        assert (await buyer_local.get(f"/vouchers/{used['voucher_id']}")).json()["status"] == "redeemed"
    refunds = await stripe_refunds(stack, intent_id)
    assert [(r["amount"], r["status"]) for r in refunds] == [(PRICE, "succeeded")]

    # 7. The room that sold them: 2 sold, 1 redeemed, 1 refunded.
    async def counted() -> dict | None:
        stats = await room_stats(stack, front)
        seen = (stats["vouchers_sold"], stats["vouchers_redeemed"], stats["vouchers_refunded"])
        return stats if seen == (2, 1, 1) else None

    await eventually(counted, timeout=20)
