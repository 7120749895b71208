"""A merchant's stores, clerks and deals: each sees only its own; a deal's terms hold once it is published."""

from __future__ import annotations

import asyncio
import uuid

from tests.harness import Stack, assert_problem
from tests.integration.local_life.support import deal_body, merchant, new_deal, new_store

SERVICES = ("local_life",)

HOURS = {"0": [["09:00", "14:00"], ["17:00", "22:00"]], "5": [["10:00", "24:00"]]}


async def test_a_merchant_opens_lists_and_changes_its_stores_and_no_one_elses(stack: Stack) -> None:
    _, token = merchant(stack)
    _, other = merchant(stack)
    store = await new_store(stack, token, timezone="Asia/Shanghai", opening_hours=HOURS, phone="+86 21 5555 0000")
    assert store["status"] == "open"
    assert store["opening_hours"] == HOURS
    assert (store["lat"], store["lng"], store["timezone"]) == (31.2304, 121.4737, "Asia/Shanghai")
    second = await new_store(stack, token)
    async with stack.client("local_life", token) as client:
        page = (await client.get("/seller/stores", params={"limit": 1})).json()
        assert [s["store_id"] for s in page["items"]] == [second["store_id"]]
        rest = (await client.get("/seller/stores", params={"cursor": page["next_cursor"]})).json()
        assert [s["store_id"] for s in rest["items"]] == [store["store_id"]]
        assert rest["next_cursor"] is None
        changed = await client.patch(
            f"/seller/stores/{store['store_id']}", json={"status": "closed", "name": "Renamed"}
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["status"], changed.json()["name"]) == ("closed", "Renamed")
        assert changed.json()["opening_hours"] == HOURS
        assert (await client.get(f"/seller/stores/{store['store_id']}")).json()["status"] == "closed"
    async with stack.client("local_life", other) as client:
        assert (await client.get("/seller/stores")).json()["items"] == []
        assert_problem(await client.get(f"/seller/stores/{store['store_id']}"), 404, "store-not-found")
        assert_problem(await client.patch(f"/seller/stores/{store['store_id']}", json={"name": "x"}), 404)
        assert_problem(await client.get("/seller/stores/not-a-uuid"), 404)


async def test_bad_store_input_is_refused_naming_the_field_and_nothing_is_made(stack: Stack) -> None:
    _, token = merchant(stack)
    base = {"name": "A", "address": "B", "lat": 10, "lng": 10}
    async with stack.client("local_life", token) as client:
        assert_problem(await client.post("/seller/stores", json=base | {"lat": 90.5}), 400, field="lat")
        assert_problem(await client.post("/seller/stores", json=base | {"lng": -181}), 400, field="lng")
        assert_problem(
            await client.post("/seller/stores", json=base | {"timezone": "Mars/Olympus"}),
            422,
            "invalid-timezone",
            field="timezone",
        )
        assert_problem(
            await client.post("/seller/stores", json=base | {"opening_hours": {"1": [["18:00", "09:00"]]}}),
            422,
            "invalid-hours",
            field="opening_hours.1[0]",
        )
        assert_problem(
            await client.post("/seller/stores", json=base | {"opening_hours": {"7": [["09:00", "10:00"]]}}),
            422,
            "invalid-weekday",
            field="opening_hours.7",
        )
        assert_problem(await client.post("/seller/stores", json=base | {"colour": "red"}), 400, field="colour")
        assert (await client.get("/seller/stores")).json()["items"] == []


async def test_clerks_are_added_listed_and_removed_only_by_the_stores_merchant(stack: Stack) -> None:
    _, token = merchant(stack)
    _, other = merchant(stack)
    store = await new_store(stack, token)
    clerks = f"/seller/stores/{store['store_id']}/clerks"
    async with stack.client("local_life", token) as client:
        added = await client.post(clerks, json={"clerk_id": "clerk-ann", "name": "Ann"})
        assert added.status_code == 201, added.text
        assert added.json()["status"] == "active"
        await client.post(clerks, json={"clerk_id": "clerk-bo", "name": "Bo"})
        assert (await client.delete(f"{clerks}/clerk-bo")).status_code == 204
        listed = (await client.get(clerks)).json()["items"]
        assert [(c["clerk_id"], c["status"]) for c in listed] == [("clerk-ann", "active"), ("clerk-bo", "removed")]
        assert_problem(await client.delete(f"{clerks}/clerk-nobody"), 404, "clerk-not-found")
        back = await client.post(clerks, json={"clerk_id": "clerk-bo", "name": "Bo B."})
        assert (back.json()["status"], back.json()["name"]) == ("active", "Bo B.")
    async with stack.client("local_life", other) as client:
        assert_problem(await client.get(clerks), 404, "store-not-found")
        assert_problem(await client.post(clerks, json={"clerk_id": "x", "name": "X"}), 404, "store-not-found")
        assert_problem(await client.delete(f"{clerks}/clerk-ann"), 404, "store-not-found")
    async with stack.client("local_life", token) as client:
        assert len((await client.get(clerks)).json()["items"]) == 2


