"""The clerk counter: the clerk's store, prepare (what a shown code makes redeemable here), verify, undo, and the
store's redemptions of today (read after each step, so a redeem or an undo shows in the list at once).

Every step is local_life's API, called with the clerk's token. Its refusals a clerk can act on (an unknown code, a
voucher already used, a verify token expired, an undo too late) come back as `Refusal`, worded as the API worded
them, for the page to show; anything else (a service down) is the app's error page.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from services.web.adapters.apis import ApiRefused, Apis
from services.web.domain.seller_local import on_clock
from services.web.use_cases import refusal
from services.web.views import CounterDay, CounterPage, CounterRedemption, Redeemed, Refusal, SignedIn

# What a clerk can act on at the counter; 401/403 (not a clerk of this store) and 5xx are the app's error page.
SHOWN = (404, 409, 422, 429)
# Today's redemptions shown at once (the newest); a busy counter's earlier ones are in the merchant's report.
TODAY_ROWS = 50


def _refusal(refused: ApiRefused) -> Refusal:
    return refusal(refused, SHOWN)


async def store_name(apis: Apis, user: SignedIn) -> str:
    """The clerk's store (403 from local_life, and the page, unless an active clerk of the store the token names)."""
    me = await apis.call("local_life", "GET", "/clerk/me", user.token)
    return str(me["store"]["name"])


def _at(text: str | None, timezone: str) -> datetime | None:
    return on_clock(datetime.fromisoformat(text), timezone) if text else None


async def today(apis: Apis, user: SignedIn) -> CounterDay:
    """The store's redemptions of today (its own day and clock), newest first, undone ones too."""
    answer: dict[str, Any] = await apis.call(
        "local_life", "GET", "/clerk/redemptions", user.token, params={"limit": TODAY_ROWS}
    )
    timezone = answer["timezone"]
    return CounterDay(
        day=date.fromisoformat(answer["day"]),
        timezone=timezone,
        items=[
            CounterRedemption(
                redemption_id=r["redemption_id"],
                voucher_id=r["voucher_id"],
                masked_code=r["masked_code"],
                deal_title=r["deal_title"],
                clerk_id=r["clerk_id"],
                redeemed_at=on_clock(datetime.fromisoformat(r["redeemed_at"]), timezone),
                undone_at=_at(r.get("undone_at"), timezone),
                undoable_until=_at(r.get("undoable_until"), timezone),
            )
            for r in answer["items"]
        ],
        more=bool(answer.get("next_cursor")),
    )


async def _with_today(apis: Apis, user: SignedIn, page: CounterPage) -> CounterPage:
    page.today = await today(apis, user)
    return page


async def counter(apis: Apis, user: SignedIn) -> CounterPage:
    """The empty counter: the code form and today's redemptions."""
    return await _with_today(apis, user, CounterPage(store=await store_name(apis, user)))


async def prepare(apis: Apis, user: SignedIn, code: str) -> CounterPage:
    """The usable vouchers (masked) of the shown code's order line and the token to redeem them, or the refusal."""
    page = CounterPage(store=await store_name(apis, user), code=code)
    if not code.strip():
        page.refusal = Refusal(status=422, detail="Enter the voucher code", code="")
        return await _with_today(apis, user, page)
    try:
        prepared = await apis.call("local_life", "POST", "/redemptions/prepare", user.token, json={"code": code})
    except ApiRefused as refused:
        page.refusal = _refusal(refused)
        return await _with_today(apis, user, page)
    page.verify_token = prepared["verify_token"]
    page.per_visit_limit = prepared.get("per_visit_limit")
    page.offered = [v | {"valid_until": datetime.fromisoformat(v["valid_until"])} for v in prepared["vouchers"]]
    return await _with_today(apis, user, page)


async def redeem(apis: Apis, user: SignedIn, verify_token: str, voucher_ids: list[str]) -> CounterPage:
    """Redeem the chosen vouchers: each one's outcome (`redeemed`, `already-redeemed`), or the refusal."""
    page = CounterPage(store=await store_name(apis, user))
    if not voucher_ids:
        page.refusal = Refusal(status=422, detail="Choose at least one voucher to redeem", code="")
        return await _with_today(apis, user, page)
    try:
        verified = await apis.call(
            "local_life",
            "POST",
            "/redemptions/verify",
            user.token,
            json={"verify_token": verify_token, "voucher_ids": voucher_ids},
        )
    except ApiRefused as refused:
        page.refusal = _refusal(refused)
        return await _with_today(apis, user, page)
    await _with_today(apis, user, page)
    masked = {r.voucher_id: r.masked_code for r in reversed(page.today.items)} if page.today else {}
    page.redeemed = [
        Redeemed(
            voucher_id=v["voucher_id"],
            outcome=v["outcome"],
            redemption_id=v.get("redemption_id"),
            masked_code=masked.get(v["voucher_id"]),
        )
        for v in verified["vouchers"]
    ]
    return page


async def undo(apis: Apis, user: SignedIn, redemption_id: str) -> CounterPage:
    """Take a redemption back within local_life's undo window (the voucher is usable again), or the refusal."""
    page = CounterPage(store=await store_name(apis, user))
    try:
        undone = await apis.call("local_life", "POST", f"/redemptions/{quote(redemption_id, safe='')}/undo", user.token)
    except ApiRefused as refused:
        page.refusal = _refusal(refused)
        return await _with_today(apis, user, page)
    page.undone = str(undone["voucher_id"])
    return await _with_today(apis, user, page)
