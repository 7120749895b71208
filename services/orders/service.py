"""What buyers and merchants ask of orders: check out, pay, read. Controllers call these, one each."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import asyncpg
import msgspec
import stripe
from opentelemetry import trace

from libs.auth import Principal
from libs.bus import RequestFailed, add_events
from libs.contracts import RESERVE_STOCK, ReservedLine, ReserveItem, ReserveStock, ReserveStockReply
from libs.db import write_once
from libs.ids import derived_id, is_uuid
from libs.runtime import Runtime
from libs.scheduler import schedule
from libs.telemetry import baggage_set, capture_headers, names
from libs.web.problems import Problem
from services.orders import abandoned, context, domain, payments, store, views
from services.orders.domain import CheckoutPlan, DomainError
from services.orders.domain import coupons as coupon_rules
from services.orders.domain.coupons import Coupon

log = logging.getLogger(__name__)

# Shop holds the stock a little past the payment window, so a late job still finds it held.
HOLD_GRACE = timedelta(minutes=10)
RESERVE_TIMEOUT_S = 5.0

# Shop's refusal code -> (status, problem code, the item field at fault).
_REFUSALS: dict[str, tuple[int, str, str]] = {
    "insufficient_stock": (409, "insufficient-stock", "quantity"),
    "unknown_sku": (400, "unknown-sku", "sku_id"),
    "invalid_quantity": (400, "invalid-quantity", "quantity"),
    "mixed_currency": (422, "mixed-currency", "sku_id"),
}
_DOMAIN_STATUS = {
    "payment-window-closed": 409,
    "already-paid": 409,
    "mixed-currency": 422,
    coupon_rules.CouponNotFound.code: 404,
    coupon_rules.CouponUsed.code: 409,
    coupon_rules.CouponExpired.code: 409,
    coupon_rules.OneCouponPerOrder.code: 422,
    coupon_rules.CouponNotApplicable.code: 422,
    coupon_rules.CouponCurrencyMismatch.code: 422,
    coupon_rules.CouponMinSpendNotMet.code: 422,
    coupon_rules.BelowMinimumCharge.code: 422,
}


def problem_from(exc: DomainError, status: int | None = None) -> Problem:
    """The HTTP face of a domain refusal."""
    return Problem(status or _DOMAIN_STATUS.get(exc.code, 400), exc.code, exc.detail, field=exc.field)


# --- checkout ---------------------------------------------------------------------------------


async def place_checkout(
    runtime: Runtime,
    *,
    buyer_id: str,
    key: str,
    items: list[ReserveItem],
    coupon_ids: list[str],
    request_body: object,
) -> views.CheckoutView:
    """Reserve stock, then write checkout + orders + payment + coupons used + events + deadline in one transaction."""
    checkout_id = derived_id(buyer_id, key)
    now = runtime.clock.now()
    pay_by = now + timedelta(seconds=runtime.settings.payment_window_s)
    room_id = domain.room_of(items)
    span = trace.get_current_span()
    span.set_attribute(names.CHECKOUT_ID, checkout_id)
    span.set_attribute(names.BUYER_ID, buyer_id)
    with baggage_set(**{names.ROOM_ID: room_id}):
        if room_id:
            span.set_attribute(names.ROOM_ID, room_id)
        reserved: list[ReservedLine] | None = None
        coupons: list[Coupon] = []
        # A retry of a checkout that exists only replays its answer: no second reservation call.
        if not await store.checkout_exists(runtime.db, checkout_id):
            if await store.checkout_abandoned(runtime.db, checkout_id):
                raise abandoned.checkout_expired()
            # Refusals that need no prices come before any stock is held for this checkout.
            coupons = await _usable_coupons(runtime.db, buyer_id, coupon_ids, now)
            reserved = await _reserve(runtime, checkout_id, buyer_id, items, hold_until=pay_by + HOLD_GRACE)
        plan: CheckoutPlan | None = None
        written = False

        async def effect(conn: asyncpg.Connection) -> object:
            nonlocal written
            if plan is None:  # the checkout exists, so its answer is stored and this never runs
                raise Problem(409, "idempotency-conflict", "this checkout is being written by another request")
            await abandoned.ensure_not_abandoned(conn, checkout_id)
            written = await store.insert_checkout(
                conn, plan, buyer_id=buyer_id, pay_by=pay_by, now=now, trace_headers=capture_headers()
            )
            if written:
                await _use_coupons(conn, plan, buyer_id, coupon_ids, now)
                await _announce_placed(conn, plan, buyer_id, pay_by, now)
                await schedule(conn, domain.PAYMENT_TIMEOUT_JOB, checkout_id, pay_by)
            # When a concurrent twin wrote it first, write_once finds its stored answer and replays it.
            return views.planned_checkout(plan, pay_by)

        try:
            plan = _plan(checkout_id, reserved, coupons) if reserved is not None else None
            stored = await write_once(
                runtime.db,
                caller=Principal(sub=buyer_id, role="buyer"),
                scope="checkout",
                key=key,
                request=request_body,
                effect=effect,
            )
        except (Problem, DomainError) as refusal:
            if reserved is not None:
                # Shop holds stock for a checkout that will not be: have it released now rather than at hold_until.
                await abandoned.abandon(runtime, checkout_id, buyer_id, refusal)
            raise
    if written and plan is not None:
        # Committed by this request (concurrent twins only replay it): count its orders once.
        context.instruments(runtime).orders_placed.add(len(plan.orders), {names.CURRENCY: plan.currency})
        body = _as_view(stored)
    else:
        # A replay tells how the checkout stands now (paid, expired...), not how it stood when placed.
        body = await checkout_of(runtime, buyer_id=buyer_id, checkout_id=checkout_id)
    if domain.is_open(body.status, body.pay_by, runtime.clock.now()):
        body.payment.client_secret = await _client_secret(runtime, body)
    return body


def _as_view(stored: object) -> views.CheckoutView:
    # write_once hands back JSON-shaped builtins (fresh or replayed): one typed answer for both.
    return msgspec.convert(stored, views.CheckoutView, strict=False)


async def _reserve(
    runtime: Runtime, checkout_id: str, buyer_id: str, items: list[ReserveItem], *, hold_until: datetime
) -> list[ReservedLine]:
    # Shop must not commit a hold after we stopped waiting for it (the buyer was told to retry).
    answer_by = runtime.clock.now() + timedelta(seconds=RESERVE_TIMEOUT_S)
    request = ReserveStock(
        checkout_id=checkout_id, buyer_id=buyer_id, items=items, hold_until=hold_until, answer_by=answer_by
    )
    try:
        reply = await runtime.bus.request(RESERVE_STOCK, request, ReserveStockReply, timeout=RESERVE_TIMEOUT_S)
    except RequestFailed as exc:
        raise Problem(503, "stock-unavailable", "stock could not be reserved right now; try again") from exc
    if reply.ok:
        if not domain.reservation_matches(items, reply.lines):
            # Shop replays the first reservation of a checkout id: this key was first used for another cart. That
            # hold is the first request's (it may still be placing it), so this refusal does not abandon it.
            raise Problem(
                422,
                "idempotency-key-reused",
                "this Idempotency-Key was used with a different cart",
                field="Idempotency-Key",
            )
        return reply.lines
    if reply.error in ("too_late", "unavailable"):
        raise Problem(503, "stock-unavailable", "stock could not be reserved right now; try again")
    if reply.error == "expired":
        raise abandoned.checkout_expired()
    status, code, suffix = _REFUSALS.get(reply.error or "", (409, "stock-refused", ""))
    index = reply.item_index
    field = f"items[{index}].{suffix}" if index is not None and suffix else "items"
    raise Problem(status, code, reply.detail or f"shop refused the reservation: {reply.error}", field=field)


def _plan(checkout_id: str, reserved: list[ReservedLine], coupons: list[Coupon]) -> CheckoutPlan:
    merchants = {line.merchant_id for line in reserved}
    try:
        plan = domain.plan_checkout(
            checkout_id,
            derived_id(checkout_id, "payment"),
            reserved,
            {m: derived_id(checkout_id, "order", m) for m in merchants},
        )
        # A coupon refused on the prices abandons the checkout (place_checkout): shop releases its hold.
        return coupon_rules.apply_coupons(plan, coupons)
    except DomainError as exc:
        raise problem_from(exc) from exc


async def _usable_coupons(db: store.Conn, buyer_id: str, coupon_ids: list[str], now: datetime) -> list[Coupon]:
    found = await store.buyers_coupons(db, buyer_id, coupon_ids)
    try:
        return coupon_rules.ensure_usable(coupon_ids, found, buyer_id, now)
    except DomainError as exc:
        raise problem_from(exc) from exc


async def _use_coupons(
    conn: asyncpg.Connection, plan: CheckoutPlan, buyer_id: str, coupon_ids: list[str], now: datetime
) -> None:
    """Each coupon becomes used by its order, once: if a concurrent checkout used one first, this one fails whole."""
    uses = [(order.coupon_id, order.order_id) for order in plan.orders if order.coupon_id]
    if len(await store.use_coupons(conn, buyer_id, uses, now)) == len(uses):
        return
    # Tell which coupon and why, as the buyer would have been told a moment earlier; the transaction rolls back.
    await _usable_coupons(conn, buyer_id, coupon_ids, now)
    raise Problem(409, coupon_rules.CouponUsed.code, "a coupon was used by another checkout", field=coupon_rules.FIELD)


async def _announce_placed(
    conn: asyncpg.Connection, plan: CheckoutPlan, buyer_id: str, pay_by: datetime, now: datetime
) -> None:
    for order in plan.orders:
        with baggage_set(**{names.ROOM_ID: order.room_id}):
            await add_events(conn, domain.placed_event(plan, order, buyer_id, pay_by, now))


async def _client_secret(runtime: Runtime, body: views.CheckoutView) -> str | None:
    """The PaymentIntent's client secret; None if Stripe is away (confirm creates the intent later)."""
    try:
        intent = await ensure_payment_intent(
            runtime, body.payment.payment_id, body.checkout_id, body.amount_minor, body.currency
        )
    except stripe.StripeError as exc:
        log.warning("stripe unavailable at checkout %s: %s", body.checkout_id, type(exc).__name__)
        return None
    return intent.client_secret


