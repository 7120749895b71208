"""Product search: what a query asks for, and the cursors that continue its pages (bound to the query)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

import msgspec

from libs.ids import canonical_uuid, is_uuid
from services.shop.domain.refusals import InvalidCursor, InvalidPriceRange, InvalidQuery

# Shorter queries have too few trigrams to rank by; they match as a substring (as local_life's deal search).
FUZZY_FROM = 3
# What a `merchant_id` filter that is no UUID becomes: a merchant nobody is, so the search finds nothing.
NOBODY = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class ProductQuery:
    """What a buyer searches for: words of a title (or none: newest first), a price range, a stock state."""

    q: str | None
    min_price_minor: int | None
    max_price_minor: int | None
    in_stock: bool | None
    # One merchant's products only (a host picking what to sell in a room); None: every merchant's.
    merchant_id: str | None = None

    @property
    def fuzzy(self) -> bool:
        return self.q is not None and len(self.q) >= FUZZY_FROM

    @property
    def pattern(self) -> str | None:
        """q as an ILIKE substring pattern, its wildcards escaped."""
        if self.q is None:
            return None
        escaped = self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"%{escaped}%"


def product_query(
    q: str | None,
    min_price_minor: int | None,
    max_price_minor: int | None,
    in_stock: bool | None,
    merchant_id: str | None = None,
) -> ProductQuery:
    """The query checked: q has a character that is not a space; the price range is not upside down (422).

    A `merchant_id` that is no UUID names no merchant: the query stands, and finds nothing.
    """
    if q is not None:
        q = q.strip()
        if not q:
            raise InvalidQuery()
    if min_price_minor is not None and max_price_minor is not None and min_price_minor > max_price_minor:
        raise InvalidPriceRange()
    if merchant_id is not None:
        merchant_id = canonical_uuid(merchant_id) or NOBODY
    return ProductQuery(q, min_price_minor, max_price_minor, in_stock, merchant_id)


class _Cursor(msgspec.Struct, array_like=True):
    q: str | None
    min_price_minor: int | None
    max_price_minor: int | None
    in_stock: bool | None
    # Best match first: the score; newest first (no q): the creation time.
    score: float | None
    created_at: datetime | None
    product_id: str
    # Last, with a default: cursors given out before the filter existed still decode (as every merchant's).
    merchant_id: str | None = None


def _query_of(cursor: _Cursor) -> ProductQuery:
    return ProductQuery(cursor.q, cursor.min_price_minor, cursor.max_price_minor, cursor.in_stock, cursor.merchant_id)


def next_cursor(query: ProductQuery, *, score: float | None, created_at: datetime, product_id: str) -> str:
    """The position after a page of /products, bound to the query and its filters."""
    cursor = _Cursor(
        query.q,
        query.min_price_minor,
        query.max_price_minor,
        query.in_stock,
        score,
        None if query.q is not None else created_at,
        product_id,
        query.merchant_id,
    )
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).decode().rstrip("=")


def after(cursor: str, query: ProductQuery) -> tuple[float | datetime, str]:
    """(score or creation time, product id) a cursor names; refused if not ours or given out for another query."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = msgspec.json.decode(raw, type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise InvalidCursor() from exc
    position = decoded.score if query.q is not None else decoded.created_at
    if _query_of(decoded) != query or position is None or not is_uuid(decoded.product_id):
        raise InvalidCursor()
    return position, decoded.product_id
