"""Rooms of the live service: rooms and their sessions, visits, the bag and pin, the room feed, room stats and
sales, and a replica of shop's catalogue. Flash sales and coupon drops reach rooms only as `RoomActivity`s."""
