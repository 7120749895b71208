"""The seller's live pages: the merchant's rooms (schedule one), a room's stats and review with charts, short videos
(publish with anchors, delete, their figures), customers by segment, and Today's live rooms.

Every figure is live's answer (`GET /merchants/{id}/rooms`, `/rooms/{id}/stats`, `/rooms/{id}/review`, `/videos`,
`/videos/{id}/funnel`, `/merchants/{id}/customers`), called with the merchant's token; the page computes no rate.
A refusal the merchant can act on (400/409/422) comes back as the form's error by the field the API names; someone
else's room is live's 403 (rooms are public) and someone else's video its 404, which become the page's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from services.web.adapters.apis import ApiRefused, Apis
from services.web.domain import seller_live as rules
from services.web.domain import start_of_day
from services.web.domain.charts import Series, Step, funnel_chart, minute_chart
from services.web.views import RoomToday, SignedIn
from services.web.views.seller_live import (
    Choice,
    CustomerRow,
    CustomersPage,
    Form,
    MinuteRow,
    Review,
    RoomDetail,
    RoomRow,
    RoomSection,
    RoomsPage,
    SessionRow,
    VideoRow,
    VideosPage,
)

# A page of rooms per status on the overview, and when paging one status.
OVERVIEW_ROOMS = 10
PAGE_ROOMS = 20
VIDEOS_PER_PAGE = 10
CUSTOMERS_PER_PAGE = 25
TODAY_ROOMS = 10
# Refusals shown on the page, by the field they name; anything else is the app's error page.
SHOWN = (400, 409, 422)
ROOM_FIELDS = ("title", "host_id", "cover_url", "scheduled_start_at")
VIDEO_FIELDS = ("title", "media_url", "cover_url", "duration_s", "host_id", "anchors")

Translate = Callable[[str], str]


def _q(value: str | None) -> str:
    return quote(value or "", safe="")


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def _page(apis: Apis, user: SignedIn, path: str, params: dict[str, str | int]) -> Any:
    """A page of one of live's listings; a cursor live does not take (edited by hand, or of another listing) reads
    the first page instead."""
    try:
        return await apis.call("live", "GET", path, user.token, params=params)
    except ApiRefused as refused:
        if refused.status != 400 or refused.field != "cursor" or "cursor" not in params:
            raise
        return await apis.call(
            "live", "GET", path, user.token, params={k: v for k, v in params.items() if k != "cursor"}
        )


def _room_row(item: dict[str, Any]) -> RoomRow:
    return RoomRow(
        room_id=item["room_id"],
        title=item["title"],
        host_id=item["host_id"],
        status=item["status"],
        cover_url=item.get("cover_url"),
        scheduled_start_at=_at(item.get("scheduled_start_at")),
        sessions=item.get("sessions", 0),
        last_started_at=_at(item.get("last_started_at")),
        last_ended_at=_at(item.get("last_ended_at")),
        concurrent_viewers=item.get("concurrent_viewers", 0),
    )


async def _rooms(apis: Apis, user: SignedIn, status: str, limit: int, cursor: str | None = None) -> RoomSection:
    params: dict[str, str | int] = {"status": status, "limit": limit}
    if cursor:
        params["cursor"] = cursor
    page = await _page(apis, user, f"/merchants/{_q(user.merchant_id)}/rooms", params)
    return RoomSection(status=status, rooms=[_room_row(i) for i in page["items"]], next_cursor=page.get("next_cursor"))


# --- Today ---------------------------------------------------------------------------------------------------------


async def rooms_today(apis: Apis, user: SignedIn, now: datetime) -> list[RoomToday]:
    """The rooms live now and those that ended today (UTC), each with viewers, paid orders and takings (its stats)."""
    live, ended = await asyncio.gather(
        _rooms(apis, user, "live", TODAY_ROOMS), _rooms(apis, user, "ended", TODAY_ROOMS)
    )
    since = start_of_day(now)
    rooms = [*live.rooms, *(r for r in ended.rooms if r.last_ended_at and r.last_ended_at >= since)][:TODAY_ROOMS]
    stats = await asyncio.gather(
        *(apis.call("live", "GET", f"/rooms/{_q(r.room_id)}/stats", user.token) for r in rooms)
    )
    return [
        RoomToday(
            room_id=r.room_id,
            title=r.title,
            status=r.status,
            host_id=r.host_id,
            started_at=r.last_started_at,
            ended_at=r.last_ended_at,
            concurrent_viewers=s["concurrent_viewers"],
            unique_viewers=s["unique_viewers"],
            paid_orders=s["paid_orders"],
            paid_amount_minor=s["paid_amount_minor"],
            currency=s.get("currency"),
        )
        for r, s in zip(rooms, stats, strict=True)
    ]


# --- rooms ---------------------------------------------------------------------------------------------------------


async def rooms_page(
    apis: Apis,
    user: SignedIn,
    now: datetime,
    *,
    status: str | None,
    cursor: str | None,
    key: str,
    form: Form | None = None,
) -> RoomsPage:
    """Every status' first page (live, scheduled, ended), or one status' page from `cursor`; and the schedule form,
    offering the hosts of the rooms shown."""
    paging = rules.status_of(status)
    if paging:
        sections = [await _rooms(apis, user, paging, PAGE_ROOMS, cursor)]
    else:
        sections = list(await asyncio.gather(*(_rooms(apis, user, s, OVERVIEW_ROOMS) for s in rules.ROOM_STATUSES)))
    hosts = rules.hosts_of([r.host_id for section in sections for r in section.rooms])
    return RoomsPage(
        sections=sections,
        paging=paging,
        hosts=hosts,
        form=form or Form(),
        key=key,
        now=now,
        cursor=cursor if paging else None,
    )


async def schedule_room(apis: Apis, user: SignedIn, values: dict[str, str], now: datetime) -> tuple[str | None, Form]:
    """Schedule a room for one of the merchant's hosts: (its id, the form), or (None, the form with its errors)."""
    parsed = rules.read_room_form(values, now)
    form = Form(values=values, errors=parsed.errors)
    if form.errors:
        return None, form
    try:
        created = await apis.call(
            "live", "POST", "/rooms", user.token, json=parsed.body, key=values.get("idempotency_key")
        )
    except ApiRefused as refused:
        if refused.status not in SHOWN:
            raise
        form.errors[rules.form_field(refused.field, ROOM_FIELDS)] = refused.detail
        return None, form
    return str(created["room_id"]), form


