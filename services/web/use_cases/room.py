"""The room page: what a viewer sees of a live room (from live's state and bag), kept current by the room feed; a
buyer's presence (join on opening, heartbeats, leave), flash-sale purchases and coupon claims.

Every call is live's public API with the visitor's token (none for an anonymous viewer). The bag is public and the
same for every viewer, so reads of it at one feed position are shared by this process's streams (`SHARED`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import quote

from services.web.adapters.apis import ApiRefused, Apis
from services.web.adapters.feeds import SHARED, live_feed
from services.web.domain import NotAnAmount, parse_count
from services.web.domain.live import VIEWERS, WHOLE_ROOM, apply, at, coupon_of, replace_bag, screen_of
from services.web.use_cases import refusal
from services.web.views import Refusal, SignedIn
from services.web.views.live import Claim, MyCoupon, Part, Purchase, RoomPage, RoomScreen, Update

# What a buyer can act on where they acted (the form shows it in live's words); 401/403/404 and 5xx are the app's.
SHOWN = (400, 409, 422, 429)


def room_path(room_id: str, rest: str = "") -> str:
    return f"/rooms/{quote(room_id, safe='')}{rest}"


def _token(user: SignedIn | None) -> str:
    return user.token if user else ""


def _refusal(refused: ApiRefused) -> Refusal:
    return refusal(refused, SHOWN)


async def bag_at(apis: Apis, room_id: str, seq: int) -> dict[str, Any]:
    """The room's bag as of feed position `seq`, one call however many of this process's viewers want it then."""
    key = ("bag", apis.base_url("live"), room_id, seq)
    return await SHARED.read(key, lambda: apis.call("live", "GET", room_path(room_id, "/bag"), ""))  # type: ignore[no-any-return]


async def screen(apis: Apis, user: SignedIn | None, room_id: str) -> RoomScreen:
    """The room as a viewer's screen shows it now (404 for a room live does not know)."""
    state = await apis.call("live", "GET", room_path(room_id, "/state"), _token(user))
    return screen_of(state, await bag_at(apis, room_id, int(state.get("seq", 0))))


async def room_page(apis: Apis, user: SignedIn | None, room_id: str) -> RoomPage:
    """The room page; a signed-in buyer opening a live room joins it (a visit: they count as watching)."""
    page = RoomPage(screen=await screen(apis, user, room_id))
    if user is not None and user.role == "buyer":
        if page.screen.status == "live":
            page.watching = await join(apis, user, room_id)
        page.coupons = await coupons_here(apis, user, room_id)
    return page


async def coupons_here(apis: Apis, user: SignedIn, room_id: str) -> list[MyCoupon]:
    """The coupons the buyer claimed in this room (their newest hundred)."""
    mine = await apis.call("live", "GET", "/coupons", user.token, params={"limit": 100})
    return [coupon_of(c) for c in mine.get("items", []) if c.get("room_id") == room_id]


async def join(apis: Apis, user: SignedIn, room_id: str) -> bool:
    """Open (or keep) the buyer's visit; False when the room is not live or the join burst is spent."""
    try:
        await apis.call("live", "POST", room_path(room_id, "/join"), user.token)
    except ApiRefused as refused:
        if refused.status in (409, 429):
            return False
        raise
    return True


async def heartbeat(apis: Apis, user: SignedIn, room_id: str) -> bool:
    """Still watching; a visit that lapsed (or a room that went live since the page opened) is joined again."""
    try:
        await apis.call("live", "POST", room_path(room_id, "/heartbeat"), user.token)
    except ApiRefused as refused:
        if refused.status != 409:
            raise
        return await join(apis, user, room_id)
    return True


async def leave(apis: Apis, user: SignedIn, room_id: str) -> None:
    """Close the buyer's visit (nothing to close is fine)."""
    await apis.call("live", "POST", room_path(room_id, "/leave"), user.token)


async def purchase(apis: Apis, user: SignedIn, room_id: str, sale_id: str, values: dict[str, str]) -> Purchase:
    """Buy in a flash sale with the form's Idempotency-Key: admitted (the order to pay, by when) or live's refusal."""
    outcome = Purchase(sale_id=sale_id)
    key = values.get("idempotency_key", "").strip()
    if not key:
        outcome.refusal = Refusal(status=400, detail="This form has expired: reload the page", code="")
        return outcome
    try:
        quantity = parse_count(values.get("quantity", "1") or "1")
    except NotAnAmount as exc:
        outcome.refusal = Refusal(status=422, detail=str(exc), code="")
        return outcome
    try:
        admitted = await apis.call(
            "live",
            "POST",
            room_path(room_id, f"/flash-sales/{quote(sale_id, safe='')}/purchase"),
            user.token,
            json={"quantity": quantity},
            key=key,
        )
    except ApiRefused as refused:
        outcome.refusal = _refusal(refused)
        return outcome
    outcome.order_id = str(admitted["order_id"])
    outcome.quantity = int(admitted["quantity"])
    outcome.pay_by = at(admitted["pay_by"])
    return outcome


async def claim(apis: Apis, user: SignedIn, room_id: str, drop_id: str, values: dict[str, str]) -> Claim:
    """Claim a coupon of the drop (claims need the buyer watching), or live's refusal."""
    outcome = Claim(drop_id=drop_id)
    key = values.get("idempotency_key", "").strip()
    if not key:
        outcome.refusal = Refusal(status=400, detail="This form has expired: reload the page", code="")
        return outcome
    path = room_path(room_id, f"/coupon-drops/{quote(drop_id, safe='')}/claim")
    try:
        try:
            coupon = await apis.call("live", "POST", path, user.token, key=key)
        except ApiRefused as refused:
            # The buyer is on the page, so watching: a visit that lapsed (a tab asleep) is joined again, once.
            if refused.code != "not-in-room" or not await join(apis, user, room_id):
                raise
            coupon = await apis.call("live", "POST", path, user.token, key=key)
    except ApiRefused as refused:
        outcome.refusal = _refusal(refused)
        return outcome
    outcome.coupon = coupon_of(coupon)
    return outcome


async def follow_room(
    apis: Apis, user: SignedIn | None, room_id: str, shown_seq: int | None
) -> AsyncGenerator[Update, None]:
    """The room feed as screen updates: the first (live's `state`) redraws the page unless it is still the one the page
    was drawn at (`shown_seq`); then each event the parts it changed; a keep-alive as an update without parts."""
    async with live_feed(apis, room_path(room_id, "/feed"), _token(user) or None) as events:
        current: RoomScreen | None = None
        async for event in events:
            if event.keepalive:
                yield Update(current, [])
                continue
            data = json.loads(event.data)
            if event.event == "state":
                current = screen_of(data, await bag_at(apis, room_id, int(data.get("seq", 0))))
                redraw = current.seq != shown_seq
                yield Update(current, list(WHOLE_ROOM) if redraw else [Part(VIEWERS)])
                continue
            if current is None:
                continue
            change = apply(current, event.event, data)
            parts = change.parts
            if change.reread_bag:
                parts = replace_bag(current, await bag_at(apis, room_id, current.seq))
            yield Update(current, parts)
