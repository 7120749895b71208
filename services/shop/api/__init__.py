"""HTTP controllers of the shop (thin: decode, check who, call one use case)."""

from services.shop.api.cart import CartController
from services.shop.api.catalogue import CatalogueController, MerchantController
from services.shop.api.seller import SellerController

ROUTES = [MerchantController, SellerController, CatalogueController, CartController]

__all__ = ["ROUTES"]
