"""SQL of the rooms area (rooms, sessions, bag, visits, room sales, the feed's seq, the catalogue replica), one
module per part."""

from services.live.rooms.store import bag, catalogue, feed, room_sales, rooms, visits

__all__ = ["bag", "catalogue", "feed", "room_sales", "rooms", "visits"]
