"""NATS JetStream: streams, transactional outbox + relay, idempotent inbox consumers (one event or a micro-batch per
transaction), request/reply.

Trace context and baggage ride in message headers on every hop.
"""

from libs.bus.consumer import AfterCommit, Batch, ConsumerRunner, Delivery, Subscription
from libs.bus.nats import Bus, RequestFailed, Responder
from libs.bus.outbox import OUTBOX_NOTIFY, Relay, add_events, outbox_insert, outbox_params

__all__ = [
    "OUTBOX_NOTIFY",
    "AfterCommit",
    "Batch",
    "Bus",
    "ConsumerRunner",
    "Delivery",
    "Relay",
    "RequestFailed",
    "Responder",
    "Subscription",
    "add_events",
    "outbox_insert",
    "outbox_params",
]
