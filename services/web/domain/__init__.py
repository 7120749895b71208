"""What the pages show, without I/O: money in and out of forms, deadlines, the signed session, the product form.

Pure functions of their arguments (the clock is passed in), unit-testable without a server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from babel.dates import format_datetime, format_timedelta
from babel.numbers import format_currency, get_currency_precision

# The languages a page can be read in: the cookie's value -> the Babel locale used for numbers and dates.
LANGUAGES: dict[str, str] = {"en": "en", "zh_Hans": "zh_Hans_CN"}
DEFAULT_LANGUAGE = "en"
# What the dev sign-in offers: a demo user per role, the same `sub`s `make up` mints tokens for (devstack/seed.py).
DEMO_USERS: dict[str, str] = {
    "merchant": "merchant-demo",
    "host": "host-demo",
    "buyer": "buyer-demo",
    "clerk": "clerk-demo",
    "operator": "operator-demo",
}


# Each role's menu: (path, label msgid); the first is the role's home, where signing in lands.
NAV: dict[str, tuple[tuple[str, str], ...]] = {
    "merchant": (
        ("/seller", "Today"),
        ("/seller/products", "Products"),
        ("/seller/orders", "Orders"),
        ("/seller/cases", "After-sales"),
        ("/seller/rooms", "Live rooms"),
        ("/seller/videos", "Videos"),
        ("/seller/stores", "Stores"),
        ("/seller/deals", "Deals"),
        ("/seller/redemptions", "Redemptions"),
        ("/seller/customers", "Customers"),
    ),
    "host": (("/host", "Console"),),
    "buyer": (
        ("/live", "Live now"),
        ("/search", "Search"),
        ("/deals", "Deals nearby"),
        ("/cart", "Cart"),
        ("/orders", "My orders"),
        ("/cases", "After-sales"),
        ("/vouchers", "My vouchers"),
    ),
    "clerk": (("/counter", "Counter"),),
    "operator": (("/operator/cases", "Disputes"),),
}


def nav_links(role: str) -> tuple[tuple[str, str], ...]:
    """The menu of `role` (none for a role without pages)."""
    return NAV.get(role, ())


def language_of(value: str | None) -> str:
    """A known language code, or the default."""
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


# --- money -------------------------------------------------------------------------------------------------------


def money(amount_minor: int, currency: str, language: str = DEFAULT_LANGUAGE) -> str:
    """`$12.50`, `US$12.50` in Chinese: minor units in the currency's own precision."""
    precision = get_currency_precision(currency)
    amount = Decimal(amount_minor).scaleb(-precision)
    return format_currency(amount, currency, locale=LANGUAGES[language_of(language)])


class NotAnAmount(ValueError):
    """What a person typed is not an amount of that currency; the message says why (a msgid to translate)."""


_AMOUNT = re.compile(r"^\d+(\.\d*)?$|^\.\d+$")


def parse_amount(text: str, currency: str) -> int:
    """`12.5` in USD -> 1250 minor units; refuses signs, thousands separators and more decimals than the currency."""
    cleaned = text.strip()
    if not cleaned or not _AMOUNT.match(cleaned):
        raise NotAnAmount("Enter an amount such as 12.50")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation as exc:  # pragma: no cover - the pattern lets only decimals through
        raise NotAnAmount("Enter an amount such as 12.50") from exc
    precision = get_currency_precision(currency)
    minor = amount.scaleb(precision)
    if minor != minor.to_integral_value():
        raise NotAnAmount("Too many decimal places for this currency")
    return int(minor)


def parse_count(text: str) -> int:
    """A whole number of units, 0 or more."""
    cleaned = text.strip()
    if not cleaned.isdigit() or not cleaned.isascii():
        raise NotAnAmount("Enter a whole number, 0 or more")
    return int(cleaned)


# --- deadlines ---------------------------------------------------------------------------------------------------


def when(at: datetime | None, language: str = DEFAULT_LANGUAGE) -> str:
    """A moment as a person reads it (UTC)."""
    if at is None:
        return ""
    return format_datetime(at.astimezone(UTC), "yyyy-MM-dd HH:mm 'UTC'", locale=LANGUAGES[language_of(language)])


