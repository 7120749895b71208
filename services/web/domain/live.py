"""The live pages without I/O: a room's screen made from live's answers and kept current by its feed's events, the
countdown's text, the host console's forms (a new room, a flash sale, a coupon drop) and the bag's new order.

`apply(screen, kind, data)` is the relay's one rule: what a feed event changes on the screen and which parts of the
page must be drawn again (the SSE events the browser swaps in).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from services.web.domain import NotAnAmount, parse_amount, parse_count
from services.web.views.live import (
    BagEntry,
    DropCard,
    Form,
    Funnel,
    MyCoupon,
    Part,
    RoomScreen,
    SaleCard,
    Sku,
)

# The parts of a live page, each drawn by its own fragment and swapped in by its own SSE event.
STATUS, VIEWERS, PINNED, BAG, SALES, SALE, SALE_ADDED, DROPS, DROP, DROP_ADDED, FUNNEL = (
    "status",
    "viewers",
    "pinned",
    "bag",
    "sales",
    "sale",
    "sale-added",
    "drops",
    "drop",
    "drop-added",
    "funnel",
)
# What a fresh `state` draws again (the whole page but the host's funnel, which its own feed draws).
WHOLE_ROOM = (Part(STATUS), Part(VIEWERS), Part(PINNED), Part(BAG), Part(SALES), Part(DROPS))


def at(text: Any) -> datetime | None:
    """A time as the APIs write it (RFC 3339), or None."""
    if not text:
        return None
    parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _must(text: Any) -> datetime:
    parsed = at(text)
    if parsed is None:
        raise ValueError("a time is missing")
    return parsed


# --- from live's answers ------------------------------------------------------------------------------------------


def entry_of(item: dict[str, Any]) -> BagEntry:
    """A bag entry from live's bag item: a product (SKUs) or a deal (`kind: "deal"`)."""
    if item.get("kind") == "deal":
        return BagEntry(
            kind="deal",
            item_id=str(item["deal_id"]),
            title=item["title"],
            position=int(item.get("position", 0)),
            pinned=bool(item.get("pinned")),
            currency=item["currency"],
            price_minor=item.get("price_minor"),
            original_value_minor=item.get("original_value_minor"),
            available=bool(item.get("on_sale", True)),
        )
    skus = [
        Sku(
            sku_id=str(s["sku_id"]),
            name=s["name"],
            price_minor=int(s["price_minor"]),
            currency=s["currency"],
            stock_available=int(s.get("stock_available", 0)),
            in_stock=bool(s.get("in_stock", False)),
        )
        for s in item.get("skus", [])
    ]
    return BagEntry(
        kind="product",
        item_id=str(item["product_id"]),
        title=item["title"],
        position=int(item.get("position", 0)),
        pinned=bool(item.get("pinned")),
        currency=skus[0].currency if skus else "",
        price_minor=min((s.price_minor for s in skus), default=None),
        skus=skus,
        available=any(s.in_stock for s in skus),
    )


def bag_of(bag: dict[str, Any]) -> list[BagEntry]:
    """The bag in order, from `GET /rooms/{id}/bag`."""
    return sorted((entry_of(item) for item in bag.get("items", [])), key=lambda e: e.position)


def sale_of(sale: dict[str, Any]) -> SaleCard:
    return SaleCard(
        sale_id=str(sale["sale_id"]),
        product_id=str(sale["product_id"]),
        sku_id=str(sale["sku_id"]),
        title=sale["title"],
        sku_name=sale["sku_name"],
        price_minor=int(sale["price_minor"]),
        currency=sale["currency"],
        quantity=int(sale["quantity"]),
        remaining=int(sale["remaining"]),
        per_buyer_limit=int(sale["per_buyer_limit"]),
        status=sale["status"],
        starts_at=_must(sale["starts_at"]),
        ends_at=_must(sale["ends_at"]),
        ended_at=at(sale.get("ended_at")),
    )


