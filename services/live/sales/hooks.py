"""What the room side of live asks of flash sales and coupon drops (kept here so rooms never import sales internals)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from libs.clock import Clock
from services.live.sales import coupons, flash


async def room_snapshot(conn: asyncpg.Connection, room_id: str, now: datetime | None = None) -> dict[str, Any]:
    """The room's running and scheduled sales (with stock left) and open coupon drops, for `GET /rooms/{id}/state`.

    `now` is the service clock's time (drops past `valid_until` are left out); the wall clock if not given.
    """
    now = now or datetime.now(UTC)
    sales = await flash.snapshot(conn, room_id, now)
    drops = await coupons.snapshot(conn, room_id, now)
    return {"sales": sales, "coupon_drops": drops}


async def on_room_ended(conn: asyncpg.Connection, clock: Clock, room_id: str) -> None:
    """A room's session ended (in that transaction): its running and scheduled sales end too."""
    await flash.end_room_sales(conn, clock.now(), room_id)
