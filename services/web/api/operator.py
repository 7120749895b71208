"""The operator's pages (operator): the arbitration queue and a case's ruling."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Request, Response, get, post
from litestar.response import Template

from services.web.api import apis_of, form_of, page, redirect, user_in_role
from services.web.use_cases import operator as use_case
from services.web.views.orders import CasePage


def _now() -> datetime:
    return datetime.now(UTC)


def _case(request: Request, case: CasePage) -> Template:
    return page(request, "operator/case.html", status=case.refusal.status if case.refusal else 200, page=case)


@get("/operator/cases")
async def cases(request: Request) -> Template:
    """Escalated cases and failed refunds, longest waiting first."""
    user = user_in_role(request, "operator")
    return page(request, "operator/cases.html", page=await use_case.queue(apis_of(request), user, _now()))


@get("/operator/cases/{case_id:str}")
async def case(request: Request, case_id: str) -> Template:
    """A case with its history and both sides' words; rule on it, or retry its failed refund."""
    user = user_in_role(request, "operator")
    return _case(request, await use_case.case_page(apis_of(request), user, case_id, _now()))


@post("/operator/cases/{case_id:str}/{move:str}")
async def case_move(request: Request, case_id: str, move: str) -> Response[None] | Template:
    """decide (in whose favour, a note) or retry-refund; aftersales' refusal shown on the case."""
    user = user_in_role(request, "operator")
    values = await form_of(request)
    refused = await use_case.operator_move(apis_of(request), user, case_id, move, values, _now())
    return _case(request, refused) if refused else redirect(f"/operator/cases/{case_id}")


ROUTES = [cases, case, case_move]
