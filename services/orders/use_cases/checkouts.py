"""Checking out: reserve the cart (goods at shop, local-life deals at local_life), then write the checkout, its orders
and payment once; read a checkout.

A checkout refused after shop or local_life held something for it is abandoned: both are told to release their
holds now, not at `hold_until`. A buyer holds at most so many checkouts and units unpaid (`domain.holds`), and a
line's room is checked with live before it is recorded (`domain.attribution`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import asyncpg
import msgspec
from opentelemetry import baggage

from libs.auth import Principal
from libs.bus import RequestFailed, add_events
from libs.contracts import (
    RESERVE_DEALS,
    RESERVE_STOCK,
    SOURCE_OK,
    VERIFY_ROOM_SOURCES,
    VERIFY_VIDEO_SOURCES,
    CheckoutAbandoned,
    ReservedDeal,
    ReserveDeals,
    ReserveDealsReply,
    ReservedLine,
    ReserveItem,
    ReserveStock,
    ReserveStockReply,
    VerifyRoomSources,
    VerifyRoomSourcesReply,
    VerifyVideoSources,
    VerifyVideoSourcesReply,
)
from libs.db import write_once
from libs.errors import DomainError, IdempotencyConflict, IdempotencyKeyReused, NotFound
from libs.ids import derived_id, is_uuid
from libs.runtime import Runtime
from libs.scheduler import schedule
from libs.telemetry import baggage_set, capture_headers, names, tag
from services.orders import domain, store
from services.orders.adapters import stripe
from services.orders.adapters.counters import counters
from services.orders.domain import CheckoutPlan, attribution, deals, holds
from services.orders.domain import coupons as coupon_rules
from services.orders.domain.coupons import Coupon
from services.orders.domain.deals import CartItem, SplitCart
from services.orders.domain.refusals import CheckoutExpired, StockUnavailable, reservation_refused
from services.orders.use_cases.payments import ensure_payment_intent
from services.orders.views import CheckoutOrderView, CheckoutView, LineView, PaymentView

log = logging.getLogger(__name__)

# Shop holds the stock a little past the payment window, so a late job still finds it held.
HOLD_GRACE = timedelta(minutes=10)
RESERVE_TIMEOUT_S = 5.0
# Live verifies the rooms lines name; past this the lines keep their rooms unverified rather than fail the checkout.
VERIFY_SOURCES_TIMEOUT_S = 1.0


async def place_checkout(
    runtime: Runtime,
    caller: Principal,
    *,
    items: list[CartItem],
    coupon_ids: list[str],
    request: object,
    key: str,
) -> CheckoutView:
    """Reserve stock and deals, then write checkout + orders + payment + coupons used + events + deadline in one
    transaction."""
    cart = deals.split_cart(items)
    buyer_id = caller.sub
    checkout_id = derived_id(buyer_id, key)
    now = runtime.clock.now()
    pay_by = now + timedelta(seconds=runtime.settings.payment_window_s)
    hold_until = pay_by + HOLD_GRACE
    # The room the request comes from (W3C baggage), read before this checkout puts its own first room there.
    context_room = baggage.get_baggage(names.ROOM_ID)
    room_id = domain.room_of_lines(items)
    tag({names.CHECKOUT_ID: checkout_id, names.BUYER_ID: buyer_id, names.ROOM_ID: room_id})
    with baggage_set(**{names.ROOM_ID: room_id}):
        # What shop (then local_life) holds for this checkout; None when the checkout exists (a replay).
        reserved: list[ReservedLine | ReservedDeal] | None = None
        coupons: list[Coupon] = []
        # A retry of a checkout that exists only replays its answer: no second reservation call.
        if not await store.checkout_exists(runtime.db, checkout_id):
            if await store.checkout_abandoned(runtime.db, checkout_id):
                raise CheckoutExpired()
            # Refusals that need no prices come before any stock is held for this checkout. The caps are checked
            # again under the buyer's lock when the checkout is written; here they spare the stock a futile hold.
            coupons = await _usable_coupons(runtime.db, buyer_id, coupon_ids, now)
            await _ensure_within_caps(runtime, runtime.db, buyer_id, checkout_id, cart.keyed)
            reserved = [*await _reserve(runtime, checkout_id, buyer_id, cart, hold_until=hold_until)]
        plan: CheckoutPlan | None = None
        rooms_verified = False
        written = False

        async def effect(conn: asyncpg.Connection) -> object:
            nonlocal written
            if plan is None:  # the checkout exists, so its answer is stored and this never runs
                raise IdempotencyConflict("this checkout is being written by another request")
            await _ensure_not_abandoned(conn, checkout_id)
            # One of the buyer's checkouts at a time from here to commit: two cannot both slip under the caps.
            await store.lock_buyer(conn, buyer_id)
            await _ensure_within_caps(runtime, conn, buyer_id, checkout_id, cart.keyed)
            written = await store.insert_checkout(
                conn,
                plan,
                buyer_id=buyer_id,
                pay_by=pay_by,
                now=now,
                trace_headers=capture_headers(),
                rooms_verified=rooms_verified,
            )
            if written:
                await _use_coupons(conn, plan, buyer_id, coupon_ids, now)
                await _announce_placed(conn, plan, buyer_id, pay_by, now)
                await schedule(conn, domain.PAYMENT_TIMEOUT_JOB, checkout_id, pay_by)
            # When a concurrent twin wrote it first, write_once finds its stored answer and replays it.
            return _placed_view(plan, pay_by, rooms_verified)

        try:
            if reserved is not None and cart.deals:
                # Asked after shop: a refusal here abandons the checkout below, so shop releases what it held.
                reserved += await _reserve_deals(runtime, checkout_id, buyer_id, cart, hold_until=hold_until)
            if reserved is not None:
                rooms_verified, reserved = await _verify_sources(
                    runtime,
                    checkout_id,
                    cart.keyed,
                    reserved,
                    context_room=context_room if isinstance(context_room, str) else None,
                )
                reserved = await _verify_videos(runtime, checkout_id, cart.keyed, reserved)
            plan = (
                _plan(checkout_id, deals.in_cart_order(cart.keyed, reserved), coupons) if reserved is not None else None
            )
            stored = await write_once(
                runtime.db, caller=caller, scope="checkout", key=key, request=request, effect=effect
            )
        except (IdempotencyKeyReused, IdempotencyConflict):
            # write_once's own answers: another request placed this checkout, and its hold is that checkout's.
            raise
        except DomainError as refusal:
            if reserved:
                # Shop (or local_life) holds for a checkout that will not be: have it released now, not at hold_until.
                await _abandon(runtime, checkout_id, buyer_id, refusal)
            raise
    if written and plan is not None:
        # Committed by this request (concurrent twins only replay it): count its orders once.
        counters(runtime).orders_placed.add(len(plan.orders), {names.CURRENCY: plan.currency})
        body = _as_view(stored)
    else:
        # A replay tells how the checkout stands now (paid, expired...), not how it stood when placed.
        body = await checkout_of(runtime, buyer_id=buyer_id, checkout_id=checkout_id)
    if domain.is_open(body.status, body.pay_by, runtime.clock.now()):
        body.payment.client_secret = await _client_secret(runtime, body)
    return body


async def checkout_of(runtime: Runtime, *, buyer_id: str, checkout_id: str) -> CheckoutView:
    """The buyer's own checkout with its orders and payment; anyone else's is not found."""
    found = await store.checkout_view(runtime.db, checkout_id, buyer_id) if is_uuid(checkout_id) else None
    if found is None:
        raise NotFound("no such checkout")
    return found


def _as_view(stored: object) -> CheckoutView:
    # write_once hands back JSON-shaped builtins (fresh or replayed): one typed answer for both.
    return msgspec.convert(stored, CheckoutView, strict=False)


def _placed_view(plan: CheckoutPlan, pay_by: datetime, rooms_verified: bool) -> CheckoutView:
    """The answer to a freshly placed checkout."""
    return CheckoutView(
        checkout_id=plan.checkout_id,
        status=domain.CheckoutStatus.AWAITING_PAYMENT,
        pay_by=pay_by,
        amount_minor=plan.amount_minor,
        currency=plan.currency,
        payment=PaymentView(
            payment_id=plan.payment_id,
            amount_minor=plan.amount_minor,
            currency=plan.currency,
            status=domain.PaymentStatus.REQUIRES_PAYMENT,
        ),
        orders=[
            CheckoutOrderView(
                order_id=o.order_id,
                merchant_id=o.merchant_id,
                status=domain.OrderStatus.AWAITING_PAYMENT,
                subtotal_minor=o.subtotal_minor,
                discount_minor=o.discount_minor,
                coupon_id=o.coupon_id,
                amount_minor=o.amount_minor,
                currency=o.currency,
                lines=[
                    LineView(
                        **msgspec.structs.asdict(line),
                        line_no=n,
                        room_verified=store.line_room_verified(line, rooms_verified),
                    )
                    for n, line in enumerate(o.lines)
                ],
            )
            for o in sorted(plan.orders, key=lambda o: o.order_id)
        ],
    )


async def _reserve(
    runtime: Runtime, checkout_id: str, buyer_id: str, cart: SplitCart, *, hold_until: datetime
) -> list[ReservedLine]:
    """Shop holds the cart's goods (none asked when it has none)."""
    items = cart.skus
    if not items:
        return []
    # Shop must not commit a hold after we stopped waiting for it (the buyer was told to retry).
    answer_by = runtime.clock.now() + timedelta(seconds=RESERVE_TIMEOUT_S)
    request = ReserveStock(
        checkout_id=checkout_id, buyer_id=buyer_id, items=items, hold_until=hold_until, answer_by=answer_by
    )
    try:
        reply = await runtime.bus.request(RESERVE_STOCK, request, ReserveStockReply, timeout=RESERVE_TIMEOUT_S)
    except RequestFailed as exc:
        raise StockUnavailable() from exc
    if not reply.ok:
        raise reservation_refused(deals.shop_reply_in_cart(reply, cart.sku_index))
    if not domain.reservation_matches(items, reply.lines):
        # Shop replays the first reservation of a checkout id: this key was first used for another cart. That
        # hold is the first request's (it may still be placing it), so this refusal does not abandon it.
        raise IdempotencyKeyReused("this Idempotency-Key was used with a different cart")
    return reply.lines


