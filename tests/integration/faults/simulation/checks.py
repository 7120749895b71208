"""What must hold: at every instant, from what each party can read (`observe`, after every step), and once the end
has settled, against what the model expects (`unsettled`, `check_buyers_view`)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from tests.integration.faults.simulation.api import Api
from tests.integration.faults.simulation.config import BUYERS, DEAL_TOTAL, SKU_STOCK
from tests.integration.faults.simulation.model import (
    CASE_FINAL,
    ORDER_REACH,
    VOUCHER_REACH,
    Case,
    Model,
    Purchase,
    SimulationFailed,
    Voucher,
)
from tests.integration.faults.simulation.world import World


async def observe(api: Api, world: World, model: Model) -> dict[str, Any]:
    """Read every order, voucher, case, the stock, the deal and the room's figures, as the merchant, the host
    and the buyers see them; check what must always hold; return the stock, the deal's and the room's figures."""
    # The room first: its counters follow the orders and vouchers (events), so read before them they may lag
    # behind what the reads below show, never lead.
    room = await api.read(api.client("live", world.host), f"/rooms/{world.room_id}/stats")
    orders_task = api.pages(api.client("orders", world.merchant), "/seller/orders")
    vouchers_tasks = [api.pages(api.client("local_life", token), "/vouchers") for token in world.buyers]
    cases_tasks = [api.pages(api.client("aftersales", token), "/cases") for token in world.buyers]
    product_task = api.read(api.client("shop", world.merchant), f"/seller/products/{world.product_id}")
    deal_task = api.read(api.client("local_life"), f"/deals/{world.deal_id}")
    shortfalls_task = api.read(api.client("shop", world.merchant), "/seller/stock-shortfalls")
    orders, product, deal, shortfalls, *rest = await asyncio.gather(
        orders_task, product_task, deal_task, shortfalls_task, *vouchers_tasks, *cases_tasks
    )
    vouchers = [v for page in rest[:BUYERS] for v in page]
    cases = [c for page in rest[BUYERS:] for c in page]
    _check_orders(model, orders)
    _check_vouchers(model, vouchers)
    _check_cases(model, cases)
    stock = {sku["sku_id"]: (sku["stock_on_hand"], sku["stock_reserved"]) for sku in product["skus"]}
    for sku_id, (on_hand, reserved) in stock.items():
        if not 0 <= reserved <= on_hand <= SKU_STOCK:
            model.violations.append(f"sku {sku_id}: on hand {on_hand}, reserved {reserved}, received {SKU_STOCK}")
    if deal["remaining"] is None or not 0 <= deal["remaining"] <= DEAL_TOTAL:
        model.violations.append(f"deal: remaining {deal['remaining']} of {DEAL_TOTAL}")
    items = shortfalls.get("items", shortfalls) if isinstance(shortfalls, dict) else shortfalls
    if items:
        model.violations.append(f"stock shortfalls (paid units shop could not cover): {items}")
    _check_room(model, room)
    return {"stock": stock, "remaining": deal["remaining"], "room": room}


def _room_facts(model: Model) -> dict[str, int]:
    """What the room's counters must reach, from what the orders and vouchers read last say."""
    paid = [p for p in model.purchases if p.paid]
    return {
        "paid_orders": len(paid),
        "paid_amount_minor": sum(p.amount_minor for p in paid),
        "refunded_amount_minor": sum(p.refunded_minor for p in model.purchases),
        "vouchers_sold": len(model.vouchers),
        "vouchers_redeemed": sum(v.status == "redeemed" for v in model.vouchers.values()),
        "vouchers_refunded": sum(v.status == "refunded" for v in model.vouchers.values()),
    }


def _check_room(model: Model, room: dict[str, Any]) -> None:
    # Counted once per fact: never more than the facts read after the counters (redemptions go down on an undo,
    # so they are compared at the end only).
    for name, most in _room_facts(model).items():
        if name != "vouchers_redeemed" and room[name] > most:
            model.violations.append(f"room {name} {room[name]}, but the facts read after it say {most}")


