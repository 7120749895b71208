"""Catalogue use cases: merchants, products, SKU edits. Each write and its events in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from libs.bus import add_events
from libs.db import Database
from libs.ids import is_uuid
from libs.telemetry import names
from libs.web.problems import Problem
from services.shop import domain
from services.shop.store import catalogue as store
from services.shop.tracing import tag
from services.shop.views import MerchantView, ProductView, PublicProductView, ShortfallView, SkuChangeView, public


@dataclass(frozen=True)
class NewSku:
    name: str
    price_minor: int
    currency: str | None
    stock: int


def _not_found(what: str, ident: str) -> Problem:
    return Problem(404, f"{what}-not-found", f"no {what} {ident}")


async def _reread(conn: asyncpg.Connection, product_id: str) -> ProductView:
    # Inside the writing transaction (the row is locked or new), so it is there.
    view = await store.product(conn, product_id)
    assert view is not None
    return view


async def create_merchant(conn: asyncpg.Connection, now: datetime, name: str, currency: str) -> MerchantView:
    """Onboard a merchant."""
    merchant = await store.insert_merchant(conn, str(uuid.uuid4()), name, currency, now)
    tag({names.MERCHANT_ID: merchant.merchant_id})
    return merchant


async def merchant(db: Database, merchant_id: str) -> MerchantView:
    """A merchant's public profile (404 if unknown)."""
    found = await store.merchant(db.pool, merchant_id) if is_uuid(merchant_id) else None
    if found is None:
        raise _not_found("merchant", merchant_id)
    return found


async def create_product(
    conn: asyncpg.Connection, now: datetime, merchant_id: str, *, title: str, description: str, skus: Sequence[NewSku]
) -> ProductView:
    """Create and publish a product of `merchant_id`, announcing it with ProductPublished."""
    tag({names.MERCHANT_ID: merchant_id})
    owner = await store.merchant(conn, merchant_id) if is_uuid(merchant_id) else None
    if owner is None:
        raise Problem(404, "merchant-not-found", f"no merchant {merchant_id}: onboard it first")
    domain.check_new_skus(owner.currency, [(s.name, s.currency) for s in skus])
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
    await add_events(conn, domain.published(view))
    tag({names.PRODUCT_ID: product_id})
    return view


async def products_of(db: Database, merchant_id: str, *, limit: int, offset: int) -> list[ProductView]:
    """A merchant's own products."""
    tag({names.MERCHANT_ID: merchant_id})
    if not is_uuid(merchant_id):
        return []
    return await store.products_of(db.pool, merchant_id, limit=limit, offset=offset)


async def own_product(db: Database, merchant_id: str, product_id: str) -> ProductView:
    """One of the merchant's products; someone else's is as unknown as a made-up id (404)."""
    tag({names.MERCHANT_ID: merchant_id, names.PRODUCT_ID: product_id})
    found = None
    if is_uuid(product_id) and is_uuid(merchant_id):
        found = await store.product(db.pool, product_id, merchant_id=merchant_id)
    if found is None:
        raise _not_found("product", product_id)
    return found


async def public_product(db: Database, product_id: str) -> PublicProductView:
    """A published product as buyers see it (404 if unknown or not for sale)."""
    tag({names.PRODUCT_ID: product_id})
    found = await store.product(db.pool, product_id) if is_uuid(product_id) else None
    if found is None or found.status != "published":
        raise _not_found("product", product_id)
    return public(found)


async def edit_product(
    db: Database, now: datetime, merchant_id: str, product_id: str, *, title: str | None, description: str | None
) -> ProductView:
    """Change title/description; a real change bumps the version and emits ProductUpdated."""
    tag({names.MERCHANT_ID: merchant_id, names.PRODUCT_ID: product_id})
    if not (is_uuid(product_id) and is_uuid(merchant_id)):
        raise _not_found("product", product_id)
    async with db.transaction() as conn:
        current = await store.lock_product(conn, product_id, merchant_id)
        if current is None:
            raise _not_found("product", product_id)
        new_title = current["title"] if title is None else title
        new_description = current["description"] if description is None else description
        changed = (new_title, new_description) != (current["title"], current["description"])
        if changed:
            await store.update_product_text(conn, product_id, new_title, new_description, now)
        view = await _reread(conn, product_id)
        if changed:
            await add_events(conn, domain.updated(view))
        return view


async def edit_sku(
    db: Database,
    now: datetime,
    merchant_id: str,
    sku_id: str,
    *,
    price_minor: int | None,
    stock_on_hand: int | None,
    by: str,
) -> ProductView:
    """Change a SKU's price and/or stock on hand; emits ProductUpdated and, for stock, StockChanged."""
    tag({names.MERCHANT_ID: merchant_id, names.SKU_ID: sku_id})
    if not (is_uuid(sku_id) and is_uuid(merchant_id)):
        raise _not_found("sku", sku_id)
    async with db.transaction() as conn:
        current = await store.lock_sku(conn, sku_id, merchant_id)
        if current is None:
            raise _not_found("sku", sku_id)
        product_id = str(current["product_id"])
        tag({names.PRODUCT_ID: product_id})
        edits = domain.plan_sku_edit(
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
        await add_events(conn, domain.updated(view), *([domain.stock_changed(level)] if restocked else []))
        return view


async def sku_changes(db: Database, merchant_id: str, sku_id: str) -> list[SkuChangeView]:
    """The edit history of one of the merchant's SKUs."""
    tag({names.MERCHANT_ID: merchant_id, names.SKU_ID: sku_id})
    found = None
    if is_uuid(sku_id) and is_uuid(merchant_id):
        found = await store.sku_changes(db.pool, sku_id, merchant_id)
    if found is None:
        raise _not_found("sku", sku_id)
    return found


async def shortfalls(db: Database, merchant_id: str) -> list[ShortfallView]:
    """Units the merchant's paid orders need that stock could not supply."""
    tag({names.MERCHANT_ID: merchant_id})
    return await store.shortfalls(db.pool, merchant_id) if is_uuid(merchant_id) else []
