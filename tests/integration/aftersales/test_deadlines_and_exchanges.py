"""Every deadline of a case, driven by the clock, and exchanges against shop's real replacement stock: taken when
the return is received, given back when the case becomes a refund."""

from __future__ import annotations

import asyncio

import asyncpg

from libs.contracts import OrderLine
from tests.harness import Stack, assert_problem, eventually, onboard_merchant
from tests.integration.aftersales.support import call, case_as, case_body, known_order, opened, sent

SERVICES = ("shop", "aftersales")

HOUR = 3600
DAY = 24 * HOUR


async def _status_after(stack: Stack, token: str, case_id: str, status: str) -> dict:
    async def reached() -> dict | None:
        view = await case_as(stack, token, f"/cases/{case_id}")
        return view if view["status"] == status else None

    return await eventually(reached, timeout=15)


async def _advance(stack: Stack, seconds: int) -> None:
    stack.clock.advance(seconds + 1)


async def _returned(stack: Stack, kind: str, quantity: int = 2, **order: object) -> tuple[dict, str, str]:
    """A case of `kind` approved and its return on the way: (the case, buyer token, merchant token)."""
    paid, buyer, merchant = await known_order(stack, quantity, **order)
    lines = [{"line_no": 0, "quantity": 1}]
    case = await opened(stack, buyer, case_body(paid, kind, lines))
    await call(stack, merchant, f"/seller/cases/{case['case_id']}/approve")
    sent_back = await call(
        stack, buyer, f"/cases/{case['case_id']}/return-shipment", {"carrier": "ups", "tracking_number": "1Z"}
    )
    assert sent_back.json()["status"] == "return_in_transit", sent_back.text
    return case, buyer, merchant


async def test_a_merchant_who_does_not_answer_approves(stack: Stack, db: asyncpg.Connection) -> None:
    paid, buyer, _ = await known_order(stack, 2)
    case = await opened(stack, buyer, case_body(paid))
    await _advance(stack, 48 * HOUR)
    done = await _status_after(stack, buyer, case["case_id"], "refund_pending")
    assert done["history"][-1]["actor"] == "platform"
    assert len(await sent(db, "aftersales.refund.granted.v1", case["case_id"])) == 1


async def test_a_rejection_not_escalated_in_time_closes(stack: Stack, db: asyncpg.Connection) -> None:
    paid, buyer, merchant = await known_order(stack, 2)
    case = await opened(stack, buyer, case_body(paid))
    await call(stack, merchant, f"/seller/cases/{case['case_id']}/reject", {"reason": "no"})
    await _advance(stack, 48 * HOUR)
    await _status_after(stack, buyer, case["case_id"], "closed")
    assert [e["status"] for e in await sent(db, "aftersales.case.closed.v1", case["case_id"])] == ["closed"]


async def test_a_return_not_sent_in_time_closes(stack: Stack) -> None:
    paid, buyer, merchant = await known_order(stack, 2)
    case = await opened(stack, buyer, case_body(paid, "return_and_refund"))
    await call(stack, merchant, f"/seller/cases/{case['case_id']}/approve")
    await _advance(stack, 5 * DAY)
    await _status_after(stack, buyer, case["case_id"], "closed")


async def test_a_receipt_not_confirmed_in_time_is_confirmed_with_nothing_restocked(
    stack: Stack, db: asyncpg.Connection
) -> None:
    case, buyer, _ = await _returned(stack, "return_and_refund")
    await _advance(stack, 8 * DAY)
    await _status_after(stack, buyer, case["case_id"], "refund_pending")
    [returned] = await sent(db, "aftersales.return.received.v1", case["case_id"])
    assert [(ln["quantity"], ln["restockable"]) for ln in returned["lines"]] == [(1, 0)]
    assert len(await sent(db, "aftersales.refund.granted.v1", case["case_id"])) == 1


