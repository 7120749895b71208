"""local_life's pure rules: great-circle distance, the bounding box that must hold every nearby store, deal terms."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest

from libs.errors import Invalid
from services.local_life.domain import DealTerms, check_opening_hours, check_terms
from services.local_life.domain.geo import EARTH_RADIUS_M, bounding_box, haversine_m


def _inside(box, lat: float, lng: float) -> bool:
    return box.min_lat <= lat <= box.max_lat and any(lo <= lng <= hi for lo, hi in box.lng_ranges)


def test_one_degree_of_latitude_is_the_spheres_arc() -> None:
    assert haversine_m(0, 0, 1, 0) == pytest.approx(EARTH_RADIUS_M * math.pi / 180, rel=1e-12)
    assert haversine_m(10, 170, 10, 170) == 0


def test_the_box_holds_every_point_within_the_radius_even_at_the_poles_and_the_antimeridian() -> None:
    rng = random.Random(7)
    centres = [(0, 179.999), (-17, -179.99), (89.99, 0), (-89.99, 45), (60, -179.5), (31.2, 121.5)]
    centres += [(rng.uniform(-89.9, 89.9), rng.uniform(-180, 180)) for _ in range(200)]
    for lat, lng in centres:
        radius = rng.choice([1, 500, 5000, 50_000])
        box = bounding_box(lat, lng, radius)
        for _ in range(50):
            # A point at a random bearing, at or just inside the radius.
            bearing, d = rng.uniform(0, 2 * math.pi), radius * rng.uniform(0.5, 1.0) / EARTH_RADIUS_M
            p1, l1 = math.radians(lat), math.radians(lng)
            p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(bearing))
            l2 = l1 + math.atan2(
                math.sin(bearing) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
            )
            plat, plng = math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180
            if haversine_m(lat, lng, plat, plng) <= radius:
                assert _inside(box, plat, plng), (lat, lng, radius, plat, plng, box)


def test_the_box_splits_across_the_antimeridian_and_opens_at_a_pole() -> None:
    assert len(bounding_box(0, 179.99, 5000).lng_ranges) == 2
    assert bounding_box(89.99, 0, 5000).lng_ranges == ((-180.0, 180.0),)
    assert len(bounding_box(31.2, 121.5, 5000).lng_ranges) == 1


def _terms(**fields) -> DealTerms:
    base = {"title": "T", "price_minor": 100, "original_value_minor": 200, "currency": "CNY", "valid_days": 30}
    return DealTerms(**(base | fields))


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        (
            {"valid_from": datetime(2030, 1, 1, tzinfo=UTC), "valid_until": datetime(2030, 2, 1, tzinfo=UTC)},
            "validity-both",
            "valid_days",
        ),
        ({"valid_days": None}, "validity-missing", "valid_days"),
        ({"valid_days": None, "valid_until": datetime(2030, 2, 1, tzinfo=UTC)}, "validity-window", "valid_from"),
        ({"original_value_minor": 99}, "value-below-price", "original_value_minor"),
        ({"usage_weekdays": [0, 8]}, "invalid-weekday", "usage_weekdays[1]"),
        ({"usage_hours": ["10:00", "10:00"]}, "invalid-hours", "usage_hours"),
        ({"usage_hours": ["10:00", "25:00"]}, "invalid-hours", "usage_hours[1]"),
    ],
)
def test_terms_that_make_no_sense_are_refused_naming_the_field(fields, code, field) -> None:
    with pytest.raises(Invalid) as refused:
        check_terms(_terms(**fields))
    assert (refused.value.code, refused.value.field) == (code, field)


def test_good_terms_come_back_with_weekdays_in_order() -> None:
    assert check_terms(_terms(usage_weekdays=[6, 0], usage_hours=["10:00", "24:00"])).usage_weekdays == [0, 6]


def test_opening_hours_are_sorted_and_may_not_overlap() -> None:
    assert check_opening_hours({2: [["17:00", "22:00"], ["09:00", "12:00"]]}) == {
        "2": [["09:00", "12:00"], ["17:00", "22:00"]]
    }
    with pytest.raises(Invalid) as refused:
        check_opening_hours({2: [["09:00", "12:00"], ["11:00", "13:00"]]})
    assert refused.value.field == "opening_hours.2"
