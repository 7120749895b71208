"""Which PaymentIntent's money a payment keeps: only its current one's."""

from __future__ import annotations

from services.orders.domain import is_superseded


def test_an_intent_other_than_the_stored_one_is_superseded() -> None:
    assert is_superseded("pi_current", 1, "pi_old", 0)
    assert is_superseded("pi_current", 0, "pi_twin", 0)
    assert not is_superseded("pi_current", 1, "pi_current", 1)


def test_with_none_stored_only_an_intent_of_an_earlier_attempt_is_superseded() -> None:
    # The current attempt's intent may take money before it is stored (its webhook can come first).
    assert not is_superseded(None, 2, "pi_new", 2)
    assert is_superseded(None, 2, "pi_given_up", 1)
    assert not is_superseded(None, 0, "pi_made_before_attempts_were_recorded", 0)
