"""HTTP API of short videos (being written)."""

ROUTES: list = []