async def test_a_draft_changes_until_published_then_its_terms_hold_and_it_can_end(stack: Stack) -> None:
    _, token = merchant(stack)
    store = await new_store(stack, token)
    deal = await new_deal(
        stack, token, store_ids=[store["store_id"]], total_quantity=100, usage_hours=["11:00", "21:00"]
    )
    assert deal["status"] == "draft"
    assert deal["store_ids"] == [store["store_id"]]
    assert (deal["sold"], deal["auto_refund_at_expiry"], deal["usage_weekdays"]) == (0, True, [0, 1, 2, 3, 4, 5, 6])
    path = f"/seller/deals/{deal['deal_id']}"
    async with stack.client("local_life", token) as client:
        changed = await client.patch(path, json={"price_minor": 8800, "usage_weekdays": [4, 0], "team_size": 3})
        assert changed.status_code == 200, changed.text
        assert (changed.json()["price_minor"], changed.json()["usage_weekdays"]) == (8800, [0, 4])
        assert changed.json()["team_size"] == 3
        cleared = await client.patch(path, json={"team_size": None})
        assert cleared.json()["team_size"] is None
        # Buyers do not see a draft.
        assert_problem(await client.get(f"/deals/{deal['deal_id']}"), 404, "deal-not-found")
        published = await client.post(f"{path}/publish")
        assert published.status_code == 200, published.text
        assert published.json()["status"] == "published"
        assert published.json()["published_at"]
        again = await client.post(f"{path}/publish")
        assert again.json() == published.json()
        assert_problem(await client.patch(path, json={"price_minor": 1}), 409, "deal-not-draft")
        assert (await client.get(path)).json()["price_minor"] == 8800
        public = (await client.get(f"/deals/{deal['deal_id']}")).json()
        assert public["deal"]["price_minor"] == 8800
        assert public["remaining"] == 100
        assert [s["store_id"] for s in public["stores"]] == [store["store_id"]]
        ended = await client.post(f"{path}/end")
        assert (ended.status_code, ended.json()["status"]) == (200, "ended")
        assert ended.json()["ended_at"]
        assert_problem(await client.post(f"{path}/publish"), 409, "deal-ended")
        assert_problem(await client.patch(path, json={"title": "x"}), 409, "deal-not-draft")
        assert_problem(await client.get(f"/deals/{deal['deal_id']}"), 404)
        listed = (await client.get("/seller/deals", params={"status": "ended"})).json()["items"]
        assert [d["deal_id"] for d in listed] == [deal["deal_id"]]


async def test_a_deal_publishes_only_with_an_open_store_of_its_own(stack: Stack) -> None:
    _, token = merchant(stack)
    closed = await new_store(stack, token, status="closed")
    deal = await new_deal(stack, token, store_ids=[closed["store_id"]])
    everywhere = await new_deal(stack, token, all_stores=True)
    async with stack.client("local_life", token) as client:
        assert_problem(await client.post(f"/seller/deals/{deal['deal_id']}/publish"), 422, "deal-has-no-store")
        assert_problem(await client.post(f"/seller/deals/{everywhere['deal_id']}/publish"), 422, "deal-has-no-store")
        assert (await client.get(f"/seller/deals/{deal['deal_id']}")).json()["status"] == "draft"
        await client.patch(f"/seller/stores/{closed['store_id']}", json={"status": "open"})
        assert (await client.post(f"/seller/deals/{deal['deal_id']}/publish")).json()["status"] == "published"
        assert (await client.post(f"/seller/deals/{everywhere['deal_id']}/publish")).json()["status"] == "published"
        public = (await client.get(f"/deals/{everywhere['deal_id']}")).json()
        assert [s["store_id"] for s in public["stores"]] == [closed["store_id"]]


async def test_deals_are_the_merchants_own_and_name_only_its_stores(stack: Stack) -> None:
    _, token = merchant(stack)
    _, other = merchant(stack)
    mine = await new_store(stack, token)
    theirs = await new_store(stack, other)
    deal = await new_deal(stack, token, store_ids=[mine["store_id"]])
    async with stack.client("local_life", token) as client:
        refused = await client.post("/seller/deals", json=deal_body(store_ids=[mine["store_id"], theirs["store_id"]]))
        assert_problem(refused, 422, "unknown-store", field="store_ids[1]")
        assert_problem(
            await client.patch(f"/seller/deals/{deal['deal_id']}", json={"store_ids": [theirs["store_id"]]}),
            422,
            "unknown-store",
            field="store_ids[0]",
        )
        assert_problem(
            await client.post("/seller/deals", json=deal_body(store_ids=[mine["store_id"], mine["store_id"]])),
            422,
            "duplicate-store",
            field="store_ids[1]",
        )
        assert [d["deal_id"] for d in (await client.get("/seller/deals")).json()["items"]] == [deal["deal_id"]]
    async with stack.client("local_life", other) as client:
        for response in (
            await client.get(f"/seller/deals/{deal['deal_id']}"),
            await client.patch(f"/seller/deals/{deal['deal_id']}", json={"title": "mine now"}),
            await client.post(f"/seller/deals/{deal['deal_id']}/publish"),
            await client.post(f"/seller/deals/{deal['deal_id']}/end"),
        ):
            assert_problem(response, 404, "deal-not-found")
        assert (await client.get("/seller/deals")).json()["items"] == []


