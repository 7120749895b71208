"""The host console: the host's rooms and a new one; the screen beside the camera (go live and end, the bag in
order with pins, flash sales and coupon drops), kept current by the room feed and the room's funnel feed.

All of it is live's API with the host's token (shop's and local_life's public catalogues for what may go in the
bag): live decides who is the room's staff (another host's room is its 403), and its refusals come back as the form's
errors in its words.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from services.web.adapters.apis import ApiRefused, Apis
from services.web.adapters.feeds import live_feed, merged
from services.web.domain.live import (
    DROP_FIELDS,
    FUNNEL,
    ROOM_FIELDS,
    SALE_FIELDS,
    VIEWERS,
    WHOLE_ROOM,
    apply,
    at,
    drop_form,
    drop_of,
    funnel_changed,
    funnel_of,
    moved,
    read_drop_form,
    read_room_form,
    read_sale_form,
    refuse,
    replace_bag,
    replace_drops,
    sale_form,
    sale_of,
    screen_of,
)
from services.web.use_cases import refusal
from services.web.use_cases.room import SHOWN, bag_at, room_path, screen
from services.web.views import Refusal, SignedIn
from services.web.views.live import (
    Console,
    DealOffer,
    DropCard,
    Form,
    HostRoom,
    HostRooms,
    Offer,
    Part,
    RoomScreen,
    SaleCard,
    Update,
)

# How many of the merchant's products the add-to-bag list offers (shop's page size).
OFFERS = 50


def _refusal(refused: ApiRefused) -> Refusal:
    return refusal(refused, SHOWN)


# --- the host's rooms -------------------------------------------------------------------------------------------------


async def rooms(apis: Apis, user: SignedIn, form: Form | None = None) -> HostRooms:
    """The host's rooms, live first, then scheduled, then recently ended (none yet: live's 404, an empty list)."""
    try:
        host = await apis.call("live", "GET", f"/hosts/{quote(user.sub, safe='')}", user.token)
    except ApiRefused as refused:
        if refused.status != 404:
            raise
        host = {"rooms": []}
    listed = [
        HostRoom(
            room_id=r["room_id"],
            title=r["title"],
            status=r["status"],
            cover_url=r.get("cover_url"),
            scheduled_start_at=at(r.get("scheduled_start_at")),
            concurrent_viewers=int(r.get("concurrent_viewers", 0)),
        )
        for r in host.get("rooms", [])
    ]
    return HostRooms(rooms=listed, form=form or Form())


async def create_room(apis: Apis, user: SignedIn, values: dict[str, str]) -> tuple[str | None, Form]:
    """A scheduled room for the merchant the host's token names (the form's key: sent twice, one room)."""
    form = read_room_form(values)
    if form.errors:
        return None, form
    try:
        room = await apis.call("live", "POST", "/rooms", user.token, json=form.body, key=values.get("idempotency_key"))
    except ApiRefused as refused:
        refusal = _refusal(refused)
        return None, refuse(form, ROOM_FIELDS, refused.field, refusal.detail, refusal.status)
    return str(room["room_id"]), form


# --- the console ------------------------------------------------------------------------------------------------------


async def _offers(apis: Apis, user: SignedIn) -> list[Offer]:
    """The merchant's published products (shop's public search, by merchant), newest first."""
    found = await apis.call(
        "shop", "GET", "/products", user.token, params={"merchant_id": user.merchant_id or "", "limit": OFFERS}
    )
    return [
        Offer(
            product_id=p["product_id"],
            title=p["title"],
            min_price_minor=int(p["min_price_minor"]),
            max_price_minor=int(p["max_price_minor"]),
            currency=p["currency"],
            in_stock=bool(p["in_stock"]),
        )
        for p in found.get("items", [])
    ]


async def _currency(apis: Apis, user: SignedIn) -> str:
    merchant = await apis.call("shop", "GET", f"/merchants/{quote(user.merchant_id or '', safe='')}", user.token)
    return str(merchant["currency"])


async def staff_screen(apis: Apis, user: SignedIn, room_id: str) -> RoomScreen:
    """The room's screen with its funnel, for its staff only (live: 403 for another's room, 404 for no room)."""
    figures = await apis.call("live", "GET", room_path(room_id, "/funnel"), user.token)
    current = await screen(apis, user, room_id)
    current.funnel = funnel_of(figures)
    return current


async def console(apis: Apis, user: SignedIn, room_id: str, **forms: Any) -> Console:
    """The console of one of the host's rooms; `forms` (sale_form, drop_form, refusals) as a form sent left them."""
    await apis.call("live", "GET", room_path(room_id, "/stats"), user.token)  # 403 not-your-room, 404 no room
    current, offers, currency, sales = await asyncio.gather(
        staff_screen(apis, user, room_id),
        _offers(apis, user),
        _currency(apis, user),
        apis.call("live", "GET", room_path(room_id, "/flash-sales"), user.token),
    )
    ended = [sale_of(s) for s in sales.get("items", []) if s["status"] == "ended"]
    return Console(
        screen=current,
        currency=currency,
        offers=offers,
        sale_form=forms.pop("sale_form", None) or sale_form(),
        drop_form=forms.pop("drop_form", None) or drop_form(currency, datetime.now(UTC)),
        ended_sales=ended[:10],
        **forms,
    )


