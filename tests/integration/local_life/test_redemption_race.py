"""Many clerks at two stores pressing verify on the same voucher at the same instant: it is redeemed exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter

from libs.contracts import VoucherRedeemed
from tests.harness import Stack
from tests.integration.local_life.support import new_store
from tests.integration.local_life.test_vouchers import (
    ALL_DAY,
    buy,
    buyer_view,
    clerk_token,
    counter,
    outbox,
    published_deal,
)

SERVICES = ("local_life",)

CLERKS = 50
VOUCHERS = 20


async def test_fifty_clerks_verifying_one_voucher_at_once_redeem_it_once(stack: Stack) -> None:
    shop = await counter(stack)
    second = await new_store(stack, shop["token"], timezone="Asia/Shanghai", opening_hours=ALL_DAY)
    stores = [shop["store"]["store_id"], second["store_id"]]
    deal = await published_deal(stack, shop, store_ids=stores, vouchers_per_purchase=VOUCHERS)
    purchase = await buy(stack, shop, deal)
    vouchers = await buyer_view(stack, purchase)
    clerks = await asyncio.gather(*(clerk_token(stack, shop, stores[i % 2]) for i in range(CLERKS)))
    clients = [stack.client("local_life", clerk) for clerk in clerks]
    try:
        for voucher in vouchers:
            # Every clerk scans the same code: each holds a token offering it.
            prepared = await asyncio.gather(
                *(c.post("/redemptions/prepare", json={"code": voucher["code"]}) for c in clients)
            )
            assert all(p.status_code == 200 for p in prepared), [p.text for p in prepared if p.status_code != 200]
            answers = await asyncio.gather(
                *(
                    c.post(
                        "/redemptions/verify",
                        json={"verify_token": p.json()["verify_token"], "voucher_ids": [voucher["voucher_id"]]},
                    )
                    for c, p in zip(clients, prepared, strict=True)
                )
            )
            assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]
            outcomes = Counter(a.json()["vouchers"][0]["outcome"] for a in answers)
            assert outcomes == {"redeemed": 1, "already-redeemed": CLERKS - 1}
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))

    db = stack.apps["local_life"].runtime.db
    live = await db.fetch(
        "SELECT voucher_id::text, count(*) AS n FROM redemptions WHERE order_id = $1 AND undone_at IS NULL"
        " GROUP BY voucher_id",
        purchase["order"].order_id,
    )
    assert sorted((r["voucher_id"], r["n"]) for r in live) == sorted((v["voucher_id"], 1) for v in vouchers)
    redeemed = [
        e for e in await outbox(stack, VoucherRedeemed.SUBJECT) if e["source"]["order_id"] == purchase["order"].order_id
    ]
    assert Counter(e["voucher_id"] for e in redeemed) == Counter(v["voucher_id"] for v in vouchers)
    assert all(v["status"] == "redeemed" for v in await buyer_view(stack, purchase))
