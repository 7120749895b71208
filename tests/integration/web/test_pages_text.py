"""Every text a page shows has its Simplified Chinese, and the pure helpers the pages lean on do what they say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.web import domain
from services.web.adapters.catalogues import load_catalogues

WEB = Path(domain.__file__).resolve().parent.parent


def _msgids() -> set[str]:
    found: set[str] = set()
    for template in (WEB / "templates").rglob("*.html"):
        text = template.read_text()
        found |= set(re.findall(r'_\("((?:[^"\\]|\\.)*)"\)', text)) | set(re.findall(r"_\('((?:[^'\\]|\\.)*)'\)", text))
    # The refusals only the page makes (a form's amounts), shown through _() by the templates.
    for module in (WEB / "domain").rglob("*.py"):
        source = module.read_text()
        found |= set(re.findall(r'NotAnAmount\("([^"]+)"\)', source)) | set(re.findall(r'\] = "([^"]+)"', source))
    found |= {label for links in domain.NAV.values() for _path, label in links}  # the menus
    return found


def test_every_text_of_the_pages_reads_in_simplified_chinese() -> None:
    chinese = load_catalogues()["zh_Hans"]
    ids = _msgids()
    assert len(ids) > 50
    missing = sorted(i for i in ids if chinese.gettext(i) == i)
    assert not missing, f"no 简体中文 for {missing} in services/web/locale/zh_Hans/LC_MESSAGES/*.po"


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [("12.50", "USD", 1250), ("14", "USD", 1400), (".5", "USD", 50), ("1200", "JPY", 1200), (" 3.1 ", "CNY", 310)],
)
def test_an_amount_typed_in_a_form_is_read_in_the_currencys_minor_units(typed: str, currency: str, minor: int) -> None:
    assert domain.parse_amount(typed, currency) == minor


@pytest.mark.parametrize(
    ("typed", "currency"), [("1.005", "USD"), ("1.5", "JPY"), ("-1", "USD"), ("1,000", "USD"), ("", "USD")]
)
def test_an_amount_the_currency_cannot_hold_is_refused(typed: str, currency: str) -> None:
    with pytest.raises(domain.NotAnAmount):
        domain.parse_amount(typed, currency)


def test_money_reads_naturally_in_each_language() -> None:
    assert domain.money(1250, "USD", "en") == "$12.50"
    assert domain.money(1250, "CNY", "zh_Hans") == "¥12.50"


def test_a_sealed_session_is_refused_when_tampered_with_or_expired() -> None:
    sealed = domain.seal({"token": "t", "exp": 200}, "secret")
    assert domain.unseal(sealed, "secret", now=100) == {"token": "t", "exp": 200}
    assert domain.unseal(sealed, "another secret", now=100) is None
    assert domain.unseal(sealed, "secret", now=200) is None
    signature = sealed.partition(".")[2]
    forged = domain.seal({"token": "u", "exp": 200}, "secret").partition(".")[0]
    assert domain.unseal(f"{forged}.{signature}", "secret", now=100) is None
    assert domain.unseal("garbage", "secret", now=100) is None


def test_the_apis_field_names_the_forms_row_skipping_blank_rows() -> None:
    form = domain.read_product_form(
        {
            "skus-0-name": "A",
            "skus-0-price": "1",
            "skus-0-stock": "1",
            "skus-2-name": "B",
            "skus-2-price": "2",
            "skus-2-stock": "2",
        },
        "USD",
    )
    assert not form.errors
    assert form.error_for_api_field("skus[1].price_minor") == "skus-2-price"
    assert form.error_for_api_field("skus[0].stock") == "skus-0-stock"
    assert form.error_for_api_field("title") == "title"
    assert form.error_for_api_field("something") == ""
