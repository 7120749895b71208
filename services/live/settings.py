"""What live reads from the environment besides the platform's settings: flash-sale payment window, purchase limits."""

from __future__ import annotations

from libs.settings import Settings


class LiveSettings(Settings, kw_only=True):
    """Live's settings (`LIVELOOP_FLASH_SALE_PAYMENT_WINDOW_S`, `LIVELOOP_PURCHASE_RATE_PER_S`, `..._BURST`)."""

    # How long an admitted flash-sale buyer has to pay before the unit goes back to the sale (a sale may set its own).
    flash_sale_payment_window_s: int = 300
    # Per-caller limit on purchase and coupon-claim calls (token bucket: `burst` at once, `rate` per second after).
    purchase_rate_per_s: float = 2.0
    purchase_burst: int = 5

    # The funnel (docs/ARCHITECTURE.md, "Conversion funnel"). Attribution windows: an order line goes to the last
    # room touched within `room_window_s` or video touched within `video_window_s` (last touch wins).
    funnel_room_window_s: int = 1800
    funnel_video_window_s: int = 7 * 24 * 3600
    # Per-token limit on room joins (token bucket): one token's view bursts are throttled, not counted.
    join_rate_per_s: float = 1.0
    join_burst: int = 5
    # A viewer who leaves and joins again within this many seconds is the same view.
    funnel_rejoin_grace_s: int = 10
    # Client taps (`POST /funnel/events`): per-token token bucket of batches.
    funnel_tap_rate_per_s: float = 5.0
    funnel_tap_burst: int = 20
    # Most events one funnel consumer folds in one transaction.
    funnel_batch: int = 500

    # Tiers (docs/ARCHITECTURE.md, "Tiers"). Host tiers rank the last 30 days in one currency, `tier_currency`
    # (no exchange rates here: amounts in other currencies are not counted). A host is S, A or B when its net GMV
    # and its GPM both reach that tier's thresholds (minor units of `tier_currency`); C otherwise.
    tier_currency: str = "USD"
    host_tier_s_net_minor: int = 1_000_000
    host_tier_s_gpm_minor: int = 50_000
    host_tier_a_net_minor: int = 200_000
    host_tier_a_gpm_minor: int = 20_000
    host_tier_b_net_minor: int = 20_000
    host_tier_b_gpm_minor: int = 5_000
    # A loyal customer: this many paid orders and this much net paid (the merchant's currency) within 365 days.
    customer_loyal_orders: int = 5
    customer_loyal_net_minor: int = 50_000
    # The daily recompute of tiers and segments runs this many seconds after 00:00 UTC.
    tiers_daily_at_s: int = 2 * 3600
