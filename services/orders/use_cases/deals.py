"""Local-life deal lines after payment ("Local life" in docs/ARCHITECTURE.md): a line's vouchers issued count its
units as shipped in the ledger; refunds local_life asks for (vouchers refunded before use or at expiry, a team buy
that did not fill) become refund grants, capped and executed exactly once as any other."""

from __future__ import annotations

import logging

import asyncpg

from libs.contracts import DealRefundRequested, VouchersIssued
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from services.orders.domain.money import DealScope, GrantOrigin
from services.orders.store import fulfilment as ledger
from services.orders.store import grants as store
from services.orders.use_cases.grants import GrantOutcome, accept_grant

log = logging.getLogger(__name__)


async def count_vouchers_issued(runtime: Runtime, conn: asyncpg.Connection, event: VouchersIssued) -> None:
    """Consumer `orders__vouchers_issued`: the line's whole quantity counts as shipped (set, so a repeat or a copy
    under another event id changes nothing); an order or line orders does not know is logged and dropped."""
    order_id = canonical_uuid(event.source.order_id)
    deal_id = canonical_uuid(event.deal_id)
    if order_id is None or deal_id is None:
        log.warning("vouchers issued for order %r, deal %r: not UUIDs; ignored", event.source.order_id, event.deal_id)
        return
    tag({names.ORDER_ID: order_id})
    # The order's row lock first, as every move of its ledger takes it.
    if await store.lock_order_for_grant(conn, order_id) is None:
        log.warning("vouchers issued for order %s, which orders does not know; ignored", order_id)
        return
    if not await ledger.count_vouchers_issued(conn, order_id, event.source.line_no, deal_id):
        log.warning(
            "vouchers issued for order %s line %d, which is no line of deal %s; ignored",
            order_id,
            event.source.line_no,
            deal_id,
        )


async def refund_deal_units(
    runtime: Runtime, conn: asyncpg.Connection, event: DealRefundRequested
) -> GrantOutcome | None:
    """Consumer `orders__deal_refunds`: local_life's refund becomes a grant under its `grant_id` (once, however often
    it arrives), only of that deal's lines in that merchant's order, capped like every grant: RefundRequested then
    RefundSucceeded / RefundFailed with that grant id. An order orders does not know is logged and dropped (None)."""
    grant_id = canonical_uuid(event.grant_id)
    order_id = canonical_uuid(event.order_id)
    if grant_id is None or order_id is None or await store.order_for_grant(conn, order_id) is None:
        log.warning(
            "deal refund %r (%s) for order %r, which orders does not know; dropped",
            event.grant_id,
            event.reason,
            event.order_id,
        )
        return None
    tag({names.ORDER_ID: order_id})
    return await accept_grant(
        runtime,
        conn,
        grant_id=grant_id,
        order_id=order_id,
        case_id=None,
        origin=GrantOrigin.LOCAL_LIFE,
        lines=[(line.line_no, line.quantity) for line in event.lines],
        deal=DealScope(deal_id=event.deal_id, merchant_id=event.merchant_id),
    )
