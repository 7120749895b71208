"""The seller back office (merchant): live rooms (schedule, review with funnel charts), short videos with anchors,
customers by segment."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
