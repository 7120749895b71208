"""Room vouchers: local_life's vouchers sold, redeemed (less undone), refunded and expired, counted for the room that
sold them (`room_stats.vouchers_*`), each fact once however often or under whatever event id it arrives."""

from __future__ import annotations

import logging

import asyncpg

from libs.contracts import (
    RedemptionUndone,
    VoucherRedeemed,
    VouchersExpired,
    VouchersIssued,
    VoucherSource,
    VouchersRefunded,
)
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from services.live.rooms import store

log = logging.getLogger(__name__)

VoucherEvent = VouchersIssued | VoucherRedeemed | RedemptionUndone | VouchersRefunded | VouchersExpired


async def _selling_room(conn: asyncpg.Connection, event: VoucherEvent) -> str | None:
    """The room the vouchers were sold in, if live knows it and it sells for the deal's merchant (the rule room
    sales are counted by); None otherwise (no room: nothing to count)."""
    source: VoucherSource = event.source
    room_id = canonical_uuid(source.room_id) if source.room_id else None
    merchant_id = canonical_uuid(event.merchant_id)
    if room_id is None or merchant_id is None:
        return None
    tag({names.ROOM_ID: room_id})
    if not await store.room_vouchers.sells_for(conn, room_id, merchant_id):
        log.info(
            "%s of order %s: room %s is not one of the merchant's here; not counted",
            event.SUBJECT,
            source.order_id,
            room_id,
        )
        return None
    return room_id


async def count_vouchers(runtime: Runtime, conn: asyncpg.Connection, event: VoucherEvent) -> None:
    """Count the event's voucher facts for the room that sold them."""
    room_id = await _selling_room(conn, event)
    if room_id is None:
        return
    now = runtime.clock.now()
    if isinstance(event, VoucherRedeemed):
        await store.room_vouchers.add_redemption(conn, room_id, event.redemption_id, now)
    elif isinstance(event, RedemptionUndone):
        await store.room_vouchers.undo_redemption(conn, room_id, event.redemption_id, now)
    elif isinstance(event, VouchersIssued):
        voucher_ids = [v.voucher_id for v in event.vouchers]
        await store.room_vouchers.add_voucher_facts(conn, room_id, "sold", voucher_ids, now)
    elif isinstance(event, VouchersRefunded):
        await store.room_vouchers.add_voucher_facts(conn, room_id, "refunded", event.voucher_ids, now)
    else:
        await store.room_vouchers.add_voucher_facts(conn, room_id, "expired", event.voucher_ids, now)
