"""Coupon drops of live rooms: dropped by the host or merchant, claimed by watching buyers, used at orders. Uses
rooms, never the reverse."""
