"""live's replica of local_life's deals, from its events: what a room's bag may hold beside products."""

from __future__ import annotations

import logging

import asyncpg

from libs.contracts import DealEnded, DealPublished
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from services.live.rooms import store

log = logging.getLogger(__name__)


async def keep_deal(runtime: Runtime, conn: asyncpg.Connection, event: DealPublished | DealEnded) -> None:
    """Replicate a published or ended deal: the newest event wins, and an ended deal stays ended."""
    deal_id, merchant_id = canonical_uuid(event.deal_id), canonical_uuid(event.merchant_id)
    if deal_id is None or merchant_id is None:
        log.warning("deal event %s names no well-formed deal or merchant; ignored", event.event_id)
        return
    status = "ended" if isinstance(event, DealEnded) else "published"
    if not await store.deals.upsert_deal(conn, event, deal_id, merchant_id, status):
        log.info("deal %s: %s is older than live's copy, or the deal has ended; ignored", deal_id, event.SUBJECT)
