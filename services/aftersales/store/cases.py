"""SQL of cases: the case, its lines, its history; moves as conditional updates on the version decided on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.aftersales.domain import Case, CaseUnits
from services.aftersales.views import CaseEventView, CaseLineView, CaseSummary, CaseView, ShipmentView

_CASE = """case_id::text, order_id::text, buyer_id, merchant_id::text, kind, status, escalated_from, grant_attempt,
           version, deadline"""

# What a move may set besides its status (whitelisted: the names are written into SQL).
MOVE_FIELDS = frozenset(
    {
        "reject_reason",
        "refuse_reason",
        "escalated_from",
        "decision",
        "decision_note",
        "return_carrier",
        "return_tracking",
        "replacement_carrier",
        "replacement_tracking",
        "refund_amount_minor",
        "stripe_refund_id",
    }
)


async def insert_case(
    conn: asyncpg.Connection,
    case: Case,
    units: list[CaseUnits],
    *,
    next_action: str | None,
    reason_code: str,
    description: str,
    evidence_urls: list[str],
    idempotency: str,
    now: datetime,
) -> None:
    """A new case and its lines."""
    await conn.execute(
        """INSERT INTO cases (case_id, order_id, buyer_id, merchant_id, kind, status, next_action, deadline,
                              reason_code, description, evidence_urls, idempotency, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)""",
        case.case_id,
        case.order_id,
        case.buyer_id,
        case.merchant_id,
        case.kind,
        case.status,
        next_action,
        case.deadline,
        reason_code,
        description,
        evidence_urls,
        idempotency,
        now,
    )
    await conn.executemany(
        """INSERT INTO case_lines (case_id, order_id, line_no, sku_id, quantity, replacement_sku_id)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        [(case.case_id, case.order_id, u.line_no, u.sku_id, u.quantity, u.replacement_sku_id) for u in units],
    )


async def add_history(
    conn: asyncpg.Connection, case_id: str, *, at: datetime, actor: str, action: str, status: str, note: str | None
) -> None:
    await conn.execute(
        "INSERT INTO case_events (case_id, at, actor, action, status, note) VALUES ($1, $2, $3, $4, $5, $6)",
        case_id,
        at,
        actor,
        action,
        status,
        note,
    )


async def fetch_case(
    conn: asyncpg.Connection | Any,
    case_id: str,
    *,
    buyer_id: str | None = None,
    merchant_id: str | None = None,
) -> Case | None:
    """The case, if it is the buyer's or the merchant's named (anyone's when neither is)."""
    row = await conn.fetchrow(
        f"""SELECT {_CASE} FROM cases
            WHERE case_id = $1 AND ($2::text IS NULL OR buyer_id = $2) AND ($3::uuid IS NULL OR merchant_id = $3)""",  # noqa: S608 - fixed columns
        case_id,
        buyer_id,
        merchant_id,
    )
    return None if row is None else Case(**dict(row))


async def case_units(conn: asyncpg.Connection | Any, case_id: str) -> list[CaseUnits]:
    rows = await conn.fetch(
        """SELECT cl.line_no, cl.sku_id::text, l.product_id::text, cl.quantity, cl.replacement_sku_id::text,
                  cl.restockable
           FROM case_lines cl JOIN order_lines l ON l.order_id = cl.order_id AND l.line_no = cl.line_no
           WHERE cl.case_id = $1 ORDER BY cl.line_no""",
        case_id,
    )
    return [CaseUnits(**dict(row)) for row in rows]


async def move(
    conn: asyncpg.Connection,
    case: Case,
    *,
    status: str,
    next_action: str | None,
    deadline: datetime | None,
    grant: bool,
    now: datetime,
    closed: bool,
    fields: dict[str, Any],
) -> Case | None:
    """Move the case from the version it was decided on; None if it moved meanwhile (nothing written)."""
    unknown = set(fields) - MOVE_FIELDS
    if unknown:
        raise ValueError(f"a move cannot set {sorted(unknown)}")
    names = sorted(fields)
    sets = "".join(f", {name} = ${n}" for n, name in enumerate(names, start=9))
    row = await conn.fetchrow(
        f"""UPDATE cases SET status = $3, next_action = $4, deadline = $5,
                   grant_attempt = grant_attempt + CASE WHEN $6 THEN 1 ELSE 0 END,
                   updated_at = $7, closed_at = CASE WHEN $8 THEN $7 ELSE closed_at END,
                   version = version + 1{sets}
            WHERE case_id = $1 AND version = $2
            RETURNING {_CASE}""",  # noqa: S608 - columns from MOVE_FIELDS only
        case.case_id,
        case.version,
        status,
        next_action,
        deadline,
        grant,
        now,
        closed,
        *(fields[name] for name in names),
    )
    return None if row is None else Case(**dict(row))


