"""The room page (buyers, and anyone): the room's cover, bag, pinned card, flash-sale button and coupons, live over
SSE; the relays of the room feed (and, for the host console, the funnel feed) as HTML fragments.

A relay stream renders each of live's events into the fragment(s) of the part it changed and sends each as an SSE
event named for the `sse-swap` that shows it (`sales`, `sale-<id>`, `buy-<id>`, ...). It holds one upstream
connection per feed it follows, closed when the browser goes away; when live's feed ends so does the stream (the
browser's EventSource reconnects to a fresh `state`).
"""

from __future__ import annotations

import html
import logging
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage, Template
from litestar.utils.scope.state import ScopeState

from services.web.adapters.apis import ApiRefused
from services.web.api import (
    apis_of,
    current_user,
    form_of,
    is_dev,
    language,
    page,
    redirect,
    user_in_role,
)
from services.web.domain.live import (
    BAG,
    DROP,
    DROP_ADDED,
    DROPS,
    FUNNEL,
    PINNED,
    SALE,
    SALE_ADDED,
    SALES,
    STATUS,
    VIEWERS,
    countdown,
    iso,
)
from services.web.use_cases import host as host_case
from services.web.use_cases import room as use_case
from services.web.views.live import Claim, Part, Purchase, RoomScreen, Update

log = logging.getLogger(__name__)

# Browsers wait this long (ms) before reconnecting a stream that ended.
RECONNECT_MS = 2000

# Each part of a page: the SSE events that redraw it, (event name, fragment); `{}` is the sale's or drop's id.
Fragments = dict[str, tuple[tuple[str, str], ...]]
ROOM_PARTS: Fragments = {
    STATUS: (("status", "room/_status.html"),),
    VIEWERS: (("viewers", "room/_viewers.html"),),
    PINNED: (("pinned", "room/_pinned.html"),),
    BAG: (("bag", "room/_bag.html"),),
    SALES: (("sales", "room/_sales.html"),),
    SALE: (("sale-{}", "room/_sale_live.html"), ("buy-{}", "room/_buy.html")),
    SALE_ADDED: (("sale-added", "room/_sale.html"),),
    DROPS: (("drops", "room/_drops.html"),),
    DROP: (("drop-{}", "room/_drop_live.html"), ("claim-{}", "room/_claim_button.html")),
    DROP_ADDED: (("drop-added", "room/_drop.html"),),
}
HOST_PARTS: Fragments = {
    STATUS: (("status", "host/_status.html"),),
    VIEWERS: (("viewers", "room/_viewers.html"),),
    BAG: (("bag", "host/_bag.html"), ("sku-options", "host/_sku_options.html")),
    SALES: (("sales", "host/_sales.html"),),
    SALE: (("sale-{}", "host/_sale_live.html"),),
    SALE_ADDED: (("sale-added", "host/_sale.html"),),
    DROPS: (("drops", "host/_drops.html"),),
    DROP: (("drop-{}", "host/_drop_live.html"),),
    DROP_ADDED: (("drop-added", "host/_drop.html"),),
    FUNNEL: (("funnel", "host/_funnel.html"),),
}


def live_context() -> dict[str, Any]:
    """What every live page and fragment uses besides the app's globals: the clock, countdowns, a fresh
    Idempotency-Key per form drawn."""
    return {"now": datetime.now(UTC), "countdown": countdown, "iso": iso, "new_key": lambda: str(uuid.uuid4())}


def is_htmx(request: Request) -> bool:
    """The request is HTMX's (it swaps the part it gets back in place), not a plain form post."""
    return request.headers.get("hx-request") == "true"


class Painter:
    """Draws the parts of one browser's page as fragments, in that reader's language, for as long as it streams."""

    def __init__(self, request: Request, parts: Fragments) -> None:
        catalogues = request.app.state.catalogues
        lang = language(request)
        token = ScopeState.from_scope(request.scope).csrf_token or ""
        self.parts = parts
        self.engine = request.app.template_engine
        self.context = {
            "_": catalogues[lang].gettext,
            "lang": lang,
            "user": current_user(request),
            "dev": is_dev(request),
            "path": request.url.path,
            "request": request,
            "csrf_input": f'<input type="hidden" name="_csrf_token" value="{html.escape(token)}" />',
        }

    def paint(self, update: Update) -> list[tuple[str, str]]:
        """(SSE event name, HTML) for each part the update changed."""
        screen = update.screen
        if screen is None:
            return []
        painted = []
        for part in update.parts:
            item = _item(screen, part)
            if part.item is not None and not item:  # a sale or drop the screen no longer has
                continue
            for event, template in self.parts.get(part.name, ()):
                context = {**self.context, **live_context(), "screen": screen, "room_id": screen.room_id, **item}
                html_text = self.engine.get_template(template).render(**context)
                painted.append((event.format(part.item), html_text))
        return painted


def _item(screen: RoomScreen, part: Part) -> dict[str, Any]:
    if part.item is None:
        return {}
    if part.name in (SALE, SALE_ADDED):
        sale = screen.sale(part.item)
        return {"sale": sale} if sale else {}
    drop = screen.drop(part.item)
    return {"drop": drop} if drop else {}


