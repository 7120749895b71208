"""SQL of the rooms area (rooms, sessions, bag, visits, room sales and vouchers, the feed's seq, the catalogue and
deal replicas), one module per part."""

from services.live.rooms.store import (
    bag,
    catalogue,
    deals,
    discovery,
    feed,
    follows,
    room_sales,
    room_vouchers,
    rooms,
    visits,
)

__all__ = [
    "bag",
    "catalogue",
    "deals",
    "discovery",
    "feed",
    "follows",
    "room_sales",
    "room_vouchers",
    "rooms",
    "visits",
]