async def _reserve_deals(
    runtime: Runtime, checkout_id: str, buyer_id: str, cart: SplitCart, *, hold_until: datetime
) -> list[ReservedDeal]:
    """local_life holds the cart's deals (quantity and per-buyer limit; a team seat for team items), all or none,
    idempotent on the checkout id as shop's stock; its refusals name the cart's item."""
    answer_by = runtime.clock.now() + timedelta(seconds=RESERVE_TIMEOUT_S)
    request = ReserveDeals(
        checkout_id=checkout_id, buyer_id=buyer_id, items=cart.deals, hold_until=hold_until, answer_by=answer_by
    )
    try:
        reply = await runtime.bus.request(RESERVE_DEALS, request, ReserveDealsReply, timeout=RESERVE_TIMEOUT_S)
    except RequestFailed as exc:
        raise StockUnavailable("the deals could not be reserved right now; try again") from exc
    if not reply.ok:
        raise deals.deals_refused(reply, cart.deal_index)
    if not deals.holds_match(cart.deals, reply.lines):
        raise IdempotencyKeyReused("this Idempotency-Key was used with a different cart")
    return reply.lines


async def _ensure_within_caps(
    runtime: Runtime, db: store.Conn, buyer_id: str, checkout_id: str, items: list[ReserveItem]
) -> None:
    """Refuse a checkout that would take the buyer past the unpaid checkouts or units-per-SKU cap (`items` keyed by
    the SKU or deal each buys: a deal line's `sku_id` is its deal id, so the same count covers deals).

    The checkout itself is never counted: a twin with the same Idempotency-Key may have written it meanwhile.
    """
    settings = runtime.settings
    unpaid = await store.unpaid_checkouts(db, buyer_id, excluding=checkout_id)
    held = await store.units_held(db, buyer_id, list(holds.asked_per_sku(items)), excluding=checkout_id)
    holds.ensure_within_caps(
        items,
        unpaid_checkouts=unpaid,
        held=held,
        max_unpaid_checkouts=settings.max_unpaid_checkouts,
        max_units_held_per_sku=settings.max_units_held_per_sku,
    )


