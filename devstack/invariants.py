"""The invariant checker: after a run, are all stock units, charges, refunds, vouchers and events accounted for once?

`await settle(...)` waits until the system is quiet (every outbox row published, every durable consumer of the
namespace caught up, stable for a moment); `await check_invariants(...)` then compares the five services' schemas of
the one database, JetStream and localstripe, and answers a `Verdict`. Run it when the system is quiet: it reads the
database in one REPEATABLE READ snapshot, then Stripe, then JetStream, so a write landing between those reads may
show as a violation that is not one. `python -m devstack.invariants` runs both against a running stack.

What each invariant reads, and what it can and cannot see:

1. **stock**: per SKU (shop), stock in its ledgers, not in the columns checked: `received` = the SKU's stock when
   it was created (its `ProductPublished` row in shop's outbox: the only record of it besides the column) + the
   merchant's edits (`sku_changes`, reason `edit`: new - old) + units put back (`restocks.restocked`). Then
   `available + held for checkouts + allocated to sales + sold + out in exchanges = received`, and the
   `stock_reserved` column = held + allocated, where held = `reservation_lines` still `held`, allocated = each
   allocation's `quantity - committed - released`, sold = committed reservation lines + `allocation_commits` - the
   `stock_shortfalls` (units paid for that stock could not supply), out = `exchanges` still `taken`. Per flash sale
   (live, with shop's allocation of it): units in admissions not expired + remaining + returned = quantity; the
   allocation holds the sale's quantity, has released what the sale returned and committed what its buyers paid.
   Not checkable: a shortfall recorded for a reservation line and a sale line of the same SKU in one order (one row
   keyed by order and SKU would hold only one of them).
2. **charges**: per checkout (orders) and every PaymentIntent localstripe holds whose metadata names one of its
   payments (or that a payment records): a paid checkout has a succeeded payment whose recorded intent succeeded at
   Stripe for exactly the amount and currency the payment, the checkout and the sum of its orders say, and every
   order of a paid checkout is paid (and no order of another is). Any other intent of the payment that took money
   is one orders owes back (a row of `orders.refunds`), else it is money taken without an order; any other intent
   not cancelled is an orphan that could still take money. Intents of other databases sharing the localstripe are
   left alone (their metadata names no payment of ours), so an intent whose metadata names no payment at all is not
   checkable.
3. **refunds**: per order, the refund grants pending or succeeded sum to no more than it cost; per intent, Stripe's
   refunds sum to no more than it took; every succeeded grant's refund is at Stripe once (one refund carrying its
   grant id), on its intent, for its amount; a failed grant has no succeeded refund; money owed back in full
   (`orders.refunds` refunded) was refunded in full, once; and every refund Stripe holds for one of our intents is
   one orders knows (by its id, its grant id, or an intent orders owes back).
4. **vouchers** (local_life): a voucher has at most one redemption not undone; `redeemed` exactly when it has one;
   a refunded voucher is in exactly one succeeded refund and not redeemed; and each succeeded voucher refund is a
   succeeded grant in orders. Redemptions undone do not count.
5. **events**: every outbox row is published; every published event of a subject a durable consumer subscribes to
   (and whose `wants` takes it) has that consumer's inbox row (so it was applied: the row is written with the
   effect); no inbox row names an event no outbox holds (except subjects published without an outbox:
   `FunnelTapped`), or a consumer or subject the service does not subscribe; no dead letters (`dead_letters` rows,
   the DLQ stream); every durable consumer exists in JetStream with nothing pending and nothing unacked. Exactly
   once per consumer rests on the inbox's primary key (consumer, event id), which the database enforces; the same
   fact re-sent under a new event id is the domain's to dedupe, and the other invariants (stock, vouchers, funnel)
   are where a fact applied twice shows. Not checkable here: an event JetStream lost that no consumer subscribes to,
   and a `FunnelTapped` that never reached the funnel (it has no outbox row to compare with).
6. **stuck**: nothing waits past its deadline by more than a grace (`grace_s`, by `now`, default the database's):
   checkouts awaiting payment past `pay_by`, orders awaiting payment whose checkout does not, shop holds past
   `hold_until`, deal holds past theirs, flash-sale admissions unpaid past `pay_by`, sales not ended past `ends_at`,
   team buys open past their deadline, due jobs not run (and not leased) past `due_at`, and refunds owed or granted
   with no job to make them. Deadlines are in the services' clock: a test that moved that clock passes its own
   `now`. Not checkable: a job that keeps failing. The scheduler pushes it on with backoff, so it is never overdue,
   and its `attempts` also count the past failures of a job that reschedules itself and has long recovered (the
   orphan sweep), so they cannot tell failing from having failed.
7. **funnel** (live): every `funnel_minutes` row equals what is recomputed from `funnel_facts` (count, units,
   amount, watch seconds per scope, step, minute and currency), no rollup is missing, and `funnel_uniques` holds
   exactly the distinct people the facts name. `first_at` is not compared: a fact arriving late for a person keeps
   the first one seen, which need not be the earliest.
"""

# Every name put into SQL text here is a schema of SERVICES or a constant of the code, never input.
# ruff: noqa: S608

from __future__ import annotations

import argparse
import asyncio
import importlib
import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
import msgspec
import nats
from nats.js.errors import NotFoundError

from libs.bus.consumer import Subscription
from libs.bus.nats import DLQ_PREFIX, DLQ_STREAM
from libs.contracts import EVENT_TYPES, STREAMS, FunnelTapped, ProductPublished, stream_for
from services.live.funnel.domain.facts import SCOPES as FUNNEL_SCOPES
from services.live.funnel.domain.facts import UNIQUE_KIND
from services.orders.domain import REFUND_JOB
from services.orders.domain.money import REFUND_GRANT_JOB

