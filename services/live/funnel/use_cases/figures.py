"""Reading the funnel: a scope's figures and per-minute series, a room's review, the room's live staff feed."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime

import asyncpg

from libs.auth import Principal
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from services.live.flash_sales import store as sales_store
from services.live.funnel.adapters.staff_feed import CLOSED, StaffFeedHub, staff_feed_hub, start_staff_feed_hub
from services.live.funnel.domain import figures as domain
from services.live.funnel.domain.figures import FunnelNotFound
from services.live.funnel.store import figures as store
from services.live.funnel.views import FunnelFigures, RoomReview
from services.live.rooms.use_cases.rooms import room_of
from services.live.rooms.views import Room
from services.live.videos.store.videos import video_ref

# The series' range as the client gave it (`from`, `to`), parsed by the rules.
Window = tuple[str | None, str | None]


async def _figures(
    conn: asyncpg.Connection, scope: str, scope_id: str, window: Window, sale_quantity: int | None = None
) -> FunnelFigures:
    """The scope's figures, with its series over the asked window (or its last day)."""
    asked_from, asked_to = domain.parse_at(window[0], "from"), domain.parse_at(window[1], "to")
    last = None if asked_from or asked_to else await store.last_minute(conn, scope, scope_id)
    span = domain.series_range(asked_from, asked_to, last)
    points = []
    if span is not None:
        minutes = await store.minute_totals(conn, scope, scope_id, *span)
        orders = await store.order_counts_by_minute(conn, scope, scope_id, *span)
        points = domain.series(minutes, orders)
    return domain.figures(
        scope,
        scope_id,
        await store.step_totals(conn, scope, scope_id),
        uniques=await store.uniques(conn, scope, scope_id),
        counts=await store.order_counts(conn, scope, scope_id),
        window=span,
        points=points,
        sale_quantity=sale_quantity,
    )


async def _staffed_room(conn: asyncpg.Connection, reader: Principal, room_id: str) -> Room:
    """The room, for its host or its merchant; anyone else hears there is no such room."""
    room = await room_of(conn, room_id)
    if not domain.may_read_staffed(reader, room.host_id, room.merchant_id):
        raise FunnelNotFound("room")
    return room


async def room_figures(
    runtime: Runtime, reader: Principal, room_id: str, window: Window = (None, None)
) -> FunnelFigures:
    """A room's funnel over all its sessions, for its host or merchant."""
    async with runtime.db.transaction() as conn:
        await store.snapshot(conn)
        room = await _staffed_room(conn, reader, room_id)
        return await _figures(conn, "room", room.room_id, window)


async def session_figures(
    runtime: Runtime, reader: Principal, room_id: str, session_id: str, window: Window = (None, None)
) -> FunnelFigures:
    """One session of a room."""
    async with runtime.db.transaction() as conn:
        await store.snapshot(conn)
        room = await _staffed_room(conn, reader, room_id)
        session = canonical_uuid(session_id)
        if session is None or not await store.session_of_room(conn, room.room_id, session):
            raise FunnelNotFound("session")
        return await _figures(conn, "session", session, window)


async def video_figures(
    runtime: Runtime, reader: Principal, video_id: str, window: Window = (None, None)
) -> FunnelFigures:
    """A short video's funnel, for its host or merchant."""
    async with runtime.db.transaction() as conn:
        await store.snapshot(conn)
        video = await video_ref(conn, video_id)
        if video is None or not domain.may_read_staffed(reader, video.host_id, video.merchant_id):
            raise FunnelNotFound("video")
        return await _figures(conn, "video", video.video_id, window)


async def sale_figures(
    runtime: Runtime, reader: Principal, room_id: str, sale_id: str, window: Window = (None, None)
) -> FunnelFigures:
    """A flash sale's funnel, with its sell-through and pay rate, for the room's staff."""
    async with runtime.db.transaction() as conn:
        await store.snapshot(conn)
        room = await _staffed_room(conn, reader, room_id)
        sale_key = canonical_uuid(sale_id)
        sale = await sales_store.fetch_sale(conn, sale_key) if sale_key else None
        if sale is None or str(sale["room_id"]) != room.room_id:
            raise FunnelNotFound("flash sale")
        return await _figures(conn, "sale", sale_key, window, sale_quantity=sale["quantity"])


