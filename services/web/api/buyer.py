"""Buyer pages (buyer): live now and followed hosts, host pages, product search and product pages, the cart, deals
nearby, my vouchers with their QR codes."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Request, Response, get, post
from litestar.response import Template

from services.web.api import apis_of, form_of, language, local_path, page, redirect, settings_of, user_in_role
from services.web.domain.buyer import VOUCHER_GROUPS, distance_text, parse_point
from services.web.use_cases import buyer
from services.web.views.buyer import ProductPage

LIST_CURSORS = ("live", "scheduled", "following")


def _default_point(request: Request) -> tuple[float, float]:
    return parse_point(settings_of(request).default_location)


def _query(request: Request) -> dict[str, str]:
    return {key: value for key, value in request.query_params.items() if isinstance(value, str)}


@get("/live")
async def live(request: Request) -> Template:
    """Rooms live now by viewers, scheduled rooms, and rooms of the hosts I follow; each list pages on its own."""
    user = user_in_role(request, "buyer")
    cursors = {name: request.query_params[name] for name in LIST_CURSORS if request.query_params.get(name)}
    return page(request, "buyer/live.html", live=await buyer.live_page(apis_of(request), user, cursors))


@get("/hosts/{host_id:str}")
async def host(request: Request, host_id: str) -> Template:
    """A host's page: fans, follow or unfollow, their rooms and short videos (a host with no room: 404)."""
    user = user_in_role(request, "buyer")
    found = await buyer.host_page(apis_of(request), user, host_id, request.query_params.get("videos") or None)
    return page(request, "buyer/host.html", host=found)


async def _follow(request: Request, host_id: str, *, on: bool) -> Response[None] | Template:
    user = user_in_role(request, "buyer")
    refused = await buyer.follow(apis_of(request), user, host_id, on=on)
    if refused is None:
        return redirect(f"/hosts/{host_id}")
    return page(request, "buyer/host.html", status=refused.status, host=refused)


@post("/hosts/{host_id:str}/follow")
async def follow(request: Request, host_id: str) -> Response[None] | Template:
    """Follow the host (again: the same)."""
    return await _follow(request, host_id, on=True)


@post("/hosts/{host_id:str}/unfollow")
async def unfollow(request: Request, host_id: str) -> Response[None] | Template:
    """Stop following the host."""
    return await _follow(request, host_id, on=False)


@get("/search")
async def search(request: Request) -> Template:
    """Products by title, price range and stock (newest first when nothing is asked); errors by their field."""
    user = user_in_role(request, "buyer")
    found = await buyer.search(apis_of(request), user, _query(request))
    return page(request, "buyer/search.html", status=found.status, search=found)


@get("/products/{product_id:str}")
async def product(request: Request, product_id: str) -> Template:
    """A published product: its SKUs with price and stock, add to cart, buy now (an unknown one: 404)."""
    user = user_in_role(request, "buyer")
    return page(request, "buyer/product.html", product=await buyer.product_page(apis_of(request), user, product_id))


@post("/cart/items")
async def add_to_cart(request: Request) -> Response[None] | Template:
    """Set a SKU's quantity in the cart (`sku_id`, `quantity`, optional `room_id`, `next`), then go to `next` or the
    cart; a refusal is shown on the page the form came from, by its field."""
    user = user_in_role(request, "buyer")
    values = await form_of(request)
    refused = await buyer.add_to_cart(apis_of(request), user, values, datetime.now(UTC))
    if refused is None:
        return redirect(local_path(values.get("next"), "/cart"))
    if isinstance(refused, ProductPage):
        return page(request, "buyer/product.html", status=refused.status, product=refused)
    return page(request, "buyer/cart.html", status=refused.status, cart=refused)


@post("/cart/items/{sku_id:str}/remove")
async def remove_from_cart(request: Request, sku_id: str) -> Response[None]:
    """Take a line out of the cart."""
    user = user_in_role(request, "buyer")
    await buyer.remove_from_cart(apis_of(request), user, sku_id)
    return redirect("/cart")


@get("/cart")
async def cart(request: Request) -> Template:
    """The cart by shop: lines, quantities, remove, the coupons each shop's order can take, check out."""
    user = user_in_role(request, "buyer")
    return page(request, "buyer/cart.html", cart=await buyer.cart_page(apis_of(request), user, datetime.now(UTC)))


@get("/deals")
async def deals(request: Request) -> Template:
    """Deals nearby, nearest first with the distance (where I am: the form, or the default point); `q` by title."""
    user = user_in_role(request, "buyer")
    found = await buyer.deals_page(apis_of(request), user, _query(request), _default_point(request))
    return page(request, "buyer/deals.html", status=found.status, deals=found, distance_text=distance_text)


@get("/deals/{deal_id:str}")
async def deal(request: Request, deal_id: str) -> Template:
    """A deal: terms, price and value, what is left, its stores with distance and opening hours, the buy form."""
    user = user_in_role(request, "buyer")
    apis, query, point = apis_of(request), _query(request), _default_point(request)
    found = await buyer.deal_page(apis, user, deal_id, query, point, language(request))
    return page(request, "buyer/deal.html", deal=found, distance_text=distance_text)


@get("/vouchers")
async def vouchers(request: Request) -> Template:
    """My vouchers: ready to use, used, refunded (or under way), expired; each with its deal and validity."""
    user = user_in_role(request, "buyer")
    found = await buyer.vouchers_page(apis_of(request), user, datetime.now(UTC))
    return page(request, "buyer/vouchers.html", vouchers=found, groups=VOUCHER_GROUPS)


@get("/vouchers/{voucher_id:str}")
async def voucher(request: Request, voucher_id: str) -> Template:
    """One of my vouchers: its code in large type and QR code, state, and the refund (another's: 404)."""
    user = user_in_role(request, "buyer")
    refund_id = request.query_params.get("refund") or None
    found = await buyer.voucher_page(apis_of(request), user, voucher_id, refund_id, datetime.now(UTC))
    return page(request, "buyer/voucher.html", voucher=found)


@get("/vouchers/{voucher_id:str}/refunds/{refund_id:str}")
async def refund_status(request: Request, voucher_id: str, refund_id: str) -> Template:
    """The refund's state as a fragment (the voucher page polls it while pending: local_life has no feed of it)."""
    user = user_in_role(request, "buyer")
    refund = await buyer.refund_state(apis_of(request), user, voucher_id, refund_id)
    return page(request, "buyer/_refund.html", refund=refund, oob=True)


@post("/vouchers/{voucher_id:str}/refund")
async def refund(request: Request, voucher_id: str) -> Response[None] | Template:
    """Refund the voucher (and the other vouchers of its card chosen with it): its state shown on its page."""
    user = user_in_role(request, "buyer")
    form = await request.form()
    chosen = [v for v in form.getall("voucher_id") if isinstance(v, str)] if "voucher_id" in form else []
    key = form.get("idempotency_key")
    refund_id, refused = await buyer.refund_vouchers(
        apis_of(request), user, voucher_id, chosen, key if isinstance(key, str) else "", datetime.now(UTC)
    )
    if refused is None:
        return redirect(f"/vouchers/{voucher_id}?refund={refund_id}")
    return page(request, "buyer/voucher.html", status=refused.status, voucher=refused)


ROUTES = [
    live,
    host,
    follow,
    unfollow,
    search,
    product,
    add_to_cart,
    remove_from_cart,
    cart,
    deals,
    deal,
    vouchers,
    voucher,
    refund_status,
    refund,
]
