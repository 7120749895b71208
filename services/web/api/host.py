"""The host console (host): the host's rooms, and the screen beside the camera: go live and end, the bag, pin,
flash sales and coupon drops, viewers and the funnel, live over SSE."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
