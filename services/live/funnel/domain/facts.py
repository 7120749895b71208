"""Facts (docs/ARCHITECTURE.md, "Facts"): each event becomes the steps it records, and new facts fold into per-minute
rollups, exact uniques and attribution touches. Pure: no I/O.

An event becomes `Draft`s: a fact with what it still needs from live's tables (a room's host and session at the
fact's time, a video's host, an order line's attribution); `complete` fills that in; `fold` aggregates the facts a
batch inserted, so each rollup row is written once per batch.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import msgspec

from libs.contracts import (
    CartItemAdded,
    CouponClaimed,
    Event,
    FlashSaleAdmitted,
    FlashSaleOrdersPlaced,
    FunnelTapped,
    OrderCancelled,
    OrderLine,
    OrderPaid,
    OrderPlaced,
    RedemptionUndone,
    RefundSucceeded,
    RoomViewed,
    VisitEnded,
    VoucherRedeemed,
)
from libs.ids import canonical_uuid
from services.live.funnel.domain.attribution import ROOM, VIDEO, Attribution, Line, RoomAt, VideoAt
from services.live.funnel.domain.changes import FunnelChanged

VIEW = "view"
WATCH = "watch"
IMPRESSION = "impression"
CLICK = "click"
VIDEO_PLAY = "video_play"
ANCHOR_CLICK = "anchor_click"
CART = "cart"
ORDER = "order"
PAID = "paid"
REFUND = "refund"
SALE_ADMITTED = "sale_admitted"
SALE_PAID = "sale_paid"
SALE_EXPIRED = "sale_expired"
COUPON_CLAIMED = "coupon_claimed"
COUPON_USED = "coupon_used"
VOUCHER_REDEEMED = "voucher_redeemed"
VOUCHER_UNDONE = "voucher_undone"

TAP_STEPS = {IMPRESSION: ROOM, CLICK: ROOM, VIDEO_PLAY: VIDEO, ANCHOR_CLICK: VIDEO}
# The unique people a step counts (`funnel_uniques.kind`).
UNIQUE_KIND = {VIEW: "viewer", VIDEO_PLAY: "viewer", CLICK: "clicker", ANCHOR_CLICK: "clicker", PAID: "buyer"}
# Steps that are touches for attribution (with a room or video source and an item).
TOUCH_STEPS = {CLICK, ANCHOR_CLICK, CART}
SCOPES = ("room", "session", "video", "sale", "host", "merchant")


class Fact(msgspec.Struct, frozen=True, kw_only=True):
    """One step, once (`fact_key`), with every scope it counts in; a row of `funnel_facts`.

    `quantity`: units (cart, order, paid, refund, sale steps); for a `video_play`, 1 if the play completed.
    """

    fact_key: str
    step: str
    at: datetime
    source_type: str | None = None
    room_id: str | None = None
    session_id: str | None = None
    video_id: str | None = None
    sale_id: str | None = None
    host_id: str | None = None
    merchant_id: str | None = None
    person_id: str | None = None
    product_id: str | None = None
    deal_id: str | None = None
    order_id: str | None = None
    quantity: int = 0
    amount_minor: int = 0
    currency: str | None = None
    watch_s: float = 0.0
    trace_id: str | None = None

    def scopes(self) -> list[tuple[str, str]]:
        """(scope, id) of every scope the fact names."""
        ids = (self.room_id, self.session_id, self.video_id, self.sale_id, self.host_id, self.merchant_id)
        return [(scope, scope_id) for scope, scope_id in zip(SCOPES, ids, strict=True) if scope_id]


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """A fact and what it still needs: the room (host, session at `fact.at`) or video (host) it names, if live knows
    it as the fact's merchant's; or the order line whose attribution it takes (`keeps`: first sight fixes it)."""

    fact: Fact
    room_id: str | None = None
    video_id: str | None = None
    line: Line | None = None
    keeps: bool = False


def _id(value: str | None) -> str | None:
    """Our UUIDs in one spelling (scope ids compare as text); anything else as given."""
    if value is None:
        return None
    return _spelled(value)


@functools.lru_cache(maxsize=65536)
def _spelled(value: str) -> str:
    # Cached: a batch names the same rooms, sessions and merchants hundreds of times, and parsing is the cost.
    return canonical_uuid(value) or value


def _line(order_id: str, line_no: int, buyer_id: str, merchant_id: str, line: OrderLine, at: datetime, **own) -> Line:
    return Line(
        order_id=_id(order_id) or order_id,
        line_no=line_no,
        buyer_id=buyer_id,
        merchant_id=_id(merchant_id) or merchant_id,
        product_id=None if line.deal_id else _id(line.product_id),
        deal_id=_id(line.deal_id),
        room_id=_id(line.room_id or own.get("room_id")),
        video_id=_id(line.video_id),
        sale_id=_id(line.flash_sale_id or own.get("sale_id")),
        at=at,
    )


def _line_fact(key: str, step: str, line: Line, at: datetime, **values) -> Fact:
    return Fact(
        fact_key=key,
        step=step,
        at=at,
        merchant_id=line.merchant_id,
        person_id=line.buyer_id,
        product_id=line.product_id,
        deal_id=line.deal_id,
        order_id=line.order_id,
        sale_id=line.sale_id,
        **values,
    )


def _order_lines(
    step: str,
    order_id: str,
    buyer_id: str,
    merchant_id: str,
    lines: list[OrderLine],
    at: datetime,
    currency: str,
    **own,
) -> list[Draft]:
    drafts = []
    for n, ol in enumerate(lines):
        line = _line(order_id, n, buyer_id, merchant_id, ol, at, **own)
        fact = _line_fact(
            f"{step}:{line.order_id}:{n}",
            step,
            line,
            at,
            quantity=ol.quantity,
            amount_minor=ol.amount_minor,
            currency=currency.upper(),
        )
        drafts.append(Draft(fact=fact, line=line, keeps=True))
    return drafts


def drafts_of(event: Event, trace_id: str | None = None) -> list[Draft]:
    """The steps an event records (none for one the funnel does not count)."""
    drafts = _drafts_of(event) if type(event) in _COUNTED else []
    if trace_id is None:
        return drafts
    return [msgspec.structs.replace(d, fact=msgspec.structs.replace(d.fact, trace_id=trace_id)) for d in drafts]


def _drafts_of(event: Event) -> list[Draft]:
    if isinstance(event, RoomViewed | VisitEnded):
        viewed = isinstance(event, RoomViewed)
        fact = Fact(
            fact_key=f"{VIEW if viewed else WATCH}:{event.visit_id}",
            step=VIEW if viewed else WATCH,
            at=event.joined_at if isinstance(event, RoomViewed) else event.ended_at,
            source_type=ROOM,
            room_id=_id(event.room_id),
            session_id=_id(event.session_id),
            host_id=event.host_id,
            merchant_id=_id(event.merchant_id),
            person_id=event.viewer_id,
            watch_s=0.0 if isinstance(event, RoomViewed) else max(event.watch_s, 0.0),
        )
        return [Draft(fact=fact)]
    if isinstance(event, FunnelTapped):
        drafts = []
        for tap in event.taps:
            source = TAP_STEPS.get(tap.kind)
            if source is None:
                continue  # checked at the endpoint; a kind this version does not know is not counted
            key = tap.fact_key if tap.fact_key.startswith(f"{tap.kind}:") else f"{tap.kind}:{tap.fact_key}"
            fact = Fact(
                fact_key=key,
                step=tap.kind,
                at=tap.at,
                source_type=source,
                room_id=_id(tap.room_id) if source == ROOM else None,
                session_id=_id(tap.session_id) if source == ROOM else None,
                video_id=_id(tap.video_id) if source == VIDEO else None,
                host_id=tap.host_id,
                merchant_id=_id(tap.merchant_id),
                person_id=tap.viewer_id,
                product_id=_id(tap.product_id),
                deal_id=_id(tap.deal_id),
                quantity=1 if tap.kind == VIDEO_PLAY and tap.completed else 0,
                watch_s=max(tap.watch_s, 0.0) if tap.kind == VIDEO_PLAY else 0.0,
            )
            drafts.append(Draft(fact=fact))
        return drafts
    if isinstance(event, CartItemAdded):
        fact = Fact(
            fact_key=f"{CART}:{event.fact_key}",
            step=CART,
            at=event.added_at,
            merchant_id=_id(event.merchant_id),
            person_id=event.buyer_id,
            product_id=_id(event.product_id),
            quantity=event.quantity,
            amount_minor=event.unit_price_minor * event.quantity,
            currency=event.currency.upper(),
        )
        room = _id(event.source_id) if event.source_type == ROOM else None
        video = _id(event.source_id) if event.source_type == VIDEO else None
        return [Draft(fact=fact, room_id=room, video_id=video)]
    if isinstance(event, FlashSaleAdmitted):
        return [
            Draft(
                fact=Fact(
                    fact_key=f"{SALE_ADMITTED}:{a.admission_id}",
                    step=SALE_ADMITTED,
                    at=a.admitted_at,
                    sale_id=_id(event.sale_id),
                    merchant_id=_id(event.merchant_id),
                    person_id=a.buyer_id,
                    product_id=_id(event.product_id),
                    order_id=_id(a.order_id),
                    quantity=a.quantity,
                    amount_minor=a.quantity * event.unit_price_minor,
                    currency=event.currency.upper(),
                ),
                room_id=_id(event.room_id),
            )
            for a in event.admissions
        ]
    if isinstance(event, CouponClaimed):
        fact = Fact(
            fact_key=f"{COUPON_CLAIMED}:{_id(event.coupon_id)}",
            step=COUPON_CLAIMED,
            at=event.occurred_at,
            merchant_id=_id(event.merchant_id),
            person_id=event.buyer_id,
            quantity=1,
        )
        return [Draft(fact=fact, room_id=_id(event.room_id))]
    if isinstance(event, OrderPlaced):
        return _order_lines(
            ORDER, event.order_id, event.buyer_id, event.merchant_id, event.lines, event.occurred_at, event.currency
        )
    if isinstance(event, FlashSaleOrdersPlaced):
        return [
            draft
            for o in event.orders
            for draft in _order_lines(
                ORDER,
                o.order_id,
                o.buyer_id,
                o.merchant_id,
                o.lines,
                event.occurred_at,
                o.currency,
                room_id=event.room_id,
                sale_id=event.sale_id,
            )
        ]
    if isinstance(event, OrderPaid):
        drafts = _order_lines(
            PAID, event.order_id, event.buyer_id, event.merchant_id, event.lines, event.paid_at, event.currency
        )
        sale_paid = [
            Draft(
                fact=msgspec.structs.replace(
                    d.fact, fact_key=f"{SALE_PAID}:{d.fact.order_id}:{d.line.line_no}", step=SALE_PAID
                ),
                line=d.line,
                keeps=True,
            )
            for d in drafts
            if d.line is not None and d.line.sale_id
        ]
        coupon = []
        if event.coupon_id and drafts and drafts[0].line is not None:
            line = drafts[0].line
            fact = _line_fact(
                f"{COUPON_USED}:{_id(event.coupon_id)}",
                COUPON_USED,
                line,
                event.paid_at,
                quantity=1,
                amount_minor=event.discount_minor,
                currency=event.currency.upper(),
            )
            coupon = [Draft(fact=msgspec.structs.replace(fact, product_id=None, deal_id=None), line=line, keeps=True)]
        return drafts + sale_paid + coupon
    if isinstance(event, OrderCancelled):
        drafts = []
        for n, ol in enumerate(event.lines):
            if not ol.flash_sale_id:
                continue
            line = _line(event.order_id, n, event.buyer_id, event.merchant_id, ol, event.occurred_at)
            key = f"{SALE_EXPIRED}:{line.order_id}:{n}"
            fact = _line_fact(key, SALE_EXPIRED, line, event.occurred_at, quantity=ol.quantity)
            drafts.append(Draft(fact=fact, line=line))
        return drafts
    if isinstance(event, RefundSucceeded):
        drafts = []
        for rl in event.refund_lines:
            if not 0 <= rl.line_no < len(event.lines):
                continue
            ol = event.lines[rl.line_no]
            line = _line(event.order_id, rl.line_no, event.buyer_id, event.merchant_id, ol, event.refunded_at)
            fact = _line_fact(
                f"{REFUND}:{_id(event.grant_id)}:{rl.line_no}",
                REFUND,
                line,
                event.refunded_at,
                quantity=rl.quantity,
                amount_minor=rl.amount_minor,
                currency=event.currency.upper(),
            )
            drafts.append(Draft(fact=fact, line=line))
        return drafts
    if isinstance(event, VoucherRedeemed | RedemptionUndone):
        redeemed = isinstance(event, VoucherRedeemed)
        step = VOUCHER_REDEEMED if redeemed else VOUCHER_UNDONE
        at = event.redeemed_at if isinstance(event, VoucherRedeemed) else event.undone_at
        # The buyer is the order line's (kept with its attribution); the event names only the line.
        line = Line(
            order_id=_id(event.source.order_id) or event.source.order_id,
            line_no=event.source.line_no,
            buyer_id="",
            merchant_id=_id(event.merchant_id) or event.merchant_id,
            deal_id=_id(event.deal_id),
            room_id=_id(event.source.room_id),
            sale_id=_id(event.source.flash_sale_id),
            at=at,
        )
        fact = _line_fact(f"{step}:{_id(event.redemption_id)}", step, line, at, quantity=1)
        return [Draft(fact=msgspec.structs.replace(fact, person_id=None), line=line)]
    return []


_COUNTED = {
    RoomViewed,
    VisitEnded,
    FunnelTapped,
    CartItemAdded,
    FlashSaleAdmitted,
    CouponClaimed,
    OrderPlaced,
    FlashSaleOrdersPlaced,
    OrderPaid,
    OrderCancelled,
    RefundSucceeded,
    VoucherRedeemed,
    RedemptionUndone,
}


def complete(
    draft: Draft,
    rooms: dict[tuple[str, datetime], RoomAt],
    videos: dict[str, VideoAt],
    attribution: Attribution | None,
    buyer_id: str | None = None,
) -> Fact:
    """The fact with its source filled in: the line's attribution, or the room or video it names (if the fact's
    merchant's; one live does not know is no scope)."""
    fact = draft.fact
    if draft.line is not None:
        a = attribution or Attribution(sale_id=draft.line.sale_id)
        return msgspec.structs.replace(
            fact,
            source_type=a.source_type,
            room_id=a.room_id,
            session_id=a.session_id,
            video_id=a.video_id,
            sale_id=a.sale_id or fact.sale_id,
            host_id=a.host_id,
            person_id=fact.person_id or buyer_id or None,
        )
    if draft.room_id is not None:
        room = rooms.get((draft.room_id, fact.at))
        if room is None or room.merchant_id != fact.merchant_id:
            return fact
        return msgspec.structs.replace(
            fact, source_type=ROOM, room_id=room.room_id, session_id=room.session_id, host_id=room.host_id
        )
    if draft.video_id is not None:
        video = videos.get(draft.video_id)
        if video is None or video.merchant_id != fact.merchant_id:
            return fact
        return msgspec.structs.replace(fact, source_type=VIDEO, video_id=video.video_id, host_id=video.host_id)
    return fact


