"""The staff feeds' hub: one per live process, it hears the funnel's change announcements on core NATS and pushes a
room's fresh figures to the room's host and merchant clients on this process, at most one push per room per
`coalesce_s`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from nats.aio.msg import Msg

from libs.bus import Bus
from libs.runtime import Runtime
from services.live.funnel.domain.changes import CHANGED_SUBJECT, FunnelChanged
from services.live.funnel.views import FunnelFigures

log = logging.getLogger(__name__)

# How a room's figures are read for a push (the use case hands it in: adapters sit below use cases).
Compute = Callable[[str], Awaitable[FunnelFigures]]


class _Signal:
    """What `StaffFeedSubscription.next` answers besides figures."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


IDLE = _Signal("IDLE")
CLOSED = _Signal("CLOSED")


class StaffFeedSubscription:
    """One client of a room's staff feed: holds only the newest figures not yet sent (older ones are stale)."""

    def __init__(self, hub: StaffFeedHub, room_id: str) -> None:
        self.hub = hub
        self.room_id = room_id
        self._latest: FunnelFigures | None = None
        self._ready = asyncio.Event()
        self.closed = False

    def offer(self, figures: FunnelFigures) -> None:
        if not self.closed:
            self._latest = figures
            self._ready.set()

    async def next(self, timeout: float) -> FunnelFigures | _Signal:
        """The newest figures, IDLE after `timeout` seconds without any, CLOSED once the client must go."""
        if not self._ready.is_set() and not self.closed:
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return IDLE
        if self._latest is not None:
            latest, self._latest = self._latest, None
            if not self.closed:
                self._ready.clear()
            return latest
        return CLOSED

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.hub._unsubscribe(self)
        self._latest = None
        self._ready.set()


class StaffFeedHub:
    """Fans the funnel's changes out to staff feed clients: `staff_feed_hub(runtime)`, started with the live app.

    A plain core NATS subscription (every instance hears every announcement; nothing is stored) on
    `live.funnel.changed`. A change naming a room with clients here marks it; a marked room is pushed at once if
    its last push was `coalesce_s` ago, else when that time is up, so a burst of batches makes one read. A push
    reads the figures once and offers them to each client of the room.
    """

    def __init__(self, bus: Bus, compute: Compute, *, coalesce_s: float = 0.25, keepalive_s: float = 15.0) -> None:
        self.bus = bus
        self.compute = compute
        self.coalesce_s = coalesce_s
        self.keepalive_s = keepalive_s
        self._clients: dict[str, set[StaffFeedSubscription]] = {}
        self._last_push: dict[str, float] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._pushing: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._nats_sub: Any = None

    async def start(self) -> None:
        self._nats_sub = await self.bus.nc.subscribe(self.bus.subject(CHANGED_SUBJECT), cb=self._on_message)

    async def stop(self) -> None:
        """Unsubscribe, cancel what is pending, and send every client away."""
        if self._nats_sub is not None:
            try:
                await self._nats_sub.unsubscribe()
            except Exception as exc:  # NATS may be gone already
                log.debug("staff feed hub: unsubscribe failed: %s", exc)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks = list(self._pushing.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for clients in list(self._clients.values()):
            for client in list(clients):
                client.close()

    def subscribe(self, room_id: str) -> StaffFeedSubscription:
        """Start hearing the room's changes; call before reading the first figures, so none is missed."""
        client = StaffFeedSubscription(self, room_id)
        self._clients.setdefault(room_id, set()).add(client)
        return client

    def clients(self, room_id: str) -> int:
        return len(self._clients.get(room_id, ()))

    def _unsubscribe(self, client: StaffFeedSubscription) -> None:
        clients = self._clients.get(client.room_id)
        if clients is not None:
            clients.discard(client)
            if not clients:
                del self._clients[client.room_id]

    async def _on_message(self, msg: Msg) -> None:
        try:
            changed = msgspec.json.decode(msg.data, type=FunnelChanged)
        except msgspec.DecodeError:
            log.warning("staff feed hub: undecodable message on %s dropped", msg.subject)
            return
        for room_id in changed.rooms:
            if room_id in self._clients:
                self.mark(room_id)

    def mark(self, room_id: str) -> None:
        """The room's figures changed: push them now, or once `coalesce_s` has passed since the last push."""
        if room_id in self._timers:
            return
        if room_id in self._pushing:
            self._again.add(room_id)  # a read already under way may have missed this change
            return
        wait = self._last_push.get(room_id, float("-inf")) + self.coalesce_s - time.monotonic()
        loop = asyncio.get_running_loop()
        self._timers[room_id] = loop.call_later(max(wait, 0.0), self._fire, room_id)

    def _fire(self, room_id: str) -> None:
        self._timers.pop(room_id, None)
        self._last_push[room_id] = time.monotonic()
        self._pushing[room_id] = asyncio.create_task(self._push(room_id), name=f"staff-feed-push-{room_id}")

    async def _push(self, room_id: str) -> None:
        try:
            if room_id in self._clients:
                figures = await self.compute(room_id)
                for client in list(self._clients.get(room_id, ())):
                    client.offer(figures)
        except Exception:
            log.exception("staff feed hub: could not read the figures of room %s", room_id)
        finally:
            self._pushing.pop(room_id, None)
            if room_id in self._again:
                self._again.discard(room_id)
                self.mark(room_id)
            if room_id not in self._clients:
                self._last_push.pop(room_id, None)


# Where this process's hub lives on the runtime.
STAFF_FEED_HUB = "funnel_staff_feed_hub"


async def start_staff_feed_hub(runtime: Runtime, compute: Compute) -> StaffFeedHub:
    """Make and start this process's hub; `staff_feed_hub(runtime)` answers it from then on."""
    hub = StaffFeedHub(runtime.bus, compute)
    await hub.start()
    runtime.extras[STAFF_FEED_HUB] = hub
    return hub


def staff_feed_hub(runtime: Runtime) -> StaffFeedHub:
    """This process's staff feed hub (started with the app)."""
    return runtime.extras[STAFF_FEED_HUB]