async def bag_part(apis: Apis, user: SignedIn, room_id: str) -> RoomScreen:
    """What the bag part of the console shows: the room with its bag in order."""
    return await screen(apis, user, room_id)


async def _act(apis: Apis, user: SignedIn, method: str, path: str, body: Any = None) -> tuple[Any, Refusal | None]:
    try:
        return await apis.call("live", method, path, user.token, json=body), None
    except ApiRefused as refused:
        return None, _refusal(refused)


async def go_live(apis: Apis, user: SignedIn, room_id: str, action: str) -> tuple[RoomScreen, Refusal | None]:
    """Start (`start`) or end (`end`) the room's session; the room as it is after, with live's refusal if any."""
    _answer, refusal = await _act(apis, user, "POST", room_path(room_id, f"/{action}"))
    return await screen(apis, user, room_id), refusal


async def add_to_bag(apis: Apis, user: SignedIn, room_id: str, values: dict[str, str]) -> Refusal | None:
    """Link the chosen product (or deal) to the room; it goes last."""
    chosen = {k: values[k] for k in ("product_id", "deal_id") if values.get(k)}
    if not chosen:
        return Refusal(status=422, detail="Choose a product to add", code="")
    return (await _act(apis, user, "POST", room_path(room_id, "/bag"), chosen))[1]


async def remove_from_bag(apis: Apis, user: SignedIn, room_id: str, kind: str, item_id: str) -> Refusal | None:
    path = f"/bag/deals/{quote(item_id, safe='')}" if kind == "deal" else f"/bag/{quote(item_id, safe='')}"
    return (await _act(apis, user, "DELETE", room_path(room_id, path)))[1]


async def move_in_bag(apis: Apis, user: SignedIn, room_id: str, kind: str, item_id: str, step: int) -> Refusal | None:
    """Move one entry up (-1) or down (+1): the whole new order to live, which refuses one that missed a change."""
    bag = (await screen(apis, user, room_id)).bag
    order = moved(bag, kind, item_id, step)
    if order is None:
        return None  # already first (or last): nothing to do
    return (await _act(apis, user, "PUT", room_path(room_id, "/bag/order"), {"items": order}))[1]


async def pin(apis: Apis, user: SignedIn, room_id: str, kind: str, item_id: str | None) -> Refusal | None:
    """Pin a bag entry (None: unpin whatever is pinned)."""
    body = {"deal_id": item_id} if kind == "deal" else {"product_id": item_id}
    return (await _act(apis, user, "PUT", room_path(room_id, "/pin"), body))[1]


async def start_sale(apis: Apis, user: SignedIn, room_id: str, values: dict[str, str]) -> tuple[RoomScreen, Form]:
    """A flash sale of a bagged SKU (the form's Idempotency-Key: a double click starts one sale)."""
    current = await screen(apis, user, room_id)
    form = read_sale_form(values, current.bag)
    if form.errors:
        return current, form
    try:
        await apis.call(
            "live",
            "POST",
            room_path(room_id, "/flash-sales"),
            user.token,
            json=form.body,
            key=values.get("idempotency_key") or None,
        )
    except ApiRefused as refused:
        refusal = _refusal(refused)
        return current, refuse(form, SALE_FIELDS, refused.field, refusal.detail, refusal.status)
    fresh = sale_form()
    fresh.note = "Flash sale started" if "starts_at" not in form.body else "Flash sale scheduled"
    return current, fresh


