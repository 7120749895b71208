"""The room page (buyers, and anyone): the room's cover, bag, pinned card, flash-sale button and coupons, live over
SSE; the relays of the room feed and the funnel feed as HTML fragments."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
