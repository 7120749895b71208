"""Invariant 6, stuck: nothing waits past its deadline by more than a grace."""

# Every name put into SQL text here is a schema of SERVICES or a constant of the code, never input.
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from devstack.invariants.verdict import _Report
from services.orders.domain import REFUND_JOB
from services.orders.domain.money import REFUND_GRANT_JOB

GRACE_S = 30.0


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
