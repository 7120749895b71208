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
