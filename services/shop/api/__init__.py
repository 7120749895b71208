"""The shop's HTTP API, one module per resource: decode, check who, call one use case, answer."""

from services.shop.api.cart import get_cart, put_item, remove_item
from services.shop.api.merchants import onboard, profile
from services.shop.api.products import product, search_products
from services.shop.api.seller_products import create_product, edit_product, get_product, list_products
from services.shop.api.shortfalls import shortfalls
from services.shop.api.skus import edit_sku, sku_changes

ROUTES = [
    onboard,
    profile,
    create_product,
    list_products,
    get_product,
    edit_product,
    edit_sku,
    sku_changes,
    shortfalls,
    search_products,
    product,
    get_cart,
    put_item,
    remove_item,
]

__all__ = ["ROUTES"]
