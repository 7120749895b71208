"""Expiry (过期退): at an issued line's `valid_until`, unused purchases of auto-refund deals are refunded and other
unused vouchers expire; and the sweep of verify tokens long expired."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta

import asyncpg

from libs.bus import add_events
from libs.contracts import VouchersExpired, VouchersIssued, VoucherSource
from libs.ids import canonical_uuid, derived_id
from libs.runtime import Runtime
from libs.scheduler import reschedule, schedule
from services.local_life.domain import refunds as rules
from services.local_life.store import refunds as store
from services.local_life.use_cases.refunds import ask_refund

log = logging.getLogger(__name__)

EXPIRY_JOB = "voucher_expiry"
TOKEN_SWEEP_JOB = "verify_token_sweep"
# A verify token's stored answer is repeated to a retry this long after the token expired; then it is swept.
TOKEN_KEPT = timedelta(days=1)
SWEEP_BATCH = 1000


def expiry_key(order_id: str, line_no: int) -> str:
    return f"{order_id}:{line_no}"


async def schedule_expiry(conn: asyncpg.Connection, event: VouchersIssued) -> None:
    """An issued line's expiry job, due at its vouchers' `valid_until` (once per line: its key)."""
    if not event.vouchers:
        return
    due_at = max(v.valid_until for v in event.vouchers)
    await schedule(conn, EXPIRY_JOB, expiry_key(event.source.order_id, event.source.line_no), due_at)


async def expire_line(runtime: Runtime, conn: asyncpg.Connection, key: str) -> None:
    """The line's unused vouchers past validity: whole purchases of an auto-refund deal refunded (one grant per line,
    its id derived from the line, so a re-run asks nothing twice), the others expired (VouchersExpired)."""
    order_part, _, line_part = key.rpartition(":")
    order_id = canonical_uuid(order_part)
    if order_id is None or not line_part.isdigit():
        log.warning("voucher_expiry: bad key %r", key)
        return
    line_no = int(line_part)
    now = runtime.clock.now()
    vouchers = await store.lock_line_vouchers(conn, order_id, line_no)
    if not vouchers:
        return
    later = [v.valid_until for v in vouchers if v.status == "unused" and v.valid_until > now]
    if later:
        # Not due yet (the clock of the instance that claimed it is behind): look again then.
        await reschedule(conn, EXPIRY_JOB, key, min(later))
        return
    plan = rules.plan_expiry(vouchers, auto_refund=vouchers[0].auto_refund, now=now)
    expire = list(plan.expire)
    if plan.refund:
        grant_id = derived_id("voucher-expiry", order_id, str(line_no))
        asked = await ask_refund(conn, grant_id=grant_id, reason="expired", plan=rules.plan(plan.refund), now=now)
        if not asked:
            # This line's expiry refund was asked before (a voucher made usable again by an undo since): expire.
            expire = sorted([*expire, *(v.voucher_id for v in plan.refund)])
    if not expire:
        return
    expired = await store.expire_vouchers(conn, expire, now)
    if not expired:
        return
    line = (await store.issued_lines(conn, order_id, [line_no]))[line_no]
    await add_events(
        conn,
        VouchersExpired(
            deal_id=line["deal_id"],
            merchant_id=line["merchant_id"],
            buyer_id=line["buyer_id"],
            source=VoucherSource(
                order_id=order_id, line_no=line_no, room_id=line["room_id"], flash_sale_id=line["flash_sale_id"]
            ),
            voucher_ids=expired,
            occurred_at=now,
        ),
    )


def _hour_after(moment: datetime) -> datetime:
    hours = math.ceil(moment.timestamp() / 3600)
    return datetime.fromtimestamp(hours * 3600, UTC)


async def schedule_token_sweep(conn: asyncpg.Connection, expires_at: datetime) -> None:
    """A sweep of verify tokens once this one has been kept long enough: one job per hour of tokens (keyed by the
    hour it is due), so a busy counter schedules at most one an hour."""
    due_at = _hour_after(expires_at + TOKEN_KEPT)
    key = due_at.strftime("%Y-%m-%dT%H")
    # Read first: every prepare of the hour but the first finds it, without waiting on another prepare's insert.
    if not await store.job_exists(conn, TOKEN_SWEEP_JOB, key):
        await schedule(conn, TOKEN_SWEEP_JOB, key, due_at)


async def sweep_tokens(runtime: Runtime, conn: asyncpg.Connection, key: str) -> None:
    """Delete verify tokens expired more than TOKEN_KEPT ago, SWEEP_BATCH at a time: a full batch runs again at
    once (the job is kept), so no run holds many rows."""
    now = runtime.clock.now()
    deleted = await store.delete_old_tokens(conn, now - TOKEN_KEPT, SWEEP_BATCH)
    if deleted >= SWEEP_BATCH:
        await reschedule(conn, TOKEN_SWEEP_JOB, key, now)