async def test_a_refused_receipt_not_escalated_in_time_closes(stack: Stack) -> None:
    case, buyer, merchant = await _returned(stack, "return_and_refund")
    await call(stack, merchant, f"/seller/cases/{case['case_id']}/refuse-receipt", {"reason": "brick"})
    await _advance(stack, 48 * HOUR)
    await _status_after(stack, buyer, case["case_id"], "closed")


# --- exchanges, with shop ------------------------------------------------------------------------------------


async def _product(stack: Stack, stocks: tuple[int, ...]) -> tuple[str, str, dict]:
    merchant_id, merchant = await onboard_merchant(stack)
    skus = [{"name": f"Colour {n}", "price_minor": 1000, "stock": s} for n, s in enumerate(stocks)]
    async with stack.client("shop", merchant) as client:
        response = await client.post("/seller/products", json={"title": "Teapot", "description": "", "skus": skus})
    assert response.status_code == 201, response.text
    return merchant_id, merchant, response.json()


async def _on_hand(stack: Stack, merchant: str, product: dict) -> list[int]:
    async with stack.client("shop", merchant) as client:
        response = await client.get(f"/seller/products/{product['product_id']}")
    return [s["stock_on_hand"] for s in response.json()["skus"]]


async def _holds(stack: Stack, merchant: str, product: dict, expected: list[int]) -> bool:
    return await _on_hand(stack, merchant, product) == expected


def _bought(product: dict) -> list[OrderLine]:
    sku = product["skus"][0]
    return [
        OrderLine(
            sku_id=sku["sku_id"],
            product_id=product["product_id"],
            title="Teapot",
            sku_name=sku["name"],
            quantity=2,
            unit_price_minor=1000,
            amount_minor=2000,
        )
    ]


async def _exchange_received(stack: Stack, stocks: tuple[int, ...], replacement: int = 1):
    merchant_id, _, product = await _product(stack, stocks)
    paid, buyer, merchant = await known_order(stack, merchant_id=merchant_id, lines=_bought(product))
    wanted = product["skus"][replacement]["sku_id"]
    body = case_body(paid, "exchange", [{"line_no": 0, "quantity": 1, "replacement_sku_id": wanted}])
    case = await opened(stack, buyer, body)
    assert case["lines"][0]["replacement_sku_id"] == wanted
    cid = case["case_id"]
    await call(stack, merchant, f"/seller/cases/{cid}/approve")
    await call(stack, buyer, f"/cases/{cid}/return-shipment", {"carrier": "ups", "tracking_number": "1Z"})
    received = await call(stack, merchant, f"/seller/cases/{cid}/confirm-receipt")
    assert received.status_code == 200, received.text
    return received.json(), buyer, merchant, product


async def test_an_exchange_takes_the_replacement_and_ends_when_it_ships(stack: Stack, db: asyncpg.Connection) -> None:
    case, _buyer, merchant, product = await _exchange_received(stack, (5, 5))
    assert (case["status"], case["next_action"]) == ("replacement_pending", "merchant")
    # The returned unit back on hand (restockable by default), the replacement taken.
    await eventually(lambda: _holds(stack, merchant, product, [6, 4]))
    shipment = {"carrier": "dhl", "tracking_number": "JD1"}
    done = (await call(stack, merchant, f"/seller/cases/{case['case_id']}/ship-replacement", shipment)).json()
    assert (done["status"], done["replacement_shipment"], done["next_action"]) == ("exchanged", shipment, None)
    assert [e["status"] for e in await sent(db, "aftersales.case.closed.v1", case["case_id"])] == ["exchanged"]
    assert await sent(db, "aftersales.refund.granted.v1", case["case_id"]) == []


