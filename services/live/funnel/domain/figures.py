"""The figures of a funnel scope from its rollups, pure (docs/ARCHITECTURE.md, "Figures"); who may read them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import msgspec

from libs.auth import Principal
from libs.errors import BadRequest, Conflict, Invalid, NotFound
from libs.ids import canonical_uuid
from services.live.funnel.views import (
    BestMinute,
    Conversion,
    FunnelFigures,
    MinutePoint,
    Money,
    SaleFigures,
    SaleRow,
    TopProduct,
)

# The scopes a figure is read for, and the steps (fact kinds) they add up.
SCOPES = ("room", "session", "video", "sale", "host", "merchant")
VIEW, WATCH, VIDEO_PLAY = "view", "watch", "video_play"
IMPRESSION, CLICK, ANCHOR_CLICK = "impression", "click", "anchor_click"
CART, ORDER, PAID, REFUND = "cart", "order", "paid", "refund"
SALE_ADMITTED, SALE_PAID, SALE_EXPIRED = "sale_admitted", "sale_paid", "sale_expired"
COUPON_CLAIMED, COUPON_USED = "coupon_claimed", "coupon_used"
VOUCHER_REDEEMED, VOUCHER_UNDONE = "voucher_redeemed", "voucher_undone"

# The longest series one request may ask for: a day of minutes.
MAX_SERIES = timedelta(hours=24)
# Rates are decimals to this many places.
RATE_PLACES = 4


class StepTotal(msgspec.Struct, frozen=True, kw_only=True):
    """One step's rollup in a scope (over all time, or one minute), in one currency ('' for steps without money)."""

    step: str
    currency: str = ""
    n: int = 0
    quantity: int = 0
    amount_minor: int = 0
    watch_s: float = 0.0
    minute: datetime | None = None


class OrderCounts(msgspec.Struct, frozen=True, kw_only=True):
    """Distinct orders of a scope (order facts are per line, an order may have several), and vouchers paid for."""

    orders: int = 0
    paid_orders: int = 0
    vouchers_paid: int = 0


# --- refusals ---------------------------------------------------------------------------------


class FunnelNotFound(NotFound):
    """Unknown, or not the caller's: a funnel is its staff's business, so both answer the same."""

    code = "not-found"

    def __init__(self, what: str = "funnel") -> None:
        super().__init__(f"no such {what}")


class RoomNotEnded(Conflict):
    code = "room-not-ended"

    def __init__(self, status: str) -> None:
        super().__init__(f"a room's review is ready once it has ended; it is {status}", room_status=status)


class BadSeriesRange(Invalid):
    code = "bad-series-range"

    def __init__(self, detail: str, field: str) -> None:
        super().__init__(detail, field=field)


class BadTime(BadRequest):
    code = "validation-failed"

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} must be an RFC 3339 date-time (e.g. 2026-12-04T14:00:00Z)", field=field)


# --- who may read -------------------------------------------------------------------------------


def may_read_host(reader: Principal, host_id: str) -> bool:
    """A host's funnel is the host's own."""
    return reader.role == "host" and reader.sub == host_id


def may_read_merchant(reader: Principal, merchant_id: str) -> bool:
    """A merchant's funnel is that merchant's own."""
    wanted = canonical_uuid(merchant_id)
    return reader.role == "merchant" and wanted is not None and canonical_uuid(reader.merchant_id) == wanted


def may_read_staffed(reader: Principal, host_id: str, merchant_id: str) -> bool:
    """A room's or video's funnel: its host, or the merchant it sells for."""
    return may_read_host(reader, host_id) or may_read_merchant(reader, merchant_id)


def ensure_ended(status: str) -> None:
    if status != "ended":
        raise RoomNotEnded(status)


def parse_at(text: str | None, field: str) -> datetime | None:
    """A client's date-time (a zone-less one is UTC), or None when not given."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise BadTime(field) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def series_range(
    asked_from: datetime | None, asked_to: datetime | None, last_minute: datetime | None
) -> tuple[datetime, datetime] | None:
    """The minutes [from, to) a series covers: as asked (at most a day), else the day up to the scope's last minute."""
    if asked_from is None and asked_to is None:
        if last_minute is None:
            return None
        end = last_minute + timedelta(minutes=1)
        return end - MAX_SERIES, end
    if asked_from is None or asked_to is None:
        field = "from" if asked_from is None else "to"
        raise BadSeriesRange("give both from and to, or neither", field)
    if asked_to <= asked_from:
        raise BadSeriesRange("to must be after from", "to")
    if asked_to - asked_from > MAX_SERIES:
        raise BadSeriesRange("a series covers at most 24 hours", "to")
    return asked_from, asked_to


