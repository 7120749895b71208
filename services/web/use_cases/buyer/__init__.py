"""The buyer pages: rooms to watch and hosts to follow (live), products and the cart (shop, with live's coupons and
orders' use of them), deals nearby and vouchers (local_life).

Every call is a public API with the buyer's own token. Refusals a buyer can act on (a quantity too large, a full cart,
a voucher no longer refundable) come back in the page, worded as the API worded them, by the field they name; an
API's 404 is the page's 404 (the app's handler), anything else its error page.
"""

from __future__ import annotations

from services.web.use_cases.buyer.discovery import follow, host_page, live_page
from services.web.use_cases.buyer.local import (
    deal_page,
    deals_page,
    refund_state,
    refund_vouchers,
    voucher_page,
    vouchers_page,
)
from services.web.use_cases.buyer.shopping import add_to_cart, cart_page, product_page, remove_from_cart, search

__all__ = [
    "add_to_cart",
    "cart_page",
    "deal_page",
    "deals_page",
    "follow",
    "host_page",
    "live_page",
    "product_page",
    "refund_state",
    "refund_vouchers",
    "remove_from_cart",
    "search",
    "voucher_page",
    "vouchers_page",
]
