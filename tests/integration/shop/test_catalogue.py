"""Shop catalogue over real HTTP, Postgres and NATS: merchants, products, SKUs, who may see what."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
import pytest

from libs.contracts import ProductPublished, ProductUpdated, StockChanged
from tests.harness import Infra, Stack, assert_problem, eventually, onboard_merchant

SERVICES = ("shop",)


def two_skus() -> dict[str, Any]:
    return {
        "title": "Linen Shirt",
        "description": "Relaxed fit.",
        "skus": [
            {"name": "M", "price_minor": 2599, "currency": "USD", "stock": 10},
            {"name": "L", "price_minor": 2799, "currency": "USD", "stock": 3},
        ],
    }


async def create_product(stack: Stack, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with stack.client("shop", token) as client:
        response = await client.post("/seller/products", json=body or two_skus())
    assert response.status_code == 201, response.text
    return response.json()


class Captured:
    """Events of some subjects as they cross NATS (what other services will receive)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def of(self, subject: str, **match: Any) -> list[dict[str, Any]]:
        return [e for s, e in self.events if s == subject and all(e.get(k) == v for k, v in match.items())]


async def capture(stack: Stack, *subjects: str) -> tuple[Captured, Any]:
    bus = stack.apps["shop"].runtime.bus
    captured = Captured()
    subs = []
    for subject in subjects:

        async def keep(msg: Any, subject: str = subject) -> None:
            captured.events.append((subject, msgspec.json.decode(msg.data)))

        subs.append(await bus.nc.subscribe(bus.subject(subject), cb=keep))

    async def stop() -> None:
        for sub in subs:
            await sub.unsubscribe()

    return captured, stop


async def test_operator_onboards_a_merchant_whose_profile_anyone_can_read(stack: Stack, infra: Infra) -> None:
    merchant_id, _ = await onboard_merchant(stack, currency="EUR", name="Acme Outfitters")
    async with stack.client("shop") as anonymous:
        profile = await anonymous.get(f"/merchants/{merchant_id}")
        unknown = await anonymous.get(f"/merchants/{uuid.uuid4()}")
        garbage = await anonymous.get("/merchants/not-an-id")
    assert profile.status_code == 200
    assert profile.json()["name"] == "Acme Outfitters"
    assert profile.json()["currency"] == "EUR"
    assert_problem(unknown, 404, "merchant-not-found")
    assert_problem(garbage, 404, "merchant-not-found")


@pytest.mark.parametrize("currency", ["usd", "US", "EURO", "12$"])
async def test_merchant_currency_must_be_three_upper_case_letters(stack: Stack, infra: Infra, currency: str) -> None:
    async with stack.client("shop", infra.token("operator")) as op:
        response = await op.post("/merchants", json={"name": "Acme", "currency": currency})
    assert_problem(response, 400, field="currency")


async def test_only_operators_onboard_merchants(stack: Stack, infra: Infra) -> None:
    async with stack.client("shop") as anonymous:
        assert (await anonymous.post("/merchants", json={"name": "A", "currency": "USD"})).status_code == 401
    async with stack.client("shop", infra.token("buyer")) as buyer:
        response = await buyer.post("/merchants", json={"name": "A", "currency": "USD"})
    assert_problem(response, 403, "forbidden")


async def test_merchant_creates_a_product_with_two_skus_and_sees_its_stock(stack: Stack, infra: Infra) -> None:
    merchant_id, token = await onboard_merchant(stack)
    captured, stop = await capture(stack, ProductPublished.SUBJECT)
    try:
        created = await create_product(stack, token)
        assert created["merchant_id"] == merchant_id
        assert created["status"] == "published"
        assert created["version"] == 1
        assert [
            (s["name"], s["price_minor"], s["stock_on_hand"], s["stock_reserved"], s["stock_available"])
            for s in created["skus"]
        ] == [("M", 2599, 10, 0, 10), ("L", 2799, 3, 0, 3)]

        async with stack.client("shop", token) as client:
            listed = (await client.get("/seller/products")).json()["items"]
            one = (await client.get(f"/seller/products/{created['product_id']}")).json()
        assert [p["product_id"] for p in listed] == [created["product_id"]]
        assert one["skus"] == created["skus"]

        async with stack.client("shop") as anonymous:
            public = await anonymous.get(f"/products/{created['product_id']}")
        assert public.status_code == 200
        assert [(s["name"], s["stock_available"]) for s in public.json()["skus"]] == [("M", 10), ("L", 3)]
        assert "stock_on_hand" not in public.json()["skus"][0]

        published = await eventually(lambda: captured.of(ProductPublished.SUBJECT, product_id=created["product_id"]))
        assert published[0]["merchant_id"] == merchant_id
        assert [(s["name"], s["stock_available"]) for s in published[0]["skus"]] == [("M", 10), ("L", 3)]
    finally:
        await stop()