def _check_orders(model: Model, orders: list[dict[str, Any]]) -> None:
    seen = {o["order_id"]: o for o in orders}
    for p in model.purchases:
        order = seen.get(p.order_id)
        if order is None:
            model.violations.append(f"{p.label()}: order {p.order_id} missing from the merchant's orders")
            continue
        status, refunded = order["status"], order.get("refunded_minor", 0)
        paid = order.get("paid_at") is not None
        # The graph forbids going back (paid -> awaiting_payment) and out of cancelled (an order cancelled
        # unpaid is never paid later: a payment that lands after its window is refunded instead).
        if status not in ORDER_REACH[p.status]:
            model.violations.append(f"{p.label()}: order went {p.status} -> {status}")
        if p.paid and not paid:
            model.violations.append(f"{p.label()}: was paid, now {status} without paid_at")
        if paid and p.status == "cancelled" and not p.paid:
            model.violations.append(f"{p.label()}: cancelled unpaid, then paid")
        if not 0 <= refunded <= order["amount_minor"] or refunded < p.refunded_minor:
            model.violations.append(
                f"{p.label()}: refunded {p.refunded_minor} -> {refunded} of {order['amount_minor']} charged"
            )
        for line in order["lines"]:
            ledger = line.get("ledger") or {}
            if ledger and not (
                0 <= ledger["refunded"] <= ledger["refund_requested"] <= ledger["ordered"]
                and ledger["shipped"] + ledger["cancelled"] <= ledger["ordered"]
            ):
                model.violations.append(f"{p.label()} line {line['line_no']}: ledger {ledger}")
        p.status, p.refunded_minor, p.paid = status, refunded, paid


def _check_vouchers(model: Model, vouchers: list[dict[str, Any]]) -> None:
    by_order = {p.order_id: p for p in model.purchases}
    for found in vouchers:
        purchase = by_order.get(found["order_id"])
        if purchase is None:
            model.violations.append(f"voucher {found['voucher_id']} of an order the sim never placed")
            continue
        voucher = model.vouchers.get(found["voucher_id"])
        if voucher is None:
            voucher = Voucher(found["voucher_id"], found["code"], purchase, found["line_no"], status="unused")
            model.vouchers[voucher.voucher_id] = voucher
            model.report.vouchers += 1
        label, status = model.vlabel(voucher), found["status"]
        if status not in VOUCHER_REACH[voucher.status]:
            model.violations.append(f"{label}: went {voucher.status} -> {status}")
        live = [r for r in found["redemptions"] if r["undone_at"] is None]
        if len(live) > (status == "redeemed") or (status == "redeemed" and len(live) != 1):
            model.violations.append(f"{label}: {status} with {len(live)} live redemptions")
        if voucher.redemption_id and (status != "redeemed" or live[0]["redemption_id"] != voucher.redemption_id):
            model.violations.append(
                f"{label}: the sim's redemption {voucher.redemption_id} is live but it reads {status}"
            )
        if voucher.refund_asked and status not in ("refund_pending", "refunded"):
            model.violations.append(f"{label}: refund accepted, then {status}")
        if not voucher.redemption_id and not voucher.refund_asked and status != "unused":
            model.violations.append(f"{label}: nobody redeemed or refunded it, yet it reads {status}")
        voucher.status = status


def _check_cases(model: Model, cases: list[dict[str, Any]]) -> None:
    seen = {c["case_id"]: c for c in cases}
    for case in model.cases:
        found = seen.get(case.case_id)
        if found is None:
            model.violations.append(f"{case.label()}: missing from its buyer's cases")
            continue
        if case.status in CASE_FINAL and found["status"] != case.status:
            model.violations.append(f"{case.label()}: final {case.status}, then {found['status']}")
        case.status = found["status"]


def _expected(model: Model, purchase: Purchase) -> dict[str, Any]:
    """What a settled purchase must look like, from what the APIs answered (None: either way)."""
    paid = {"yes": True, "no": False}.get(purchase.charged)
    refund = 0
    if purchase.cancelled:
        refund += sum(line.amount_minor for line in purchase.goods())
    refund += sum(c.units * c.line.unit_price_minor for c in model.cases if c.purchase is purchase)
    refund += sum(
        next(line for line in purchase.lines if line.line_no == v.line_no).unit_price_minor
        for v in model.vouchers.values()
        if v.purchase is purchase and v.refund_asked
    )
    return {"paid": paid, "refund": refund}


