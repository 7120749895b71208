"""The flash-sale admission engine: per sale, purchases queue and are decided one transaction per batch.

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
from datetime import datetime, timedelta

import asyncpg
from opentelemetry import baggage, context, trace

from libs.bus import add_events
from libs.contracts import Admission, FlashSaleAdmitted, RoomFeed
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names
from libs.web.problems import Problem
from services.live import feed
from services.live.sales import domain, flash, store
from services.live.sales.domain import Admitted, Ask, Decision
from services.live.sales.gate import Answer, Pending, SaleGate, admission_ids, settle

log = logging.getLogger(__name__)

# Most requests one transaction decides: bounds its duration (and the wait of those queued behind it).
BATCH_CAP = 512
# While a sale looks sold out, look at the database at most this often in case a feed event was missed.
RECHECK_S = 1.0
# Sales this process remembers (their static terms; sold-out answers); the least recently used go first.
MAX_SALES = 4096
MAX_LINKS = 64
# Where this process's engine lives on the runtime.
DESK = "flash_sale_desk"
# Before taking a batch, wait while requests keep arriving (up to the cap): right after a batch is answered its
# buyers' next requests are still being parsed, and a batch of the first of them alone would run its round
# trips on a busy event loop while the rest queue behind it.
LINGER_S = 0.002
MAX_LINGER_S = 0.02


class AdmissionDesk:
    """Every sale this process has seen, and the batches that admit their buyers."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.gates: OrderedDict[str, SaleGate] = OrderedDict()
        self._loading: dict[str, asyncio.Future[SaleGate | None]] = {}

    # --- the request path ------------------------------------------------------------------

    async def purchase(self, room_id: str, sale_id: str, buyer_id: str, key: str, quantity: int) -> Answer:
        """Admit `quantity` units to the buyer, or the Problem that says why not (returned: refusals are the
        common case once a sale sells out, and raising costs more than answering)."""
        gate = await self._gate(sale_id)
        if gate is None or gate.room_id != canonical_uuid(room_id):
            return flash.sale_not_found()
        if not 1 <= quantity <= gate.per_buyer_limit:
            return domain.bad_quantity(gate.per_buyer_limit)
        status = domain.current_status("ended" if gate.ended else "running", gate.starts_at, gate.ends_at, self.now())
        if status == "scheduled":
            return domain.not_running(status)
        if status == "ended":
            return await self._from_closed(gate, Ask(buyer_id, key, quantity), domain.not_running, "ended")
        if gate.sold_out:
            self.recheck_if_stale(gate)
            return await self._from_closed(gate, Ask(buyer_id, key, quantity), domain.sold_out)
        return await self._enqueue(gate, Ask(buyer_id, key, quantity))

    def known_gate(self, sale_id: str, room_id: str) -> SaleGate | None:
        """The sale if this process has it loaded and it is of that room (ids as canonical strings); else None,
        and nothing is loaded (the fast lane leaves the first request of a sale to the handler)."""
        gate = self.gates.get(sale_id)
        return gate if gate is not None and gate.room_id == room_id else None

    def recheck_if_stale(self, gate: SaleGate) -> None:
        """Look at the database again in the background when a sold-out flag is older than RECHECK_S: nobody
        waits for it, the answers after it use what it finds."""
        if gate.checking is None and time.monotonic() - gate.checked_at > RECHECK_S:
            gate.checking = asyncio.create_task(self._check(gate))

    def now(self) -> datetime:
        return self.runtime.clock.now()

    async def _gate(self, sale_id: str) -> SaleGate | None:
        parsed = canonical_uuid(sale_id)
        if parsed is None:
            return None
        gate = self.gates.get(parsed)
        if gate is not None:
            self.gates.move_to_end(parsed)
            return gate
        # One read per sale however many requests arrive before it is known.
        loading = self._loading.get(parsed)
        if loading is None:
            loading = asyncio.get_running_loop().create_future()
            self._loading[parsed] = loading
            try:
                row = await store.fetch_sale(self.runtime.db, parsed)
                gate = SaleGate.of(row) if row else None
                if gate is not None:
                    self._remember(gate)
                loading.set_result(gate)
            except BaseException as exc:
                loading.set_exception(exc)
                raise
            finally:
                del self._loading[parsed]
            return gate
        return await asyncio.shield(loading)

    def _remember(self, gate: SaleGate) -> None:
        self.gates[gate.sale_id] = gate
        while len(self.gates) > MAX_SALES:
            oldest_id, oldest = next(iter(self.gates.items()))
            if oldest.pending or oldest.flusher:
                self.gates.move_to_end(oldest_id)
                break
            del self.gates[oldest_id]

    async def _from_closed(self, gate: SaleGate, ask: Ask, refusal: Callable[..., Problem], *args: str) -> Answer:
        """Answer while no admission can be added: the buyer's own for a retried key, else the refusal."""
        if gate.closed is None:
            if gate.loading is None:
                gate.loading = asyncio.create_task(self._load_closed(gate))
            # One snapshot per sale however many ask at once.
            if not await asyncio.shield(gate.loading):
                # The sale was not closed after all (a unit came back): decide it in a batch.
                return await self._enqueue(gate, ask)
        if gate.closed is not None:
            found = gate.closed.get((ask.buyer_id, ask.key))
        else:
            # Past the end by the clock but not yet ended in the database: look this one up.
            row = await store.admission(self.runtime.db, gate.sale_id, ask.buyer_id, ask.key)
            found = (row["asked"], gate.admitted(row)) if row else None
        if found is None:
            return refusal(*args)
        return found[1] if found[0] == ask.quantity else domain.key_reused()

    async def _load_closed(self, gate: SaleGate) -> bool:
        """Load every admission of a closed sale from one snapshot; False if it turned out to be open."""
        try:
            async with (
                self.runtime.db.pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                row = await store.fetch_sale(conn, gate.sale_id)
                admissions = await store.sale_admissions(conn, gate.sale_id)
            if row["status"] == "ended":
                gate.ended = True
            elif row["remaining"] > 0:
                if gate.sold_out:
                    gate.learn_sold_out(False)
                # Open by the database; a sale past its end by the clock is answered per request.
                return self.now() >= gate.ends_at
            gate.closed = {(a["buyer_id"], a["idempotency_key"]): (a["asked"], gate.admitted(a)) for a in admissions}
            return True
        finally:
            gate.loading = None

    async def _check(self, gate: SaleGate) -> None:
        """Is a sale that looks sold out still sold out? (In case a feed event from another instance was lost.)"""
        try:
            row = await store.fetch_sale(self.runtime.db, gate.sale_id)
            if row is not None:
                gate.ended = gate.ended or row["status"] == "ended"
                gate.learn_sold_out(row["remaining"] == 0)
        finally:
            gate.checking = None

    async def _enqueue(self, gate: SaleGate, ask: Ask) -> Answer:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        span = trace.get_current_span().get_span_context()
        gate.pending.append(Pending(ask, future, trace.Link(span) if span.is_valid else None))
        if gate.flusher is None:
            gate.flusher = asyncio.create_task(self._flush(gate), name=f"flash-sale-{gate.sale_id}")
        return await future

    # --- the batch -------------------------------------------------------------------------------

    async def _flush(self, gate: SaleGate) -> None:
        # One connection for the whole rush: its prepared statements stay warm and no batch pays for a pool
        # checkout and reset. A failed batch gives it back (a broken one is replaced) and the next takes another.
        pool = self.runtime.db.pool
        conn: asyncpg.Connection | None = None
        try:
            while gate.pending:
                await _linger(gate)
                batch = gate.pending[:BATCH_CAP]
                del gate.pending[:BATCH_CAP]
                try:
                    conn = conn or await pool.acquire()
                    await self._admit(gate, batch, conn)
                except Exception:
                    log.exception(
                        "flash sale %s: a batch of %d failed; nothing of it was written", gate.sale_id, len(batch)
                    )
                    for pending in batch:
                        settle(
                            pending.future, Problem(503, "try-again", "the purchase could not be decided; try again")
                        )
                    if conn is not None:
                        released, conn = conn, None
                        await pool.release(released)
        except asyncio.CancelledError:
            # Shutting down: nobody will decide what is left.
            for pending in gate.pending:
                settle(pending.future, Problem(503, "try-again", "the service is stopping; try again"))
            gate.pending.clear()
            raise
        finally:
            # Before the release's await: a request arriving meanwhile starts a flusher of its own.
            gate.flusher = None
            if conn is not None:
                await pool.release(conn)

    async def _admit(self, gate: SaleGate, batch: list[Pending], conn: asyncpg.Connection) -> None:
        links = [p.link for p in batch[:MAX_LINKS] if p.link is not None]
        token = context.attach(baggage.set_baggage(names.ROOM_ID, gate.room_id, context.Context()))
        try:
            attributes = {names.ROOM_ID: gate.room_id, names.SKU_ID: gate.sku_id, "liveloop.batch.size": len(batch)}
            with self.runtime.telemetry.tracer.start_as_current_span(
                "live.flash_sale admit", links=links, attributes=attributes
            ):
                answers = await self._decide(gate, [p.ask for p in batch], conn)
        finally:
            context.detach(token)
        for pending, answer in zip(batch, answers, strict=True):
            settle(pending.future, answer)

    async def _decide(self, gate: SaleGate, asks: list[Ask], conn: asyncpg.Connection) -> list[Answer]:
        """One transaction: lock room and sale, grant, write admissions, event and feed; then the answers."""
        now = self.now()
        sale_id = gate.sale_id
        async with conn.transaction():
            sale = await store.lock_room_and_sale(conn, gate.room_id, sale_id)
            room_status = sale["room_status"]
            status = domain.current_status(sale["status"], sale["starts_at"], sale["ends_at"], now)
            closed = None
            if room_status != "live":
                closed = "room-not-live"
            elif status != "running":
                closed = f"sale-{status}"
            prior, held = await store.batch_buyers(conn, sale_id, [a.buyer_id for a in asks], [a.key for a in asks])
            decisions, left = domain.grant(
                asks,
                remaining=sale["remaining"],
                limit=sale["per_buyer_limit"],
                held=held,
                prior={pair: r["asked"] for pair, r in prior.items()},
                closed=closed,
            )
            pay_by = now + timedelta(seconds=sale["pay_within_s"])
            granted: dict[int, Admitted] = {}
            rows = []
            for index, (ask, decision) in enumerate(zip(asks, decisions, strict=True)):
                if decision.outcome == domain.GRANTED and decision.duplicate_of is None:
                    admission_id, order_id = admission_ids(sale_id, ask.buyer_id, ask.key)
                    rows.append((admission_id, ask.buyer_id, ask.key, order_id, ask.quantity, decision.quantity))
                    granted[index] = Admitted(
                        admission_id=admission_id,
                        order_id=order_id,
                        sale_id=sale_id,
                        quantity=decision.quantity,
                        unit_price_minor=gate.price_minor,
                        currency=gate.currency,
                        pay_by=pay_by,
                    )
            if rows:
                left = await store.admit(conn, sale, rows, now, pay_by)
                await add_events(conn, self._admitted_event(gate, sale, rows, now))
                await feed.emit(conn, gate.room_id, flash.SALE_STOCK, {"sale_id": sale_id, "remaining": left})
                if left == 0:
                    await feed.emit(conn, gate.room_id, flash.SALE_SOLD_OUT, {"sale_id": sale_id})
        # Committed: what this process now knows about the sale.
        if status == "ended":
            gate.ended = True
        gate.learn_sold_out(left == 0)
        return [self._answer(gate, asks[i], i, d, granted, prior) for i, d in enumerate(decisions)]

    def _admitted_event(
        self, gate: SaleGate, sale: asyncpg.Record, rows: list[tuple], now: datetime
    ) -> FlashSaleAdmitted:
        return FlashSaleAdmitted(
            sale_id=gate.sale_id,
            room_id=gate.room_id,
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

    def _answer(
        self,
        gate: SaleGate,
        ask: Ask,
        index: int,
        decision: Decision,
        granted: dict[int, Admitted],
        prior: dict[tuple[str, str], asyncpg.Record],
    ) -> Answer:
        outcome = decision.outcome
        if outcome == domain.GRANTED:
            return granted[decision.duplicate_of if decision.duplicate_of is not None else index]
        if outcome == domain.REPLAY:
            return gate.admitted(prior[(ask.buyer_id, ask.key)])
        if outcome == domain.SOLD_OUT:
            return domain.sold_out()
        if outcome == domain.LIMIT_REACHED:
            return domain.limit_reached(gate.per_buyer_limit)
        if outcome == domain.KEY_REUSED:
            return domain.key_reused()
        if outcome == "room-not-live":
            return domain.room_not_live()
        return domain.not_running(outcome.removeprefix("sale-"))

    # --- what other instances tell ---------------------------------------------------------------

    def on_feed(self, event: RoomFeed) -> None:
        """Keep sold-out and ended flags in step with batches and ends of other instances."""
        if not event.kind.startswith("sale."):
            return
        gate = self.gates.get(str(event.data.get("sale_id", "")))
        if gate is None:
            return
        if event.kind == flash.SALE_STOCK:
            remaining = event.data.get("remaining")
            if isinstance(remaining, int):
                gate.learn_sold_out(remaining == 0)
        elif event.kind == flash.SALE_SOLD_OUT:
            gate.learn_sold_out(True)
        elif event.kind == flash.SALE_ENDED:
            gate.ended = True

    def forget_ended(self, sale_id: str) -> None:
        """This process ended the sale itself."""
        gate = self.gates.get(sale_id)
        if gate is not None:
            gate.ended = True

    async def close(self) -> None:
        """Stop this process's flushers and background reads (their waiting requests get 503)."""
        tasks = [t for g in self.gates.values() for t in (g.flusher, g.checking, g.loading) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _linger(gate: SaleGate) -> None:
    # Bounded by the clock, not by a count of naps: on a busy loop one nap of 2 ms can last far longer.
    until = time.monotonic() + MAX_LINGER_S
    while len(gate.pending) < BATCH_CAP and time.monotonic() < until:
        before = len(gate.pending)
        await asyncio.sleep(LINGER_S)
        if len(gate.pending) == before:
            return
