"""A room's counters for its host and its merchant: viewers per session, paid orders and amount, refunds, vouchers."""

from __future__ import annotations

from libs.auth import Principal
from libs.runtime import Runtime
from services.live.rooms import domain, store
from services.live.rooms.use_cases.rooms import room_of
from services.live.rooms.views import RoomStats


async def get_stats(runtime: Runtime, reader: Principal, room_id: str) -> RoomStats:
    """The room's counters, for its host or its merchant; anyone else is refused as by every staff-only room route
    (403 `not-your-room`; the room itself is public, so a 404 would hide nothing)."""
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id)
        domain.ensure_room_staff(room, reader)
        now = runtime.clock.now()
        sessions = await store.visits.session_stats(conn, room.room_id, now, domain.stale_before(now))
        views, viewers = await store.visits.room_visit_totals(conn, room.room_id)
        sales = await store.room_sales.room_sales(conn, room.room_id)
        vouchers = await store.room_vouchers.room_vouchers(conn, room.room_id)
    return RoomStats(
        room_id=room.room_id,
        views=views,
        unique_viewers=viewers,
        concurrent_viewers=sum(s.concurrent_viewers for s in sessions if s.ended_at is None),
        paid_orders=sales["paid_orders"],
        paid_amount_minor=sales["paid_amount_minor"],
        refunds=sales["refunds"],
        refunded_orders=sales["refunded_orders"],
        refunded_amount_minor=sales["refunded_amount_minor"],
        net_amount_minor=sales["paid_amount_minor"] - sales["refunded_amount_minor"],
        currency=sales["currency"],
        vouchers_sold=vouchers["vouchers_sold"],
        vouchers_redeemed=vouchers["vouchers_redeemed"],
        vouchers_refunded=vouchers["vouchers_refunded"],
        vouchers_expired=vouchers["vouchers_expired"],
        sessions=sessions,
    )
