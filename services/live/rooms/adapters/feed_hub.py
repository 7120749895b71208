"""The room feed hub: one per live process, it puts RoomFeed events in order and hands them to local clients."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from libs.bus import Bus
from libs.clock import Clock
from libs.contracts import RoomFeed, stream_for
from libs.db import Database
from libs.runtime import Runtime
from services.live.rooms import domain, store

log = logging.getLogger(__name__)

Listener = Callable[[RoomFeed], Awaitable[None] | None]


@dataclass(frozen=True)
class FeedMessage:
    """One event for a client: `seq` is None for `viewers` (not from the outbox, so no place in the order)."""

    kind: str
    seq: int | None
    data: dict[str, Any]


# What a subscription's queue yields when the client must go (it overflowed, or the hub stopped).
CLOSED = FeedMessage("closed", None, {})
# What `FeedSubscription.next` answers when nothing happened for a while: time for a keep-alive comment.
IDLE = FeedMessage("idle", None, {})


class FeedSubscription:
    """One client's view of a room's feed: a bounded queue, filled before the client's state is read."""

    def __init__(self, hub: FeedHub, room_id: str, size: int) -> None:
        self.hub = hub
        self.room_id = room_id
        self.queue: asyncio.Queue[FeedMessage] = asyncio.Queue(maxsize=size)
        # The seq of the state the client got; until it is known, everything is kept.
        self.after_seq: int | None = None
        self.viewers: int | None = None
        self.closed = False

    def ready(self, seq: int, viewers: int) -> None:
        """The client got the state as of `seq`: events it already includes are dropped from the queue."""
        self.after_seq, self.viewers = seq, viewers
        kept = []
        while not self.queue.empty():
            message = self.queue.get_nowait()
            if message.seq is None or message.seq > seq:
                kept.append(message)
        for message in kept:
            self.queue.put_nowait(message)
        self.hub._enqueue(_Baseline(self.room_id, seq))

    def offer(self, message: FeedMessage) -> None:
        """Queue a message; a client too slow to keep up is closed (it reconnects and gets a fresh state)."""
        if self.closed or (message.seq is not None and self.after_seq is not None and message.seq <= self.after_seq):
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            log.info("feed client of room %s fell %d events behind; disconnecting it", self.room_id, self.queue.qsize())
            self.close()

    async def next(self, timeout: float) -> FeedMessage:
        """The next message, IDLE after `timeout` seconds without one, CLOSED once the client must go."""
        if not self.queue.empty():
            return self.queue.get_nowait()
        if self.closed:
            return CLOSED
        # Not wait_for: on 3.11 it can time out a get that already took a message, losing it.
        getter = asyncio.ensure_future(self.queue.get())
        try:
            await asyncio.wait({getter}, timeout=timeout)
        finally:
            if not getter.done():
                getter.cancel()  # a cancelled get leaves its message in the queue
        return getter.result() if getter.done() and not getter.cancelled() else IDLE

    def close(self) -> None:
        """Stop receiving; whoever reads the queue gets CLOSED next."""
        if self.closed:
            return
        self.closed = True
        self.hub._unsubscribe(self)
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(CLOSED)


@dataclass(frozen=True)
class _Baseline:
    room_id: str
    seq: int


@dataclass(frozen=True)
class _GapExpired:
    room_id: str


@dataclass
class _RoomOrder:
    # Highest seq handed out (or given up on); None until the first event or a client's state says.
    delivered: int | None = None
    pending: dict[int, RoomFeed] = field(default_factory=dict)
    gap_timer: asyncio.TimerHandle | None = None
    touched: float = field(default_factory=time.monotonic)


