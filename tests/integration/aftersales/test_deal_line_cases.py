"""After-sales on a local-life deal line (issue 10): only a refund_only case opens on it, for its redeemed vouchers
(a redeemed voucher's bad service: unused ones are refunded at local_life, and units refunded there are never a
case's), within case_window_s after the vouchers' last day of validity; the case then goes as any other and its grant
goes to orders."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from libs.contracts import (
    DealRefundRequested,
    Event,
    IssuedVoucher,
    OrderLine,
    OrderPaid,
    RedemptionUndone,
    RefundFailed,
    RefundSucceeded,
    RefundUnits,
    VoucherRedeemed,
    VouchersIssued,
    VoucherSource,
)
from libs.ids import derived_id
from tests.harness import Stack, assert_problem, delivered_twice, eventually, paid_order, publish
from tests.integration.aftersales.support import (
    call,
    case_as,
    case_body,
    delivered,
    lines,
    open_case,
    opened,
    sent,
    shipped,
)

SERVICES = ("aftersales",)

GRANTED = "aftersales.refund.granted.v1"
DAY = 24 * 3600


def deal_line(quantity: int = 2) -> OrderLine:
    """A line buying a deal, as orders writes one: sku_id = product_id = deal_id, 45.00 a purchase."""
    deal_id = str(uuid.uuid4())
    return OrderLine(
        sku_id=deal_id,
        product_id=deal_id,
        title="Hotpot for two",
        sku_name="Weekday",
        quantity=quantity,
        unit_price_minor=4500,
        amount_minor=4500 * quantity,
        deal_id=deal_id,
    )


def issued(paid: OrderPaid, line_no: int, *, valid_until: datetime, per_purchase: int = 1) -> VouchersIssued:
    """The line's vouchers, as local_life announces them."""
    line = paid.lines[line_no]
    assert line.deal_id is not None
    return VouchersIssued(
        deal_id=line.deal_id,
        merchant_id=paid.merchant_id,
        buyer_id=paid.buyer_id,
        source=VoucherSource(order_id=paid.order_id, line_no=line_no),
        vouchers=[
            IssuedVoucher(voucher_id=str(uuid.uuid4()), valid_from=paid.paid_at, valid_until=valid_until)
            for _ in range(line.quantity * per_purchase)
        ],
    )


async def paid_with_deal(stack: Stack, *order_lines: OrderLine) -> tuple[OrderPaid, str, str]:
    """A paid order aftersales has heard of: (the OrderPaid, buyer token, merchant token)."""
    merchant_id = str(uuid.uuid4())
    buyer_id = f"buyer-{uuid.uuid4().hex[:8]}"
    paid = paid_order(buyer_id=buyer_id, merchant_id=merchant_id, lines=list(order_lines))
    await publish(stack, paid)
    db = stack.apps["aftersales"].runtime.db
    await eventually(
        lambda: db.fetchval("SELECT count(*) = $2 FROM order_lines WHERE order_id = $1", paid.order_id, len(paid.lines))
    )
    infra = stack.infra
    return paid, infra.token("buyer", sub=buyer_id), infra.token("merchant", merchant_id=merchant_id)


async def vouchers_known(stack: Stack, event: VouchersIssued) -> None:
    db = stack.apps["aftersales"].runtime.db
    await eventually(
        lambda: db.fetchval(
            "SELECT count(*) FROM voucher_lines WHERE order_id = $1 AND line_no = $2",
            event.source.order_id,
            event.source.line_no,
        )
    )


def redeemed(
    stack: Stack, vouchers: VouchersIssued, n: int = 0, *, redemption_id: str | None = None
) -> VoucherRedeemed:
    """The line's n-th voucher redeemed at a counter, as local_life announces it."""
    return VoucherRedeemed(
        redemption_id=redemption_id or str(uuid.uuid4()),
        voucher_id=vouchers.vouchers[n].voucher_id,
        deal_id=vouchers.deal_id,
        merchant_id=vouchers.merchant_id,
        store_id=str(uuid.uuid4()),
        clerk_id="clerk-1",
        source=vouchers.source,
        redeemed_at=stack.clock.now(),
    )


