"""Buyer pages (buyer): live now and followed hosts, host pages, product search and product pages, the cart, deals
nearby, my vouchers with their QR codes."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
