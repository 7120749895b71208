"""Deals nearby and my vouchers (local_life): nearest first, a deal with its stores, a voucher's code and QR code,
its refund."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from services.web.adapters.apis import ApiRefused, Apis
from services.web.domain.buyer import (
    RADII_M,
    distance_m,
    opening_days,
    qr_data_uri,
    read_where,
    voucher_group,
    weekday_names,
)
from services.web.use_cases.buyer.common import all_pages, listing, moment, path_id, shown
from services.web.views import SignedIn
from services.web.views.buyer import (
    DealCard,
    DealPage,
    DealsPage,
    Place,
    RefundState,
    VoucherCard,
    VoucherPage,
    VouchersPage,
)

# "My vouchers" reads this many pages of local_life's (100 each): older vouchers than that are left out, and said so.
VOUCHER_PAGES = 3


def _deal_card(deal: dict[str, Any], store: dict[str, Any] | None, metres: float | None) -> DealCard:
    return DealCard(
        deal_id=deal["deal_id"],
        title=deal["title"],
        price_minor=deal["price_minor"],
        original_value_minor=deal["original_value_minor"],
        currency=deal["currency"],
        vouchers_per_purchase=deal["vouchers_per_purchase"],
        team_size=deal.get("team_size"),
        store_name=store["name"] if store else None,
        distance_m=metres,
    )


async def deals_page(apis: Apis, user: SignedIn, values: dict[str, str], default: tuple[float, float]) -> DealsPage:
    """Deals with their nearest store within the radius, nearest first (where the buyer said, or the default
    point); or, with `q`, deals found by title, best match first."""
    where = read_where(values, default)
    q = values.get("q", "").strip()[:100]
    page = DealsPage(where=where, q=q, deals=[], next_cursor=None, radii=RADII_M)
    if where.errors:
        page.status = 422
        return page
    point = where.where

    async def nearby(after: str | None) -> Any:
        params: dict[str, str | int] = {"lat": str(point.lat), "lng": str(point.lng), "radius_m": point.radius_m}
        params |= {"limit": 20} | ({"cursor": after} if after else {})
        return await apis.call("local_life", "GET", "/deals/nearby", user.token, params=params)

    async def found(after: str | None) -> Any:
        params: dict[str, str | int] = {"q": q, "limit": 20} | ({"cursor": after} if after else {})
        return await apis.call("local_life", "GET", "/deals", user.token, params=params)

    answer = await listing(found if q else nearby, values.get("cursor") or None)
    if q:
        page.deals = [_deal_card(item["deal"], None, None) for item in answer["items"]]
    else:
        page.deals = [_deal_card(item["deal"], item["store"], item["distance_m"]) for item in answer["items"]]
    page.next_cursor = answer.get("next_cursor")
    return page


async def deal_page(
    apis: Apis, user: SignedIn, deal_id: str, values: dict[str, str], default: tuple[float, float], language: str
) -> DealPage:
    """A published deal's terms, what is left, its stores (nearest first, with their opening hours) and a fresh buy
    form (an ended or unknown deal is local_life's 404, and the page's)."""
    public = await apis.call("local_life", "GET", f"/deals/{path_id(deal_id)}", user.token)
    where = read_where(values, default)
    point = where.where
    places = [
        Place(
            store_id=s["store_id"],
            name=s["name"],
            address=s["address"],
            phone=s.get("phone", ""),
            timezone=s["timezone"],
            status=s["status"],
            distance_m=distance_m(point.lat, point.lng, s["lat"], s["lng"]),
            days=opening_days(s["opening_hours"], language),
        )
        for s in public["stores"]
    ]
    places.sort(key=lambda p: (p.status != "open", p.distance_m or 0))
    return DealPage(
        deal=public["deal"]
        | {
            "valid_from": moment(public["deal"].get("valid_from")),
            "valid_until": moment(public["deal"].get("valid_until")),
        },
        places=places,
        remaining=public.get("remaining"),
        key=str(uuid.uuid4()),
        where_query=urlencode({"lat": point.lat, "lng": point.lng}) if not where.errors else "",
        usable_on=weekday_names(public["deal"].get("usage_weekdays") or list(range(7)), language),
    )


# --- vouchers --------------------------------------------------------------------------------------------------------


async def vouchers_page(apis: Apis, user: SignedIn, now: datetime) -> VouchersPage:
    """My vouchers, newest first, grouped: ready to use, used, refunded (or under way), expired."""
    items, more = await all_pages(apis, "local_life", "/vouchers", user.token, VOUCHER_PAGES)
    groups: dict[str, list[VoucherCard]] = {"usable": [], "used": [], "refunded": [], "expired": []}
    for v in items:
        valid_until = datetime.fromisoformat(v["valid_until"])
        groups[voucher_group(v["status"], valid_until, now)].append(
            VoucherCard(
                voucher_id=v["voucher_id"],
                deal_id=v["deal_id"],
                deal_title=v["deal_title"],
                status=v["status"],
                valid_until=valid_until,
                redeemed_at=moment(v.get("redeemed_at")),
            )
        )
    return VouchersPage(groups=groups, more=more)


def _dated(voucher: dict[str, Any]) -> dict[str, Any]:
    return (
        voucher
        | {name: moment(voucher.get(name)) for name in ("valid_from", "valid_until", "issued_at", "redeemed_at")}
        | {
            "redemptions": [
                r | {"redeemed_at": moment(r["redeemed_at"]), "undone_at": moment(r.get("undone_at"))}
                for r in voucher.get("redemptions", [])
            ]
        }
    )


async def refund_state(apis: Apis, user: SignedIn, voucher_id: str, refund_id: str) -> RefundState:
    """A refund the buyer asked for, as local_life follows it (another's: 404)."""
    refund = await apis.call("local_life", "GET", f"/vouchers/refunds/{path_id(refund_id)}", user.token)
    return RefundState(
        refund_id=refund["refund_id"],
        voucher_id=voucher_id,
        status=refund["status"],
        amount_minor=refund["amount_minor"],
        refunded_minor=refund.get("refunded_minor"),
        currency=refund.get("currency"),
        failure_reason=refund.get("failure_reason"),
        voucher_count=len(refund["voucher_ids"]),
    )


async def _vouchers_per_purchase(apis: Apis, user: SignedIn, deal_id: str) -> int | None:
    """How many vouchers one purchase of the deal gives (None once the deal ended: local_life no longer shows it)."""
    try:
        public = await apis.call("local_life", "GET", f"/deals/{path_id(deal_id)}", user.token)
    except ApiRefused as refused:
        if refused.status != 404:
            raise
        return None
    return int(public["deal"]["vouchers_per_purchase"])


async def voucher_page(
    apis: Apis, user: SignedIn, voucher_id: str, refund_id: str | None, now: datetime
) -> VoucherPage:
    """One of my vouchers: code and QR code to show at the counter, state, redemptions, and the refund form while
    unused (another buyer's voucher is local_life's 404, and the page's)."""
    voucher = await apis.call("local_life", "GET", f"/vouchers/{path_id(voucher_id)}", user.token)
    siblings: list[dict[str, Any]] = []
    card = False
    if voucher["status"] == "unused":
        # A multi-visit card is refunded whole: the other unused vouchers of the same order line are offered too.
        items, _more = await all_pages(apis, "local_life", "/vouchers", user.token, VOUCHER_PAGES)
        siblings = [
            v
            for v in items
            if v["order_id"] == voucher["order_id"]
            and v["line_no"] == voucher["line_no"]
            and v["status"] == "unused"
            and v["voucher_id"] != voucher["voucher_id"]
        ]
        card = bool(siblings) and await _vouchers_per_purchase(apis, user, voucher["deal_id"]) != 1
    page = VoucherPage(
        voucher=_dated(voucher),
        qr=qr_data_uri(voucher["qr"]),
        group=voucher_group(voucher["status"], datetime.fromisoformat(voucher["valid_until"]), now),
        key=str(uuid.uuid4()),
        siblings=siblings,
        card=card,
    )
    if refund_id:
        page.refund = await refund_state(apis, user, voucher_id, refund_id)
    return page


async def refund_vouchers(
    apis: Apis, user: SignedIn, voucher_id: str, voucher_ids: list[str], key: str, now: datetime
) -> tuple[str | None, VoucherPage | None]:
    """Ask local_life to refund the chosen unused vouchers (this one among them): (the refund's id, None), or
    (None, the voucher's page with local_life's refusal)."""
    chosen = list(dict.fromkeys([voucher_id, *voucher_ids]))
    try:
        refund = await apis.call(
            "local_life", "POST", "/vouchers/refund", user.token, json={"voucher_ids": chosen}, key=key or None
        )
    except ApiRefused as refused:
        shown(refused)  # another buyer's voucher: local_life's 404, the page's
        page = await voucher_page(apis, user, voucher_id, None, now)
        page.error, page.status = refused.detail, refused.status
        return None, page
    return str(refund["refund_id"]), None
