"""Following a room's feed: its state first, then every change in order, as this process's hub writes them."""

from __future__ import annotations

from dataclasses import dataclass

from libs.ids import canonical_uuid
from libs.runtime import Runtime
from services.live.rooms.adapters.feed_clients import FeedClient, state_frame
from services.live.rooms.adapters.feed_hub import feed_hub
from services.live.rooms.domain import RoomNotFound
from services.live.rooms.use_cases.state import room_state


@dataclass(frozen=True)
class FeedStart:
    """How a viewer's feed begins: the state event to write first, and its client on the hub to attach after it."""

    state: bytes
    client: FeedClient


@dataclass(frozen=True)
class _SharedState:
    # One read of a room's state, framed once for every joiner that shares it.
    seq: int
    viewers: int
    frame: bytes


async def follow_room(runtime: Runtime, room_id: str) -> FeedStart:
    """The room's feed: its state (404 for an unknown room), then its events once the client is attached."""
    parsed = canonical_uuid(room_id)
    if parsed is None:
        raise RoomNotFound()
    hub = feed_hub(runtime)
    # Subscribe, then read the state: nothing sent to the room's clients after the state can fall between the two.
    client = hub.subscribe(parsed)
    try:
        # One read per burst of joins to the room, shared (the state's own room read answers the 404).
        state = await hub.read_state(client, lambda: _read(runtime, parsed))
    except BaseException:
        client.close()
        raise
    client.ready(state.seq, state.viewers)
    return FeedStart(state.frame, client)


async def _read(runtime: Runtime, room_id: str) -> _SharedState:
    state = await room_state(runtime, room_id)
    return _SharedState(state.seq, state.concurrent_viewers, state_frame(state))
