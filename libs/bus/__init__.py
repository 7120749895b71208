"""NATS JetStream: streams, transactional outbox + relay, idempotent inbox consumers (one event or a micro-batch per
transaction), request/reply.

Trace context and baggage ride in message headers on every hop.
"""

from libs.bus.consumer import AfterCommit, Batch, ConsumerRunner, Delivery, Subscription
from libs.bus.nats import Bus, RequestFailed, Responder
from libs.bus.outbox import Relay, add_events

__all__ = [
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
]
