"""The flash sale under test, set up and checked through the public API as a merchant, host and buyers would."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from libs.auth import mint_token

PRICE_MINOR = 4999
SALE_PRICE_MINOR = 999
SALE_DURATION_S = 3600
RETRY_S = 20.0


class SetupError(RuntimeError):
    """A setup call failed; the message names the call and the answer."""


@dataclass(frozen=True)
class Sale:
    """The sale the buyers hit, and who runs it."""

    merchant_id: str
    product_id: str
    sku_id: str
    room_id: str
    sale_id: str
    host_token: str

    def purchase_url(self, live: str) -> str:
        """Where buyers POST their purchase."""
        return f"{live}/rooms/{self.room_id}/flash-sales/{self.sale_id}/purchase"

    def sale_url(self, live: str) -> str:
        """Where anyone reads the sale (remaining units)."""
        return f"{live}/rooms/{self.room_id}/flash-sales/{self.sale_id}"


def buyer_tokens(secret: str, run: str, count: int, *, ttl_s: int = 7200) -> list[str]:
    """One token per buyer, each a different `sub`."""
    return [mint_token(sub=f"bench-{run}-{i}", role="buyer", secret=secret, ttl_s=ttl_s) for i in range(count)]


def _post(client: httpx.Client, url: str, token: str, body: Mapping[str, Any] | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
    return client.post(url, json=body if body is not None else {}, headers=headers)


def _expect(resp: httpx.Response, *ok: int) -> dict[str, Any]:
    if resp.status_code not in ok:
        raise SetupError(f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {resp.text[:500]}")
    return resp.json()


def _post_until(client: httpx.Client, url: str, token: str, body: Mapping[str, Any], *ok: int) -> dict[str, Any]:
    """POST until accepted: live learns merchants' products over NATS, a moment after shop commits them."""
    deadline = time.monotonic() + RETRY_S
    while True:
        resp = _post(client, url, token, body)
        if resp.status_code in ok or resp.status_code != 409 or time.monotonic() > deadline:
            return _expect(resp, *ok)
        time.sleep(0.2)


def set_up_sale(urls: Mapping[str, str], secret: str, run: str, *, stock: int) -> Sale:
    """Merchant, product with `stock` units, live room with it in the bag, and a running sale of all of them."""
    shop, live = urls["shop"], urls["live"]
    with httpx.Client(timeout=15.0) as client:
        operator = mint_token(sub=f"bench-operator-{run}", role="operator", secret=secret)
        merchant = _expect(
            _post(client, f"{shop}/merchants", operator, {"name": f"Bench {run}", "currency": "USD"}), 200, 201
        )
        merchant_id = str(merchant["merchant_id"])
        seller = mint_token(sub=f"bench-merchant-{run}", role="merchant", secret=secret, merchant_id=merchant_id)
        product = _expect(
            _post(
                client,
                f"{shop}/seller/products",
                seller,
                {
                    "title": "Flash-sale sneaker",
                    "description": "Benchmark product.",
                    "skus": [{"name": "One size", "price_minor": PRICE_MINOR, "currency": "USD", "stock": stock}],
                },
            ),
            200,
            201,
        )
        product_id = str(product["product_id"])
        sku_id = str(product["skus"][0]["sku_id"])
        host = mint_token(sub=f"bench-host-{run}", role="host", secret=secret, merchant_id=merchant_id)
        room = _expect(
            _post(client, f"{live}/rooms", host, {"title": "Bench flash sale", "merchant_id": merchant_id}), 200, 201
        )
        room_id = str(room["room_id"])
        _post_until(client, f"{live}/rooms/{room_id}/bag", host, {"product_id": product_id}, 200, 201)
        _expect(_post(client, f"{live}/rooms/{room_id}/start", host), 200, 201)
        sale = _post_until(
            client,
            f"{live}/rooms/{room_id}/flash-sales",
            host,
            {
                "sku_id": sku_id,
                "quantity": stock,
                "price_minor": SALE_PRICE_MINOR,
                "per_buyer_limit": 1,
                "duration_s": SALE_DURATION_S,
            },
            200,
            201,
        )
        result = Sale(merchant_id, product_id, sku_id, room_id, str(sale["sale_id"]), host)
        _wait_running(client, result.sale_url(live), stock)
        return result