SERVICES = ("shop", "live", "orders", "aftersales", "local_life")
INVARIANTS = ("stock", "charges", "refunds", "vouchers", "events", "stuck", "funnel")
# What `checked` counts for each invariant (the summary's words).
UNITS = {
    "stock": "SKUs and sales",
    "charges": "checkouts",
    "refunds": "refunds",
    "vouchers": "vouchers",
    "events": "deliveries",
    "stuck": "deadlines",
    "funnel": "rollup rows",
}
GRACE_S = 30.0
# Published straight to JetStream, never through an outbox: an inbox row of one has no outbox row to match.
DIRECT_SUBJECTS = (FunnelTapped.SUBJECT,)
# A Stripe intent that can still take money (cancel would succeed) or is taking it.
_LIVE_INTENT = ("requires_payment_method", "requires_confirmation", "requires_action", "requires_capture", "processing")
# How many objects one violation message lists before it says how many more there are.
_LIST = 10
_STRIPE_KEY = "sk_test_invariants"


@dataclass
class Verdict:
    """What the checker found: every violation (each names its invariant, the object ids and the numbers) and how
    many objects each invariant looked at."""

    violations: list[str]
    checked: dict[str, int]
    took_s: float = 0.0

    def ok(self) -> bool:
        return not self.violations

    def violated(self) -> set[str]:
        """The names of the invariants with at least one violation."""
        return {v.split(":", 1)[0] for v in self.violations}

    def assert_clean(self) -> None:
        """Raise AssertionError listing every violation (and what was checked) unless there is none."""
        if self.violations:
            listed = "\n".join(f"  {v}" for v in self.violations[:200])
            more = f"\n  ... and {len(self.violations) - 200} more" if len(self.violations) > 200 else ""
            raise AssertionError(f"{len(self.violations)} invariant violations:\n{listed}{more}\n{self.summary()}")

    def summary(self) -> str:
        """One line: how many invariants, how many violations, what each looked at."""
        counts: dict[str, int] = defaultdict(int)
        for violation in self.violations:
            counts[violation.split(":", 1)[0]] += 1
        parts = []
        for name in INVARIANTS:
            bad = f" ({counts[name]} violated)" if counts.get(name) else ""
            parts.append(f"{name} {self.checked.get(name, 0)} {UNITS[name]}{bad}")
        return f"{len(INVARIANTS)} invariants, {len(self.violations)} violations: " + ", ".join(parts)


class _Report:
    def __init__(self) -> None:
        self.violations: list[str] = []
        self.checked: dict[str, int] = dict.fromkeys(INVARIANTS, 0)

    def fail(self, invariant: str, message: str) -> None:
        assert invariant in INVARIANTS, invariant
        self.violations.append(f"{invariant}: {message}")

    def count(self, invariant: str, n: int) -> None:
        self.checked[invariant] += n


def _listed(items: Iterable[object]) -> str:
    items = list(items)
    head = ", ".join(str(i) for i in items[:_LIST])
    return head + (f" and {len(items) - _LIST} more" if len(items) > _LIST else "")


# --- the services' consumers ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Consumer:
    schema: str
    sub: Subscription


def _consumers() -> list[_Consumer]:
    """Every durable consumer of the five services, as their apps wire them (with each service's default settings:
    only the subscriptions' names, subjects and `wants` are used, none of their handlers)."""
    found = []
    for service in SERVICES:
        spec = importlib.import_module(f"services.{service}.app").SPEC
        for sub in spec.consumers(SimpleNamespace(settings=spec.settings())):
            found.append(_Consumer(spec.schema, sub))
    return found


def _stream(namespace: str, name: str) -> str:
    return f"{namespace}_{name}" if namespace else name


def _subject(namespace: str, subject: str) -> str:
    return f"{namespace}.{subject}" if namespace else subject


async def _connect_nats(url: str) -> nats.NATS:
    return await nats.connect(
        [server.strip() for server in url.split(",") if server.strip()],
        name="liveloop-invariants",
        connect_timeout=3,
        max_reconnect_attempts=3,
        reconnect_time_wait=0.5,
        allow_reconnect=True,
    )


async def _durables(js: Any, namespace: str) -> dict[str, tuple[str, Any]]:
    """Every durable consumer on the namespace's event streams: name -> (stream, its info)."""
    found: dict[str, tuple[str, Any]] = {}
    for name in STREAMS:
        stream = _stream(namespace, name)
        infos: list[Any] = []
        try:
            while page := await js.consumers_info(stream, offset=len(infos)):
                infos += page
                if len(page) < 256:
                    break
        except NotFoundError:
            continue
        for info in infos:
            durable = info.config.durable_name
            if durable:
                found[durable] = (stream, info)
    return found


async def _schemas(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[])", list(SERVICES))
    return {row["nspname"] for row in rows}


# --- settle --------------------------------------------------------------------------------------


async def settle(
    *, database_url: str, nats_url: str, namespace: str, timeout: float = 60.0, quiet_s: float = 0.5
) -> None:
    """Wait until every outbox row is published and every durable consumer of the namespace has nothing pending and
    nothing unacked, with no outbox row written and no message delivered for `quiet_s`; TimeoutError naming what is
    still behind otherwise. A database or NATS that is away meanwhile counts as behind, not as a failure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    conn: asyncpg.Connection | None = None
    nc: Any = None
    quiet_since: float | None = None
    last_mark: object = None
    behind: list[str] = []
    try:
        while True:
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(database_url, timeout=5)
                if nc is None or nc.is_closed:
                    nc = await _connect_nats(nats_url)
                behind, mark = await _behind(conn, nc.jetstream(), namespace)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, nats.errors.Error, TimeoutError) as exc:
                behind, mark = [f"unreachable: {type(exc).__name__}: {exc}"], None
                if conn is not None:
                    await _close(conn)
                    conn = None
            now = loop.time()
            if behind or mark != last_mark:
                quiet_since = None if behind else now
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= quiet_s:
                return
            last_mark = mark
            if now > deadline:
                raise TimeoutError(f"not settled within {timeout}s: " + ("; ".join(behind) or "still moving"))
            await asyncio.sleep(0.1)
    finally:
        if conn is not None:
            await _close(conn)
        if nc is not None and not nc.is_closed:
            await nc.close()


async def _close(conn: asyncpg.Connection) -> None:
    try:
        await asyncio.wait_for(conn.close(), 2)
    except Exception:
        conn.terminate()


async def _behind(conn: asyncpg.Connection, js: Any, namespace: str) -> tuple[list[str], object]:
    """What is still behind, and a mark that changes whenever anything moves (outbox rows, deliveries)."""
    behind: list[str] = []
    mark: list[object] = []
    for schema in sorted(await _schemas(conn)):
        row = await conn.fetchrow(
            f"""SELECT count(*) FILTER (WHERE published_at IS NULL) AS waiting, COALESCE(max(seq), 0) AS last
                FROM "{schema}".outbox"""
        )
        assert row is not None
        if row["waiting"]:
            behind.append(f"{schema} outbox: {row['waiting']} unpublished")
        mark.append((schema, row["last"], row["waiting"]))
    for durable, (_, info) in sorted((await _durables(js, namespace)).items()):
        if info.num_pending or info.num_ack_pending:
            behind.append(f"{durable}: {info.num_pending} pending, {info.num_ack_pending} unacked")
        mark.append((durable, info.delivered.stream_seq, info.ack_floor.stream_seq))
    return behind, tuple(mark)


# --- check ---------------------------------------------------------------------------------------


@dataclass
class _Facts:
    """What the Stripe checks need from orders' snapshot."""

    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders_of: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    owed: dict[str, dict[str, Any]] = field(default_factory=dict)
    grants: dict[str, dict[str, Any]] = field(default_factory=dict)


