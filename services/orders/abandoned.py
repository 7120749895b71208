"""Checkouts refused after shop reserved their stock: shop is told to release the hold now, not at `hold_until`."""

from __future__ import annotations

import logging

import asyncpg

from libs.bus import add_events
from libs.contracts import CheckoutAbandoned
from libs.runtime import Runtime
from libs.web.problems import Problem
from services.orders import store

log = logging.getLogger(__name__)


def checkout_expired() -> Problem:
    """The answer to a checkout whose stock is no longer held for it: shop released it, or will."""
    return Problem(
        409,
        "checkout-expired",
        "the stock held for this checkout was released; start a new checkout with a new Idempotency-Key",
        field="Idempotency-Key",
    )


async def ensure_not_abandoned(conn: asyncpg.Connection, checkout_id: str) -> None:
    """Refuse to place a checkout once it was abandoned: shop is releasing (or has released) its stock.

    Held until the transaction ends, so an abandonment written concurrently waits and then finds this checkout placed.
    """
    await store.lock_checkout_id(conn, checkout_id)
    if await store.checkout_abandoned(conn, checkout_id):
        raise checkout_expired()


async def abandon(runtime: Runtime, checkout_id: str, buyer_id: str, refusal: Problem) -> None:
    """Record the refused checkout and its CheckoutAbandoned in a transaction of its own, once per checkout.

    The buyer gets the refusal whatever happens here: if this write fails, shop's hold expiry is the fallback.
    """
    try:
        async with runtime.db.transaction() as conn:
            await store.lock_checkout_id(conn, checkout_id)
            # Not if a concurrent twin (same Idempotency-Key) placed it meanwhile: that checkout owns the hold.
            if await store.record_abandoned(conn, checkout_id, buyer_id, refusal.code, runtime.clock.now()):
                await add_events(
                    conn, CheckoutAbandoned(checkout_id=checkout_id, buyer_id=buyer_id, reason=refusal.code)
                )
    except Exception:  # the refusal stands whatever went wrong; CancelledError is not an Exception
        log.exception(
            "checkout %s refused (%s) after its stock was reserved, and could not be recorded as abandoned: "
            "shop releases the hold when it expires",
            checkout_id,
            refusal.code,
        )
