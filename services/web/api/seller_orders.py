"""The seller back office (merchant): orders with filters, an order's timeline and its ship form, the after-sales
queue and its moves."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