# --- figures ------------------------------------------------------------------------------------


def rate(part: int, whole: int) -> float | None:
    """part ÷ whole as a decimal, null when there is no whole."""
    return None if whole == 0 else round(part / whole, RATE_PLACES)


def per(amount: int, count: int, scale: int = 1) -> int | None:
    """amount * scale / count in whole minor units (half up), null when count is 0."""
    return None if count == 0 else (2 * amount * scale + count) // (2 * count)


def _sum(totals: Iterable[StepTotal], *steps: str) -> StepTotal:
    n = quantity = amount = 0
    watch = 0.0
    for t in totals:
        if t.step in steps:
            n, quantity, amount, watch = n + t.n, quantity + t.quantity, amount + t.amount_minor, watch + t.watch_s
    return StepTotal(step="+".join(steps), n=n, quantity=quantity, amount_minor=amount, watch_s=watch)


def _by_currency(totals: Iterable[StepTotal], step: str) -> dict[str, int]:
    amounts: dict[str, int] = defaultdict(int)
    for t in totals:
        if t.step == step and t.currency:
            amounts[t.currency] += t.amount_minor
    return dict(sorted(amounts.items()))


def sale_figures(quantity: int, totals: Sequence[StepTotal]) -> SaleFigures:
    """Sell-through: units admitted and not expired ÷ the sale's quantity; pay rate: units paid ÷ units admitted."""
    admitted = _sum(totals, SALE_ADMITTED).quantity
    paid = _sum(totals, SALE_PAID).quantity
    expired = _sum(totals, SALE_EXPIRED).quantity
    return SaleFigures(
        quantity=quantity,
        admitted_units=admitted,
        paid_units=paid,
        expired_units=expired,
        sell_through=rate(admitted - expired, quantity),
        pay_rate=rate(paid, admitted),
    )


def series(points: Sequence[StepTotal], orders_by_minute: Mapping[datetime, OrderCounts]) -> list[MinutePoint]:
    """The per-minute series from per-minute rollups (each carrying its `minute`) and distinct orders per minute."""
    by_minute: dict[datetime, list[StepTotal]] = defaultdict(list)
    for point in points:
        assert point.minute is not None
        by_minute[point.minute].append(point)
    for minute in orders_by_minute:
        by_minute.setdefault(minute, [])
    out = []
    for minute in sorted(by_minute):
        totals = by_minute[minute]
        counts = orders_by_minute.get(minute, OrderCounts())
        out.append(
            MinutePoint(
                minute=minute,
                views=_sum(totals, VIEW, VIDEO_PLAY).n,
                watch_s=_sum(totals, WATCH, VIDEO_PLAY).watch_s,
                impressions=_sum(totals, IMPRESSION).n,
                clicks=_sum(totals, CLICK, ANCHOR_CLICK).n,
                carts=_sum(totals, CART).n,
                orders=counts.orders,
                paid_orders=counts.paid_orders,
                gross_paid_minor=_by_currency(totals, PAID),
                refunded_minor=_by_currency(totals, REFUND),
            )
        )
    return out