class MinuteRow(msgspec.Struct, frozen=True, kw_only=True):
    """A rollup row's increment (a `funnel_minutes` row's key and what new facts add to it)."""

    scope: str
    scope_id: str
    step: str
    minute: datetime
    currency: str
    n: int = 0
    quantity: int = 0
    amount_minor: int = 0
    watch_s: float = 0.0


class UniqueRow(msgspec.Struct, frozen=True, kw_only=True):
    scope: str
    scope_id: str
    kind: str
    person_id: str
    first_at: datetime


class TouchRow(msgspec.Struct, frozen=True, kw_only=True):
    person_id: str
    item_id: str
    at: datetime
    source_type: str
    source_id: str
    session_id: str | None
    host_id: str | None
    fact_key: str


class Folded(msgspec.Struct, frozen=True, kw_only=True):
    """What new facts add, each row once and sorted by key (concurrent batches lock rows in one order)."""

    minutes: list[MinuteRow]
    uniques: list[UniqueRow]
    touches: list[TouchRow]
    changed: FunnelChanged


def fold(facts: Iterable[Fact]) -> Folded:
    """Aggregate new facts: per (scope, id, step, minute, currency) the count, units, amount and watch seconds; the
    unique viewers, clickers and buyers; the touches; and the scopes whose figures changed."""
    minutes: dict[tuple[str, str, str, datetime, str], list] = {}
    uniques: dict[tuple[str, str, str, str], datetime] = {}
    touches: dict[str, TouchRow] = {}
    for fact in facts:
        minute = fact.at.replace(second=0, microsecond=0)
        kind = UNIQUE_KIND.get(fact.step)
        currency = fact.currency or ""
        for scope, scope_id in fact.scopes():
            key = (scope, scope_id, fact.step, minute, currency)
            row = minutes.get(key)
            if row is None:
                minutes[key] = [1, fact.quantity, fact.amount_minor, fact.watch_s]
            else:
                row[0] += 1
                row[1] += fact.quantity
                row[2] += fact.amount_minor
                row[3] += fact.watch_s
            if kind and fact.person_id:
                ukey = (scope, scope_id, kind, fact.person_id)
                first = uniques.get(ukey)
                if first is None or fact.at < first:
                    uniques[ukey] = fact.at
        if fact.step in TOUCH_STEPS and fact.source_type and fact.person_id:
            item = fact.deal_id or fact.product_id
            source_id = fact.room_id if fact.source_type == ROOM else fact.video_id
            if item and source_id:
                touches[fact.fact_key] = TouchRow(
                    person_id=fact.person_id,
                    item_id=item,
                    at=fact.at,
                    source_type=fact.source_type,
                    source_id=source_id,
                    session_id=fact.session_id if fact.source_type == ROOM else None,
                    host_id=fact.host_id,
                    fact_key=fact.fact_key,
                )
    changed: dict[str, set[str]] = defaultdict(set)
    for scope, scope_id, *_ in minutes:
        changed[scope].add(scope_id)
    return Folded(
        minutes=[
            MinuteRow(
                scope=k[0],
                scope_id=k[1],
                step=k[2],
                minute=k[3],
                currency=k[4],
                n=v[0],
                quantity=v[1],
                amount_minor=v[2],
                watch_s=v[3],
            )
            for k, v in sorted(minutes.items())
        ],
        uniques=[
            UniqueRow(scope=k[0], scope_id=k[1], kind=k[2], person_id=k[3], first_at=first)
            for k, first in sorted(uniques.items())
        ],
        touches=[touches[key] for key in sorted(touches)],
        changed=FunnelChanged(
            rooms=tuple(sorted(changed["room"])),
            sessions=tuple(sorted(changed["session"])),
            videos=tuple(sorted(changed["video"])),
            sales=tuple(sorted(changed["sale"])),
            hosts=tuple(sorted(changed["host"])),
            merchants=tuple(sorted(changed["merchant"])),
        ),
    )
