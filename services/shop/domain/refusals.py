"""What shop refuses to an HTTP caller, each a kind of `libs.errors` refusal (the kind gives the HTTP status).

The stock RPCs refuse differently: `ReservationRefused` and `AllocationRefused` (in `domain.reservations` and
`domain.allocations`) become the reply the caller gets, and `AllocationBroken` makes a consumer dead-letter an event.
"""

from __future__ import annotations

from libs.errors import BadRequest, Conflict, Invalid, NotFound


class MerchantNotFound(NotFound):
    code = "merchant-not-found"


class ProductNotFound(NotFound):
    code = "product-not-found"


class SkuNotFound(NotFound):
    code = "sku-not-found"


class CartItemNotFound(NotFound):
    code = "cart-item-not-found"


class CartLinesCap(Conflict):
    code = "cart-lines-cap"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"a cart holds at most {limit} lines: remove one (or check out) before adding another SKU",
            field="sku_id",
            limit=limit,
        )


class UnknownRoom(Invalid):
    """A cart line naming a live room that does not exist."""

    code = "unknown-room"

    def __init__(self, room_id: str) -> None:
        super().__init__(f"there is no live room {room_id}", field="source.id")


class RoomNotSelling(Invalid):
    """A cart line naming a room of another merchant than the SKU's: live would never count the sale for it."""

    code = "room-not-selling"

    def __init__(self, room_id: str) -> None:
        super().__init__(f"room {room_id} does not sell this product: it sells for another merchant", field="source.id")


class UnknownVideo(Invalid):
    """A cart line naming a short video that does not exist (or was taken down)."""

    code = "unknown-video"

    def __init__(self, video_id: str) -> None:
        super().__init__(f"there is no video {video_id}", field="source.id")


class VideoNotAnchoring(Invalid):
    """A cart line naming a video that does not anchor the SKU's product."""

    code = "video-not-anchoring"

    def __init__(self, video_id: str) -> None:
        super().__init__(f"video {video_id} does not show this product", field="source.id")


class CurrencyMismatch(Invalid):
    """A SKU priced in another currency than its merchant sells in."""

    code = "currency-mismatch"


class DuplicateSkuName(Invalid):
    code = "duplicate-sku-name"


class StockBelowReserved(Conflict):
    """Stock on hand may not drop below the units buyers hold; the answer says how many (`stock_reserved`)."""

    code = "stock-below-reserved"


class InvalidQuery(BadRequest):
    code = "invalid-q"

    def __init__(self) -> None:
        super().__init__("search for at least one character that is not a space", field="q")


class InvalidCursor(BadRequest):
    code = "invalid-cursor"

    def __init__(self) -> None:
        super().__init__("this cursor is not one this list gave out (or belongs to another query)", field="cursor")


class InvalidPriceRange(Invalid):
    """A price range whose lowest price is above its highest."""

    code = "invalid-price-range"

    def __init__(self) -> None:
        super().__init__("min_price_minor is above max_price_minor", field="max_price_minor")
