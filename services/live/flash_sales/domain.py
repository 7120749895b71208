"""Pure rules of flash sales: what a new sale may be, when it runs, and who gets the units of a batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from libs.auth import Principal
from libs.errors import Conflict, Invalid, NotFound, Unavailable
from services.live.rooms.domain import NotYourRoom, RoomNotLive, is_room_staff
from services.live.rooms.views import Room

MAX_QUANTITY = 1_000_000
MAX_PER_BUYER = 100
MIN_DURATION_S = 10
MAX_DURATION_S = 24 * 3600
MIN_PAY_WITHIN_S = 30
MAX_PAY_WITHIN_S = 24 * 3600
# A start a few seconds in the past is the host's clock or the network, not a mistake.
START_TOLERANCE_S = 5
MAX_LEAD_S = 30 * 24 * 3600

# Kinds of room feed events a flash sale writes (docs/ARCHITECTURE.md, "Room feed").
SALE_SCHEDULED = "sale.scheduled"
SALE_STARTED = "sale.started"
SALE_STOCK = "sale.stock"
SALE_SOLD_OUT = "sale.sold_out"
SALE_ENDED = "sale.ended"


# --- refusals ---------------------------------------------------------------------------------


class SaleNotFound(NotFound):
    code = "not-found"

    def __init__(self) -> None:
        super().__init__("no such flash sale in this room")


class InvalidValue(Invalid):
    """A family: the code names the field (`invalid-quantity`, `invalid-duration-s`, ...)."""

    code = "invalid-value"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail, field=field, code=f"invalid-{field.replace('_', '-')}")


class SkuNotInBag(Invalid):
    code = "sku-not-in-bag"

    def __init__(self) -> None:
        super().__init__("the SKU is not of a product in the room's bag", field="sku_id")


class UnknownSku(Invalid):
    code = "unknown-sku"

    def __init__(self) -> None:
        super().__init__("shop does not sell this SKU for the room's merchant", field="sku_id")


class InsufficientStock(Conflict):
    code = "insufficient-stock"

    def __init__(self, available: int) -> None:
        super().__init__(f"only {available} of this SKU are available", field="quantity", available=available)


class ShopUnavailable(Unavailable):
    code = "shop-unavailable"


class SaleNotRunning(Conflict):
    code = "sale-not-running"


class SoldOut(Conflict):
    code = "sold-out"

    def __init__(self) -> None:
        super().__init__("every unit of this flash sale is taken")


class LimitReached(Conflict):
    code = "limit-reached"

    def __init__(self, limit: int) -> None:
        super().__init__(f"a buyer may buy at most {limit} in this flash sale", limit=limit)


class PurchaseUndecided(Unavailable):
    """Nothing was written for the purchase (a failed batch, a stopping process): a retry is safe."""

    code = "try-again"


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
        raise InvalidValue("quantity", f"quantity must be 1 to {MAX_QUANTITY}")
    if terms.price_minor < 1:
        raise InvalidValue("price_minor", "price_minor must be at least 1")
    if not 1 <= terms.per_buyer_limit <= MAX_PER_BUYER:
        raise InvalidValue("per_buyer_limit", f"per_buyer_limit must be 1 to {MAX_PER_BUYER}")
    if not MIN_DURATION_S <= terms.duration_s <= MAX_DURATION_S:
        raise InvalidValue("duration_s", f"duration_s must be {MIN_DURATION_S} to {MAX_DURATION_S}")
    if not MIN_PAY_WITHIN_S <= terms.pay_within_s <= MAX_PAY_WITHIN_S:
        raise InvalidValue("pay_within_s", f"pay_within_s must be {MIN_PAY_WITHIN_S} to {MAX_PAY_WITHIN_S}")
    starts_at = terms.starts_at
    if starts_at is None or starts_at <= now:
        if starts_at is not None and starts_at < now - timedelta(seconds=START_TOLERANCE_S):
            raise InvalidValue("starts_at", "starts_at is in the past")
        starts_at = now
    elif starts_at > now + timedelta(seconds=MAX_LEAD_S):
        raise InvalidValue("starts_at", "starts_at is more than 30 days ahead")
    return starts_at, starts_at + timedelta(seconds=terms.duration_s)


def current_status(status: str, starts_at: datetime, ends_at: datetime, now: datetime) -> str:
    """`scheduled`, `running` or `ended` by the clock: a start or end job running late never decides."""
    if status == "ended" or now >= ends_at:
        return "ended"
    return "running" if now >= starts_at else "scheduled"


def not_running(status: str) -> SaleNotRunning:
    when = "has not started yet" if status == "scheduled" else "has ended"
    return SaleNotRunning(f"the flash sale {when}")


def room_not_live() -> RoomNotLive:
    return RoomNotLive("the room is not live")


def bad_quantity(limit: int) -> InvalidValue:
    return InvalidValue("quantity", f"quantity must be 1 to {limit} (the sale's per-buyer limit)")


def ensure_sale_staff(room: Room, principal: Principal) -> None:
    """A room's sales are run by the room's host and its merchant."""
    if not is_room_staff(room, principal):
        raise NotYourRoom("only the room's host or the merchant it sells for may run its sales")


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