async def check_invariants(
    *,
    database_url: str,
    nats_url: str,
    namespace: str,
    stripe_base: str,
    now: datetime | None = None,
    grace_s: float = GRACE_S,
) -> Verdict:
    """Check the seven invariants (module docstring) and answer what was found."""
    started = time.monotonic()
    report = _Report()
    consumers = _consumers()
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            # Minutes of the funnel are UTC minutes whatever the server's zone.
            await conn.execute("SET LOCAL TimeZone = 'UTC'")
            schemas = await _schemas(conn)
            at = now or await conn.fetchval("SELECT now()")
            if "shop" in schemas:
                await _stock(conn, report, schemas)
            facts = await _orders_facts(conn) if "orders" in schemas else _Facts()
            if "local_life" in schemas:
                await _vouchers(conn, report, schemas)
            await _events(conn, report, schemas, consumers)
            await _stuck(conn, report, schemas, at, grace_s)
            if "live" in schemas:
                await _funnel(conn, report)
    finally:
        await conn.close()
    if facts.payments:
        intents, refunds = await _stripe(stripe_base, facts)
        _charges(report, facts, intents)
        _refunds(report, facts, intents, refunds)
    await _jetstream(report, nats_url, namespace, schemas, consumers)
    return Verdict(report.violations, report.checked, round(time.monotonic() - started, 3))


# --- 1. stock ------------------------------------------------------------------------------------


async def _stock(conn: asyncpg.Connection, report: _Report, schemas: set[str]) -> None:
    rows = await conn.fetch(
        """WITH initial AS (
               SELECT DISTINCT ON (s ->> 'sku_id') (s ->> 'sku_id')::uuid AS sku_id,
                      (s ->> 'stock_available')::bigint AS n
               FROM shop.outbox o
               CROSS JOIN LATERAL jsonb_array_elements(convert_from(o.payload, 'UTF8')::jsonb -> 'skus') AS s
               WHERE o.subject = $1
               ORDER BY s ->> 'sku_id', o.seq),
           edits AS (SELECT sku_id, sum(new_value - COALESCE(old_value, 0)) AS n FROM shop.sku_changes
                     WHERE field = 'stock_on_hand' AND reason = 'edit' GROUP BY sku_id),
           restocked AS (SELECT sku_id, sum(restocked) AS n FROM shop.restocks GROUP BY sku_id),
           held AS (SELECT sku_id, sum(quantity) AS n FROM shop.reservation_lines WHERE status = 'held'
                    GROUP BY sku_id),
           committed AS (SELECT sku_id, sum(quantity) AS n FROM shop.reservation_lines WHERE status = 'committed'
                         GROUP BY sku_id),
           allocated AS (SELECT sku_id, sum(quantity - committed - released) AS n FROM shop.allocations
                         GROUP BY sku_id),
           sale_sold AS (SELECT sku_id, sum(quantity) AS n FROM shop.allocation_commits GROUP BY sku_id),
           shortfall AS (SELECT sku_id, sum(quantity) AS n FROM shop.stock_shortfalls GROUP BY sku_id),
           exchanged AS (SELECT sku_id, sum(quantity) AS n FROM shop.exchanges WHERE status = 'taken'
                         GROUP BY sku_id)
           SELECT s.sku_id::text AS sku_id, s.stock_on_hand AS on_hand, s.stock_reserved AS reserved,
                  i.n AS initial, COALESCE(e.n, 0) AS edits, COALESCE(r.n, 0) AS restocked,
                  COALESCE(h.n, 0) AS held, COALESCE(a.n, 0) AS allocated,
                  COALESCE(c.n, 0) + COALESCE(ss.n, 0) - COALESCE(sf.n, 0) AS sold, COALESCE(x.n, 0) AS exchanged
           FROM shop.skus s
           LEFT JOIN initial i USING (sku_id) LEFT JOIN edits e USING (sku_id) LEFT JOIN restocked r USING (sku_id)
           LEFT JOIN held h USING (sku_id) LEFT JOIN committed c USING (sku_id) LEFT JOIN allocated a USING (sku_id)
           LEFT JOIN sale_sold ss USING (sku_id) LEFT JOIN shortfall sf USING (sku_id)
           LEFT JOIN exchanged x USING (sku_id)
           ORDER BY s.sku_id""",
        ProductPublished.SUBJECT,
    )
    report.count("stock", len(rows))
    for r in rows:
        if r["initial"] is None:
            report.fail("stock", f"SKU {r['sku_id']}: no ProductPublished in shop's outbox records its first stock")
            continue
        received = r["initial"] + r["edits"] + r["restocked"]
        available = r["on_hand"] - r["reserved"]
        accounted = available + r["held"] + r["allocated"] + r["sold"] + r["exchanged"]
        problems = []
        if accounted != received:
            problems.append(
                f"available {available} + held {r['held']} + allocated {r['allocated']} + sold {r['sold']} + "
                f"out in exchanges {r['exchanged']} = {accounted}, but received {received} "
                f"(first stock {r['initial']} + edits {r['edits']} + restocked {r['restocked']})"
            )
        if r["reserved"] != r["held"] + r["allocated"]:
            problems.append(f"stock_reserved {r['reserved']} != held {r['held']} + allocated {r['allocated']}")
        if problems:
            report.fail("stock", f"SKU {r['sku_id']}: " + "; ".join(problems))
    if "live" not in schemas:
        return
    sales = await conn.fetch(
        """SELECT f.sale_id::text AS sale_id, f.quantity, f.remaining, f.returned,
                  COALESCE(sum(ad.quantity) FILTER (WHERE ad.status <> 'expired'), 0) AS admitted,
                  COALESCE(sum(ad.quantity) FILTER (WHERE ad.status = 'paid'), 0) AS paid,
                  al.quantity AS allocated, al.released,
                  (SELECT COALESCE(sum(quantity), 0) FROM shop.allocation_commits c
                    WHERE c.allocation_id = f.sale_id::text) AS committed
           FROM live.flash_sales f
           LEFT JOIN live.flash_sale_admissions ad ON ad.sale_id = f.sale_id
           LEFT JOIN shop.allocations al ON al.allocation_id = f.sale_id::text
           GROUP BY f.sale_id, al.allocation_id
           ORDER BY f.sale_id"""
    )
    report.count("stock", len(sales))
    for s in sales:
        problems = []
        if s["admitted"] + s["remaining"] + s["returned"] != s["quantity"]:
            problems.append(
                f"admitted (not expired) {s['admitted']} + remaining {s['remaining']} + returned {s['returned']} "
                f"!= quantity {s['quantity']}"
            )
        if s["allocated"] is None:
            problems.append("shop has no allocation for it")
        else:
            if s["allocated"] != s["quantity"]:
                problems.append(f"shop allocated {s['allocated']}, the sale has {s['quantity']}")
            if s["released"] != s["returned"]:
                problems.append(f"shop took back {s['released']}, the sale returned {s['returned']}")
            if s["committed"] != s["paid"]:
                problems.append(f"shop committed {s['committed']} sold units, buyers paid for {s['paid']}")
        if problems:
            report.fail("stock", f"flash sale {s['sale_id']}: " + "; ".join(problems))


