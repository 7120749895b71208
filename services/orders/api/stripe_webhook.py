"""Stripe's webhook: signed events, read as the raw body Stripe signed."""

from __future__ import annotations

from litestar import Request, post

from libs.errors import BadRequest
from libs.runtime import Runtime
from libs.web.openapi import documented
from services.orders.use_cases.stripe_events import receive_stripe_event
from services.orders.views import WebhookAck


@post("/stripe/webhook", status_code=200, tags=["payments"], opt=documented(BadRequest))
async def stripe_webhook(request: Request, runtime: Runtime) -> WebhookAck:
    """Signed Stripe events (no bearer token: the signature is the authentication)."""
    payload = await request.body()
    return await receive_stripe_event(runtime, payload, request.headers.get("stripe-signature"))
