"""The clerk counter (clerk): enter a voucher code, redeem the usable vouchers it shows, undo within the window; the
store's redemptions of today, each undoable while local_life allows."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.response import Template

from services.web.api import apis_of, form_of, page, user_in_role
from services.web.use_cases import counter as use_case
from services.web.views import CounterPage


def _counter(request: Request, counter: CounterPage) -> Template:
    status = counter.refusal.status if counter.refusal else 200
    return page(request, "counter/counter.html", status=status, counter=counter)


@get("/counter")
async def counter(request: Request) -> Template:
    """The code form (403 unless a clerk, and an active clerk of the store their token names)."""
    user = user_in_role(request, "clerk")
    return _counter(request, await use_case.counter(apis_of(request), user))


@get("/counter/today")
async def today(request: Request) -> Template:
    """Today's redemptions at the clerk's store, the list alone (the counter polls it: other clerks redeem too)."""
    user = user_in_role(request, "clerk")
    return page(request, "counter/_today.html", today=await use_case.today(apis_of(request), user))


@post("/counter/prepare")
async def prepare(request: Request) -> Template:
    """The usable vouchers of the code (masked) with a checkbox each, or local_life's refusal in its words."""
    user = user_in_role(request, "clerk")
    values = await form_of(request)
    return _counter(request, await use_case.prepare(apis_of(request), user, values.get("code", "")))


@post("/counter/redeem")
async def redeem(request: Request) -> Template:
    """Redeem the ticked vouchers with the verify token prepare gave: each one's outcome, or the refusal."""
    user = user_in_role(request, "clerk")
    form = await request.form()
    voucher_ids = [v for v in form.getall("voucher_id") if isinstance(v, str)] if "voucher_id" in form else []
    token = form.get("verify_token")
    return _counter(
        request,
        await use_case.redeem(apis_of(request), user, token if isinstance(token, str) else "", voucher_ids),
    )


@post("/counter/redemptions/{redemption_id:str}/undo")
async def undo(request: Request, redemption_id: str) -> Template:
    """Take a redemption back within local_life's undo window, or its refusal (window closed, already undone)."""
    user = user_in_role(request, "clerk")
    return _counter(request, await use_case.undo(apis_of(request), user, redemption_id))


ROUTES = [counter, today, prepare, redeem, undo]
