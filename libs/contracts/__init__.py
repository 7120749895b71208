"""The one vocabulary every service shares: integration events and requests, one module per producing service.

Depends on msgspec only. Contracts only grow: new fields get defaults; a breaking change is a new `.v2` subject.
Everything is importable from here (`from libs.contracts import OrderPaid`); `EVENT_TYPES` maps each subject to
its event class.
"""

from libs.contracts import aftersales, live, local, orders, shop
from libs.contracts.aftersales import *  # noqa: F403
from libs.contracts.base import STREAMS, Event, all_event_types, new_event_id, stream_for
from libs.contracts.live import *  # noqa: F403
from libs.contracts.local import *  # noqa: F403
from libs.contracts.orders import *  # noqa: F403
from libs.contracts.shop import *  # noqa: F403

EVENT_TYPES: dict[str, type[Event]] = all_event_types()

__all__ = [
    "EVENT_TYPES",
    "STREAMS",
    "Event",
    "new_event_id",
    "stream_for",
    *aftersales.__all__,
    *live.__all__,
    *local.__all__,
    *orders.__all__,
    *shop.__all__,
]
