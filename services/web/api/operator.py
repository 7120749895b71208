"""The operator's pages (operator): the arbitration queue and a case's ruling."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