async def test_bad_deal_terms_are_refused_naming_the_field(stack: Stack) -> None:
    _, token = merchant(stack)
    window = {"valid_from": "2030-01-01T00:00:00Z", "valid_until": "2030-03-01T00:00:00Z"}
    cases = [
        (deal_body(**window), 422, "validity-both", "valid_days"),
        (deal_body(valid_days=None), 422, "validity-missing", "valid_days"),
        (deal_body(valid_days=None, valid_from=window["valid_from"]), 422, "validity-window", "valid_until"),
        (
            deal_body(valid_days=None, valid_from=window["valid_until"], valid_until=window["valid_from"]),
            422,
            "validity-window",
            "valid_until",
        ),
        (deal_body(original_value_minor=100), 422, "value-below-price", "original_value_minor"),
        (deal_body(usage_weekdays=[1, 1]), 422, "invalid-weekday", "usage_weekdays[1]"),
        (deal_body(usage_hours=["22:00", "10:00"]), 422, "invalid-hours", "usage_hours"),
        (deal_body(all_stores=True, store_ids=[str(uuid.uuid4())]), 422, "stores-ambiguous", "store_ids"),
        (deal_body(vouchers_per_purchase=51), 400, None, "vouchers_per_purchase"),
        (deal_body(price_minor=0), 400, None, "price_minor"),
        (deal_body(team_size=1), 400, None, "team_size"),
        (deal_body(currency="cny"), 400, None, "currency"),
        (deal_body(usage_weekdays=[7]), 400, None, "usage_weekdays[0]"),
        (deal_body(valid_from="2030-01-01T00:00:00"), 400, None, "valid_from"),
    ]
    async with stack.client("local_life", token) as client:
        for body, status, code, field in cases:
            assert_problem(await client.post("/seller/deals", json=body), status, code, field=field)
        assert (await client.get("/seller/deals")).json()["items"] == []


async def test_a_deal_drafted_again_with_the_same_key_is_the_same_deal(stack: Stack) -> None:
    _, token = merchant(stack)
    async with stack.client("local_life", token) as client:
        key = {"Idempotency-Key": f"deal-{uuid.uuid4()}"}
        first = await client.post("/seller/deals", json=deal_body(), headers=key)
        again = await client.post("/seller/deals", json=deal_body(), headers=key)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json()["deal_id"] == first.json()["deal_id"]
        reused = await client.post("/seller/deals", json=deal_body(title="Other"), headers=key)
        assert_problem(reused, 422, "idempotency-key-reused")
        assert len((await client.get("/seller/deals")).json()["items"]) == 1


async def test_concurrent_drafts_with_one_key_make_one_deal_and_a_publish_racing_an_edit_keeps_terms(
    stack: Stack,
) -> None:
    _, token = merchant(stack)
    store = await new_store(stack, token)
    key = {"Idempotency-Key": f"deal-{uuid.uuid4()}"}
    async with stack.client("local_life", token) as client:
        body = deal_body(store_ids=[store["store_id"]])
        answers = await asyncio.gather(*(client.post("/seller/deals", json=body, headers=key) for _ in range(10)))
        assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
        assert len({a.json()["deal_id"] for a in answers}) == 1
        assert len((await client.get("/seller/deals")).json()["items"]) == 1
        path = f"/seller/deals/{answers[0].json()['deal_id']}"
        edits = [client.patch(path, json={"price_minor": 5000 + i}) for i in range(5)]
        results = await asyncio.gather(client.post(f"{path}/publish"), *edits)
        assert results[0].status_code == 200, results[0].text
        for edit in results[1:]:
            assert edit.status_code in (200, 409), edit.text
        # What buyers see is the deal as it was when it was published: no edit lands after.
        published = (await client.get(path)).json()
        applied = [r.json()["price_minor"] for r in results[1:] if r.status_code == 200]
        assert published["price_minor"] in [9900, *applied]
        assert published["price_minor"] == results[0].json()["price_minor"]
        assert (await client.get(f"/deals/{published['deal_id']}")).json()["deal"]["price_minor"] == published[
            "price_minor"
        ]
