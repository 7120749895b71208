"""The stock reserve, allocate and exchange responders; every shop instance joins queue group `shop`."""

from __future__ import annotations

import logging

import asyncpg

from libs.bus import Responder
from libs.contracts import (
    ALLOCATE_STOCK,
    EXCHANGE_STOCK,
    RESERVE_STOCK,
    AllocateStock,
    AllocateStockReply,
    ExchangeStock,
    ExchangeStockReply,
    ReserveStock,
    ReserveStockReply,
)
from libs.runtime import Runtime
from services.shop.use_cases import allocations, exchanges, stock

log = logging.getLogger(__name__)

_UNAVAILABLE = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


def responders(runtime: Runtime) -> list[Responder]:
    """Answer the reserve, allocate and exchange requests of orders, live and aftersales."""

    async def reserve(request: ReserveStock) -> ReserveStockReply:
        try:
            return await stock.reserve(runtime, request)
        except _UNAVAILABLE:
            # Say so at once rather than let checkout wait out its timeout; a retry with the same
            # checkout id is safe (nothing was held, or the stored reservation is answered again).
            log.exception("reserving stock for checkout %s failed", request.checkout_id)
            return ReserveStockReply(ok=False, error="unavailable", detail="stock could not be reserved now; retry")

    async def allocate(request: AllocateStock) -> AllocateStockReply:
        try:
            return await allocations.allocate(runtime, request)
        except _UNAVAILABLE:
            # As for reservations: a retry with the same allocation id is safe.
            log.exception("allocating stock for sale %s failed", request.allocation_id)
            return AllocateStockReply(ok=False, error="unavailable", detail="stock could not be allocated now; retry")

    async def exchange(request: ExchangeStock) -> ExchangeStockReply:
        try:
            return await exchanges.exchange(runtime, request)
        except _UNAVAILABLE:
            # As for reservations: a retry with the same exchange id is safe.
            log.exception("exchange %s (%s) failed", request.exchange_id, request.action)
            return ExchangeStockReply(ok=False, error="unavailable", detail="stock could not be exchanged now; retry")

    return [
        Responder(RESERVE_STOCK, ReserveStock, reserve, queue="shop"),
        Responder(ALLOCATE_STOCK, AllocateStock, allocate, queue="shop"),
        Responder(EXCHANGE_STOCK, ExchangeStock, exchange, queue="shop"),
    ]
