"""The orders API: one module per resource; ROUTES gathers them for the app."""

from services.orders.api.carrier import carrier_event
from services.orders.api.checkouts import checkout, get_checkout
from services.orders.api.orders import (
    cancel_order,
    confirm_receipt,
    get_order,
    get_seller_order,
    list_orders,
    list_orders_to_ship,
    list_seller_orders,
)
from services.orders.api.payments import confirm_payment
from services.orders.api.shipments import list_seller_shipments, list_shipments, mark_delivered, ship
from services.orders.api.stripe_webhook import stripe_webhook

ROUTES = [
    checkout,
    get_checkout,
    confirm_payment,
    stripe_webhook,
    list_orders,
    get_order,
    list_seller_orders,
    get_seller_order,
    list_orders_to_ship,
    confirm_receipt,
    cancel_order,
    ship,
    list_seller_shipments,
    list_shipments,
    mark_delivered,
    carrier_event,
]
