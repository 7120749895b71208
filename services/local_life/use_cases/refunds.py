"""Voucher refunds: a buyer's refund of unused vouchers (any time before use), asked of orders as one grant, and
orders' answer applied (refunded, or usable again)."""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg
import msgspec

from libs.auth import Principal
from libs.bus import add_events
from libs.contracts import (
    DealRefundRequested,
    RefundFailed,
    RefundSucceeded,
    RefundUnits,
    VouchersExpired,
    VoucherSource,
    VouchersRefunded,
)
from libs.db import write_once
from libs.ids import canonical_uuid, derived_id
from libs.runtime import Runtime
from services.local_life.domain import refunds as rules
from services.local_life.domain.vouchers import VoucherNotFound
from services.local_life.store import refunds as store
from services.local_life.views import VoucherRefundView

log = logging.getLogger(__name__)


def _view(row: asyncpg.Record) -> VoucherRefundView:
    return VoucherRefundView(
        refund_id=row["grant_id"],
        grant_id=row["grant_id"],
        reason=row["reason"],
        status=row["status"],
        order_id=row["order_id"],
        deal_id=row["deal_id"],
        voucher_ids=list(row["voucher_ids"]),
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        requested_at=row["requested_at"],
        decided_at=row["decided_at"],
        failure_reason=row["failure_reason"],
        refunded_minor=row["refunded_minor"],
    )


async def ask_refund(
    conn: asyncpg.Connection, *, grant_id: str, reason: str, plan: rules.RefundPlan, now: datetime
) -> bool:
    """Record the refund, move its vouchers unused → refund_pending and ask orders (DealRefundRequested), in the
    caller's transaction; False (nothing done) when this grant id was used before or a voucher is no longer unused."""
    inserted = await store.insert_refund(
        conn,
        grant_id=grant_id,
        reason=reason,
        order_id=plan.order_id,
        buyer_id=plan.buyer_id,
        merchant_id=plan.merchant_id,
        deal_id=plan.deal_id,
        voucher_ids=plan.voucher_ids,
        amount_minor=plan.amount_minor,
        currency=plan.currency,
        now=now,
    )
    if not inserted:
        return False
    moved = await store.mark_refund_pending(conn, plan.voucher_ids, grant_id)
    if len(moved) != len(plan.voucher_ids):
        return False  # the caller refuses or rolls back: the rows above go with it
    await add_events(
        conn,
        DealRefundRequested(
            grant_id=grant_id,
            reason=reason,
            order_id=plan.order_id,
            buyer_id=plan.buyer_id,
            merchant_id=plan.merchant_id,
            deal_id=plan.deal_id,
            lines=[RefundUnits(line_no=line_no, quantity=units) for line_no, units in plan.units.items()],
            voucher_ids=plan.voucher_ids,
            occurred_at=now,
        ),
    )
    return True


async def request_refund(
    runtime: Runtime, caller: Principal, *, voucher_ids: list[str], request: object, key: str | None
) -> VoucherRefundView:
    """The buyer's unused vouchers (of one order and deal; a card whole) go refund_pending and orders is asked for
    their money back, once: a retry with the same Idempotency-Key, or without one for the same vouchers while the
    refund is pending, answers the same refund."""
    asked = [canonical_uuid(v) or "" for v in voucher_ids]
    if any(not v for v in asked):
        raise VoucherNotFound("no such voucher")
    buyer_id = caller.sub

    async def effect(conn: asyncpg.Connection) -> VoucherRefundView:
        now = runtime.clock.now()
        found = await store.lock_units_of(conn, buyer_id, asked)
        if key is None and (replayed := rules.replayed_grant(asked, found)) is not None:
            row = await store.refund(conn, replayed)
            if row is not None and (row["reason"], row["status"], row["buyer_id"]) == ("buyer", "pending", buyer_id):
                return _view(row)
        plan = rules.check_buyer_refund(asked, found, now)
        if key is not None:
            grant_id = derived_id("voucher-refund", buyer_id, key)
        else:
            earlier = await store.failed_refunds_of(conn, buyer_id, plan.voucher_ids)
            grant_id = derived_id("voucher-refund", buyer_id, *plan.voucher_ids, str(earlier))
        if not await ask_refund(conn, grant_id=grant_id, reason="buyer", plan=plan, now=now):
            # Locked and checked above, so only a reused grant id gets here (a key used for other vouchers is
            # refused by write_once first): answer as for a voucher already in a refund.
            raise rules.VoucherNotRefundable("refund-pending", 0)
        row = await store.refund(conn, grant_id)
        assert row is not None
        return _view(row)

    stored = await write_once(
        runtime.db, caller=caller, scope="refund_vouchers", key=key, request=request, effect=effect
    )
    return msgspec.convert(stored, VoucherRefundView, strict=False)