def drop_of(drop: dict[str, Any]) -> DropCard:
    return DropCard(
        drop_id=str(drop["drop_id"]),
        kind=drop["kind"],
        amount_off_minor=int(drop.get("amount_off_minor") or 0),
        percent_off=int(drop.get("percent_off") or 0),
        currency=drop["currency"],
        min_spend_minor=int(drop.get("min_spend_minor") or 0),
        per_buyer_limit=int(drop.get("per_buyer_limit") or 1),
        total=int(drop["total"]),
        claimed=int(drop["claimed"]),
        remaining=int(drop["remaining"]),
        valid_until=_must(drop["valid_until"]),
        status=drop.get("status", "open"),
    )


def coupon_of(coupon: dict[str, Any]) -> MyCoupon:
    """A claimed coupon (a claim's answer, or one of `GET /coupons`)."""
    return MyCoupon(
        coupon_id=str(coupon["coupon_id"]),
        kind=coupon["kind"],
        amount_off_minor=int(coupon.get("amount_off_minor") or 0),
        percent_off=int(coupon.get("percent_off") or 0),
        currency=coupon["currency"],
        min_spend_minor=int(coupon.get("min_spend_minor") or 0),
        valid_until=_must(coupon["valid_until"]),
    )


def funnel_of(figures: dict[str, Any]) -> Funnel:
    """The host's figures from live's funnel (`GET /rooms/{id}/funnel` or a funnel feed event)."""
    return Funnel(
        views=int(figures.get("views", 0)),
        unique_viewers=int(figures.get("unique_viewers", 0)),
        clicks=int(figures.get("clicks", 0)),
        carts=int(figures.get("carts", 0)),
        orders=int(figures.get("orders", 0)),
        paid_orders=int(figures.get("paid_orders", 0)),
        buyers=int(figures.get("buyers", 0)),
        coupons_claimed=int(figures.get("coupons_claimed", 0)),
        takings=[(m["currency"], int(m["gross_paid_minor"])) for m in figures.get("money", [])],
    )


def screen_of(state: dict[str, Any], bag: dict[str, Any] | None = None) -> RoomScreen:
    """The screen from live's room state (`GET /rooms/{id}/state`, the feed's `state`) and its bag."""
    room = state["room"]
    sales = sorted((sale_of(s) for s in state.get("sales", [])), key=lambda s: (s.starts_at, s.sale_id))
    return RoomScreen(
        room_id=str(room["room_id"]),
        title=room["title"],
        cover_url=room.get("cover_url"),
        host_id=room["host_id"],
        merchant_id=str(room["merchant_id"]),
        status=room["status"],
        scheduled_start_at=at(room.get("scheduled_start_at")),
        viewers=int(state.get("concurrent_viewers", 0)),
        seq=int(state.get("seq", 0)),
        pinned=entry_of(state["pinned"]) if state.get("pinned") else None,
        bag=bag_of(bag) if bag is not None else [],
        sales=sales,
        drops=[drop_of(d) for d in state.get("coupon_drops", [])],
    )


# --- the feed's events ----------------------------------------------------------------------------------------------


@dataclass
class Change:
    """What one event did: the parts to draw again; `reread_bag` when the bag names an entry the screen lacks."""

    parts: list[Part] = field(default_factory=list)
    reread_bag: bool = False


def apply(screen: RoomScreen, kind: str, data: dict[str, Any]) -> Change:
    """Apply one room feed event (docs/ARCHITECTURE.md, "Room feed") to the screen: the parts it changed."""
    if isinstance(data.get("seq"), int):
        screen.seq = data["seq"]
    if kind == "viewers":
        screen.viewers = int(data.get("concurrent_viewers", screen.viewers))
        return Change([Part(VIEWERS)])
    if kind in ("room.started", "room.ended", "room.updated"):
        return Change(_room_changed(screen, kind, data))
    if kind == "pin.changed":
        return Change(_pin_changed(screen, data))
    if kind == "bag.changed":
        return _bag_changed(screen, data)
    if kind.startswith("sale."):
        return Change(_sale_changed(screen, kind, data))
    if kind.startswith("coupon."):
        return Change(_drop_changed(screen, kind, data))
    return Change()


def _room_changed(screen: RoomScreen, kind: str, data: dict[str, Any]) -> list[Part]:
    if kind == "room.started":
        screen.status = "live"
    elif kind == "room.ended":
        screen.status = "ended"
    else:
        if "title" in data:
            screen.title = data["title"]
        if "cover_url" in data:
            screen.cover_url = data["cover_url"]
        if "scheduled_start_at" in data:
            screen.scheduled_start_at = at(data["scheduled_start_at"])
    return [Part(STATUS)]