async def change_room(apis: Apis, user: SignedIn, room_id: str, values: dict[str, str], now: datetime) -> Form | None:
    """Change a room's title, cover or start until it has ended: None when done, else the form with its errors (live's
    409 for an ended room by the form, its 403/404 for another's or none)."""
    parsed = rules.read_room_changes(values, now)
    form = Form(values=values, errors=parsed.errors)
    if form.errors:
        return form
    try:
        await apis.call("live", "PATCH", f"/rooms/{_q(room_id)}", user.token, json=parsed.body)
    except ApiRefused as refused:
        if refused.status not in SHOWN:
            raise
        form.errors[rules.form_field(refused.field, ROOM_FIELDS)] = refused.detail
        return form
    return None


def _sessions(stats: dict[str, Any]) -> list[SessionRow]:
    return [
        SessionRow(
            number=s["number"],
            started_at=datetime.fromisoformat(s["started_at"]),
            ended_at=_at(s.get("ended_at")),
            concurrent_viewers=s["concurrent_viewers"],
            peak_concurrent_viewers=s["peak_concurrent_viewers"],
            unique_viewers=s["unique_viewers"],
            views=s["views"],
            average_watch_s=s["average_watch_s"],
        )
        for s in sorted(stats["sessions"], key=lambda s: s["number"], reverse=True)
    ]


FUNNEL_STEPS = (
    ("views", "Views", None),
    ("clicks", "Product clicks", "view_to_click"),
    ("carts", "Added to cart", "click_to_cart"),
    ("orders", "Orders", "cart_to_order"),
    ("paid_orders", "Paid orders", "order_to_paid"),
)
MINUTE_SERIES = (
    ("views", "Views"),
    ("clicks", "Product clicks"),
    ("orders", "Orders"),
    ("paid_orders", "Paid orders"),
)


