"""NATS JetStream: streams, transactional outbox + relay, idempotent inbox consumers, request/reply.

Trace context and baggage ride in message headers on every hop.
"""

from libs.bus.consumer import ConsumerRunner, Subscription
from libs.bus.nats import Bus, RequestFailed, Responder
from libs.bus.outbox import Relay, add_events

__all__ = ["Bus", "ConsumerRunner", "Relay", "RequestFailed", "Responder", "Subscription", "add_events"]
