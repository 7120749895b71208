"""The seller's local-life pages: stores and clerks, deals, redemptions per store per day and settlement.

Everything is local_life's API called with the merchant's token (a deal's currency is the merchant's, from shop).
A refusal a merchant can act on (400/409/422) comes back to the page by the field it names, in the API's words;
another merchant's store or deal is local_life's 404, and so the page's.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from services.web.adapters.apis import ApiRefused, Apis
from services.web.domain import seller_local as forms
from services.web.domain.seller_local import Posted
from services.web.use_cases import showable
from services.web.use_cases.seller import currency_of
from services.web.views import Refusal, SignedIn
from services.web.views.seller_local import (
    DealFormPage,
    DealPage,
    DealsPage,
    LocalForm,
    RedemptionsPage,
    ReportRow,
    Settlement,
    StoreFormPage,
    StoreHours,
    StorePage,
    StoresPage,
)

# A merchant's refusals the page shows (the rest, and a service down, are the app's error page).
SHOWN = (400, 409, 422)
PAGE = 100  # stores and deals per page
DEAL_TIMES = ("valid_from", "valid_until", "published_at", "ended_at", "created_at", "updated_at")


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(part, safe="") for part in parts)


def _shown(refused: ApiRefused) -> ApiRefused:
    return showable(refused, SHOWN)


def _refusal(refused: ApiRefused) -> Refusal:
    _shown(refused)
    return Refusal(status=409 if refused.status == 409 else 422, detail=refused.detail, code=refused.code)


def form_status(refused: Refusal | None) -> int:
    """The status a page with a refused form answers: 409 for a conflict, else 422."""
    return refused.status if refused else 422


def _times(found: dict[str, Any], *names: str) -> dict[str, Any]:
    return found | {name: datetime.fromisoformat(found[name]) for name in names if found.get(name)}


# --- stores --------------------------------------------------------------------------------------------------------


async def stores(apis: Apis, user: SignedIn, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """The merchant's stores, newest first, and the cursor of the next page."""
    params: dict[str, str | int] = {"limit": PAGE} | ({"cursor": cursor} if cursor else {})
    answer = await apis.call("local_life", "GET", "/seller/stores", user.token, params=params)
    return answer["items"], answer.get("next_cursor")


async def stores_page(
    apis: Apis, user: SignedIn, form: LocalForm | None = None, cursor: str | None = None
) -> StoresPage:
    """The stores and the add-a-store form (a new form suggests the time zone of the merchant's newest store)."""
    found, next_cursor = await stores(apis, user, cursor)
    if form is None:
        form = LocalForm(values={"timezone": [found[0]["timezone"] if found else "UTC"]})
    return StoresPage(stores=found, form=form, pairs=forms.hours_pairs(form.values), next_cursor=next_cursor)


async def create_store(apis: Apis, user: SignedIn, values: Posted) -> tuple[str | None, LocalForm]:
    """Open the store the form describes: (its id, the form), or (None, the form with its errors)."""
    form = forms.read_store_form(values)
    if form.errors:
        return None, form
    try:
        created = await apis.call("local_life", "POST", "/seller/stores", user.token, json=form.body)
    except ApiRefused as refused:
        form.errors[forms.store_error_field(_shown(refused).field)] = refused.detail
        return None, form
    return str(created["store_id"]), form


async def store(apis: Apis, user: SignedIn, store_id: str) -> dict[str, Any]:
    """One of the merchant's stores (local_life answers 404 for anyone else's, and so does the page)."""
    found: dict[str, Any] = await apis.call("local_life", "GET", _path("seller", "stores", store_id), user.token)
    return found


def _hours(found: dict[str, Any]) -> list[StoreHours]:
    opening = found.get("opening_hours") or {}
    return [
        StoreHours(weekday=day, name=name, ranges=[(a, b) for a, b in opening.get(str(day), [])])
        for day, name in forms.WEEKDAYS
    ]


async def store_page(
    apis: Apis, user: SignedIn, store_id: str, clerk_form: LocalForm | None = None, refusal: Refusal | None = None
) -> StorePage:
    """A store with its opening hours and clerks (active first)."""
    found = _times(await store(apis, user, store_id), "created_at", "updated_at")
    clerks = await apis.call("local_life", "GET", _path("seller", "stores", store_id, "clerks"), user.token)
    return StorePage(
        store=found,
        hours=_hours(found),
        clerks=[_times(c, "created_at", "updated_at") for c in clerks["items"]],
        clerk_form=clerk_form or LocalForm(values={}),
        refusal=refusal,
    )


async def store_form_page(apis: Apis, user: SignedIn, store_id: str, form: LocalForm | None = None) -> StoreFormPage:
    """The form changing a store, filled with what local_life has (or with what was typed, when refused)."""
    found = await store(apis, user, store_id)
    form = form or LocalForm(values=forms.store_values(found))
    return StoreFormPage(store=found, form=form, pairs=forms.hours_pairs(form.values))


