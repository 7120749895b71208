"""Invariant 1, stock: every unit of every SKU and every flash sale is in exactly one place."""

from __future__ import annotations

import asyncpg

from devstack.invariants.verdict import _Report
from libs.contracts import ProductPublished


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
