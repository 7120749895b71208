"""The deal reserve responder; every local_life instance joins queue group `local_life`."""

from __future__ import annotations

import logging

import asyncpg

from libs.bus import Responder
from libs.contracts import RESERVE_DEALS, ReserveDeals, ReserveDealsReply
from libs.runtime import Runtime
from services.local_life.use_cases import holds

log = logging.getLogger(__name__)

_UNAVAILABLE = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


def responders(runtime: Runtime) -> list[Responder]:
    """Answer orders' deal reservations for checkout."""

    async def reserve(request: ReserveDeals) -> ReserveDealsReply:
        try:
            return await holds.reserve(runtime, request)
        except _UNAVAILABLE:
            # Say so at once rather than let checkout wait out its timeout; a retry with the same checkout id is safe
            # (nothing was held, or the stored holds are answered again).
            log.exception("reserving deals for checkout %s failed", request.checkout_id)
            return ReserveDealsReply(ok=False, error="unavailable", detail="deals could not be reserved now; retry")

    return [Responder(RESERVE_DEALS, ReserveDeals, reserve, queue="local_life")]
