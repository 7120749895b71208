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
