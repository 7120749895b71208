"""The seller back office (merchant): stores and their clerks, deals, redemptions per store per day."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
