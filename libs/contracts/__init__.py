"""The one vocabulary every service shares: integration events, requests, subjects, streams.

Depends on msgspec only. Contracts only grow: new fields get defaults; a breaking change
is a new `.v2` subject.
"""

from libs.contracts.events import *  # noqa: F403
from libs.contracts.events import EVENT_TYPES, STREAMS, Event, new_event_id, stream_for
from libs.contracts.rpc import *  # noqa: F403

__all__ = ["EVENT_TYPES", "STREAMS", "Event", "new_event_id", "stream_for"]
