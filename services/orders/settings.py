"""What orders reads from the environment besides the platform's settings: the payment window and Stripe."""

from __future__ import annotations

import msgspec

from libs.settings import DEV_CARRIER_SECRET, DEV_WEBHOOK_SECRET, Settings


class OrdersSettings(Settings, kw_only=True):
    """Orders' settings (`LIVELOOP_PAYMENT_WINDOW_S`, `LIVELOOP_CHECKOUT_*`, `LIVELOOP_MAX_*`, `STRIPE_API_KEY`,
    `STRIPE_API_BASE`, `STRIPE_WEBHOOK_SECRET`, `CARRIER_WEBHOOK_SECRET`, fulfilment windows)."""

    # How long a buyer has to pay a checkout before its orders are cancelled and the stock goes back.
    payment_window_s: int = 900
    # Per-caller throttle of POST /checkout (token bucket: `burst` at once, `rate` per second after); replays count.
    checkout_rate_per_s: float = 0.5
    checkout_burst: int = 10
    # What one buyer may hold unpaid at once (flash-sale orders aside): checkouts awaiting payment, and units of one
    # SKU across them. Past either, a new checkout is refused (409) until one is paid or its window closes.
    max_unpaid_checkouts: int = 10
    max_units_held_per_sku: int = 100
    stripe_api_key: str = msgspec.field(default="sk_test_liveloop", name="STRIPE_API_KEY")
    # Where the Stripe API is (the local emulator in dev and tests); Stripe's own when unset.
    stripe_api_base: str | None = msgspec.field(default=None, name="STRIPE_API_BASE")
    stripe_webhook_secret: str = msgspec.field(default=DEV_WEBHOOK_SECRET, name="STRIPE_WEBHOOK_SECRET")
    # A signed webhook older than this is refused (Stripe's own default).
    stripe_webhook_tolerance_s: int = 300
    # Fulfilment: a paid order ships within this (then it is late and the buyer may cancel what has not shipped);
    # a delivered order completes by itself this long after delivery unless the buyer confirms first (the clock
    # stops while an after-sales case is open).
    ship_within_s: int = 48 * 3600
    auto_complete_s: int = 7 * 24 * 3600
    # Carrier delivery callbacks (POST /carrier/events): HMAC-SHA256 with this shared secret, within this tolerance.
    carrier_webhook_secret: str = msgspec.field(default=DEV_CARRIER_SECRET, name="CARRIER_WEBHOOK_SECRET")
    carrier_webhook_tolerance_s: int = 300
    # A refund Stripe refuses (not a network failure: those retry for ever) is tried this many times, then failed
    # and handed to an operator.
    refund_max_attempts: int = 5
    # Recovery (docs/RELIABILITY.md): a confirmed payment whose outcome has not arrived this long after the confirm
    # (a webhook lost, or orders down when Stripe sent it) is looked up at Stripe, then again every interval while
    # Stripe is still deciding, and applied exactly as the webhook would.
    reconcile_after_s: float = 5.0
    reconcile_interval_s: float = 10.0
    # PaymentIntents Stripe made but orders never recorded (a crash between Stripe's answer and the commit): every
    # interval, intent requests older than the grace are looked for at Stripe (at most this many pages of 100) and
    # each intent found is attached to its still-waiting payment or cancelled.
    orphan_sweep_interval_s: float = 30.0
    orphan_grace_s: float = 30.0
    orphan_sweep_max_pages: int = 20

    def insecure(self) -> list[str]:
        problems = super().insecure()
        if self.stripe_webhook_secret == DEV_WEBHOOK_SECRET:
            problems.append("STRIPE_WEBHOOK_SECRET must be set to the endpoint's signing secret")
        if self.carrier_webhook_secret == DEV_CARRIER_SECRET:
            problems.append("CARRIER_WEBHOOK_SECRET must be set to the secret shared with the carriers")
        return problems
