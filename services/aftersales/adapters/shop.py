"""shop's exchange stock (`rpc.shop.stock.exchange.v1`): check, take or release a case's replacement units."""

from __future__ import annotations

import logging
from datetime import timedelta

import msgspec

from libs.bus import RequestFailed
from libs.contracts import EXCHANGE_STOCK, ExchangeStock, ExchangeStockReply
from libs.runtime import Runtime

log = logging.getLogger(__name__)

EXCHANGE_TIMEOUT_S = 3.0


class ShopDidNotAnswer(Exception):
    """shop did not answer in time (or failed on its side): nothing is known to have changed; ask again later."""


async def exchange(
    runtime: Runtime, *, case_id: str, merchant_id: str, product_id: str, sku_id: str, quantity: int, action: str
) -> ExchangeStockReply:
    """Ask shop; its refusals come back as the reply, its silence as ShopDidNotAnswer."""
    # shop must not commit a take after we stopped waiting for it (the case would not know it happened).
    answer_by = runtime.clock.now() + timedelta(seconds=EXCHANGE_TIMEOUT_S)
    request = ExchangeStock(
        exchange_id=case_id,
        merchant_id=merchant_id,
        product_id=product_id,
        sku_id=sku_id,
        quantity=quantity,
        action=action,
        answer_by=answer_by,
    )
    try:
        reply = await runtime.bus.request(EXCHANGE_STOCK, request, ExchangeStockReply, timeout=EXCHANGE_TIMEOUT_S)
    except (RequestFailed, msgspec.DecodeError) as exc:
        raise ShopDidNotAnswer(str(exc)) from exc
    if not reply.ok and reply.error in ("too_late", "unavailable"):
        raise ShopDidNotAnswer(reply.detail or reply.error or "")
    return reply
