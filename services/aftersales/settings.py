"""What aftersales reads from the environment: the deadlines of a case and its limits."""

from __future__ import annotations

from libs.settings import Settings

_HOUR = 3600
_DAY = 24 * _HOUR


class AftersalesSettings(Settings, kw_only=True):
    """aftersales' settings (`LIVELOOP_<FIELD>`): each deadline is stored on a case when it enters the state, so a
    change applies to cases entering it afterwards."""

    # requested: the merchant approves or rejects within this, or the case is approved.
    merchant_response_s: int = 48 * _HOUR
    # rejected / receipt refused: the buyer may escalate to an operator within this, or the case closes.
    escalation_window_s: int = 48 * _HOUR
    # awaiting return: the buyer sends the return's tracking number within this, or the case closes.
    return_ship_s: int = 5 * _DAY
    # return in transit: the merchant confirms or refuses receipt within this, or receipt is confirmed.
    receipt_confirm_s: int = 8 * _DAY
    # exchange: the merchant ships the replacement within this, or the case goes to an operator.
    replacement_ship_s: int = 48 * _HOUR
    # exchange out of stock: the buyer takes the refund offered within this, or it is taken for them.
    refund_offer_s: int = 48 * _HOUR
    # A case may be opened until this long after the order was delivered (any time before delivery).
    case_window_s: int = 15 * _DAY
    # At most this many cases per order line, whatever became of them.
    max_cases_per_line: int = 3
