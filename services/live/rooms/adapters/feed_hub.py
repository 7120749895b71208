"""The room feed hub: one per live process, it puts RoomFeed events in order and writes them to local clients.

Why the hub writes to every client itself (docs/PERFORMANCE.md, "Room feed fan-out"): one event reaches thousands
of viewers of a room at once. It is framed once (the SSE bytes of the event, one msgspec encode), and the hub hands
the same bytes to each client's ASGI `send` in one loop. An ASGI server's `send` returns without suspending unless
the client's transport is paused, so that is a function call and a socket write per viewer, not a task, a queue and
a timer per viewer per event.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import msgspec
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from libs.bus import Bus
from libs.clock import Clock
from libs.contracts import RoomFeed, stream_for
from libs.db import Database
from libs.runtime import Runtime
from services.live.rooms import domain, store
from services.live.rooms.adapters.feed_clients import KEEP_ALIVE, FeedClient, body, frame

log = logging.getLogger(__name__)

Listener = Callable[[RoomFeed], Awaitable[None] | None]

# CPython collects its oldest generation after this many collections of the middle one (default 10), and only once it
# grew by a quarter. A live process holding thousands of viewers' connections has a large, lasting heap, and a burst
# of joins grows it quickly: with the default, full collections over that heap were half of live's CPU per join
# (docs/PERFORMANCE.md, "Room feed fan-out"). Young garbage is still collected as often as before.
FULL_COLLECTION_EVERY = 1000


class _FullCollections:
    """The process's collector setting while hubs run: made by the first to start, undone by the last to stop."""

    hubs = 0
    saved: tuple[int, int, int] = gc.get_threshold()

    @classmethod
    def spare(cls) -> None:
        if cls.hubs == 0:
            cls.saved = gen0, gen1, gen2 = gc.get_threshold()
            gc.set_threshold(gen0, gen1, max(gen2, FULL_COLLECTION_EVERY))
        cls.hubs += 1

    @classmethod
    def restore(cls) -> None:
        cls.hubs -= 1
        if cls.hubs == 0:
            gc.set_threshold(*cls.saved)


class Snapshot(Protocol):
    """What `FeedHub.read_state` shares: anything with the `seq` of the newest feed event it includes."""

    seq: int


S = TypeVar("S", bound=Snapshot)


@dataclass(eq=False)
class _StateRead(Generic[S]):
    generation: int
    task: asyncio.Task[S]


@dataclass(frozen=True)
class _Baseline:
    room_id: str
    seq: int


@dataclass(frozen=True)
class _GapExpired:
    room_id: str


@dataclass(eq=False)
class _RoomOrder:
    # Highest seq handed out (or given up on); None until the first event or a client's state says.
    delivered: int | None = None
    pending: dict[int, RoomFeed] = field(default_factory=dict)
    gap_timer: asyncio.TimerHandle | None = None
    touched: float = field(default_factory=time.monotonic)
    # The state read joiners of this room share while it runs (FeedHub.read_state).
    reading: _StateRead[Any] | None = None


