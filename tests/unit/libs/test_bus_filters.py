"""Consumer policies: the single-filter fallback for NATS < 2.10, and which failures are transient."""

from libs.bus.consumer import narrowest


def test_subjects_of_one_aggregate_narrow_to_that_aggregate() -> None:
    subjects = ["ns.shop.product.published.v1", "ns.shop.product.updated.v1"]
    assert narrowest(subjects) == "ns.shop.product.>"


def test_subjects_of_different_aggregates_narrow_to_their_service() -> None:
    assert narrowest(["orders.order.paid.v1", "orders.refund.issued.v1"]) == "orders.>"


def test_database_and_network_trouble_is_transient_but_a_bad_event_is_not() -> None:
    import asyncpg

    from libs.bus.consumer import is_transient

    assert is_transient(asyncpg.exceptions.TooManyConnectionsError("too many clients"))
    assert is_transient(asyncpg.exceptions.ConnectionDoesNotExistError("gone"))
    assert is_transient(ConnectionResetError())
    assert is_transient(asyncpg.exceptions.DeadlockDetectedError("deadlock"))
    # A pooled connection Postgres closed at shutdown, used again (seen in the infrastructure fault suite).
    assert is_transient(asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation"))
    assert not is_transient(asyncpg.exceptions.UniqueViolationError("dup"))
    assert not is_transient(KeyError("unknown subject"))
    assert not is_transient(ValueError("bad payload"))
