"""The seller back office (merchant): stores and their clerks, deals, redemptions per store per day, settlement."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Request, Response, get, post
from litestar.response import Template

from services.web.api import apis_of, page, redirect, user_in_role
from services.web.use_cases import seller_local as use_case
from services.web.views.seller_local import DealPage

MERCHANT = "merchant"


async def posted(request: Request) -> dict[str, list[str]]:
    """The posted form, each field with all its values (checkboxes repeat a name)."""
    form = await request.form()
    return {key: [v for v in form.getall(key) if isinstance(v, str)] for key in form}


def _query(request: Request, name: str) -> str | None:
    return request.query_params.get(name) or None


# --- stores --------------------------------------------------------------------------------------------------------


@get("/seller/stores")
async def stores(request: Request) -> Template:
    """The merchant's stores and the form to add one."""
    user = user_in_role(request, MERCHANT)
    found = await use_case.stores_page(apis_of(request), user, cursor=_query(request, "cursor"))
    return page(request, "seller_local/stores.html", page=found)


@post("/seller/stores")
async def create_store(request: Request) -> Response[None] | Template:
    """Open a store; local_life's refusals are shown by the field they name (422), nothing is made."""
    user = user_in_role(request, MERCHANT)
    created, form = await use_case.create_store(apis_of(request), user, await posted(request))
    if created is None:
        found = await use_case.stores_page(apis_of(request), user, form)
        return page(request, "seller_local/stores.html", status=422, page=found)
    return redirect(f"/seller/stores/{created}")


@get("/seller/stores/{store_id:str}")
async def store(request: Request, store_id: str) -> Template:
    """A store: details, opening hours, open or closed, its clerks (another merchant's: 404)."""
    user = user_in_role(request, MERCHANT)
    return page(request, "seller_local/store.html", page=await use_case.store_page(apis_of(request), user, store_id))


@get("/seller/stores/{store_id:str}/edit")
async def edit_store(request: Request, store_id: str) -> Template:
    """The form changing a store's details and opening hours."""
    user = user_in_role(request, MERCHANT)
    found = await use_case.store_form_page(apis_of(request), user, store_id)
    return page(request, "seller_local/store_edit.html", page=found)


@post("/seller/stores/{store_id:str}/edit")
async def change_store(request: Request, store_id: str) -> Response[None] | Template:
    """Change the store; refused: the form again with local_life's words by the field (422)."""
    user = user_in_role(request, MERCHANT)
    refused = await use_case.change_store(apis_of(request), user, store_id, await posted(request))
    if refused is None:
        return redirect(f"/seller/stores/{store_id}")
    found = await use_case.store_form_page(apis_of(request), user, store_id, refused)
    return page(request, "seller_local/store_edit.html", status=422, page=found)


@post("/seller/stores/{store_id:str}/status")
async def store_status(request: Request, store_id: str) -> Response[None]:
    """Close the store (buyers are no longer offered it) or open it again."""
    user = user_in_role(request, MERCHANT)
    status = (await posted(request)).get("status", ["open"])[-1]
    await use_case.set_store_status(apis_of(request), user, store_id, status)
    return redirect(f"/seller/stores/{store_id}")


@post("/seller/stores/{store_id:str}/clerks")
async def add_clerk(request: Request, store_id: str) -> Response[None] | Template:
    """Add a clerk by their sign-in id and name (a removed clerk comes back); refused: shown by the field."""
    user = user_in_role(request, MERCHANT)
    refused = await use_case.add_clerk(apis_of(request), user, store_id, await posted(request))
    if refused is None:
        return redirect(f"/seller/stores/{store_id}#clerks")
    found = await use_case.store_page(apis_of(request), user, store_id, clerk_form=refused)
    return page(request, "seller_local/store.html", status=422, page=found)


@post("/seller/stores/{store_id:str}/clerks/{clerk_id:str}/remove")
async def remove_clerk(request: Request, store_id: str, clerk_id: str) -> Response[None]:
    """The clerk no longer works at the store."""
    user = user_in_role(request, MERCHANT)
    await use_case.remove_clerk(apis_of(request), user, store_id, clerk_id)
    return redirect(f"/seller/stores/{store_id}#clerks")


# --- deals ---------------------------------------------------------------------------------------------------------


@get("/seller/deals")
async def deals(request: Request) -> Template:
    """The merchant's deals, newest first: all, or drafts, published or ended ones."""
    user = user_in_role(request, MERCHANT)
    found = await use_case.deals_page(apis_of(request), user, _query(request, "status"), _query(request, "cursor"))
    return page(request, "seller_local/deals.html", page=found)


