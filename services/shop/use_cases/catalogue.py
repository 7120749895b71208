"""Catalogue use cases: merchants, products, SKU edits. Each write and its events in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from libs.auth import Principal
from libs.bus import add_events
from libs.db import write_once
from libs.ids import is_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from services.shop.domain import catalogue as rules
from services.shop.domain.refusals import MerchantNotFound, ProductNotFound, SkuNotFound
from services.shop.domain.stock import stock_changed
from services.shop.store import catalogue as store
from services.shop.views import MerchantView, ProductList, ProductView, PublicProductView, Shortfalls, SkuChanges


@dataclass(frozen=True)
class NewSku:
    name: str
    price_minor: int
    currency: str | None
    stock: int


async def _reread(conn: asyncpg.Connection, product_id: str) -> ProductView:
    # Inside the writing transaction (the row is locked or new), so it is there.
    view = await store.product(conn, product_id)
    assert view is not None
    return view


async def create_merchant(
    runtime: Runtime, caller: Principal, *, name: str, currency: str, request: object, key: str | None
) -> object:
    """Onboard a merchant; with a key, a retry gets the first answer (`request` is what the client sent)."""

    async def effect(conn: asyncpg.Connection) -> MerchantView:
        merchant = await store.insert_merchant(conn, str(uuid.uuid4()), name, currency, runtime.clock.now())
        tag({names.MERCHANT_ID: merchant.merchant_id})
        return merchant

    return await write_once(runtime.db, caller=caller, scope="create-merchant", key=key, request=request, effect=effect)


async def merchant(runtime: Runtime, merchant_id: str) -> MerchantView:
    """A merchant's public profile (404 if unknown)."""
    found = await store.merchant(runtime.db.pool, merchant_id) if is_uuid(merchant_id) else None
    if found is None:
        raise MerchantNotFound(f"no merchant {merchant_id}")
    return found


async def create_product(
    runtime: Runtime,
    caller: Principal,
    merchant_id: str,
    *,
    title: str,
    description: str,
    skus: Sequence[NewSku],
    request: object,
    key: str | None,
) -> object:
    """Create and publish a product of `merchant_id`, announcing it with ProductPublished; with a key, once."""

    async def effect(conn: asyncpg.Connection) -> ProductView:
        now = runtime.clock.now()
        owner = await store.merchant(conn, merchant_id) if is_uuid(merchant_id) else None
        if owner is None:
            raise MerchantNotFound(f"no merchant {merchant_id}: onboard it first")
        rules.check_new_skus(owner.currency, [(s.name, s.currency) for s in skus])
        product_id = str(uuid.uuid4())
        await store.insert_product(
            conn,
            product_id=product_id,
            merchant_id=merchant_id,
            title=title,
            description=description,
            skus=[(str(uuid.uuid4()), s.name, s.price_minor, owner.currency, s.stock) for s in skus],
            now=now,
        )
        view = await _reread(conn, product_id)
        await add_events(conn, rules.published(view))
        tag({names.PRODUCT_ID: product_id})
        return view

    return await write_once(runtime.db, caller=caller, scope="create-product", key=key, request=request, effect=effect)


async def products_of(runtime: Runtime, merchant_id: str, *, limit: int, offset: int) -> ProductList:
    """A merchant's own products."""
    if not is_uuid(merchant_id):
        return ProductList(items=[])
    return ProductList(items=await store.products_of(runtime.db.pool, merchant_id, limit=limit, offset=offset))


async def own_product(runtime: Runtime, merchant_id: str, product_id: str) -> ProductView:
    """One of the merchant's products; someone else's is as unknown as a made-up id (404)."""
    found = None
    if is_uuid(product_id) and is_uuid(merchant_id):
        found = await store.product(runtime.db.pool, product_id, merchant_id=merchant_id)
    if found is None:
        raise ProductNotFound(f"no product {product_id}")
    return found


async def public_product(runtime: Runtime, product_id: str) -> PublicProductView:
    """A published product as buyers see it (404 if unknown or not for sale)."""
    found = await store.product(runtime.db.pool, product_id) if is_uuid(product_id) else None
    if found is None or found.status != "published":
        raise ProductNotFound(f"no product {product_id}")
    return rules.as_public(found)


async def edit_product(
    runtime: Runtime, merchant_id: str, product_id: str, *, title: str | None, description: str | None
) -> ProductView:
    """Change title/description; a real change bumps the version and emits ProductUpdated."""
    now = runtime.clock.now()
    if not (is_uuid(product_id) and is_uuid(merchant_id)):
        raise ProductNotFound(f"no product {product_id}")
    async with runtime.db.transaction() as conn:
        current = await store.lock_product(conn, product_id, merchant_id)
        if current is None:
            raise ProductNotFound(f"no product {product_id}")
        new_title = current["title"] if title is None else title
        new_description = current["description"] if description is None else description
        changed = (new_title, new_description) != (current["title"], current["description"])
        if changed:
            await store.update_product_text(conn, product_id, new_title, new_description, now)
        view = await _reread(conn, product_id)
        if changed:
            await add_events(conn, rules.updated(view))
        return view


async def edit_sku(
    runtime: Runtime,
    merchant_id: str,
    sku_id: str,
    *,
    price_minor: int | None,
    stock_on_hand: int | None,
    by: str,
) -> ProductView:
    """Change a SKU's price and/or stock on hand; emits ProductUpdated and, for stock, StockChanged."""
    now = runtime.clock.now()
    if not (is_uuid(sku_id) and is_uuid(merchant_id)):
        raise SkuNotFound(f"no sku {sku_id}")
    async with runtime.db.transaction() as conn:
        current = await store.lock_sku(conn, sku_id, merchant_id)
        if current is None:
            raise SkuNotFound(f"no sku {sku_id}")
        product_id = str(current["product_id"])
        tag({names.PRODUCT_ID: product_id})
        edits = rules.plan_sku_edit(
            price_minor=current["price_minor"],
            stock_on_hand=current["stock_on_hand"],
            stock_reserved=current["stock_reserved"],
            new_price=price_minor,
            new_on_hand=stock_on_hand,
        )
        if not edits:
            return await _reread(conn, product_id)
        level = await store.apply_sku_edits(conn, sku_id, product_id, edits, by=by, now=now)
        view = await _reread(conn, product_id)
        restocked = any(e.field == "stock_on_hand" for e in edits)
        await add_events(conn, rules.updated(view), *([stock_changed(level)] if restocked else []))
        return view


async def sku_changes(runtime: Runtime, merchant_id: str, sku_id: str) -> SkuChanges:
    """The edit history of one of the merchant's SKUs."""
    found = None
    if is_uuid(sku_id) and is_uuid(merchant_id):
        found = await store.sku_changes(runtime.db.pool, sku_id, merchant_id)
    if found is None:
        raise SkuNotFound(f"no sku {sku_id}")
    return SkuChanges(items=found)


async def shortfalls(runtime: Runtime, merchant_id: str) -> Shortfalls:
    """Units the merchant's paid orders need that stock could not supply."""
    return Shortfalls(items=await store.shortfalls(runtime.db.pool, merchant_id) if is_uuid(merchant_id) else [])
