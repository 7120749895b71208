"""Checkouts: place one (the buyer's cart, Idempotency-Key required) and read it back."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Request, get, post

from libs.errors import BadRequest, Conflict, Invalid, NotFound, Unavailable
from libs.runtime import Runtime
from libs.web.guards import principal_of, requires
from libs.web.idempotency import idempotency_key
from libs.web.openapi import documented
from libs.web.throttle import Limits, throttled
from services.orders.domain.deals import CartItem
from services.orders.use_cases import checkouts
from services.orders.views import CheckoutView

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class CheckoutItem(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One cart line: goods (`sku_id`) or a local-life deal (`deal_id`, optionally joining a team buy's `team_id`),
    exactly one of the two (422 naming `items[i]`). Prices come from shop and local_life, so a price sent here is
    refused (400 naming the field)."""

    # Unset (not null) when absent: a goods item encodes, and so hashes for its Idempotency-Key, as before deals.
    sku_id: uuid.UUID | msgspec.UnsetType = msgspec.UNSET
    quantity: Annotated[int, msgspec.Meta(ge=1, le=999)]
    room_id: Id | None = None
    deal_id: uuid.UUID | msgspec.UnsetType = msgspec.UNSET
    team_id: Id | msgspec.UnsetType = msgspec.UNSET
    # The short video the item was bought from (goods only). Unset when absent, so older requests hash as before.
    video_id: Id | msgspec.UnsetType = msgspec.UNSET

    def cart_item(self) -> CartItem:
        return CartItem(
            quantity=self.quantity,
            sku_id=None if self.sku_id is msgspec.UNSET else str(self.sku_id),
            deal_id=None if self.deal_id is msgspec.UNSET else str(self.deal_id),
            room_id=self.room_id,
            team_id=None if self.team_id is msgspec.UNSET else self.team_id,
            video_id=None if self.video_id is msgspec.UNSET else self.video_id,
        )


# omit_defaults: a request without coupons hashes as before they existed, so its Idempotency-Key replays still match.
class CheckoutRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    items: Annotated[list[CheckoutItem], msgspec.Meta(min_length=1, max_length=50)]
    # Coupons claimed in live rooms, at most one per merchant's order.
    coupon_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=20)] = []


# Per-caller throttle of checkout creation (OWASP API6: a script placing checkouts to hold stock).
CHECKOUTS = Limits("checkout", lambda settings: (settings.checkout_rate_per_s, settings.checkout_burst))


@post(
    "/checkout",
    guards=[requires("buyer"), throttled(CHECKOUTS)],
    status_code=201,
    tags=["checkout"],
    opt=documented(BadRequest, NotFound, Conflict, Invalid, Unavailable, idempotency_key="required"),
)
async def checkout(request: Request, data: CheckoutRequest, runtime: Runtime) -> CheckoutView:
    """Reserve the cart's stock (goods at shop, deals at local_life) and open one order per merchant, paid by one
    payment (Idempotency-Key required)."""
    key = idempotency_key(request)
    items = [item.cart_item() for item in data.items]
    coupon_ids = [str(c) for c in data.coupon_ids]
    return await checkouts.place_checkout(
        runtime, principal_of(request), items=items, coupon_ids=coupon_ids, request=data, key=key
    )


@get("/checkouts/{checkout_id:str}", guards=[requires("buyer")], tags=["checkout"])
async def get_checkout(request: Request, checkout_id: str, runtime: Runtime) -> CheckoutView:
    """The buyer's own checkout with its orders and payment."""
    return await checkouts.checkout_of(runtime, buyer_id=principal_of(request).sub, checkout_id=checkout_id)