@get("/seller/deals/new")
async def new_deal(request: Request) -> Template:
    """The form drafting a deal."""
    user = user_in_role(request, MERCHANT)
    return page(request, "seller_local/deal_form.html", page=await use_case.new_deal_page(apis_of(request), user))


@post("/seller/deals/new")
async def create_deal(request: Request) -> Response[None] | Template:
    """Draft the deal (once per form: its Idempotency-Key); refused: the form again, errors by field (422)."""
    user = user_in_role(request, MERCHANT)
    values = await posted(request)
    key = values.get("idempotency_key", [""])[-1]
    created, found = await use_case.create_deal(apis_of(request), user, values, key)
    if created is None:
        return page(request, "seller_local/deal_form.html", status=422, page=found)
    return redirect(f"/seller/deals/{created}")


@get("/seller/deals/{deal_id:str}")
async def deal(request: Request, deal_id: str) -> Template:
    """A deal's terms, its stores, publish or end it, and its vouchers by state (another merchant's: 404)."""
    user = user_in_role(request, MERCHANT)
    return page(request, "seller_local/deal.html", page=await use_case.deal_page(apis_of(request), user, deal_id))


@get("/seller/deals/{deal_id:str}/edit")
async def edit_deal(request: Request, deal_id: str) -> Template:
    """A draft's terms in the deal form."""
    user = user_in_role(request, MERCHANT)
    found = await use_case.deal_form_page(apis_of(request), user, deal_id)
    return page(request, "seller_local/deal_form.html", page=found)


@post("/seller/deals/{deal_id:str}/edit")
async def change_deal(request: Request, deal_id: str) -> Response[None] | Template:
    """Change a draft; refused (a term, or 409 once published): the form again with the API's words."""
    user = user_in_role(request, MERCHANT)
    form, refusal = await use_case.change_deal(apis_of(request), user, deal_id, await posted(request))
    if not form.errors:
        return redirect(f"/seller/deals/{deal_id}")
    found = await use_case.deal_form_page(apis_of(request), user, deal_id, form)
    return page(request, "seller_local/deal_form.html", status=use_case.form_status(refusal), page=found)


def _moved(request: Request, deal_id: str, refused: DealPage | None) -> Response[None] | Template:
    if refused is None:
        return redirect(f"/seller/deals/{deal_id}")
    status = refused.refusal.status if refused.refusal else 422
    return page(request, "seller_local/deal.html", status=status, page=refused)


@post("/seller/deals/{deal_id:str}/publish")
async def publish_deal(request: Request, deal_id: str) -> Response[None] | Template:
    """Put the deal on sale (its terms are frozen from then); refused: the deal's page with local_life's words."""
    user = user_in_role(request, MERCHANT)
    return _moved(request, deal_id, await use_case.move_deal(apis_of(request), user, deal_id, "publish"))


@post("/seller/deals/{deal_id:str}/end")
async def end_deal(request: Request, deal_id: str) -> Response[None] | Template:
    """Take the deal off sale for good (vouchers sold stay good)."""
    user = user_in_role(request, MERCHANT)
    return _moved(request, deal_id, await use_case.move_deal(apis_of(request), user, deal_id, "end"))


# --- redemptions and settlement ------------------------------------------------------------------------------------


@get("/seller/redemptions")
async def redemptions(request: Request) -> Template:
    """Redemptions per store per day (`from`, `to`; the last 7 days by default), what is due, past settlements."""
    user = user_in_role(request, MERCHANT)
    asked = {name: request.query_params.get(name, "") for name in ("from", "to")}
    found = await use_case.redemptions_page(
        apis_of(request), user, asked, datetime.now(UTC), settled=_query(request, "settled")
    )
    return page(request, "seller_local/redemptions.html", status=422 if found.days.errors else 200, page=found)


@post("/seller/settlements")
async def settle(request: Request) -> Response[None] | Template:
    """Settle what is due now (once per form); nothing due: the page says so (409)."""
    user = user_in_role(request, MERCHANT)
    key = (await posted(request)).get("idempotency_key", [""])[-1]
    settled, refusal = await use_case.settle(apis_of(request), user, key)
    if settled is not None:
        return redirect(f"/seller/redemptions?settled={settled}#settlement")
    found = await use_case.redemptions_page(apis_of(request), user, {}, datetime.now(UTC))
    found.refusal = refusal
    return page(request, "seller_local/redemptions.html", status=refusal.status if refusal else 422, page=found)


ROUTES = [
    stores,
    create_store,
    store,
    edit_store,
    change_store,
    store_status,
    add_clerk,
    remove_clerk,
    deals,
    new_deal,
    create_deal,
    deal,
    edit_deal,
    change_deal,
    publish_deal,
    end_deal,
    redemptions,
    settle,
]
