"""What aftersales refuses, each a kind of `libs.errors` refusal (the kind gives the HTTP status)."""

from __future__ import annotations

from libs.errors import BadRequest, Conflict, Invalid, NotFound, Unavailable


class CaseNotFound(NotFound):
    code = "case-not-found"

    def __init__(self, detail: str = "no such case") -> None:
        super().__init__(detail)


class OrderNotFound(NotFound):
    """An unknown order or someone else's (or one aftersales has heard of neither the placing nor the payment of)."""

    code = "order-not-found"

    def __init__(self, detail: str = "no such order") -> None:
        super().__init__(detail, field="order_id")


class OrderNotPaid(Conflict):
    """The buyer's order was placed and aftersales has not heard it was paid (not yet, or a moment ago)."""

    code = "order-not-paid"

    def __init__(self, detail: str = "the order is not paid; a case opens on a paid order") -> None:
        super().__init__(detail, field="order_id")


class OrderCancelled(Conflict):
    code = "order-cancelled"

    def __init__(self, detail: str = "the order was cancelled; there is nothing to open a case on") -> None:
        super().__init__(detail, field="order_id")


class CaseWindowClosed(Conflict):
    """Past `case_window_s` after the order's delivery, or (a deal line) after its vouchers' last day of validity."""

    code = "case-window-closed"

    def __init__(
        self, detail: str = "the order was delivered too long ago to open a case", field: str = "order_id"
    ) -> None:
        super().__init__(detail, field=field)


class CaseLimitReached(Conflict):
    code = "case-limit-reached"

    def __init__(self, index: int, limit: int) -> None:
        super().__init__(f"this line already had {limit} cases", field=f"lines[{index}].line_no", limit=limit)


class UnknownLine(Invalid):
    code = "unknown-line"

    def __init__(self, field: str) -> None:
        super().__init__("no such line in this order or case", field=field)


class DuplicateLine(Invalid):
    code = "duplicate-line"

    def __init__(self, field: str) -> None:
        super().__init__("each line may be named once", field=field)


class QuantityExceedsRefundable(Invalid):
    code = "quantity-exceeds-refundable"

    def __init__(self, index: int, refundable: int, *, deal: bool = False) -> None:
        why = (
            "redeemed vouchers, less units refunded at local_life and other open cases'; unused vouchers are refunded"
            " at local_life"
            if deal
            else "shipped, less other open cases'"
        )
        super().__init__(
            f"only {refundable} unit(s) of this line can be in a new case ({why})",
            field=f"lines[{index}].quantity",
            refundable=refundable,
        )


class DealLineRefundOnly(Invalid):
    """A deal line's units are vouchers, used at a counter: nothing comes back to return or exchange."""

    code = "deal-line-refund-only"

    def __init__(self, index: int) -> None:
        super().__init__(
            "this line is a local-life deal (vouchers): only a refund_only case may be opened on it",
            field=f"lines[{index}].line_no",
        )


class ReplacementNotSameProduct(Invalid):
    code = "replacement-not-same-product"

    def __init__(self, index: int) -> None:
        super().__init__(
            "the replacement must be a SKU of the same product", field=f"lines[{index}].replacement_sku_id"
        )


class ExchangeOneLine(Invalid):
    """shop takes a replacement once per exchange id, the case id: an exchange is of one line."""

    code = "exchange-one-line"

    def __init__(self) -> None:
        super().__init__("an exchange is for one line; open one case per line", field="lines")


class ReplacementNotExchange(Invalid):
    code = "replacement-not-exchange"

    def __init__(self, index: int) -> None:
        super().__init__("only an exchange names a replacement SKU", field=f"lines[{index}].replacement_sku_id")


class RestockableExceedsReturned(Invalid):
    code = "restockable-exceeds-returned"

    def __init__(self, index: int, quantity: int) -> None:
        super().__init__(
            f"at most {quantity} unit(s) of this line came back", field=f"lines[{index}].restockable", quantity=quantity
        )


class InvalidStatus(BadRequest):
    code = "invalid-status"

    def __init__(self) -> None:
        super().__init__("no such case status", field="status")


class InvalidCursor(BadRequest):
    code = "invalid-cursor"

    def __init__(self) -> None:
        super().__init__("cursor is not one this API handed out", field="cursor")


class CaseNotMovable(Conflict):
    """The right role, the wrong state: `case-not-<action>able`, with the case's status (`case_status`; `status` is
    the problem's HTTP status)."""

    code = "case-not-movable"

    def __init__(self, code: str, status: str) -> None:
        super().__init__(f"the case is {status}: not now", code=code, case_status=status)


class ShopUnavailable(Unavailable):
    code = "shop-unavailable"

    def __init__(self, detail: str = "shop did not answer in time; nothing changed, try again") -> None:
        super().__init__(detail)
