"""Postgres access: one asyncpg pool per service, one schema per service, ordered migrations."""

from libs.db.database import Database, connect
from libs.db.migrate import migrate

__all__ = ["Database", "connect", "migrate"]
