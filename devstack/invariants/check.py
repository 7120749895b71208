"""`check_invariants`: the database in one REPEATABLE READ snapshot, then Stripe, then JetStream."""

from __future__ import annotations

import time
from datetime import datetime

import asyncpg

from devstack.invariants.events import _events, _jetstream
from devstack.invariants.funnel import _funnel
from devstack.invariants.money import _charges, _Facts, _orders_facts, _refunds, _stripe
from devstack.invariants.sources import _consumers, _schemas
from devstack.invariants.stock import _stock
from devstack.invariants.stuck import GRACE_S, _stuck
from devstack.invariants.verdict import Verdict, _Report
from devstack.invariants.vouchers import _vouchers


async def check_invariants(
    *,
    database_url: str,
    nats_url: str,
    namespace: str,
    stripe_base: str,
    now: datetime | None = None,
    grace_s: float = GRACE_S,
) -> Verdict:
    """Check the seven invariants (the package docstring) and answer what was found."""
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