def review_of(answer: dict[str, Any], translate: Translate, language: str) -> Review:
    """Live's review of an ended room with its two charts drawn: the funnel's steps with live's rates, and the
    per-minute series of views, clicks, orders and paid orders."""
    funnel = answer["funnel"]
    conversion = funnel.get("conversion") or {}
    steps = [(key, int(funnel[key]), conversion.get(rate) if rate else None) for key, _label, rate in FUNNEL_STEPS]
    labels = {key: label for key, label, _rate in FUNNEL_STEPS}
    points = sorted(funnel.get("series", []), key=lambda p: p["minute"])
    minutes = [
        MinuteRow(
            minute=datetime.fromisoformat(p["minute"]),
            views=p["views"],
            clicks=p["clicks"],
            carts=p["carts"],
            orders=p["orders"],
            paid_orders=p["paid_orders"],
            gross_paid_minor=p.get("gross_paid_minor") or {},
        )
        for p in points
    ]
    series = [Series(key, label, {m.minute: getattr(m, key) for m in minutes}) for key, label in MINUTE_SERIES]
    best = answer.get("best_minute")
    return Review(
        funnel=funnel,
        steps=steps,
        funnel_svg=funnel_chart(
            [Step(key, labels[key], value, rate) for key, value, rate in steps],
            translate,
            language,
            chart_id="funnel-chart",
        ),
        minute_svg=minute_chart(series, translate, language, chart_id="minute-chart"),
        minutes=minutes,
        top_products=answer.get("top_products", []),
        best_minute=best | {"minute": datetime.fromisoformat(best["minute"])} if best else None,
        sales=[s | {"starts_at": datetime.fromisoformat(s["starts_at"])} for s in answer.get("sales", [])],
    )


async def room_detail(
    apis: Apis,
    user: SignedIn,
    room_id: str,
    now: datetime,
    translate: Translate,
    language: str,
    form: Form | None = None,
) -> RoomDetail:
    """The room's counters and sessions (live's 403 for another merchant's room, 404 for none), and once it has
    ended its review with charts."""
    path = f"/rooms/{_q(room_id)}"
    stats = await apis.call("live", "GET", f"{path}/stats", user.token)
    room = await apis.call("live", "GET", path, user.token)
    room = room | {"scheduled_start_at": _at(room.get("scheduled_start_at"))}
    review = None
    if room["status"] == "ended":
        review = review_of(await apis.call("live", "GET", f"{path}/review", user.token), translate, language)
    return RoomDetail(room=room, stats=stats, sessions=_sessions(stats), review=review, now=now, form=form)


# --- videos --------------------------------------------------------------------------------------------------------


async def _choices(apis: Apis, user: SignedIn) -> tuple[list[Choice], bool]:
    """What a video can anchor: the merchant's published products (shop) and deals on sale (local_life; without it,
    products only, and the page says so)."""
    products = await apis.call("shop", "GET", "/seller/products", user.token, params={"limit": 100})
    choices = [
        Choice(value=f"product:{p['product_id']}", title=p["title"], kind="product")
        for p in products["items"]
        if p.get("status", "published") == "published"
    ]
    try:
        deals = await apis.call("local_life", "GET", "/seller/deals", user.token, params={"status": "published"})
    except ApiRefused as refused:
        if not refused.unreachable and refused.status < 500:
            raise
        return choices, True
    choices += [
        Choice(value=f"deal:{d['deal_id']}", title=d["title"], kind="deal")
        for d in deals["items"]
        if d.get("status", "published") == "published"
    ]
    return choices, False


async def _video_figures(apis: Apis, user: SignedIn, video_id: str) -> dict[str, Any] | None:
    try:
        return await apis.call("live", "GET", f"/videos/{_q(video_id)}/funnel", user.token)  # type: ignore[no-any-return]
    except ApiRefused as refused:
        if refused.status == 404:  # nothing counted for it yet
            return None
        raise


