"""Invariants 2 and 3, charges and refunds: what orders says about money against what localstripe holds."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from devstack.invariants.verdict import _listed, _Report

# A Stripe intent that can still take money (cancel would succeed) or is taking it.
_LIVE_INTENT = ("requires_payment_method", "requires_confirmation", "requires_action", "requires_capture", "processing")
_STRIPE_KEY = "sk_test_invariants"


@dataclass
class _Facts:
    """What the Stripe checks need from orders' snapshot."""

    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders_of: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    owed: dict[str, dict[str, Any]] = field(default_factory=dict)
    grants: dict[str, dict[str, Any]] = field(default_factory=dict)


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