async def ensure_payment_intent(
    runtime: Runtime, payment_id: str, checkout_id: str, amount_minor: int, currency: str
) -> stripe.PaymentIntent:
    """The checkout's one PaymentIntent: the stored one, or a new one stored before anything else uses it."""
    gateway = context.gateway(runtime)
    row = await store.payment_by_id(runtime.db, payment_id)
    if row is not None and row["stripe_payment_intent_id"]:
        return await payments.retrieve_payment_intent(gateway, row["stripe_payment_intent_id"])
    intent = await payments.create_payment_intent(
        gateway,
        amount_minor=amount_minor,
        currency=currency,
        checkout_id=checkout_id,
        payment_id=payment_id,
        attempt=row["intent_attempt"] if row is not None else 0,
    )
    stored = await store.attach_intent(runtime.db, payment_id, intent.id, runtime.clock.now())
    if stored != intent.id:
        # A concurrent twin stored its intent first (Stripe would have deduplicated by key; localstripe
        # does not): retire ours so only one can ever take money.
        try:
            await payments.cancel_payment_intent(gateway, intent.id)
        except stripe.StripeError:
            log.warning("could not cancel surplus payment intent for payment %s", payment_id)
        return await payments.retrieve_payment_intent(gateway, stored)
    return intent


# --- payment ----------------------------------------------------------------------------------

