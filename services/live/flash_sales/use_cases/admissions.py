"""The flash-sale admission engine (`Admissions`): per sale, purchases queue and are decided one transaction per batch.

Why: a hot-row `UPDATE ... WHERE remaining > 0` per request caps near the commit rate of one row. Here
every request that arrives while a batch commits joins the next batch; one flusher task per sale and
process runs them. The sale's row lock (`FOR UPDATE`) serialises batches of all instances, so the
per-buyer limit and the stock count hold globally. While a sale is sold out (or ended) each process
answers from memory: a retried key that was admitted gets its admission from a dict loaded once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg
from opentelemetry import baggage, context, trace

from libs.contracts import Admission, FlashSaleAdmitted, RoomFeed
from libs.errors import DomainError, IdempotencyKeyReused
from libs.ids import canonical_uuid, derived_id
from libs.runtime import Runtime
from libs.telemetry import names
from services.live.flash_sales import domain, store
from services.live.flash_sales.domain import Ask, Decision, LimitReached, PurchaseUndecided, SaleNotFound, SoldOut
from services.live.flash_sales.views import Admitted

log = logging.getLogger(__name__)

# Most requests one transaction decides: bounds its duration (and the wait of those queued behind it).
BATCH_CAP = 512
# While a sale looks sold out, look at the database at most this often in case a feed event was missed.
RECHECK_S = 1.0
# Sales this process remembers (their static terms; sold-out answers); the least recently used go first.
MAX_SALES = 4096
MAX_LINKS = 64
# A batch is decided on a snapshot and written only if nothing moved meanwhile; after this many conflicts in a
# row (other instances' batches, an expiry, the room's feed) it takes the locks instead, so it always ends.
OPTIMISTIC_TRIES = 3
# Where this process's engine lives on the runtime (`admissions_of`).
ADMISSIONS = "flash_sale_admissions"
# Before taking a batch, wait while requests keep arriving (up to the cap): right after a batch is answered its
# buyers' next requests are still being parsed, and a batch of the first of them alone would run its round
# trips on a busy event loop while the rest queue behind it.
LINGER_S = 0.002
MAX_LINGER_S = 0.02


# A purchase's answer: the admission, or the refusal (returned, not raised: see `Admissions.purchase`).
Answer = Admitted | DomainError


@dataclass
class Pending:
    ask: Ask
    future: asyncio.Future[Answer]
    link: trace.Link | None


@dataclass
class SaleState:
    """What this process knows of one sale: its fixed terms, whether it is known sold out or ended, its queue."""

    sale_id: str
    room_id: str
    sku_id: str
    price_minor: int
    currency: str
    per_buyer_limit: int
    starts_at: datetime
    ends_at: datetime
    ended: bool = False
    sold_out: bool = False
    checked_at: float = 0.0
    # (buyer, key) -> (units asked, answer): every admission, while none can be added (sold out or ended).
    closed: dict[tuple[str, str], tuple[int, Admitted]] | None = None
    pending: list[Pending] = field(default_factory=list)
    flusher: asyncio.Task[None] | None = None
    checking: asyncio.Task[None] | None = None
    loading: asyncio.Task[bool] | None = None

    @classmethod
    def of(cls, row: asyncpg.Record) -> SaleState:
        return cls(
            sale_id=str(row["sale_id"]),
            room_id=str(row["room_id"]),
            sku_id=str(row["sku_id"]),
            price_minor=row["price_minor"],
            currency=row["currency"],
            per_buyer_limit=row["per_buyer_limit"],
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            ended=row["status"] == "ended",
        )

    def admission(self, admission_id: str, order_id: str, quantity: int, pay_by: datetime) -> Admitted:
        """A buyer's answer for an admission of this sale, at its price."""
        return Admitted(
            admission_id=admission_id,
            order_id=order_id,
            sale_id=self.sale_id,
            quantity=quantity,
            unit_price_minor=self.price_minor,
            currency=self.currency,
            pay_by=pay_by,
        )

    def admitted(self, row: asyncpg.Record) -> Admitted:
        """The answer for a stored admission row."""
        return self.admission(str(row["admission_id"]), str(row["order_id"]), row["quantity"], row["pay_by"])

    def learn_sold_out(self, sold_out: bool) -> None:
        if sold_out != self.sold_out:
            self.closed = None if not self.ended else self.closed
        self.sold_out = sold_out
        self.checked_at = time.monotonic()


