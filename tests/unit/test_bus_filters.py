"""The single-filter fallback for NATS servers older than 2.10."""

from libs.bus.consumer import narrowest


def test_subjects_of_one_aggregate_narrow_to_that_aggregate() -> None:
    subjects = ["ns.shop.product.published.v1", "ns.shop.product.updated.v1"]
    assert narrowest(subjects) == "ns.shop.product.>"


def test_subjects_of_different_aggregates_narrow_to_their_service() -> None:
    assert narrowest(["orders.order.paid.v1", "orders.refund.issued.v1"]) == "orders.>"
