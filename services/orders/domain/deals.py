"""Local-life deal lines in a checkout ("Local life" in docs/ARCHITECTURE.md): a cart item names a SKU (goods, held by
shop) or a deal (vouchers, held by local_life), never both; local_life's refusals as the buyer sees them; a held deal
as an order line.

A deal line is an order line like any other (priced, grouped per merchant, discounted by coupons alike) with
`sku_id` = `product_id` = `deal_id`; it never ships (`domain.fulfilment`), and its units count as shipped once
local_life has issued their vouchers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from libs.contracts import (
    OrderLine,
    ReservedDeal,
    ReserveDealItem,
    ReserveDealsReply,
    ReservedLine,
    ReserveItem,
    ReserveStockReply,
)
from libs.errors import BadRequest, Conflict, DomainError, IdempotencyKeyReused, Invalid
from services.orders.domain.refusals import CheckoutExpired, InvalidQuantity, MixedCurrency, StockUnavailable

# What a deal line's `sku_name` says (a deal has no SKUs; its title names it).
DEAL_SKU_NAME = "voucher"


@dataclass(frozen=True)
class CartItem:
    """One item of a checkout request, as the buyer sent it (ids already in canonical spelling)."""

    quantity: int
    sku_id: str | None = None
    deal_id: str | None = None
    room_id: str | None = None
    team_id: str | None = None
    video_id: str | None = None


class SkuOrDeal(Invalid):
    """An item must name exactly one of `sku_id` (goods) and `deal_id` (a local-life deal)."""

    code = "sku-or-deal"


@dataclass(frozen=True)
class SplitCart:
    """A cart split by who holds what: shop's items and local_life's, each with the cart index of every item."""

    skus: list[ReserveItem]
    sku_index: list[int]
    deals: list[ReserveDealItem]
    deal_index: list[int]
    # Every item keyed by what it buys (its SKU or deal id), in cart order: what the holding caps count.
    keyed: list[ReserveItem]


def split_cart(items: Sequence[CartItem]) -> SplitCart:
    """Shop's items and local_life's, in cart order; 422 `sku-or-deal` naming `items[i]` for an item naming neither
    or both (or a team on goods)."""
    cart = SplitCart([], [], [], [], [])
    for index, item in enumerate(items):
        if (item.sku_id is None) == (item.deal_id is None):
            raise SkuOrDeal("an item names exactly one of sku_id and deal_id", field=f"items[{index}]")
        if item.sku_id is not None:
            if item.team_id is not None:
                raise SkuOrDeal("only a deal item may name a team_id", field=f"items[{index}].team_id")
            cart.skus.append(
                ReserveItem(sku_id=item.sku_id, quantity=item.quantity, room_id=item.room_id, video_id=item.video_id)
            )
            cart.sku_index.append(index)
            key = item.sku_id
        else:
            assert item.deal_id is not None
            if item.video_id is not None:
                # local_life's holds carry no video yet: refused rather than silently dropped.
                raise SkuOrDeal("only a goods item may name a video_id", field=f"items[{index}].video_id")
            cart.deals.append(
                ReserveDealItem(
                    deal_id=item.deal_id, quantity=item.quantity, room_id=item.room_id, team_id=item.team_id
                )
            )
            cart.deal_index.append(index)
            key = item.deal_id
        cart.keyed.append(ReserveItem(sku_id=key, quantity=item.quantity, room_id=item.room_id, video_id=item.video_id))
    return cart


def deal_order_line(reserved: ReservedDeal) -> OrderLine:
    """An order line of a held deal, priced by local_life (never by the client)."""
    return OrderLine(
        sku_id=reserved.deal_id,
        product_id=reserved.deal_id,
        title=reserved.title,
        sku_name=DEAL_SKU_NAME,
        quantity=reserved.quantity,
        unit_price_minor=reserved.unit_price_minor,
        amount_minor=reserved.unit_price_minor * reserved.quantity,
        room_id=reserved.room_id,
        deal_id=reserved.deal_id,
        team_id=reserved.team_id,
    )


def holds_match(items: Sequence[ReserveDealItem], reserved: Sequence[ReservedDeal]) -> bool:
    """local_life held exactly the units asked for, per deal (it merges repeats of a deal into one line)."""

    def units(lines: Sequence[ReserveDealItem | ReservedDeal]) -> dict[str, int]:
        total: dict[str, int] = {}
        for line in lines:
            total[line.deal_id.lower()] = total.get(line.deal_id.lower(), 0) + line.quantity
        return total

    return units(items) == units(reserved)


# --- local_life's refusals --------------------------------------------------------------------------------------


class UnknownDeal(BadRequest):
    """No published deal of that id (as shop's `unknown-sku`)."""

    code = "unknown-deal"


class DealSoldOut(Conflict):
    code = "deal-sold-out"


class DealBuyerLimit(Conflict):
    code = "deal-buyer-limit"


class TeamFull(Conflict):
    code = "team-full"


class TeamClosed(Conflict):
    code = "team-closed"


class UnknownTeam(Invalid):
    code = "unknown-team"


class NotATeamDeal(Invalid):
    code = "not-a-team-deal"


class DealRefused(Conflict):
    """local_life refused the hold for a reason it has no code of ours for."""

    code = "deal-refused"


# local_life's refusal code -> (refusal, the item's field at fault).
_DEAL_REFUSALS: dict[str, tuple[type[DomainError], str]] = {
    "unknown_deal": (UnknownDeal, "deal_id"),
    "invalid_quantity": (InvalidQuantity, "quantity"),
    "mixed_currency": (MixedCurrency, "deal_id"),
    "sold_out": (DealSoldOut, "quantity"),
    "buyer_limit": (DealBuyerLimit, "quantity"),
    "team_full": (TeamFull, "team_id"),
    "team_closed": (TeamClosed, "team_id"),
    "unknown_team": (UnknownTeam, "team_id"),
    "not_a_team_deal": (NotATeamDeal, "team_id"),
}


def deals_refused(reply: ReserveDealsReply, deal_index: Sequence[int]) -> DomainError:
    """The refusal a buyer gets when local_life held nothing, naming the cart item at fault (`deal_index` maps the
    reservation's items to the cart's) with `available` (sold out, team full) or `limit` and `held` (per buyer)."""
    if reply.error in ("too_late", "unavailable"):
        return StockUnavailable("the deals could not be reserved right now; try again")
    if reply.error == "expired":
        return CheckoutExpired()
    if reply.error == "checkout_conflict":
        # The checkout id (this Idempotency-Key) was first used for another cart: its holds are that request's.
        return IdempotencyKeyReused("this Idempotency-Key was used with a different cart")
    refusal, suffix = _DEAL_REFUSALS.get(reply.error or "", (DealRefused, ""))
    index = reply.item_index
    at = deal_index[index] if index is not None and 0 <= index < len(deal_index) else None
    field = f"items[{at}].{suffix}" if at is not None and suffix else "items"
    extra = {
        name: value
        for name, value in (("available", reply.available), ("limit", reply.limit), ("held", reply.held))
        if value is not None
    }
    return refusal(reply.detail or f"local_life refused the deals: {reply.error}", field=field, **extra)


def shop_reply_in_cart(reply: ReserveStockReply, sku_index: Sequence[int]) -> ReserveStockReply:
    """Shop's reply with its `item_index` naming the cart's item rather than the reservation's."""
    index = reply.item_index
    at = sku_index[index] if index is not None and 0 <= index < len(sku_index) else None
    return msgspec.structs.replace(reply, item_index=at)


def in_cart_order(
    keyed: Sequence[ReserveItem], reserved: Sequence[ReservedLine | ReservedDeal]
) -> list[ReservedLine | ReservedDeal]:
    """Shop's lines and local_life's in the order the cart first names what each buys (`keyed`: the cart's items
    keyed by SKU or deal id), so an order's lines read as the buyer's cart did."""
    first: dict[str, int] = {}
    for index, item in enumerate(keyed):
        first.setdefault(item.sku_id.lower(), index)

    def position(line: ReservedLine | ReservedDeal) -> int:
        bought = line.deal_id if isinstance(line, ReservedDeal) else line.sku_id
        return first.get(bought.lower(), len(first))

    return sorted(reserved, key=position)
