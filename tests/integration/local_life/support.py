"""local_life test helpers: a merchant, its stores and deals, made through the public API as a merchant would."""

from __future__ import annotations

import uuid
from typing import Any

from tests.harness import Stack


def merchant(stack: Stack) -> tuple[str, str]:
    """A fresh merchant id and a merchant token acting for it."""
    merchant_id = str(uuid.uuid4())
    return merchant_id, stack.infra.token("merchant", merchant_id=merchant_id)


async def new_store(stack: Stack, token: str, **fields: Any) -> dict:
    """A store of the token's merchant (defaults: an open store in central Shanghai)."""
    body = {"name": f"Store {uuid.uuid4().hex[:6]}", "address": "1 Nanjing Road", "lat": 31.2304, "lng": 121.4737}
    body |= fields
    async with stack.client("local_life", token) as client:
        response = await client.post("/seller/stores", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def deal_body(**fields: Any) -> dict:
    """A valid draft deal's body (valid 30 days after purchase, sold at every store unless told)."""
    body: dict[str, Any] = {
        "title": "Hotpot for two",
        "price_minor": 9900,
        "original_value_minor": 15800,
        "currency": "CNY",
        "valid_days": 30,
    }
    return body | fields


async def new_deal(stack: Stack, token: str, *, publish: bool = False, **fields: Any) -> dict:
    """A draft deal of the token's merchant (published when asked)."""
    async with stack.client("local_life", token) as client:
        response = await client.post("/seller/deals", json=deal_body(**fields))
        assert response.status_code == 201, response.text
        deal = response.json()
        if publish:
            response = await client.post(f"/seller/deals/{deal['deal_id']}/publish")
            assert response.status_code == 200, response.text
            deal = response.json()
    return deal
