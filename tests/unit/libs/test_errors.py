"""One way to refuse: a DomainError's kind gives its HTTP status, its code the problem type."""

from __future__ import annotations

import pytest

from libs.errors import KINDS, Conflict, DomainError, Invalid, NotFound
from libs.web.problems import STATUS, TYPE_PREFIX, problem_members, status_of


class SoldOut(Conflict):
    code = "sold-out"


def test_every_kind_has_exactly_one_status() -> None:
    assert set(STATUS) == set(KINDS)
    assert len(set(STATUS.values())) == len(STATUS)


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_a_refusal_answers_the_status_of_its_kind(kind: type[DomainError]) -> None:
    class Refusal(kind):  # type: ignore[valid-type, misc]
        code = "some-refusal"

    assert status_of(Refusal("no")) == STATUS[kind]


def test_problem_members_name_the_code_the_field_and_the_extras() -> None:
    body = problem_members(SoldOut("every unit is taken", field="quantity", available=0))
    assert body == {
        "type": TYPE_PREFIX + "sold-out",
        "title": "Conflict",
        "status": 409,
        "detail": "every unit is taken",
        "field": "quantity",
        "errors": [{"field": "quantity", "message": "every unit is taken"}],
        "available": 0,
    }


def test_a_family_of_refusals_may_name_its_code_per_field() -> None:
    refusal = Invalid("duration_s must be 10 to 86400", field="duration_s", code="invalid-duration-s")
    assert problem_members(refusal)["type"] == TYPE_PREFIX + "invalid-duration-s"
    assert Invalid("x").code == "invalid"  # the class keeps its own


def test_a_refusal_of_no_kind_is_a_bad_request_not_a_server_error() -> None:
    assert status_of(DomainError("unclassified")) == 400
    assert status_of(NotFound("no such room")) == 404
