"""Ordered SQL migrations, recorded per schema, safe when several instances start at once."""

from __future__ import annotations

import hashlib
from pathlib import Path

import asyncpg

PLATFORM_MIGRATIONS = Path(__file__).with_name("migrations")
# Taken by any migration that names an extension: one database-wide lock, beside the per-schema one.
EXTENSIONS_LOCK = int.from_bytes(hashlib.sha256(b"liveloop:extensions").digest()[:8], "big", signed=True)


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.sql") if p.name[:4].isdigit())


async def migrate(dsn: str, schema: str, service_migrations: Path) -> list[str]:
    """Create `schema` if needed and apply the platform's then the service's pending migrations."""
    conn = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        # One migrator per schema at a time; the lock id is derived from the schema name.
        lock_id = int.from_bytes(hashlib.sha256(schema.encode()).digest()[:8], "big", signed=True)
        await conn.execute("SELECT pg_advisory_lock($1)", lock_id)
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(f'SET search_path TO "{schema}", public')
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       name text PRIMARY KEY,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
            plan = [("platform/" + p.name, p) for p in _files(PLATFORM_MIGRATIONS)]
            plan += [("service/" + p.name, p) for p in _files(service_migrations)]
            for name, path in plan:
                if name in done:
                    continue
                sql = path.read_text()
                async with conn.transaction():
                    if "extension" in sql.lower():
                        # Extensions are one per database, shared by every service's schema: two services' first
                        # migrations at once (make up starts them together) must not both create or move one.
                        await conn.execute("SELECT pg_advisory_xact_lock($1)", EXTENSIONS_LOCK)
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                applied.append(name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_id)
    finally:
        await conn.close()
    return applied