# --- 2 and 3: what orders says about money ------------------------------------------------------


async def _orders_facts(conn: asyncpg.Connection) -> _Facts:
    facts = _Facts()
    for row in await conn.fetch(
        """SELECT p.payment_id::text AS payment_id, p.checkout_id::text AS checkout_id, p.status,
                  p.amount_minor, p.currency, p.stripe_payment_intent_id AS intent_id, p.stripe_refund_id,
                  c.status AS checkout_status, c.amount_minor AS checkout_amount
           FROM orders.payments p JOIN orders.checkouts c USING (checkout_id)"""
    ):
        facts.payments[row["payment_id"]] = dict(row)
    for row in await conn.fetch(
        """SELECT order_id::text AS order_id, checkout_id::text AS checkout_id, status, amount_minor, paid_at
           FROM orders.orders"""
    ):
        facts.orders_of.setdefault(row["checkout_id"], []).append(dict(row))
    for row in await conn.fetch(
        """SELECT stripe_payment_intent_id AS intent_id, payment_id::text AS payment_id, reason, status,
                  stripe_refund_id, amount_minor FROM orders.refunds"""
    ):
        facts.owed[row["intent_id"]] = dict(row)
    for row in await conn.fetch(
        """SELECT grant_id::text AS grant_id, order_id::text AS order_id, amount_minor, status,
                  stripe_payment_intent_id AS intent_id, stripe_refund_id FROM orders.refund_grants"""
    ):
        facts.grants[row["grant_id"]] = dict(row)
    return facts


async def _stripe(stripe_base: str, facts: _Facts) -> tuple[dict[str, dict], list[dict]]:
    """The intents localstripe holds for our payments (by metadata or recorded id), and every refund of them."""
    recorded = {p["intent_id"] for p in facts.payments.values() if p["intent_id"]}
    recorded |= set(facts.owed) | {g["intent_id"] for g in facts.grants.values()}
    async with httpx.AsyncClient(
        base_url=stripe_base.rstrip("/"), headers={"Authorization": f"Bearer {_STRIPE_KEY}"}, timeout=30
    ) as client:
        intents = {
            intent["id"]: intent
            for intent in await _list_all(client, "/v1/payment_intents")
            if intent["id"] in recorded or (intent.get("metadata") or {}).get("payment_id") in facts.payments
        }
        charges = {_charge_id(i): i["id"] for i in intents.values() if _charge_id(i)}
        refunds = [
            refund
            for refund in await _list_all(client, "/v1/refunds")
            if refund.get("payment_intent") in intents or refund.get("charge") in charges
        ]
    for refund in refunds:
        refund["payment_intent"] = refund.get("payment_intent") or charges.get(refund.get("charge"))
    return intents, refunds


def _charge_id(intent: dict) -> str | None:
    charge = intent.get("latest_charge")
    return charge.get("id") if isinstance(charge, dict) else charge


async def _list_all(client: httpx.AsyncClient, path: str) -> list[dict]:
    found: list[dict] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        response = await client.get(path, params=params)
        response.raise_for_status()
        page = response.json()
        found += page["data"]
        if not page.get("has_more") or not page["data"]:
            return found
        params["starting_after"] = page["data"][-1]["id"]