async def refund_of(runtime: Runtime, caller: Principal, refund_id: str) -> VoucherRefundView:
    """One of the buyer's refunds (anyone else's is 404)."""
    found = canonical_uuid(refund_id)
    async with runtime.db.transaction() as conn:
        row = await store.refund(conn, found) if found else None
    if row is None or row["buyer_id"] != caller.sub:
        raise rules.RefundNotFound()
    return _view(row)


def is_deal_refund(event: RefundSucceeded | RefundFailed) -> bool:
    """A refund of a deal order that no after-sales case asked for: possibly ours (the rest is acked unread)."""
    return event.case_id is None and any(line.deal_id for line in event.lines)


async def apply_refund_result(
    runtime: Runtime, conn: asyncpg.Connection, event: RefundSucceeded | RefundFailed
) -> None:
    """orders' answer to one of our refunds: succeeded → the vouchers are refunded for ever (VouchersRefunded per
    line); failed → usable again (or expired, if their validity passed meanwhile). A grant not ours, or already
    decided, changes nothing."""
    grant_id = canonical_uuid(event.grant_id)
    if grant_id is None:
        return
    now = runtime.clock.now()
    if isinstance(event, RefundSucceeded):
        row = await store.decide_refund(conn, grant_id, status="succeeded", now=now, refunded_minor=event.amount_minor)
        if row is None:
            return
        refunded = await store.vouchers_refunded(conn, grant_id, now)
        paid_back: dict[int, int] = {}
        for line in event.refund_lines:
            paid_back[line.line_no] = paid_back.get(line.line_no, 0) + line.amount_minor
        by_line: dict[int, list[asyncpg.Record]] = {}
        for voucher in refunded:
            by_line.setdefault(voucher["line_no"], []).append(voucher)
        sources = await store.issued_lines(conn, row["order_id"], sorted(by_line))
        await add_events(
            conn,
            *(
                VouchersRefunded(
                    grant_id=grant_id,
                    reason=row["reason"],
                    deal_id=row["deal_id"],
                    merchant_id=row["merchant_id"],
                    buyer_id=row["buyer_id"],
                    source=_source(sources[line_no]),
                    voucher_ids=sorted(v["voucher_id"] for v in vouchers),
                    amount_minor=paid_back.get(line_no, sum(v["amount_minor"] for v in vouchers)),
                    occurred_at=now,
                )
                for line_no, vouchers in sorted(by_line.items())
            ),
        )
        return
    row = await store.decide_refund(conn, grant_id, status="failed", now=now, failure_reason=event.reason)
    if row is None:
        return
    log.warning("voucher refund %s failed: %s", grant_id, event.reason)
    back = await store.vouchers_back(conn, grant_id, now)
    expired: dict[int, list[str]] = {}
    for voucher in back:
        if voucher["status"] == "expired":
            expired.setdefault(voucher["line_no"], []).append(voucher["voucher_id"])
    if expired:
        sources = await store.issued_lines(conn, row["order_id"], sorted(expired))
        await add_events(
            conn,
            *(
                VouchersExpired(
                    deal_id=row["deal_id"],
                    merchant_id=row["merchant_id"],
                    buyer_id=row["buyer_id"],
                    source=_source(sources[line_no]),
                    voucher_ids=sorted(ids),
                    occurred_at=now,
                )
                for line_no, ids in sorted(expired.items())
            ),
        )


def _source(line: asyncpg.Record) -> VoucherSource:
    return VoucherSource(
        order_id=line["order_id"], line_no=line["line_no"], room_id=line["room_id"], flash_sale_id=line["flash_sale_id"]
    )