def undone(stack: Stack, redemption: VoucherRedeemed) -> RedemptionUndone:
    """The store takes the redemption back (within its undo window)."""
    return RedemptionUndone(
        redemption_id=redemption.redemption_id,
        voucher_id=redemption.voucher_id,
        deal_id=redemption.deal_id,
        merchant_id=redemption.merchant_id,
        store_id=redemption.store_id,
        clerk_id=redemption.clerk_id,
        source=redemption.source,
        undone_at=stack.clock.now(),
    )


async def issued_and_known(stack: Stack, paid: OrderPaid, line_no: int = 0, **more: Any) -> VouchersIssued:
    """The line's vouchers issued (valid 30 days) and heard of by aftersales."""
    vouchers = issued(paid, line_no, valid_until=_later(stack, 30), **more)
    await publish(stack, vouchers)
    await vouchers_known(stack, vouchers)
    return vouchers


async def refundable_now(stack: Stack, buyer: str, paid: OrderPaid, line_no: int = 0) -> int:
    """What the buyer is told a new case may ask of the line (asking more than it ever holds)."""
    too_many = case_body(paid, lines=[{"line_no": line_no, "quantity": paid.lines[line_no].quantity + 1}])
    body = assert_problem(await open_case(stack, buyer, too_many), 422, "quantity-exceeds-refundable")
    return body["refundable"]


async def becomes(stack: Stack, buyer: str, paid: OrderPaid, units: int, line_no: int = 0) -> None:
    """Wait for aftersales to have applied local_life's events until the line has `units` open to a case."""
    await eventually(lambda: _is(refundable_now(stack, buyer, paid, line_no), units))


async def _is(value: Any, expected: Any) -> bool:
    return (await value) == expected


async def applied(stack: Stack, consumer: str, *events: Event) -> None:
    """Wait until the consumer's inbox holds every one of these events (applied, or recognised as duplicates)."""
    db = stack.apps["aftersales"].runtime.db
    await eventually(
        lambda: db.fetchval(
            "SELECT count(*) = $2 FROM inbox WHERE consumer = $1 AND event_id = ANY($3::uuid[])",
            consumer,
            len({e.event_id for e in events}),
            [e.event_id for e in events],
        )
    )


def _later(stack: Stack, days: float) -> datetime:
    return stack.clock.now() + timedelta(days=days)


async def test_a_refund_only_case_on_a_deal_line_is_approved_and_granted_to_orders(
    stack: Stack, db: asyncpg.Connection
) -> None:
    paid, buyer, merchant = await paid_with_deal(stack, deal_line(2))
    vouchers = await issued_and_known(stack, paid)
    await publish(stack, redeemed(stack, vouchers))
    await becomes(stack, buyer, paid, 1)
    case = await opened(stack, buyer, case_body(paid, lines=[{"line_no": 0, "quantity": 1}]))
    assert (case["status"], case["next_action"]) == ("requested", "merchant")
    approved = (await call(stack, merchant, f"/seller/cases/{case['case_id']}/approve")).json()
    assert (approved["status"], approved["next_action"]) == ("refund_pending", "platform")
    grants = await sent(db, GRANTED, case["case_id"])
    deal_id = paid.lines[0].deal_id
    assert [(g["grant_id"], g["lines"]) for g in grants] == [
        (derived_id("grant", case["case_id"], "1"), [{"line_no": 0, "sku_id": deal_id, "quantity": 1}])
    ]
    await publish(
        stack,
        RefundSucceeded(
            grant_id=grants[0]["grant_id"],
            case_id=case["case_id"],
            order_id=paid.order_id,
            checkout_id=paid.checkout_id,
            buyer_id=paid.buyer_id,
            merchant_id=paid.merchant_id,
            amount_minor=4500,
            currency="USD",
            refund_lines=[],
            lines=[],
            stripe_refund_id="re_deal",
            refunded_at=datetime.now(UTC),
        ),
    )

    async def refunded() -> dict | None:
        view = await case_as(stack, buyer, f"/cases/{case['case_id']}")
        return view if view["status"] == "refunded" else None

    done = await eventually(refunded)
    assert (done["refund_amount_minor"], done["stripe_refund_id"]) == (4500, "re_deal")


