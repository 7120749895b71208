"""Deal-hold rules for checkout: validating and merging the items, pricing them, the room left, answering a repeat.

Refusals here (`HoldRefused`) become the reply orders gets over request/reply, not HTTP answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from libs.contracts import OrderLine, ReservedDeal, ReserveDealItem, ReserveDealsReply
from libs.ids import canonical_uuid

# Units of one deal a single checkout may ask for.
MAX_QUANTITY = 100


class HoldRefused(Exception):
    """A hold that cannot be made; carries the reply the caller gets."""

    def __init__(
        self,
        error: str,
        detail: str,
        item_index: int | None = None,
        *,
        available: int | None = None,
        limit: int | None = None,
        held: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail
        self.item_index = item_index
        self.available = available
        self.limit = limit
        self.held = held

    def reply(self) -> ReserveDealsReply:
        return ReserveDealsReply(
            ok=False,
            error=self.error,
            detail=self.detail,
            item_index=self.item_index,
            available=self.available,
            limit=self.limit,
            held=self.held,
        )


@dataclass(frozen=True)
class WantedDeal:
    """One deal a checkout wants, after merging repeats; `index` is its first item in the request."""

    deal_id: str
    quantity: int
    index: int
    room_id: str | None
    # Team-buy deals: the team to join (None opens one).
    team_id: str | None = None


@dataclass(frozen=True)
class DealFacts:
    """What a hold needs of a deal (read under its row lock)."""

    deal_id: str
    merchant_id: str
    title: str
    price_minor: int
    currency: str
    status: str
    total_quantity: int | None
    sold: int
    per_buyer_limit: int | None
    # Team-buy deals: seats per team and how long a team has to fill.
    team_size: int | None = None
    team_window_s: int = 86400


def merge_items(items: Sequence[ReserveDealItem]) -> list[WantedDeal]:
    """Validate the request's items and merge repeats of a deal, in first-seen order."""
    if not items:
        raise HoldRefused("invalid_request", "a reservation needs at least one item")
    merged: dict[str, WantedDeal] = {}
    for i, item in enumerate(items):
        if item.quantity <= 0 or item.quantity > MAX_QUANTITY:
            raise HoldRefused(
                "invalid_quantity", f"items[{i}].quantity must be 1 to {MAX_QUANTITY}, got {item.quantity}", i
            )
        key = canonical_uuid(item.deal_id)
        if key is None:
            raise HoldRefused("unknown_deal", f"items[{i}]: no deal {item.deal_id!r}", i)
        team_id = None
        if item.team_id is not None:
            team_id = canonical_uuid(item.team_id)
            if team_id is None:
                raise HoldRefused("unknown_team", f"items[{i}]: no team {item.team_id!r}", i)
        before = merged.get(key)
        if before is None:
            merged[key] = WantedDeal(key, item.quantity, i, item.room_id, team_id)
            continue
        # One seat per deal per checkout: repeats of a team deal must name the same team (or none).
        if team_id is not None and before.team_id is not None and team_id != before.team_id:
            raise HoldRefused("invalid_request", f"items[{i}]: deal {key} is asked for in two teams", i)
        total = before.quantity + item.quantity
        if total > MAX_QUANTITY:
            raise HoldRefused("invalid_quantity", f"deal {key} is asked for {total} times in all", i)
        merged[key] = WantedDeal(key, total, before.index, before.room_id or item.room_id, before.team_id or team_id)
    return list(merged.values())


def check_window(checkout_id: str, hold_until: datetime, now: datetime) -> None:
    """A hold that would lapse at once is a caller's bug."""
    if hold_until <= now:
        raise HoldRefused("invalid_request", f"checkout {checkout_id}: hold_until {hold_until} is not in the future")