def unsettled(model: Model, world: World, figures: dict[str, Any]) -> list[str]:
    """What still differs from the model's expectations (empty once settled)."""
    waiting: list[str] = []
    sold_goods: Counter = Counter()
    sold_deal = 0
    for p in model.purchases:
        want = _expected(model, p)
        if p.status == "awaiting_payment":
            waiting.append(f"{p.label()}: still awaiting payment")
            continue
        if want["paid"] is not None and p.paid != want["paid"]:
            waiting.append(f"{p.label()}: {p.status} (paid: {p.paid}) though the confirms said charged={p.charged}")
        if not p.paid:
            if p.refunded_minor:
                waiting.append(f"{p.label()}: cancelled unpaid with {p.refunded_minor} refunded")
            continue
        if p.refunded_minor != want["refund"]:
            waiting.append(f"{p.label()}: refunded {p.refunded_minor}, expected {want['refund']}")
        if p.cancelled and p.status != "cancelled" and not p.deals():
            waiting.append(f"{p.label()}: cancelled by its buyer, reads {p.status}")
        if p.shipped and p.status != "shipped":
            waiting.append(f"{p.label()}: shipped, reads {p.status}")
        if not p.cancelled:
            for line in p.goods():
                sold_goods[line.ref] += line.quantity
        for line in p.deals():
            sold_deal += line.quantity
            issued = [v for v in model.vouchers.values() if v.purchase is p and v.line_no == line.line_no]
            if len(issued) != line.quantity:
                waiting.append(f"{p.label()} line {line.line_no}: {len(issued)} vouchers of {line.quantity}")
    for voucher in model.vouchers.values():
        want = "refunded" if voucher.refund_asked else ("redeemed" if voucher.redemption_id else "unused")
        if voucher.status != want:
            waiting.append(f"{model.vlabel(voucher)}: {voucher.status}, expected {want}")
    for case in model.cases:
        if case.status != "refunded":
            waiting.append(f"{case.label()}: {case.status}, expected refunded (approved, or its deadline passed)")
    for sku_id, _ in world.skus:
        on_hand, reserved = figures["stock"][sku_id]
        sold = sold_goods[sku_id]
        if (on_hand, reserved) != (SKU_STOCK - sold, 0):
            waiting.append(
                f"sku {sku_id}: on hand {on_hand}, reserved {reserved}; "
                f"expected {SKU_STOCK - sold} on hand (received {SKU_STOCK}, sold {sold}), 0 held"
            )
    room = figures["room"]
    for name, want in _room_facts(model).items():
        if room[name] != want:
            waiting.append(f"room {name} {room[name]}, expected {want}")
    if figures["remaining"] != DEAL_TOTAL - sold_deal:
        waiting.append(f"deal: {figures['remaining']} remaining, expected {DEAL_TOTAL - sold_deal} ({sold_deal} sold)")
    return waiting


async def check_buyers_view(api: Api, world: World, model: Model) -> None:
    """Each buyer's own checkout says what the merchant's order says (paid, or expired), and each case what it
    gave back."""

    async def one(purchase: Purchase) -> str | None:
        found = await api.read(api.client("orders", world.buyers[purchase.buyer]), f"/checkouts/{purchase.checkout_id}")
        want = "paid" if purchase.paid else "expired"
        statuses = {o["order_id"]: o["status"] for o in found["orders"]}
        if found["status"] != want or purchase.order_id not in statuses:
            return f"{purchase.label()}: its buyer reads {found['status']} (orders {statuses}), expected {want}"
        return None

    async def case_of(case: Case) -> str | None:
        found = await api.read(api.client("aftersales", world.buyers[case.purchase.buyer]), f"/cases/{case.case_id}")
        want = case.units * case.line.unit_price_minor
        if found["refund_amount_minor"] != want:
            return f"{case.label()}: refunded {found['refund_amount_minor']}, expected {want} ({case.units} units)"
        return None

    wrong = [
        w for w in await asyncio.gather(*(one(p) for p in model.purchases), *(case_of(c) for c in model.cases)) if w
    ]
    if wrong:
        raise SimulationFailed("; ".join(wrong))
