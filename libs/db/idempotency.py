"""The one idempotent write: a client's retry (same Idempotency-Key) gets the first answer back, and the effect
runs once. The stored answer is written in the effect's own transaction, so the two commit or vanish together."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import asyncpg
import msgspec

from libs.auth import Principal
from libs.db.database import Database
from libs.errors import IdempotencyConflict, IdempotencyKeyReused

Effect = Callable[[asyncpg.Connection], Awaitable[object]]


class _Replay(Exception):
    pass


def key_owner(caller: Principal) -> str:
    """Whose key it is: `<role>:<sub>`, the one format every service stores keys under."""
    return f"{caller.role}:{caller.sub}"


async def write_once(
    db: Database, *, caller: Principal, scope: str, key: str | None, request: object, effect: Effect
) -> object:
    """Run `effect` in one transaction; with a key, once per (caller, scope, key), and a retry gets its answer.

    The answer is JSON-shaped builtins either way (what `msgspec.to_builtins` makes of the effect's result), so
    a first answer and its replay look the same. The same key with another `request` is refused
    (IdempotencyKeyReused); a twin still running when the other one committed is told to retry (rare).
    """
    if key is None:
        async with db.transaction() as conn:
            return msgspec.to_builtins(await effect(conn))
    principal = key_owner(caller)
    request_hash = hashlib.sha256(msgspec.json.encode(request)).hexdigest()
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
                    """SELECT request_hash, response FROM idempotency_keys
                       WHERE principal = $1 AND scope = $2 AND key = $3""",
                    principal,
                    scope,
                    key,
                )
                if stored is not None:
                    if stored["request_hash"] != request_hash:
                        raise IdempotencyKeyReused()
                    return stored["response"]
                answer = msgspec.to_builtins(await effect(conn))
                inserted = await conn.fetchval(
                    """INSERT INTO idempotency_keys (principal, scope, key, request_hash, response)
                       VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true""",
                    principal,
                    scope,
                    key,
                    request_hash,
                    answer,
                )
                if not inserted:
                    # A concurrent twin committed first: undo ours, answer with theirs.
                    raise _Replay
                return answer
        except _Replay:
            continue
    raise IdempotencyConflict()


__all__ = ["key_owner", "write_once"]
