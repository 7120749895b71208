"""Invariant 4, vouchers (local_life): each redeemed at most once and refunded at most once, as orders granted."""

from __future__ import annotations

import asyncpg

from devstack.invariants.verdict import _listed, _Report


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
