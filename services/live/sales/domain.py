"""Pure rules of flash sales: what a new sale may be, when it runs, and who gets the units of a batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from libs.web.problems import Problem

MAX_QUANTITY = 1_000_000
MAX_PER_BUYER = 100
MIN_DURATION_S = 10
MAX_DURATION_S = 24 * 3600
MIN_PAY_WITHIN_S = 30
MAX_PAY_WITHIN_S = 24 * 3600
# A start a few seconds in the past is the host's clock or the network, not a mistake.
START_TOLERANCE_S = 5
MAX_LEAD_S = 30 * 24 * 3600


class FlashSale(msgspec.Struct, kw_only=True):
    """A flash sale as anyone may see it."""

    sale_id: str
    room_id: str
    product_id: str
    sku_id: str
    title: str
    sku_name: str
    price_minor: int
    currency: str
    quantity: int
    remaining: int
    per_buyer_limit: int
    pay_within_s: int
    status: str
    starts_at: datetime
    ends_at: datetime
    ended_at: datetime | None = None


class FlashSaleList(msgspec.Struct, kw_only=True):
    items: list[FlashSale]


class FlashSaleReport(msgspec.Struct, kw_only=True):
    """How a sale went, for the room's host and merchant: units per admission state."""

    sale: FlashSale
    admitted_units: int
    paid_units: int
    expired_units: int
    returned_units: int
    buyers: int
    end_reason: str | None


class Purchase(msgspec.Struct, kw_only=True):
    """What a buyer asks for in a purchase (range checked against the sale's limit: 422, not a decode error)."""

    quantity: int = 1


class Admitted(msgspec.Struct, kw_only=True):
    """The answer to an admitted purchase (a retry with the same key gets this same body)."""

    admission_id: str
    order_id: str
    sale_id: str
    quantity: int
    unit_price_minor: int
    currency: str
    pay_by: datetime
    status: str = "admitted"


@dataclass(frozen=True)
class NewSaleTerms:
    quantity: int
    price_minor: int
    per_buyer_limit: int
    duration_s: int
    pay_within_s: int
    starts_at: datetime | None


def check_terms(terms: NewSaleTerms, now: datetime) -> tuple[datetime, datetime]:
    """Refuse terms no sale can have (422 naming the field); the sale's (starts_at, ends_at)."""
    if not 1 <= terms.quantity <= MAX_QUANTITY:
        raise _bad("quantity", f"quantity must be 1 to {MAX_QUANTITY}")
    if terms.price_minor < 1:
        raise _bad("price_minor", "price_minor must be at least 1")
    if not 1 <= terms.per_buyer_limit <= MAX_PER_BUYER:
        raise _bad("per_buyer_limit", f"per_buyer_limit must be 1 to {MAX_PER_BUYER}")
    if not MIN_DURATION_S <= terms.duration_s <= MAX_DURATION_S:
        raise _bad("duration_s", f"duration_s must be {MIN_DURATION_S} to {MAX_DURATION_S}")
    if not MIN_PAY_WITHIN_S <= terms.pay_within_s <= MAX_PAY_WITHIN_S:
        raise _bad("pay_within_s", f"pay_within_s must be {MIN_PAY_WITHIN_S} to {MAX_PAY_WITHIN_S}")
    starts_at = terms.starts_at
    if starts_at is None or starts_at <= now:
        if starts_at is not None and starts_at < now - timedelta(seconds=START_TOLERANCE_S):
            raise _bad("starts_at", "starts_at is in the past")
        starts_at = now
    elif starts_at > now + timedelta(seconds=MAX_LEAD_S):
        raise _bad("starts_at", "starts_at is more than 30 days ahead")
    return starts_at, starts_at + timedelta(seconds=terms.duration_s)


def _bad(field: str, detail: str) -> Problem:
    return Problem(422, f"invalid-{field.replace('_', '-')}", detail, field=field)


