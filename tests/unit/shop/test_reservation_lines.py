"""Which lines of an order name a reservation at shop: only goods bought from the cart."""

import uuid

from libs.contracts import OrderLine
from services.shop.domain.reservations import skus_of


def _line(**fields: str) -> OrderLine:
    sku_id = fields.pop("sku_id", str(uuid.uuid4()))
    return OrderLine(
        sku_id=sku_id,
        product_id=sku_id,
        title="t",
        sku_name="M",
        quantity=1,
        unit_price_minor=100,
        amount_minor=100,
        **fields,
    )


def test_flash_sale_and_deal_lines_name_no_reservation_here() -> None:
    goods = _line()
    deal_id = str(uuid.uuid4())
    lines = [goods, _line(flash_sale_id=str(uuid.uuid4())), _line(sku_id=deal_id, deal_id=deal_id)]
    # The deal's units are held at local_life: shop neither commits nor warns about them.
    assert skus_of(lines) == [goods.sku_id]
