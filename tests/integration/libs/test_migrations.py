"""Services migrating their schemas, as `make up` starts them all at once: extensions are one per database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from libs.db.migrate import EXTENSIONS_LOCK, migrate
from tests.harness import Infra, fresh_infra

SHOP = ("shop", Path("services/shop/migrations"))
LOCAL_LIFE = ("local_life", Path("services/local_life/migrations"))


@pytest.mark.parametrize("order", [(SHOP, LOCAL_LIFE), (LOCAL_LIFE, SHOP)], ids=["shop-first", "local-life-first"])
async def test_whichever_service_migrates_first_both_get_the_trigram_search(
    servers: tuple[str, str, str], order: tuple[tuple[str, Path], ...]
) -> None:
    # local_life creates pg_trgm in its own schema, shop wants it in public (and moves it there): both must work.
    async with fresh_infra(servers) as infra:
        for schema, migrations in order:
            await migrate(infra.database_url, schema, migrations)
        assert await _word_similarity(infra, "shop") > 0.5
        assert await _word_similarity(infra, "local_life") > 0.5


async def test_a_migration_naming_an_extension_waits_for_the_database_wide_lock(
    servers: tuple[str, str, str],
) -> None:
    async with fresh_infra(servers) as infra:
        holder = await asyncpg.connect(infra.database_url)
        try:
            # Another service's migrator is creating or moving an extension right now.
            await holder.execute("SELECT pg_advisory_lock($1)", EXTENSIONS_LOCK)
            migrating = asyncio.create_task(migrate(infra.database_url, *SHOP))
            await asyncio.sleep(1.0)
            assert not migrating.done()
            assert await _extension_schema(holder) is None  # shop's search migration has not run
            await holder.execute("SELECT pg_advisory_unlock($1)", EXTENSIONS_LOCK)
            await asyncio.wait_for(migrating, timeout=30)
            assert await _extension_schema(holder) == "public"
        finally:
            await holder.close()


async def _extension_schema(conn: asyncpg.Connection) -> str | None:
    return await conn.fetchval("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'")


async def _word_similarity(infra: Infra, schema: str) -> float:
    conn = await asyncpg.connect(infra.database_url, server_settings={"search_path": f"{schema},public"})
    try:
        return await conn.fetchval("SELECT word_similarity('linen', 'linnen shirt')")
    finally:
        await conn.close()
