"""What coupon drops do for a caller: each write is one transaction, with its outbox rows and feed events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from libs.auth import Principal
from libs.bus import add_events
from libs.contracts import CouponClaimed
from libs.db import write_once
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from services.live.coupons import domain, store
from services.live.coupons.domain import DropNotFound, NewCouponDrop, NotInRoom
from services.live.coupons.views import Coupon, CouponDrop, CouponDropList, MyCoupons
from services.live.rooms import domain as rooms
from services.live.rooms.store.feed import emit
from services.live.rooms.store.visits import viewer_present
from services.live.rooms.use_cases.rooms import room_of


async def _present(conn: asyncpg.Connection, room_id: str, buyer_id: str, now: datetime) -> bool:
    """The buyer is watching the room's current session now (joined, not left, heartbeat fresh)."""
    return await viewer_present(conn, room_id, buyer_id, rooms.stale_before(now))


async def drop_coupons(
    runtime: Runtime, caller: Principal, room_id: str, asked: NewCouponDrop, *, key: str | None
) -> object:
    """Open a coupon drop in a live room and tell its viewers; a retried key gets the first answer."""

    async def effect(conn: asyncpg.Connection) -> CouponDrop:
        # The room row lock is the one the feed's emit takes anyway; taking it first keeps one lock order.
        room = await room_of(conn, room_id, lock=True)
        rooms.ensure_room_staff(room, caller)
        rooms.ensure_live(room)
        now = runtime.clock.now()
        row = await store.insert_drop(
            conn,
            drop_id=str(uuid.uuid4()),
            room_id=room.room_id,
            merchant_id=room.merchant_id,
            created_by=caller.sub,
            terms=domain.drop_terms(asked, now),
            per_buyer_limit=asked.per_buyer_limit,
            total=asked.total,
            now=now,
        )
        drop = store.drop_view(row)
        await emit(conn, room.room_id, "coupon.dropped", msgspec.to_builtins(drop))
        return drop

    request = {"room_id": room_id, "drop": asked}
    return await write_once(
        runtime.db, caller=caller, scope="live.coupon_drop", key=key, request=request, effect=effect
    )


async def _locked_drop(conn: asyncpg.Connection, room_id: str, drop_id: str) -> asyncpg.Record:
    room, drop = canonical_uuid(room_id), canonical_uuid(drop_id)
    row = await store.fetch_drop(conn, room, drop, lock=True) if room and drop else None
    if row is None:
        raise DropNotFound()
    return row


async def claim(runtime: Runtime, buyer: Principal, room_id: str, drop_id: str, *, key: str | None) -> object:
    """One coupon of the drop for a buyer watching the room, within the drop's total and per-buyer limit; a retried
    key gets the same coupon."""

    async def effect(conn: asyncpg.Connection) -> Coupon:
        return await _claim(conn, runtime, buyer, room_id, drop_id)

    request = {"room_id": room_id, "drop_id": drop_id}
    return await write_once(
        runtime.db, caller=buyer, scope="live.coupon_claim", key=key, request=request, effect=effect
    )


async def _claim(conn: asyncpg.Connection, runtime: Runtime, buyer: Principal, room_id: str, drop_id: str) -> Coupon:
    # Every claim of a drop waits here for the one before it to commit, on every instance: the buyer's count
    # read below is then exact, and `claimed` can only be raised by one transaction at a time.
    row = await _locked_drop(conn, room_id, drop_id)
    now = runtime.clock.now()
    refusal = domain.drop_refusal(
        status=row["status"], valid_until=row["valid_until"], claimed=row["claimed"], total=row["total"], now=now
    )
    if refusal:
        raise refusal
    drop_id, room_id = str(row["drop_id"]), str(row["room_id"])
    if not await _present(conn, room_id, buyer.sub, now):
        raise NotInRoom()
    mine = await store.count_claims(conn, drop_id, buyer.sub)
    refusal = domain.limit_refusal(mine=mine, per_buyer_limit=row["per_buyer_limit"])
    if refusal:
        raise refusal
    claimed = await store.take_one(conn, drop_id)
    coupon_id = str(uuid.uuid4())
    if claimed is None or not await store.insert_coupon(
        conn, coupon_id=coupon_id, drop_id=drop_id, buyer_id=buyer.sub, slot=mine + 1, claimed_at=now
    ):
        # Unreachable under the row lock; if it ever is, the transaction rolls back and nothing is handed out.
        raise RuntimeError(f"coupon drop {drop_id}: claim state changed under the row lock")
    terms = store.terms_of(row)
    await add_events(
        conn,
        CouponClaimed(
            coupon_id=coupon_id,
            drop_id=drop_id,
            room_id=room_id,
            merchant_id=str(row["merchant_id"]),
            buyer_id=buyer.sub,
            occurred_at=now,
            **msgspec.structs.asdict(terms),
        ),
    )
    if claimed == row["total"]:
        await emit(conn, room_id, "coupon.claimed_out", {"drop_id": drop_id})
    return Coupon(coupon_id=coupon_id, drop_id=drop_id, **msgspec.structs.asdict(terms))


async def end_drop(runtime: Runtime, caller: Principal, room_id: str, drop_id: str) -> CouponDrop:
    """Close a drop early (no more claims; coupons already claimed stay good); ending it again changes nothing."""
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id)
        rooms.ensure_room_staff(room, caller)
        row = await _locked_drop(conn, room.room_id, drop_id)
        ended = await store.end_drop(conn, str(row["drop_id"]), runtime.clock.now())
        if ended is None:
            return store.drop_view(row)
        await emit(conn, room.room_id, "coupon.ended", {"drop_id": str(row["drop_id"])})
        return store.drop_view(ended)


async def list_drops(runtime: Runtime, room_id: str) -> CouponDropList:
    """The room's open drops with how many are claimed and left; public."""
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id)
        return CouponDropList(items=await store.open_drops(conn, room.room_id, runtime.clock.now()))


async def my_coupons(runtime: Runtime, buyer: Principal, *, limit: int, cursor: str | None) -> MyCoupons:
    """The buyer's claimed coupons, newest first."""
    after = domain.decode_cursor(cursor) if cursor else None
    async with runtime.db.transaction() as conn:
        items = await store.buyer_coupons(conn, buyer.sub, limit=limit + 1, after=after)
    more = len(items) > limit
    items = items[:limit]
    return MyCoupons(items=items, next_cursor=domain.encode_cursor(items[-1]) if more else None)


class DropsInRoom:
    """Coupon drops as rooms know them (a `RoomActivity`): listed in the room's state; a drop outlives its room's
    session (claims need presence, so nothing is claimed while the room is not live)."""

    state_key = "coupon_drops"

    async def state_in_room(
        self, runtime: Runtime, conn: asyncpg.Connection, room_id: str, now: datetime
    ) -> list[dict[str, Any]]:
        """The room's open drops as the feed's `state` shows them."""
        return [msgspec.to_builtins(d) for d in await store.open_drops(conn, room_id, now)]

    async def end_in_room(self, runtime: Runtime, conn: asyncpg.Connection, room_id: str, now: datetime) -> None:
        """Nothing ends with the room: a drop stays open until `valid_until` or its own end."""