async def change_store(apis: Apis, user: SignedIn, store_id: str, values: Posted) -> LocalForm | None:
    """Change the store's details and hours; None when done, else the form with its errors."""
    await store(apis, user, store_id)  # another merchant's store: 404 before anything is read
    form = forms.read_store_form(values)
    if form.errors:
        return form
    try:
        await apis.call("local_life", "PATCH", _path("seller", "stores", store_id), user.token, json=form.body)
    except ApiRefused as refused:
        form.errors[forms.store_error_field(_shown(refused).field)] = refused.detail
        return form
    return None


async def set_store_status(apis: Apis, user: SignedIn, store_id: str, status: str) -> None:
    """Open or close the store (a closed store is not offered to buyers and publishes no deal)."""
    body = {"status": "closed" if status == "closed" else "open"}
    await apis.call("local_life", "PATCH", _path("seller", "stores", store_id), user.token, json=body)


async def add_clerk(apis: Apis, user: SignedIn, store_id: str, values: Posted) -> LocalForm | None:
    """A clerk at the store by their sign-in id (`sub`) and name; None when done, else the form with its errors."""
    form = LocalForm(values={k: list(v) for k, v in values.items()})
    body = {"clerk_id": form.get("clerk_id").strip(), "name": form.get("name").strip()}
    for name, text in body.items():
        if not text:
            form.errors[name] = "This is required"
    if form.errors:
        return form
    try:
        await apis.call("local_life", "POST", _path("seller", "stores", store_id, "clerks"), user.token, json=body)
    except ApiRefused as refused:
        named = _shown(refused).field
        form.errors[named if named in body else ""] = refused.detail
        return form
    return None


async def remove_clerk(apis: Apis, user: SignedIn, store_id: str, clerk_id: str) -> None:
    """The clerk no longer works at the store (their token redeems nothing there)."""
    await apis.call("local_life", "DELETE", _path("seller", "stores", store_id, "clerks", clerk_id), user.token)


# --- deals ---------------------------------------------------------------------------------------------------------


async def deals_page(apis: Apis, user: SignedIn, status: str | None, cursor: str | None) -> DealsPage:
    """The merchant's deals of one status (or all), newest first."""
    chosen = status if status in ("draft", "published", "ended") else None
    params: dict[str, str | int] = {"limit": PAGE}
    params |= ({"status": chosen} if chosen else {}) | ({"cursor": cursor} if cursor else {})
    answer = await apis.call("local_life", "GET", "/seller/deals", user.token, params=params)
    return DealsPage(
        deals=[_times(d, *DEAL_TIMES) for d in answer["items"]],
        status=chosen,
        next_cursor=answer.get("next_cursor"),
    )


async def deal(apis: Apis, user: SignedIn, deal_id: str) -> dict[str, Any]:
    """One of the merchant's deals, in any status (local_life's 404 for anyone else's)."""
    found: dict[str, Any] = await apis.call("local_life", "GET", _path("seller", "deals", deal_id), user.token)
    return found


async def new_deal_page(apis: Apis, user: SignedIn, form: LocalForm | None = None) -> DealFormPage:
    """The new-deal form: the merchant's stores to choose from, amounts in the merchant's currency, a fresh key."""
    found, _ = await stores(apis, user)
    timezone = found[0]["timezone"] if found else "UTC"
    only = [found[0]["store_id"]] if len(found) == 1 else []  # one store: the deal is surely for it
    return DealFormPage(
        form=form or LocalForm(values=forms.new_deal_values(timezone, only)),
        stores=found,
        currency=await currency_of(apis, user),
        key=str(uuid.uuid4()),
    )


async def create_deal(apis: Apis, user: SignedIn, values: Posted, key: str) -> tuple[str | None, DealFormPage | None]:
    """Draft the deal the form describes: (its id, None) or (None, the form again with its errors).

    `key` is the form's Idempotency-Key: a form sent twice (a double click, a retry) drafts one deal.
    """
    currency = await currency_of(apis, user)
    form = forms.read_deal_form(values, currency)
    if not form.errors:
        try:
            created = await apis.call("local_life", "POST", "/seller/deals", user.token, json=form.body, key=key)
            return str(created["deal_id"]), None
        except ApiRefused as refused:
            form.errors[forms.deal_error_field(_shown(refused).field)] = refused.detail
    page = await new_deal_page(apis, user, form)
    page.key = key  # the same key again: what was refused made nothing, a resend of a draft that was made finds it
    return None, page


async def deal_form_page(apis: Apis, user: SignedIn, deal_id: str, form: LocalForm | None = None) -> DealFormPage:
    """A draft's form, filled with its terms (or with what was typed, when refused)."""
    found = await deal(apis, user, deal_id)
    merchant_stores, _ = await stores(apis, user)
    named = [s["timezone"] for s in merchant_stores if s["store_id"] in found["store_ids"]]
    timezones = list(dict.fromkeys([*named, *(s["timezone"] for s in merchant_stores)]))
    return DealFormPage(
        form=form or LocalForm(values=forms.deal_values(found, timezones)),
        stores=merchant_stores,
        currency=found["currency"],
        deal=found,
    )