async def test_sku_currency_defaults_to_the_merchants_and_must_match_it(stack: Stack, infra: Infra) -> None:
    _, token = await onboard_merchant(stack, currency="EUR")
    body = {"title": "Mug", "skus": [{"name": "Blue", "price_minor": 900, "stock": 1}]}
    created = await create_product(stack, token, body)
    assert created["skus"][0]["currency"] == "EUR"

    body["skus"].append({"name": "Red", "price_minor": 900, "currency": "USD", "stock": 1})
    async with stack.client("shop", token) as client:
        response = await client.post("/seller/products", json=body)
        listed = (await client.get("/seller/products")).json()["items"]
    assert_problem(response, 422, "currency-mismatch", field="skus[1].currency")
    assert len(listed) == 1


async def test_product_for_a_merchant_that_does_not_exist_is_404(stack: Stack, infra: Infra) -> None:
    token = infra.token("merchant", merchant_id=str(uuid.uuid4()))
    async with stack.client("shop", token) as client:
        response = await client.post("/seller/products", json=two_skus())
    assert_problem(response, 404, "merchant-not-found")


def _with(**changes: Any) -> dict[str, Any]:
    body = two_skus()
    for key, value in changes.items():
        if key.startswith("sku0_"):
            body["skus"][0][key[5:]] = value
        else:
            body[key] = value
    return body


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (_with(sku0_price_minor=-5), 400, "skus[0].price_minor"),
        (_with(sku0_price_minor=0), 400, "skus[0].price_minor"),
        (_with(sku0_price_minor=25.99), 400, "skus[0].price_minor"),
        (_with(sku0_stock=-1), 400, "skus[0].stock"),
        (_with(sku0_name=""), 400, "skus[0].name"),
        (_with(skus=[]), 400, "skus"),
        (_with(title=5), 400, "title"),
        (_with(title=""), 400, "title"),
        (_with(skus="M"), 400, "skus"),
        (_with(sku0_name="L"), 422, "skus[1].name"),
        ({"skus": two_skus()["skus"]}, 400, "title"),
        ({"title": "Linen", "skus": [{"name": "M", "stock": 1}]}, 400, "skus[0].price_minor"),
        (b'{"title": "Linen", "skus": [', 400, None),
        (b"", 400, None),
    ],
    ids=[
        "negative-price",
        "zero-price",
        "float-price",
        "negative-stock",
        "empty-sku-name",
        "zero-skus",
        "title-not-a-string",
        "empty-title",
        "skus-not-a-list",
        "duplicate-sku-names",
        "missing-title",
        "missing-price",
        "malformed-json",
        "empty-body",
    ],
)
async def test_invalid_product_bodies_are_refused_naming_the_field_and_write_nothing(
    stack: Stack, infra: Infra, body: dict[str, Any] | bytes, status: int, field: str | None
) -> None:
    _, token = await onboard_merchant(stack)
    async with stack.client("shop", token) as client:
        if isinstance(body, bytes):
            response = await client.post("/seller/products", content=body, headers={"content-type": "application/json"})
        else:
            response = await client.post("/seller/products", json=body)
        listed = (await client.get("/seller/products")).json()["items"]
    assert_problem(response, status, field=field)
    assert listed == []


async def test_a_price_field_the_api_does_not_know_is_refused_naming_it(stack: Stack, infra: Infra) -> None:
    _, token = await onboard_merchant(stack)
    body = two_skus()
    body["skus"][0] |= {"sale_price_minor": 1}
    created = await create_product(stack, token)
    sku_id = created["skus"][0]["sku_id"]
    async with stack.client("shop", token) as client:
        made = await client.post("/seller/products", json=body)
        edited = await client.patch(f"/seller/skus/{sku_id}", json={"price_minor": 1999, "discount_minor": 500})
        renamed = await client.patch(
            f"/seller/products/{created['product_id']}", json={"title": "Linen Shirt II", "price_minor": 1}
        )
        listed = (await client.get("/seller/products")).json()["items"]
    assert_problem(made, 400, "validation-failed", field="skus[0].sale_price_minor")
    assert_problem(edited, 400, "validation-failed", field="discount_minor")
    assert_problem(renamed, 400, "validation-failed", field="price_minor")
    # Read back by a buyer, from the database: a refused request changed nothing, not even the fields it knew.
    async with stack.client("shop") as anonymous:
        public = (await anonymous.get(f"/products/{created['product_id']}")).json()
    assert public["title"] == "Linen Shirt"
    assert [(s["name"], s["price_minor"]) for s in public["skus"]] == [("M", 2599), ("L", 2799)]
    assert len(listed) == 1


async def test_idempotency_key_makes_a_retried_create_return_the_first_product(stack: Stack, infra: Infra) -> None:
    _, token = await onboard_merchant(stack)
    async with stack.client("shop", token) as client:
        headers = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
        first, second = await asyncio.gather(
            client.post("/seller/products", json=two_skus(), headers=headers),
            client.post("/seller/products", json=two_skus(), headers=headers),
        )
        listed = (await client.get("/seller/products")).json()["items"]
    assert {first.status_code, second.status_code} == {201}
    assert first.json()["product_id"] == second.json()["product_id"]
    assert len(listed) == 1


