"""Exchange rules: validating an exchange request and answering a repeat of one.

An after-sales exchange sends the buyer a replacement, a SKU of the same product (or the same SKU); shop checks it
when the case opens, takes its units off hand when the return is received and gives them back if the case turns
into a refund. Refusals here (`ExchangeRefused`) become the reply aftersales gets over request/reply.
"""

from __future__ import annotations

from dataclasses import dataclass

from libs.contracts import ExchangeStock, ExchangeStockReply
from libs.ids import canonical_uuid
from services.shop.domain.stock import MAX_QUANTITY, SkuFacts

CHECK, TAKE, RELEASE = "check", "take", "release"
ACTIONS = (CHECK, TAKE, RELEASE)
TAKEN, RELEASED = "taken", "released"


class ExchangeRefused(Exception):
    """An exchange request that cannot be done; carries the reply the caller gets."""

    def __init__(self, error: str, detail: str, available: int | None = None) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail
        self.available = available

    def reply(self) -> ExchangeStockReply:
        return ExchangeStockReply(ok=False, error=self.error, detail=self.detail, available=self.available)


@dataclass(frozen=True)
class Replacement:
    """What an exchange request asks for, its ids in canonical form."""

    exchange_id: str
    merchant_id: str
    product_id: str
    sku_id: str
    quantity: int


def check_request(request: ExchangeStock) -> Replacement:
    """Validate an exchange request (`invalid_request`; ids that name nothing: `unknown_sku`)."""
    if request.action not in ACTIONS:
        raise ExchangeRefused("invalid_request", f"action must be one of {', '.join(ACTIONS)}, got {request.action!r}")
    if not request.exchange_id or len(request.exchange_id) > 200 or "\x00" in request.exchange_id:
        raise ExchangeRefused("invalid_request", "exchange_id must be 1 to 200 characters, without NUL")
    if request.quantity < 1 or request.quantity > MAX_QUANTITY:
        raise ExchangeRefused("invalid_request", f"quantity must be 1 to {MAX_QUANTITY}, got {request.quantity}")
    sku_id, merchant_id = canonical_uuid(request.sku_id), canonical_uuid(request.merchant_id)
    if sku_id is None or merchant_id is None:
        raise ExchangeRefused("unknown_sku", f"merchant {request.merchant_id} has no SKU {request.sku_id!r}")
    # A malformed product id names no product, so no SKU can be of it.
    product_id = canonical_uuid(request.product_id) or request.product_id
    return Replacement(request.exchange_id, merchant_id, product_id, sku_id, request.quantity)


def ensure_replacement(wanted: Replacement, facts: SkuFacts | None) -> None:
    """The SKU is the merchant's (else `unknown_sku`, as for a SKU that does not exist) and of the product."""
    if facts is None or facts.merchant_id != wanted.merchant_id:
        raise ExchangeRefused("unknown_sku", f"merchant {wanted.merchant_id} has no SKU {wanted.sku_id}")
    if facts.product_id != wanted.product_id:
        raise ExchangeRefused(
            "not_same_product", f"SKU {wanted.sku_id} is of product {facts.product_id}, not {wanted.product_id}"
        )


def insufficient(wanted: Replacement, available: int) -> ExchangeRefused:
    return ExchangeRefused(
        "insufficient_stock",
        f"SKU {wanted.sku_id} has {available} available, {wanted.quantity} wanted",
        available=available,
    )


def ensure_available(wanted: Replacement, available: int) -> None:
    if available < wanted.quantity:
        raise insufficient(wanted, available)


@dataclass(frozen=True)
class StoredExchange:
    """An exchange as stored: what it took (or would have) and whether it was given back."""

    exchange_id: str
    merchant_id: str
    sku_id: str
    quantity: int
    status: str
    taken: bool


def same_exchange(found: StoredExchange, wanted: Replacement) -> bool:
    """Whether a repeated request names exactly what the stored exchange holds."""
    return (found.merchant_id, found.sku_id, found.quantity) == (wanted.merchant_id, wanted.sku_id, wanted.quantity)


def conflict(found: StoredExchange) -> ExchangeRefused:
    return ExchangeRefused(
        "exchange_conflict",
        f"exchange {found.exchange_id} is {found.quantity} of SKU {found.sku_id}; another replacement needs a new id",
    )


def replay_take(found: StoredExchange, wanted: Replacement) -> ExchangeStockReply:
    """The answer to a take of an id already used: ok for the same take, a conflict otherwise.

    A released exchange is not taken again: its case turned into a refund, and a take arriving after the release is
    a stale repeat.
    """
    if not same_exchange(found, wanted):
        raise conflict(found)
    if found.status == RELEASED:
        raise ExchangeRefused(
            "exchange_conflict", f"exchange {found.exchange_id} was released; a new replacement needs a new id"
        )
    return ExchangeStockReply(ok=True)