async def test_a_replacement_not_shipped_in_time_goes_to_an_operator_who_may_refund(
    stack: Stack, db: asyncpg.Connection
) -> None:
    case, buyer, merchant, product = await _exchange_received(stack, (5, 5))
    await _advance(stack, 48 * HOUR)
    escalated = await _status_after(stack, buyer, case["case_id"], "escalated")
    assert escalated["escalated_from"] == "replacement_pending"
    operator = stack.infra.token("operator")
    decided = await call(
        stack, operator, f"/operator/cases/{case['case_id']}/decide", {"in_favour_of": "buyer", "note": "late"}
    )
    assert decided.json()["status"] == "refund_pending"
    # The returned unit back on hand, the replacement given back.
    await eventually(lambda: _holds(stack, merchant, product, [6, 5]))
    assert len(await sent(db, "aftersales.refund.granted.v1", case["case_id"])) == 1


async def test_an_out_of_stock_replacement_becomes_a_refund_offer(stack: Stack, db: asyncpg.Connection) -> None:
    case, buyer, _, _ = await _exchange_received(stack, (5, 0))
    assert (case["status"], case["next_action"]) == ("refund_offered", "buyer")
    accepted = (await call(stack, buyer, f"/cases/{case['case_id']}/accept-refund")).json()
    assert accepted["status"] == "refund_pending"
    assert len(await sent(db, "aftersales.refund.granted.v1", case["case_id"])) == 1
    assert len(await sent(db, "aftersales.return.received.v1", case["case_id"])) == 1


async def test_a_refund_offer_not_answered_in_time_is_accepted(stack: Stack, db: asyncpg.Connection) -> None:
    case, buyer, _, _ = await _exchange_received(stack, (5, 0))
    await _advance(stack, 48 * HOUR)
    await _status_after(stack, buyer, case["case_id"], "refund_pending")
    assert len(await sent(db, "aftersales.refund.granted.v1", case["case_id"])) == 1


async def test_an_exchange_for_another_products_sku_is_refused(stack: Stack) -> None:
    merchant_id, _, product = await _product(stack, (5,))
    _, _, other = await _product(stack, (5,))
    paid, buyer, _ = await known_order(stack, merchant_id=merchant_id, lines=_bought(product))
    body = case_body(
        paid, "exchange", [{"line_no": 0, "quantity": 1, "replacement_sku_id": other["skus"][0]["sku_id"]}]
    )
    from tests.integration.aftersales.support import open_case

    response = await open_case(stack, buyer, body)
    assert_problem(response, 422, "replacement-not-same-product", "lines[0].replacement_sku_id")
    two_lines = case_body(paid, "exchange", [{"line_no": 0, "quantity": 1}, {"line_no": 0, "quantity": 1}])
    assert_problem(await open_case(stack, buyer, two_lines), 422, "exchange-one-line", "lines")


async def test_a_receipt_racing_the_buyers_cancel_never_leaves_a_replacement_taken_for_nothing(stack: Stack) -> None:
    # The merchant's receipt has shop take the replacement before its write; the buyer's cancel (no shop call) often
    # commits in between. Whichever wins, shop's stock must agree with the case.
    for _ in range(6):
        merchant_id, _, product = await _product(stack, (5, 5))
        paid, buyer, merchant = await known_order(stack, merchant_id=merchant_id, lines=_bought(product))
        wanted = product["skus"][1]["sku_id"]
        case = await opened(
            stack, buyer, case_body(paid, "exchange", [{"line_no": 0, "quantity": 1, "replacement_sku_id": wanted}])
        )
        cid = case["case_id"]
        await call(stack, merchant, f"/seller/cases/{cid}/approve")
        await call(stack, buyer, f"/cases/{cid}/return-shipment", {"carrier": "ups", "tracking_number": "1Z"})

        await asyncio.gather(
            call(stack, merchant, f"/seller/cases/{cid}/confirm-receipt"), call(stack, buyer, f"/cases/{cid}/cancel")
        )
        status = (await case_as(stack, buyer, f"/cases/{cid}"))["status"]
        # Cancelled: nothing came back and nothing goes out (a replacement shop took is given back). Received: the
        # returned unit back on hand, the replacement taken once.
        expected = {"cancelled": [5, 5], "replacement_pending": [6, 4]}[status]
        await eventually(lambda m=merchant, p=product, e=expected: _holds(stack, m, p, e))