class FeedHub:
    """Fans the room feed out to this process: `feed_hub(runtime)`, started by the live app (`start_feed_hub`).

    One ephemeral ordered JetStream push consumer (deliver new) on `live.room.feed.v1` feeds one
    dispatcher task, which puts each room's events in `seq` order: an event ahead of a missing seq
    waits up to `gap_wait_s` (1 s) for it, then the missing ones are skipped. In that order it calls
    every listener and frames each event once for the room's local clients (`subscribe`); what it
    framed in one round (the events that were waiting) goes to each client as one write.

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
        backlog_bytes: int = 1 << 20,
        viewers_every_s: float = 2.0,
        keepalive_s: float = 15.0,
    ) -> None:
        self.bus = bus
        self.db = db
        self.clock = clock
        self.gap_wait_s = gap_wait_s
        # A client with more events (or bytes) than this not yet written is disconnected.
        self.queue_size = queue_size
        self.backlog_bytes = backlog_bytes
        self.viewers_every_s = viewers_every_s
        self._keepalive_s = keepalive_s
        # Rooms with clients, by when their clients were last all written to (oldest first), and the one timer that
        # sends keep-alives to the rooms quiet for `keepalive_s`.
        self._quiet: dict[str, float] = {}
        self._keepalive_timer: asyncio.TimerHandle | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self._inbox: asyncio.Queue[RoomFeed | _Baseline | _GapExpired] = asyncio.Queue()
        self._rooms: dict[str, _RoomOrder] = {}
        self._clients: dict[str, set[FeedClient]] = {}
        # Per room, the frames of the dispatcher's current round, written when the inbox is empty.
        self._outgoing: dict[str, list[tuple[int, bytes]]] = {}
        self._listeners: list[Listener] = []
        self._nats_sub: Any = None
        self.state_reads = 0

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
        _FullCollections.spare()  # the process's setting while this hub runs (the last hub to stop restores it)
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
        if self.tasks:
            _FullCollections.restore()
            self.tasks = []
        if self._keepalive_timer is not None:
            self._keepalive_timer.cancel()
            self._keepalive_timer = None
        for order in self._rooms.values():
            if order.gap_timer is not None:
                order.gap_timer.cancel()
            if order.reading is not None:
                order.reading.task.cancel()
        for clients in list(self._clients.values()):
            for client in list(clients):
                client.close()

    @property
    def keepalive_s(self) -> float:
        """A room's clients written nothing for this long get a keep-alive comment (and again after as long)."""
        return self._keepalive_s

    @keepalive_s.setter
    def keepalive_s(self, value: float) -> None:
        self._keepalive_s = value
        if self._keepalive_timer is not None:
            self._keepalive_timer.cancel()
            self._keepalive_timer = None
        self._arm_keepalive()

    # --- for clients and listeners -----------------------------------------------------------

    def add_listener(self, callback: Listener) -> None:
        """Call `callback(event)` for every RoomFeed event, per room in seq order (see the class docstring)."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Listener) -> None:
        self._listeners.remove(callback)

    def subscribe(self, room_id: str) -> FeedClient:
        """Start keeping the room's events for a client; call before reading its state, then `ready`, `attach`."""
        order = self._rooms.get(room_id)
        if order is None:
            order = self._rooms[room_id] = _RoomOrder()
        client = FeedClient(self, room_id, order.delivered, self.state_reads)
        clients = self._clients.get(room_id)
        if clients is None:
            clients = self._clients[room_id] = set()
            self._wrote(room_id, asyncio.get_running_loop().time())  # keep-alives count from its first client
        clients.add(client)
        return client

    async def read_state(self, client: FeedClient, read: Callable[[], Awaitable[S]]) -> S:
        """The client's state: from a read of the room that joiners share while it runs (one per burst of joins).

        A shared read may have started before `client` subscribed, so it serves only if its `seq` is at least the
        room's last seq sent to clients when `client` subscribed (then everything after it is in the client's kept
        events); otherwise the client waits for a read started after it subscribed, which always is.
        `read()` runs in a task of its own, so a joiner that goes away does not cancel the others' read.
        """
        order = self._rooms[client.room_id]
        retry = False
        while True:
            shared = order.reading
            if shared is None or (retry and shared.generation < client.read_from):
                shared = self._start_read(order, read)
            snapshot: S = await asyncio.shield(shared.task)
            if client.since is None or snapshot.seq >= client.since:
                return snapshot
            retry = True

    def clients(self, room_id: str) -> int:
        """How many local clients watch the room's feed."""
        return len(self._clients.get(room_id, ()))

    def _start_read(self, order: _RoomOrder, read: Callable[[], Awaitable[S]]) -> _StateRead[S]:
        shared = _StateRead(self.state_reads, asyncio.ensure_future(read()))
        self.state_reads += 1
        order.reading = shared

        def done(task: asyncio.Task[S]) -> None:
            if order.reading is shared:
                order.reading = None
            if not task.cancelled():
                task.exception()  # retrieved: every joiner that waited got it already

        shared.task.add_done_callback(done)
        return shared

    def client_ready(self, client: FeedClient) -> None:
        """`client` has its state (FeedClient.ready): the room's order starts there if nothing else said where."""
        order = self._rooms.get(client.room_id)
        if order is not None and order.delivered is None:
            # The first client's state fixes where this room's order starts.
            self._enqueue(_Baseline(client.room_id, client.after_seq))  # type: ignore[arg-type]

    def unsubscribe(self, client: FeedClient) -> None:
        """`client` is gone (FeedClient.close)."""
        clients = self._clients.get(client.room_id)
        if clients is not None:
            clients.discard(client)
            if not clients:
                del self._clients[client.room_id]
                self._quiet.pop(client.room_id, None)
                order = self._rooms.get(client.room_id)
                if order is not None and order.delivered is None and not order.pending and order.reading is None:
                    del self._rooms[client.room_id]  # nothing learnt (an unknown room's 404): nothing kept

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
            while True:
                try:
                    await self._handle(item)
                except Exception:  # one bad event must not end every room's feed on this instance
                    log.exception("feed hub: could not handle %r", item)
                if self._inbox.empty():
                    break
                item = self._inbox.get_nowait()
            self._flush()

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
        if event.room_id in self._clients:
            data = msgspec.json.encode({**event.data, "room_id": event.room_id, "seq": event.seq})
            self._outgoing.setdefault(event.room_id, []).append((event.seq, frame(event.kind, event.seq, data)))
        for listener in list(self._listeners):
            try:
                result = listener(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("feed hub: listener %r failed on %s #%d", listener, event.kind, event.seq)

    def _flush(self) -> None:
        """Write this round's frames: per room, one chunk, the same bytes to each client."""
        outgoing, self._outgoing = self._outgoing, {}
        now = asyncio.get_running_loop().time()
        for room_id, frames in outgoing.items():
            clients = self._clients.get(room_id)
            if not clients:
                continue
            chunk = frames[0][1] if len(frames) == 1 else b"".join(data for _, data in frames)
            message = body(chunk)
            first_seq = frames[0][0]
            for client in tuple(clients):  # a client may be closed (and leave the set) on the way
                client.deliver(message, first_seq, frames)
            self._wrote(room_id, now)

    # --- viewer counts and keep-alives ----------------------------------------------------------

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
            data: bytes | None = None
            for client in tuple(self._clients.get(room_id, ())):
                if client.after_seq is not None and client.viewers != count:
                    if data is None:
                        payload = msgspec.json.encode({"room_id": room_id, "concurrent_viewers": count})
                        data = frame(domain.VIEWERS, None, payload)
                    client.viewers = count
                    client.offer(data)

    def _wrote(self, room_id: str, at: float) -> None:
        """Every client of the room was written to at `at` (loop time): its next keep-alive is due `keepalive_s` on."""
        self._quiet.pop(room_id, None)
        self._quiet[room_id] = at
        self._arm_keepalive()

    def _arm_keepalive(self) -> None:
        if self._keepalive_timer is None and self._quiet:
            due = next(iter(self._quiet.values())) + self._keepalive_s
            self._keepalive_timer = asyncio.get_running_loop().call_at(due, self._send_keep_alives)

    def _send_keep_alives(self) -> None:
        """A keep-alive comment to the clients of each room written nothing for `keepalive_s`: never longer than
        that without a byte, as proxies need (one who joined since gets it sooner, which does no harm)."""
        self._keepalive_timer = None
        now = asyncio.get_running_loop().time()
        try:
            for room_id, at in list(self._quiet.items()):
                if at + self._keepalive_s > now + 0.001:  # (a timer may fire a hair early)
                    break  # the rest were written to later
                clients = self._clients.get(room_id)
                if not clients:
                    del self._quiet[room_id]
                    continue
                for client in tuple(clients):
                    if client.send is not None:
                        client.offer(KEEP_ALIVE)
                self._quiet.pop(room_id)
                self._quiet[room_id] = now
        except Exception:
            log.exception("feed hub: could not send keep-alives")
        self._arm_keepalive()

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
