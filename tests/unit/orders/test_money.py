"""Money given back exactly once: pricing a grant's units (their share of the discount) and the caps a grant meets."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from services.orders.domain import money
from services.orders.domain.money import GrantRefusal, LedgerLine, plan_grant


def line(
    line_no: int = 0,
    *,
    quantity: int = 3,
    unit: int = 1000,
    discount: int = 0,
    shipped: int | None = None,
    cancelled: int = 0,
    requested: int = 0,
    granted: int = 0,
) -> LedgerLine:
    return LedgerLine(
        line_no=line_no,
        quantity=quantity,
        unit_price_minor=unit,
        discount_minor=discount,
        shipped_qty=quantity - cancelled if shipped is None else shipped,
        cancelled_qty=cancelled,
        refund_requested_qty=requested,
        granted_amount_minor=granted,
    )


def test_units_carry_their_cumulative_share_of_the_discount() -> None:
    # 3 units of 10.00 with 1.00 off the line: the shares are 33, 33 and 34 (floor(D*n/Q), cumulative).
    assert [money.units_amount(1000, 100, 3, r, 1) for r in range(3)] == [967, 967, 966]
    assert money.units_amount(1000, 100, 3, 0, 2) == 1934
    assert money.units_amount(1000, 100, 3, 0, 3) == 2900


def test_a_grant_is_priced_per_line_and_summed() -> None:
    ledger = {0: line(0, quantity=3, unit=1000, discount=100), 1: line(1, quantity=1, unit=500)}
    plan = plan_grant(ledger, [(0, 2), (1, 1)], captured_minor=3400, granted_minor=0)
    assert plan.refusal is None
    assert [(p.line_no, p.quantity, p.amount_minor) for p in plan.lines] == [(0, 2, 1934), (1, 1, 500)]
    assert plan.amount_minor == 2434


def test_units_not_shipped_nor_cancelled_are_not_refundable() -> None:
    ledger = {0: line(quantity=3, shipped=1)}
    assert plan_grant(ledger, [(0, 2)], captured_minor=3000, granted_minor=0).refusal == GrantRefusal.OVER_REFUNDABLE
    assert plan_grant(ledger, [(0, 1)], captured_minor=3000, granted_minor=0).refusal is None


def test_units_already_in_grants_are_not_refundable_again() -> None:
    ledger = {0: line(quantity=3, requested=2, granted=2000)}
    assert plan_grant(ledger, [(0, 2)], captured_minor=3000, granted_minor=2000).refusal == "over-refundable"
    assert plan_grant(ledger, [(0, 1)], captured_minor=3000, granted_minor=2000).amount_minor == 1000


def test_cancelled_units_are_refundable() -> None:
    ledger = {0: line(quantity=3, shipped=0, cancelled=3)}
    assert plan_grant(ledger, [(0, 3)], captured_minor=3000, granted_minor=0).amount_minor == 3000


def test_unknown_lines_nothing_or_the_same_line_twice_are_refused() -> None:
    ledger = {0: line()}
    for asked in ([], [(1, 1)], [(0, 0)], [(0, -1)], [(0, 1), (0, 1)]):
        assert plan_grant(ledger, asked, captured_minor=3000, granted_minor=0).refusal == "over-refundable", asked


def test_the_order_never_gives_back_more_than_it_captured() -> None:
    ledger = {0: line(quantity=3)}
    # Another path already gave 25.00 back (say, by hand): one more unit would pass the 30.00 captured.
    assert plan_grant(ledger, [(0, 1)], captured_minor=3000, granted_minor=2500).refusal == "over-captured"
    # An order not paid captured nothing.
    assert plan_grant(ledger, [(0, 1)], captured_minor=0, granted_minor=0).refusal == "over-captured"


def test_free_units_are_no_refund() -> None:
    ledger = {0: line(quantity=1, unit=0)}
    assert plan_grant(ledger, [(0, 1)], captured_minor=0, granted_minor=0).refusal == "over-captured"


def test_reasons_stripe_gives() -> None:
    assert money.stripe_refusal_reason("amount_too_large", "too much") == "stripe-refused: amount_too_large"
    assert (
        money.stripe_outcome_reason("failed", "expired_or_canceled_card") == "stripe-failed: expired_or_canceled_card"
    )
    assert money.stripe_outcome_reason("canceled", None) == "stripe-canceled: canceled"


# --- any sequence of grants -------------------------------------------------------------------------------


@st.composite
def order_lines(draw: st.DrawFn) -> list[LedgerLine]:
    count = draw(st.integers(1, 3))
    found = []
    for n in range(count):
        quantity = draw(st.integers(1, 12))
        unit = draw(st.integers(0, 5000))
        discount = draw(st.integers(0, unit * quantity))
        found.append(line(n, quantity=quantity, unit=unit, discount=discount))
    return found


@settings(max_examples=300, deadline=None)
@given(lines=order_lines(), data=st.data())
def test_any_sequence_of_grants_gives_back_exactly_what_was_paid_and_never_more(
    lines: list[LedgerLine], data: st.DataObject
) -> None:
    """Grants of random sizes, some failing (their units handed back, out of order), then the rest: the grants that
    stand add up to exactly unit*Q - D per line, and at no point do they pass the order's amount."""
    captured = sum(ln.unit_price_minor * ln.quantity - ln.discount_minor for ln in lines)
    ledger = {ln.line_no: ln for ln in lines}
    standing: dict[int, tuple[int, int, int]] = {}  # grant -> (line, quantity, amount)
    next_grant = 0

    def granted_total() -> int:
        return sum(amount for _, _, amount in standing.values())

    def grant(line_no: int, quantity: int) -> None:
        nonlocal next_grant
        plan = plan_grant(ledger, [(line_no, quantity)], captured_minor=captured, granted_minor=granted_total())
        current = ledger[line_no]
        if plan.refusal is not None:
            # Only free units (nothing to give back) are refused when asked within what is refundable.
            assert plan.refusal == "over-captured"
            assert money.line_amount_after(current, quantity) == 0
            return
        amount = plan.amount_minor
        assert amount >= 0
        standing[next_grant] = (line_no, quantity, amount)
        next_grant += 1
        ledger[line_no] = replace(
            current,
            refund_requested_qty=current.refund_requested_qty + quantity,
            granted_amount_minor=current.granted_amount_minor + amount,
        )
        assert granted_total() <= captured

    for _ in range(data.draw(st.integers(0, 8))):
        if standing and data.draw(st.booleans()):
            # A grant fails at Stripe: its units and amount are handed back.
            failed = data.draw(st.sampled_from(sorted(standing)))
            line_no, quantity, amount = standing.pop(failed)
            current = ledger[line_no]
            ledger[line_no] = replace(
                current,
                refund_requested_qty=current.refund_requested_qty - quantity,
                granted_amount_minor=current.granted_amount_minor - amount,
            )
            continue
        open_lines = [ln for ln in ledger.values() if ln.refundable > 0]
        if not open_lines:
            break
        chosen = data.draw(st.sampled_from(open_lines))
        grant(chosen.line_no, data.draw(st.integers(1, chosen.refundable)))
    for current in list(ledger.values()):
        if current.refundable:
            grant(current.line_no, current.refundable)
    for ln in lines:
        paid = ln.unit_price_minor * ln.quantity - ln.discount_minor
        given_back = sum(amount for line_no, _, amount in standing.values() if line_no == ln.line_no)
        assert given_back == paid, (ln, standing)
    assert granted_total() == captured


@settings(max_examples=300, deadline=None)
@given(
    quantity=st.integers(1, 20),
    unit=st.integers(0, 10_000),
    discount_ratio=st.floats(0, 1),
    cuts=st.lists(st.integers(1, 20), max_size=20),
)
def test_the_design_formula_in_parts_adds_up_to_the_line(
    quantity: int, unit: int, discount_ratio: float, cuts: list[int]
) -> None:
    """Without failures, q more units with r granted cost q*unit - (floor(D(r+q)/Q) - floor(D*r/Q)): the parts add
    up to unit*Q - D, each part never negative, and the plan prices the same."""
    discount = int(unit * quantity * discount_ratio)
    current = line(quantity=quantity, unit=unit, discount=discount)
    total = 0
    for cut in [*cuts, quantity]:
        q = min(cut, current.refundable)
        if q == 0:
            break
        part = money.units_amount(unit, discount, quantity, current.refund_requested_qty, q)
        assert part >= 0
        assert money.line_amount_after(current, q) == part
        total += part
        current = replace(
            current,
            refund_requested_qty=current.refund_requested_qty + q,
            granted_amount_minor=current.granted_amount_minor + part,
        )
    assert total == unit * quantity - discount
