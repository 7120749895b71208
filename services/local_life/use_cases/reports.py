"""A merchant's reports (redemptions per store per day, vouchers per deal) and settlement: what is due (redeemed,
not undone, past the undo window, not settled) and settling exactly that."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
import msgspec

from libs.auth import Principal
from libs.db import write_once
from libs.ids import canonical_uuid, derived_id
from libs.runtime import Runtime
from services.local_life.domain import after_list, list_cursor
from services.local_life.domain.refusals import DealNotFound, InvalidReportRange, NothingToSettle, Settled
from services.local_life.store import reports as store
from services.local_life.views import (
    CurrencyTotal,
    DealVoucherCounts,
    RedemptionReport,
    SettlementDue,
    SettlementPage,
    SettlementView,
    StoreDayRedemptions,
    VoucherReport,
)

MAX_REPORT_DAYS = 366


async def redemptions_report(runtime: Runtime, merchant_id: str, from_day: date, to_day: date) -> RedemptionReport:
    """Redemptions not undone, per store per day of the store's time zone (at most a year of days)."""
    if from_day > to_day:
        raise InvalidReportRange("`to` is on or after `from`")
    if (to_day - from_day).days >= MAX_REPORT_DAYS:
        raise InvalidReportRange(f"at most {MAX_REPORT_DAYS} days at once")
    # Any store's day lies within a day either side of the UTC day (time zones span UTC-12 to UTC+14).
    since = datetime.combine(from_day - timedelta(days=1), time(), tzinfo=UTC)
    until = datetime.combine(to_day + timedelta(days=2), time(), tzinfo=UTC)
    async with runtime.db.transaction() as conn:
        rows = await store.redemptions_per_store_day(conn, merchant_id, from_day, to_day, since, until)
    return RedemptionReport(from_day=from_day, to_day=to_day, items=[StoreDayRedemptions(**dict(r)) for r in rows])


async def vouchers_report(runtime: Runtime, merchant_id: str, deal_id: str | None) -> VoucherReport:
    """The merchant's deals (or one), each with its vouchers sold, unused, redeemed, refunding, refunded, expired."""
    found = canonical_uuid(deal_id) if deal_id is not None else None
    async with runtime.db.transaction() as conn:
        if deal_id is not None and (found is None or not await store.merchant_owns_deal(conn, merchant_id, found)):
            raise DealNotFound()
        rows = await store.vouchers_per_deal(conn, merchant_id, found)
    return VoucherReport(items=[DealVoucherCounts(**dict(r)) for r in rows])


def _cut(runtime: Runtime) -> datetime:
    return runtime.clock.now() - timedelta(seconds=runtime.settings.undo_window_s)


def _totals(rows: list[asyncpg.Record]) -> list[CurrencyTotal]:
    return [
        CurrencyTotal(currency=r["currency"], redemptions=r["redemptions"], amount_minor=r["amount_minor"])
        for r in rows
    ]


async def settlement_due(runtime: Runtime, merchant_id: str) -> SettlementDue:
    """What a settlement now would take, per currency."""
    cut_at = _cut(runtime)
    async with runtime.db.transaction() as conn:
        rows = await store.due_totals(conn, merchant_id, cut_at)
    return SettlementDue(cut_at=cut_at, totals=_totals(rows))


def _settlement(row: asyncpg.Record) -> SettlementView:
    return SettlementView(
        settlement_id=row["settlement_id"],
        merchant_id=row["merchant_id"],
        cut_at=row["cut_at"],
        created_at=row["created_at"],
        totals=msgspec.convert(row["totals"], list[CurrencyTotal]),
    )


async def settle(
    runtime: Runtime, caller: Principal, merchant_id: str, *, request: object, key: str | None
) -> SettlementView:
    """Settle exactly what is due now, in one transaction (409 `nothing-to-settle` when nothing is); a retry with the
    same Idempotency-Key answers the same settlement."""
    settlement_id = derived_id("settlement", merchant_id, key) if key else str(uuid.uuid4())

    async def effect(conn: asyncpg.Connection) -> SettlementView:
        now = runtime.clock.now()
        cut_at = now - timedelta(seconds=runtime.settings.undo_window_s)
        await store.insert_settlement(conn, settlement_id, merchant_id, cut_at, now)
        totals = await store.settle_due(conn, settlement_id, merchant_id, cut_at, now)
        if not totals:
            raise NothingToSettle()
        await store.insert_totals(conn, settlement_id, totals)
        return SettlementView(
            settlement_id=settlement_id, merchant_id=merchant_id, cut_at=cut_at, created_at=now, totals=_totals(totals)
        )

    stored = await write_once(runtime.db, caller=caller, scope="settle", key=key, request=request, effect=effect)
    return msgspec.convert(stored, SettlementView, strict=False)


async def settlements_page(runtime: Runtime, merchant_id: str, *, limit: int, cursor: str | None) -> SettlementPage:
    """The merchant's settlements, newest first."""
    after = after_list(cursor) if cursor else None
    async with runtime.db.transaction() as conn:
        rows = await store.settlements(conn, merchant_id, limit=limit + 1, after=after)
    items = [_settlement(r) for r in rows[:limit]]
    more = len(rows) > limit
    return SettlementPage(
        items=items, next_cursor=list_cursor(items[-1].created_at, items[-1].settlement_id) if more else None
    )


async def ensure_not_settled(conn: asyncpg.Connection, redemption_id: str) -> None:
    """A settled redemption is not undone (the caller has locked it)."""
    settlement_id = await store.settlement_of_redemption(conn, redemption_id)
    if settlement_id is not None:
        raise Settled(settlement_id)
