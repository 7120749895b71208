"""The buyer's checkout, payment, orders and after-sales pages: orders', aftersales' and shop's APIs with the buyer's
token.

A refusal a buyer can act on (400/402/409/422/429: a declined card, a move out of turn, a quantity past what the
ledger allows) comes back as a `Refusal` in the API's words for the page to show; a 404 (someone else's order or
case) and anything else go up to the app's error page.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from libs.ids import derived_id
from services.web.adapters.apis import ApiRefused, Apis
from services.web.domain import NotAnAmount, parse_count
from services.web.domain.orders import (
    BUYER_MOVES,
    CASE_KINDS,
    MAX_PAYMENT_POLLS,
    ORDER_STATUSES,
    PAYMENT_METHODS,
    REASON_CODES,
    buyer_actions,
    case_limit,
    is_key,
    moves_for,
    page_status,
    payment_state,
    read_case_form,
    read_text_form,
    timeline,
    with_times,
)
from services.web.use_cases import refusal
from services.web.views import Refusal, SignedIn
from services.web.views.orders import (
    CaseForm,
    CaseLineChoice,
    CaseList,
    CasePage,
    CheckoutPage,
    CheckoutProblem,
    OrderList,
    OrderPage,
    PaymentPanel,
)

# What a page shows in the API's words; a 404 is the page's 404, the rest the app's error page.
SHOWN = (400, 402, 409, 422, 429)
PAGE_SIZE = 20
# Cases are listed newest first without an order filter: an order's cases are among the buyer's latest.
CASES_SCANNED = 100


def shown(refused: ApiRefused) -> Refusal:
    """`refused` as a page shows it, or raised again when it is not one to show (404, 5xx, unreachable)."""
    return refusal(refused, SHOWN)


def q(value: str) -> str:
    return quote(value, safe="")


def _params(**values: str | int | None) -> dict[str, str | int]:
    return {name: value for name, value in values.items() if value not in (None, "")}


# --- checking out ---------------------------------------------------------------------------------------------------


def _problem(status: int, detail: str, back: str, code: str = "") -> CheckoutProblem:
    return CheckoutProblem(refusal=Refusal(status=status, detail=detail, code=code), item=None, back=back)


def _back_of(values: dict[str, str], default: str) -> str:
    target = values.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def _item_index(api_field: str | None) -> int | None:
    if api_field and api_field.startswith("items["):
        index = api_field[len("items[") :].split("]", 1)[0]
        return int(index) if index.isdigit() else None
    return None


async def _placed_with(apis: Apis, user: SignedIn, key: str) -> str | None:
    """The checkout this buyer already placed with `key`, if any: orders names a checkout after its buyer and key
    (`derived_id(buyer, key)`, "Why request/reply for stock reservation" in docs/ARCHITECTURE.md)."""
    checkout_id = derived_id(user.sub, key)
    try:
        await apis.call("orders", "GET", f"/checkouts/{checkout_id}", user.token)
    except ApiRefused as refused:
        if refused.status != 404:
            raise
        return None
    return checkout_id


async def place_checkout(
    apis: Apis, user: SignedIn, values: dict[str, str], coupon_ids: Sequence[str]
) -> tuple[str | None, CheckoutProblem | None]:
    """Check out what the posting form names (the cart, a deal or a SKU) with its Idempotency-Key: (the checkout's
    id, None), or (None, what orders refused, the item it names and where to fix it).

    A cart's form sent again (a double click, a reload) after its checkout was placed finds the cart emptied, or
    emptied in part, by shop: that is not another checkout to place but the one its key already made.
    """
    room_id = values.get("room_id", "").strip() or None
    if values.get("from_cart"):
        back = _back_of(values, "/cart")
    elif values.get("deal_id"):
        back = _back_of(values, f"/deals/{q(values['deal_id'])}")
    else:
        back = _back_of(values, f"/rooms/{q(room_id)}" if room_id else "/cart")
    key = values.get("idempotency_key", "")
    if not is_key(key):
        return None, _problem(400, "This form is out of date: go back and try again.", back)
    names: list[str] = []
    if values.get("from_cart"):
        cart = await apis.call("shop", "GET", "/cart", user.token)
        items = []
        for line in cart["items"]:
            item: dict[str, Any] = {"sku_id": line["sku_id"], "quantity": line["quantity"]}
            source = line.get("source") or {}
            if source.get("type") == "room":
                item["room_id"] = source["id"]
            elif source.get("type") == "video":
                item["video_id"] = source["id"]
            items.append(item)
            names.append(f"{line['title']} ({line['sku_name']})")
        if not items:
            already = await _placed_with(apis, user, key)
            return (already, None) if already else (None, _problem(422, "Your cart is empty.", back))
    else:
        try:
            quantity = parse_count(values.get("quantity", "1") or "1")
        except NotAnAmount as exc:
            return None, _problem(422, str(exc), back)
        if values.get("deal_id"):
            item = {"deal_id": values["deal_id"].strip(), "quantity": quantity}
            if values.get("team_id", "").strip():
                item["team_id"] = values["team_id"].strip()
        elif values.get("sku_id"):
            item = {"sku_id": values["sku_id"].strip(), "quantity": quantity}
        else:
            return None, _problem(400, "Nothing to check out.", back)
        if room_id:
            item["room_id"] = room_id
        items = [item]
    body: dict[str, Any] = {"items": items}
    if coupon_ids:
        body["coupon_ids"] = [c for c in coupon_ids if c]
    try:
        placed = await apis.call("orders", "POST", "/checkout", user.token, json=body, key=key)
    except ApiRefused as refused:
        # A coupon orders does not know is its 404 (`coupon_ids[i]`): the buyer's to fix, shown like the others; a
        # 503 (stock could not be asked about) is orders' "try again", and nothing was held.
        if refused.status not in (*SHOWN, 404, 503) or refused.unreachable:
            raise
        if refused.code == "idempotency-key-reused" and values.get("from_cart"):
            already = await _placed_with(apis, user, key)
            if already:
                return already, None
        status = refused.status if refused.status == 503 else page_status(refused.status)
        refusal = Refusal(status=status, detail=refused.detail, code=refused.code)
        index = _item_index(refused.field)
        return None, CheckoutProblem(
            refusal=refusal,
            item=names[index] if index is not None and index < len(names) else None,
            back=back,
            coupon=bool(refused.field and refused.field.startswith("coupon_ids")),
        )
    return str(placed["checkout_id"]), None


# --- paying ---------------------------------------------------------------------------------------------------------


async def _checkout(apis: Apis, user: SignedIn, checkout_id: str) -> dict[str, Any]:
    return with_times(await apis.call("orders", "GET", f"/checkouts/{q(checkout_id)}", user.token))


def _panel(
    checkout: dict[str, Any], base: str, pay_path: str, paying: str | None, polls: int, now: datetime
) -> PaymentPanel:
    polls = max(0, polls)
    return PaymentPanel(
        checkout=checkout,
        state=payment_state(checkout, paying, polls),
        page_path=base,
        pay_path=pay_path,
        poll_path=f"{base}/payment?{_poll_query(paying, polls + 1)}",
        methods=PAYMENT_METHODS,
        now=now,
    )


def _poll_query(paying: str | None, polls: int) -> str:
    return f"paying={quote(paying or '')}&polls={min(polls, MAX_PAYMENT_POLLS)}"


async def checkout_page(
    apis: Apis, user: SignedIn, checkout_id: str, now: datetime, *, paying: str | None = None, polls: int = 0
) -> CheckoutPage:
    """The buyer's checkout (another's: 404): its orders, lines, totals and where paying it stands."""
    checkout = await _checkout(apis, user, checkout_id)
    base = f"/checkouts/{q(checkout_id)}"
    return CheckoutPage(checkout=checkout, panel=_panel(checkout, base, f"{base}/pay", paying, polls, now))


async def order_pay_page(
    apis: Apis, user: SignedIn, order_id: str, now: datetime, *, paying: str | None = None, polls: int = 0
) -> CheckoutPage:
    """A flash-sale admission's order (or any of the buyer's orders awaiting payment) and its payment, by its pay-by."""
    order = with_times(await apis.call("orders", "GET", f"/orders/{q(order_id)}", user.token))
    checkout = await _checkout(apis, user, order["checkout_id"])
    base = f"/orders/{q(order_id)}/pay"
    panel = _panel(checkout, base, base, paying, polls, now)
    return CheckoutPage(checkout=checkout, panel=panel, order=order)


async def pay(apis: Apis, user: SignedIn, page: CheckoutPage, method: str) -> tuple[str | None, CheckoutPage]:
    """Confirm the checkout's payment with a test payment method: (where to look at it being processed, the page) or
    (None, the page with the refusal: a declined card, a closed window)."""
    panel = page.panel
    panel.chosen = method
    if method not in {pm for pm, _label in PAYMENT_METHODS}:
        panel.refusal = Refusal(status=422, detail="Choose a payment method", code="")
        return None, page
    if panel.state == "paid":
        return panel.page_path, page
    payment = page.checkout["payment"]
    try:
        await apis.call(
            "orders",
            "POST",
            f"/payments/{q(payment['payment_id'])}/confirm",
            user.token,
            json={"payment_method": method},
        )
    except ApiRefused as refused:
        panel.refusal = shown(refused)
        if refused.status == 402:
            panel.state = "failed"
        return None, page
    return f"{panel.page_path}?{_poll_query(payment['status'], 0)}", page


# --- orders ---------------------------------------------------------------------------------------------------------


async def order_list(
    apis: Apis, user: SignedIn, path: str, status: str, cursor: str | None, statuses: tuple[str, ...] = ORDER_STATUSES
) -> OrderList:
    """One page of the reader's orders (`/orders` for a buyer, `/seller/orders` for a merchant), newest first."""
    status = status if status in statuses else ""
    try:
        answer = await apis.call(
            "orders", "GET", path, user.token, params=_params(status=status, cursor=cursor, limit=PAGE_SIZE)
        )
    except ApiRefused as refused:
        if refused.status != 400 or not cursor:
            raise
        return await order_list(apis, user, path, status, None, statuses)  # a cursor not orders': the first page
    return OrderList(
        items=with_times(answer["items"]),
        status=status,
        next_cursor=answer.get("next_cursor"),
        cursor=cursor,
        statuses=statuses,
    )


