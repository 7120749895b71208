"""What a step may launch: one method per kind of `ACTIONS`, each picking its target from the model with the move's
draws, acting as a buyer, the merchant, the clerk, Stripe or the clock would, and answering a line of the trace."""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx

from tests.harness import Infra, Stack
from tests.integration.faults.simulation.api import Api
from tests.integration.faults.simulation.config import BUYERS, CATCH_UP_S, JUMPS_S
from tests.integration.faults.simulation.model import PAID, Case, Line, Model, Purchase, SimulationFailed
from tests.integration.faults.simulation.planning import Move, pick
from tests.integration.faults.simulation.world import World


class Actions:
    """The actions of one run, on its world, recorded in its model."""

    def __init__(self, stack: Stack, api: Api, world: World, model: Model, started_at: int) -> None:
        self.stack = stack
        self.infra: Infra = stack.infra
        self.api = api
        self.world = world
        self.model = model
        self.started_at = started_at  # Stripe's events of this run are those created since

    async def act(self, move: Move) -> str:
        return await getattr(self, f"_{move.kind}")(move)

    async def _checkout(self, move: Move) -> str:
        buyer = min(int(move.a * BUYERS), BUYERS - 1)
        sku_id, _ = self.world.skus[int(move.b * 10) % len(self.world.skus)]
        quantity = 1 if move.n < 3 else 2
        what = "goods" if move.b < 0.45 else ("deal" if move.b < 0.8 else "both")
        items: list[dict[str, Any]] = []
        if what in ("goods", "both"):
            items.append({"sku_id": sku_id, "quantity": quantity, "room_id": self.world.room_id})
        if what in ("deal", "both"):
            items.append(
                {
                    "deal_id": self.world.deal_id,
                    "quantity": 1 if what == "both" else quantity,
                    "room_id": self.world.room_id,
                }
            )
        answer = await self.api.call(
            self.api.client("orders", self.world.buyers[buyer]), "POST", "/checkout", key=True, json={"items": items}
        )
        # 409: out of stock, the deal sold out or past the buyer's limit, too many unpaid checkouts; a checkout whose
        # holds were given up after a failure answers `checkout-expired` to its retry.
        self.api.expect(f"checkout {items}", answer, 201, 409)
        if answer.status != 201:
            return f"checkout b{buyer} {what}x{quantity} -> {answer.short()}"
        body = answer.body
        if len(body["orders"]) != 1:
            raise SimulationFailed(f"one merchant's checkout made {len(body['orders'])} orders: {body}")
        (order,) = body["orders"]
        lines = [
            Line(
                line["line_no"],
                "deal" if line.get("deal_id") else "goods",
                line.get("deal_id") or line["sku_id"],
                line["quantity"],
                line["unit_price_minor"],
            )
            for line in order["lines"]
        ]
        purchase = Purchase(
            move.at,
            buyer,
            body["checkout_id"],
            order["order_id"],
            body["payment"]["payment_id"],
            order["amount_minor"],
            lines,
        )
        if purchase.amount_minor != sum(line.amount_minor for line in lines):
            raise SimulationFailed(f"order {purchase.order_id}: amount {purchase.amount_minor} != its lines {lines}")
        bisect.insort(self.model.purchases, purchase, key=lambda p: p.at)
        self.model.report.purchases += 1
        return (
            f"checkout b{buyer} {what}x{quantity} -> {answer.short()} {purchase.label()} {purchase.amount_minor} "
            f"(order {purchase.order_id[:8]})"
        )

    async def _pay(self, move: Move, method: str = "pm_card_visa") -> str:
        purchase = pick(self.model.payable(), move.a)
        if purchase is None:
            return f"{move.kind}: nothing to pay"
        client = self.api.client("orders", self.world.buyers[purchase.buyer])
        me = object()
        if purchase.confirming:
            purchase.raced |= {*purchase.confirming, me}
        purchase.confirming.add(me)
        try:
            answer = await self.api.call(
                client, "POST", f"/payments/{purchase.payment_id}/confirm", json={"payment_method": method}
            )
        finally:
            purchase.confirming.discard(me)
        raced = me in purchase.raced
        purchase.raced.discard(me)
        # 402: declined; 409: the window closed (or the checkout is no longer payable). Two confirms of one payment
        # at once with different cards: orders attaches the card and confirms in two calls (localstripe has no
        # confirm with a payment method), so one confirm may charge the other's card (402 for the good card) and
        # the other find the intent already confirmed (400 invalid-payment-method). No money moves wrongly; the
        # answers are wrong, and counted in the report (docs: the report of issue 13's helper B).
        if raced and answer.status in (400, 402):
            self.model.report.confirm_races += 1
            return f"{move.kind} {purchase.label()} -> {answer.short()} (raced another confirm)"
        self.api.expect(f"confirm {purchase.label()}", answer, 202, 402, 409)
        if method == "pm_card_visa" and answer.status == 402:
            raise SimulationFailed(f"confirm {purchase.label()} with a good card alone: declined {answer.body}")
        taken = answer.status == 202 and answer.body["status"] in ("succeeded", "processing", "requires_capture")
        if taken:
            purchase.charged = "yes"
        elif answer.retried and purchase.charged == "no":
            # A confirm that died on its way may have charged before it died; the end tells.
            purchase.charged = "maybe"
        status = f" {answer.body['status']}" if answer.status == 202 else ""
        return (
            f"{move.kind} {purchase.label()} -> {answer.short()}{status}{' (raced another confirm)' if raced else ''}"
        )

    async def _pay_declined(self, move: Move) -> str:
        return await self._pay(move, "pm_card_chargeCustomerFail")

    async def _cancel(self, move: Move) -> str:
        eligible = [
            p for p in self.model.purchases if p.status == PAID and p.goods() and not p.shipped and not p.cancelled
        ]
        purchase = pick(eligible, move.a)
        if purchase is None:
            return "cancel: no paid order with goods to cancel"
        client = self.api.client("orders", self.world.buyers[purchase.buyer])
        answer = await self.api.call(client, "POST", f"/orders/{purchase.order_id}/cancel", key=True)
        # 409: it shipped meanwhile (a shipment racing the cancel wins or loses as a whole).
        self.api.expect(f"cancel {purchase.label()}", answer, 200, 409)
        if answer.status == 200:
            if purchase.shipped:
                self.model.violations.append(f"{purchase.label()}: both a shipment (201) and the buyer's cancel (200)")
            purchase.cancelled = True
        return f"cancel {purchase.label()} -> {answer.short()}"

    async def _ship(self, move: Move) -> str:
        eligible = [
            p for p in self.model.purchases if p.status == PAID and p.goods() and not p.shipped and not p.cancelled
        ]
        purchase = pick(eligible, move.a)
        if purchase is None:
            return "ship: nothing to ship"
        answer = await self.api.call(
            self.api.client("orders", self.world.merchant),
            "POST",
            f"/seller/orders/{purchase.order_id}/shipments",
            key=True,
            json={"carrier": "dhl", "tracking_number": uuid.uuid4().hex},
        )
        # 409 order-not-shippable: the buyer's cancel won the race.
        self.api.expect(f"ship {purchase.label()}", answer, 201, 409)
        if answer.status == 201:
            if purchase.cancelled:
                self.model.violations.append(f"{purchase.label()}: both the buyer's cancel (200) and a shipment (201)")
            purchase.shipped = True
        return f"ship {purchase.label()} -> {answer.short()}"

    async def _open_case(self, move: Move) -> str:
        eligible = [
            (p, line)
            for p in self.model.purchases
            if p.shipped
            for line in p.goods()
            if self.model.case_units_left(p, line) > 0
        ]
        picked = pick(eligible, move.a)
        if picked is None:
            return "open_case: nothing shipped to complain about"
        purchase, line = picked
        units = min(move.n, self.model.case_units_left(purchase, line))
        answer = await self.api.call(
            self.api.client("aftersales", self.world.buyers[purchase.buyer]),
            "POST",
            "/cases",
            key=True,
            json={
                "order_id": purchase.order_id,
                "kind": "refund_only",
                "reason_code": "not_received",
                "description": "The parcel never came",
                "evidence_urls": [],
                "lines": [{"line_no": line.line_no, "quantity": units}],
            },
        )
        # aftersales knows orders from their events, so it may not have heard yet: of the order at all (404
        # order-not-found, as for an unknown one), of its payment (409 order-not-paid) or of its shipment (422
        # quantity-exceeds-refundable); 409 case-limit-reached.
        self.api.expect(f"case on {purchase.label()}", answer, 201, 404, 409, 422)
        if answer.status == 201:
            case = Case(move.at, answer.body["case_id"], purchase, line, units, answer.body["status"])
            bisect.insort(self.model.cases, case, key=lambda c: c.at)
            self.model.report.cases += 1
            return f"open_case {purchase.label()} line {line.line_no} x{units} -> {answer.short()} {case.label()}"
        return f"open_case {purchase.label()} line {line.line_no} x{units} -> {answer.short()}"

    async def _approve(self, move: Move) -> str:
        eligible = [c for c in self.model.cases if c.status == "requested"]
        case = pick(eligible, move.a)
        if case is None:
            return "approve: no case waiting for the merchant"
        answer = await self.api.call(
            self.api.client("aftersales", self.world.merchant), "POST", f"/seller/cases/{case.case_id}/approve"
        )
        # 409 case-not-approvable: its deadline approved it first (a job), or a retried approve had already landed.
        self.api.expect(f"approve {case.label()}", answer, 200, 409)
        return f"approve {case.label()} -> {answer.short()}"

    async def _redeem(self, move: Move) -> str:
        voucher = pick(self.model.usable(), move.a)
        if voucher is None:
            return "redeem: no unused voucher"
        clerk = self.api.client("local_life", self.world.clerk)
        prepared = await self.api.call(clerk, "POST", "/redemptions/prepare", json={"code": voucher.code})
        # 409 voucher-not-usable: a refund or another redemption got there first.
        self.api.expect(f"prepare {voucher.voucher_id}", prepared, 200, 409)
        if prepared.status != 200:
            return f"redeem {self.model.vlabel(voucher)} -> prepare {prepared.short()}"
        offered = [v["voucher_id"] for v in prepared.body["vouchers"]]
        if voucher.voucher_id not in offered:
            return f"redeem {self.model.vlabel(voucher)} -> not offered ({len(offered)} others)"
        verified = await self.api.call(
            clerk,
            "POST",
            "/redemptions/verify",
            json={"verify_token": prepared.body["verify_token"], "voucher_ids": [voucher.voucher_id]},
        )
        # 409 verify-token-expired: the clock jumped past its 60 s in the same step.
        self.api.expect(f"verify {voucher.voucher_id}", verified, 200, 409)
        if verified.status != 200:
            return f"redeem {self.model.vlabel(voucher)} -> verify {verified.short()}"
        (outcome,) = verified.body["vouchers"]
        if outcome["outcome"] == "redeemed":
            if voucher.redemption_id or voucher.refund_asked:
                self.model.violations.append(
                    f"{self.model.vlabel(voucher)} redeemed again while the sim holds "
                    f"{voucher.redemption_id or 'a refund'}"
                )
            voucher.redemption_id = outcome["redemption_id"]
        retried = f" after {verified.retried}x5xx" if verified.retried else ""
        return f"redeem {self.model.vlabel(voucher)} -> {outcome['outcome']}{retried}"

    async def _undo(self, move: Move) -> str:
        eligible = [v for v in self.model.vouchers.values() if v.redemption_id]
        voucher = pick(eligible, move.a)
        if voucher is None:
            return "undo: nothing redeemed"
        answer = await self.api.call(
            self.api.client("local_life", self.world.clerk), "POST", f"/redemptions/{voucher.redemption_id}/undo"
        )
        # 409 already-undone (a retried undo that had landed), undo-window-closed (the clock passed the hour).
        self.api.expect(f"undo {voucher.redemption_id}", answer, 200, 409)
        if answer.status == 200 or (answer.code == "already-undone" and answer.retried):
            voucher.redemption_id = None
        elif answer.code == "already-undone":
            self.model.violations.append(
                f"{self.model.vlabel(voucher)}: undo of the sim's live redemption says already-undone"
            )
        return f"undo {self.model.vlabel(voucher)} -> {answer.short()}"

    async def _refund_vouchers(self, move: Move) -> str:
        voucher = pick(self.model.usable(), move.a)
        if voucher is None:
            return "refund_vouchers: no unused voucher"
        answer = await self.api.call(
            self.api.client("local_life", self.world.buyers[voucher.purchase.buyer]),
            "POST",
            "/vouchers/refund",
            key=True,
            json={"voucher_ids": [voucher.voucher_id]},
        )
        # 409 voucher-not-refundable: a redemption got there first.
        self.api.expect(f"refund {voucher.voucher_id}", answer, 202, 409)
        if answer.status == 202:
            if voucher.redemption_id:
                self.model.violations.append(
                    f"{self.model.vlabel(voucher)}: refund accepted while redeemed ({voucher.redemption_id})"
                )
            voucher.refund_asked = True
        return f"refund_vouchers {self.model.vlabel(voucher)} -> {answer.short()}"

    async def _webhook_again(self, move: Move) -> str:
        """Stripe delivers one of our payment events again (it does, at least once; localstripe never retries)."""
        mine = {p.checkout_id: p for p in self.model.purchases}
        events = [
            e for e in await self._stripe_events() if e["data"]["object"].get("metadata", {}).get("checkout_id") in mine
        ]
        events.sort(
            key=lambda e: (mine[e["data"]["object"]["metadata"]["checkout_id"]].at, e["type"], e["created"], e["id"])
        )
        event = pick(events, move.a)
        if event is None:
            return "webhook_again: no payment event yet"
        payload = json.dumps(event)
        t = int(time.time())
        mac = hmac.new(self.infra.webhook_secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
        answer = await self.api.call(
            self.api.client("orders"),
            "POST",
            "/stripe/webhook",
            content=payload.encode(),
            headers={"Content-Type": "application/json", "Stripe-Signature": f"t={t},v1={mac}"},
        )
        self.api.expect(f"webhook {event['id']}", answer, 200)
        purchase = mine[event["data"]["object"]["metadata"]["checkout_id"]]
        return f"webhook_again {event['type']} of {purchase.label()} -> {answer.short()} {answer.body['status']}"

    async def _stripe_events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        after = None
        async with httpx.AsyncClient(
            base_url=self.infra.stripe_base, auth=("sk_test_liveloop", ""), timeout=30
        ) as stripe:
            for _ in range(50):
                params = {"limit": "100", "created[gte]": str(self.started_at)} | (
                    {"starting_after": after} if after else {}
                )
                page = await stripe.get("/v1/events", params=params)
                page.raise_for_status()
                body = page.json()
                events += [e for e in body["data"] if e["type"].startswith("payment_intent.")]
                if not body["has_more"] or not body["data"]:
                    break
                after = body["data"][-1]["id"]
        return events

    async def _time_passes(self, move: Move) -> str:
        jump = JUMPS_S[min(int(move.a * len(JUMPS_S)), len(JUMPS_S) - 1)]
        behind = await catch_up(self.infra)
        self.stack.clock.advance(jump)
        return f"time_passes -> +{jump}s{behind}"


async def catch_up(infra: Infra) -> str:
    """Let what is in flight arrive before the clock jumps: minutes passing include their events' delivery.

    A jump past a hold's grace while its OrderPaid is still on its way would release the hold before shop hears
    of the payment: the documented oversell path ("Payment after a lapsed hold"), which real time reaches only
    with events ten minutes late. Bounded: a jump that comes while something is still behind says so.
    """
    from devstack.invariants import settle

    try:
        await settle(
            database_url=infra.database_url,
            nats_url=infra.nats_url,
            namespace=infra.namespace,
            timeout=CATCH_UP_S,
            quiet_s=0.2,
        )
    except TimeoutError as exc:
        return f" (jumped while behind: {exc})"
    return ""
