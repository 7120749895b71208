"""Host tiers (S/A/B/C) and customer segments (RFM), pure: the rules docs/ARCHITECTURE.md "Tiers" writes down."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta

import msgspec

from libs.errors import BadRequest, Invalid, NotFound

# Host tiers read the last 30 days; customer segments the windows below.
HOST_WINDOW = timedelta(days=30)
RECENT = timedelta(days=30)
LAPSED = timedelta(days=90)
YEAR = timedelta(days=365)
PROSPECT_WINDOW = timedelta(days=90)

TIERS = ("S", "A", "B", "C")
# The order rules are tried in: the first that holds is the customer's one segment.
SEGMENTS = ("prospect", "at_risk", "loyal", "active", "new", "paying")
# Steps that show interest short of paying: a person with one of these in a merchant's rooms or videos is a prospect.
ENGAGEMENT_STEPS = ("view", "watch", "impression", "click", "video_play", "anchor_click", "cart", "order")
# The steps counted as a host's views (the GPM's denominator): room views and video plays, since a host's GMV
# counts sales attributed to either.
VIEW_STEPS = ("view", "video_play")

DAILY_JOB = "funnel_tiers_daily"
DAILY_KEY = "daily"
SEGMENTS_JOB = "funnel_customer_segments"


class UnknownSegment(Invalid):
    code = "unknown-segment"

    def __init__(self, segment: str) -> None:
        super().__init__(f"no segment {segment!r}; one of {', '.join(SEGMENTS)}", field="segment", known=list(SEGMENTS))


class InvalidCursor(BadRequest):
    code = "invalid-cursor"

    def __init__(self) -> None:
        super().__init__("cursor is not one this API handed out", field="cursor")


class TierNotFound(NotFound):
    """No tier computed for the host, or not one the caller may read: both answer the same."""

    def __init__(self) -> None:
        super().__init__("no tier for this host")


class CustomersNotFound(NotFound):
    """Another merchant's customers answer as if there were no such merchant."""

    def __init__(self) -> None:
        super().__init__("no such merchant")


# --- host tiers -----------------------------------------------------------------------------------------------


class Threshold(msgspec.Struct, frozen=True, kw_only=True):
    """What a tier asks: at least this net GMV and at least this GPM (minor units of the tier currency)."""

    net_minor: int
    gpm_minor: int