def _wait_running(client: httpx.Client, url: str, stock: int) -> None:
    """Wait until the sale reads as running with all its units."""
    deadline = time.monotonic() + RETRY_S
    while True:
        resp = client.get(url)
        body = resp.json() if resp.status_code == 200 else {}
        if body.get("status") == "running" and body.get("remaining") == stock:
            return
        if time.monotonic() > deadline:
            raise SetupError(f"GET {url} -> {resp.status_code}: {resp.text[:500]} (waiting for a running sale)")
        time.sleep(0.2)


def remaining_units(urls: Mapping[str, str], sale: Sale) -> int | None:
    """Units the sale still has, as live reports them."""
    resp = httpx.get(sale.sale_url(urls["live"]), timeout=15.0)
    if resp.status_code != 200:
        return None
    value = resp.json().get("remaining")
    return int(value) if value is not None else None


BATCH_RESULTS = ("written", "conflict", "locked")


def batch_counts(metrics: str) -> dict[str, float]:
    """Flash-sale admission batch writes by result (written, conflict, locked) in one /metrics page
    (`liveloop.flash_sale.batches`); 0 for a result not counted yet."""
    found = dict.fromkeys(BATCH_RESULTS, 0.0)
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "liveloop_flash_sale_batches_total":
                result = sample.labels.get("liveloop_flash_sale_batch_result", "")
                found[result] = found.get(result, 0.0) + sample.value
    return found


def batch_writes(live_urls: Sequence[str]) -> dict[str, float] | None:
    """`batch_counts` summed over the live instances; None if one does not answer."""
    total = dict.fromkeys(BATCH_RESULTS, 0.0)
    for url in live_urls:
        resp = httpx.get(f"{url}/metrics", timeout=15.0)
        if resp.status_code != 200:
            return None
        for result, count in batch_counts(resp.text).items():
            total[result] = total.get(result, 0.0) + count
    return total


def batch_note(before: Mapping[str, float] | None, after: Mapping[str, float] | None) -> str | None:
    """What the sale's admission batches did, from two `batch_writes` readings; None without both."""
    if before is None or after is None:
        return None
    done = {result: int(after.get(result, 0.0) - before.get(result, 0.0)) for result in BATCH_RESULTS}
    return (
        f"admission batches (all live instances): {done['written']} written on their snapshot, "
        f"{done['conflict']} conflicts (decided again), {done['locked']} written under the locks"
    )


@dataclass(frozen=True)
class OrderCheck:
    """How the admitted orders showed up in orders."""

    missing: list[str]  # order ids still absent at the end: lost
    wrong: list[str]  # order ids there, but for another buyer or another amount
    absent_at_first_look: int  # how many were not there yet right after the sale run
    seconds: float  # from the first look to the last


async def _merchant_orders(client: httpx.AsyncClient, orders: str, token: str) -> dict[str, dict[str, Any]]:
    """Every order of the merchant, by id (GET /seller/orders, 100 a page)."""
    found: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        resp = await client.get(f"{orders}/seller/orders", params=params, headers={"Authorization": f"Bearer {token}"})
        page = _expect(resp, 200)
        found |= {item["order_id"]: item for item in page["items"]}
        cursor = page.get("next_cursor")
        if not cursor:
            return found


async def _check_orders(orders: str, token: str, admitted: Mapping[str, str], orders_wait_s: float) -> OrderCheck:
    started = time.monotonic()
    first: int | None = None
    async with httpx.AsyncClient(timeout=30.0) as client:
        while True:
            found = await _merchant_orders(client, orders, token)
            missing = [order_id for order_id in admitted if order_id not in found]
            first = len(missing) if first is None else first
            if not missing or time.monotonic() > started + orders_wait_s:
                wrong = [
                    order_id
                    for order_id, buyer in admitted.items()
                    if order_id in found
                    and (found[order_id]["buyer_id"] != buyer or found[order_id]["amount_minor"] != SALE_PRICE_MINOR)
                ]
                return OrderCheck(missing, wrong, first, time.monotonic() - started)
            await asyncio.sleep(1.0)


def check_orders(
    urls: Mapping[str, str], secret: str, sale: Sale, admitted: Mapping[str, str], *, orders_wait_s: float
) -> OrderCheck:
    """Find every admitted order (order id -> buyer) among the merchant's orders, for the right buyer and price,
    polling until all are there or orders_wait_s passes."""
    token = mint_token(
        sub=f"bench-merchant-{sale.merchant_id}", role="merchant", secret=secret, merchant_id=sale.merchant_id
    )
    return asyncio.run(_check_orders(urls["orders"], token, admitted, orders_wait_s))