async def end_sale(apis: Apis, user: SignedIn, room_id: str, sale_id: str) -> SaleCard:
    """End a sale now (a scheduled one is cancelled): the sale as it ended."""
    path = room_path(room_id, f"/flash-sales/{quote(sale_id, safe='')}/end")
    return sale_of(await apis.call("live", "POST", path, user.token))


async def drop_coupons(apis: Apis, user: SignedIn, room_id: str, values: dict[str, str]) -> Form:
    """A coupon drop in the live room (the form's Idempotency-Key: a double click drops once)."""
    form = read_drop_form(values)
    if form.errors:
        return form
    try:
        await apis.call(
            "live",
            "POST",
            room_path(room_id, "/coupon-drops"),
            user.token,
            json=form.body,
            key=values.get("idempotency_key") or None,
        )
    except ApiRefused as refused:
        refusal = _refusal(refused)
        return refuse(form, DROP_FIELDS, refused.field, refusal.detail, refusal.status)
    fresh = drop_form(form.body["currency"], datetime.now(UTC))
    fresh.note = "Coupons dropped"
    return fresh


async def end_drop(apis: Apis, user: SignedIn, room_id: str, drop_id: str) -> DropCard:
    """Close a drop early (claimed coupons stay good): the drop as it is now."""
    path = room_path(room_id, f"/coupon-drops/{quote(drop_id, safe='')}/end")
    return drop_of(await apis.call("live", "POST", path, user.token))


async def find_deals(apis: Apis, user: SignedIn, q: str) -> list[DealOffer]:
    """The merchant's published deals whose title matches `q` (local_life's search), to add to the bag."""
    if not q.strip():
        return []
    found = await apis.call("local_life", "GET", "/deals", user.token, params={"q": q.strip()[:100], "limit": 50})
    return [
        DealOffer(
            deal_id=d["deal"]["deal_id"],
            title=d["deal"]["title"],
            price_minor=int(d["deal"]["price_minor"]),
            currency=d["deal"]["currency"],
        )
        for d in found.get("items", [])
        if d["deal"]["merchant_id"] == user.merchant_id
    ]


# --- live -------------------------------------------------------------------------------------------------------------

ROOM_FEED, FUNNEL_FEED = 0, 1


async def follow_console(
    apis: Apis, user: SignedIn, room_id: str, shown_seq: int | None
) -> AsyncGenerator[Update, None]:
    """The room feed and the room's funnel feed as one stream of screen updates (the host's token for both).

    Coupon drops' claimed counts are not on the room feed; a funnel push whose `coupons_claimed` moved re-reads the
    room's open drops (once per push: live's funnel hub already folds a burst of claims into one push per 250 ms).
    """
    async with (
        live_feed(apis, room_path(room_id, "/feed"), user.token) as room_events,
        live_feed(apis, room_path(room_id, "/funnel/feed"), user.token) as funnel_events,
        merged(room_events, funnel_events) as events,
    ):
        current: RoomScreen | None = None
        figures: dict[str, Any] | None = None  # a push that came before the room's state
        async for source, event in events:
            if event.keepalive:
                yield Update(current, [])
                continue
            data = json.loads(event.data)
            if source == FUNNEL_FEED:
                if current is None:
                    figures = data
                    continue
                parts, claimed = funnel_changed(current, data)
                if claimed:
                    drops = await apis.call("live", "GET", room_path(room_id, "/coupon-drops"), user.token)
                    parts += replace_drops(current, drops)
                yield Update(current, parts)
            elif event.event == "state":
                current = screen_of(data, await bag_at(apis, room_id, int(data.get("seq", 0))))
                parts = list(WHOLE_ROOM) if current.seq != shown_seq else [Part(VIEWERS)]
                if figures is not None:
                    funnel_changed(current, figures)
                    parts.append(Part(FUNNEL))
                yield Update(current, parts)
            elif current is not None:
                change = apply(current, event.event, data)
                parts = change.parts
                if change.reread_bag:
                    parts = replace_bag(current, await bag_at(apis, room_id, current.seq))
                yield Update(current, parts)