async def test_a_merchant_silent_on_a_deal_line_case_approves_it_at_the_deadline(
    stack: Stack, db: asyncpg.Connection
) -> None:
    paid, buyer, _ = await paid_with_deal(stack, deal_line(1))
    vouchers = await issued_and_known(stack, paid)
    await publish(stack, redeemed(stack, vouchers))
    await becomes(stack, buyer, paid, 1)
    case = await opened(stack, buyer, case_body(paid))
    stack.clock.advance(stack.apps["aftersales"].runtime.settings.merchant_response_s + 1)

    async def granted() -> dict | None:
        view = await case_as(stack, buyer, f"/cases/{case['case_id']}")
        return view if view["status"] == "refund_pending" else None

    await eventually(granted, timeout=15)
    assert len(await sent(db, GRANTED, case["case_id"])) == 1


async def test_return_or_exchange_on_a_deal_line_is_refused_naming_the_line(stack: Stack) -> None:
    goods = lines(2)[0]
    paid, buyer, _ = await paid_with_deal(stack, goods, deal_line(2))
    await publish(stack, shipped(paid, {0: 2}))
    vouchers = await issued_and_known(stack, paid, 1)
    await publish(stack, redeemed(stack, vouchers))
    await becomes(stack, buyer, paid, 1, line_no=1)
    both = [{"line_no": 0, "quantity": 1}, {"line_no": 1, "quantity": 1}]
    assert_problem(
        await open_case(stack, buyer, case_body(paid, "return_and_refund", both)),
        422,
        "deal-line-refund-only",
        "lines[1].line_no",
    )
    exchange = [{"line_no": 1, "quantity": 1}]
    assert_problem(
        await open_case(stack, buyer, case_body(paid, "exchange", exchange)),
        422,
        "deal-line-refund-only",
        "lines[0].line_no",
    )
    async with stack.client("aftersales", buyer) as client:
        assert (await client.get("/cases")).json()["items"] == []
    # The goods line of the same order still returns; the deal line still refunds.
    await opened(stack, buyer, case_body(paid, "return_and_refund", [{"line_no": 0, "quantity": 1}]))
    await opened(stack, buyer, case_body(paid, "refund_only", both))


async def test_unused_vouchers_are_not_open_to_a_case_and_each_redeemed_one_opens_a_unit(stack: Stack) -> None:
    paid, buyer, _ = await paid_with_deal(stack, deal_line(2))
    # Before the vouchers are issued, and once they are but unused: nothing (the buyer refunds them at local_life).
    body = assert_problem(
        await open_case(stack, buyer, case_body(paid)), 422, "quantity-exceeds-refundable", "lines[0].quantity"
    )
    assert body["refundable"] == 0
    vouchers = await issued_and_known(stack, paid)
    body = assert_problem(
        await open_case(stack, buyer, case_body(paid)), 422, "quantity-exceeds-refundable", "lines[0].quantity"
    )
    assert body["refundable"] == 0
    assert "refunded at local_life" in body["detail"]
    await publish(stack, redeemed(stack, vouchers, 0))
    await becomes(stack, buyer, paid, 1)
    await opened(stack, buyer, case_body(paid))
    # The case holds the one redeemed unit; the second voucher, once redeemed, opens the second.
    assert await refundable_now(stack, buyer, paid) == 0
    await publish(stack, redeemed(stack, vouchers, 1))
    await becomes(stack, buyer, paid, 1)
    await opened(stack, buyer, case_body(paid))


async def test_vouchers_heard_before_the_payment_still_count(stack: Stack) -> None:
    buyer_id = f"buyer-{uuid.uuid4().hex[:8]}"
    paid = paid_order(buyer_id=buyer_id, lines=[deal_line(2)])
    vouchers = issued(paid, 0, valid_until=_later(stack, 30))
    await publish(stack, vouchers)
    await vouchers_known(stack, vouchers)
    both = [redeemed(stack, vouchers, 0), redeemed(stack, vouchers, 1)]
    for redemption in both:
        await publish(stack, redemption)
    await applied(stack, "aftersales__voucher_redemptions", *both)
    await publish(stack, paid)
    db = stack.apps["aftersales"].runtime.db
    await eventually(lambda: db.fetchval("SELECT count(*) FROM order_lines WHERE order_id = $1", paid.order_id))
    buyer = stack.infra.token("buyer", sub=buyer_id)
    await opened(stack, buyer, case_body(paid, lines=[{"line_no": 0, "quantity": 2}]))


