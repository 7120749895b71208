"""What every contract shares: the event base, the streams, subjects' owners."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar

import msgspec

# One JetStream stream per owning service; a service publishes only under its prefix.
STREAMS: dict[str, str] = {
    "LIVE": "live.>",
    "SHOP": "shop.>",
    "ORDERS": "orders.>",
    "AFTERSALES": "aftersales.>",
    "LOCAL": "local.>",
}


def new_event_id() -> str:
    """A fresh event id (also the JetStream `Nats-Msg-Id`)."""
    return str(uuid.uuid4())


def _now() -> datetime:
    return datetime.now(UTC)


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every integration event."""

    SUBJECT: ClassVar[str] = ""
    event_id: str = msgspec.field(default_factory=new_event_id)
    occurred_at: datetime = msgspec.field(default_factory=_now)


def stream_for(subject: str) -> str:
    """Name of the stream that owns `subject` (without namespace)."""
    prefix = subject.split(".", 1)[0]
    for name, pattern in STREAMS.items():
        if pattern.split(".", 1)[0] == prefix:
            return name
    raise KeyError(f"no stream owns subject {subject!r}")


def all_event_types() -> dict[str, type[Event]]:
    found: dict[str, type[Event]] = {}
    pending = list(Event.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.SUBJECT:
            if cls.SUBJECT in found:
                raise RuntimeError(f"two events share subject {cls.SUBJECT}")
            found[cls.SUBJECT] = cls
    return found


__all__ = ["STREAMS", "Event", "all_event_types", "new_event_id", "stream_for"]
