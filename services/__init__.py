"""Liveloop services: each a Litestar app owning one Postgres schema."""
