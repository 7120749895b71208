"""Pure rules of coupon drops: which offers make sense, when a claim is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from libs.errors import DomainError
from libs.web.problems import status_of
from services.live.coupons import domain, views
from services.live.coupons.domain import NewCouponDrop

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MERCHANT = "0b5d3f0e-8a41-4c3e-9a57-3c1f7f1e2a10"


def asked(**fields: object) -> NewCouponDrop:
    body: dict[str, object] = {
        "kind": "amount_off",
        "amount_off_minor": 500,
        "currency": "USD",
        "min_spend_minor": 2000,
        "per_buyer_limit": 1,
        "total": 100,
        "valid_until": (NOW + timedelta(hours=1)).isoformat(),
    }
    body.update(fields)
    return msgspec.convert({k: v for k, v in body.items() if v is not None}, NewCouponDrop)


def refused_field(**fields: object) -> str | None:
    with pytest.raises(DomainError) as caught:
        domain.drop_terms(asked(**fields), NOW)
    assert status_of(caught.value) == 400
    return caught.value.field


def test_amount_off_drop_keeps_its_terms() -> None:
    terms = domain.drop_terms(asked(), NOW)
    assert (terms.kind, terms.amount_off_minor, terms.percent_off, terms.currency, terms.min_spend_minor) == (
        "amount_off",
        500,
        0,
        "USD",
        2000,
    )


def test_percent_off_drop_keeps_its_percentage() -> None:
    terms = domain.drop_terms(asked(kind="percent_off", amount_off_minor=None, percent_off=15), NOW)
    assert (terms.kind, terms.amount_off_minor, terms.percent_off) == ("percent_off", 0, 15)


def test_amount_off_needs_an_amount_of_at_least_one() -> None:
    assert refused_field(amount_off_minor=None) == "amount_off_minor"
    assert refused_field(amount_off_minor=0) == "amount_off_minor"


def test_amount_off_takes_no_percentage() -> None:
    assert refused_field(percent_off=10) == "percent_off"


def test_percent_off_needs_a_percentage_and_no_amount() -> None:
    assert refused_field(kind="percent_off", amount_off_minor=None) == "percent_off"
    assert refused_field(kind="percent_off", percent_off=10) == "amount_off_minor"


@pytest.mark.parametrize("percent", [0, 101, -5])
def test_percentage_outside_1_to_100_is_not_a_valid_body(percent: int) -> None:
    with pytest.raises(msgspec.ValidationError, match="percent_off"):
        asked(kind="percent_off", amount_off_minor=None, percent_off=percent)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", "free_shipping"),
        ("currency", "usd"),
        ("currency", None),
        ("min_spend_minor", -1),
        ("per_buyer_limit", 0),
        ("total", 0),
        ("total", domain.MAX_TOTAL + 1),
        ("amount_off_minor", -100),
    ],
)
def test_malformed_terms_are_not_a_valid_body(field: str, value: object) -> None:
    with pytest.raises(msgspec.ValidationError, match=field):
        asked(**{field: value})


def test_valid_until_without_time_zone_is_not_a_valid_body() -> None:
    with pytest.raises(msgspec.ValidationError, match="valid_until"):
        asked(valid_until="2030-01-01T00:00:00")


def test_valid_until_must_be_in_the_future() -> None:
    assert refused_field(valid_until=NOW.isoformat()) == "valid_until"
    assert refused_field(valid_until=(NOW - timedelta(seconds=1)).isoformat()) == "valid_until"


def test_per_buyer_limit_cannot_exceed_total() -> None:
    assert refused_field(per_buyer_limit=3, total=2) == "per_buyer_limit"


def _drop_code(**state: object) -> str | None:
    base: dict = {"status": "open", "valid_until": NOW + timedelta(minutes=1), "claimed": 3, "total": 10, "now": NOW}
    base.update(state)
    refusal = domain.drop_refusal(**base)
    return refusal.code if refusal else None


def test_a_claim_is_refused_on_an_ended_expired_or_claimed_out_drop() -> None:
    assert _drop_code() is None
    assert _drop_code(status="ended") == "drop-ended"
    assert _drop_code(valid_until=NOW) == "drop-expired"
    assert _drop_code(claimed=10) == "claimed-out"


def test_a_buyer_at_the_limit_may_claim_no_more() -> None:
    assert domain.limit_refusal(mine=1, per_buyer_limit=2) is None
    refusal = domain.limit_refusal(mine=2, per_buyer_limit=2)
    assert refusal is not None
    assert (status_of(refusal), refusal.code) == (409, "claim-limit-reached")


def test_my_coupons_cursor_round_trips_and_refuses_forgeries() -> None:
    coupon = views.MyCoupon(
        coupon_id="2a3e4f50-1111-4222-8333-444455556666",
        drop_id="d",
        room_id="r",
        merchant_id=MERCHANT,
        kind="amount_off",
        amount_off_minor=500,
        percent_off=0,
        currency="USD",
        min_spend_minor=0,
        valid_until=NOW,
        claimed_at=NOW,
    )
    assert domain.decode_cursor(domain.encode_cursor(coupon)) == (NOW, coupon.coupon_id)
    for forged in ("not-base64!", "eyJhIjoxfQ", ""):
        with pytest.raises(DomainError) as caught:
            domain.decode_cursor(forged)
        assert caught.value.field == "cursor"
