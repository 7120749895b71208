"""live's replica of shop's catalogue: products and available stock per SKU, from shop's events."""

from __future__ import annotations

import logging

import asyncpg

from libs.contracts import ProductPublished, ProductUpdated, StockChanged
from libs.runtime import Runtime
from services.live.rooms import store

log = logging.getLogger(__name__)


async def keep_product(runtime: Runtime, conn: asyncpg.Connection, event: ProductPublished | ProductUpdated) -> None:
    """Replicate a published or updated product; its stock snapshot seeds SKUs live has no level for."""
    applied = await store.catalogue.upsert_product(conn, event)
    if not applied:
        log.info("product %s version %d is older than live's copy; ignored", event.product_id, event.version)
    await store.catalogue.seed_stock(conn, event)


async def keep_stock_level(runtime: Runtime, conn: asyncpg.Connection, event: StockChanged) -> None:
    """Replicate a SKU's available stock, unless a newer observation is already here."""
    await store.catalogue.upsert_stock(conn, event)
