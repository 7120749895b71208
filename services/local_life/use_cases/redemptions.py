"""Redemption at the counter: prepare (what can be redeemed here now), verify (redeem each chosen voucher once,
idempotent on the token) and undo (within the window, by the same store)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import msgspec

from libs.auth import Principal
from libs.bus import add_events
from libs.contracts import RedemptionUndone, VoucherRedeemed, VoucherSource
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import baggage_set, link_current, names, tag
from services.local_life.domain import after_list, list_cursor
from services.local_life.domain import redemptions as rules
from services.local_life.domain import vouchers as codes
from services.local_life.store import redemptions as store
from services.local_life.store import vouchers as voucher_store
from services.local_life.use_cases.expiry import schedule_token_sweep
from services.local_life.use_cases.reports import ensure_not_settled
from services.local_life.use_cases.stores import clerk_at
from services.local_life.views import (
    ClerkRedemption,
    ClerkRedemptionPage,
    OfferedVoucher,
    PreparedRedemption,
    RedemptionView,
    VerifiedVoucher,
    VerifyResult,
)


async def prepare(runtime: Runtime, caller: Principal, *, code: str | None, qr: str | None) -> PreparedRedemption:
    """The usable-here-now vouchers of the order line the shown code (or QR) belongs to, masked, and a verify token
    (60 s). An unknown code or another merchant's voucher is 404 `voucher-not-found`; a voucher of this merchant not
    usable here is 409 with the reason."""
    clerk = await clerk_at(runtime, caller)
    if (code is None) == (qr is None):
        raise rules.CodeOrQr()
    secret = runtime.settings.voucher_secret
    code_hash = codes.code_hash(codes.parse_code(code)) if code is not None else None
    voucher_id = codes.qr_voucher_id(qr, secret) if qr is not None else None
    if code_hash is None and voucher_id is None:
        raise codes.VoucherNotFound()
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        if code_hash is not None:
            found = await voucher_store.voucher_by_hash(conn, code_hash)
        else:
            found = await voucher_store.voucher_by_id(conn, voucher_id)
        if found is None or found["merchant_id"] != clerk.merchant_id:
            raise codes.VoucherNotFound()
        place = await store.store_clock(conn, clerk.store_id)
        assert place is not None  # clerk_at found it
        line = await store.line_vouchers_at(conn, found["order_id"], found["line_no"], clerk.store_id)
        reasons = {v.voucher_id: rules.unusable_reason(v, place, now) for v, _ in line}
        usable = [(v, row) for v, row in line if reasons[v.voucher_id] is None]
        if not usable:
            raise rules.VoucherNotUsable(reasons.get(found["voucher_id"]) or "already-redeemed")
        token = rules.new_verify_token()
        expires_at = now + timedelta(seconds=runtime.settings.verify_token_ttl_s)
        per_visit_limit = usable[0][1]["per_visit_limit"]
        await store.insert_verify_token(
            conn,
            token_hash=rules.token_hash(token),
            store_id=clerk.store_id,
            merchant_id=clerk.merchant_id,
            clerk_id=clerk.clerk_id,
            voucher_ids=[v.voucher_id for v, _ in usable],
            per_visit_limit=per_visit_limit,
            now=now,
            expires_at=expires_at,
        )
        await schedule_token_sweep(conn, expires_at)
    return PreparedRedemption(
        verify_token=token,
        expires_at=expires_at,
        per_visit_limit=per_visit_limit,
        vouchers=[
            OfferedVoucher(
                voucher_id=v.voucher_id,
                masked_code=codes.masked_code(row["code_last4"]),
                deal_title=row["title"],
                valid_until=v.valid_until,
            )
            for v, row in usable
        ],
    )


async def verify(runtime: Runtime, caller: Principal, *, verify_token: str, voucher_ids: list[str]) -> VerifyResult:
    """Redeem each chosen voucher once (a voucher someone else redeemed first is `already-redeemed`, the others
    succeed); the answer is kept with the token and a retry gets it again, after expiry too."""
    clerk = await clerk_at(runtime, caller)
    token_hash = rules.token_hash(verify_token)
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        token = await store.lock_verify_token(conn, token_hash, clerk.store_id)
        if token is None:
            raise rules.VerifyTokenNotFound()
        if token["result"] is not None:
            return msgspec.convert(token["result"], VerifyResult)
        if token["expires_at"] <= now:
            raise rules.VerifyTokenExpired()
        chosen = [canonical_uuid(v) or v for v in voucher_ids]
        rules.check_chosen(chosen, token["voucher_ids"])
        rules.check_per_visit(len(chosen), token["per_visit_limit"])
        outcomes: dict[str, VerifiedVoucher] = {}
        events = []
        sources = []
        # One lock order for every verify: two tokens sharing vouchers never wait on each other in a cycle.
        for voucher_id in sorted(chosen):
            source = await store.redeem_voucher(conn, voucher_id, now)
            if source is None:
                outcomes[voucher_id] = VerifiedVoucher(voucher_id=voucher_id, outcome="already-redeemed")
                continue
            sources.append(source)
            redemption_id = str(uuid.uuid4())
            await store.insert_redemption(
                conn,
                redemption_id=redemption_id,
                voucher_id=voucher_id,
                store_id=clerk.store_id,
                clerk_id=clerk.clerk_id,
                redeemed_at=now,
                source=source,
            )
            outcomes[voucher_id] = VerifiedVoucher(
                voucher_id=voucher_id, outcome="redeemed", redemption_id=redemption_id, redeemed_at=now
            )
            events.append(
                VoucherRedeemed(
                    redemption_id=redemption_id,
                    voucher_id=voucher_id,
                    deal_id=source["deal_id"],
                    merchant_id=source["merchant_id"],
                    store_id=clerk.store_id,
                    clerk_id=clerk.clerk_id,
                    source=_source(source),
                    redeemed_at=now,
                    occurred_at=now,
                )
            )
        result = VerifyResult(
            store_id=clerk.store_id,
            clerk_id=clerk.clerk_id,
            verified_at=now,
            vouchers=[outcomes[v] for v in chosen],
        )
        await store.store_token_result(conn, token_hash, msgspec.to_builtins(result), clerk.clerk_id, now)
        with baggage_set(**{names.ROOM_ID: _link_to_paid_lines(sources)}):
            await add_events(conn, *events)
    return result


def _link_to_paid_lines(sources: list[asyncpg.Record]) -> str | None:
    """Link the current span to the trace each redeemed line was paid (and its vouchers issued) in, and tag it with
    the order and room; the room, for the events' baggage (a verify token's vouchers are of one order line)."""
    linked: list[dict[str, str]] = []
    for source in sources:
        if source["trace_headers"] not in linked:
            linked.append(source["trace_headers"])
            link_current(source["trace_headers"])
    if not sources:
        return None
    tag({names.ORDER_ID: sources[0]["order_id"], names.ROOM_ID: sources[0]["room_id"]})
    return sources[0]["room_id"]


async def undo(runtime: Runtime, caller: Principal, redemption_id: str) -> RedemptionView:
    """Take a redemption back (a clerk of its store, within the undo window): the voucher is usable again."""
    clerk = await clerk_at(runtime, caller)
    found = canonical_uuid(redemption_id)
    if found is None:
        raise rules.RedemptionNotFound()
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        row = await store.lock_redemption(conn, found, clerk.store_id)
        if row is None:
            raise rules.RedemptionNotFound()
        await ensure_not_settled(conn, found)
        rules.ensure_undoable(row["redeemed_at"], row["undone_at"], now, runtime.settings.undo_window_s)
        undone = await store.undo_redemption(conn, found, clerk.clerk_id, now)
        assert undone is not None  # locked above, not undone yet
        await add_events(
            conn,
            RedemptionUndone(
                redemption_id=found,
                voucher_id=undone["voucher_id"],
                deal_id=undone["deal_id"],
                merchant_id=undone["merchant_id"],
                store_id=undone["store_id"],
                clerk_id=clerk.clerk_id,
                source=_source(undone),
                undone_at=now,
                occurred_at=now,
            ),
        )
    return RedemptionView(
        redemption_id=found,
        voucher_id=undone["voucher_id"],
        deal_id=undone["deal_id"],
        store_id=undone["store_id"],
        clerk_id=undone["clerk_id"],
        redeemed_at=undone["redeemed_at"],
        undone_at=undone["undone_at"],
    )


def _source(row) -> VoucherSource:
    return VoucherSource(
        order_id=row["order_id"], line_no=row["line_no"], room_id=row["room_id"], flash_sale_id=row["flash_sale_id"]
    )


async def store_day(
    runtime: Runtime, caller: Principal, *, day: str | None, limit: int, cursor: str | None
) -> ClerkRedemptionPage:
    """The clerk's store's redemptions on one of its days (today in its time zone unless `day` names another),
    newest first, undone ones too, each with until when it may still be undone."""
    clerk = await clerk_at(runtime, caller)
    chosen = rules.parse_day(day) if day is not None else None
    after = after_list(cursor) if cursor else None
    now = runtime.clock.now()
    window_s = runtime.settings.undo_window_s
    async with runtime.db.transaction() as conn:
        place = await store.store_clock(conn, clerk.store_id)
        assert place is not None  # clerk_at found it
        chosen = chosen or rules.local_time(place, now).date()
        since, until = rules.store_day(place, chosen)
        rows = await store.store_redemptions(conn, clerk.store_id, since, until, limit=limit + 1, after=after)
    items = [
        ClerkRedemption(
            redemption_id=row["redemption_id"],
            voucher_id=row["voucher_id"],
            masked_code=codes.masked_code(row["code_last4"]),
            deal_title=row["deal_title"],
            redeemed_at=row["redeemed_at"],
            clerk_id=row["clerk_id"],
            undone_at=row["undone_at"],
            undoable_until=rules.undoable_until(row["redeemed_at"], row["undone_at"], row["settled"], now, window_s),
        )
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    return ClerkRedemptionPage(
        store_id=clerk.store_id,
        day=chosen,
        timezone=place.timezone,
        items=items,
        next_cursor=list_cursor(items[-1].redeemed_at, items[-1].redemption_id) if more else None,
    )
