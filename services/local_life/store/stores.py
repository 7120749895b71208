"""SQL for stores and their clerks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from services.local_life.views import ClerkView, StoreView

_STORE = """store_id::text, merchant_id::text, name, address, lat, lng, phone, timezone, opening_hours, status,
            created_at, updated_at"""
_CLERK = "clerk_id, store_id::text, merchant_id::text, name, status, created_at, updated_at"


def _store(row: asyncpg.Record | None) -> StoreView | None:
    return msgspec.convert(dict(row), StoreView) if row is not None else None


async def insert_store(
    conn: asyncpg.Connection, *, store_id: str, merchant_id: str, fields: dict[str, Any], now: datetime
) -> StoreView:
    row = await conn.fetchrow(
        f"""INSERT INTO stores (store_id, merchant_id, name, address, lat, lng, phone, timezone, opening_hours,
                                status, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING {_STORE}""",  # noqa: S608
        store_id,
        merchant_id,
        fields["name"],
        fields["address"],
        fields["lat"],
        fields["lng"],
        fields["phone"],
        fields["timezone"],
        fields["opening_hours"],
        fields["status"],
        now,
    )
    return _store(row)  # type: ignore[return-value]


async def store_of(conn: asyncpg.Connection, store_id: str, merchant_id: str | None = None) -> StoreView | None:
    """A store (of that merchant's, when one is named)."""
    row = await conn.fetchrow(
        f"SELECT {_STORE} FROM stores WHERE store_id = $1 AND ($2::uuid IS NULL OR merchant_id = $2)",  # noqa: S608
        store_id,
        merchant_id,
    )
    return _store(row)


# Columns a merchant may change, by name: the only names interpolated into the UPDATE below.
STORE_COLUMNS = ("name", "address", "lat", "lng", "phone", "timezone", "opening_hours", "status")


async def update_store(
    conn: asyncpg.Connection, store_id: str, merchant_id: str, changes: dict[str, Any], now: datetime
) -> StoreView | None:
    names = [name for name in STORE_COLUMNS if name in changes]
    sets = ", ".join(f"{name} = ${i + 4}" for i, name in enumerate(names))
    row = await conn.fetchrow(
        f"""UPDATE stores SET updated_at = $3{", " + sets if sets else ""}
            WHERE store_id = $1 AND merchant_id = $2 RETURNING {_STORE}""",  # noqa: S608
        store_id,
        merchant_id,
        now,
        *[changes[name] for name in names],
    )
    return _store(row)


async def stores_page(
    conn: asyncpg.Connection, merchant_id: str, *, limit: int, after: tuple[datetime, str] | None
) -> list[StoreView]:
    """The merchant's stores, newest first, after a position."""
    rows = await conn.fetch(
        f"""SELECT {_STORE} FROM stores
            WHERE merchant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, store_id) < ($2, $3::uuid))
            ORDER BY created_at DESC, store_id DESC LIMIT $4""",  # noqa: S608
        merchant_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [_store(row) for row in rows]  # type: ignore[misc]


async def known_stores(conn: asyncpg.Connection, merchant_id: str, store_ids: list[str]) -> set[str]:
    """Which of these are the merchant's stores."""
    rows = await conn.fetch(
        "SELECT store_id::text FROM stores WHERE merchant_id = $1 AND store_id = ANY($2::uuid[])",
        merchant_id,
        store_ids,
    )
    return {row["store_id"] for row in rows}


async def upsert_clerk(
    conn: asyncpg.Connection, *, store_id: str, merchant_id: str, clerk_id: str, name: str, now: datetime
) -> ClerkView:
    """Add a clerk to a store, or take a removed one back (with the name given now)."""
    row = await conn.fetchrow(
        f"""INSERT INTO clerks (store_id, clerk_id, merchant_id, name, status, created_at, updated_at)
            VALUES ($1, $2, $3, $4, 'active', $5, $5)
            ON CONFLICT (store_id, clerk_id) DO UPDATE SET name = EXCLUDED.name, status = 'active', updated_at = $5
            RETURNING {_CLERK}""",  # noqa: S608
        store_id,
        clerk_id,
        merchant_id,
        name,
        now,
    )
    return msgspec.convert(dict(row), ClerkView)


async def clerks_of(conn: asyncpg.Connection, store_id: str) -> list[ClerkView]:
    rows = await conn.fetch(
        f"SELECT {_CLERK} FROM clerks WHERE store_id = $1 ORDER BY status, created_at, clerk_id",  # noqa: S608
        store_id,
    )
    return [msgspec.convert(dict(row), ClerkView) for row in rows]


async def remove_clerk(conn: asyncpg.Connection, store_id: str, clerk_id: str, now: datetime) -> bool:
    """Mark a clerk removed (kept, so past redemptions still name them); False if there is no such clerk."""
    done = await conn.fetchval(
        """UPDATE clerks SET status = 'removed', updated_at = CASE WHEN status = 'removed' THEN updated_at ELSE $3 END
           WHERE store_id = $1 AND clerk_id = $2 RETURNING true""",
        store_id,
        clerk_id,
        now,
    )
    return bool(done)


async def active_clerk(conn: asyncpg.Connection, store_id: str, clerk_id: str) -> ClerkView | None:
    row = await conn.fetchrow(
        f"SELECT {_CLERK} FROM clerks WHERE store_id = $1 AND clerk_id = $2 AND status = 'active'",  # noqa: S608
        store_id,
        clerk_id,
    )
    return msgspec.convert(dict(row), ClerkView) if row is not None else None
