"""A grant's refund when Stripe's answer is lost: the answer dropped on the wire, or orders killed (SIGKILL) after
Stripe refunded and before the commit. Either way the next try reads the refund back: one refund, never two.

Stripe is localstripe behind a small proxy (`fake_stripe.py`) that can lose a refund's answer, fail or refuse it;
localstripe itself answers refunds `succeeded` at once and honours no idempotency keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
import pytest_asyncio

from devstack.embedded import free_port
from libs.contracts import CaseLine, RefundGranted
from tests.harness import Infra, Stack, eventually, publish
from tests.integration.orders.fake_stripe import FakeStripe, fake_stripe, stripe_refunds
from tests.integration.orders.support import Seller, events_of, new_buyer, new_seller, pay_checkout

SERVICES = ("shop", "orders", "aftersales")
ROOT = Path(__file__).resolve().parents[3]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def proxy(infra: Infra) -> AsyncIterator[FakeStripe]:
    async with fake_stripe(infra.stripe_base) as served:
        yield served


@pytest.fixture(scope="module")
def stack_settings(proxy: FakeStripe) -> dict[str, object]:
    """Orders talks to Stripe through the proxy; a refused refund is tried twice."""
    return {"stripe_api_base": proxy.url, "refund_max_attempts": 2}


@pytest.fixture
def passing(proxy: FakeStripe) -> FakeStripe:
    """The proxy passing everything, its counts at zero (each test sets the mode it needs)."""
    proxy.reset()
    return proxy


async def ship_all(stack: Stack, seller: Seller, order_id: str) -> None:
    async with stack.client("orders", seller.token) as client:
        shipped = await client.post(
            f"/seller/orders/{order_id}/shipments", json={"carrier": "dhl", "tracking_number": uuid.uuid4().hex}
        )
    assert shipped.status_code == 201, shipped.text


async def shipped_order(stack: Stack, price: int = 1000, quantity: int = 3) -> tuple[Seller, dict[str, Any]]:
    seller = await new_seller(stack, price)
    paid = await pay_checkout(stack, new_buyer(stack), [{"sku_id": seller.sku_id, "quantity": quantity}])
    order = paid["orders"][0]
    await ship_all(stack, seller, order["order_id"])
    return seller, order


def granted(order: dict[str, Any], quantity: int) -> RefundGranted:
    return RefundGranted(
        grant_id=str(uuid.uuid4()),
        case_id=str(uuid.uuid4()),
        order_id=order["order_id"],
        buyer_id="buyer",
        merchant_id=order["merchant_id"],
        lines=[CaseLine(line_no=0, sku_id=order["lines"][0]["sku_id"], quantity=quantity)],
    )


async def grant_of(db: asyncpg.Connection, grant_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        """SELECT status, amount_minor, stripe_refund_id, failure_reason, attempts, last_error
           FROM orders.refund_grants WHERE grant_id = $1""",
        grant_id,
    )


async def settled(db: asyncpg.Connection, grant_id: str) -> asyncpg.Record | None:
    found = await grant_of(db, grant_id)
    return found if found is not None and found["status"] != "pending" else None


async def intent_of(db: asyncpg.Connection, order_id: str) -> str:
    return await db.fetchval(
        """SELECT p.stripe_payment_intent_id
           FROM orders.payments p JOIN orders.orders o ON o.checkout_id = p.checkout_id WHERE o.order_id = $1""",
        order_id,
    )


async def line_ledger(db: asyncpg.Connection, order_id: str) -> tuple[int, int]:
    row = await db.fetchrow(
        "SELECT refund_requested_qty, refunded_qty FROM orders.order_lines WHERE order_id = $1 AND line_no = 0",
        order_id,
    )
    return row["refund_requested_qty"], row["refunded_qty"]


async def test_a_refund_whose_answer_is_lost_is_read_back_not_made_again(
    stack: Stack, db: asyncpg.Connection, passing: FakeStripe
) -> None:
    _, order = await shipped_order(stack)
    grant = granted(order, 2)
    passing.set_mode("drop")
    await publish(stack, grant)

    found = await eventually(lambda: settled(db, grant.grant_id), timeout=20)
    assert found["status"] == "succeeded", dict(found)
    refunds = await stripe_refunds(stack.infra.stripe_base, await intent_of(db, order["order_id"]))
    assert [(r["id"], r["amount"], r["metadata"]["grant_id"]) for r in refunds] == [
        (found["stripe_refund_id"], 2000, grant.grant_id)
    ]
    # Asked once: the retry found the refund instead of making another.
    assert passing.asked_refunds == 1
    assert await line_ledger(db, order["order_id"]) == (2, 2)
    assert len(await events_of(db, "orders.refund.succeeded.v1", order["order_id"])) == 1


async def test_a_refund_stripe_keeps_refusing_fails_after_the_attempts(
    stack: Stack, db: asyncpg.Connection, passing: FakeStripe
) -> None:
    _, order = await shipped_order(stack, 600, 2)
    grant = granted(order, 1)
    passing.set_mode("refuse")
    await publish(stack, grant)

    refused_once = await eventually(lambda: _attempts(db, grant.grant_id, 1), timeout=15)
    assert refused_once["status"] == "pending"
    assert "amount_too_large" in refused_once["last_error"]
    stack.clock.advance(5)  # past the back-off before the second (and last) attempt
    found = await eventually(lambda: settled(db, grant.grant_id), timeout=15)
    assert (found["status"], found["failure_reason"], found["attempts"]) == (
        "failed",
        "stripe-refused: amount_too_large",
        2,
    )
    failed = await events_of(db, "orders.refund.failed.v1", order["order_id"])
    assert [(e["grant_id"], e["reason"], e["amount_minor"]) for e in failed] == [
        (grant.grant_id, "stripe-refused: amount_too_large", 600)
    ]
    # The units are refundable again (an operator may retry with a new grant), and nothing was refunded.
    assert await line_ledger(db, order["order_id"]) == (0, 0)
    assert await stripe_refunds(stack.infra.stripe_base, await intent_of(db, order["order_id"])) == []
    assert passing.asked_refunds == 2


async def test_a_refund_stripe_has_not_finished_is_looked_at_again_later(
    stack: Stack, db: asyncpg.Connection, passing: FakeStripe
) -> None:
    _, order = await shipped_order(stack, 450, 2)
    grant = granted(order, 2)
    passing.set_mode("pending")
    await publish(stack, grant)

    # Asked once, answered `pending`: the job waits (a minute) and the grant stays pending.
    await eventually(lambda: passing.asked_refunds == 1, timeout=15)
    await eventually(lambda: _job_due_later(db, grant.grant_id), timeout=15)
    assert (await grant_of(db, grant.grant_id))["status"] == "pending"
    assert await line_ledger(db, order["order_id"]) == (2, 0)
    passing.set_mode("pass")
    stack.clock.advance(61)
    found = await eventually(lambda: settled(db, grant.grant_id), timeout=15)
    refunds = await stripe_refunds(stack.infra.stripe_base, await intent_of(db, order["order_id"]))
    assert [(r["id"], r["amount"]) for r in refunds] == [(found["stripe_refund_id"], 900)]
    assert found["status"] == "succeeded"
    assert passing.asked_refunds == 1
    assert await line_ledger(db, order["order_id"]) == (2, 2)


async def _job_due_later(db: asyncpg.Connection, grant_id: str) -> bool:
    return bool(
        await db.fetchval(
            """SELECT due_at > now() + interval '30 seconds' AND attempts = 0 FROM orders.due_jobs
               WHERE kind = 'refund_grant' AND key = $1""",
            grant_id,
        )
    )


async def _attempts(db: asyncpg.Connection, grant_id: str, attempts: int) -> asyncpg.Record | None:
    found = await grant_of(db, grant_id)
    return found if found is not None and found["attempts"] >= attempts else None


def refund_event(stack: Stack, kind: str, refund: dict[str, Any], event_id: str | None = None) -> tuple[bytes, str]:
    """A Stripe event about a refund, signed as Stripe signs webhooks: (payload, Stripe-Signature)."""
    payload = json.dumps(
        {"id": event_id or f"evt_{uuid.uuid4().hex}", "object": "event", "type": kind, "data": {"object": refund}}
    ).encode()
    at = int(time.time())
    mac = hmac.new(stack.infra.webhook_secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return payload, f"t={at},v1={mac}"


async def deliver(stack: Stack, payload: bytes, signature: str) -> dict[str, Any]:
    async with stack.client("orders") as stripe_side:
        answer = await stripe_side.post(
            "/stripe/webhook",
            content=payload,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_stripe_refund_webhooks_settle_a_pending_grant(
    stack: Stack, db: asyncpg.Connection, passing: FakeStripe
) -> None:
    _, order = await shipped_order(stack, 1500, 3)
    intent = await intent_of(db, order["order_id"])
    passing.set_mode("fail")  # Stripe answers 500: the grants stay pending, their jobs retrying
    paid_back, refused = granted(order, 1), granted(order, 1)
    await publish(stack, paid_back)
    await publish(stack, refused)
    await eventually(lambda: _attempted(db, [paid_back.grant_id, refused.grant_id]), timeout=15)

    def refund(grant: RefundGranted, status: str, **more: Any) -> dict[str, Any]:
        return {
            "id": f"re_{uuid.uuid4().hex[:14]}",
            "object": "refund",
            "amount": 1500,
            "currency": "usd",
            "payment_intent": intent,
            "status": status,
            "metadata": {"grant_id": grant.grant_id, "order_id": order["order_id"]},
            **more,
        }

    succeeded = refund(paid_back, "succeeded")
    signed = refund_event(stack, "charge.refund.updated", succeeded)
    assert await deliver(stack, *signed) == {"status": "refunded"}
    assert await deliver(stack, *signed) == {"status": "duplicate"}
    failed = refund(refused, "failed", failure_reason="lost_or_stolen_card")
    assert await deliver(stack, *refund_event(stack, "refund.failed", failed)) == {"status": "refund_failed"}
    # A later event about a grant already settled changes nothing; a refund that is no grant's is ignored.
    assert await deliver(stack, *refund_event(stack, "refund.updated", succeeded)) == {"status": "ignored"}
    assert await deliver(stack, *refund_event(stack, "refund.updated", {**succeeded, "metadata": {}})) == {
        "status": "ignored"
    }

    assert (await grant_of(db, paid_back.grant_id))["stripe_refund_id"] == succeeded["id"]
    assert (await grant_of(db, refused.grant_id))["failure_reason"] == "stripe-failed: lost_or_stolen_card"
    assert await line_ledger(db, order["order_id"]) == (1, 1)
    assert [e["grant_id"] for e in await events_of(db, "orders.refund.succeeded.v1", order["order_id"])] == [
        paid_back.grant_id
    ]
    assert [e["reason"] for e in await events_of(db, "orders.refund.failed.v1", order["order_id"])] == [
        "stripe-failed: lost_or_stolen_card"
    ]
    # Stripe back: the jobs find their grants settled and make no refund.
    passing.set_mode("pass")
    stack.clock.advance(10)
    await eventually(lambda: _no_jobs(db, [paid_back.grant_id, refused.grant_id]), timeout=15)
    assert await stripe_refunds(stack.infra.stripe_base, intent) == []


async def _attempted(db: asyncpg.Connection, grant_ids: list[str]) -> bool:
    return await db.fetchval(
        "SELECT count(*) FROM orders.due_jobs WHERE kind = 'refund_grant' AND key = ANY($1::text[]) AND attempts > 0",
        grant_ids,
    ) == len(grant_ids)


async def _no_jobs(db: asyncpg.Connection, grant_ids: list[str]) -> bool:
    return not await db.fetchval(
        "SELECT count(*) FROM orders.due_jobs WHERE kind = 'refund_grant' AND key = ANY($1::text[])", grant_ids
    )


# --- kill -9 between Stripe's refund and the commit ----------------------------------------------------------


def orders_env(stack: Stack, stripe_base: str) -> dict[str, str]:
    """The environment a real orders process reads its settings from: this module's servers and namespace."""
    settings = stack.infra.settings("orders", stripe_api_base=stripe_base)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVELOOP_", "STRIPE_"))}
    for field in msgspec.structs.fields(type(settings)):
        value = getattr(settings, field.name)
        if value is None or field.name == "service":
            continue
        env[field.encode_name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    env["PYTHONPATH"] = str(ROOT)
    env["LIVELOOP_ACCESS_LOG"] = "off"
    return env


def _tail(path: str) -> str:
    return Path(path).read_text(errors="replace")[-4000:]


@contextlib.asynccontextmanager
async def orders_process(stack: Stack, stripe_base: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """`liveloop serve orders` as a real process on a free port, ready; killed (SIGKILL) at the end if still alive."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="orders-", suffix=".log", delete=False)  # noqa: SIM115
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "libs.cli",
        "serve",
        "orders",
        "--port",
        str(port),
        cwd=ROOT,
        env=orders_env(stack, stripe_base),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:

            async def ready() -> bool:
                assert process.returncode is None, _tail(log.name)
                with contextlib.suppress(httpx.HTTPError):
                    return (await client.get("/ready")).status_code == 200
                return False

            await eventually(ready, timeout=30, interval=0.2)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), 10)
        log.close()
        os.unlink(log.name)


async def test_orders_killed_after_stripe_refunded_finds_the_refund_and_makes_no_other(
    stack: Stack, db: asyncpg.Connection, passing: FakeStripe
) -> None:
    seller = await new_seller(stack, 800)
    buyer = new_buyer(stack)
    paid = await pay_checkout(stack, buyer, [{"sku_id": seller.sku_id, "quantity": 3}])
    order = paid["orders"][0]
    await ship_all(stack, seller, order["order_id"])
    intent = await intent_of(db, order["order_id"])
    buyer_cases = stack.client("aftersales", stack.infra.token("buyer", sub=buyer.buyer_id))
    seller_cases = stack.client("aftersales", seller.token)

    # The buyer asks for their money back for all 3 (never received), once aftersales has heard of the shipment
    async def open_case() -> dict[str, Any] | None:
        opened = await buyer_cases.post(
            "/cases",
            json={
                "order_id": order["order_id"],
                "kind": "refund_only",
                "reason_code": "not_received",
                "description": "The parcel never came",
                "evidence_urls": [],
                "lines": [{"line_no": 0, "quantity": 3}],
            },
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        return opened.json() if opened.status_code == 201 else None

    async with buyer_cases, seller_cases:
        case = await eventually(open_case, timeout=15, interval=0.2)

        async with stack.down("orders"), orders_process(stack, passing.url) as process:
            passing.set_mode("hold")
            # The merchant approves: aftersales grants, the orders process accepts it and asks Stripe
            approved = await seller_cases.post(f"/seller/cases/{case['case_id']}/approve")
            assert approved.status_code == 200, approved.text
            await asyncio.wait_for(passing.held.wait(), 20)
            grant_id = await db.fetchval(
                "SELECT grant_id::text FROM orders.refund_grants WHERE case_id = $1", case["case_id"]
            )
            grant = granted(order, 3)
            grant = msgspec.structs.replace(grant, grant_id=grant_id, case_id=case["case_id"])
            # Stripe has refunded; orders has not heard, and never will: it dies before its commit.
            os.kill(process.pid, signal.SIGKILL)
            await asyncio.wait_for(process.wait(), 10)
            passing.release()
            await asyncio.sleep(0)
            passing.set_mode("pass")
            made = await stripe_refunds(stack.infra.stripe_base, intent)
            assert [(r["amount"], r["metadata"]["grant_id"]) for r in made] == [(2400, grant.grant_id)]
            assert (await grant_of(db, grant.grant_id))["status"] == "pending"
            assert (await buyer_cases.get(f"/cases/{case['case_id']}")).json()["status"] == "refund_pending"

        # A new orders process (served again, on the same database) takes the job once the dead one's lease lapses.
        stack.clock.advance(121)
        found = await eventually(lambda: settled(db, grant.grant_id), timeout=20)
        assert (found["status"], found["stripe_refund_id"]) == ("succeeded", made[0]["id"])
        assert [r["id"] for r in await stripe_refunds(stack.infra.stripe_base, intent)] == [made[0]["id"]]
        assert passing.asked_refunds == 1
        assert await line_ledger(db, order["order_id"]) == (3, 3)
        succeeded = await events_of(db, "orders.refund.succeeded.v1", order["order_id"])
        assert [(e["grant_id"], e["stripe_refund_id"], e["amount_minor"]) for e in succeeded] == [
            (grant.grant_id, made[0]["id"], 2400)
        ]

        # ...and the buyer's case ends refunded, for that refund
        async def refunded() -> dict[str, Any] | None:
            current = (await buyer_cases.get(f"/cases/{case['case_id']}")).json()
            return current if current["status"] == "refunded" else None

        closed = await eventually(refunded, timeout=20)
        assert (closed["refund_amount_minor"], closed["stripe_refund_id"]) == (2400, made[0]["id"])