async def test_vouchers_issued_again_change_nothing(stack: Stack) -> None:
    paid, buyer, _ = await paid_with_deal(stack, deal_line(2))
    window_s = stack.apps["aftersales"].runtime.settings.case_window_s
    # The first word: valid until a day ago, so the window is still open for case_window_s less a day.
    first = issued(paid, 0, valid_until=stack.clock.now() - timedelta(days=1))
    await delivered_twice(stack, first)
    await vouchers_known(stack, first)
    # A second issue of the same line (another event id, more vouchers, long expired) is not another line's worth.
    again = issued(paid, 0, valid_until=stack.clock.now() - timedelta(seconds=window_s + DAY), per_purchase=3)
    await delivered_twice(stack, again)
    db = stack.apps["aftersales"].runtime.db
    await eventually(
        lambda: db.fetchval(
            """SELECT count(*) = 2 FROM inbox
               WHERE consumer = 'aftersales__vouchers_issued' AND event_id = ANY($1::uuid[])""",
            [first.event_id, again.event_id],
        )
    )
    for n in range(2):
        await publish(stack, redeemed(stack, first, n))
    await becomes(stack, buyer, paid, 2)
    await opened(stack, buyer, case_body(paid, lines=[{"line_no": 0, "quantity": 2}]))


async def test_a_deal_line_case_opens_until_the_window_after_its_vouchers_expire(stack: Stack) -> None:
    window_s = stack.apps["aftersales"].runtime.settings.case_window_s
    now = stack.clock.now()
    # Issued long ago, redeemed on the last day: the window runs from the vouchers' valid_until, not their issue, and
    # not from the order's delivery (orders may mark a deal-only order delivered when its vouchers are issued).
    open_paid, open_buyer, _ = await paid_with_deal(stack, deal_line(1))
    still_open = issued(open_paid, 0, valid_until=now - timedelta(seconds=window_s - 3600))
    await publish(stack, still_open)
    await publish(stack, delivered(open_paid, now - timedelta(seconds=window_s + 90 * DAY)))
    await vouchers_known(stack, still_open)
    db = stack.apps["aftersales"].runtime.db
    await eventually(
        lambda: db.fetchval("SELECT delivered_at FROM order_progress WHERE order_id = $1", open_paid.order_id)
    )
    await publish(stack, redeemed(stack, still_open))
    await becomes(stack, open_buyer, open_paid, 1)
    await opened(stack, open_buyer, case_body(open_paid))

    closed_paid, closed_buyer, _ = await paid_with_deal(stack, deal_line(1))
    closed = issued(closed_paid, 0, valid_until=now - timedelta(seconds=window_s + 60))
    await publish(stack, closed)
    await vouchers_known(stack, closed)
    redemption = redeemed(stack, closed)
    await publish(stack, redemption)
    await applied(stack, "aftersales__voucher_redemptions", redemption)
    assert_problem(
        await open_case(stack, closed_buyer, case_body(closed_paid)), 409, "case-window-closed", "lines[0].line_no"
    )


async def test_an_undone_redemption_no_longer_opens_a_unit_and_a_new_one_does(stack: Stack) -> None:
    paid, buyer, _ = await paid_with_deal(stack, deal_line(2))
    vouchers = await issued_and_known(stack, paid)
    first = redeemed(stack, vouchers, 0)
    await publish(stack, first)
    await becomes(stack, buyer, paid, 1)
    await publish(stack, undone(stack, first))
    await becomes(stack, buyer, paid, 0)
    # The voucher, usable again, is redeemed again (another redemption): one unit again, not two.
    await publish(stack, redeemed(stack, vouchers, 0))
    await becomes(stack, buyer, paid, 1)
    await opened(stack, buyer, case_body(paid))