async def host_figures(
    runtime: Runtime, reader: Principal, host_id: str, window: Window = (None, None)
) -> FunnelFigures:
    """All of a host's rooms and videos, for that host."""
    if not domain.may_read_host(reader, host_id):
        raise FunnelNotFound("host")
    async with runtime.db.transaction() as conn:
        await store.snapshot(conn)
        return await _figures(conn, "host", host_id, window)


async def merchant_figures(
    runtime: Runtime, reader: Principal, merchant_id: str, window: Window = (None, None)
) -> FunnelFigures:
    """Everything a merchant sold, attributed or not, for that merchant."""
    if not domain.may_read_merchant(reader, merchant_id):
        raise FunnelNotFound("merchant")
    async with runtime.db.transaction() as conn:
        await store.snapshot(conn)
        return await _figures(conn, "merchant", canonical_uuid(merchant_id) or merchant_id, window)


async def room_review(runtime: Runtime, reader: Principal, room_id: str) -> RoomReview:
    """An ended room's review: its funnel, top products, best minute and each flash sale (409 while not ended)."""
    async with runtime.db.transaction() as conn:
        await store.snapshot(conn)
        room = await _staffed_room(conn, reader, room_id)
        domain.ensure_ended(room.status)
        funnel = await _figures(conn, "room", room.room_id, (None, None))
        sales = await sales_store.sales_of_room(conn, room.room_id)
        sale_totals = await store.step_totals_of(conn, "sale", [str(s["sale_id"]) for s in sales])
        sold = await store.sold_in_room(conn, room.room_id)
        # The best minute of the whole room, however long it ran (the series shows its last day).
        ever = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
        paid = [t for t in await store.minute_totals(conn, "room", room.room_id, *ever) if t.step == domain.PAID]
        minutes = domain.series(paid, await store.order_counts_by_minute(conn, "room", room.room_id, *ever))
    # Oldest sale first: the table reads in the order the host ran them.
    ordered = sorted(sales, key=lambda s: (s["starts_at"], str(s["sale_id"])))
    return RoomReview(
        room_id=room.room_id,
        title=room.title,
        funnel=funnel,
        top_products=domain.top_products(sold),
        best_minute=domain.best_minute(minutes),
        sales=[domain.sale_row(dict(s), sale_totals[str(s["sale_id"])]) for s in ordered],
    )


# --- the staff feed ------------------------------------------------------------------------------------


async def follow_room_funnel(
    runtime: Runtime, reader: Principal, room_id: str
) -> AsyncGenerator[FunnelFigures | None, None]:
    """The room's figures now, then fresh ones on every change (None: time for a keep-alive); 404 before it starts."""
    async with runtime.db.transaction() as conn:
        await store.snapshot(conn)
        room = await _staffed_room(conn, reader, room_id)
    return _follow(runtime, staff_feed_hub(runtime), room.room_id)


async def _follow(runtime: Runtime, hub: StaffFeedHub, room_id: str) -> AsyncGenerator[FunnelFigures | None, None]:
    # Subscribed inside the stream, so that a client gone before the first byte leaves nothing behind; and before the
    # first read, so a change committed meanwhile is pushed after it.
    client = hub.subscribe(room_id)
    try:
        yield await _current(runtime, room_id)
        while True:
            message = await client.next(hub.keepalive_s)
            if message is CLOSED:
                return
            yield message if isinstance(message, FunnelFigures) else None
    finally:
        client.close()


async def _current(runtime: Runtime, room_id: str) -> FunnelFigures:
    """The room's figures, read for its staff feed (the reader was checked when the feed opened)."""
    async with runtime.db.transaction() as conn:
        await store.snapshot(conn)
        return await _figures(conn, "room", room_id, (None, None))


async def start_staff_feed(runtime: Runtime) -> StaffFeedHub:
    """Start this process's staff feed hub (the live app, on start)."""
    return await start_staff_feed_hub(runtime, lambda room_id: _current(runtime, room_id))


async def stop_staff_feed(runtime: Runtime) -> None:
    """Stop it (the live app, on stop)."""
    await staff_feed_hub(runtime).stop()