def due_in(at: datetime | None, now: datetime, language: str = DEFAULT_LANGUAGE) -> str:
    """`in 3 hours` / `2 hours ago`, from `now`."""
    if at is None:
        return ""
    return format_timedelta(
        at - now, add_direction=True, threshold=1.0, locale=LANGUAGES[language_of(language)], format="long"
    )


def start_of_day(now: datetime) -> datetime:
    """Midnight UTC of `now`'s day: where "today" starts on the seller's Today page."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def sum_by_currency(points: list[dict[str, int]]) -> dict[str, int]:
    """Per-minute amounts by currency added up."""
    total: dict[str, int] = {}
    for point in points:
        for currency, amount in point.items():
            total[currency] = total.get(currency, 0) + amount
    return total


# --- the session cookie --------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(payload: dict[str, object], secret: str) -> str:
    """`payload` as cookie text, signed with HMAC-SHA256 (readable by its holder: it carries nothing secret to them)."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    signature = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


def unseal(text: str, secret: str, now: float) -> dict[str, object] | None:
    """The payload `seal` signed, or None if the signature is wrong or it has expired (its `exp`, epoch seconds)."""
    body, _, signature = text.partition(".")
    if not body or not signature:
        return None
    expected = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(signature)):
            return None
        payload = json.loads(_unb64(body))
    except (ValueError, TypeError):
        return None
    if not isinstance(payload, dict):
        return None
    exp = payload.get("exp")
    if not isinstance(exp, int | float) or exp <= now:
        return None
    return payload


# --- the new-product form ----------------------------------------------------------------------------------------

SKU_FIELDS = ("name", "price", "stock")
NEW_PRODUCT_ROWS = 3
MAX_SKU_ROWS = 100


def sku_field(row: int, name: str) -> str:
    """The form field of a SKU row's value: `skus-0-price`."""
    return f"skus-{row}-{name}"


@dataclass
class ProductForm:
    """What a merchant typed into the new-product form, the API body made of it, and the errors by form field."""

    values: dict[str, str]
    rows: int
    body: dict[str, object] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # The API body's `skus[i]` -> the form's row (blank rows are left out of the body).
    row_of_sku: list[int] = field(default_factory=list)

    def error_for_api_field(self, api_field: str | None) -> str:
        """The form field an API's `field` names (`skus[1].price_minor` -> `skus-<row>-price`); "" for the form."""
        if not api_field:
            return ""
        if api_field in ("title", "description"):
            return api_field
        found = re.match(r"^skus\[(\d+)\](?:\.(\w+))?", api_field)
        if not found:
            return ""
        index, member = int(found.group(1)), found.group(2) or "name"
        if index >= len(self.row_of_sku):
            return ""
        column = {"name": "name", "price_minor": "price", "currency": "price", "stock": "stock"}.get(member, "name")
        return sku_field(self.row_of_sku[index], column)


def rows_of(values: dict[str, str]) -> int:
    """How many SKU rows a posted form had (at least the new form's)."""
    rows = NEW_PRODUCT_ROWS
    for key in values:
        found = re.match(r"^skus-(\d+)-", key)
        if found:
            rows = max(rows, min(int(found.group(1)) + 1, MAX_SKU_ROWS))
    return rows


def read_product_form(values: dict[str, str], currency: str) -> ProductForm:
    """The form's text checked for what only the page knows (amounts in the currency's format); the rest is the API's.

    A SKU row left blank is skipped; a row partly filled is checked whole.
    """
    rows = rows_of(values)
    form = ProductForm(values=values, rows=rows)
    skus: list[dict[str, object]] = []
    for row in range(rows):
        name, price, stock = (values.get(sku_field(row, f), "").strip() for f in SKU_FIELDS)
        if not (name or price or stock):
            continue
        sku: dict[str, object] = {"name": name, "currency": currency}
        try:
            sku["price_minor"] = parse_amount(price, currency)
        except NotAnAmount as exc:
            form.errors[sku_field(row, "price")] = str(exc)
        try:
            sku["stock"] = parse_count(stock)
        except NotAnAmount as exc:
            form.errors[sku_field(row, "stock")] = str(exc)
        skus.append(sku)
        form.row_of_sku.append(row)
    if not skus:
        form.errors[sku_field(0, "name")] = "Add at least one SKU"
    form.body = {"title": values.get("title", "").strip(), "description": values.get("description", ""), "skus": skus}
    return form
