"""Idempotent demo data for the local stack: one merchant, one product, one live room, one store with its clerk and
one published group-buy deal."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

USERS = {
    "buyer": "buyer-demo",
    "host": "host-demo",
    "merchant": "merchant-demo",
    "clerk": "clerk-demo",
    "operator": "operator-demo",
}
_KEY_NS = uuid.UUID("8c1b7f3e-5d2a-4e0b-9a61-0f3c2d4b5a69")
BAG_RETRY_S = 15.0


class SeedError(RuntimeError):
    """The demo could not be seeded; the message says which call failed and why."""


@dataclass
class DemoState:
    """Ids of the demo data, remembered in .liveloop/demo.json between runs."""

    # Fresh per seeding attempt, so Idempotency-Keys replay within an attempt only.
    attempt: str = field(default_factory=lambda: str(uuid.uuid4()))
    merchant_id: str | None = None
    product_id: str | None = None
    sku_ids: dict[str, str] = field(default_factory=dict)
    room_id: str | None = None
    bagged: bool = False
    store_id: str | None = None
    clerk_added: bool = False
    deal_id: str | None = None

    @classmethod
    def load(cls, path: Path) -> DemoState:
        """Read remembered ids, or start fresh if the file is missing or unreadable."""
        try:
            raw = json.loads(path.read_text())
            known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
            return cls(**known)
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, path: Path) -> None:
        """Write the ids atomically so a crash never leaves half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)


def mint(
    role: str,
    secret: str,
    *,
    merchant_id: str | None = None,
    store_id: str | None = None,
) -> str:
    """Mint a dev token for the demo user of role."""
    from libs.auth import mint_token  # lazy: devstack must import before libs exists

    return mint_token(
        sub=USERS[role],
        role=role,
        secret=secret,
        merchant_id=merchant_id,
        store_id=store_id,
    )


def demo_tokens(state: DemoState, secret: str) -> dict[str, str]:
    """Fresh tokens for every demo user, scoped to the demo merchant and store (no merchant token before one exists)."""
    m = state.merchant_id
    tokens = {
        "buyer": mint("buyer", secret),
        "host": mint("host", secret, merchant_id=m),
        "merchant": mint("merchant", secret, merchant_id=m) if m else "",
        "clerk": mint("clerk", secret, merchant_id=m, store_id=state.store_id) if state.store_id else "",
        "operator": mint("operator", secret),
    }
    return {role: token for role, token in tokens.items() if token}


def _key(state: DemoState, step: str) -> str:
    """Idempotency-Key for one seeding step of this attempt."""
    return str(uuid.uuid5(_KEY_NS, f"{state.attempt}:{step}"))


def _call(
    client: httpx.Client,
    method: str,
    url: str,
    token: str,
    body: Mapping[str, Any] | None = None,
    idem: str | None = None,
) -> httpx.Response:
    """Send one authenticated JSON request."""
    headers = {"Authorization": f"Bearer {token}"}
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return client.request(method, url, json=body, headers=headers)