def price(wanted: Sequence[WantedDeal], deals: dict[str, DealFacts]) -> list[ReservedDeal]:
    """Priced lines from our own table (never the caller's prices), in request order; one currency for them all."""
    lines: list[ReservedDeal] = []
    for want in wanted:
        facts = deals.get(want.deal_id)
        if facts is None or facts.status != "published":
            raise HoldRefused("unknown_deal", f"items[{want.index}]: no deal {want.deal_id} on sale", want.index)
        if want.team_id is not None and facts.team_size is None:
            raise HoldRefused(
                "not_a_team_deal", f"items[{want.index}]: deal {want.deal_id} is not sold in teams", want.index
            )
        lines.append(
            ReservedDeal(
                deal_id=facts.deal_id,
                merchant_id=facts.merchant_id,
                title=facts.title,
                quantity=want.quantity,
                unit_price_minor=facts.price_minor,
                currency=facts.currency,
                room_id=want.room_id,
                team_id=want.team_id,
                team_size=facts.team_size,
            )
        )
    # One checkout is one payment in one currency: refuse before holding anything.
    first = lines[0].currency
    for want, line in zip(wanted, lines, strict=True):
        if line.currency != first:
            raise HoldRefused(
                "mixed_currency", f"items[{want.index}]: priced in {line.currency}, the others in {first}", want.index
            )
    return lines


def check_room(want: WantedDeal, facts: DealFacts, buyer_units: int) -> None:
    """The deal has `want.quantity` units left, and the buyer may have that many more (`buyer_units`: theirs held or
    committed already)."""
    if facts.total_quantity is not None and facts.sold + want.quantity > facts.total_quantity:
        left = max(facts.total_quantity - facts.sold, 0)
        raise HoldRefused(
            "sold_out",
            f"items[{want.index}]: deal {want.deal_id} has {left} left, {want.quantity} requested",
            want.index,
            available=left,
        )
    if facts.per_buyer_limit is not None and buyer_units + want.quantity > facts.per_buyer_limit:
        raise HoldRefused(
            "buyer_limit",
            f"items[{want.index}]: deal {want.deal_id} allows {facts.per_buyer_limit} per buyer; "
            f"{buyer_units} held or bought already, {want.quantity} requested",
            want.index,
            limit=facts.per_buyer_limit,
            held=buyer_units,
        )


@dataclass(frozen=True)
class StoredHolds:
    """A checkout's holds as stored: who made them, until when, the priced lines (request order), their statuses."""

    buyer_id: str
    hold_until: datetime
    lines: list[ReservedDeal]
    statuses: list[str]


def same_items(found: StoredHolds, wanted: Sequence[WantedDeal]) -> bool:
    """The repeat asks for exactly the deals and quantities held (rooms aside), in the teams held (a repeat of an
    opening names no team)."""
    if sorted((line.deal_id, line.quantity) for line in found.lines) != sorted(
        (want.deal_id, want.quantity) for want in wanted
    ):
        return False
    teams = {line.deal_id: line.team_id for line in found.lines}
    return all(want.team_id is None or want.team_id == teams[want.deal_id] for want in wanted)


def replay(
    found: StoredHolds, checkout_id: str, buyer_id: str, wanted: Sequence[WantedDeal] | None, now: datetime
) -> ReserveDealsReply:
    """The answer to a repeated reserve: the same lines while held (or paid), else `expired` or `checkout_conflict`.

    `wanted` is None when the repeat's items could not even be read (then only the buyer is compared)."""
    if found.buyer_id != buyer_id:
        # Checkout ids are derived from the buyer, so this is a bug or a probe: say nothing about the lines.
        return ReserveDealsReply(
            ok=False, error="checkout_conflict", detail="this checkout id belongs to another buyer"
        )
    if wanted is not None and not same_items(found, wanted):
        return ReserveDealsReply(
            ok=False,
            error="checkout_conflict",
            detail=f"checkout {checkout_id} was reserved with other items; a new checkout needs a new id",
        )
    released = "released" in found.statuses or "refunded" in found.statuses
    # Held past its deadline is as good as released: the expiry job frees those units any moment now.
    lapsing = "held" in found.statuses and now >= found.hold_until
    if released or lapsing:
        return ReserveDealsReply(
            ok=False,
            error="expired",
            detail=f"checkout {checkout_id}: its hold lapsed or was released and cannot be revived; start anew",
        )
    return ReserveDealsReply(ok=True, lines=found.lines)


def deals_of(lines: Sequence[OrderLine]) -> list[str]:
    """The distinct deal ids an order's lines name, sorted (a fixed lock order)."""
    return sorted({d for line in lines if line.deal_id and (d := canonical_uuid(line.deal_id))})