def _charges(report: _Report, facts: _Facts, intents: dict[str, dict]) -> None:
    by_payment: dict[str, list[dict]] = defaultdict(list)
    for intent in intents.values():
        payment_id = (intent.get("metadata") or {}).get("payment_id")
        if payment_id in facts.payments:
            by_payment[payment_id].append(intent)
    report.count("charges", len(facts.payments))
    for payment_id, p in sorted(facts.payments.items()):
        checkout_id, paid = p["checkout_id"], p["checkout_status"] == "paid"
        where = f"checkout {checkout_id} (payment {payment_id})"
        orders = facts.orders_of.get(checkout_id, [])
        if paid:
            total = sum(o["amount_minor"] for o in orders)
            if p["status"] != "succeeded":
                report.fail("charges", f"{where} is paid but its payment is {p['status']}")
            if not p["amount_minor"] == p["checkout_amount"] == total:
                report.fail(
                    "charges",
                    f"{where}: payment amount {p['amount_minor']}, checkout amount {p['checkout_amount']}, "
                    f"its orders sum to {total}",
                )
            unpaid = [o["order_id"] for o in orders if o["paid_at"] is None]
            if unpaid:
                report.fail("charges", f"{where} is paid but its orders {_listed(unpaid)} are not")
            intent = intents.get(p["intent_id"] or "")
            if intent is None:
                report.fail("charges", f"{where} is paid but Stripe has no intent {p['intent_id']} for it")
            elif intent["status"] != "succeeded":
                report.fail("charges", f"{where} is paid but its intent {intent['id']} is {intent['status']}")
            elif intent["amount"] != p["amount_minor"] or intent["currency"] != p["currency"].lower():
                report.fail(
                    "charges",
                    f"{where}: its intent {intent['id']} took {intent['amount']} {intent['currency']}, orders "
                    f"recorded {p['amount_minor']} {p['currency']}",
                )
        else:
            early = [o["order_id"] for o in orders if o["paid_at"] is not None]
            if early:
                report.fail("charges", f"orders {_listed(early)} are paid but {where} is {p['checkout_status']}")
        others = {i["id"]: i for i in by_payment.get(payment_id, [])}
        if p["intent_id"] in intents:
            others.setdefault(p["intent_id"], intents[p["intent_id"]])
        for intent_id, intent in sorted(others.items()):
            if paid and intent_id == p["intent_id"]:
                continue
            if intent["status"] == "succeeded" and intent_id not in facts.owed:
                why = "is not the one its paid checkout took" if paid else f"whose checkout is {p['checkout_status']}"
                report.fail(
                    "charges",
                    f"intent {intent_id} took {intent['amount']} {intent['currency']} for {where}, {why}, and orders "
                    "owes no refund for it: money taken without an order",
                )
            elif intent["status"] in _LIVE_INTENT and intent_id != p["intent_id"]:
                report.fail(
                    "charges",
                    f"intent {intent_id} of {where} is {intent['status']}: an orphan neither recorded nor cancelled",
                )


def _refunds(report: _Report, facts: _Facts, intents: dict[str, dict], refunds: list[dict]) -> None:
    report.count("refunds", len(refunds) + len(facts.grants) + len(facts.owed))
    taking = ("succeeded", "pending", "requires_action")
    by_intent: dict[str, list[dict]] = defaultdict(list)
    by_grant: dict[str, list[dict]] = defaultdict(list)
    by_id = {r["id"]: r for r in refunds}
    for refund in refunds:
        by_intent[refund["payment_intent"]].append(refund)
        grant_id = (refund.get("metadata") or {}).get("grant_id")
        if grant_id:
            by_grant[grant_id].append(refund)
    for intent_id, found in sorted(by_intent.items()):
        given = sum(r["amount"] for r in found if r.get("status") in taking)
        took = intents[intent_id]["amount"] if intents[intent_id]["status"] == "succeeded" else 0
        if given > took:
            report.fail(
                "refunds",
                f"intent {intent_id}: Stripe refunded {given} ({_listed(r['id'] for r in found)}), it took {took}",
            )
    # Per order: what orders granted back stays within what the order cost.
    cost = {o["order_id"]: o["amount_minor"] for orders in facts.orders_of.values() for o in orders}
    granted: dict[str, int] = defaultdict(int)
    for grant in facts.grants.values():
        if grant["status"] in ("pending", "succeeded"):
            granted[grant["order_id"]] += grant["amount_minor"]
    for order_id, amount in sorted(granted.items()):
        if amount > cost.get(order_id, 0):
            report.fail("refunds", f"order {order_id}: grants of {amount} for an order of {cost.get(order_id, 0)}")
    known: set[str] = set()
    for grant_id, grant in sorted(facts.grants.items()):
        made = by_grant.get(grant_id, [])
        succeeded = [r for r in made if r.get("status") == "succeeded"]
        known |= {r["id"] for r in made}
        where = f"grant {grant_id} (order {grant['order_id']}, {grant['amount_minor']})"
        if grant["status"] == "succeeded":
            refund = by_id.get(grant["stripe_refund_id"] or "")
            known.add(grant["stripe_refund_id"] or "")
            if refund is None:
                report.fail("refunds", f"{where} succeeded with refund {grant['stripe_refund_id']}, not at Stripe")
            elif (refund["payment_intent"], refund["amount"], refund.get("status")) != (
                grant["intent_id"],
                grant["amount_minor"],
                "succeeded",
            ):
                report.fail(
                    "refunds",
                    f"{where}: its refund {refund['id']} at Stripe is {refund.get('status')} for {refund['amount']} "
                    f"of intent {refund['payment_intent']}, the grant is for intent {grant['intent_id']}",
                )
            if len(made) > 1:
                report.fail(
                    "refunds", f"{where} was refunded {len(made)} times at Stripe: {_listed(r['id'] for r in made)}"
                )
        elif grant["status"] == "failed" and succeeded:
            report.fail(
                "refunds", f"{where} failed in orders, but Stripe refunded it: {_listed(r['id'] for r in succeeded)}"
            )
        elif grant["status"] == "pending" and len(made) > 1:
            report.fail("refunds", f"{where} is pending and already refunded {len(made)} times at Stripe")
    for intent_id, owed in sorted(facts.owed.items()):
        made = [r for r in by_intent.get(intent_id, []) if not (r.get("metadata") or {}).get("grant_id")]
        known |= {r["id"] for r in made}
        if owed["status"] != "refunded":
            continue
        intent = intents.get(intent_id)
        done = sum(r["amount"] for r in made if r.get("status") == "succeeded")
        if intent is None or len(made) != 1 or done != intent["amount"]:
            report.fail(
                "refunds",
                f"intent {intent_id} (payment {owed['payment_id']}, {owed['reason']}) is refunded in orders; Stripe "
                f"has {len(made)} refunds of it ({_listed(r['id'] for r in made)}) giving back {done} of "
                f"{intent['amount'] if intent else 'an unknown intent'}",
            )
    known |= {p["stripe_refund_id"] for p in facts.payments.values() if p["stripe_refund_id"]}
    unknown = [r for r in refunds if r["id"] not in known]
    for refund in unknown:
        report.fail(
            "refunds",
            f"refund {refund['id']} at Stripe gives back {refund['amount']} of intent {refund['payment_intent']}, "
            "which orders does not know",
        )


