"""The seller back office (merchant): live rooms (schedule, review with funnel charts), short videos with anchors,
customers by segment."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Template

from services.web.api import apis_of, form_of, language, page, redirect, user_in_role
from services.web.use_cases import seller_live as use_case


def _key() -> str:
    # A fresh Idempotency-Key per form shown: sending it twice makes one room or one video.
    return str(uuid.uuid4())


def _query(value: str | None) -> str | None:
    return value or None


@get("/seller/rooms")
async def rooms(request: Request, status: str | None = None, cursor: str | None = None) -> Template:
    """Rooms live now, scheduled and ended (one status' pages with `status`), and the form to schedule one."""
    user = user_in_role(request, "merchant")
    listing = await use_case.rooms_page(
        apis_of(request), user, datetime.now(UTC), status=status, cursor=_query(cursor), key=_key()
    )
    return page(request, "seller_live/rooms.html", rooms=listing)


@post("/seller/rooms")
async def schedule_room(request: Request) -> Response[None] | Template:
    """Schedule a room for one of the merchant's hosts; live's refusals are shown by the field they name."""
    user = user_in_role(request, "merchant")
    values, apis, now = await form_of(request), apis_of(request), datetime.now(UTC)
    room_id, form = await use_case.schedule_room(apis, user, values, now)
    if room_id is not None:
        return redirect(f"/seller/rooms/{room_id}")
    listing = await use_case.rooms_page(apis, user, now, status=None, cursor=None, key=_key(), form=form)
    return page(request, "seller_live/rooms.html", status=422, rooms=listing)


def _text(request: Request) -> tuple[Any, str]:
    """The reader's catalogue and language: the charts are drawn in them."""
    lang = language(request)
    return request.app.state.catalogues[lang].gettext, lang


@get("/seller/rooms/{room_id:str}")
async def room(request: Request, room_id: str) -> Template:
    """The room's counters and sessions; once ended, its review with the funnel and per-minute charts."""
    user = user_in_role(request, "merchant")
    detail = await use_case.room_detail(apis_of(request), user, room_id, datetime.now(UTC), *_text(request))
    return page(request, "seller_live/room.html", room=detail)


@post("/seller/rooms/{room_id:str}")
async def change_room(request: Request, room_id: str) -> Response[None] | Template:
    """Change the title, cover or start of a room that has not ended; live's refusals by the field they name."""
    user = user_in_role(request, "merchant")
    values, apis, now = await form_of(request), apis_of(request), datetime.now(UTC)
    form = await use_case.change_room(apis, user, room_id, values, now)
    if form is None:
        return redirect(f"/seller/rooms/{room_id}")
    detail = await use_case.room_detail(apis, user, room_id, now, *_text(request), form=form)
    return page(request, "seller_live/room.html", status=422, room=detail)


@get("/seller/videos")
async def videos(request: Request, cursor: str | None = None) -> Template:
    """The merchant's videos, newest first, with their figures; the form to publish one."""
    user = user_in_role(request, "merchant")
    listing = await use_case.videos_page(apis_of(request), user, cursor=_query(cursor), key=_key())
    return page(request, "seller_live/videos.html", videos=listing)


@post("/seller/videos")
async def publish_video(request: Request) -> Response[None] | Template:
    """Publish a video anchoring the ticked products and deals; live's refusals are shown by the field they name."""
    user = user_in_role(request, "merchant")
    form = await request.form()
    anchors = [v for v in form.getall("anchor") if isinstance(v, str)] if "anchor" in form else []
    apis = apis_of(request)
    video_id, shown = await use_case.publish_video(apis, user, await form_of(request), anchors)
    if video_id is not None:
        return redirect("/seller/videos")
    listing = await use_case.videos_page(apis, user, cursor=None, key=_key(), form=shown)
    return page(request, "seller_live/videos.html", status=422, videos=listing)


@post("/seller/videos/{video_id:str}/delete")
async def delete_video(request: Request, video_id: str) -> Response[None]:
    """Take a video down (another merchant's: live's refusal is the page's)."""
    user = user_in_role(request, "merchant")
    await use_case.delete_video(apis_of(request), user, video_id)
    return redirect("/seller/videos")


@get("/seller/customers")
async def customers(request: Request, segment: str | None = None, cursor: str | None = None) -> Template:
    """The merchant's customers by RFM segment, most monetary first, a page at a time."""
    user = user_in_role(request, "merchant")
    listing = await use_case.customers_page(
        apis_of(request), user, datetime.now(UTC), segment=_query(segment), cursor=_query(cursor)
    )
    return page(request, "seller_live/customers.html", status=422 if listing.refusal else 200, customers=listing)


@post("/seller/customers/recompute")
async def recompute_customers(request: Request) -> Response[None]:
    """Recompute the segments now, then show the segment the merchant was reading."""
    user = user_in_role(request, "merchant")
    values = await form_of(request)
    await use_case.recompute_customers(apis_of(request), user)
    segment = values.get("segment", "")
    return redirect(
        f"/seller/customers?segment={segment}" if segment in use_case.rules.SEGMENTS else "/seller/customers"
    )


ROUTES = [rooms, schedule_room, room, change_room, videos, publish_video, delete_video, customers, recompute_customers]
