"""What the checker reads besides the tables: which service schemas the database has, the durable consumers the
services' apps wire, and those consumers in JetStream."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import asyncpg
import nats
from nats.js.errors import NotFoundError

from libs.bus.consumer import Subscription
from libs.contracts import STREAMS

SERVICES = ("shop", "live", "orders", "aftersales", "local_life")


@dataclass(frozen=True)
class _Consumer:
    schema: str
    sub: Subscription


def _consumers() -> list[_Consumer]:
    """Every durable consumer of the five services, as their apps wire them (with each service's default settings:
    only the subscriptions' names, subjects and `wants` are used, none of their handlers)."""
    found = []
    for service in SERVICES:
        spec = importlib.import_module(f"services.{service}.app").SPEC
        for sub in spec.consumers(SimpleNamespace(settings=spec.settings())):
            found.append(_Consumer(spec.schema, sub))
    return found


def _stream(namespace: str, name: str) -> str:
    return f"{namespace}_{name}" if namespace else name


def _subject(namespace: str, subject: str) -> str:
    return f"{namespace}.{subject}" if namespace else subject


async def _connect_nats(url: str) -> nats.NATS:
    return await nats.connect(
        [server.strip() for server in url.split(",") if server.strip()],
        name="liveloop-invariants",
        connect_timeout=3,
        max_reconnect_attempts=3,
        reconnect_time_wait=0.5,
        allow_reconnect=True,
    )


async def _durables(js: Any, namespace: str) -> dict[str, tuple[str, Any]]:
    """Every durable consumer on the namespace's event streams: name -> (stream, its info)."""
    found: dict[str, tuple[str, Any]] = {}
    for name in STREAMS:
        stream = _stream(namespace, name)
        infos: list[Any] = []
        try:
            while page := await js.consumers_info(stream, offset=len(infos)):
                infos += page
                if len(page) < 256:
                    break
        except NotFoundError:
            continue
        for info in infos:
            durable = info.config.durable_name
            if durable:
                found[durable] = (stream, info)
    return found


async def _schemas(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[])", list(SERVICES))
    return {row["nspname"] for row in rows}
