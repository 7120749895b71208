"""Carriers' delivery callbacks: signed events, read as the raw body the carrier signed."""

from __future__ import annotations

from litestar import Request, post

from libs.errors import BadRequest
from libs.runtime import Runtime
from libs.web.openapi import documented
from services.orders.use_cases import fulfilment
from services.orders.views import CarrierAck


@post("/carrier/events", status_code=200, tags=["shipping"], opt=documented(BadRequest))
async def carrier_event(request: Request, runtime: Runtime) -> CarrierAck:
    """A carrier's delivery event (no bearer token: the signature is the authentication).

    Header `Liveloop-Carrier-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(CARRIER_WEBHOOK_SECRET, "<t>.<raw
    body>")>`, dated within `carrier_webhook_tolerance_s` (300 s) of the wall clock either way; otherwise 400
    `invalid-signature` and nothing changes. Body `{event_id, carrier, tracking_number, status: "delivered",
    occurred_at}`. Answers `{status: delivered | duplicate | ignored}`: each `event_id` is applied once (a replay is
    `duplicate`), a tracking number orders does not know (or another status) is `ignored`.
    """
    payload = await request.body()
    return await fulfilment.receive_carrier_event(runtime, payload, request.headers.get("liveloop-carrier-signature"))
