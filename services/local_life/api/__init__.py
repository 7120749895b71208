"""The local_life API: one module per resource; ROUTES gathers them for the app."""

from services.local_life.api.clerks import clerk_me
from services.local_life.api.deals import deals_nearby, get_deal, search_deals
from services.local_life.api.redemptions import (
    list_store_redemptions,
    prepare_redemption,
    undo_redemption,
    verify_redemption,
)
from services.local_life.api.refunds import get_refund, refund_vouchers
from services.local_life.api.reports import (
    list_settlements,
    redemption_report,
    settle,
    settlement_due,
    voucher_report,
)
from services.local_life.api.seller_deals import create_deal, edit_deal, end_deal, list_deals, publish_deal
from services.local_life.api.seller_deals import get_deal as get_seller_deal
from services.local_life.api.seller_stores import (
    add_clerk,
    create_store,
    edit_store,
    get_store,
    list_clerks,
    list_stores,
    remove_clerk,
)
from services.local_life.api.teams import get_team
from services.local_life.api.vouchers import get_voucher, list_vouchers

ROUTES = [
    create_store,
    list_stores,
    get_store,
    edit_store,
    add_clerk,
    list_clerks,
    remove_clerk,
    create_deal,
    list_deals,
    get_seller_deal,
    edit_deal,
    publish_deal,
    end_deal,
    deals_nearby,
    search_deals,
    get_deal,
    clerk_me,
    prepare_redemption,
    verify_redemption,
    undo_redemption,
    list_store_redemptions,
    list_vouchers,
    get_voucher,
    refund_vouchers,
    get_refund,
    redemption_report,
    voucher_report,
    settlement_due,
    settle,
    list_settlements,
    get_team,
]
