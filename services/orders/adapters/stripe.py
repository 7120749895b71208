"""Adapter to Stripe: the gateway a process keeps, one small async function per call, webhook signatures and the
shape of Stripe's events. Nothing here touches the database."""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec
import stripe

from libs import faults
from libs.runtime import Runtime
from services.orders.settings import OrdersSettings

# At DEBUG the stripe library logs whole response bodies, client secrets included; a LOG_LEVEL=DEBUG deploy
# must not write those to the logs, so its logger stays at WARNING whatever the root level is.
logging.getLogger("stripe").setLevel(logging.WARNING)

# Checkout answers the buyer while it waits: fail fast rather than hang on a slow Stripe.
_TIMEOUT_S = 10
_RETRIES = 1

CardError = stripe.CardError
InvalidRequest = stripe.InvalidRequestError
StripeError = stripe.StripeError
SignatureError = stripe.SignatureVerificationError
PaymentIntent = stripe.PaymentIntent


class StripeGateway:
    """A Stripe client and the HTTP connections it owns (closed with the service)."""

    def __init__(self, settings: OrdersSettings) -> None:
        base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
        self._http = stripe.HTTPXClient(timeout=_TIMEOUT_S)
        self.client = stripe.StripeClient(
            settings.stripe_api_key,
            base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=_RETRIES,
            http_client=self._http,
        )

    async def close(self) -> None:
        await self._http.close_async()


def open_gateway(runtime: Runtime[OrdersSettings]) -> None:
    """Give the process its Stripe gateway (app start)."""
    runtime.extras["stripe"] = StripeGateway(runtime.settings)


async def close_gateway(runtime: Runtime[OrdersSettings]) -> None:
    """Close the gateway's connections (app stop)."""
    await gateway(runtime).close()


def gateway(runtime: Runtime) -> StripeGateway:
    """The process's Stripe gateway."""
    return runtime.extras["stripe"]


async def create_payment_intent(
    gateway: StripeGateway, *, amount_minor: int, currency: str, checkout_id: str, payment_id: str, attempt: int = 0
) -> stripe.PaymentIntent:
    """One PaymentIntent per checkout, for its total; Stripe dedupes retries by the checkout-derived key.

    `attempt` counts the checkout's intents given up (a wrong amount, an intent that takes no more confirmations,
    one Stripe no longer knows): the next one needs a key of its own, and says which attempt it is in its metadata
    so a late webhook of an older one is known for what it is.
    """
    key = f"pi-create-{checkout_id}" + (f"-{attempt}" if attempt else "")
    intent = await gateway.client.v1.payment_intents.create_async(
        params={
            "amount": amount_minor,
            "currency": currency.lower(),
            "metadata": {"checkout_id": checkout_id, "payment_id": payment_id, ATTEMPT: str(attempt)},
        },
        options={"idempotency_key": key},
    )
    if faults.ARMED:
        faults.hit("stripe.intent_created")
    return intent


# The metadata key of an intent's attempt number (absent on intents made before it existed: attempt 0).
ATTEMPT = "attempt"


def metadata_of(metadata: Any) -> dict[str, Any]:
    """An object's metadata as a dict: a webhook's is one already, the stripe library's is a StripeObject (which has
    no `.get`)."""
    if metadata is None:
        return {}
    return metadata if isinstance(metadata, dict) else metadata.to_dict()


def attempt_of(metadata: Any) -> int:
    """The attempt an intent was created for, from its metadata (a dict or the stripe library's object)."""
    value = metadata_of(metadata).get(ATTEMPT)
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else 0


def is_unknown(exc: stripe.StripeError) -> bool:
    """Stripe answered that the object does not exist (404 `resource_missing`; localstripe: a bare 404)."""
    return isinstance(exc, stripe.InvalidRequestError) and (exc.http_status == 404 or exc.code == "resource_missing")


async def retrieve_payment_intent(gateway: StripeGateway, intent_id: str) -> stripe.PaymentIntent:
    return await gateway.client.v1.payment_intents.retrieve_async(intent_id)