async def set_restockable(conn: asyncpg.Connection, case_id: str, restockable: dict[int, int]) -> None:
    await conn.executemany(
        "UPDATE case_lines SET restockable = $3 WHERE case_id = $1 AND line_no = $2",
        [(case_id, line_no, units) for line_no, units in restockable.items()],
    )


# --- views ---------------------------------------------------------------------------------------------------


def _shipment(carrier: str | None, tracking: str | None) -> ShipmentView | None:
    return None if carrier is None or tracking is None else ShipmentView(carrier=carrier, tracking_number=tracking)


async def case_view(conn: asyncpg.Connection | Any, case_id: str) -> CaseView:
    """The case with its lines and history."""
    row = await conn.fetchrow(
        """SELECT case_id::text, order_id::text, buyer_id, merchant_id::text, kind, status, next_action, deadline,
                  reason_code, description, evidence_urls, reject_reason, refuse_reason, escalated_from, decision,
                  decision_note, return_carrier, return_tracking, replacement_carrier, replacement_tracking,
                  refund_amount_minor, stripe_refund_id, created_at, updated_at, closed_at
           FROM cases WHERE case_id = $1""",
        case_id,
    )
    lines = await _lines(conn, [case_id])
    history = await conn.fetch(
        "SELECT at, actor, action, status, note FROM case_events WHERE case_id = $1 ORDER BY seq", case_id
    )
    facts = dict(row)
    return CaseView(
        **{k: v for k, v in facts.items() if not k.startswith(("return_", "replacement_"))},
        lines=lines.get(case_id, []),
        return_shipment=_shipment(facts["return_carrier"], facts["return_tracking"]),
        replacement_shipment=_shipment(facts["replacement_carrier"], facts["replacement_tracking"]),
        history=[CaseEventView(**dict(h)) for h in history],
    )


async def _lines(conn: asyncpg.Connection | Any, case_ids: list[str]) -> dict[str, list[CaseLineView]]:
    rows = await conn.fetch(
        """SELECT case_id::text, line_no, sku_id::text, quantity, replacement_sku_id::text, restockable
           FROM case_lines WHERE case_id = ANY($1::uuid[]) ORDER BY case_id, line_no""",
        case_ids,
    )
    found: dict[str, list[CaseLineView]] = {}
    for row in rows:
        facts = dict(row)
        found.setdefault(facts.pop("case_id"), []).append(CaseLineView(**facts))
    return found


_SUMMARY = """SELECT case_id::text, order_id::text, kind, status, next_action, deadline, reason_code, created_at,
                     updated_at FROM cases"""


async def _summaries(conn: asyncpg.Connection | Any, rows: list[asyncpg.Record]) -> list[CaseSummary]:
    lines = await _lines(conn, [row["case_id"] for row in rows])
    return [CaseSummary(**dict(row), lines=lines.get(row["case_id"], [])) for row in rows]


async def buyer_cases(
    conn: asyncpg.Connection | Any, buyer_id: str, *, before: tuple[datetime, str] | None, limit: int
) -> list[CaseSummary]:
    """The buyer's cases, newest first, after the cursor's position."""
    rows = await conn.fetch(
        f"""{_SUMMARY}
            WHERE buyer_id = $1 AND ($2::timestamptz IS NULL OR (created_at, case_id) < ($2, $3::uuid))
            ORDER BY created_at DESC, case_id DESC LIMIT $4""",
        buyer_id,
        before[0] if before else None,
        before[1] if before else None,
        limit,
    )
    return await _summaries(conn, rows)


async def merchant_cases(
    conn: asyncpg.Connection | Any, merchant_id: str, *, status: str | None, limit: int
) -> list[CaseSummary]:
    """The merchant's cases, soonest deadline first (none last)."""
    rows = await conn.fetch(
        f"""{_SUMMARY}
            WHERE merchant_id = $1 AND ($2::text IS NULL OR status = $2)
            ORDER BY deadline ASC NULLS LAST, created_at, case_id LIMIT $3""",
        merchant_id,
        status,
        limit,
    )
    return await _summaries(conn, rows)


async def operator_cases(conn: asyncpg.Connection | Any, *, statuses: list[str], limit: int) -> list[CaseSummary]:
    """Cases waiting for an operator, longest waiting first."""
    rows = await conn.fetch(
        f"""{_SUMMARY} WHERE status = ANY($1::text[]) ORDER BY updated_at, case_id LIMIT $2""", statuses, limit
    )
    return await _summaries(conn, rows)
