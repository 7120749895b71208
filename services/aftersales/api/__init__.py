"""The aftersales API: one module per resource; ROUTES gathers them for the app."""

from services.aftersales.api.cases import (
    accept_refund,
    cancel_case,
    escalate_case,
    get_case,
    list_cases,
    open_case,
    send_return,
)
from services.aftersales.api.operator_cases import decide_case, get_operator_case, list_operator_cases, retry_refund
from services.aftersales.api.seller_cases import (
    approve_case,
    confirm_receipt,
    get_seller_case,
    list_seller_cases,
    refuse_receipt,
    reject_case,
    ship_replacement,
)

ROUTES = [
    open_case,
    list_cases,
    get_case,
    send_return,
    cancel_case,
    escalate_case,
    accept_refund,
    list_seller_cases,
    get_seller_case,
    approve_case,
    reject_case,
    confirm_receipt,
    refuse_receipt,
    ship_replacement,
    list_operator_cases,
    get_operator_case,
    decide_case,
    retry_refund,
]