# Stripe has the money, or is taking it: a confirm that finds the intent here has nothing left to do.
_PAID_OR_PAYING = ("succeeded", "processing", "requires_capture")


async def confirm_payment(
    runtime: Runtime, *, buyer_id: str, payment_id: str, payment_method: str
) -> views.ConfirmView:
    """Attach the buyer's payment method and confirm; the order is paid only when Stripe's webhook says so.

    Safe to retry: a confirm that finds the payment made, or being made, answers with its status and charges nothing.
    """
    row = await store.payment_for_buyer(runtime.db, payment_id, buyer_id) if is_uuid(payment_id) else None
    if row is None:
        raise Problem(404, "not-found", "no such payment")
    span = trace.get_current_span()
    span.set_attribute(names.PAYMENT_ID, payment_id)
    span.set_attribute(names.CHECKOUT_ID, row["checkout_id"])
    if row["status"] == domain.PaymentStatus.SUCCEEDED:
        return views.ConfirmView(payment_id=payment_id, status=domain.PaymentStatus.SUCCEEDED)
    try:
        domain.ensure_payable(row["checkout_status"], row["status"], row["pay_by"], runtime.clock.now())
    except DomainError as exc:
        raise problem_from(exc) from exc
    gateway = context.gateway(runtime)
    try:
        intent = await ensure_payment_intent(
            runtime, payment_id, row["checkout_id"], row["amount_minor"], row["currency"]
        )
        if intent.status not in _PAID_OR_PAYING and intent.status != "canceled":
            try:
                intent = await payments.confirm_payment_intent(gateway, intent.id, payment_method)
            except stripe.InvalidRequestError:
                # A concurrent confirm (or the window's job) moved the intent since we read it: answer from where
                # it is now; anything else is the payment method's fault.
                intent = await payments.retrieve_payment_intent(gateway, intent.id)
                if intent.status not in _PAID_OR_PAYING and intent.status != "canceled":
                    raise
        if intent.status == "canceled":
            raise Problem(409, "payment-window-closed", "the payment window of this checkout has closed")
    except stripe.CardError as exc:
        raise Problem(
            402, "payment-failed", exc.user_message or "the card was declined", field="payment_method"
        ) from exc
    except stripe.InvalidRequestError as exc:
        raise Problem(
            400,
            "invalid-payment-method",
            exc.user_message or "Stripe refused the payment method",
            field="payment_method",
        ) from exc
    except stripe.StripeError as exc:
        log.warning("stripe unavailable confirming payment %s: %s", payment_id, type(exc).__name__)
        raise Problem(503, "payment-provider-unavailable", "the payment provider is unavailable; try again") from exc
    return views.ConfirmView(payment_id=payment_id, status=intent.status)


