"""Postgres access: one asyncpg pool per service, one schema per service, ordered migrations, idempotent writes."""

from libs.db.database import Database, connect, is_transient
from libs.db.idempotency import write_once
from libs.db.migrate import migrate

__all__ = ["Database", "connect", "is_transient", "migrate", "write_once"]
