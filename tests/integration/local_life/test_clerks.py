"""A clerk's token proves an active clerk of its store (GET /clerk/me, `clerk_at`); removed or elsewhere: 403."""

from __future__ import annotations

import uuid

from tests.harness import Stack, assert_problem
from tests.integration.local_life.support import merchant, new_store

SERVICES = ("local_life",)


async def add_clerk(stack: Stack, token: str, store_id: str, clerk_id: str, name: str = "Ann") -> None:
    async with stack.client("local_life", token) as client:
        response = await client.post(f"/seller/stores/{store_id}/clerks", json={"clerk_id": clerk_id, "name": name})
    assert response.status_code == 201, response.text


async def me(stack: Stack, token: str):
    async with stack.client("local_life", token) as client:
        return await client.get("/clerk/me")


async def test_an_active_clerk_sees_themselves_and_their_store(stack: Stack) -> None:
    merchant_id, token = merchant(stack)
    store = await new_store(stack, token, name="Counter", timezone="Asia/Shanghai")
    clerk_id = f"clerk-{uuid.uuid4().hex[:8]}"
    await add_clerk(stack, token, store["store_id"], clerk_id, "Ann")
    for claims in ({"merchant_id": merchant_id}, {}):
        response = await me(stack, stack.infra.token("clerk", sub=clerk_id, store_id=store["store_id"], **claims))
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["clerk"]["clerk_id"], body["clerk"]["name"], body["clerk"]["status"]) == (
            clerk_id,
            "Ann",
            "active",
        )
        assert (body["clerk"]["store_id"], body["clerk"]["merchant_id"]) == (store["store_id"], merchant_id)
        assert (body["store"]["store_id"], body["store"]["name"]) == (store["store_id"], "Counter")


async def test_a_removed_clerk_is_no_clerk_here(stack: Stack) -> None:
    merchant_id, token = merchant(stack)
    store = await new_store(stack, token)
    clerk_id = f"clerk-{uuid.uuid4().hex[:8]}"
    await add_clerk(stack, token, store["store_id"], clerk_id)
    clerk = stack.infra.token("clerk", sub=clerk_id, store_id=store["store_id"], merchant_id=merchant_id)
    assert (await me(stack, clerk)).status_code == 200
    async with stack.client("local_life", token) as client:
        assert (await client.delete(f"/seller/stores/{store['store_id']}/clerks/{clerk_id}")).status_code == 204
    assert_problem(await me(stack, clerk), 403, "not-a-clerk-here")
    await add_clerk(stack, token, store["store_id"], clerk_id)
    assert (await me(stack, clerk)).status_code == 200


async def test_a_token_for_a_store_of_another_merchant_or_no_store_is_refused(stack: Stack) -> None:
    merchant_id, token = merchant(stack)
    _, other = merchant(stack)
    mine = await new_store(stack, token)
    theirs = await new_store(stack, other)
    clerk_id = f"clerk-{uuid.uuid4().hex[:8]}"
    await add_clerk(stack, token, mine["store_id"], clerk_id)
    # Clerk of the other merchant's store, but the token claims to act for this merchant.
    await add_clerk(stack, other, theirs["store_id"], clerk_id)
    mixed = stack.infra.token("clerk", sub=clerk_id, store_id=theirs["store_id"], merchant_id=merchant_id)
    assert_problem(await me(stack, mixed), 403, "not-a-clerk-here")
    # A clerk of one store is nobody at another.
    elsewhere = stack.infra.token("clerk", sub="clerk-stranger", store_id=theirs["store_id"])
    assert_problem(await me(stack, elsewhere), 403, "not-a-clerk-here")
    for store_id in (str(uuid.uuid4()), "not-a-store"):
        assert_problem(await me(stack, stack.infra.token("clerk", sub=clerk_id, store_id=store_id)), 403)
    assert_problem(await me(stack, token), 403)  # a merchant is not a clerk
    assert (await me(stack, stack.infra.token("clerk", sub=clerk_id, store_id=mine["store_id"]))).status_code == 200