def figures(
    scope: str,
    scope_id: str,
    totals: Sequence[StepTotal],
    *,
    uniques: Mapping[str, int],
    counts: OrderCounts,
    window: tuple[datetime, datetime] | None = None,
    points: Sequence[MinutePoint] = (),
    sale_quantity: int | None = None,
) -> FunnelFigures:
    """A scope's figures from its step totals (all time), its unique people and its distinct orders.

    Views of a room are joins (`view`), of a video plays (`video_play`); a host or merchant has both. Watch time is
    ended visits' seconds and plays' seconds over ended visits and plays.
    """
    views = _sum(totals, VIEW, VIDEO_PLAY).n
    watched = _sum(totals, WATCH, VIDEO_PLAY)
    impressions = _sum(totals, IMPRESSION).n
    clicks = _sum(totals, CLICK, ANCHOR_CLICK).n
    carts = _sum(totals, CART).n
    viewers = uniques.get("viewer", 0)
    gross, refunded = _by_currency(totals, PAID), _by_currency(totals, REFUND)
    money = [
        Money(
            currency=currency,
            gross_paid_minor=gross.get(currency, 0),
            refunded_minor=refunded.get(currency, 0),
            net_minor=gross.get(currency, 0) - refunded.get(currency, 0),
            gpm_minor=per(gross.get(currency, 0), views, 1000),
            uv_value_minor=per(gross.get(currency, 0), viewers),
        )
        for currency in sorted(gross.keys() | refunded.keys())
    ]
    redeemed = _sum(totals, VOUCHER_REDEEMED).n - _sum(totals, VOUCHER_UNDONE).n
    return FunnelFigures(
        scope=scope,
        scope_id=scope_id,
        views=views,
        unique_viewers=viewers,
        average_watch_s=None if watched.n == 0 else round(watched.watch_s / watched.n, 1),
        impressions=impressions,
        clicks=clicks,
        unique_clickers=uniques.get("clicker", 0),
        click_through_rate=rate(clicks, impressions),
        carts=carts,
        orders=counts.orders,
        paid_orders=counts.paid_orders,
        buyers=uniques.get("buyer", 0),
        refunds=_sum(totals, REFUND).n,
        money=money,
        conversion=Conversion(
            view_to_click=rate(clicks, views),
            click_to_cart=rate(carts, clicks),
            cart_to_order=rate(counts.orders, carts),
            order_to_paid=rate(counts.paid_orders, counts.orders),
        ),
        coupons_claimed=_sum(totals, COUPON_CLAIMED).n,
        coupons_used=_sum(totals, COUPON_USED).n,
        vouchers_paid=counts.vouchers_paid,
        vouchers_redeemed=redeemed,
        voucher_redemption_rate=rate(redeemed, counts.vouchers_paid),
        series_from=window[0] if window else None,
        series_to=window[1] if window else None,
        series=list(points),
        sale=None if sale_quantity is None else sale_figures(sale_quantity, totals),
    )


# --- the review -----------------------------------------------------------------------------------


def top_products(sold: Iterable[TopProduct], limit: int = 10) -> list[TopProduct]:
    """By paid amount, then units, then id (so the order is stable)."""
    ranked = sorted(sold, key=lambda p: (-p.gross_paid_minor, -p.units, p.product_id or "", p.deal_id or ""))
    return ranked[:limit]


def best_minute(points: Sequence[MinutePoint]) -> BestMinute | None:
    """The minute with the most paid (currencies added together); ties: the earliest; none when nothing was paid."""
    best: MinutePoint | None = None
    for point in sorted(points, key=lambda p: p.minute):
        paid = sum(point.gross_paid_minor.values())
        if paid > 0 and (best is None or paid > sum(best.gross_paid_minor.values())):
            best = point
    if best is None:
        return None
    return BestMinute(minute=best.minute, gross_paid_minor=best.gross_paid_minor, paid_orders=best.paid_orders)


def sale_row(sale: Mapping[str, object], totals: Sequence[StepTotal]) -> SaleRow:
    """One line of the sale-by-sale table: the sale's terms and its funnel."""
    units = sale_figures(int(sale["quantity"]), totals)  # type: ignore[call-overload]
    return SaleRow(
        sale_id=str(sale["sale_id"]),
        title=str(sale["title"]),
        sku_name=str(sale["sku_name"]),
        starts_at=sale["starts_at"],  # type: ignore[arg-type]
        currency=str(sale["currency"]),
        quantity=units.quantity,
        admitted_units=units.admitted_units,
        paid_units=units.paid_units,
        expired_units=units.expired_units,
        sell_through=units.sell_through,
        pay_rate=units.pay_rate,
        # The sale's paid lines; `sale_paid` facts carry their amount too, if the paid ones are not in the sale.
        gross_paid_minor=_sum(totals, PAID).amount_minor or _sum(totals, SALE_PAID).amount_minor,
    )