def _pin_changed(screen: RoomScreen, data: dict[str, Any]) -> list[Part]:
    pinned = data.get("product") or data.get("deal")
    screen.pinned = entry_of(pinned) if pinned else None
    for entry in screen.bag:
        entry.pinned = screen.pinned is not None and (entry.kind, entry.item_id) == (
            screen.pinned.kind,
            screen.pinned.item_id,
        )
    return [Part(PINNED), Part(BAG)]


def _bag_changed(screen: RoomScreen, data: dict[str, Any]) -> Change:
    refs = data.get("items")
    if refs is None:  # before deals: products only
        refs = [{"product_id": p} for p in data.get("product_ids", [])]
    order = [("deal", str(r["deal_id"])) if r.get("deal_id") else ("product", str(r.get("product_id"))) for r in refs]
    known = {(e.kind, e.item_id): e for e in screen.bag}
    if any(ref not in known for ref in order):
        return Change([Part(BAG)], reread_bag=True)  # a new entry: its title, prices and stock are live's to say
    screen.bag = [known[ref] for ref in order]
    for position, entry in enumerate(screen.bag):
        entry.position = position
    if screen.pinned is not None and (screen.pinned.kind, screen.pinned.item_id) not in order:
        screen.pinned = None
    return Change([Part(BAG), Part(PINNED)])


def replace_bag(screen: RoomScreen, bag: dict[str, Any]) -> list[Part]:
    """The bag as live reads it now (after an entry was added): the bag and pinned parts."""
    screen.bag = bag_of(bag)
    pinned = next((e for e in screen.bag if e.pinned), None)
    screen.pinned = pinned
    return [Part(BAG), Part(PINNED)]


def _sale_changed(screen: RoomScreen, kind: str, data: dict[str, Any]) -> list[Part]:
    sale_id = str(data.get("sale_id", ""))
    card = screen.sale(sale_id)
    if kind in ("sale.scheduled", "sale.started") and "starts_at" in data:
        fresh = sale_of(data)
        if kind == "sale.started":
            fresh.status = "running"
        if card is None:
            screen.sales.append(fresh)
            return [Part(SALE_ADDED, sale_id)]
        screen.sales[screen.sales.index(card)] = fresh
        return [Part(SALE, sale_id)]
    if card is None:
        return []
    if kind == "sale.started":
        card.status = "running"
    elif kind == "sale.stock":
        card.remaining = int(data.get("remaining", card.remaining))
    elif kind == "sale.sold_out":
        card.remaining = 0
    elif kind == "sale.ended":
        card.status, card.remaining = "ended", 0
    else:
        return []
    return [Part(SALE, sale_id)]


def _drop_changed(screen: RoomScreen, kind: str, data: dict[str, Any]) -> list[Part]:
    drop_id = str(data.get("drop_id", ""))
    card = screen.drop(drop_id)
    if kind == "coupon.dropped" and "total" in data:
        fresh = drop_of(data)
        if card is None:
            screen.drops.append(fresh)
            return [Part(DROP_ADDED, drop_id)]
        screen.drops[screen.drops.index(card)] = fresh
        return [Part(DROP, drop_id)]
    if card is None:
        return []
    if kind == "coupon.claimed_out":
        card.claimed, card.remaining = card.total, 0
    elif kind == "coupon.ended":
        card.status = "ended"
    else:
        return []
    return [Part(DROP, drop_id)]


def replace_drops(screen: RoomScreen, drops: dict[str, Any]) -> list[Part]:
    """Open drops as live lists them now (`GET /rooms/{id}/coupon-drops`): the cards whose counts moved, new ones."""
    parts: list[Part] = []
    for fresh in (drop_of(d) for d in drops.get("items", [])):
        card = screen.drop(fresh.drop_id)
        if card is None:
            screen.drops.append(fresh)
            parts.append(Part(DROP_ADDED, fresh.drop_id))
        elif (card.claimed, card.remaining, card.status) != (fresh.claimed, fresh.remaining, fresh.status):
            screen.drops[screen.drops.index(card)] = fresh
            parts.append(Part(DROP, fresh.drop_id))
    return parts