async def videos_page(
    apis: Apis, user: SignedIn, *, cursor: str | None, key: str, form: Form | None = None
) -> VideosPage:
    """A page of the merchant's videos, newest first, each with its funnel figures; and the publish form."""
    params: dict[str, str | int] = {"merchant_id": user.merchant_id or "", "limit": VIDEOS_PER_PAGE}
    if cursor:
        params["cursor"] = cursor
    listed, (choices, no_deals), rooms = await asyncio.gather(
        _page(apis, user, "/videos", params),
        _choices(apis, user),
        asyncio.gather(*(_rooms(apis, user, s, OVERVIEW_ROOMS) for s in rules.ROOM_STATUSES)),
    )
    figures = await asyncio.gather(*(_video_figures(apis, user, v["video_id"]) for v in listed["items"]))
    videos = [
        VideoRow(
            video_id=v["video_id"],
            title=v["title"],
            host_id=v["host_id"],
            media_url=v["media_url"],
            cover_url=v.get("cover_url"),
            duration_s=v["duration_s"],
            room_id=v.get("room_id"),
            published_at=datetime.fromisoformat(v["published_at"]),
            figures=f,
        )
        for v, f in zip(listed["items"], figures, strict=True)
    ]
    return VideosPage(
        videos=videos,
        next_cursor=listed.get("next_cursor"),
        cursor=cursor,
        choices=choices,
        deals_unavailable=no_deals,
        hosts=rules.hosts_of([r.host_id for section in rooms for r in section.rooms]),
        form=form or Form(),
        key=key,
    )


async def publish_video(
    apis: Apis, user: SignedIn, values: dict[str, str], anchors: list[str]
) -> tuple[str | None, Form]:
    """Publish a video anchoring the ticked products and deals: (its id, the form), or (None, the form with errors)."""
    parsed = rules.read_video_form(values, anchors)
    form = Form(values=values, errors=parsed.errors, chosen=anchors)
    if form.errors:
        return None, form
    try:
        created = await apis.call(
            "live", "POST", "/videos", user.token, json=parsed.body, key=values.get("idempotency_key")
        )
    except ApiRefused as refused:
        if refused.status not in SHOWN:
            raise
        form.errors[rules.form_field(refused.field, VIDEO_FIELDS)] = refused.detail
        return None, form
    return str(created["video_id"]), form


async def delete_video(apis: Apis, user: SignedIn, video_id: str) -> None:
    """Take the video down (live's 404 for one that is not there or already down, 403 for another merchant's)."""
    await apis.call("live", "DELETE", f"/videos/{_q(video_id)}", user.token)


# --- customers -----------------------------------------------------------------------------------------------------


async def customers_page(
    apis: Apis, user: SignedIn, now: datetime, *, segment: str | None, cursor: str | None
) -> CustomersPage:
    """A page of the merchant's customers of `segment` (every segment when none), most monetary first; an unknown
    segment is live's 422, shown on the page."""
    params: dict[str, str | int] = {"limit": CUSTOMERS_PER_PAGE}
    if segment:
        params["segment"] = segment
    if cursor:
        params["cursor"] = cursor
    page = CustomersPage(segment=segment, customers=[], next_cursor=None, cursor=cursor, computed_at=None, now=now)
    try:
        answer = await _page(apis, user, f"/merchants/{_q(user.merchant_id)}/customers", params)
    except ApiRefused as refused:
        if refused.status not in SHOWN:
            raise
        page.refusal = refused.detail
        return page
    page.customers = [
        CustomerRow(
            person_id=c["person_id"],
            segment=c["segment"],
            recency_days=c.get("recency_days"),
            last_paid_at=_at(c.get("last_paid_at")),
            frequency=c["frequency"],
            monetary_minor=c["monetary_minor"],
            currency=c.get("currency"),
        )
        for c in answer["items"]
    ]
    page.next_cursor = answer.get("next_cursor")
    page.computed_at = _at(answer.get("computed_at"))
    return page


async def recompute_customers(apis: Apis, user: SignedIn) -> None:
    """Recompute the merchant's segments now (the daily job does it too)."""
    await apis.call("live", "POST", f"/merchants/{_q(user.merchant_id)}/customers/recompute", user.token)
