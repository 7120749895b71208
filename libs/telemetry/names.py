"""Every custom telemetry name in one place (the OpenTelemetry demo's registry idea)."""

# Span attributes (and baggage keys, where noted).
ROOM_ID = "liveloop.room.id"  # also a baggage key: rides from the viewer's tap to the paid order
VIDEO_ID = "liveloop.video.id"  # baggage key too
BUYER_ID = "liveloop.buyer.id"
MERCHANT_ID = "liveloop.merchant.id"
PRODUCT_ID = "liveloop.product.id"
SKU_ID = "liveloop.sku.id"
ORDER_ID = "liveloop.order.id"
CHECKOUT_ID = "liveloop.checkout.id"
PAYMENT_ID = "liveloop.payment.id"
AMOUNT_MINOR = "liveloop.amount_minor"
CURRENCY = "liveloop.currency"
CONSUMER = "liveloop.consumer"
DUPLICATE = "liveloop.duplicate"
SKIPPED = "liveloop.skipped"  # a consumer left an event alone without a transaction (not for it)
JOB_KIND = "liveloop.job.kind"

# Baggage keys that ride across every hop (HTTP -> outbox -> NATS -> consumer).
BAGGAGE_KEYS = (ROOM_ID, VIDEO_ID)

# Metrics.
ORDERS_PLACED = "liveloop.order.placed"
ORDERS_PAID = "liveloop.order.paid"
GMV_PAID = "liveloop.order.paid.amount"
OUTBOX_PUBLISHED = "liveloop.outbox.published"
EVENTS_PROCESSED = "liveloop.consumer.processed"
EVENTS_DEAD_LETTERED = "liveloop.consumer.dead_lettered"
EVENTS_REDELIVERED = "liveloop.consumer.redelivered"  # a message handed to a consumer again (nak, ack timeout)
# One per new funnel fact, recorded in its producer's trace context (exemplars point at the trace); attributes
# FUNNEL_STEP_NAME and FUNNEL_SOURCE_TYPE only (`room` | `video` | `none`): never a room, video or person id.
FUNNEL_STEP = "liveloop.funnel.step"
FUNNEL_STEP_NAME = "liveloop.funnel.step.name"
FUNNEL_SOURCE_TYPE = "liveloop.funnel.source.type"
# One per flash-sale admission batch write, attribute FLASH_SALE_BATCH_RESULT: `written` (on its snapshot),
# `conflict` (the room's feed or the sale moved since: decided again) or `locked` (written under the locks after
# repeated conflicts). Many conflicts mean instances keep deciding on each other's stale snapshots.
FLASH_SALE_BATCHES = "liveloop.flash_sale.batches"
FLASH_SALE_BATCH_RESULT = "liveloop.flash_sale.batch.result"
# Gauges read when /metrics is scraped (`Telemetry.probe`), each from one cheap, bounded query.
OUTBOX_BACKLOG = "liveloop.outbox.backlog"  # unpublished outbox rows (counted up to BACKLOG_CAP)
OUTBOX_OLDEST_AGE = "liveloop.outbox.oldest_age"  # seconds since the oldest unpublished row was written
CONSUMER_PENDING = "liveloop.consumer.pending"  # messages of the stream the durable has not been handed yet
CONSUMER_ACK_PENDING = "liveloop.consumer.ack_pending"  # handed out, not acked yet
JOBS_DUE = "liveloop.job.due"  # due jobs not done (counted up to BACKLOG_CAP), by kind
JOBS_OLDEST_DUE_AGE = "liveloop.job.oldest_due_age"  # seconds the oldest due job of a kind has waited
# A backlog gauge counts at most this many rows: a scrape stays cheap however far behind things are.
BACKLOG_CAP = 100_000