async def test_merchant_cannot_read_or_change_another_merchants_product(stack: Stack, infra: Infra) -> None:
    _, owner = await onboard_merchant(stack)
    _, other = await onboard_merchant(stack)
    product = await create_product(stack, owner)
    sku_id = product["skus"][0]["sku_id"]
    async with stack.client("shop", other) as client:
        responses = [
            await client.get(f"/seller/products/{product['product_id']}"),
            await client.patch(f"/seller/products/{product['product_id']}", json={"title": "Mine now"}),
            await client.patch(f"/seller/skus/{sku_id}", json={"price_minor": 1}),
            await client.get(f"/seller/skus/{sku_id}/changes"),
        ]
        listed = (await client.get("/seller/products")).json()["items"]
    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    assert listed == []
    async with stack.client("shop", owner) as client:
        mine = (await client.get(f"/seller/products/{product['product_id']}")).json()
    assert mine["title"] == "Linen Shirt"
    assert mine["skus"][0]["price_minor"] == 2599
    assert mine["version"] == 1


async def test_unknown_and_malformed_ids_are_404(stack: Stack, infra: Infra) -> None:
    _, token = await onboard_merchant(stack)
    async with stack.client("shop", token) as client:
        for path in (
            f"/seller/products/{uuid.uuid4()}",
            "/seller/products/xyz",
            "/products/xyz",
            f"/products/{uuid.uuid4()}",
        ):
            assert (await client.get(path)).status_code == 404, path
        assert (await client.patch(f"/seller/skus/{uuid.uuid4()}", json={"price_minor": 5})).status_code == 404


async def test_seller_endpoints_need_a_merchant_token(stack: Stack, infra: Infra) -> None:
    async with stack.client("shop") as anonymous:
        assert (await anonymous.get("/seller/products")).status_code == 401
        assert (await anonymous.post("/seller/products", json=two_skus())).status_code == 401
    async with stack.client("shop", "not-a-jwt") as forged:
        assert (await forged.get("/seller/products")).status_code == 401
    async with stack.client("shop", infra.token("buyer")) as buyer:
        response = await buyer.get("/seller/products")
        assert response.status_code == 403
        assert (await buyer.post("/seller/products", json=two_skus())).status_code == 403


async def test_editing_a_product_bumps_its_version_and_announces_the_new_state(stack: Stack, infra: Infra) -> None:
    _, token = await onboard_merchant(stack)
    product = await create_product(stack, token)
    product_id = product["product_id"]
    captured, stop = await capture(stack, ProductUpdated.SUBJECT, StockChanged.SUBJECT)
    try:
        async with stack.client("shop", token) as client:
            titled = await client.patch(f"/seller/products/{product_id}", json={"title": "Linen Shirt II"})
            unchanged = await client.patch(f"/seller/products/{product_id}", json={"title": "Linen Shirt II"})
            restocked = await client.patch(
                f"/seller/skus/{product['skus'][1]['sku_id']}", json={"stock_on_hand": 7, "price_minor": 2899}
            )
            bad = await client.patch(f"/seller/skus/{product['skus'][1]['sku_id']}", json={"stock_on_hand": -1})
            history = await client.get(f"/seller/skus/{product['skus'][1]['sku_id']}/changes")
        assert titled.status_code == 200
        assert titled.json()["version"] == 2
        assert titled.json()["description"] == "Relaxed fit."
        assert unchanged.json()["version"] == 2
        assert restocked.status_code == 200
        assert restocked.json()["version"] == 3
        assert restocked.json()["skus"][1] | {"sku_id": None} == {
            "sku_id": None,
            "name": "L",
            "price_minor": 2899,
            "currency": "USD",
            "stock_on_hand": 7,
            "stock_reserved": 0,
            "stock_available": 7,
        }
        assert_problem(bad, 400, field="stock_on_hand")
        assert [(c["field"], c["old_value"], c["new_value"]) for c in history.json()["items"]] == [
            ("price_minor", 2799, 2899),
            ("stock_on_hand", 3, 7),
        ]

        updates = await eventually(
            lambda: (
                len(captured.of(ProductUpdated.SUBJECT, product_id=product_id)) == 2
                and captured.of(ProductUpdated.SUBJECT, product_id=product_id)
            )
        )
        assert [(u["version"], u["title"]) for u in updates] == [(2, "Linen Shirt II"), (3, "Linen Shirt II")]
        assert updates[1]["skus"][1]["price_minor"] == 2899
        stock = await eventually(lambda: captured.of(StockChanged.SUBJECT, sku_id=product["skus"][1]["sku_id"]))
        assert stock[0]["stock_available"] == 7
    finally:
        await stop()
