"""What shop reads from the environment besides the platform's settings: the cart's size."""

from __future__ import annotations

from libs.settings import Settings


class ShopSettings(Settings, kw_only=True):
    """shop's settings (`LIVELOOP_MAX_CART_LINES`)."""

    # Lines (SKUs) one buyer's cart may hold; adding one more is refused (409) until one is removed or checked out.
    max_cart_lines: int = 100