# --- 4. vouchers ---------------------------------------------------------------------------------


async def _vouchers(conn: asyncpg.Connection, report: _Report, schemas: set[str]) -> None:
    rows = await conn.fetch(
        """SELECT v.voucher_id::text AS voucher_id, v.status,
                  array_remove(array_agg(r.redemption_id::text ORDER BY r.redeemed_at)
                               FILTER (WHERE r.undone_at IS NULL), NULL) AS live,
                  (SELECT array_agg(vr.grant_id::text) FROM local_life.voucher_refunds vr
                    WHERE vr.status = 'succeeded' AND v.voucher_id = ANY (vr.voucher_ids)) AS refunds
           FROM local_life.vouchers v LEFT JOIN local_life.redemptions r ON r.voucher_id = v.voucher_id
           GROUP BY v.voucher_id ORDER BY v.voucher_id"""
    )
    report.count("vouchers", len(rows))
    for r in rows:
        live, refunds, where = r["live"] or [], r["refunds"] or [], f"voucher {r['voucher_id']} ({r['status']})"
        if len(live) > 1:
            report.fail("vouchers", f"{where} is redeemed {len(live)} times: {_listed(live)}")
        elif r["status"] == "redeemed" and not live:
            report.fail("vouchers", f"{where} has no redemption that is not undone")
        elif r["status"] != "redeemed" and live:
            report.fail("vouchers", f"{where} is yet redeemed by {_listed(live)}")
        if len(refunds) > 1:
            report.fail("vouchers", f"{where} is in {len(refunds)} succeeded refunds: {_listed(refunds)}")
        elif (r["status"] == "refunded") != bool(refunds):
            report.fail("vouchers", f"{where} is in succeeded refunds {refunds or 'none'}")
    if "orders" not in schemas:
        return
    for r in await conn.fetch(
        """SELECT vr.grant_id::text AS grant_id, vr.refunded_minor, g.status, g.amount_minor
           FROM local_life.voucher_refunds vr LEFT JOIN orders.refund_grants g ON g.grant_id = vr.grant_id
           WHERE vr.status = 'succeeded' AND (g.status IS DISTINCT FROM 'succeeded'
                 OR g.amount_minor IS DISTINCT FROM vr.refunded_minor)"""
    ):
        report.fail(
            "vouchers",
            f"voucher refund {r['grant_id']} succeeded for {r['refunded_minor']}; orders' grant is "
            f"{r['status'] or 'missing'} for {r['amount_minor']}",
        )


# --- 5. events -----------------------------------------------------------------------------------


def _outboxes(schemas: set[str], columns: str) -> str:
    return " UNION ALL ".join(f'SELECT {columns} FROM "{schema}".outbox' for schema in sorted(schemas))


async def _events(conn: asyncpg.Connection, report: _Report, schemas: set[str], consumers: list[_Consumer]) -> None:
    if not schemas:
        return
    for schema in sorted(schemas):
        waiting = await conn.fetch(
            f"""SELECT event_id::text AS event_id, subject, attempts, last_error FROM "{schema}".outbox
                WHERE published_at IS NULL ORDER BY seq"""
        )
        for row in waiting:
            report.fail(
                "events",
                f"{schema} outbox event {row['event_id']} ({row['subject']}) is not published "
                f"({row['attempts']} attempts, last error {row['last_error']!r})",
            )
        dead = await conn.fetch(
            f"""SELECT consumer, event_id, subject, deliveries, error FROM "{schema}".dead_letters ORDER BY id"""
        )
        for row in dead:
            report.fail(
                "events",
                f"{row['consumer']} dead-lettered event {row['event_id']} ({row['subject']}) after "
                f"{row['deliveries']} deliveries: {row['error'][:200]}",
            )
    published = await conn.fetch(
        f"""SELECT subject, count(*) AS n FROM ({_outboxes(schemas, "subject, published_at")}) o
            WHERE published_at IS NOT NULL GROUP BY subject"""
    )
    per_subject = {row["subject"]: row["n"] for row in published}
    for consumer in consumers:
        if consumer.schema not in schemas:
            continue
        sub = consumer.sub
        report.count("events", sum(per_subject.get(subject, 0) for subject in sub.subjects))
        missing = await conn.fetch(
            f"""SELECT o.event_id::text AS event_id, o.subject, o.payload
                FROM ({_outboxes(schemas, "event_id, subject, payload, published_at")}) o
                WHERE o.published_at IS NOT NULL AND o.subject = ANY($1::text[])
                  AND NOT EXISTS (SELECT 1 FROM "{consumer.schema}".inbox i
                                  WHERE i.consumer = $2 AND i.event_id = o.event_id)""",
            list(sub.subjects),
            sub.durable,
        )
        for row in missing:
            if sub.wants is not None:
                try:
                    event = msgspec.json.decode(row["payload"], type=EVENT_TYPES[row["subject"]])
                except (msgspec.DecodeError, KeyError) as exc:
                    report.fail("events", f"event {row['event_id']} ({row['subject']}) cannot be decoded: {exc}")
                    continue
                if not sub.wants(event):
                    continue  # acked without an inbox row: the consumer leaves such events alone
            report.fail("events", f"{sub.durable} never applied event {row['event_id']} ({row['subject']})")
    known: dict[str, dict[str, set[str]]] = defaultdict(dict)
    for consumer in consumers:
        known[consumer.schema][consumer.sub.durable] = set(consumer.sub.subjects)
    for schema in sorted(schemas):
        for row in await conn.fetch(f'SELECT consumer, subject, count(*) AS n FROM "{schema}".inbox GROUP BY 1, 2'):
            if row["subject"] not in known[schema].get(row["consumer"], set()):
                report.fail(
                    "events",
                    f"{schema} inbox has {row['n']} rows of {row['consumer']} for {row['subject']}, "
                    "which it does not subscribe",
                )
        exists = " AND ".join(
            f'NOT EXISTS (SELECT 1 FROM "{other}".outbox o WHERE o.event_id = i.event_id)' for other in sorted(schemas)
        )
        for row in await conn.fetch(
            f"""SELECT consumer, event_id::text AS event_id, subject FROM "{schema}".inbox i
                WHERE i.subject <> ALL ($1::text[]) AND {exists} ORDER BY consumer, event_id""",
            list(DIRECT_SUBJECTS),
        ):
            report.fail(
                "events",
                f"{row['consumer']} applied event {row['event_id']} ({row['subject']}), which no outbox published",
            )


