"""A cart holds at most `max_cart_lines` lines, and a line naming a live room is checked with live (the room exists
and sells for the SKU's merchant) before it is kept."""

from __future__ import annotations

import asyncio
import uuid

from tests.harness import Infra, Stack, assert_problem
from tests.integration.live.support import create_room
from tests.integration.shop.support import seller

SERVICES = ("shop", "live")
SETTINGS = {"max_cart_lines": 3}


async def test_a_cart_at_its_line_cap_refuses_another_sku_but_still_changes_its_lines(
    stack: Stack, infra: Infra
) -> None:
    acme = await seller(stack, infra, 5, 5, 5, 5)
    a, b, c, d = acme.sku_ids
    async with stack.client("shop", infra.token("buyer")) as buyer:
        for sku_id in (a, b, c):
            assert (await buyer.post("/cart/items", json={"sku_id": sku_id, "quantity": 1})).status_code == 201
        body = assert_problem(
            await buyer.post("/cart/items", json={"sku_id": d, "quantity": 1}), 409, "cart-lines-cap", "sku_id"
        )
        assert body["limit"] == 3
        assert [line["sku_id"] for line in (await buyer.get("/cart")).json()["items"]] == [a, b, c]
        # A line already there still changes; removing one makes room.
        assert (await buyer.post("/cart/items", json={"sku_id": a, "quantity": 4})).status_code == 200
        assert (await buyer.delete(f"/cart/items/{b}")).status_code == 204
        assert (await buyer.post("/cart/items", json={"sku_id": d, "quantity": 1})).status_code == 201


async def test_concurrent_additions_never_take_a_cart_past_its_cap(stack: Stack, infra: Infra) -> None:
    acme = await seller(stack, infra, *([5] * 8))
    async with stack.client("shop", infra.token("buyer")) as buyer:
        answers = await asyncio.gather(
            *(buyer.post("/cart/items", json={"sku_id": sku_id, "quantity": 1}) for sku_id in acme.sku_ids)
        )
        assert sorted(a.status_code for a in answers) == [201] * 3 + [409] * 5, [a.text for a in answers]
        assert len((await buyer.get("/cart")).json()["items"]) == 3


async def test_a_cart_line_naming_a_room_that_does_not_exist_is_refused(stack: Stack, infra: Infra) -> None:
    acme = await seller(stack, infra, 5)
    async with stack.client("shop", infra.token("buyer")) as buyer:
        for room_id in (str(uuid.uuid4()), "room-7"):
            line = {"sku_id": acme.sku_ids[0], "quantity": 1, "source": {"type": "room", "id": room_id}}
            assert_problem(await buyer.post("/cart/items", json=line), 422, "unknown-room", "source.id")
        assert (await buyer.get("/cart")).json()["items"] == []


async def test_a_cart_line_naming_another_merchants_room_is_refused_and_its_own_room_is_kept(
    stack: Stack, infra: Infra
) -> None:
    acme = await seller(stack, infra, 5)
    elsewhere = await create_room(stack, infra)
    own = await create_room(stack, infra, merchant_id=acme.merchant_id)
    async with stack.client("shop", infra.token("buyer")) as buyer:
        line = {"sku_id": acme.sku_ids[0], "quantity": 1, "source": {"type": "room", "id": elsewhere.room_id}}
        assert_problem(await buyer.post("/cart/items", json=line), 422, "room-not-selling", "source.id")
        assert (await buyer.get("/cart")).json()["items"] == []
        line["source"]["id"] = own.room_id
        added = await buyer.post("/cart/items", json=line)
        assert added.status_code == 201, added.text
        assert added.json()["source"] == {"type": "room", "id": own.room_id, "verified": True}
        assert [i["source"] for i in (await buyer.get("/cart")).json()["items"]] == [added.json()["source"]]


async def test_a_room_live_cannot_vouch_for_is_kept_and_the_cart_says_it_is_unverified(
    stack: Stack, infra: Infra
) -> None:
    acme = await seller(stack, infra, 5, 5)
    with_room, plain = acme.sku_ids
    room_id = str(uuid.uuid4())  # no such room: live would refuse it, but live is not there to ask
    async with stack.client("shop", infra.token("buyer")) as buyer:
        async with stack.down("live"):
            line = {"sku_id": with_room, "quantity": 1, "source": {"type": "room", "id": room_id}}
            added = await buyer.post("/cart/items", json=line)
        assert added.status_code == 201, added.text
        assert added.json()["source"] == {"type": "room", "id": room_id, "verified": False}
        # A change of quantity keeps the room as it was (unverified); a line from no room has no source.
        assert (await buyer.post("/cart/items", json={"sku_id": with_room, "quantity": 2})).status_code == 200
        assert (await buyer.post("/cart/items", json={"sku_id": plain, "quantity": 1})).status_code == 201
        cart = (await buyer.get("/cart")).json()["items"]
    assert [(i["sku_id"], i["quantity"], i["source"]) for i in cart] == [
        (with_room, 2, {"type": "room", "id": room_id, "verified": False}),
        (plain, 1, None),
    ]
