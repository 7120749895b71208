"""The merchant's orders and after-sales queue: orders' and aftersales' seller APIs with the merchant's token.

An order's page is orders' answer with its timeline and the ship form (each line left to ship, its quantity
defaulting to the ledger's `to_ship`); a case's page is aftersales' answer with the order's lines and the moves of
the merchant in its state. Refusals come back in the services' words (`use_cases.orders.shown`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.web.adapters.apis import ApiRefused, Apis
from services.web.domain.orders import (
    CASE_STATUSES,
    MERCHANT_MOVES,
    is_key,
    moves_for,
    read_receipt_form,
    read_ship_form,
    read_text_form,
    timeline,
    with_times,
)
from services.web.use_cases.orders import (
    case_lines,
    case_move,
    cases_of,
    q,
    replacement_names,
    shown,
)
from services.web.views import Refusal, SignedIn
from services.web.views.orders import CaseList, CasePage, OrderPage

QUEUE_SIZE = 100


def _ship_lines(order: dict[str, Any]) -> list[dict[str, Any]]:
    """The lines a parcel can carry: goods with units left to ship (a deal's vouchers never ship)."""
    return [
        line
        for line in order["lines"]
        if line.get("deal_id") is None and (line.get("ledger") or {}).get("to_ship", 0) > 0
    ]


async def order_page(apis: Apis, user: SignedIn, order_id: str, now: datetime) -> OrderPage:
    """One of the merchant's orders (another's: 404): lines with their ledger, timeline, shipments, cases, ship form."""
    order = with_times(await apis.call("orders", "GET", f"/seller/orders/{q(order_id)}", user.token))
    cases = await cases_of(apis, user, "/seller/cases", order["order_id"])
    ship_lines = _ship_lines(order)
    return OrderPage(
        order=order,
        timeline=timeline(order, cases, "/seller/cases/"),
        cases=cases,
        now=now,
        ship_lines=ship_lines,
        ship_values={f"line-{line['line_no']}-quantity": str(line["ledger"]["to_ship"]) for line in ship_lines},
        key=str(uuid.uuid4()),  # the shipment's Idempotency-Key: a double click sends one parcel
    )


async def ship(apis: Apis, user: SignedIn, order_id: str, values: dict[str, str], now: datetime) -> OrderPage | None:
    """Ship the units the form names with a carrier and tracking number: None when done, else the order's page with
    the form as typed and orders' refusal by the field it names."""
    page = await order_page(apis, user, order_id, now)
    form = read_ship_form(values, [line["line_no"] for line in page.ship_lines])
    key = values.get("idempotency_key", "")
    if not form.errors:
        try:
            path = f"/seller/orders/{q(order_id)}/shipments"
            await apis.call("orders", "POST", path, user.token, json=form.body, key=key if is_key(key) else None)
            return None
        except ApiRefused as refused:
            page.refusal = shown(refused)
            form.errors[form.error_for_api_field(refused.field)] = refused.detail
    else:
        page.refusal = Refusal(status=422, detail="Fill in the fields marked", code="")
    page.ship_values, page.ship_errors = values, form.errors
    if is_key(key):
        page.key = key
    return page


async def mark_delivered(
    apis: Apis, user: SignedIn, order_id: str, shipment_id: str, now: datetime
) -> OrderPage | None:
    """The parcel arrived: None when done, else the order's page with orders' refusal."""
    path = f"/seller/orders/{q(order_id)}/shipments/{q(shipment_id)}/delivered"
    try:
        await apis.call("orders", "POST", path, user.token)
    except ApiRefused as refused:
        refusal = shown(refused)
        page = await order_page(apis, user, order_id, now)
        page.refusal = refusal
        return page
    return None


async def case_queue(apis: Apis, user: SignedIn, status: str, now: datetime) -> CaseList:
    """The merchant's cases, soonest deadline first (those without one last), by status."""
    status = status if status in CASE_STATUSES else ""
    params: dict[str, str | int] = {"limit": QUEUE_SIZE} | ({"status": status} if status else {})
    answer = await apis.call("aftersales", "GET", "/seller/cases", user.token, params=params)
    return CaseList(items=with_times(answer["items"]), status=status, next_cursor=None, now=now, statuses=CASE_STATUSES)


async def case_page(apis: Apis, user: SignedIn, case_id: str, now: datetime) -> CasePage:
    """One of the merchant's cases (another's: 404) with the order's lines and the merchant's moves in its state."""
    case = with_times(await apis.call("aftersales", "GET", f"/seller/cases/{q(case_id)}", user.token))
    order = with_times(await apis.call("orders", "GET", f"/seller/orders/{q(case['order_id'])}", user.token))
    return CasePage(
        case=case,
        lines=case_lines(case, order, await replacement_names(apis, user, case, order)),
        currency=order["currency"],
        moves=moves_for(case["status"], MERCHANT_MOVES),
        now=now,
        order=order,
    )


# The merchant's moves: the path under the case (the page's and aftersales') -> the text fields its form sends.
MERCHANT_CASE_MOVES: dict[str, tuple[str, ...]] = {
    "approve": (),
    "reject": ("reason",),
    "confirm-receipt": (),
    "refuse-receipt": ("reason",),
    "ship-replacement": ("carrier", "tracking_number"),
}


async def merchant_case_move(
    apis: Apis, user: SignedIn, case_id: str, move: str, values: dict[str, str], now: datetime
) -> CasePage | None:
    """A merchant's move on their case: None when done, else the case's page with aftersales' refusal."""
    if move not in MERCHANT_CASE_MOVES:
        raise ApiRefused(404, "no such move", code="not-found", service="aftersales")

    async def reload() -> CasePage:
        return await case_page(apis, user, case_id, now)

    path = f"/seller/cases/{q(case_id)}/{move}"
    if move == "confirm-receipt":
        case = await apis.call("aftersales", "GET", f"/seller/cases/{q(case_id)}", user.token)
        form = read_receipt_form(values, [line["line_no"] for line in case["lines"]])
        return await case_move(
            apis, user, path, form.body, form.errors, values, reload, field_of=form.error_for_api_field
        )
    body, errors = read_text_form(values, *MERCHANT_CASE_MOVES[move])
    return await case_move(apis, user, path, body or None, errors, values, reload)