async def change_deal(apis: Apis, user: SignedIn, deal_id: str, values: Posted) -> tuple[LocalForm, Refusal | None]:
    """Change a draft's terms (the same body as a new deal's, in the deal's currency): the form, with its errors and
    the refusal when refused (409 once the deal is no longer a draft)."""
    found = await deal(apis, user, deal_id)
    form = forms.read_deal_form(values, found["currency"])
    if form.errors:
        return form, None
    try:
        await apis.call("local_life", "PATCH", _path("seller", "deals", deal_id), user.token, json=form.body)
    except ApiRefused as refused:
        form.errors[forms.deal_error_field(_shown(refused).field)] = refused.detail
        return form, _refusal(refused)
    return form, None


async def deal_page(apis: Apis, user: SignedIn, deal_id: str) -> DealPage:
    """A deal's terms, the stores it names and, once it was on sale, its vouchers by state."""
    found = _times(await deal(apis, user, deal_id), *DEAL_TIMES)
    merchant_stores, _ = await stores(apis, user)
    named = set(found["store_ids"])
    report = None
    if found["status"] != "draft":
        answer = await apis.call(
            "local_life", "GET", "/seller/reports/vouchers", user.token, params={"deal_id": deal_id}
        )
        report = answer["items"][0] if answer["items"] else None
    return DealPage(
        deal=found,
        stores=[s for s in merchant_stores if found["all_stores"] or s["store_id"] in named],
        report=report,
    )


async def move_deal(apis: Apis, user: SignedIn, deal_id: str, move: str) -> DealPage | None:
    """Publish or end the deal; None when done, else the deal's page with local_life's refusal."""
    await deal(apis, user, deal_id)  # another merchant's deal: 404
    try:
        await apis.call("local_life", "POST", _path("seller", "deals", deal_id, move), user.token)
    except ApiRefused as refused:
        page = await deal_page(apis, user, deal_id)
        page.refusal = _refusal(refused)
        page.refused_field = refused.field
        return page
    return None


# --- redemptions and settlement ------------------------------------------------------------------------------------


def _settlement(found: dict[str, Any]) -> Settlement:
    return Settlement(
        settlement_id=found["settlement_id"],
        cut_at=datetime.fromisoformat(found["cut_at"]),
        created_at=datetime.fromisoformat(found["created_at"]),
        totals=found["totals"],
    )


async def redemptions_page(
    apis: Apis, user: SignedIn, asked: dict[str, str], now: datetime, settled: str | None = None
) -> RedemptionsPage:
    """Redemptions per store per day over the days asked (the last 7 by default), what is due, past settlements."""
    days = forms.report_range(asked, now.date())
    rows: list[ReportRow] = []
    if not days.errors and days.from_day and days.to_day:
        params = {"from": days.from_day.isoformat(), "to": days.to_day.isoformat()}
        try:
            report = await apis.call("local_life", "GET", "/seller/reports/redemptions", user.token, params=params)
            rows = [
                ReportRow(
                    day=date.fromisoformat(r["day"]),
                    store_id=r["store_id"],
                    store_name=r["store_name"],
                    timezone=r["timezone"],
                    currency=r.get("currency") or "",
                    redemptions=r["redemptions"],
                    amount_minor=r["amount_minor"],
                )
                for r in report["items"]
            ]
        except ApiRefused as refused:
            days.errors["to" if _shown(refused).field != "from" else "from"] = refused.detail
    due = await apis.call("local_life", "GET", "/seller/settlement", user.token)
    past = await apis.call("local_life", "GET", "/seller/settlements", user.token, params={"limit": 20})
    settlements = [_settlement(s) for s in past["items"]]
    return RedemptionsPage(
        days=days,
        rows=sorted(rows, key=lambda r: (r.day, r.store_name, r.store_id, r.currency), reverse=True),
        totals=forms.totals_by_currency([vars(r) for r in rows]),
        due_cut_at=datetime.fromisoformat(due["cut_at"]),
        due=due["totals"],
        settlements=settlements,
        key=str(uuid.uuid4()),
        now=now,
        settled=next((s for s in settlements if s.settlement_id == settled), None) if settled else None,
        more_settlements=bool(past.get("next_cursor")),
    )


async def settle(apis: Apis, user: SignedIn, key: str) -> tuple[str | None, Refusal | None]:
    """Settle what is due now (once per form: its Idempotency-Key): (the settlement's id, None) or (None, refusal)."""
    try:
        settled = await apis.call("local_life", "POST", "/seller/settlements", user.token, key=key or None)
    except ApiRefused as refused:
        return None, _refusal(refused)
    return str(settled["settlement_id"]), None