def _expect(resp: httpx.Response, *ok: int) -> dict[str, Any]:
    """Return the JSON body if the status is one of ok, else raise SeedError with the problem."""
    if resp.status_code not in ok:
        raise SeedError(f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {resp.text[:500]}")
    data = resp.json()
    if not isinstance(data, dict):
        raise SeedError(f"{resp.request.method} {resp.request.url}: expected a JSON object")
    return data


def _product_still_there(client: httpx.Client, shop: str, state: DemoState, secret: str) -> bool:
    """Return True if the remembered merchant still lists the remembered product."""
    token = mint("merchant", secret, merchant_id=state.merchant_id)
    resp = _call(client, "GET", f"{shop}/seller/products", token)
    if resp.status_code != 200:
        return False
    items = resp.json().get("items", [])
    return any(item.get("product_id") == state.product_id for item in items)


def seed(urls: Mapping[str, str], state_path: Path, secret: str, timeout: float = 10.0) -> DemoState:
    """Create the demo merchant, product, room, bag entry, store, clerk and deal; each step only if not done yet."""
    state = DemoState.load(state_path)
    shop, live = urls["shop"], urls["live"]
    with httpx.Client(timeout=timeout) as client:
        if state.merchant_id and state.product_id and not _product_still_there(client, shop, state, secret):
            state = DemoState()  # the database was wiped: start over

        if not state.merchant_id:
            created = _expect(
                _call(
                    client,
                    "POST",
                    f"{shop}/merchants",
                    mint("operator", secret),
                    {"name": "Demo Outfitters", "currency": "USD"},
                    _key(state, "merchant"),
                ),
                200,
                201,
            )
            state.merchant_id = str(created["merchant_id"])
            state.save(state_path)

        merchant_token = mint("merchant", secret, merchant_id=state.merchant_id)
        if not state.product_id:
            product = {
                "title": "Linen Shirt",
                "description": "Breathable linen, relaxed fit. Demo product.",
                "skus": [
                    {"name": "M", "price_minor": 2599, "currency": "USD", "stock": 50},
                    {"name": "L", "price_minor": 2599, "currency": "USD", "stock": 30},
                ],
            }
            created = _expect(
                _call(
                    client,
                    "POST",
                    f"{shop}/seller/products",
                    merchant_token,
                    product,
                    _key(state, "product"),
                ),
                200,
                201,
            )
            state.product_id = str(created["product_id"])
            state.sku_ids = {sku["name"]: str(sku["sku_id"]) for sku in created.get("skus", [])}
            state.save(state_path)

        host_token = mint("host", secret, merchant_id=state.merchant_id)
        if not state.room_id:
            created = _expect(
                _call(
                    client,
                    "POST",
                    f"{live}/rooms",
                    host_token,
                    {"title": "Summer drop", "merchant_id": state.merchant_id},
                    _key(state, "room"),
                ),
                200,
                201,
            )
            state.room_id = str(created["room_id"])
            state.save(state_path)

        if not state.bagged:
            _add_to_bag(client, live, host_token, state)
            state.bagged = True
            state.save(state_path)

        _seed_local_life(client, urls["local_life"], merchant_token, state, state_path)
    return state


# Open around the clock, so the tour's redemption works whatever the hour it is run at.
_ALL_DAY = {str(day): [["00:00", "24:00"]] for day in range(7)}


def _seed_local_life(
    client: httpx.Client, local_life: str, merchant_token: str, state: DemoState, state_path: Path
) -> None:
    """The merchant's studio (a real store, the clerk token's `store_id`), its clerk, and a deal sold there."""
    if not state.store_id:
        store = {
            "name": "Demo Outfitters Studio",
            "address": "1 Market St, San Francisco",
            "lat": 37.7936,
            "lng": -122.3958,
            "phone": "+1 415 555 0100",
            "timezone": "America/Los_Angeles",
            "opening_hours": _ALL_DAY,
        }
        created = _expect(_call(client, "POST", f"{local_life}/seller/stores", merchant_token, store), 201)
        state.store_id = str(created["store_id"])
        state.save(state_path)
    if not state.clerk_added:
        clerk = {"clerk_id": USERS["clerk"], "name": "Demo Clerk"}
        _expect(
            _call(client, "POST", f"{local_life}/seller/stores/{state.store_id}/clerks", merchant_token, clerk),
            200,
            201,
        )
        state.clerk_added = True
        state.save(state_path)
    if not state.deal_id:
        deal = {
            "title": "Personal styling session (60 min)",
            "description": "An hour with a stylist at the studio. Demo deal.",
            "price_minor": 4900,
            "original_value_minor": 8000,
            "currency": "USD",
            "valid_days": 90,
            "store_ids": [state.store_id],
        }
        created = _expect(
            _call(client, "POST", f"{local_life}/seller/deals", merchant_token, deal, _key(state, "deal")), 200, 201
        )
        deal_id = str(created["deal_id"])
        _expect(_call(client, "POST", f"{local_life}/seller/deals/{deal_id}/publish", merchant_token), 200)
        state.deal_id = deal_id
        state.save(state_path)


def _add_to_bag(client: httpx.Client, live: str, host_token: str, state: DemoState) -> None:
    """Link the product to the room, waiting until live has heard of it over NATS."""
    url = f"{live}/rooms/{state.room_id}/bag"
    deadline = time.monotonic() + BAG_RETRY_S
    while True:
        resp = _call(
            client,
            "POST",
            url,
            host_token,
            {"product_id": state.product_id},
            _key(state, "bag"),
        )
        if resp.status_code in (200, 201):
            return  # 200: already in the bag from an earlier, interrupted run
        if not _is_product_unknown(resp) or time.monotonic() >= deadline:
            _expect(resp, 200, 201)
        time.sleep(0.25)


def _is_product_unknown(resp: httpx.Response) -> bool:
    """True for live's 409 `product-unknown`: it has not heard of the product over NATS yet."""
    if resp.status_code != 409:
        return False
    try:
        return str(resp.json().get("type", "")).endswith("/product-unknown")
    except ValueError:
        return False