async def relay(
    painter: Painter, updates: AsyncGenerator[Update, None]
) -> AsyncGenerator[ServerSentEventMessage, None]:
    """The updates as SSE events of fragments; keep-alive comments pass through; an upstream that ends ends it."""
    try:
        # Closing this stream (the browser went away) closes the updates', and so live's feed, at once.
        async with aclosing(updates):
            async for update in updates:
                if not update.parts:
                    yield ServerSentEventMessage(comment="keep-alive")
                    continue
                for event, fragment in painter.paint(update):
                    yield ServerSentEventMessage(event=event, data=fragment, retry=RECONNECT_MS)
    except ApiRefused as refused:
        log.info("a room stream ended: %s", refused.detail)
    except Exception:
        # An event this relay cannot draw: end the stream; the browser reconnects to a fresh state.
        log.exception("a room stream failed")


async def _room(
    request: Request,
    room_id: str,
    status: int = 200,
    purchases: dict[str, Purchase] | None = None,
    claims: dict[str, Claim] | None = None,
) -> Template:
    shown = await use_case.room_page(apis_of(request), current_user(request), room_id)
    shown.purchases.update(purchases or {})
    shown.claims.update(claims or {})
    context = {"room": shown, "screen": shown.screen, "room_id": room_id}
    return page(request, "room/room.html", status=status, **context, **live_context())


@get("/rooms/{room_id:str}")
async def room(request: Request, room_id: str) -> Template:
    """The room: cover, title, host, status, viewers, pinned card, flash sales, coupons, bag (live's 404 is ours)."""
    return await _room(request, room_id)


@get("/rooms/{room_id:str}/stream")
async def room_stream(
    request: Request, room_id: str, seq: int | None = Parameter(query="seq", default=None)
) -> ServerSentEvent:
    """The room's parts as they change (text/event-stream of fragments); `seq`: the feed position the page shows."""
    apis = apis_of(request)
    user = current_user(request)
    await apis.call("live", "GET", use_case.room_path(room_id), user.token if user else "")  # 404 before streaming
    updates = use_case.follow_room(apis, user, room_id, seq)
    return ServerSentEvent(relay(Painter(request, ROOM_PARTS), updates))


@get("/host/rooms/{room_id:str}/stream")
async def console_stream(
    request: Request, room_id: str, seq: int | None = Parameter(query="seq", default=None)
) -> ServerSentEvent:
    """The host console's parts as the room and its funnel change (fragments); the room's staff only."""
    user = user_in_role(request, "host")
    apis = apis_of(request)
    await apis.call("live", "GET", use_case.room_path(room_id, "/stats"), user.token)  # 403 / 404 before streaming
    updates = host_case.follow_console(apis, user, room_id, seq)
    return ServerSentEvent(relay(Painter(request, HOST_PARTS), updates))


@post("/rooms/{room_id:str}/heartbeat", status_code=204)
async def heartbeat(request: Request, room_id: str) -> Response[None]:
    """A watching buyer's page says so every 15 s (a lapsed visit is joined again)."""
    user = user_in_role(request, "buyer")
    await use_case.heartbeat(apis_of(request), user, room_id)
    return Response(None, status_code=204)


@post("/rooms/{room_id:str}/leave")
async def leave(request: Request, room_id: str) -> Response[None]:
    """Leave the room (the visit closes): back to what is live."""
    user = user_in_role(request, "buyer")
    await use_case.leave(apis_of(request), user, room_id)
    return redirect("/live")


@post("/rooms/{room_id:str}/flash-sales/{sale_id:str}/purchase")
async def purchase(request: Request, room_id: str, sale_id: str) -> Template:
    """Buy in the flash sale: the outcome in place (admitted: pay by when; or live's refusal, with its status)."""
    user = user_in_role(request, "buyer")
    bought = await use_case.purchase(apis_of(request), user, room_id, sale_id, await form_of(request))
    status = bought.refusal.status if bought.refusal else 200
    if is_htmx(request):
        context = {"purchase": bought, "room_id": room_id, "swap_key": True}
        return page(request, "room/_purchase.html", status=status, **context, **live_context())
    return await _room(request, room_id, status, purchases={sale_id: bought})


@post("/rooms/{room_id:str}/coupon-drops/{drop_id:str}/claim")
async def claim(request: Request, room_id: str, drop_id: str) -> Template:
    """Claim a coupon of the drop: the coupon in place, or live's refusal with its status."""
    user = user_in_role(request, "buyer")
    claimed = await use_case.claim(apis_of(request), user, room_id, drop_id, await form_of(request))
    status = claimed.refusal.status if claimed.refusal else 200
    if is_htmx(request):
        context = {"claim": claimed, "room_id": room_id, "swap_key": True}
        return page(request, "room/_claim.html", status=status, **context, **live_context())
    return await _room(request, room_id, status, claims={drop_id: claimed})


ROUTES = [room, room_stream, console_stream, heartbeat, leave, purchase, claim]
