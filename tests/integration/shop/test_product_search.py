"""Product search over real HTTP and Postgres: buyers find published products by title (typos tolerated), price and
stock state, page by page. Each test names its products with words of its own, as the module shares one database."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.harness import Stack, assert_problem, onboard_merchant
from tests.integration.shop.support import reserve

SERVICES = ("shop",)


async def publish(stack: Stack, token: str, title: str, *skus: tuple[int, int]) -> dict[str, Any]:
    """A product of the token's merchant with SKUs (price_minor, stock)."""
    body = {
        "title": title,
        "skus": [{"name": f"S{i}", "price_minor": price, "stock": stock} for i, (price, stock) in enumerate(skus)],
    }
    async with stack.client("shop", token) as client:
        response = await client.post("/seller/products", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def find(stack: Stack, **params: Any) -> dict[str, Any]:
    async with stack.client("shop") as anonymous:
        response = await anonymous.get("/products", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def every_page(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    """All items of a search, following next_cursor to the end."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page = await find(stack, **params, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the pages never end")


async def test_a_misspelt_title_still_finds_the_product_best_match_first(stack: Stack) -> None:
    merchant_id, token = await onboard_merchant(stack, name="Marsupial Goods")
    quokka = await publish(stack, token, "Quokka Plush Toy", (1999, 5), (2499, 0))
    await publish(stack, token, "Wombat Plush Toy", (1999, 5))

    hits = (await find(stack, q="qokka plush"))["items"]
    assert hits[0]["product_id"] == quokka["product_id"]
    assert hits[0] | {"score": None, "created_at": None} == {
        "product_id": quokka["product_id"],
        "title": "Quokka Plush Toy",
        "merchant_id": merchant_id,
        "merchant_name": "Marsupial Goods",
        "currency": "USD",
        "min_price_minor": 1999,
        "max_price_minor": 2499,
        "in_stock": True,
        "score": None,
        "created_at": None,
    }
    assert [h["product_id"] for h in (await find(stack, q="Quoka"))["items"]] == [quokka["product_id"]]
    # One or two letters match as a substring, wildcards included literally.
    assert quokka["product_id"] in [h["product_id"] for h in (await find(stack, q="Qu", limit=50))["items"]]
    assert (await find(stack, q="%"))["items"] == []
    assert (await find(stack, q="xylophonic zebu"))["items"] == []


async def test_a_price_range_keeps_products_with_a_sku_priced_in_it(stack: Stack) -> None:
    _, token = await onboard_merchant(stack)
    cheap = await publish(stack, token, "Ceramic Teapot Small", (500, 3), (900, 3))
    middle = await publish(stack, token, "Ceramic Teapot Medium", (1500, 3))
    await publish(stack, token, "Ceramic Teapot Large", (3000, 3))

    hits = (await find(stack, q="ceramic teapot", min_price_minor=800, max_price_minor=2000))["items"]
    assert sorted(h["product_id"] for h in hits) == sorted([cheap["product_id"], middle["product_id"]])
    shown = next(h for h in hits if h["product_id"] == cheap["product_id"])
    assert (shown["min_price_minor"], shown["max_price_minor"]) == (500, 900)
    assert len((await find(stack, q="ceramic teapot", min_price_minor=3000))["items"]) == 1
    assert len((await find(stack, q="ceramic teapot", max_price_minor=499))["items"]) == 0

    async with stack.client("shop") as anonymous:
        upside_down = await anonymous.get(
            "/products", params={"q": "teapot", "min_price_minor": 9, "max_price_minor": 8}
        )
    assert_problem(upside_down, 422, "invalid-price-range", field="max_price_minor")


async def test_a_product_is_sold_out_once_every_sku_is_reserved_or_gone(stack: Stack) -> None:
    _, token = await onboard_merchant(stack)
    lamp = await publish(stack, token, "Brass Gooseneck Lamp", (4000, 2), (4500, 0))
    [first, second] = [s["sku_id"] for s in lamp["skus"]]

    async def state() -> tuple[bool, bool, bool]:
        hit = (await find(stack, q="gooseneck lamp"))["items"][0]
        in_stock = [h["product_id"] for h in (await find(stack, q="gooseneck lamp", in_stock="true"))["items"]]
        sold_out = [h["product_id"] for h in (await find(stack, q="gooseneck lamp", in_stock="false"))["items"]]
        return hit["in_stock"], lamp["product_id"] in in_stock, lamp["product_id"] in sold_out

    assert await state() == (True, True, False)
    # Buyers hold both units: nothing is available though two are on hand.
    reply = await reserve(stack, [(first, 2)])
    assert reply.ok, reply
    assert await state() == (False, False, True)
    # The merchant restocks the other SKU.
    async with stack.client("shop", token) as client:
        response = await client.patch(f"/seller/skus/{second}", json={"stock_on_hand": 1})
    assert response.status_code == 200, response.text
    assert await state() == (True, True, False)


async def test_pages_follow_one_another_without_gaps_or_repeats(stack: Stack) -> None:
    _, token = await onboard_merchant(stack)
    titles = ["Paper Lantern", "Paper Lantern", "Paper Lantern Red", "Paper Lantern Set of Two", "Lantern"]
    titles += ["Paper Lanterns", "Silk Paper Lantern", "Paper Lantern"]
    made = [await publish(stack, token, title, (800 + i, 1)) for i, title in enumerate(titles)]
    ids = {p["product_id"] for p in made}

    found = await every_page(stack, q="paper lantern", limit=2)
    assert [h["product_id"] for h in found if h["product_id"] in ids] == [h["product_id"] for h in found]
    assert sorted(h["product_id"] for h in found) == sorted(ids)
    assert [h["score"] for h in found] == sorted((h["score"] for h in found), reverse=True)

    # Without q: newest first, over everything published.
    browsed = await every_page(stack, limit=3)
    browsed_ids = [h["product_id"] for h in browsed]
    assert len(browsed_ids) == len(set(browsed_ids))
    assert [i for i in browsed_ids if i in ids] == [p["product_id"] for p in reversed(made)]
    assert all(h["score"] is None for h in browsed)

    async with stack.client("shop") as anonymous:
        first = (await anonymous.get("/products", params={"q": "paper lantern", "limit": 2})).json()
        other_query = await anonymous.get(
            "/products", params={"q": "paper lanterns", "limit": 2, "cursor": first["next_cursor"]}
        )
        other_filter = await anonymous.get(
            "/products", params={"q": "paper lantern", "in_stock": "true", "cursor": first["next_cursor"]}
        )
        browsing = await anonymous.get("/products", params={"cursor": first["next_cursor"]})
        garbage = await anonymous.get("/products", params={"q": "paper lantern", "cursor": "garbage!"})
    for refused in (other_query, other_filter, browsing, garbage):
        assert_problem(refused, 400, "invalid-cursor", field="cursor")


async def test_a_merchant_filter_keeps_that_merchants_products_only(stack: Stack) -> None:
    mine_id, mine = await onboard_merchant(stack)
    _, theirs = await onboard_merchant(stack)
    made = [await publish(stack, mine, f"Bamboo Steamer {size}", (1200 + size, 2)) for size in (1, 2, 3)]
    sold_out = await publish(stack, mine, "Bamboo Steamer Lid", (300, 0))
    other = await publish(stack, theirs, "Bamboo Steamer 4", (1500, 2))

    # Browsing (newest first) and searching, page by page: the merchant's products, with the other filters.
    browsed = await every_page(stack, merchant_id=mine_id, limit=2)
    assert [h["product_id"] for h in browsed] == [p["product_id"] for p in reversed([*made, sold_out])]
    assert {h["merchant_id"] for h in browsed} == {mine_id}
    searched = await every_page(stack, q="bamboo steamer", merchant_id=mine_id, in_stock="true", limit=2)
    assert sorted(h["product_id"] for h in searched) == sorted(p["product_id"] for p in made)
    assert other["product_id"] in [h["product_id"] for h in await every_page(stack, q="bamboo steamer")]
    # One or two letters (a substring) too; an id that is no merchant's, or no id at all, finds nothing.
    assert {h["merchant_id"] for h in await every_page(stack, q="Ba", merchant_id=mine_id)} == {mine_id}
    assert (await find(stack, merchant_id="00000000-0000-4000-8000-000000000000"))["items"] == []
    assert (await find(stack, q="bamboo", merchant_id="not-a-merchant"))["items"] == []

    # A cursor belongs to its merchant's query.
    first = await find(stack, merchant_id=mine_id, limit=1)
    async with stack.client("shop") as anonymous:
        everyone = await anonymous.get("/products", params={"limit": 1, "cursor": first["next_cursor"]})
    assert_problem(everyone, 400, "invalid-cursor", field="cursor")


async def test_unpublished_products_never_show(stack: Stack, db: asyncpg.Connection) -> None:
    _, token = await onboard_merchant(stack)
    hidden = await publish(stack, token, "Velvet Armchair Prototype", (90000, 1))
    shown = await publish(stack, token, "Velvet Armchair", (80000, 1))
    # No route unpublishes yet; the status column is what search must respect.
    await db.execute("UPDATE shop.products SET status = 'unpublished' WHERE product_id = $1", hidden["product_id"])

    searched = [h["product_id"] for h in await every_page(stack, q="velvet armchair prototype")]
    short = [h["product_id"] for h in await every_page(stack, q="Ve", limit=50)]
    browsed = [h["product_id"] for h in await every_page(stack, limit=50)]
    for ids in (searched, short, browsed):
        assert hidden["product_id"] not in ids
        assert shown["product_id"] in ids


async def test_bad_search_input_is_refused_naming_the_field(stack: Stack) -> None:
    cases = [
        ({"q": "   "}, "q"),
        ({"q": "x" * 101}, "q"),
        ({"limit": 0}, "limit"),
        ({"limit": 51}, "limit"),
        ({"min_price_minor": -1}, "min_price_minor"),
        ({"max_price_minor": "cheap"}, "max_price_minor"),
        ({"in_stock": "maybe"}, "in_stock"),
    ]
    async with stack.client("shop") as anonymous:
        for params, field in cases:
            response = await anonymous.get("/products", params=params)
            assert_problem(response, 400, field=field)