@dataclass
class Plan:
    """A batch decided on one snapshot: each ask's decision, the units left, and the rows to write."""

    now: datetime
    status: str
    decisions: list[Decision]
    left: int
    pay_by: datetime
    prior: dict[tuple[str, str], store.Prior]
    rows: list[tuple[str, str, str, str, int, int]] = field(default_factory=list)
    granted: dict[int, Admitted] = field(default_factory=dict)


def admission_ids(sale_id: str, buyer_id: str, key: str) -> tuple[str, str]:
    """(admission id, order id) of a purchase: the same for every retry of it, so buyers can poll the order."""
    admission_id = derived_id("flash-sale-admission", sale_id, buyer_id, key)
    return admission_id, derived_id("flash-sale-order", admission_id)


def resolve(future: asyncio.Future[Answer], answer: Answer) -> None:
    """Hand a waiting purchase its answer (unless it stopped waiting)."""
    if not future.done():
        future.set_result(answer)


class Admissions:
    """Every sale this process has seen, and the batches that admit their buyers."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.sales: OrderedDict[str, SaleState] = OrderedDict()
        # Snapshots a batch may be decided on before it takes the locks instead (see `_decide`).
        self.optimistic_tries = OPTIMISTIC_TRIES
        self.batches = runtime.telemetry.meter.create_counter(
            names.FLASH_SALE_BATCHES, unit="{batch}", description="Flash-sale admission batch writes, by result"
        )
        self._loading: dict[str, asyncio.Future[SaleState | None]] = {}

    # --- the request path ------------------------------------------------------------------

    async def purchase(self, room_id: str, sale_id: str, buyer_id: str, key: str, quantity: int) -> Answer:
        """Admit `quantity` units to the buyer, or the refusal that says why not (returned: refusals are the
        common case once a sale sells out, and raising costs more than answering)."""
        state = await self._sale_state(sale_id)
        if state is None or state.room_id != canonical_uuid(room_id):
            return SaleNotFound()
        if not 1 <= quantity <= state.per_buyer_limit:
            return domain.bad_quantity(state.per_buyer_limit)
        status = domain.current_status(
            "ended" if state.ended else "running", state.starts_at, state.ends_at, self.now()
        )
        if status == "scheduled":
            return domain.not_running(status)
        if status == "ended":
            return await self._from_closed(state, Ask(buyer_id, key, quantity), domain.not_running, "ended")
        if state.sold_out:
            self.recheck_if_stale(state)
            return await self._from_closed(state, Ask(buyer_id, key, quantity), SoldOut)
        return await self._enqueue(state, Ask(buyer_id, key, quantity))

    def known_sale(self, sale_id: str, room_id: str) -> SaleState | None:
        """The sale if this process has it loaded and it is of that room (ids as canonical strings); else None,
        and nothing is loaded (the purchase middleware leaves the first request of a sale to the handler)."""
        state = self.sales.get(sale_id)
        return state if state is not None and state.room_id == room_id else None

    def recheck_if_stale(self, state: SaleState) -> None:
        """Look at the database again in the background when a sold-out flag is older than RECHECK_S: nobody
        waits for it, the answers after it use what it finds."""
        if state.checking is None and time.monotonic() - state.checked_at > RECHECK_S:
            state.checking = asyncio.create_task(self._check(state))

    def now(self) -> datetime:
        return self.runtime.clock.now()

    async def _sale_state(self, sale_id: str) -> SaleState | None:
        parsed = canonical_uuid(sale_id)
        if parsed is None:
            return None
        state = self.sales.get(parsed)
        if state is not None:
            self.sales.move_to_end(parsed)
            return state
        # One read per sale however many requests arrive before it is known.
        loading = self._loading.get(parsed)
        if loading is None:
            loading = asyncio.get_running_loop().create_future()
            self._loading[parsed] = loading
            try:
                row = await store.fetch_sale(self.runtime.db, parsed)
                state = SaleState.of(row) if row else None
                if state is not None:
                    self._remember(state)
                loading.set_result(state)
            except BaseException as exc:
                loading.set_exception(exc)
                raise
            finally:
                del self._loading[parsed]
            return state
        return await asyncio.shield(loading)

    def _remember(self, state: SaleState) -> None:
        self.sales[state.sale_id] = state
        while len(self.sales) > MAX_SALES:
            oldest_id, oldest = next(iter(self.sales.items()))
            if oldest.pending or oldest.flusher:
                self.sales.move_to_end(oldest_id)
                break
            del self.sales[oldest_id]

    async def _from_closed(self, state: SaleState, ask: Ask, refusal: Callable[..., DomainError], *args: str) -> Answer:
        """Answer while no admission can be added: the buyer's own for a retried key, else the refusal."""
        if state.closed is None:
            if state.loading is None:
                state.loading = asyncio.create_task(self._load_closed(state))
            # One snapshot per sale however many ask at once.
            if not await asyncio.shield(state.loading):
                # The sale was not closed after all (a unit came back): decide it in a batch.
                return await self._enqueue(state, ask)
        if state.closed is not None:
            found = state.closed.get((ask.buyer_id, ask.key))
        else:
            # Past the end by the clock but not yet ended in the database: look this one up.
            row = await store.admission(self.runtime.db, state.sale_id, ask.buyer_id, ask.key)
            found = (row["asked"], state.admitted(row)) if row else None
        if found is None:
            return refusal(*args)
        return found[1] if found[0] == ask.quantity else IdempotencyKeyReused()

    async def _load_closed(self, state: SaleState) -> bool:
        """Load every admission of a closed sale from one snapshot; False if it turned out to be open."""
        try:
            async with (
                self.runtime.db.pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                row = await store.fetch_sale(conn, state.sale_id)
                admissions = await store.sale_admissions(conn, state.sale_id)
            if row["status"] == "ended":
                state.ended = True
            elif row["remaining"] > 0:
                if state.sold_out:
                    state.learn_sold_out(False)
                # Open by the database; a sale past its end by the clock is answered per request.
                return self.now() >= state.ends_at
            state.closed = {(a["buyer_id"], a["idempotency_key"]): (a["asked"], state.admitted(a)) for a in admissions}
            return True
        finally:
            state.loading = None

    async def _check(self, state: SaleState) -> None:
        """Is a sale that looks sold out still sold out? (In case a feed event from another instance was lost.)"""
        try:
            row = await store.fetch_sale(self.runtime.db, state.sale_id)
            if row is not None:
                state.ended = state.ended or row["status"] == "ended"
                state.learn_sold_out(row["remaining"] == 0)
        finally:
            state.checking = None

    async def _enqueue(self, state: SaleState, ask: Ask) -> Answer:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        span = trace.get_current_span().get_span_context()
        state.pending.append(Pending(ask, future, trace.Link(span) if span.is_valid else None))
        if state.flusher is None:
            state.flusher = asyncio.create_task(self._flush(state), name=f"flash-sale-{state.sale_id}")
        return await future

    # --- the batch -------------------------------------------------------------------------------

    async def _flush(self, state: SaleState) -> None:
        # One connection for the whole rush: its prepared statements stay warm and no batch pays for a pool
        # checkout and reset. A failed batch gives it back (a broken one is replaced) and the next takes another.
        pool = self.runtime.db.pool
        conn: asyncpg.Connection | None = None
        try:
            while state.pending:
                await _linger(state)
                batch = state.pending[:BATCH_CAP]
                del state.pending[:BATCH_CAP]
                try:
                    conn = conn or await pool.acquire()
                    await self._admit(state, batch, conn)
                except Exception:
                    log.exception(
                        "flash sale %s: a batch of %d failed; nothing of it was written", state.sale_id, len(batch)
                    )
                    for pending in batch:
                        resolve(pending.future, PurchaseUndecided("the purchase could not be decided; try again"))
                    if conn is not None:
                        released, conn = conn, None
                        await pool.release(released)
        except asyncio.CancelledError:
            # Shutting down: nobody will decide what is left.
            for pending in state.pending:
                resolve(pending.future, PurchaseUndecided("the service is stopping; try again"))
            state.pending.clear()
            raise
        finally:
            # Before the release's await: a request arriving meanwhile starts a flusher of its own.
            state.flusher = None
            if conn is not None:
                await pool.release(conn)

    async def _admit(self, state: SaleState, batch: list[Pending], conn: asyncpg.Connection) -> None:
        links = [p.link for p in batch[:MAX_LINKS] if p.link is not None]
        token = context.attach(baggage.set_baggage(names.ROOM_ID, state.room_id, context.Context()))
        try:
            attributes = {names.ROOM_ID: state.room_id, names.SKU_ID: state.sku_id, "liveloop.batch.size": len(batch)}
            with self.runtime.telemetry.tracer.start_as_current_span(
                "live.flash_sale admit", links=links, attributes=attributes
            ):
                answers = await self._decide(state, [p.ask for p in batch], conn)
        finally:
            context.detach(token)
        for pending, answer in zip(batch, answers, strict=True):
            resolve(pending.future, answer)

    async def _decide(self, state: SaleState, asks: list[Ask], conn: asyncpg.Connection) -> list[Answer]:
        """Decide a batch on a snapshot and write it if nothing moved meanwhile (two round trips, no lock held
        between them); again on a new snapshot if something did; after OPTIMISTIC_TRIES such conflicts in a row,
        under the room's and the sale's locks, so a batch always ends. Then the answers."""
        buyers, keys = [a.buyer_id for a in asks], [a.key for a in asks]
        for attempt in range(self.optimistic_tries):
            seen = await store.batch_snapshot(conn, state.sale_id, buyers, keys)
            plan = self._plan(state, asks, seen)
            if not plan.rows or await self._write(conn, state, seen, plan):
                return self._settle(state, asks, plan, attempt)
        async with conn.transaction():
            await store.lock_room_and_sale(conn, state.room_id, state.sale_id)
            seen = await store.batch_snapshot(conn, state.sale_id, buyers, keys)
            plan = self._plan(state, asks, seen)
            if plan.rows and not await self._write(conn, state, seen, plan, locked=True):
                raise store.BatchWriteMismatch(f"sale {state.sale_id}: the batch's write found the locked rows moved")
        return self._settle(state, asks, plan, self.optimistic_tries)

    def _plan(self, state: SaleState, asks: list[Ask], seen: store.BatchSnapshot) -> Plan:
        """Grant in arrival order on what the snapshot holds (domain.grant): the decisions and the rows to write."""
        now = self.now()
        sale = seen.sale
        status = domain.current_status(sale["status"], sale["starts_at"], sale["ends_at"], now)
        closed = None
        if seen.room_status != "live":
            closed = "room-not-live"
        elif status != "running":
            closed = f"sale-{status}"
        decisions, left = domain.grant(
            asks,
            remaining=sale["remaining"],
            limit=sale["per_buyer_limit"],
            held=seen.held,
            prior={pair: p.asked for pair, p in seen.prior.items()},
            closed=closed,
        )
        pay_by = now + timedelta(seconds=sale["pay_within_s"])
        plan = Plan(now, status, decisions, left, pay_by, seen.prior)
        for index, (ask, decision) in enumerate(zip(asks, decisions, strict=True)):
            if decision.outcome == domain.GRANTED and decision.duplicate_of is None:
                admission_id, order_id = admission_ids(state.sale_id, ask.buyer_id, ask.key)
                plan.rows.append((admission_id, ask.buyer_id, ask.key, order_id, ask.quantity, decision.quantity))
                plan.granted[index] = state.admission(admission_id, order_id, decision.quantity, pay_by)
        return plan

    async def _write(
        self, conn: asyncpg.Connection, state: SaleState, seen: store.BatchSnapshot, plan: Plan, *, locked: bool = False
    ) -> bool:
        """The batch's one statement: admissions, units, the event and the feed, numbered after the feed it saw."""
        seq, left = seen.feed_seq, plan.left
        stock = {"sale_id": state.sale_id, "remaining": left}
        feed = [RoomFeed(room_id=state.room_id, seq=seq + 1, kind=domain.SALE_STOCK, data=stock)]
        if left == 0:
            sold_out = {"sale_id": state.sale_id}
            feed.append(RoomFeed(room_id=state.room_id, seq=seq + 2, kind=domain.SALE_SOLD_OUT, data=sold_out))
        events = [self._admitted_event(state, seen.sale, plan.rows, plan.now), *feed]
        written = await store.admit(
            conn, seen, plan.rows, plan.now, plan.pay_by, events, left=left, feed_seq=feed[-1].seq
        )
        result = "conflict" if not written else "locked" if locked else "written"
        self.batches.add(1, {names.FLASH_SALE_BATCH_RESULT: result})
        return written

    def _settle(self, state: SaleState, asks: list[Ask], plan: Plan, conflicts: int) -> list[Answer]:
        """Decided (and written, if anything was granted): what this process now knows, and the answers."""
        trace.get_current_span().set_attribute("liveloop.batch.conflicts", conflicts)
        if plan.status == "ended":
            state.ended = True
        state.learn_sold_out(plan.left == 0)
        return [self._answer(state, asks[i], i, d, plan) for i, d in enumerate(plan.decisions)]

    def _admitted_event(
        self, state: SaleState, sale: asyncpg.Record, rows: list[tuple], now: datetime
    ) -> FlashSaleAdmitted:
        return FlashSaleAdmitted(
            sale_id=state.sale_id,
            room_id=state.room_id,
            merchant_id=str(sale["merchant_id"]),
            sku_id=str(sale["sku_id"]),
            product_id=str(sale["product_id"]),
            title=sale["title"],
            sku_name=sale["sku_name"],
            unit_price_minor=sale["price_minor"],
            currency=sale["currency"],
            pay_within_s=sale["pay_within_s"],
            admissions=[
                Admission(admission_id=a, order_id=o, buyer_id=b, quantity=q, admitted_at=now)
                for a, b, _, o, _, q in rows
            ],
        )

    def _answer(self, state: SaleState, ask: Ask, index: int, decision: Decision, plan: Plan) -> Answer:
        outcome = decision.outcome
        if outcome == domain.GRANTED:
            return plan.granted[decision.duplicate_of if decision.duplicate_of is not None else index]
        if outcome == domain.REPLAY:
            prior = plan.prior[(ask.buyer_id, ask.key)]
            return state.admission(prior.admission_id, prior.order_id, prior.quantity, prior.pay_by)
        if outcome == domain.SOLD_OUT:
            return SoldOut()
        if outcome == domain.LIMIT_REACHED:
            return LimitReached(state.per_buyer_limit)
        if outcome == domain.KEY_REUSED:
            return IdempotencyKeyReused()
        if outcome == "room-not-live":
            return domain.room_not_live()
        return domain.not_running(outcome.removeprefix("sale-"))

    # --- what other instances tell ---------------------------------------------------------------

    def on_feed(self, event: RoomFeed) -> None:
        """Keep sold-out and ended flags in step with batches and ends of other instances."""
        if not event.kind.startswith("sale."):
            return
        state = self.sales.get(str(event.data.get("sale_id", "")))
        if state is None:
            return
        if event.kind == domain.SALE_STOCK:
            remaining = event.data.get("remaining")
            if isinstance(remaining, int):
                state.learn_sold_out(remaining == 0)
        elif event.kind == domain.SALE_SOLD_OUT:
            state.learn_sold_out(True)
        elif event.kind == domain.SALE_ENDED:
            state.ended = True

    def note_ended(self, sale_id: str) -> None:
        """This process ended the sale itself."""
        state = self.sales.get(sale_id)
        if state is not None:
            state.ended = True

    async def close(self) -> None:
        """Stop this process's flushers and background reads (their waiting requests get 503)."""
        tasks = [t for s in self.sales.values() for t in (s.flusher, s.checking, s.loading) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _linger(state: SaleState) -> None:
    # Bounded by the clock, not by a count of naps: on a busy loop one nap of 2 ms can last far longer.
    until = time.monotonic() + MAX_LINGER_S
    while len(state.pending) < BATCH_CAP and time.monotonic() < until:
        before = len(state.pending)
        await asyncio.sleep(LINGER_S)
        if len(state.pending) == before:
            return


def admissions_of(runtime: Runtime) -> Admissions:
    """This process's admission engine (made on first use if the app's start has not made it)."""
    found = runtime.extras.get(ADMISSIONS)
    if found is None:
        found = runtime.extras[ADMISSIONS] = Admissions(runtime)
    return found
