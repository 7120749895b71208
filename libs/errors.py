"""Refusals: the one way a rule says no, whoever asked (an HTTP client, a consumer, a job).

A refusal is a `DomainError` subclass with a stable machine `code` (the problem type clients switch on), a
human `detail`, the `field` at fault where there is one, and extra members for the answer (`available`,
`limit`, ...). Each inherits one *kind* below; `libs.web.problems.STATUS` is the one table that turns a kind
into an HTTP status. No HTTP here: domain modules raise these without importing the web layer.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A rule refused; `code` is stable and machine-readable, `field` names what is at fault."""

    code: ClassVar[str] = "domain-error"

    def __init__(self, detail: str, *, field: str | None = None, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        if code is not None:
            # A family of refusals whose code names the field (e.g. `invalid-duration-s`); the class stays the kind.
            self.code = code  # type: ignore[misc]
        self.extra = extra


class BadRequest(DomainError):
    """The input is not something this API takes (a malformed cursor, an id of the wrong kind)."""

    code = "invalid-request"


class PaymentFailed(DomainError):
    """The payment method was declined."""

    code = "payment-failed"


class Forbidden(DomainError):
    """The caller may not do this to a thing it may know about."""

    code = "forbidden"


class NotFound(DomainError):
    """No such thing, or not the caller's: both answer the same, so nothing leaks."""

    code = "not-found"


class Conflict(DomainError):
    """The state of things refuses it now (sold out, already live, window closed)."""

    code = "conflict"


class Invalid(DomainError):
    """Well-formed, but against a rule (a quantity over the limit, terms that make no sense)."""

    code = "invalid"


class Unavailable(DomainError):
    """Something this needs did not answer in time; nothing was done, so a retry is safe."""

    code = "unavailable"


# --- refusals of the platform itself ---------------------------------------------------------------


class IdempotencyKeyReused(Invalid):
    code = "idempotency-key-reused"

    def __init__(self, detail: str = "this Idempotency-Key was used with a different request") -> None:
        super().__init__(detail, field="Idempotency-Key")


class IdempotencyConflict(Conflict):
    code = "idempotency-conflict"

    def __init__(self, detail: str = "a request with this Idempotency-Key is still in progress") -> None:
        super().__init__(detail)


KINDS: tuple[type[DomainError], ...] = (BadRequest, PaymentFailed, Forbidden, NotFound, Conflict, Invalid, Unavailable)

__all__ = [
    "KINDS",
    "BadRequest",
    "Conflict",
    "DomainError",
    "Forbidden",
    "IdempotencyConflict",
    "IdempotencyKeyReused",
    "Invalid",
    "NotFound",
    "PaymentFailed",
    "Unavailable",
]
