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
    # A viewer who leaves and joins again within this many seconds is the same view.
    funnel_rejoin_grace_s: int = 10
    # Client taps (`POST /funnel/events`): per-token token bucket of batches.
    funnel_tap_rate_per_s: float = 5.0
    funnel_tap_burst: int = 20
    # Most events one funnel consumer folds in one transaction.
    funnel_batch: int = 500