async def recent_payment_intents(
    gateway: StripeGateway, *, created_from: int, created_to: int, max_pages: int
) -> tuple[list[stripe.PaymentIntent], bool]:
    """The intents Stripe created between two Unix times (inclusive), and whether all were seen within `max_pages`
    pages of 100.

    Stripe filters by `created` and lists newest first; localstripe knows no filter (400 `Unexpected created`) and
    lists oldest first, so there the whole list is read and filtered here.
    """
    params: dict[str, Any] = {"limit": 100, "created": {"gte": created_from, "lte": created_to}}
    found: list[stripe.PaymentIntent] = []
    for _ in range(max_pages):
        try:
            page = await gateway.client.v1.payment_intents.list_async(params=params)  # type: ignore[arg-type]
        except stripe.InvalidRequestError as exc:
            if "created" not in params or exc.http_status != 400 or "created" not in str(exc.user_message or exc):
                raise
            params = {"limit": 100}
            continue
        found.extend(i for i in page.data if created_from <= i.created <= created_to)
        if not page.has_more or not page.data:
            return found, True
        params = {**params, "starting_after": page.data[-1].id}
    return found, False


async def set_payment_method(gateway: StripeGateway, intent_id: str, payment_method: str) -> stripe.PaymentIntent:
    """Attach the buyer's payment method (then `confirm_payment_intent`).

    Two calls rather than `confirm(payment_method=...)`: localstripe implements only this form,
    and Stripe accepts both.
    """
    return await gateway.client.v1.payment_intents.update_async(intent_id, params={"payment_method": payment_method})


async def confirm_payment_intent(gateway: StripeGateway, intent_id: str) -> stripe.PaymentIntent:
    intent = await gateway.client.v1.payment_intents.confirm_async(intent_id)
    if faults.ARMED:
        faults.hit("stripe.confirmed")
    return intent


async def cancel_payment_intent(gateway: StripeGateway, intent_id: str) -> stripe.PaymentIntent:
    return await gateway.client.v1.payment_intents.cancel_async(intent_id)


async def refund_payment_intent(gateway: StripeGateway, intent_id: str, payment_id: str) -> stripe.Refund:
    """Refund everything the PaymentIntent took; at most once per intent at Stripe."""
    refund = await gateway.client.v1.refunds.create_async(
        params={"payment_intent": intent_id, "metadata": {"payment_id": payment_id}},
        options={"idempotency_key": f"refund-{intent_id}"},
    )
    if faults.ARMED:
        faults.hit("stripe.refunded")
    return refund


# Stripe's error code when the charge has no money left to refund (e.g. refunded from the dashboard).
ALREADY_REFUNDED = "charge_already_refunded"

# The refund metadata key naming the grant a refund pays (how a refund whose answer was lost is found again).
GRANT_ID = "grant_id"


async def create_refund(
    gateway: StripeGateway, *, intent_id: str, amount_minor: int, grant_id: str, metadata: dict[str, str]
) -> stripe.Refund:
    """One Stripe Refund of `amount_minor` for one grant, keyed `refund-grant-<grant_id>` on every try.

    Not retried inside the call: localstripe ignores idempotency keys, so a retry after a lost answer would refund
    twice; the caller reads the intent's refunds back (`refunds_of_intent`) before it tries again.
    """
    refund = await gateway.client.v1.refunds.create_async(
        params={"payment_intent": intent_id, "amount": amount_minor, "metadata": {**metadata, GRANT_ID: grant_id}},
        options={"idempotency_key": f"refund-grant-{grant_id}", "max_network_retries": 0},
    )
    if faults.ARMED:
        faults.hit("stripe.refunded")
    return refund


async def refunds_of_intent(gateway: StripeGateway, intent_id: str) -> list[stripe.Refund]:
    """Every refund Stripe holds for the PaymentIntent, all pages."""
    found: list[stripe.Refund] = []
    params: dict[str, Any] = {"payment_intent": intent_id, "limit": 100}
    while True:
        page = await gateway.client.v1.refunds.list_async(params=params)  # type: ignore[arg-type]
        found.extend(page.data)
        if not page.has_more or not page.data:
            return found
        params = {**params, "starting_after": page.data[-1].id}


