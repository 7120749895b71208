"""Ids as callers send them: every id we mint is a UUID, so anything else names nothing we have."""

from __future__ import annotations

import uuid


def canonical_uuid(value: object) -> str | None:
    """The canonical form of a UUID string, or None if `value` is not one (unknown ids answer 404)."""
    try:
        return str(uuid.UUID(value))  # type: ignore[arg-type]
    except (ValueError, AttributeError, TypeError):
        return None


def is_uuid(value: object) -> bool:
    """True for a well-formed UUID string."""
    return canonical_uuid(value) is not None


_DERIVED = uuid.UUID("7f1a3c0e-5b8d-4c57-9a43-2f3d1e6b9c10")


def derived_id(*parts: str) -> str:
    """A stable UUID from parts (e.g. buyer + Idempotency-Key): retries of one request name the same thing."""
    return str(uuid.uuid5(_DERIVED, "\x1f".join(parts)))