async def _jetstream(
    report: _Report, nats_url: str, namespace: str, schemas: set[str], consumers: list[_Consumer]
) -> None:
    nc = await _connect_nats(nats_url)
    try:
        js = nc.jetstream()
        durables = await _durables(js, namespace)
        for durable, (stream, info) in sorted(durables.items()):
            if info.num_pending or info.num_ack_pending:
                report.fail(
                    "events",
                    f"consumer {durable} on {stream}: {info.num_pending} pending, {info.num_ack_pending} unacked",
                )
        for consumer in consumers:
            if consumer.schema in schemas and consumer.sub.durable not in durables:
                stream = _stream(namespace, stream_for(consumer.sub.subjects[0]))
                report.fail("events", f"consumer {consumer.sub.durable} does not exist on {stream}")
        dlq = _stream(namespace, DLQ_STREAM)
        try:
            state = (await js.stream_info(dlq)).state
        except NotFoundError:
            return
        if state.messages:
            subjects = []
            for seq in range(state.first_seq, min(state.first_seq + _LIST, state.last_seq + 1)):
                try:
                    msg = await js.get_msg(dlq, seq)
                except NotFoundError:
                    continue
                original = (msg.headers or {}).get("Liveloop-Original-Subject", "?")
                subjects.append(f"{msg.subject.removeprefix(_subject(namespace, DLQ_PREFIX) + '.')} <- {original}")
            report.fail("events", f"dead-letter stream {dlq} holds {state.messages} messages: {_listed(subjects)}")
    finally:
        await nc.close()


# --- 6. stuck ------------------------------------------------------------------------------------


async def _stuck(conn: asyncpg.Connection, report: _Report, schemas: set[str], now: datetime, grace_s: float) -> None:
    late = now - timedelta(seconds=grace_s)
    checks: list[tuple[str, str, str]] = []  # (schema, what it is, SQL of the rows with a deadline: id, due)
    if "orders" in schemas:
        checks += [
            (
                "orders",
                "checkout awaiting payment past its pay_by",
                "SELECT checkout_id::text AS id, pay_by AS due FROM orders.checkouts WHERE status = 'awaiting_payment'",
            ),
            (
                "orders",
                "order awaiting payment whose checkout is not",
                """SELECT o.order_id::text AS id, c.pay_by AS due FROM orders.orders o JOIN orders.checkouts c
                   USING (checkout_id) WHERE o.status = 'awaiting_payment' AND c.status <> 'awaiting_payment'""",
            ),
            (
                "orders",
                "refund owed with no refund job",
                f"""SELECT r.stripe_payment_intent_id AS id, r.created_at AS due FROM orders.refunds r
                    WHERE r.status = 'pending' AND NOT EXISTS (SELECT 1 FROM orders.due_jobs j
                          WHERE j.kind = '{REFUND_JOB}' AND j.key = r.stripe_payment_intent_id)""",
            ),
            (
                "orders",
                "refund grant pending with no refund job",
                f"""SELECT g.grant_id::text AS id, g.created_at AS due FROM orders.refund_grants g
                    WHERE g.status = 'pending' AND NOT EXISTS (SELECT 1 FROM orders.due_jobs j
                          WHERE j.kind = '{REFUND_GRANT_JOB}' AND j.key = g.grant_id::text)""",
            ),
        ]
    if "shop" in schemas:
        checks.append(
            (
                "shop",
                "stock held for a checkout past its hold_until",
                """SELECT DISTINCT r.checkout_id AS id, r.hold_until AS due FROM shop.reservations r
                   JOIN shop.reservation_lines l USING (checkout_id) WHERE l.status = 'held'""",
            )
        )
    if "live" in schemas:
        checks += [
            (
                "live",
                "flash-sale admission unpaid past its pay_by",
                """SELECT admission_id::text AS id, pay_by AS due FROM live.flash_sale_admissions
                   WHERE status = 'admitted'""",
            ),
            (
                "live",
                "flash sale not ended past its ends_at",
                "SELECT sale_id::text AS id, ends_at AS due FROM live.flash_sales WHERE status <> 'ended'",
            ),
        ]
    if "local_life" in schemas:
        checks += [
            (
                "local_life",
                "deal held for a checkout past its hold_until",
                """SELECT checkout_id || '/' || deal_id::text AS id, hold_until AS due FROM local_life.deal_holds
                   WHERE status = 'held'""",
            ),
            (
                "local_life",
                "team buy open past its deadline",
                "SELECT team_id::text AS id, deadline AS due FROM local_life.teams WHERE status = 'open'",
            ),
        ]
    for schema in sorted(schemas):
        checks.append(
            (
                schema,
                "due job not run past its due_at",
                f"""SELECT kind || ' ' || key AS id, due_at AS due FROM "{schema}".due_jobs
                    WHERE locked_until IS NULL OR locked_until < $2""",
            )
        )
    for schema, what, sql in checks:
        # $1: the late line, $2: now (the due-job checks ask whether a lease still runs then).
        rows = await conn.fetch(
            f"SELECT id, due FROM ({sql}) AS w, (SELECT $2::timestamptz AS now) AS n WHERE due < $1", late, now
        )
        counted = f"SELECT count(*) FROM ({sql}) AS w, (SELECT $1::timestamptz, $2::timestamptz) AS n"
        report.count("stuck", await conn.fetchval(counted, late, now))
        for row in rows:
            behind = (now - row["due"]).total_seconds()
            report.fail("stuck", f"{schema}: {what}: {row['id']} ({behind:.0f}s late at {now.isoformat()})")


# --- 7. funnel -----------------------------------------------------------------------------------


