"""HTTP API of flash sales: running them (flash_sales.py) and buying in them (purchases.py)."""

from services.live.flash_sales.api.flash_sales import (
    create_flash_sale,
    end_flash_sale,
    flash_sale_report,
    get_flash_sale,
    list_flash_sales,
)
from services.live.flash_sales.api.purchases import purchase

ROUTES = [create_flash_sale, end_flash_sale, list_flash_sales, get_flash_sale, flash_sale_report, purchase]