class FeedHub:
    """Fans the room feed out to this process: `feed_hub(runtime)`, started by the live app (`start_feed_hub`).

    One ephemeral ordered JetStream push consumer (deliver new) on `live.room.feed.v1` feeds one
    dispatcher task, which puts each room's events in `seq` order: an event ahead of a missing seq
    waits up to `gap_wait_s` (1 s) for it, then the missing ones are skipped. In that order it offers
    each event to the room's local clients (`subscribe`) and calls every listener.

    Listeners (`add_listener(callback)`): `callback(event: RoomFeed) -> Awaitable[None] | None`, sync or
    async, called (and awaited) for every decoded RoomFeed of every room — with or without local clients,
    written by this instance or another — in `seq` order per room. Calls run one at a time in the
    dispatcher, so a listener must be quick; an exception it raises is logged and swallowed.
    """

    def __init__(
        self,
        bus: Bus,
        db: Database,
        clock: Clock,
        *,
        gap_wait_s: float = 1.0,
        queue_size: int = 256,
        viewers_every_s: float = 2.0,
        keepalive_s: float = 15.0,
    ) -> None:
        self.bus = bus
        self.db = db
        self.clock = clock
        self.gap_wait_s = gap_wait_s
        self.queue_size = queue_size
        self.viewers_every_s = viewers_every_s
        self.keepalive_s = keepalive_s
        self.tasks: list[asyncio.Task[None]] = []
        self._inbox: asyncio.Queue[RoomFeed | _Baseline | _GapExpired] = asyncio.Queue()
        self._rooms: dict[str, _RoomOrder] = {}
        self._clients: dict[str, set[FeedSubscription]] = {}
        self._listeners: list[Listener] = []
        self._nats_sub: Any = None

    # --- for the app -----------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to the feed on NATS and start the dispatcher and the viewer counter."""
        self._nats_sub = await self.bus.js.subscribe(
            self.bus.subject(RoomFeed.SUBJECT),
            stream=self.bus.stream(stream_for(RoomFeed.SUBJECT)),
            cb=self._on_message,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
        )
        self.tasks = [
            asyncio.create_task(self._dispatch(), name="live-feed-dispatch"),
            asyncio.create_task(self._count_viewers(), name="live-feed-viewers"),
        ]

    async def stop(self) -> None:
        """Unsubscribe, stop the tasks, and send every local client away."""
        if self._nats_sub is not None:
            try:
                await self._nats_sub.unsubscribe()
            except Exception as exc:  # NATS may be gone already; nothing is left to clean then
                log.debug("feed hub: unsubscribe failed: %s", exc)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for order in self._rooms.values():
            if order.gap_timer is not None:
                order.gap_timer.cancel()
        for clients in list(self._clients.values()):
            for client in list(clients):
                client.close()

    # --- for clients and listeners -----------------------------------------------------------

    def add_listener(self, callback: Listener) -> None:
        """Call `callback(event)` for every RoomFeed event, per room in seq order (see the class docstring)."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Listener) -> None:
        self._listeners.remove(callback)

    def subscribe(self, room_id: str) -> FeedSubscription:
        """Start collecting the room's events for a client; call before reading its state, then `ready`."""
        client = FeedSubscription(self, room_id, self.queue_size)
        self._clients.setdefault(room_id, set()).add(client)
        self._rooms.setdefault(room_id, _RoomOrder())
        return client

    def clients(self, room_id: str) -> int:
        """How many local clients watch the room's feed."""
        return len(self._clients.get(room_id, ()))

    def _unsubscribe(self, client: FeedSubscription) -> None:
        clients = self._clients.get(client.room_id)
        if clients is not None:
            clients.discard(client)
            if not clients:
                del self._clients[client.room_id]

    def _enqueue(self, item: RoomFeed | _Baseline | _GapExpired) -> None:
        self._inbox.put_nowait(item)

    # --- ordering ------------------------------------------------------------------------------

    async def _on_message(self, msg: Msg) -> None:
        try:
            event = msgspec.json.decode(msg.data, type=RoomFeed)
        except msgspec.DecodeError:
            log.warning("feed hub: undecodable message on %s dropped", msg.subject)
            return
        self._enqueue(event)

    async def _dispatch(self) -> None:
        while True:
            item = await self._inbox.get()
            try:
                await self._handle(item)
            except Exception:  # one bad event must not end every room's feed on this instance
                log.exception("feed hub: could not handle %r", item)

    async def _handle(self, item: RoomFeed | _Baseline | _GapExpired) -> None:
        order = self._rooms.setdefault(item.room_id, _RoomOrder())
        order.touched = time.monotonic()
        if isinstance(item, _Baseline):
            if order.delivered is None:
                # The first client's state fixes where this room's order starts; what it already
                # includes still goes to the listeners, which see every event.
                order.delivered = item.seq
                for seq in sorted(s for s in order.pending if s <= item.seq):
                    await self._deliver(order.pending.pop(seq))
        elif isinstance(item, _GapExpired):
            order.gap_timer = None
            if order.pending:
                first = min(order.pending)
                if order.delivered is not None:
                    log.warning(
                        "feed of room %s: seq %d..%d never came; skipped", item.room_id, order.delivered + 1, first - 1
                    )
                order.delivered = first - 1
        else:
            if order.delivered is None and item.room_id not in self._clients and not order.pending:
                # A room nobody here watches: start where it is (listeners get everything from now on).
                order.delivered = item.seq - 1
            if order.delivered is not None and item.seq <= order.delivered:
                return  # a duplicate, or a latecomer already given up on
            order.pending[item.seq] = item
        await self._drain(item.room_id, order)

    async def _drain(self, room_id: str, order: _RoomOrder) -> None:
        while order.delivered is not None and order.delivered + 1 in order.pending:
            event = order.pending.pop(order.delivered + 1)
            order.delivered = event.seq
            await self._deliver(event)
        if order.pending and order.gap_timer is None:
            loop = asyncio.get_running_loop()
            order.gap_timer = loop.call_later(self.gap_wait_s, self._enqueue, _GapExpired(room_id))
        elif not order.pending and order.gap_timer is not None:
            order.gap_timer.cancel()
            order.gap_timer = None

    async def _deliver(self, event: RoomFeed) -> None:
        message = FeedMessage(event.kind, event.seq, {**event.data, "room_id": event.room_id, "seq": event.seq})
        for client in list(self._clients.get(event.room_id, ())):
            client.offer(message)
        for listener in list(self._listeners):
            try:
                result = listener(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("feed hub: listener %r failed on %s #%d", listener, event.kind, event.seq)

    # --- viewer counts -------------------------------------------------------------------------

    async def _count_viewers(self) -> None:
        while True:
            await asyncio.sleep(self.viewers_every_s)
            try:
                await self._send_viewer_counts()
                self._forget_idle_rooms()
            except Exception:
                log.exception("feed hub: could not count viewers")

    async def _send_viewer_counts(self) -> None:
        """Each room with local clients: the present viewers, to every client whose last count differs."""
        rooms = list(self._clients)
        if not rooms:
            return
        async with self.db.transaction() as conn:
            counts = await store.visits.concurrent_viewers(conn, rooms, domain.stale_before(self.clock.now()))
        for room_id in rooms:
            count = counts.get(room_id, 0)
            for client in list(self._clients.get(room_id, ())):
                if client.after_seq is not None and client.viewers != count:
                    client.viewers = count
                    client.offer(FeedMessage(domain.VIEWERS, None, {"room_id": room_id, "concurrent_viewers": count}))

    def _forget_idle_rooms(self, idle_s: float = 600.0) -> None:
        """Drop the order of rooms nobody here watched or heard from for a while (memory stays bounded)."""
        now = time.monotonic()
        for room_id, order in list(self._rooms.items()):
            if room_id not in self._clients and not order.pending and now - order.touched > idle_s:
                del self._rooms[room_id]


# Where this process's hub lives on the runtime.
FEED_HUB = "feed_hub"


async def start_feed_hub(runtime: Runtime) -> FeedHub:
    """Make and start this process's hub; `feed_hub(runtime)` answers it from then on."""
    hub = FeedHub(runtime.bus, runtime.db, runtime.clock)
    await hub.start()
    runtime.extras[FEED_HUB] = hub
    # Among the loops /ready watches: a stopped dispatcher means this instance's feed clients hear nothing.
    runtime.tasks.extend(hub.tasks)
    return hub


def feed_hub(runtime: Runtime) -> FeedHub:
    """This process's room feed hub (started with the app)."""
    return runtime.extras[FEED_HUB]
