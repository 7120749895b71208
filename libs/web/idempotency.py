"""The Idempotency-Key header of a write a client may retry (the write itself: `libs.db.write_once`)."""

from __future__ import annotations

from litestar import Request

from libs.web.problems import Problem


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
