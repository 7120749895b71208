"""Vouchers: issued when a deal line is paid (once per line), and shown to their buyer with code and QR payload."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import asyncpg

from libs.auth import Principal
from libs.bus import add_events
from libs.contracts import Event, IssuedVoucher, OrderPaid, VouchersIssued, VoucherSource
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import capture_headers, names, tag
from services.local_life.domain import teams as team_rules
from services.local_life.domain import vouchers as domain
from services.local_life.store import vouchers as store
from services.local_life.use_cases import teams
from services.local_life.views import VoucherPage, VoucherRedemption, VoucherView

log = logging.getLogger(__name__)


async def issue_vouchers(runtime: Runtime, conn: asyncpg.Connection, event: OrderPaid) -> None:
    """Each deal line of a paid order gets quantity times vouchers_per_purchase vouchers, once (the line's key), and a
    VouchersIssued; a line of a deal local_life does not know (or of another merchant's) is skipped and logged.

    A team deal's line pays its seat instead (`teams.pay_seats`): nothing is issued until the team's N-th seat is
    paid, and then every member's line is issued here, in this transaction, from the facts its seat kept."""
    deal_ids = sorted({d for line in event.lines if line.deal_id and (d := canonical_uuid(line.deal_id))})
    if not any(line.deal_id for line in event.lines):
        return
    deals = await store.deals_for_issue(conn, deal_ids) if deal_ids else {}
    issues, skipped = domain.plan_issue(event, deals)
    for line in skipped:
        log.warning(
            "order %s line %d: no vouchers issued for deal %s (%s)",
            event.order_id,
            line.line_no,
            line.deal_id,
            line.why,
        )
    now = runtime.clock.now()
    secret = runtime.settings.voucher_secret
    order_id = canonical_uuid(event.order_id)
    merchant_id = canonical_uuid(event.merchant_id)
    if order_id is None or merchant_id is None:
        log.warning("order %s: not a uuid order or merchant id; no vouchers issued", event.order_id)
        return
    tag({names.ORDER_ID: order_id})
    paid = await teams.pay_seats(runtime, conn, event, order_id, issues)
    events: list[Event] = []
    for seat in paid.to_issue:
        assert seat.order_id is not None
        issued = await issue_line(
            conn,
            now=now,
            secret=secret,
            order_id=seat.order_id,
            merchant_id=merchant_id,
            buyer_id=seat.buyer_id,
            issue=team_rules.line_issue(seat, deals[seat.deal_id], event.paid_at),
        )
        if issued is not None:
            events.append(issued)
    for issue in issues:
        if issue.line_no in paid.team_lines:
            continue
        issued = await issue_line(
            conn,
            now=now,
            secret=secret,
            order_id=order_id,
            merchant_id=merchant_id,
            buyer_id=event.buyer_id,
            issue=issue,
        )
        if issued is not None:
            events.append(issued)
    # A filled team's TeamFilled (or a refund) after the vouchers it announces.
    await add_events(conn, *events, *paid.events)


async def issue_line(
    conn: asyncpg.Connection,
    *,
    now: datetime,
    secret: str,
    order_id: str,
    merchant_id: str,
    buyer_id: str,
    issue: domain.LineIssue,
) -> VouchersIssued | None:
    """One paid line's vouchers, once (its `issued_lines` key): the VouchersIssued to publish, None if issued before."""
    first = await store.insert_issued_line(
        conn,
        order_id=order_id,
        line_no=issue.line_no,
        deal_id=issue.deal_id,
        merchant_id=merchant_id,
        buyer_id=buyer_id,
        room_id=issue.room_id,
        flash_sale_id=issue.flash_sale_id,
        now=now,
        # The paid order's trace (a team's other members: the trace of the payment that filled the team).
        trace_headers=capture_headers(),
    )
    if not first:
        return None
    rows = []
    issued = []
    amounts = domain.voucher_amounts(issue.amount_minor, issue.count)
    for seq in range(1, issue.count + 1):
        voucher_id = str(uuid.uuid4())
        code = domain.new_code()
        rows.append(
            (
                voucher_id,
                order_id,
                issue.line_no,
                seq,
                issue.deal_id,
                merchant_id,
                buyer_id,
                domain.code_hash(code),
                domain.code_last4(code),
                domain.seal_code(code, voucher_id, secret),
                issue.valid_from,
                issue.valid_until,
                now,
                amounts[seq - 1],
                domain.unit_of(seq, issue.per_unit),
                issue.currency,
            )
        )
        issued.append(IssuedVoucher(voucher_id=voucher_id, valid_from=issue.valid_from, valid_until=issue.valid_until))
    await store.insert_vouchers(conn, rows)
    return VouchersIssued(
        deal_id=issue.deal_id,
        merchant_id=merchant_id,
        buyer_id=buyer_id,
        source=VoucherSource(
            order_id=order_id, line_no=issue.line_no, room_id=issue.room_id, flash_sale_id=issue.flash_sale_id
        ),
        vouchers=issued,
        occurred_at=now,
    )


def _view(row: asyncpg.Record, redemptions: list[VoucherRedemption], secret: str) -> VoucherView:
    code = domain.open_code(row["code_sealed"], row["voucher_id"], secret, row["code_hash"])
    return VoucherView(
        voucher_id=row["voucher_id"],
        deal_id=row["deal_id"],
        deal_title=row["deal_title"],
        merchant_id=row["merchant_id"],
        order_id=row["order_id"],
        line_no=row["line_no"],
        room_id=row["room_id"],
        # A seal that does not open (the secret was changed) shows the masked code rather than a wrong one.
        code=domain.format_code(code) if code else domain.masked_code(row["code_last4"]),
        qr=domain.qr_payload(row["voucher_id"], secret),
        status=row["status"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        issued_at=row["issued_at"],
        redeemed_at=row["redeemed_at"],
        redemptions=redemptions,
    )


async def _with_redemptions(conn: asyncpg.Connection, rows: list[asyncpg.Record], secret: str) -> list[VoucherView]:
    used: dict[str, list[VoucherRedemption]] = {row["voucher_id"]: [] for row in rows}
    for r in await store.redemptions_of(conn, list(used)) if rows else []:
        used[r["voucher_id"]].append(
            VoucherRedemption(
                redemption_id=r["redemption_id"],
                store_id=r["store_id"],
                store_name=r["store_name"],
                redeemed_at=r["redeemed_at"],
                undone_at=r["undone_at"],
            )
        )
    return [_view(row, used[row["voucher_id"]], secret) for row in rows]


async def my_vouchers(runtime: Runtime, buyer: Principal, *, limit: int, cursor: str | None) -> VoucherPage:
    """The buyer's vouchers, newest first."""
    after = domain.decode_cursor(cursor) if cursor else None
    async with runtime.db.transaction() as conn:
        rows = await store.buyer_vouchers(conn, buyer.sub, limit=limit + 1, after=after)
        items = await _with_redemptions(conn, rows[:limit], runtime.settings.voucher_secret)
    more = len(rows) > limit
    next_cursor = domain.encode_cursor(items[-1].issued_at, items[-1].voucher_id) if more else None
    return VoucherPage(items=items, next_cursor=next_cursor)


async def my_voucher(runtime: Runtime, buyer: Principal, voucher_id: str) -> VoucherView:
    """One of the buyer's vouchers (anyone else's, or none, is 404)."""
    found = canonical_uuid(voucher_id)
    async with runtime.db.transaction() as conn:
        row = await store.buyer_voucher(conn, buyer.sub, found) if found else None
        if row is None:
            raise domain.VoucherNotFound("no such voucher")
        [view] = await _with_redemptions(conn, [row], runtime.settings.voucher_secret)
    return view
