"""What orders refuses, each a kind of `libs.errors` refusal (the kind gives the HTTP status); coupons' refusals are
in `domain.coupons`."""

from __future__ import annotations

from libs.contracts import ReserveStockReply
from libs.errors import BadRequest, Conflict, DomainError, Invalid, Unavailable

# --- checkout: shop's reservation --------------------------------------------------------------------


class InsufficientStock(Conflict):
    code = "insufficient-stock"


class UnknownSku(BadRequest):
    code = "unknown-sku"


class InvalidQuantity(BadRequest):
    code = "invalid-quantity"


class MixedCurrency(Invalid):
    code = "mixed-currency"


class StockRefused(Conflict):
    """Shop refused the reservation for a reason it has no code of ours for."""

    code = "stock-refused"


class UnusableReservation(BadRequest):
    """Shop reserved something no checkout can be made of (no lines, a line without units)."""

    # The code this refusal has always answered with.
    code = "domain-error"


class StockUnavailable(Unavailable):
    code = "stock-unavailable"

    def __init__(self, detail: str = "stock could not be reserved right now; try again") -> None:
        super().__init__(detail)


class CheckoutExpired(Conflict):
    """A checkout whose stock is no longer held for it: shop released it, or will."""

    code = "checkout-expired"

    def __init__(
        self,
        detail: str = "the stock held for this checkout was released; start a new checkout with a new Idempotency-Key",
    ) -> None:
        super().__init__(detail, field="Idempotency-Key")


# Shop's refusal code -> (refusal, the item field at fault).
_SHOP_REFUSALS: dict[str, tuple[type[DomainError], str]] = {
    "insufficient_stock": (InsufficientStock, "quantity"),
    "unknown_sku": (UnknownSku, "sku_id"),
    "invalid_quantity": (InvalidQuantity, "quantity"),
    "mixed_currency": (MixedCurrency, "sku_id"),
}


def reservation_refused(reply: ReserveStockReply) -> DomainError:
    """The refusal a buyer gets when shop reserved nothing, naming the item at fault where shop names one."""
    if reply.error in ("too_late", "unavailable"):
        return StockUnavailable()
    if reply.error == "expired":
        return CheckoutExpired()
    refusal, suffix = _SHOP_REFUSALS.get(reply.error or "", (StockRefused, ""))
    index = reply.item_index
    field = f"items[{index}].{suffix}" if index is not None and suffix else "items"
    return refusal(reply.detail or f"shop refused the reservation: {reply.error}", field=field)


# --- payment -----------------------------------------------------------------------------------------


class PaymentWindowClosed(Conflict):
    code = "payment-window-closed"


class AlreadyPaid(Conflict):
    code = "already-paid"


class ConfirmInProgress(Conflict):
    """Another confirm of the payment is under way (a double tap, a second device): its outcome is the checkout's."""

    code = "confirm-in-progress"

    def __init__(
        self, detail: str = "another confirm of this payment is under way; look at the checkout for its outcome"
    ) -> None:
        super().__init__(detail)


class InvalidPaymentMethod(BadRequest):
    code = "invalid-payment-method"


class PaymentProviderUnavailable(Unavailable):
    code = "payment-provider-unavailable"

    def __init__(self, detail: str = "the payment provider is unavailable; try again") -> None:
        super().__init__(detail)


class InvalidSignature(BadRequest):
    """A webhook Stripe did not sign (or not lately): the signature is its only authentication."""

    code = "invalid-signature"

    def __init__(self, detail: str = "the Stripe-Signature header is missing, wrong or stale") -> None:
        super().__init__(detail)


class InvalidEvent(BadRequest):
    code = "invalid-event"


# --- reads -------------------------------------------------------------------------------------------


class InvalidStatus(BadRequest):
    code = "invalid-status"


class InvalidCursor(BadRequest):
    code = "invalid-cursor"


# --- events of other services ------------------------------------------------------------------------


class UnusableEvent(Invalid):
    """An event from live that no order or coupon can come from (its consumer dead-letters it)."""

    code = "unusable-event"
