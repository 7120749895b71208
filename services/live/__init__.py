"""Live rooms: rooms, their shopping bag, views and per-room sales, and a replica of shop's catalogue."""
