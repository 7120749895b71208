"""The operator's arbitration queue: aftersales' operator API with the operator's token, and shop's public merchant
profile (the merchant's name, and the currency the case's money is in: an operator reads no one's orders)."""

from __future__ import annotations

from datetime import datetime

from services.web.adapters.apis import ApiRefused, Apis
from services.web.domain.orders import OPERATOR_MOVES, moves_for, read_ruling, with_times
from services.web.use_cases.orders import case_lines, case_move, q
from services.web.views import SignedIn
from services.web.views.orders import CaseList, CasePage

QUEUE_SIZE = 100


async def queue(apis: Apis, user: SignedIn, now: datetime) -> CaseList:
    """Escalated cases and failed refunds, longest waiting first."""
    answer = await apis.call("aftersales", "GET", "/operator/cases", user.token, params={"limit": QUEUE_SIZE})
    return CaseList(items=with_times(answer["items"]), status="", next_cursor=None, now=now)


async def case_page(apis: Apis, user: SignedIn, case_id: str, now: datetime) -> CasePage:
    """A case with its history and both sides' words (the buyer's description and evidence, the merchant's reasons),
    the merchant, and the operator's moves in its state."""
    case = with_times(await apis.call("aftersales", "GET", f"/operator/cases/{q(case_id)}", user.token))
    try:
        merchant = await apis.call("shop", "GET", f"/merchants/{q(case['merchant_id'])}", user.token)
    except ApiRefused as refused:
        if refused.status != 404:
            raise
        merchant = {}
    return CasePage(
        case=case,
        lines=case_lines(case, None),
        currency=merchant.get("currency"),
        moves=moves_for(case["status"], OPERATOR_MOVES),
        now=now,
        merchant_name=merchant.get("name"),
    )


async def operator_move(
    apis: Apis, user: SignedIn, case_id: str, move: str, values: dict[str, str], now: datetime
) -> CasePage | None:
    """Rule on an escalated case (for whom, and a note both sides read) or retry a failed refund: None when done,
    else the case's page with aftersales' refusal."""
    if move not in ("decide", "retry-refund"):
        raise ApiRefused(404, "no such move", code="not-found", service="aftersales")

    async def reload() -> CasePage:
        return await case_page(apis, user, case_id, now)

    path = f"/operator/cases/{q(case_id)}/{move}"
    if move == "retry-refund":
        return await case_move(apis, user, path, None, {}, values, reload)
    body, errors = read_ruling(values)
    return await case_move(apis, user, path, body, errors, values, reload)
