"""Buyer pages (buyer): checkout and paying, my orders with tracking, my after-sales cases and opening one."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
