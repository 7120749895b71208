"""The host console (host): the host's rooms, and the screen beside the camera: go live and end, the bag, pin,
flash sales and coupon drops, viewers and the funnel, live over SSE.

Every form posts with HTMX and gets back the part it changed (a refusal: the part with live's words, and live's
status); the same forms work without JavaScript (a 303 back to the console, or the console with the refusal).
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Template

from services.web.api import apis_of, form_of, page, redirect, user_in_role
from services.web.api.room import is_htmx, live_context
from services.web.use_cases import host
from services.web.views import Refusal, SignedIn
from services.web.views.live import Form

CONSOLE = "/host/rooms/{}"


def _rooms(request: Request, rooms: Any, status: int = 200) -> Template:
    # A fresh Idempotency-Key per form shown: sending the form twice makes one room.
    return page(request, "host/rooms.html", status=status, page=rooms, key=str(uuid.uuid4()), **live_context())


async def _console(request: Request, user: SignedIn, room_id: str, status: int = 200, **forms: Any) -> Template:
    console = await host.console(apis_of(request), user, room_id, **forms)
    context = {"console": console, "screen": console.screen, "room_id": room_id}
    return page(request, "host/console.html", status=status, **context, **live_context())


async def _answer(
    request: Request, user: SignedIn, room_id: str, status: int, part: str, forms: dict[str, Any], **context: Any
) -> Response[Any] | Template:
    """HTMX: the part the form changed (with live's status); a plain post: back to the console, or it with the
    refusal."""
    if is_htmx(request):
        return page(request, part, status=status, room_id=room_id, **context, **live_context())
    if status < 400:
        return redirect(CONSOLE.format(room_id))
    return await _console(request, user, room_id, status, **forms)


def _status(refusal: Refusal | None) -> int:
    return refusal.status if refusal else 200


@get("/host")
async def rooms(request: Request) -> Template:
    """The host's rooms (live, scheduled, recently ended) and the form for a new one."""
    user = user_in_role(request, "host")
    return _rooms(request, await host.rooms(apis_of(request), user))


@post("/host/rooms")
async def create_room(request: Request) -> Response[None] | Template:
    """Create (and optionally schedule) a room, then its console; live's refusals by the field they name."""
    user = user_in_role(request, "host")
    apis = apis_of(request)
    room_id, form = await host.create_room(apis, user, await form_of(request))
    if room_id is None:
        return _rooms(request, await host.rooms(apis, user, form), form.status)
    return redirect(CONSOLE.format(room_id))


@get("/host/rooms/{room_id:str}")
async def console(request: Request, room_id: str) -> Template:
    """The console of one of the host's rooms (another host's: live's 403; no such room: 404)."""
    user = user_in_role(request, "host")
    return await _console(request, user, room_id)


async def _go_live(request: Request, room_id: str, action: str) -> Response[Any] | Template:
    user = user_in_role(request, "host")
    screen, refusal = await host.go_live(apis_of(request), user, room_id, action)
    forms = {"status_refusal": refusal}
    return await _answer(request, user, room_id, _status(refusal), "host/_status.html", forms, screen=screen, **forms)


@post("/host/rooms/{room_id:str}/start")
async def start(request: Request, room_id: str) -> Response[Any] | Template:
    """Go live: a new session of the room (live refuses a room already live, in its words)."""
    return await _go_live(request, room_id, "start")


@post("/host/rooms/{room_id:str}/end")
async def end(request: Request, room_id: str) -> Response[Any] | Template:
    """End the live: the session, its visits and its flash sales end (coupon drops stay open until they expire)."""
    return await _go_live(request, room_id, "end")


async def _bag_answer(request: Request, user: SignedIn, room_id: str, refusal: Refusal | None) -> Any:
    screen = await host.bag_part(apis_of(request), user, room_id)
    forms = {"bag_refusal": refusal}
    return await _answer(request, user, room_id, _status(refusal), "host/_bag.html", forms, screen=screen, **forms)


@post("/host/rooms/{room_id:str}/bag")
async def add_to_bag(request: Request, room_id: str) -> Response[Any] | Template:
    """Add a product (or a deal) of the merchant to the bag; it goes last."""
    user = user_in_role(request, "host")
    refusal = await host.add_to_bag(apis_of(request), user, room_id, await form_of(request))
    return await _bag_answer(request, user, room_id, refusal)


@post("/host/rooms/{room_id:str}/bag/remove")
async def remove_from_bag(request: Request, room_id: str) -> Response[Any] | Template:
    """Take an entry out of the bag (unpinned if it was pinned)."""
    user = user_in_role(request, "host")
    values = await form_of(request)
    refusal = await host.remove_from_bag(apis_of(request), user, room_id, values.get("kind", ""), values["item_id"])
    return await _bag_answer(request, user, room_id, refusal)


@post("/host/rooms/{room_id:str}/bag/move")
async def move_in_bag(request: Request, room_id: str) -> Response[Any] | Template:
    """Move an entry one place up (`step` -1) or down (+1)."""
    user = user_in_role(request, "host")
    values = await form_of(request)
    step = -1 if values.get("step") == "-1" else 1
    kind, item_id = values.get("kind", ""), values.get("item_id", "")
    refusal = await host.move_in_bag(apis_of(request), user, room_id, kind, item_id, step)
    return await _bag_answer(request, user, room_id, refusal)


@post("/host/rooms/{room_id:str}/pin")
async def pin(request: Request, room_id: str) -> Response[Any] | Template:
    """Pin a bag entry for every viewer (no entry: unpin)."""
    user = user_in_role(request, "host")
    values = await form_of(request)
    refusal = await host.pin(apis_of(request), user, room_id, values.get("kind", ""), values.get("item_id") or None)
    return await _bag_answer(request, user, room_id, refusal)


@get("/host/rooms/{room_id:str}/deals")
async def find_deals(request: Request, room_id: str, q: str = Parameter(query="q", default="")) -> Template:
    """The merchant's deals whose title matches `q`, each with a button to add it to the bag."""
    user = user_in_role(request, "host")
    deals = await host.find_deals(apis_of(request), user, q)
    return page(request, "host/_deals.html", room_id=room_id, deals=deals, q=q)


@post("/host/rooms/{room_id:str}/flash-sales")
async def start_sale(request: Request, room_id: str) -> Response[Any] | Template:
    """Start (or schedule) a flash sale of a bagged SKU; the sales list shows it live."""
    user = user_in_role(request, "host")
    screen, form = await host.start_sale(apis_of(request), user, room_id, await form_of(request))
    forms = {"sale_form": form}
    return await _answer(request, user, room_id, form.status, "host/_sale_form.html", forms, screen=screen, form=form)


@post("/host/rooms/{room_id:str}/flash-sales/{sale_id:str}/end")
async def end_sale(request: Request, room_id: str, sale_id: str) -> Response[Any] | Template:
    """End a sale now (a scheduled one is cancelled); unsold units go back to stock."""
    user = user_in_role(request, "host")
    sale = await host.end_sale(apis_of(request), user, room_id, sale_id)
    return await _answer(request, user, room_id, 200, "host/_sale.html", {}, sale=sale)


@post("/host/rooms/{room_id:str}/coupon-drops")
async def drop_coupons(request: Request, room_id: str) -> Response[Any] | Template:
    """Drop coupons in the live room; the drops list shows them, and their claims, live."""
    user = user_in_role(request, "host")
    form: Form = await host.drop_coupons(apis_of(request), user, room_id, await form_of(request))
    forms = {"drop_form": form}
    return await _answer(request, user, room_id, form.status, "host/_drop_form.html", forms, form=form)


@post("/host/rooms/{room_id:str}/coupon-drops/{drop_id:str}/end")
async def end_drop(request: Request, room_id: str, drop_id: str) -> Response[Any] | Template:
    """Close a drop early (coupons already claimed stay good)."""
    user = user_in_role(request, "host")
    drop = await host.end_drop(apis_of(request), user, room_id, drop_id)
    return await _answer(request, user, room_id, 200, "host/_drop.html", {}, drop=drop)


ROUTES = [
    rooms,
    create_room,
    console,
    start,
    end,
    add_to_bag,
    remove_from_bag,
    move_in_bag,
    pin,
    find_deals,
    start_sale,
    end_sale,
    drop_coupons,
    end_drop,
]