# --- reads ------------------------------------------------------------------------------------


async def checkout_of(runtime: Runtime, *, buyer_id: str, checkout_id: str) -> views.CheckoutView:
    found = await store.checkout_for_buyer(runtime.db, checkout_id, buyer_id) if is_uuid(checkout_id) else None
    if found is None:
        raise Problem(404, "not-found", "no such checkout")
    return views.checkout_view(found["checkout"], found["orders"])


async def order_of(
    runtime: Runtime, *, order_id: str, buyer_id: str | None = None, merchant_id: str | None = None
) -> views.OrderView:
    """One order, if the buyer placed it or the merchant sells it; 404 otherwise."""
    if not _scoped(buyer_id, merchant_id) or not is_uuid(order_id):
        raise Problem(404, "not-found", "no such order")
    rows = await store.order_rows(runtime.db, order_id=order_id, buyer_id=buyer_id, merchant_id=merchant_id, limit=1)
    if not rows:
        raise Problem(404, "not-found", "no such order")
    return views.order_view(rows[0])


async def orders_page(
    runtime: Runtime,
    *,
    buyer_id: str | None = None,
    merchant_id: str | None = None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> views.OrderPage:
    """A page of the caller's orders, newest first."""
    if not _scoped(buyer_id, merchant_id):
        return views.OrderPage(items=[])
    if status is not None and status not in {s.value for s in domain.OrderStatus}:
        allowed = ", ".join(s.value for s in domain.OrderStatus)
        raise Problem(400, "invalid-status", f"status must be one of {allowed}", field="status")
    try:
        before = views.decode_cursor(cursor) if cursor else None
    except DomainError as exc:
        raise Problem(400, "invalid-cursor", exc.detail, field="cursor") from exc
    rows = await store.order_rows(
        runtime.db, buyer_id=buyer_id, merchant_id=merchant_id, status=status, before=before, limit=limit + 1
    )
    items = [views.order_view(r) for r in rows[:limit]]
    more = len(rows) > limit
    next_cursor = views.encode_cursor(items[-1].created_at, items[-1].order_id) if more and items else None
    return views.OrderPage(items=items, next_cursor=next_cursor)


def _scoped(buyer_id: str | None, merchant_id: str | None) -> bool:
    """A read names whose orders it wants; a merchant id that is no UUID owns nothing."""
    if merchant_id is not None:
        return is_uuid(merchant_id)
    return buyer_id is not None
