"""Hostile or mistyped input to shop answers 400 problem+json naming what is wrong, never a 500."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.harness import Infra, Stack, assert_problem, onboard_merchant

SERVICES = ("shop",)

# Far past the nesting any request body of ours has, and past what a recursive decoder survives.
DEEP = 5000


def deeply_nested(depth: int = DEEP) -> bytes:
    return b'{"sku_id": ' + b"[" * depth + b"]" * depth + b', "quantity": 1}'


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("offset=9223372036854775808", "offset"),
        ("offset=9223372036854775807", "offset"),
        ("offset=-1", "offset"),
        ("limit=9223372036854775808", "limit"),
        ("limit=0", "limit"),
    ],
    ids=["offset-past-int64", "offset-int64-max", "offset-negative", "limit-past-int64", "limit-zero"],
)
async def test_out_of_range_paging_is_refused_naming_the_parameter(stack: Stack, query: str, field: str) -> None:
    _, token = await onboard_merchant(stack)
    async with stack.client("shop", token) as merchant:
        response = await merchant.get(f"/seller/products?{query}")
    assert_problem(response, 400, "validation-failed", field=field)


async def test_the_largest_offset_allowed_answers_an_empty_page(stack: Stack) -> None:
    _, token = await onboard_merchant(stack)
    async with stack.client("shop", token) as merchant:
        response = await merchant.get("/seller/products?offset=1000000&limit=500")
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


async def test_a_body_nested_too_deeply_is_refused_as_invalid_json(stack: Stack, infra: Infra) -> None:
    async with stack.client("shop", infra.token("buyer")) as buyer:
        response = await buyer.post(
            "/cart/items", content=deeply_nested(), headers={"Content-Type": "application/json"}
        )
        cart = (await buyer.get("/cart")).json()["items"]
    assert_problem(response, 400, "invalid-json")
    assert cart == []


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"price_minor": 1}, "price_minor"),
        ({"source": {"type": "room", "id": "r-1", "room": "r-2"}}, "source.room"),
    ],
    ids=["top-level", "nested"],
)
async def test_an_unknown_field_in_a_cart_line_is_refused_naming_it(
    stack: Stack, infra: Infra, extra: dict, field: str
) -> None:
    _, token = await onboard_merchant(stack)
    async with stack.client("shop", token) as merchant:
        created = await merchant.post(
            "/seller/products", json={"title": "Tee", "skus": [{"name": "M", "price_minor": 2599, "stock": 5}]}
        )
    assert created.status_code == 201, created.text
    sku_id = created.json()["skus"][0]["sku_id"]
    async with stack.client("shop", infra.token("buyer")) as buyer:
        response = await buyer.post("/cart/items", json={"sku_id": sku_id, "quantity": 1, **extra})
        cart = (await buyer.get("/cart")).json()["items"]
    body = assert_problem(response, 400, "validation-failed", field=field)
    assert field in body["detail"]
    assert cart == []


async def test_an_unknown_field_in_a_new_product_is_refused_naming_its_path(stack: Stack) -> None:
    _, token = await onboard_merchant(stack)
    body = {"title": "Tee", "skus": [{"name": "M", "price_minor": 2599, "stock": 5, "stok": 9}]}
    async with stack.client("shop", token) as merchant:
        response = await merchant.post("/seller/products", json=body)
        listed = (await merchant.get("/seller/products")).json()["items"]
    assert_problem(response, 400, "validation-failed", field="skus[0].stok")
    assert listed == []


async def test_an_overlong_url_is_refused_with_414_problem_json(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url("shop"), timeout=30) as client:
        response = await client.get(f"/products/{uuid.uuid4()}", params={"q": "x" * 20_000})
    body = assert_problem(response, 414, "uri-too-long")
    assert body["request_id"] == response.headers["x-request-id"]


async def test_a_long_but_sane_url_is_served(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url("shop"), timeout=30) as client:
        response = await client.get(f"/products/{uuid.uuid4()}", params={"q": "x" * 4_000})
    assert_problem(response, 404)