class HostTierRules(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    s: Threshold
    a: Threshold
    b: Threshold


class HostFigures(msgspec.Struct, frozen=True, kw_only=True):
    """A host's last 30 days in the tier currency: views (room views + video plays), paid and refunded."""

    host_id: str
    views: int
    gross_paid_minor: int
    refunded_minor: int

    @property
    def net_minor(self) -> int:
        return self.gross_paid_minor - self.refunded_minor

    @property
    def gpm_minor(self) -> int | None:
        return gpm_minor(self.gross_paid_minor, self.views)


class HostTier(msgspec.Struct, kw_only=True):
    """A host's tier and the figures it was computed from: the 30 days up to `computed_at`, in `currency`."""

    host_id: str
    tier: str
    # When the host got this tier (the first computation that gave it, since a different one).
    since: datetime
    computed_at: datetime
    window_from: datetime
    currency: str
    views: int
    gross_paid_minor: int
    refunded_minor: int
    net_minor: int
    gpm_minor: int | None


class TierChange(msgspec.Struct, kw_only=True):
    """One change of a host's tier (the first tier a host got is one too, from null)."""

    computed_at: datetime
    tier: str
    previous_tier: str | None
    net_minor: int
    gpm_minor: int | None


class HostTierAnswer(msgspec.Struct, kw_only=True):
    """`GET /hosts/{id}/tier`: the tier now and its changes, newest first."""

    tier: HostTier
    changes: list[TierChange]


class TiersComputed(msgspec.Struct, kw_only=True):
    """What one recompute of every host's tier did."""

    computed_at: datetime
    hosts: int
    changed: int


def gpm_minor(gross_paid_minor: int, views: int) -> int | None:
    """Gross paid per 1,000 views, rounded down; null without views."""
    if views <= 0:
        return None
    return gross_paid_minor * 1000 // views


def host_tier(figures: HostFigures, rules: HostTierRules) -> str:
    """The highest tier whose net GMV and GPM thresholds the host both reaches; C otherwise (and without views)."""
    gpm = figures.gpm_minor
    if gpm is None:
        return "C"
    for tier, threshold in (("S", rules.s), ("A", rules.a), ("B", rules.b)):
        if figures.net_minor >= threshold.net_minor and gpm >= threshold.gpm_minor:
            return tier
    return "C"


def host_window(now: datetime) -> tuple[datetime, datetime]:
    """The minutes a tier computed at `now` reads: from the minute 30 days before now's minute, to now."""
    minute = now.replace(second=0, microsecond=0)
    return minute - HOST_WINDOW, now


def tiers_of(
    figures: list[HostFigures], previous: dict[str, HostTier], rules: HostTierRules, now: datetime
) -> list[HostTier]:
    """Every host's tier at `now`; `since` carries over from `previous` while the tier stays the same."""
    window_from, _ = host_window(now)
    tiers = []
    for f in figures:
        tier = host_tier(f, rules)
        before = previous.get(f.host_id)
        since = before.since if before is not None and before.tier == tier else now
        tiers.append(
            HostTier(
                host_id=f.host_id,
                tier=tier,
                since=since,
                computed_at=now,
                window_from=window_from,
                currency=rules.currency,
                views=f.views,
                gross_paid_minor=f.gross_paid_minor,
                refunded_minor=f.refunded_minor,
                net_minor=f.net_minor,
                gpm_minor=f.gpm_minor,
            )
        )
    return tiers


# --- customer segments (RFM) ----------------------------------------------------------------------------------


class SegmentRules(msgspec.Struct, frozen=True, kw_only=True):
    loyal_orders: int
    loyal_net_minor: int


class CustomerHistory(msgspec.Struct, frozen=True, kw_only=True):
    """What a merchant's funnel facts say of one person, up to the computation."""

    person_id: str
    # The last paid fact, ever; null for a person who never paid this merchant.
    last_paid_at: datetime | None
    # Distinct paid orders ever, and within 365 days.
    orders_ever: int
    orders_in_year: int
    # Paid minus refunded within 365 days, in the merchant's currency.
    net_in_year_minor: int
    # The last view, watch, impression, click, play, anchor click, cart or order.
    last_engaged_at: datetime | None


class Customer(msgspec.Struct, kw_only=True):
    """A merchant's customer: segment, recency (whole days since the last paid order), frequency, monetary."""

    person_id: str
    segment: str
    recency_days: int | None
    last_paid_at: datetime | None
    frequency: int
    monetary_minor: int
    currency: str | None


class CustomerPage(msgspec.Struct, kw_only=True):
    """`GET /merchants/{id}/customers`: most monetary first; `computed_at` null before the first computation."""

    merchant_id: str
    computed_at: datetime | None
    items: list[Customer]
    next_cursor: str | None = None


class SegmentsComputed(msgspec.Struct, kw_only=True):
    """What one recompute of a merchant's segments found: customers per segment."""

    merchant_id: str
    computed_at: datetime
    customers: int
    segments: dict[str, int]


def within(moment: datetime | None, now: datetime, span: timedelta) -> bool:
    """`moment` lies in the `span` up to `now`, its first instant included (facts after `now` are never read)."""
    return moment is not None and moment >= now - span


def segment_of(history: CustomerHistory, now: datetime, rules: SegmentRules) -> str | None:
    """The one segment of a customer, by the first rule that holds; null for someone neither paying nor engaged."""
    if history.last_paid_at is None:
        return "prospect" if within(history.last_engaged_at, now, PROSPECT_WINDOW) else None
    if not within(history.last_paid_at, now, LAPSED):
        return "at_risk"
    if history.orders_in_year >= rules.loyal_orders and history.net_in_year_minor >= rules.loyal_net_minor:
        return "loyal"
    recent = within(history.last_paid_at, now, RECENT)
    if recent and history.orders_in_year >= 2:
        return "active"
    if recent and history.orders_ever == 1:
        return "new"
    return "paying"


def recency_days(last_paid_at: datetime | None, now: datetime) -> int | None:
    """Whole days since the last paid order (0 on its day); null for one who never paid."""
    if last_paid_at is None:
        return None
    return max((now - last_paid_at) // timedelta(days=1), 0)


def customers_of(
    histories: list[CustomerHistory], now: datetime, rules: SegmentRules, currency: str | None
) -> list[Customer]:
    """The customers with a segment, each with R, F and M."""
    customers = []
    for h in histories:
        segment = segment_of(h, now, rules)
        if segment is None:
            continue
        customers.append(
            Customer(
                person_id=h.person_id,
                segment=segment,
                recency_days=recency_days(h.last_paid_at, now),
                last_paid_at=h.last_paid_at,
                frequency=h.orders_in_year,
                monetary_minor=h.net_in_year_minor,
                currency=currency,
            )
        )
    return customers


def segment_counts(customers: list[Customer]) -> dict[str, int]:
    """Customers per segment, every segment named (0 when empty)."""
    counts = dict.fromkeys(SEGMENTS, 0)
    for c in customers:
        counts[c.segment] += 1
    return counts


def ensure_segment(segment: str | None) -> str | None:
    """A segment filter is one of SEGMENTS (422 naming `segment` otherwise)."""
    if segment is not None and segment not in SEGMENTS:
        raise UnknownSegment(segment)
    return segment


# --- the listing's cursor ---------------------------------------------------------------------------------------


class _CustomerCursor(msgspec.Struct, array_like=True):
    monetary_minor: int
    person_id: str


def encode_customer_cursor(customer: Customer) -> str:
    """Where the next page starts: after this customer, in (monetary desc, person id) order."""
    raw = msgspec.json.encode(_CustomerCursor(customer.monetary_minor, customer.person_id))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_customer_cursor(cursor: str) -> tuple[int, str]:
    try:
        decoded = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)), type=_CustomerCursor)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise InvalidCursor() from exc
    return decoded.monetary_minor, decoded.person_id


# --- the daily run ----------------------------------------------------------------------------------------------


def next_daily_run(now: datetime, at_s: int) -> datetime:
    """The first moment after `now` that is `at_s` seconds past a UTC midnight."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    run = midnight + timedelta(seconds=at_s % 86400)
    while run <= now:
        run += timedelta(days=1)
    return run