def funnel_changed(screen: RoomScreen, figures: dict[str, Any]) -> tuple[list[Part], bool]:
    """A funnel feed push: the funnel part, and whether coupons were claimed since the last push (the room feed has
    no per-claim event, so the drops' counts are read again only then)."""
    before = screen.funnel
    screen.funnel = funnel_of(figures)
    return [Part(FUNNEL)], before is not None and before.coupons_claimed != screen.funnel.coupons_claimed


# --- countdowns -------------------------------------------------------------------------------------------------------


def countdown(until: datetime | None, now: datetime) -> str:
    """`04:59`, `1:02:03`: the time left until `until` (never negative); static/countdown.js ticks the same text."""
    if until is None:
        return ""
    seconds = max(0, int((until - now).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def iso(moment: datetime | None) -> str:
    """A moment for a `data-ends-at` attribute (UTC, what `Date.parse` reads)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else ""


# --- the host console's forms ----------------------------------------------------------------------------------------

_LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$")


def parse_utc(text: str) -> datetime:
    """What a `datetime-local` field holds (`2026-05-01T14:30`), read as UTC (the pages show times in UTC)."""
    cleaned = text.strip()
    if not _LOCAL_TIME.match(cleaned):
        raise NotAnAmount("Enter a date and time such as 2026-05-01 14:30 (UTC)")
    try:
        return datetime.fromisoformat(cleaned.replace(" ", "T")).replace(tzinfo=UTC)
    except ValueError as exc:
        raise NotAnAmount("Enter a date and time such as 2026-05-01 14:30 (UTC)") from exc


def local_field(moment: datetime) -> str:
    """A moment as a `datetime-local` field's value, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def parse_minutes(text: str) -> int:
    """Minutes (`10`, `0.5`) as whole seconds."""
    cleaned = text.strip()
    try:
        minutes = Decimal(cleaned)
    except InvalidOperation as exc:
        raise NotAnAmount("Enter a number of minutes such as 10") from exc
    if not minutes.is_finite() or minutes <= 0:
        raise NotAnAmount("Enter a number of minutes such as 10")
    return int(minutes * 60)


def _required(form: Form, name: str) -> str:
    value = form.values.get(name, "").strip()
    if not value:
        form.errors[name] = "Fill this in"
    return value


def read_room_form(values: dict[str, str]) -> Form:
    """A new room: title, cover image URL (optional), scheduled start in UTC (optional)."""
    form = Form(values=values)
    body: dict[str, Any] = {"title": _required(form, "title")}
    cover = values.get("cover_url", "").strip()
    if cover:
        body["cover_url"] = cover
    start = values.get("scheduled_start_at", "").strip()
    if start:
        try:
            body["scheduled_start_at"] = parse_utc(start).isoformat()
        except NotAnAmount as exc:
            form.errors["scheduled_start_at"] = str(exc)
    form.body = body
    return _checked(form)


def sale_form() -> Form:
    """The flash-sale form as first shown."""
    return Form(values={"quantity": "10", "per_buyer_limit": "1", "duration_min": "10"})


def read_sale_form(values: dict[str, str], bag: list[BagEntry]) -> Form:
    """A flash sale: a SKU of a bagged product, quantity, price (in the SKU's currency), per-buyer limit, duration in
    minutes, an optional start (UTC)."""
    form = Form(values=values)
    sku_id = _required(form, "sku_id")
    sku = next((s for entry in bag for s in entry.skus if s.sku_id == sku_id), None)
    if sku_id and sku is None:
        form.errors["sku_id"] = "Choose a SKU of a product in the bag"
    body: dict[str, Any] = {"sku_id": sku_id}
    for name in ("quantity", "per_buyer_limit"):
        try:
            body[name] = parse_count(values.get(name, ""))
        except NotAnAmount as exc:
            form.errors[name] = str(exc)
    try:
        body["price_minor"] = parse_amount(values.get("price", ""), sku.currency if sku else "USD")
    except NotAnAmount as exc:
        form.errors["price"] = str(exc)
    try:
        body["duration_s"] = parse_minutes(values.get("duration_min", ""))
    except NotAnAmount as exc:
        form.errors["duration_min"] = str(exc)
    start = values.get("starts_at", "").strip()
    if start:
        try:
            body["starts_at"] = parse_utc(start).isoformat()
        except NotAnAmount as exc:
            form.errors["starts_at"] = str(exc)
    form.body = body
    return _checked(form)


def drop_form(currency: str, now: datetime) -> Form:
    """The coupon-drop form as first shown: the merchant's currency, valid for an hour."""
    return Form(
        values={
            "kind": "amount_off",
            "currency": currency,
            "min_spend": "0",
            "per_buyer_limit": "1",
            "total": "100",
            "valid_until": local_field(now + timedelta(hours=1)),
        }
    )


def read_drop_form(values: dict[str, str]) -> Form:
    """A coupon drop: an amount off (in the currency) or a percent off, minimum spend, per-buyer limit, total, valid
    until (UTC)."""
    form = Form(values=values)
    kind = values.get("kind", "")
    currency = values.get("currency", "").strip().upper()
    body: dict[str, Any] = {"kind": kind, "currency": currency}
    if not re.match(r"^[A-Z]{3}$", currency):
        form.errors["currency"] = "Enter a currency code such as USD"
        currency = "USD"
    if kind == "amount_off":
        try:
            body["amount_off_minor"] = parse_amount(values.get("amount", ""), currency)
        except NotAnAmount as exc:
            form.errors["amount"] = str(exc)
    elif kind == "percent_off":
        try:
            body["percent_off"] = parse_count(values.get("percent", ""))
        except NotAnAmount as exc:
            form.errors["percent"] = str(exc)
    else:
        form.errors["kind"] = "Choose what the coupon takes off"
    try:
        body["min_spend_minor"] = parse_amount(values.get("min_spend", "") or "0", currency)
    except NotAnAmount as exc:
        form.errors["min_spend"] = str(exc)
    for name in ("per_buyer_limit", "total"):
        try:
            body[name] = parse_count(values.get(name, ""))
        except NotAnAmount as exc:
            form.errors[name] = str(exc)
    try:
        body["valid_until"] = parse_utc(values.get("valid_until", "")).isoformat()
    except NotAnAmount as exc:
        form.errors["valid_until"] = str(exc)
    form.body = body
    return _checked(form)


def _checked(form: Form) -> Form:
    if form.errors:
        form.status = 422
    return form


# The form field an API's `field` names, per form ("" for the form as a whole).
ROOM_FIELDS = {"title": "title", "cover_url": "cover_url", "scheduled_start_at": "scheduled_start_at"}
SALE_FIELDS = {
    "sku_id": "sku_id",
    "quantity": "quantity",
    "price_minor": "price",
    "per_buyer_limit": "per_buyer_limit",
    "duration_s": "duration_min",
    "starts_at": "starts_at",
}
DROP_FIELDS = {
    "kind": "kind",
    "amount_off_minor": "amount",
    "percent_off": "percent",
    "currency": "currency",
    "min_spend_minor": "min_spend",
    "per_buyer_limit": "per_buyer_limit",
    "total": "total",
    "valid_until": "valid_until",
}


def refuse(form: Form, fields: dict[str, str], api_field: str | None, detail: str, status: int) -> Form:
    """The API's refusal shown by the field it names (or for the whole form), with the API's status."""
    form.errors[fields.get(api_field or "", "")] = detail
    form.status = status
    return form


# --- the bag ----------------------------------------------------------------------------------------------------------


def ref_of(entry: BagEntry) -> dict[str, str]:
    """A bag entry as live's bag order and pin name it."""
    return {"deal_id": entry.item_id} if entry.kind == "deal" else {"product_id": entry.item_id}


def moved(bag: list[BagEntry], kind: str, item_id: str, step: int) -> list[dict[str, str]] | None:
    """The bag's order with one entry moved `step` places (-1 up, +1 down), or None if it cannot move so."""
    refs = [(e.kind, e.item_id) for e in bag]
    if (kind, item_id) not in refs:
        return None
    index = refs.index((kind, item_id))
    target = index + step
    if not 0 <= target < len(bag):
        return None
    order = list(bag)
    order[index], order[target] = order[target], order[index]
    return [ref_of(e) for e in order]