async def test_redelivered_redemptions_and_undos_change_nothing(stack: Stack) -> None:
    paid, buyer, _ = await paid_with_deal(stack, deal_line(2))
    vouchers = await issued_and_known(stack, paid)
    redemption = redeemed(stack, vouchers, 0)
    # The same event twice, and the same redemption announced again under another event id: counted once.
    await delivered_twice(stack, redemption)
    again = redeemed(stack, vouchers, 0, redemption_id=redemption.redemption_id)
    await publish(stack, again)
    await applied(stack, "aftersales__voucher_redemptions", redemption, again)
    assert await refundable_now(stack, buyer, paid) == 1
    # An undo of a redemption never heard of (the other voucher's) takes nothing back.
    stray = undone(stack, redeemed(stack, vouchers, 1))
    await publish(stack, stray)
    await applied(stack, "aftersales__voucher_redemptions", stray)
    assert await refundable_now(stack, buyer, paid) == 1
    # The undo, twice and once more under another event id: the one redemption is taken back, nothing more.
    undo = undone(stack, redemption)
    await delivered_twice(stack, undo)
    undo_again = undone(stack, redemption)
    await publish(stack, undo_again)
    await applied(stack, "aftersales__voucher_redemptions", undo, undo_again)
    assert await refundable_now(stack, buyer, paid) == 0
    # The redemption redelivered after its undo does not come back to life.
    late = redeemed(stack, vouchers, 0, redemption_id=redemption.redemption_id)
    await publish(stack, late)
    await applied(stack, "aftersales__voucher_redemptions", late)
    assert await refundable_now(stack, buyer, paid) == 0
    # The stray undo's redemption, arriving after it, never counts either.
    stray_redemption = redeemed(stack, vouchers, 1, redemption_id=stray.redemption_id)
    await publish(stack, stray_redemption)
    await applied(stack, "aftersales__voucher_redemptions", stray_redemption)
    assert await refundable_now(stack, buyer, paid) == 0


def local_refund(paid: OrderPaid, *, line_no: int, quantity: int) -> DealRefundRequested:
    """local_life asks orders to refund units of the line (the buyer's unused card, say)."""
    deal_id = paid.lines[line_no].deal_id
    assert deal_id is not None
    return DealRefundRequested(
        grant_id=str(uuid.uuid4()),
        reason="buyer",
        order_id=paid.order_id,
        buyer_id=paid.buyer_id,
        merchant_id=paid.merchant_id,
        deal_id=deal_id,
        lines=[RefundUnits(line_no=line_no, quantity=quantity)],
    )


def refund_failed(paid: OrderPaid, refund: DealRefundRequested) -> RefundFailed:
    """orders could not pay local_life's refund (Stripe refused it)."""
    return RefundFailed(
        grant_id=refund.grant_id,
        order_id=paid.order_id,
        checkout_id=paid.checkout_id,
        buyer_id=paid.buyer_id,
        merchant_id=paid.merchant_id,
        amount_minor=0,
        currency=paid.currency,
        refund_lines=[],
        lines=paid.lines,
        reason="card_declined",
    )


async def test_units_refunded_at_local_life_are_not_open_to_a_case(stack: Stack) -> None:
    # Two three-visit cards: two visits of the first used, so both cards' units look in use (the upper bound), until
    # the second, unused card is refunded at local_life.
    paid, buyer, _ = await paid_with_deal(stack, deal_line(2))
    vouchers = await issued_and_known(stack, paid, per_purchase=3)
    for n in range(2):
        await publish(stack, redeemed(stack, vouchers, n))
    await becomes(stack, buyer, paid, 2)
    refund = local_refund(paid, line_no=0, quantity=1)
    await delivered_twice(stack, refund)
    await becomes(stack, buyer, paid, 1)
    # Redelivered, or asked again under another event id: the same grant's units once.
    again = msgspec.structs.replace(refund, event_id=str(uuid.uuid4()))
    await publish(stack, again)
    await applied(stack, "aftersales__local_refunds", refund, again)
    assert await refundable_now(stack, buyer, paid) == 1
    await opened(stack, buyer, case_body(paid))
    assert await refundable_now(stack, buyer, paid) == 0


async def test_a_refund_local_life_asked_for_and_orders_failed_refunds_nothing(stack: Stack) -> None:
    paid, buyer, _ = await paid_with_deal(stack, deal_line(1))
    vouchers = await issued_and_known(stack, paid)
    refund = local_refund(paid, line_no=0, quantity=1)
    # The failure may be heard of before the request: either way the units were not refunded.
    failed = refund_failed(paid, refund)
    await publish(stack, failed)
    await applied(stack, "aftersales__local_refund_failures", failed)
    await publish(stack, refund)
    await applied(stack, "aftersales__local_refunds", refund)
    # The voucher, usable again, is used: its unit is open to a case.
    await publish(stack, redeemed(stack, vouchers))
    await becomes(stack, buyer, paid, 1)
    await opened(stack, buyer, case_body(paid))