async def _verify_sources(
    runtime: Runtime,
    checkout_id: str,
    items: list[ReserveItem],
    reserved: list[ReservedLine | ReservedDeal],
    *,
    context_room: str | None,
) -> tuple[bool, list[ReservedLine | ReservedDeal]]:
    """Ask live, once for all lines, whether the rooms they name exist and sell their products; refuse if not.

    Lines naming no room or video take the room of the request's baggage (the client's room context: the buyer
    came from it), dropped again if live says it does not sell the line's product. True when live vouched for every
    room named (or none is). If live does not answer in time the lines keep their rooms unverified (False, and their
    views say so): the checkout is not failed for it, and live's room sales apply the same rule when the order is
    paid, so nothing is counted for a wrong room.
    """
    reserved, from_context = attribution.fill_context_room(reserved, context_room)
    asked = attribution.sources_of(reserved)
    if not asked:
        return True, reserved
    try:
        reply = await runtime.bus.request(
            VERIFY_ROOM_SOURCES,
            VerifyRoomSources(sources=asked),
            VerifyRoomSourcesReply,
            timeout=VERIFY_SOURCES_TIMEOUT_S,
        )
    except (RequestFailed, msgspec.DecodeError) as exc:
        log.warning("checkout %s: rooms of its lines left unverified (%s)", checkout_id, exc)
        return False, reserved
    if len(reply.verdicts) != len(asked):
        log.warning("checkout %s: live answered %d verdicts for %d rooms", checkout_id, len(reply.verdicts), len(asked))
        return False, reserved
    settled = attribution.ensure_true_sources(items, reserved, reply.verdicts, from_context=from_context)
    # A verdict this version does not know is neither a refusal nor a warrant.
    # A room the baggage gave and live refused is gone from its line: its verdict warrants nothing either way.
    named = [position for position, line in enumerate(reserved) if line.room_id]
    kept = [v for position, v in zip(named, reply.verdicts, strict=True) if settled[position].room_id]
    return all(verdict == SOURCE_OK for verdict in kept), settled


