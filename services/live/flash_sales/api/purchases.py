"""Purchases in a flash sale: the handler, and the purchase middleware that serves the hot path below the
framework's per-request machinery.

When a host says "go", every tap is a `POST .../purchase`, and once the sale sells out tens of thousands
more arrive, each answered from this process's memory (use_cases/admissions.py). Per request, what costs then is
mostly the framework around the engine: guards, the body model, dependency injection, the response
object. This route middleware (it runs after routing and the bearer-token middleware, before guards and
handler) serves a purchase itself when it can tell it is an ordinary one:

- the caller's token is a buyer's, the Idempotency-Key is 1 to 200 characters, the body is a complete
  JSON object whose quantity is within the sale's per-buyer limit;
- this process already knows the sale and it belongs to the room in the path.

Then it takes a token from the caller's throttle bucket (the same bucket the handler's guard uses; 429
with Retry-After when empty), asks the same engine call the handler makes, and writes the same JSON the
handler would (201 with the admission, or the problem+json of a refusal). Anything else (no or another
token, a missing or odd key, a body that is not a sane quantity, a sale this process has not loaded yet)
goes on to the handler unchanged, which answers it with the usual checks and errors.
"""

from __future__ import annotations

import msgspec
from litestar import Request, Response, post
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import trace

from libs.auth import Principal
from libs.errors import Conflict, DomainError, Unavailable
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from libs.web.guards import principal_of, requires
from libs.web.idempotency import idempotency_key
from libs.web.openapi import documented
from libs.web.problems import problem_response, send_problem
from libs.web.throttle import Limits, take, throttled, too_many
from services.live.flash_sales.use_cases.admissions import admissions_of
from services.live.flash_sales.views import Admitted

# Purchases and coupon claims: the per-caller limits live's settings give.
PURCHASES = Limits("purchase", lambda settings: (settings.purchase_rate_per_s, settings.purchase_burst))


class Purchase(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a buyer asks for in a purchase (range checked against the sale's limit: 422, not a decode error)."""

    quantity: int = 1


_decode_purchase = msgspec.json.Decoder(Purchase).decode
_encode = msgspec.json.Encoder().encode
_JSON = [(b"content-type", b"application/json")]


class PurchaseMiddleware:
    """Route middleware of `POST /rooms/{room_id}/flash-sales/{sale_id}/purchase` (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        runtime = scope["app"].state.runtime
        engine = admissions_of(runtime)
        params = scope["path_params"]
        sale = engine.known_sale(params["sale_id"], params["room_id"])
        if sale is None or not isinstance(user, Principal) or user.role != "buyer":
            await self.app(scope, receive, send)
            return
        key = _idempotency_key(scope)
        message = await receive()
        quantity = _quantity(message, sale.per_buyer_limit) if key is not None else None
        if key is None or quantity is None:
            await self.app(scope, _replaying(message, receive), send)
            return
        # Straight onto the span rather than through libs.telemetry.tag: no mapping to build per request here.
        trace.get_current_span().set_attribute(names.ROOM_ID, sale.room_id)
        wait = take(runtime, PURCHASES, user.sub)
        if wait > 0:
            await send_problem(scope, send, too_many(wait))
            return
        answer = await engine.purchase(sale.room_id, sale.sale_id, user.sub, key, quantity)
        if isinstance(answer, DomainError):
            await send_problem(scope, send, answer)
        else:
            await _send(send, 201, _JSON, _encode(answer))


def _idempotency_key(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"idempotency-key":
            key = value.decode("latin-1")
            return key if 1 <= len(key) <= 200 else None
    return None


def _quantity(message: Message, limit: int) -> int | None:
    """The asked quantity if the body is complete and sane (else None: the handler says what is wrong)."""
    if message.get("type") != "http.request" or message.get("more_body"):
        return None
    try:
        quantity = _decode_purchase(message.get("body", b""))
    except (msgspec.DecodeError, RecursionError):
        # Nested too deeply is the handler's to refuse too (400 invalid-json), like any body it decodes.
        return None
    return quantity.quantity if 1 <= quantity.quantity <= limit else None


def _replaying(first: Message, receive: Receive) -> Receive:
    """`receive` with the message this middleware already read handed out first."""
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], content: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content, "more_body": False})


@post(
    "/rooms/{room_id:str}/flash-sales/{sale_id:str}/purchase",
    guards=[requires("buyer"), throttled(PURCHASES)],
    middleware=[PurchaseMiddleware],
    tags=["flash sales"],
    status_code=201,
    opt=documented(Conflict, Unavailable, idempotency_key="required"),
)
async def purchase(
    room_id: str, sale_id: str, data: Purchase, request: Request, runtime: Runtime
) -> Response[Admitted]:
    """Ask for units of a running sale (Idempotency-Key required): 201 admitted, with the order to pay."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    buyer = principal_of(request)
    key = idempotency_key(request)
    answer = await admissions_of(runtime).purchase(room_id, sale_id, buyer.sub, key, data.quantity)
    if isinstance(answer, DomainError):
        # Refusals are most answers once a sale sells out: rendered here rather than raised through the stack.
        return problem_response(request, answer)
    return Response(answer, status_code=201)