def current_status(status: str, starts_at: datetime, ends_at: datetime, now: datetime) -> str:
    """`scheduled`, `running` or `ended` by the clock: a start or end job running late never decides."""
    if status == "ended" or now >= ends_at:
        return "ended"
    return "running" if now >= starts_at else "scheduled"


def not_running(status: str) -> Problem:
    when = "has not started yet" if status == "scheduled" else "has ended"
    return Problem(409, "sale-not-running", f"the flash sale {when}")


def sold_out() -> Problem:
    return Problem(409, "sold-out", "every unit of this flash sale is taken")


def limit_reached(limit: int) -> Problem:
    return Problem(409, "limit-reached", f"a buyer may buy at most {limit} in this flash sale", limit=limit)


def room_not_live() -> Problem:
    return Problem(409, "room-not-live", "the room is not live")


def key_reused() -> Problem:
    return Problem(
        422, "idempotency-key-reused", "this Idempotency-Key was used with a different request", field="Idempotency-Key"
    )


def bad_quantity(limit: int) -> Problem:
    return Problem(
        422, "invalid-quantity", f"quantity must be 1 to {limit} (the sale's per-buyer limit)", field="quantity"
    )


# --- admission: who gets the units of one batch ----------------------------------------

GRANTED = "granted"
REPLAY = "replay"
SOLD_OUT = "sold-out"
LIMIT_REACHED = "limit-reached"
KEY_REUSED = "idempotency-key-reused"


@dataclass(frozen=True)
class Ask:
    """One purchase request in a batch, in arrival order."""

    buyer_id: str
    key: str
    quantity: int


@dataclass(frozen=True)
class Decision:
    """What an ask gets: `granted` (units), `replay` (its key's admission), or a refusal code.

    `duplicate_of` points at an earlier ask of the batch with the same buyer and key: it shares that
    ask's outcome (and admission) and never takes units of its own.
    """

    outcome: str
    quantity: int = 0
    duplicate_of: int | None = None


def grant(
    asks: Sequence[Ask],
    *,
    remaining: int,
    limit: int,
    held: Mapping[str, int],
    prior: Mapping[tuple[str, str], int],
    closed: str | None = None,
) -> tuple[list[Decision], int]:
    """Decide a batch in arrival order; the decisions (one per ask) and the units left after it.

    `held`: units each buyer already holds in the sale; `prior`: units asked by admissions that exist
    for (buyer, key); `closed`: the refusal for every new ask when the room or the sale is not open.
    Each ask gets min(asked, remaining) while the buyer stays within `limit`; a buyer over the limit is
    refused rather than cut down, and an ask is refused as sold out only when nothing is left.
    """
    decisions: list[Decision] = []
    holding = dict(held)
    first_of: dict[tuple[str, str], int] = {}
    for index, ask in enumerate(asks):
        if ask.quantity < 1:
            raise ValueError(f"ask {index} is for {ask.quantity} units")
        pair = (ask.buyer_id, ask.key)
        if pair in prior:
            decisions.append(Decision(REPLAY if prior[pair] == ask.quantity else KEY_REUSED))
            continue
        if pair in first_of:
            first = first_of[pair]
            if asks[first].quantity != ask.quantity:
                decisions.append(Decision(KEY_REUSED))
            else:
                decisions.append(Decision(decisions[first].outcome, decisions[first].quantity, duplicate_of=first))
            continue
        first_of[pair] = index
        have = holding.get(ask.buyer_id, 0)
        if closed is not None:
            decisions.append(Decision(closed))
        elif remaining <= 0:
            decisions.append(Decision(SOLD_OUT))
        elif have + ask.quantity > limit:
            decisions.append(Decision(LIMIT_REACHED))
        else:
            units = min(ask.quantity, remaining)
            remaining -= units
            holding[ask.buyer_id] = have + units
            decisions.append(Decision(GRANTED, units))
    return decisions, remaining