def full_refund_of(refunds: list[stripe.Refund], payment_id: str) -> stripe.Refund | None:
    """The whole-intent refund `refund_payment_intent` made for this payment (not a grant's), unless it failed."""
    for refund in refunds:
        metadata = refund.to_dict().get("metadata") or {}
        if metadata.get("payment_id") == payment_id and GRANT_ID not in metadata and refund.status != "failed":
            return refund
    return None


def refund_of_grant(refunds: list[stripe.Refund], grant_id: str) -> stripe.Refund | None:
    """The refund made for this grant, by its metadata."""
    for refund in refunds:
        if (refund.to_dict().get("metadata") or {}).get(GRANT_ID) == grant_id:
            return refund
    return None


def refund_status(refund: stripe.Refund) -> tuple[str, str | None]:
    """A refund's status and, when it failed, why."""
    found = refund.to_dict()
    return str(found.get("status") or ""), found.get("failure_reason")


def is_refusal(exc: stripe.StripeError) -> bool:
    """Stripe said no (a 4xx other than 429), as opposed to a network failure, a 5xx or a rate limit (try later)."""
    status = exc.http_status
    return status is not None and 400 <= status < 500 and status != 429


def verify_signature(payload: bytes, header: str | None, secret: str, tolerance_s: int) -> None:
    """Raise SignatureError unless Stripe signed `payload` within `tolerance_s` seconds of now, either way."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Stripe signs UTF-8 JSON; verify_header would raise UnicodeDecodeError (a 500) on anything else.
        raise SignatureError("the payload is not UTF-8", header) from exc
    tolerance = max(tolerance_s, 1)
    # verify_header checks freshness only when given a tolerance (and 0 would mean 'never stale'), and only
    # against the past: a signature dated ahead would stay replayable until long after it was made.
    stripe.WebhookSignature.verify_header(text, header, secret, tolerance=tolerance)
    # The wall clock, as verify_header's, not the runtime's: Stripe dates signatures by its own wall clock, and a
    # test moving the runtime's clock forward must not make every later delivery look stale or early.
    if _signed_at(header or "") > time.time() + tolerance:
        raise SignatureError("Timestamp outside the tolerance zone (in the future)", header)


def _signed_at(header: str) -> int:
    """The `t=` of a Stripe-Signature header verify_header has accepted, read as verify_header reads it (the first)."""
    for item in header.split(","):
        name, _, value = item.partition("=")
        if name == "t":
            try:
                return int(value.split("=")[0])
            except ValueError:
                break
    raise SignatureError("no timestamp in the Stripe-Signature header", header)


# --- webhooks -------------------------------------------------------------------------------------

SUCCEEDED = "payment_intent.succeeded"
FAILED = "payment_intent.payment_failed"
# A refund's status moved (succeeded, failed, canceled): settles the grant named in its metadata.
REFUND_EVENTS = ("refund.updated", "refund.failed", "charge.refund.updated")


class StripeObject(msgspec.Struct, kw_only=True):
    id: str = ""
    object: str = ""
    amount: int | None = None
    currency: str | None = None
    metadata: dict[str, Any] = {}
    last_payment_error: dict[str, Any] | None = None
    # Refunds: `pending`, `requires_action`, `succeeded`, `failed` or `canceled`, and why it failed. Any: other
    # objects' events are decoded before their type is looked at, and must not fail on a field we do not use.
    status: Any = None
    failure_reason: Any = None

    def text(self, name: str) -> str | None:
        """A field that is text (`status`, `failure_reason`), or None."""
        value = getattr(self, name)
        return value if isinstance(value, str) else None

    def metadata_str(self, key: str) -> str | None:
        """A metadata value we set (a string), or None."""
        value = self.metadata.get(key)
        return value if isinstance(value, str) else None


class StripeEventData(msgspec.Struct, kw_only=True):
    object: StripeObject


class StripeEvent(msgspec.Struct, kw_only=True):
    id: str
    type: str
    data: StripeEventData
