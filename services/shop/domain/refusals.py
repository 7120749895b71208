"""What shop refuses to an HTTP caller, each a kind of `libs.errors` refusal (the kind gives the HTTP status).

The stock RPCs refuse differently: `ReservationRefused` and `AllocationRefused` (in `domain.reservations` and
`domain.allocations`) become the reply the caller gets, and `AllocationBroken` makes a consumer dead-letter an event.
"""

from __future__ import annotations

from libs.errors import Conflict, Invalid, NotFound


class MerchantNotFound(NotFound):
    code = "merchant-not-found"


class ProductNotFound(NotFound):
    code = "product-not-found"


class SkuNotFound(NotFound):
    code = "sku-not-found"


class CartItemNotFound(NotFound):
    code = "cart-item-not-found"


class CurrencyMismatch(Invalid):
    """A SKU priced in another currency than its merchant sells in."""

    code = "currency-mismatch"


class DuplicateSkuName(Invalid):
    code = "duplicate-sku-name"


class StockBelowReserved(Conflict):
    """Stock on hand may not drop below the units buyers hold; the answer says how many (`stock_reserved`)."""

    code = "stock-below-reserved"
