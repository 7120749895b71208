"""The feed benchmark's sale: buyers over HTTP, live's pool warmed first, and the sold-out event's time from live's
outbox (on the monotonic clock the viewers stamp with)."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import msgspec

from bench.feed_report import Purchase, wall_to_monotonic_ns
from bench.feed_viewers import SOLD_OUT

FEED_SUBJECT = "live.room.feed.v1"  # libs.contracts.RoomFeed.SUBJECT, as live's outbox stores it


class CannotRun(RuntimeError):
    """The run cannot be made as asked (limits, a sale that never sold out); exit 2."""


# --- the sale --------------------------------------------------------------------------------------------------


async def buy_out(url: str, tokens: Sequence[str], concurrency: int) -> list[Purchase]:
    """Buyers, `concurrency` at a time and one unit each, until one is told sold-out (or the tokens run out)."""
    purchases: list[Purchase] = []
    queue = iter(tokens)
    sold_out = False
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as client:

        async def buyer() -> None:
            nonlocal sold_out
            for token in queue:
                if sold_out:
                    return
                headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
                start = time.monotonic_ns()
                try:
                    resp = await client.post(url, json={"quantity": 1}, headers=headers)
                except httpx.HTTPError as exc:
                    purchases.append(Purchase(0, start, time.monotonic_ns(), type(exc).__name__))
                    continue
                end = time.monotonic_ns()
                problem = ""
                if resp.status_code != 201:
                    with contextlib.suppress(ValueError, AttributeError):
                        problem = str(resp.json().get("type", "")).rsplit("/", 1)[-1]
                purchases.append(Purchase(resp.status_code, start, end, problem))
                if resp.status_code == 409 and problem == "sold-out":
                    sold_out = True

        await asyncio.gather(*(buyer() for _ in range(concurrency)))
    return purchases


async def warm(live_url: str, room_id: str, concurrency: int) -> None:
    """Fill live's database pool before measuring: its Postgres backends then all exist when the CPU meter lists
    them (a backend opened mid-phase would count as `other`), and the memory baseline is a warm process's."""
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as client:
        for _ in range(2):
            answers = await asyncio.gather(
                *(client.get(f"{live_url}/rooms/{room_id}/state") for _ in range(concurrency)), return_exceptions=True
            )
            failed = [a for a in answers if isinstance(a, BaseException) or a.status_code != 200]
            if failed:
                raise CannotRun(f"GET /rooms/{room_id}/state while warming up: {failed[0]!r}")


async def sold_out_event(dsn: str, sale_id: str, offset_ns: int) -> tuple[int | None, int | None]:
    """(occurred_at, relay's published_at) of the sale's sale.sold_out feed event in live's outbox, monotonic ns."""
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(40):  # the relay marks it published a moment after the viewers may have it
            row = await conn.fetchrow(
                """SELECT payload, published_at FROM live.outbox
                   WHERE subject = $1 AND convert_from(payload, 'UTF8')::jsonb ->> 'kind' = $2
                     AND convert_from(payload, 'UTF8')::jsonb -> 'data' ->> 'sale_id' = $3""",
                FEED_SUBJECT,
                SOLD_OUT,
                sale_id,
            )
            if row is not None and row["published_at"] is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    if row is None:
        return None, None
    occurred = msgspec.json.decode(row["payload"], type=dict[str, Any])["occurred_at"]
    occurred_ns = wall_ns(datetime.fromisoformat(occurred.replace("Z", "+00:00")))
    relay_ns = wall_ns(row["published_at"]) if row["published_at"] is not None else None
    return (
        wall_to_monotonic_ns(occurred_ns, offset_ns),
        wall_to_monotonic_ns(relay_ns, offset_ns) if relay_ns is not None else None,
    )


def wall_ns(at: datetime) -> int:
    # Whole microseconds: what Postgres and msgspec keep; float seconds would round.
    delta = at - datetime.fromtimestamp(0, at.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def clock_offset_ns(samples: int = 9) -> int:
    """time_ns() - monotonic_ns() in this process (the median of a few reads)."""
    return int(statistics.median(time.time_ns() - time.monotonic_ns() for _ in range(samples)))
