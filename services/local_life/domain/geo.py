"""Great-circle distance and the bounding box that finds candidate stores: pure arithmetic, no extension."""

from __future__ import annotations

import math

import msgspec

# The mean Earth radius (IUGG), the sphere every distance in local_life is measured on.
EARTH_RADIUS_M = 6_371_008.8


class Box(msgspec.Struct, frozen=True, kw_only=True):
    """Latitudes [min_lat, max_lat] and one or two longitude ranges (two when the box crosses the antimeridian)."""

    min_lat: float
    max_lat: float
    lng_ranges: tuple[tuple[float, float], ...]


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Metres between two points on the sphere of EARTH_RADIUS_M (the formula the SQL uses)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bounding_box(lat: float, lng: float, radius_m: float) -> Box:
    """Every point within radius_m of (lat, lng) lies in the box (Matuschek's method).

    Near a pole (the circle reaches it) every longitude is in; across the antimeridian the longitudes split in two.
    """
    # A hair wider than the circle, so a store right on its edge is not lost to rounding in the box's arithmetic.
    angular = radius_m / EARTH_RADIUS_M * (1 + 1e-9) + 1e-12
    phi = math.radians(lat)
    min_phi, max_phi = phi - angular, phi + angular
    if min_phi <= -math.pi / 2 or max_phi >= math.pi / 2:
        return Box(
            min_lat=math.degrees(max(min_phi, -math.pi / 2)),
            max_lat=math.degrees(min(max_phi, math.pi / 2)),
            lng_ranges=((-180.0, 180.0),),
        )
    ratio = math.sin(angular) / math.cos(phi)
    if ratio >= 1:  # not reached within the latitude limits above; kept for safety
        return Box(min_lat=math.degrees(min_phi), max_lat=math.degrees(max_phi), lng_ranges=((-180.0, 180.0),))
    delta = math.degrees(math.asin(ratio))
    west, east = lng - delta, lng + delta
    if west < -180:
        ranges = ((west + 360, 180.0), (-180.0, east))
    elif east > 180:
        ranges = ((west, 180.0), (-180.0, east - 360))
    else:
        ranges = ((west, east),)
    return Box(min_lat=math.degrees(min_phi), max_lat=math.degrees(max_phi), lng_ranges=ranges)


# Coordinates are kept to 7 decimal places (about 1 cm): finer is noise for a shop's door, and it keeps the haversine
# in SQL away from subnormal numbers, whose squares PostgreSQL refuses as an underflow instead of rounding to 0.
COORDINATE_PLACES = 7


def coordinate(degrees: float) -> float:
    """A latitude or longitude as stored and searched: rounded to COORDINATE_PLACES."""
    return round(degrees, COORDINATE_PLACES) + 0.0
