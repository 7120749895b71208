"""Invariant 7, funnel (live): the minute rollups and the unique people equal what the facts say."""

# Every name put into SQL text here is a schema of SERVICES or a constant of the code, never input.
# ruff: noqa: S608

from __future__ import annotations

import math

import asyncpg

from devstack.invariants.verdict import _Report
from services.live.funnel.domain.facts import SCOPES as FUNNEL_SCOPES
from services.live.funnel.domain.facts import UNIQUE_KIND


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
