"""Rooms to watch and hosts to follow (live): live now, scheduled, rooms of followed hosts, a host's page."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from services.web.adapters.apis import ApiRefused, Apis
from services.web.use_cases.buyer.common import listing, moment, path_id, shown
from services.web.views import SignedIn
from services.web.views.buyer import FollowedHost, HostView, LivePage, RoomCard, RoomList, VideoCard

ROOMS_PER_LIST = 12
VIDEOS_PER_PAGE = 12


def _room(item: dict[str, Any]) -> RoomCard:
    return RoomCard(
        room_id=item["room_id"],
        title=item["title"],
        cover_url=item.get("cover_url"),
        host_id=item["host_id"],
        status=item["status"],
        viewers=item.get("concurrent_viewers", 0),
        scheduled_start_at=moment(item.get("scheduled_start_at")),
        pinned=item.get("pinned"),
    )


async def _rooms(apis: Apis, user: SignedIn, cursor: str | None, **params: str) -> RoomList:
    async def call(after: str | None) -> Any:
        query: dict[str, str | int] = {**params, "limit": ROOMS_PER_LIST} | ({"cursor": after} if after else {})
        return await apis.call("live", "GET", "/rooms", user.token, params=query)

    answer = await listing(call, cursor)
    return RoomList(rooms=[_room(r) for r in answer["items"]], next_cursor=answer.get("next_cursor"))


async def live_page(apis: Apis, user: SignedIn, cursors: dict[str, str]) -> LivePage:
    """Rooms live now (most viewers first), scheduled (soonest first), live rooms of hosts I follow, and those hosts."""
    live, scheduled, following_rooms, following = await asyncio.gather(
        _rooms(apis, user, cursors.get("live"), status="live"),
        _rooms(apis, user, cursors.get("scheduled"), status="scheduled"),
        _rooms(apis, user, cursors.get("following"), status="live", following="true"),
        apis.call("live", "GET", "/me/following", user.token, params={"limit": 50}),
    )
    return LivePage(
        live=live,
        scheduled=scheduled,
        following_rooms=following_rooms,
        following=[
            FollowedHost(
                host_id=h["host_id"],
                fans=h["fans"],
                live=h["live"],
                followed_at=datetime.fromisoformat(h["followed_at"]),
            )
            for h in following["items"]
        ],
        more_following=bool(following.get("next_cursor")),
        cursors=cursors,
    )


async def host_page(apis: Apis, user: SignedIn, host_id: str, videos_cursor: str | None) -> HostView:
    """A host's fans, whether I follow, their rooms (live, scheduled, recently ended) and short videos (a host with
    no room is live's 404, and the page's)."""

    async def videos(after: str | None) -> Any:
        params: dict[str, str | int] = {"host_id": host_id, "limit": VIDEOS_PER_PAGE} | (
            {"cursor": after} if after else {}
        )
        return await apis.call("live", "GET", "/videos", user.token, params=params)

    host, shelf = await asyncio.gather(
        apis.call("live", "GET", f"/hosts/{path_id(host_id)}", user.token), listing(videos, videos_cursor)
    )
    return HostView(
        host_id=host["host_id"],
        fans=host["fans"],
        following=host["following"],
        rooms=[_room(r) for r in host["rooms"]],
        videos=[
            VideoCard(
                video_id=v["video_id"],
                title=v["title"],
                cover_url=v.get("cover_url"),
                media_url=v["media_url"],
                duration_s=v["duration_s"],
                published_at=datetime.fromisoformat(v["published_at"]),
            )
            for v in shelf["items"]
        ],
        videos_next=shelf.get("next_cursor"),
    )


async def follow(apis: Apis, user: SignedIn, host_id: str, *, on: bool) -> HostView | None:
    """Follow (or stop following) the host: None when done, else the host's page with live's refusal."""
    try:
        await apis.call("live", "PUT" if on else "DELETE", f"/hosts/{path_id(host_id)}/follow", user.token)
    except ApiRefused as refused:
        shown(refused)
        page = await host_page(apis, user, host_id, None)
        page.error, page.status = refused.detail, refused.status
        return page
    return None