async def cases_of(apis: Apis, user: SignedIn, path: str, order_id: str) -> list[dict[str, Any]]:
    answer = await apis.call("aftersales", "GET", path, user.token, params={"limit": CASES_SCANNED})
    return with_times([case for case in answer["items"] if case["order_id"] == order_id])


async def order_page(apis: Apis, user: SignedIn, order_id: str, now: datetime) -> OrderPage:
    """One of the buyer's orders (another's: 404) with its timeline, shipments, refunds, cases and the buyer's moves."""
    order = with_times(await apis.call("orders", "GET", f"/orders/{q(order_id)}", user.token))
    cases = await cases_of(apis, user, "/cases", order["order_id"])
    return OrderPage(
        order=order,
        timeline=timeline(order, cases, "/cases/"),
        cases=cases,
        now=now,
        actions=buyer_actions(order),
        key=str(uuid.uuid4()),  # the cancel's Idempotency-Key: a double click cancels (and refunds) once
    )


async def order_move(apis: Apis, user: SignedIn, order_id: str, move: str, key: str, now: datetime) -> OrderPage | None:
    """Confirm receipt or cancel: None when done, else the order's page with orders' refusal."""
    path = {"confirm_receipt": "confirm-receipt", "cancel": "cancel"}[move]
    try:
        await apis.call(
            "orders",
            "POST",
            f"/orders/{q(order_id)}/{path}",
            user.token,
            key=key if move == "cancel" and is_key(key) else None,
        )
    except ApiRefused as refused:
        refusal = shown(refused)
        page = await order_page(apis, user, order_id, now)
        page.refusal = refusal
        return page
    return None


