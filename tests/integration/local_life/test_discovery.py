"""Buyers find published deals near them (nearest open store, great-circle distance) and by title."""

from __future__ import annotations

import math

from tests.harness import Stack, assert_problem
from tests.integration.local_life.support import merchant, new_deal, new_store

SERVICES = ("local_life",)

R = 6_371_008.8


def haversine(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """The reference: great-circle metres on the mean Earth sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    return 2 * R * math.asin(math.sqrt(h))


def north(lat: float, metres: float) -> float:
    return lat + math.degrees(metres / R)


def east(lat: float, lng: float, metres: float) -> float:
    return lng + math.degrees(metres / (R * math.cos(math.radians(lat))))


async def nearby(stack: Stack, **params) -> list[dict]:
    async with stack.client("local_life") as client:
        response = await client.get("/deals/nearby", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_buyer_gets_deals_with_their_nearest_open_store_nearest_first(stack: Stack) -> None:
    lat, lng = 48.8566, 2.3522  # the buyer
    _, token = merchant(stack)
    a = await new_store(stack, token, name="A", lat=north(lat, 300), lng=lng)
    b = await new_store(stack, token, name="B", lat=lat, lng=east(lat, lng, 2000))
    c = await new_store(stack, token, name="C", lat=north(lat, 9000), lng=lng)
    shut = await new_store(stack, token, name="Shut", lat=north(lat, 100), lng=lng)
    at_a_and_c = await new_deal(stack, token, publish=True, title="Paris A+C", store_ids=[a["store_id"], c["store_id"]])
    at_b = await new_deal(stack, token, publish=True, title="Paris B", store_ids=[b["store_id"]])
    far = await new_deal(stack, token, publish=True, title="Paris C", store_ids=[c["store_id"]])
    everywhere = await new_deal(stack, token, publish=True, title="Paris all", all_stores=True)
    # A deal whose only store closes after publishing is no longer offered.
    closing = await new_deal(stack, token, publish=True, title="Paris shut", store_ids=[shut["store_id"]])
    async with stack.client("local_life", token) as client:
        assert (await client.patch(f"/seller/stores/{shut['store_id']}", json={"status": "closed"})).status_code == 200
    await new_deal(stack, token, title="Paris draft", store_ids=[a["store_id"]])

    items = await nearby(stack, lat=lat, lng=lng, radius_m=5000)
    a_deals = sorted([at_a_and_c["deal_id"], everywhere["deal_id"]])
    assert [i["deal"]["deal_id"] for i in items] == [*a_deals, at_b["deal_id"]]
    assert [i["store"]["store_id"] for i in items] == [a["store_id"], a["store_id"], b["store_id"]]
    assert far["deal_id"] not in {i["deal"]["deal_id"] for i in items}
    assert closing["deal_id"] not in {i["deal"]["deal_id"] for i in items}
    first = items[0]
    assert first["store"] == {
        "store_id": a["store_id"],
        "name": "A",
        "address": a["address"],
        "lat": a["lat"],
        "lng": a["lng"],
    }
    assert abs(first["distance_m"] - haversine(lat, lng, a["lat"], a["lng"])) < 1
    assert abs(first["distance_m"] - 300) < 1
    assert abs(items[2]["distance_m"] - haversine(lat, lng, b["lat"], b["lng"])) < 1
    # A wider circle reaches C: the A+C deal still shows its nearest store.
    wide = await nearby(stack, lat=lat, lng=lng, radius_m=10_000)
    assert [i["deal"]["deal_id"] for i in wide] == [*a_deals, at_b["deal_id"], far["deal_id"]]
    assert wide[3]["store"]["store_id"] == c["store_id"]
    assert abs(wide[3]["distance_m"] - 9000) < 1


async def test_pages_of_nearby_deals_follow_one_another_without_gaps_or_repeats(stack: Stack) -> None:
    lat, lng = -33.8688, 151.2093
    _, token = merchant(stack)
    stores = [await new_store(stack, token, lat=north(lat, 100 * (i + 1)), lng=lng) for i in range(3)]
    # Two deals per store: ties on distance are broken by deal id.
    deals = [
        await new_deal(stack, token, publish=True, title=f"Sydney {i}", store_ids=[stores[i // 2]["store_id"]])
        for i in range(6)
    ]
    whole = await nearby(stack, lat=lat, lng=lng, radius_m=1000, limit=50)
    assert {i["deal"]["deal_id"] for i in whole} == {d["deal_id"] for d in deals}
    assert [(i["distance_m"], i["deal"]["deal_id"]) for i in whole] == sorted(
        (i["distance_m"], i["deal"]["deal_id"]) for i in whole
    )
    seen: list[str] = []
    cursor = None
    async with stack.client("local_life") as client:
        while True:
            params = {"lat": lat, "lng": lng, "radius_m": 1000, "limit": 4}
            page = (await client.get("/deals/nearby", params=params | ({"cursor": cursor} if cursor else {}))).json()
            seen += [i["deal"]["deal_id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [i["deal"]["deal_id"] for i in whole]
        first = (
            await client.get("/deals/nearby", params={"lat": lat, "lng": lng, "radius_m": 1000, "limit": 4})
        ).json()
        again = (
            await client.get(
                "/deals/nearby",
                params={"lat": lat, "lng": lng, "radius_m": 1000, "limit": 4, "cursor": first["next_cursor"]},
            )
        ).json()
        assert [i["deal"]["deal_id"] for i in again["items"]] == seen[4:]
        # A cursor belongs to its query.
        moved = await client.get(
            "/deals/nearby", params={"lat": lat + 0.001, "lng": lng, "radius_m": 1000, "cursor": first["next_cursor"]}
        )
        assert_problem(moved, 400, "invalid-cursor", field="cursor")
        assert_problem(
            await client.get("/deals/nearby", params={"lat": lat, "lng": lng, "cursor": "garbage!"}),
            400,
            field="cursor",
        )


async def test_nearby_works_across_the_antimeridian_and_near_the_pole(stack: Stack) -> None:
    _, token = merchant(stack)
    fiji = await new_store(stack, token, lat=-17.0, lng=179.99)
    pole = await new_store(stack, token, lat=89.999, lng=0.0)
    fiji_deal = await new_deal(stack, token, publish=True, title="Dateline", store_ids=[fiji["store_id"]])
    pole_deal = await new_deal(stack, token, publish=True, title="Pole", store_ids=[pole["store_id"]])
    across = await nearby(stack, lat=-17.0, lng=-179.99, radius_m=5000)
    assert [i["deal"]["deal_id"] for i in across] == [fiji_deal["deal_id"]]
    assert abs(across[0]["distance_m"] - haversine(-17.0, -179.99, -17.0, 179.99)) < 1
    over = await nearby(stack, lat=89.999, lng=180.0, radius_m=1000)
    assert [i["deal"]["deal_id"] for i in over] == [pole_deal["deal_id"]]
    assert abs(over[0]["distance_m"] - haversine(89.999, 180.0, 89.999, 0.0)) < 1


async def test_a_store_a_hair_off_the_equator_is_found_not_a_server_error(stack: Stack) -> None:
    # Squares of subnormal numbers are an underflow error in PostgreSQL: coordinates are kept to 7 decimals (~1 cm).
    _, token = merchant(stack)
    store = await new_store(stack, token, lat=5e-324, lng=-5e-324)
    assert (store["lat"], store["lng"]) == (0.0, 0.0)
    deal = await new_deal(stack, token, publish=True, title="Equator", store_ids=[store["store_id"]])
    found = await nearby(stack, lat=1e-300, lng=0.0, radius_m=10)
    assert [(i["deal"]["deal_id"], i["distance_m"]) for i in found] == [(deal["deal_id"], 0.0)]


async def test_bad_nearby_input_is_refused_naming_the_field(stack: Stack) -> None:
    async with stack.client("local_life") as client:
        for params, field in (
            ({"lat": 91, "lng": 0}, "lat"),
            ({"lat": -90.5, "lng": 0}, "lat"),
            ({"lat": 0, "lng": 180.5}, "lng"),
            ({"lat": "north", "lng": 0}, "lat"),
            ({"lat": "nan", "lng": 0}, "lat"),
            ({"lat": 0, "lng": "inf"}, "lng"),
            ({"lat": 0, "lng": 0, "radius_m": 0}, "radius_m"),
            ({"lat": 0, "lng": 0, "radius_m": 50_001}, "radius_m"),
            ({"lat": 0, "lng": 0, "limit": 51}, "limit"),
        ):
            assert_problem(await client.get("/deals/nearby", params=params), 400, field=field)
        # A missing parameter is named in the detail (the platform's problem renderer gives it no `field` yet).
        for params, missing in (({"lng": 0}, "lat"), ({"lat": 0}, "lng")):
            body = assert_problem(await client.get("/deals/nearby", params=params), 400, "validation-failed")
            assert f"'{missing}'" in body["detail"], body


async def test_deals_are_found_by_title_best_match_first(stack: Stack) -> None:
    _, token = merchant(stack)
    store = await new_store(stack, token, lat=35.6762, lng=139.6503)
    ids = {}
    for title in ("Tonkotsu Ramen for two", "Ramen and Gyoza set", "Spicy Qxhotpot feast", "Zyx tasting menu"):
        ids[title] = (await new_deal(stack, token, publish=True, title=title, store_ids=[store["store_id"]]))["deal_id"]
    draft = await new_deal(stack, token, title="Ramen draft", store_ids=[store["store_id"]])
    async with stack.client("local_life") as client:

        async def found(q: str, **params) -> list[str]:
            response = await client.get("/deals", params={"q": q} | params)
            assert response.status_code == 200, response.text
            return [i["deal"]["deal_id"] for i in response.json()["items"]]

        ramen = await found("ramen")
        assert set(ramen) == {ids["Tonkotsu Ramen for two"], ids["Ramen and Gyoza set"]}
        assert draft["deal_id"] not in ramen
        assert (await found("ramen gyoza"))[0] == ids["Ramen and Gyoza set"]
        assert set(await found("ramne")) == set(ramen)  # a typo still finds
        assert await found("Qxhotpot") == [ids["Spicy Qxhotpot feast"]]
        assert await found("Zy") == [ids["Zyx tasting menu"]]  # short: a substring
        assert await found("%") == []
        paged: list[str] = []
        cursor = None
        while True:
            response = await client.get(
                "/deals", params={"q": "ramen", "limit": 1} | ({"cursor": cursor} if cursor else {})
            )
            paged += [i["deal"]["deal_id"] for i in response.json()["items"]]
            cursor = response.json()["next_cursor"]
            if cursor is None:
                break
        assert paged == ramen
        assert_problem(await client.get("/deals", params={"q": ""}), 400, field="q")
        assert_problem(await client.get("/deals", params={"q": "   "}), 400, field="q")
        assert "'q'" in assert_problem(await client.get("/deals"), 400, "validation-failed")["detail"]
        assert_problem(await client.get("/deals", params={"q": "x" * 101}), 400, field="q")