async def _verify_videos(
    runtime: Runtime, checkout_id: str, items: list[ReserveItem], reserved: list[ReservedLine | ReservedDeal]
) -> list[ReservedLine | ReservedDeal]:
    """Ask live, once for all lines, whether the videos they name are there and anchor their products: refuse an
    item's own video if not, drop a cart line's (`attribution.settle_video_sources`). If live does not answer in
    time the lines keep their videos (the funnel attributes only to a video that anchors the item)."""
    asked = attribution.video_sources_of(reserved)
    if not asked:
        return reserved
    try:
        reply = await runtime.bus.request(
            VERIFY_VIDEO_SOURCES,
            VerifyVideoSources(sources=asked),
            VerifyVideoSourcesReply,
            timeout=VERIFY_SOURCES_TIMEOUT_S,
        )
    except (RequestFailed, msgspec.DecodeError) as exc:
        log.warning("checkout %s: videos of its lines left unverified (%s)", checkout_id, exc)
        return reserved
    if len(reply.verdicts) != len(asked):
        log.warning(
            "checkout %s: live answered %d verdicts for %d videos", checkout_id, len(reply.verdicts), len(asked)
        )
        return reserved
    return attribution.settle_video_sources(items, reserved, reply.verdicts)


def _plan(checkout_id: str, reserved: list[ReservedLine | ReservedDeal], coupons: list[Coupon]) -> CheckoutPlan:
    merchants = {line.merchant_id for line in reserved}
    plan = domain.plan_checkout(
        checkout_id,
        derived_id(checkout_id, "payment"),
        reserved,
        {m: derived_id(checkout_id, "order", m) for m in merchants},
    )
    # A coupon refused on the prices abandons the checkout (place_checkout): shop and local_life release their holds.
    return coupon_rules.apply_coupons(plan, coupons)


