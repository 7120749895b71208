"""The run's numbers: the services' settings, the world's size, how far time jumps and how long the run waits."""

from __future__ import annotations

from tests.integration.faults.flows import FAST_RECOVERY

# Short windows so a run sees payment windows lapse, cases time out, jobs run again and messages come back. The
# payment window is long next to a run's real duration, so what expires is decided by the seed's clock jumps more
# than by how fast the machine is.
PAYMENT_WINDOW_S = 120
MERCHANT_RESPONSE_S = 300
SETTINGS: dict[str, object] = {
    **FAST_RECOVERY,
    "payment_window_s": PAYMENT_WINDOW_S,
    "merchant_response_s": MERCHANT_RESPONSE_S,
    "consumer_ack_wait_s": 2.0,
}

# The world.
SKU_PRICES = (1500, 2599)
SKU_STOCK = 8
DEAL_PRICE = 4900
DEAL_TOTAL = 10
DEAL_PER_BUYER = 4
BUYERS = 3
ALL_DAY = {str(day): [["00:00", "24:00"]] for day in range(7)}

# A fault stays armed this many steps unless reached sooner (or replaced by the next one drawn): a point passed only
# by work that follows a request (a refund job's call to Stripe, a consumer) seldom comes within the same step.
FAULT_STEPS = 3
# What "time passes" moves the clock by: a moment, past the reconcile and lease times, past a payment window, past a
# case's deadline.
JUMPS_S = (3, 20, 70, PAYMENT_WINDOW_S + 10, MERCHANT_RESPONSE_S + 10)
# At the end: past every payment window, hold (10 min after it) and case deadline.
FINAL_JUMP_S = PAYMENT_WINDOW_S + 600 + MERCHANT_RESPONSE_S + 60
# A request that keeps answering 5xx this long is a failure (the app would have given up long before).
RETRY_S = 45.0
# How long a clock jump waits for events in flight to arrive first.
CATCH_UP_S = 15.0
SETTLE_S = 120.0
TRACE_SHOWN = 40