# --- after-sales ------------------------------------------------------------------------------------------------------


async def _skus_of(apis: Apis, user: SignedIn, product_id: str) -> list[dict[str, Any]]:
    try:
        product = await apis.call("shop", "GET", f"/products/{q(product_id)}", user.token)
    except ApiRefused as refused:
        if refused.status != 404:
            raise
        return []  # no longer sold: an exchange can only be for the same SKU
    return list(product.get("skus") or [])


async def case_form(
    apis: Apis,
    user: SignedIn,
    order_id: str,
    key: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> CaseForm:
    """The after-sales form of one of the buyer's orders: each line that can still be in a case, bounded by orders'
    ledger, with the SKUs of its product an exchange may ask for."""
    order = with_times(await apis.call("orders", "GET", f"/orders/{q(order_id)}", user.token))
    skus: dict[str, list[dict[str, Any]]] = {}
    lines = []
    for line in order["lines"]:
        limit = case_limit(line.get("ledger") or {})
        if limit <= 0:
            continue
        deal = line.get("deal_id") is not None
        if not deal and line["product_id"] not in skus:
            skus[line["product_id"]] = await _skus_of(apis, user, line["product_id"])
        lines.append(
            CaseLineChoice(
                line_no=line["line_no"],
                title=line["title"],
                sku_name=line["sku_name"],
                sku_id=line["sku_id"],
                quantity=line["quantity"],
                limit=limit,
                deal=deal,
                skus=[] if deal else skus[line["product_id"]],
            )
        )
    return CaseForm(
        order=order,
        lines=lines,
        values=values or {},
        errors=errors or {},
        key=key,
        kinds=CASE_KINDS,
        reasons=REASON_CODES,
    )


async def open_case(
    apis: Apis, user: SignedIn, order_id: str, values: dict[str, str], fresh_key: str
) -> tuple[str | None, CaseForm]:
    """Open the case the form describes (its Idempotency-Key: a double click opens one): (its id, the form) or
    (None, the form with aftersales' refusal by the field it names)."""
    key = values.get("idempotency_key", "")
    page = await case_form(apis, user, order_id, key if is_key(key) else fresh_key, values)
    form = read_case_form(values, [line.line_no for line in page.lines], page.order["order_id"])
    if not is_key(key):
        form.errors.setdefault("", "This form is out of date: go back and try again.")
    if form.errors:
        page.errors = form.errors
        page.status = 422
        return None, page
    try:
        opened = await apis.call("aftersales", "POST", "/cases", user.token, json=form.body, key=key)
    except ApiRefused as refused:
        refusal = shown(refused)
        page.errors = {form.error_for_api_field(refused.field): refusal.detail}
        page.status = refusal.status
        return None, page
    return str(opened["case_id"]), page


async def case_list(apis: Apis, user: SignedIn, cursor: str | None, now: datetime) -> CaseList:
    """The buyer's cases, newest first."""
    try:
        answer = await apis.call(
            "aftersales", "GET", "/cases", user.token, params=_params(cursor=cursor, limit=PAGE_SIZE)
        )
    except ApiRefused as refused:
        if refused.status != 400 or not cursor:
            raise
        return await case_list(apis, user, None, now)  # a cursor not aftersales': the first page
    return CaseList(items=with_times(answer["items"]), status="", next_cursor=answer.get("next_cursor"), now=now)


def case_lines(
    case: dict[str, Any], order: dict[str, Any] | None, sku_names: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The case's lines with their order line's title and SKU name (when the reader can read the order), and the
    name of an exchange's replacement SKU."""
    by_no = {line.get("line_no"): line for line in (order or {}).get("lines", [])}
    names = sku_names or {}
    return [
        line
        | {
            "title": by_no.get(line["line_no"], {}).get("title", ""),
            "sku_name": by_no.get(line["line_no"], {}).get("sku_name", ""),
            "replacement_name": names.get(line.get("replacement_sku_id") or ""),
        }
        for line in case["lines"]
    ]


async def replacement_names(apis: Apis, user: SignedIn, case: dict[str, Any], order: dict[str, Any]) -> dict[str, str]:
    """An exchange's SKUs by id -> name (shop's catalogue of the line's product); none for other kinds."""
    if case["kind"] != "exchange":
        return {}
    by_no = {line.get("line_no"): line for line in order["lines"]}
    names: dict[str, str] = {}
    for product_id in {by_no[line["line_no"]]["product_id"] for line in case["lines"] if line["line_no"] in by_no}:
        names |= {sku["sku_id"]: sku["name"] for sku in await _skus_of(apis, user, product_id)}
    return names


async def case_page(apis: Apis, user: SignedIn, case_id: str, now: datetime) -> CasePage:
    """One of the buyer's cases (another's: 404): status, whose move and by when, the history, the refund, the
    buyer's moves."""
    case = with_times(await apis.call("aftersales", "GET", f"/cases/{q(case_id)}", user.token))
    order = with_times(await apis.call("orders", "GET", f"/orders/{q(case['order_id'])}", user.token))
    return CasePage(
        case=case,
        lines=case_lines(case, order, await replacement_names(apis, user, case, order)),
        currency=order["currency"],
        moves=moves_for(case["status"], BUYER_MOVES),
        now=now,
        order=order,
    )


# The buyer's moves: the path under the case (the page's and aftersales') -> the fields its form sends.
BUYER_CASE_MOVES: dict[str, tuple[str, ...]] = {
    "return-shipment": ("carrier", "tracking_number"),
    "cancel": (),
    "escalate": (),
    "accept-refund": (),
}


async def buyer_case_move(
    apis: Apis, user: SignedIn, case_id: str, move: str, values: dict[str, str], now: datetime
) -> CasePage | None:
    """A buyer's move on their case: None when done, else the case's page with aftersales' refusal."""
    if move not in BUYER_CASE_MOVES:
        raise ApiRefused(404, "no such move", code="not-found", service="aftersales")

    async def reload() -> CasePage:
        return await case_page(apis, user, case_id, now)

    body, errors = read_text_form(values, *BUYER_CASE_MOVES[move])
    path = f"/cases/{q(case_id)}/{move}"
    return await case_move(apis, user, path, body or None, errors, values, reload)


async def case_move(
    apis: Apis,
    user: SignedIn,
    path: str,
    body: dict[str, Any] | None,
    errors: dict[str, str],
    values: dict[str, str],
    reload: Callable[[], Awaitable[CasePage]],
    field_of: Callable[[str | None], str] = lambda name: name or "",
) -> CasePage | None:
    """One party's move on a case (aftersales' `path`, the form read into `body`, or what the form lacks in
    `errors`): None when done, else the case page (`reload`) with what is missing or aftersales' refusal, by the
    field it names (`field_of` maps it to the form's)."""
    if errors:
        refusal = Refusal(status=422, detail="Fill in the fields marked", code="")
    else:
        try:
            await apis.call("aftersales", "POST", path, user.token, json=body)
            return None
        except ApiRefused as refused:
            refusal = shown(refused)
            errors = {field_of(refused.field): refusal.detail} if refused.field else {}
    page = await reload()
    page.refusal, page.values, page.errors = refusal, values, errors
    return page