async def _usable_coupons(db: store.Conn, buyer_id: str, coupon_ids: list[str], now: datetime) -> list[Coupon]:
    found = await store.buyers_coupons(db, buyer_id, coupon_ids)
    return coupon_rules.ensure_usable(coupon_ids, found, buyer_id, now)


async def _use_coupons(
    conn: asyncpg.Connection, plan: CheckoutPlan, buyer_id: str, coupon_ids: list[str], now: datetime
) -> None:
    """Each coupon becomes used by its order, once: if a concurrent checkout used one first, this one fails whole."""
    uses = [(order.coupon_id, order.order_id) for order in plan.orders if order.coupon_id]
    if len(await store.use_coupons(conn, buyer_id, uses, now)) == len(uses):
        return
    # Tell which coupon and why, as the buyer would have been told a moment earlier; the transaction rolls back.
    await _usable_coupons(conn, buyer_id, coupon_ids, now)
    raise coupon_rules.CouponUsed("a coupon was used by another checkout", field=coupon_rules.FIELD)


async def _announce_placed(
    conn: asyncpg.Connection, plan: CheckoutPlan, buyer_id: str, pay_by: datetime, now: datetime
) -> None:
    for order in plan.orders:
        with baggage_set(**{names.ROOM_ID: order.room_id}):
            await add_events(conn, domain.placed_event(plan, order, buyer_id, pay_by, now))


async def _client_secret(runtime: Runtime, body: CheckoutView) -> str | None:
    """The PaymentIntent's client secret; None if Stripe is away (confirm creates the intent later)."""
    try:
        intent = await ensure_payment_intent(
            runtime, body.payment.payment_id, body.checkout_id, body.amount_minor, body.currency
        )
    except stripe.StripeError as exc:
        log.warning("stripe unavailable at checkout %s: %s", body.checkout_id, type(exc).__name__)
        return None
    return intent.client_secret


# --- abandoned checkouts ------------------------------------------------------------------------


async def _ensure_not_abandoned(conn: asyncpg.Connection, checkout_id: str) -> None:
    """Refuse to place a checkout once it was abandoned: shop is releasing (or has released) its stock.

    Held until the transaction ends, so an abandonment written concurrently waits and then finds this checkout placed.
    """
    await store.lock_checkout_id(conn, checkout_id)
    if await store.checkout_abandoned(conn, checkout_id):
        raise CheckoutExpired()


async def _abandon(runtime: Runtime, checkout_id: str, buyer_id: str, refusal: DomainError) -> None:
    """Record the refused checkout and its CheckoutAbandoned in a transaction of its own, once per checkout.

    The buyer gets the refusal whatever happens here: if this write fails, shop's hold expiry is the fallback.
    """
    try:
        async with runtime.db.transaction() as conn:
            await store.lock_checkout_id(conn, checkout_id)
            # Not if a concurrent twin (same Idempotency-Key) placed it meanwhile: that checkout owns the hold.
            if await store.record_abandoned(conn, checkout_id, buyer_id, refusal.code, runtime.clock.now()):
                await add_events(
                    conn, CheckoutAbandoned(checkout_id=checkout_id, buyer_id=buyer_id, reason=refusal.code)
                )
    except Exception:  # the refusal stands whatever went wrong; CancelledError is not an Exception
        log.exception(
            "checkout %s refused (%s) after its stock was reserved, and could not be recorded as abandoned: "
            "shop releases the hold when it expires",
            checkout_id,
            refusal.code,
        )
