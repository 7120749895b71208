"""What local_life reads from the environment: the voucher secret and the redemption windows and throttle."""

from __future__ import annotations

from libs.settings import Settings

# The dev stack's voucher secret (codes sealed, QR payloads signed); refused outside dev (`insecure`).
DEV_VOUCHER_SECRET = "liveloop-dev-voucher-secret-change-me"


class LocalLifeSettings(Settings, kw_only=True):
    """local_life's settings (`LIVELOOP_<FIELD>`)."""

    # Vouchers: codes are sealed and QR payloads signed with this (HMAC-SHA256); a setting, never in code outside dev.
    voucher_secret: str = DEV_VOUCHER_SECRET
    # Redemption: a prepare's verify token lives this long; a redemption can be undone by its store this long after.
    verify_token_ttl_s: int = 60
    undo_window_s: int = 3600
    # Failed voucher lookups per clerk (token bucket: `burst` at once, then `rate` per second): past it, 429.
    voucher_lookup_burst: int = 10
    voucher_lookup_rate_per_s: float = 1 / 6

    def insecure(self) -> list[str]:
        problems = super().insecure()
        if self.voucher_secret == DEV_VOUCHER_SECRET or len(self.voucher_secret.encode()) < 32:
            problems.append("LIVELOOP_VOUCHER_SECRET must be set to a secret of at least 32 bytes")
        return problems