def _fact_scopes() -> str:
    return ", ".join(f"('{scope}', ff.{scope}_id)" for scope in FUNNEL_SCOPES)


async def _funnel(conn: asyncpg.Connection, report: _Report) -> None:
    scopes = _fact_scopes()
    report.count("funnel", await conn.fetchval("SELECT count(*) FROM live.funnel_minutes"))
    rows = await conn.fetch(
        f"""WITH want AS (
                SELECT x.scope, x.scope_id, ff.step, date_trunc('minute', ff.at) AS minute,
                       COALESCE(ff.currency, '') AS currency, count(*) AS n, sum(ff.quantity) AS quantity,
                       sum(ff.amount_minor) AS amount_minor, sum(ff.watch_s) AS watch_s
                FROM live.funnel_facts ff CROSS JOIN LATERAL (VALUES {scopes}) AS x(scope, scope_id)
                WHERE x.scope_id IS NOT NULL AND x.scope_id <> ''
                GROUP BY 1, 2, 3, 4, 5)
            SELECT COALESCE(w.scope, m.scope) AS scope, COALESCE(w.scope_id, m.scope_id) AS scope_id,
                   COALESCE(w.step, m.step) AS step, COALESCE(w.minute, m.minute) AS minute,
                   COALESCE(w.currency, m.currency) AS currency,
                   w.n AS want_n, m.n AS have_n, w.quantity AS want_quantity, m.quantity AS have_quantity,
                   w.amount_minor AS want_amount, m.amount_minor AS have_amount,
                   w.watch_s AS want_watch, m.watch_s AS have_watch
            FROM want w FULL JOIN live.funnel_minutes m
              ON (m.scope, m.scope_id, m.step, m.minute, m.currency)
                 = (w.scope, w.scope_id, w.step, w.minute, w.currency)
            WHERE w.n IS DISTINCT FROM m.n OR w.quantity IS DISTINCT FROM m.quantity
               OR w.amount_minor IS DISTINCT FROM m.amount_minor
               OR abs(COALESCE(w.watch_s, 0) - COALESCE(m.watch_s, 0))
                  > 1e-6 * greatest(1, abs(COALESCE(w.watch_s, 0)))
               OR w.n IS NULL OR m.n IS NULL
            ORDER BY 1, 2, 3, 4, 5"""
    )
    for r in rows:
        key = f"{r['scope']} {r['scope_id']} {r['step']} at {r['minute'].isoformat()}" + (
            f" {r['currency']}" if r["currency"] else ""
        )
        if r["have_n"] is None:
            report.fail("funnel", f"{key}: no rollup row for {r['want_n']} facts")
            continue
        diffs = [
            f"{name} {have} (facts: {want or 0})"
            for name, have, want in (
                ("n", r["have_n"], r["want_n"]),
                ("quantity", r["have_quantity"], r["want_quantity"]),
                ("amount", r["have_amount"], r["want_amount"]),
                ("watch_s", r["have_watch"], r["want_watch"]),
            )
            if not math.isclose(float(have or 0), float(want or 0), rel_tol=1e-6, abs_tol=1e-6)
        ]
        report.fail("funnel", f"{key}: rollup {', '.join(diffs) or 'differs'}")
    kinds = ", ".join(f"('{step}', '{kind}')" for step, kind in sorted(UNIQUE_KIND.items()))
    uniques = await conn.fetch(
        f"""WITH want AS (
                SELECT DISTINCT x.scope, x.scope_id, k.kind, ff.person_id
                FROM live.funnel_facts ff JOIN (VALUES {kinds}) AS k(step, kind) ON k.step = ff.step
                CROSS JOIN LATERAL (VALUES {scopes}) AS x(scope, scope_id)
                WHERE x.scope_id IS NOT NULL AND x.scope_id <> ''
                  AND ff.person_id IS NOT NULL AND ff.person_id <> '')
            SELECT COALESCE(w.scope, u.scope) AS scope, COALESCE(w.scope_id, u.scope_id) AS scope_id,
                   COALESCE(w.kind, u.kind) AS kind, COALESCE(w.person_id, u.person_id) AS person_id,
                   w.scope IS NULL AS extra
            FROM want w FULL JOIN live.funnel_uniques u
              ON (u.scope, u.scope_id, u.kind, u.person_id) = (w.scope, w.scope_id, w.kind, w.person_id)
            WHERE w.scope IS NULL OR u.scope IS NULL ORDER BY 1, 2, 3, 4"""
    )
    for u in uniques:
        which = "counted with no fact" if u["extra"] else "not counted"
        report.fail("funnel", f"{u['scope']} {u['scope_id']}: {u['kind']} {u['person_id']} {which}")


# --- command line --------------------------------------------------------------------------------


async def _main(args: argparse.Namespace) -> int:
    if args.settle:
        await settle(
            database_url=args.database_url, nats_url=args.nats_url, namespace=args.namespace, timeout=args.settle
        )
    verdict = await check_invariants(
        database_url=args.database_url, nats_url=args.nats_url, namespace=args.namespace, stripe_base=args.stripe_base
    )
    for violation in verdict.violations:
        print(violation)
    print(f"{verdict.summary()} ({verdict.took_s:.2f}s)")
    return 0 if verdict.ok() else 1


def main(argv: list[str] | None = None) -> int:
    """`python -m devstack.invariants`: settle (unless --settle 0), check, print; exit 1 on any violation."""
    parser = argparse.ArgumentParser(prog="python -m devstack.invariants", description=main.__doc__)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", _default_database()))
    parser.add_argument("--nats-url", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--namespace", default=os.environ.get("LIVELOOP_NS", ""))
    parser.add_argument("--stripe-base", default=os.environ.get("STRIPE_API_BASE", "http://127.0.0.1:8420"))
    parser.add_argument("--settle", type=float, default=60.0, help="seconds to wait for quiet first; 0: do not")
    return asyncio.run(_main(parser.parse_args(argv)))


def _default_database() -> str:
    from libs.settings import Settings

    return Settings().database_url


__all__ = ["GRACE_S", "INVARIANTS", "Verdict", "check_invariants", "settle"]

if __name__ == "__main__":
    sys.exit(main())
