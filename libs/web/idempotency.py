"""Idempotency-Key for retried writes: the stored answer is written with the effect, in one transaction."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import msgspec
from litestar import Request

from libs.db import Database
from libs.web.problems import Problem

_NAMESPACE = uuid.UUID("7f1a3c0e-5b8d-4c57-9a43-2f3d1e6b9c10")


def idempotency_key(request: Request, *, required: bool = True) -> str | None:
    """The request's Idempotency-Key header (400 if required and missing or unreasonable)."""
    key = request.headers.get("idempotency-key")
    if key is None:
        if required:
            raise Problem(
                400, "idempotency-key-required", "this write needs an Idempotency-Key header", field="Idempotency-Key"
            )
        return None
    if not 1 <= len(key) <= 200:
        raise Problem(
            400, "invalid-idempotency-key", "Idempotency-Key must be 1 to 200 characters", field="Idempotency-Key"
        )
    return key


def derived_id(*parts: str) -> str:
    """A stable UUID from parts (e.g. buyer + key): retries of one request name the same thing."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


class _Replay(Exception):
    pass


async def run_idempotent(
    db: Database,
    *,
    principal: str,
    scope: str,
    key: str,
    request_body: object,
    effect: Callable[[asyncpg.Connection], Awaitable[tuple[int, object]]],
) -> tuple[int, object]:
    """Run `effect` once per (principal, scope, key); a retry gets the first answer back."""
    request_hash = hashlib.sha256(msgspec.json.encode(request_body)).hexdigest()
    lock_id = int.from_bytes(
        hashlib.sha256("\x1f".join((db.schema, principal, scope, key)).encode()).digest()[:8], "big", signed=True
    )
    for _ in range(2):
        try:
            async with db.transaction() as conn:
                # Concurrent twins wait here until the first commits, then replay its answer: the effect (and
                # anything it calls outside the database) runs once, and ids derived from the key never clash.
                await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_id)
                stored = await conn.fetchrow(
                    "SELECT request_hash, status_code, response FROM idempotency_keys "
                    "WHERE principal = $1 AND scope = $2 AND key = $3",
                    principal,
                    scope,
                    key,
                )
                if stored is not None:
                    if stored["request_hash"] != request_hash:
                        raise Problem(
                            422,
                            "idempotency-key-reused",
                            "this Idempotency-Key was used with a different request",
                            field="Idempotency-Key",
                        )
                    return stored["status_code"], stored["response"]
                status, body = await effect(conn)
                plain = msgspec.to_builtins(body)
                inserted = await conn.fetchval(
                    """INSERT INTO idempotency_keys (principal, scope, key, request_hash, status_code, response)
                       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true""",
                    principal,
                    scope,
                    key,
                    request_hash,
                    status,
                    plain,
                )
                if not inserted:
                    # A concurrent twin committed first: undo ours, answer with theirs.
                    raise _Replay
                return status, plain
        except _Replay:
            continue
    raise Problem(409, "idempotency-conflict", "a request with this Idempotency-Key is still in progress")
