"""Redemption at the counter: a clerk prepares (what of the shown voucher's line is usable here now), verifies (each
chosen voucher redeemed once, the answer kept with the token) and may undo within the hour."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from libs.contracts import RedemptionUndone, VoucherRedeemed
from services.local_life.domain.vouchers import format_code, new_code
from tests.harness import Stack, assert_problem
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


async def prepare(stack: Stack, clerk: str, **body: Any):
    async with stack.client("local_life", clerk) as client:
        return await client.post("/redemptions/prepare", json=body)


async def verify(stack: Stack, clerk: str, token: str, voucher_ids: list[str]):
    async with stack.client("local_life", clerk) as client:
        return await client.post("/redemptions/verify", json={"verify_token": token, "voucher_ids": voucher_ids})


async def undo(stack: Stack, clerk: str, redemption_id: str):
    async with stack.client("local_life", clerk) as client:
        return await client.post(f"/redemptions/{redemption_id}/undo")


def sloppy(code: str) -> str:
    """The code as a clerk might type it: lower case, spaces for dashes."""
    return code.lower().replace("-", " ")


async def test_prepare_offers_the_lines_usable_vouchers_masked_with_a_short_lived_token(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop, vouchers_per_purchase=3)
    purchase = await buy(stack, shop, deal)
    codes = await buyer_view(stack, purchase)
    clerk = await clerk_token(stack, shop)

    prepared = await prepare(stack, clerk, code=sloppy(codes[1]["code"]))
    assert prepared.status_code == 200, prepared.text
    body = prepared.json()
    assert len(body["verify_token"]) >= 40
    assert [v["voucher_id"] for v in body["vouchers"]] == [v["voucher_id"] for v in codes]
    for offered, voucher in zip(body["vouchers"], codes, strict=True):
        assert offered["masked_code"].endswith(voucher["code"][-6:-2])
        assert offered["masked_code"].startswith("****")
        assert voucher["code"] not in offered["masked_code"]
        assert offered["deal_title"] == deal["title"]
    # The QR payload finds the same line.
    by_qr = await prepare(stack, clerk, qr=codes[2]["qr"])
    assert by_qr.status_code == 200, by_qr.text
    assert [v["voucher_id"] for v in by_qr.json()["vouchers"]] == [v["voucher_id"] for v in codes]


async def test_verify_redeems_once_and_a_retry_gets_the_same_answer(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop, vouchers_per_purchase=2)
    room_id = str(uuid.uuid4())
    purchase = await buy(stack, shop, deal, room_id=room_id)
    codes = await buyer_view(stack, purchase)
    clerk = await clerk_token(stack, shop)
    token = (await prepare(stack, clerk, code=codes[0]["code"])).json()["verify_token"]

    first = await verify(stack, clerk, token, [codes[0]["voucher_id"]])
    assert first.status_code == 200, first.text
    [outcome] = first.json()["vouchers"]
    assert outcome["voucher_id"] == codes[0]["voucher_id"]
    assert outcome["outcome"] == "redeemed"
    retry = await verify(stack, clerk, token, [codes[0]["voucher_id"]])
    assert retry.status_code == 200, retry.text
    assert retry.json() == first.json()
    stack.clock.advance(61)  # past the token's expiry, a retry still gets its answer
    late = await verify(stack, clerk, token, [codes[0]["voucher_id"]])
    assert late.status_code == 200, late.text
    assert late.json() == first.json()

    # The buyer sees it used; the other voucher of the line is still offered, the used one no longer.
    mine = {v["voucher_id"]: v for v in await buyer_view(stack, purchase)}
    assert mine[codes[0]["voucher_id"]]["status"] == "redeemed"
    assert [r["redemption_id"] for r in mine[codes[0]["voucher_id"]]["redemptions"]] == [outcome["redemption_id"]]
    assert mine[codes[1]["voucher_id"]]["status"] == "unused"
    again = await prepare(stack, clerk, code=codes[0]["code"])
    assert [v["voucher_id"] for v in again.json()["vouchers"]] == [codes[1]["voucher_id"]]

    # Used up: the line's last voucher redeemed, its code answers 409 already-redeemed.
    token2 = again.json()["verify_token"]
    assert (await verify(stack, clerk, token2, [codes[1]["voucher_id"]])).status_code == 200
    refused = assert_problem(await prepare(stack, clerk, code=codes[1]["code"]), 409, "voucher-not-usable")
    assert refused["reason"] == "already-redeemed"

    redeemed = [e for e in await outbox(stack, VoucherRedeemed.SUBJECT) if e["voucher_id"] == codes[0]["voucher_id"]]
    assert len(redeemed) == 1
    assert redeemed[0]["source"]["room_id"] == room_id
    assert redeemed[0]["store_id"] == shop["store"]["store_id"]


async def test_verify_refuses_an_expired_token_and_vouchers_not_offered(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop)
    purchase = await buy(stack, shop, deal)
    other = await buy(stack, shop, deal)
    codes = await buyer_view(stack, purchase)
    clerk = await clerk_token(stack, shop)
    token = (await prepare(stack, clerk, code=codes[0]["code"])).json()["verify_token"]

    not_offered = await verify(stack, clerk, token, [codes[0]["voucher_id"], other["vouchers"][0]["voucher_id"]])
    assert_problem(not_offered, 422, "voucher-not-offered", "voucher_ids[1]")
    twice = await verify(stack, clerk, token, [codes[0]["voucher_id"], codes[0]["voucher_id"]])
    assert_problem(twice, 422, "duplicate-voucher", "voucher_ids[1]")
    assert_problem(await verify(stack, clerk, "no-such-token", [codes[0]["voucher_id"]]), 404, "verify-token-not-found")
    # Another store's clerk does not know this token.
    elsewhere = await clerk_token(stack, shop, (await _second_store(stack, shop))["store_id"])
    assert_problem(await verify(stack, elsewhere, token, [codes[0]["voucher_id"]]), 404, "verify-token-not-found")

    stack.clock.advance(61)
    assert_problem(await verify(stack, clerk, token, [codes[0]["voucher_id"]]), 409, "verify-token-expired")
    mine = await buyer_view(stack, purchase)
    assert mine[0]["status"] == "unused"


async def _second_store(stack: Stack, shop: dict[str, Any]) -> dict[str, Any]:
    return await new_store(stack, shop["token"], timezone="Asia/Shanghai", opening_hours=ALL_DAY)


async def test_a_voucher_for_another_store_is_refused_as_wrong_store(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop)  # sold for the first store only
    purchase = await buy(stack, shop, deal)
    codes = await buyer_view(stack, purchase)
    elsewhere = await clerk_token(stack, shop, (await _second_store(stack, shop))["store_id"])
    refused = assert_problem(await prepare(stack, elsewhere, code=codes[0]["code"]), 409, "voucher-not-usable")
    assert refused["reason"] == "wrong-store"

    everywhere = await published_deal(stack, shop, all_stores=True, store_ids=[])
    purchase = await buy(stack, shop, everywhere)
    codes = await buyer_view(stack, purchase)
    assert (await prepare(stack, elsewhere, code=codes[0]["code"])).status_code == 200


async def test_expired_and_not_yet_valid_vouchers_are_refused(stack: Stack) -> None:
    shop = await counter(stack)
    clerk = await clerk_token(stack, shop)
    # No auto-refund: the expiry job (due at once, the voucher being past its validity) may expire it before the
    # clerk scans or after; either way the clerk is told `expired`.
    short = await published_deal(stack, shop, valid_days=1, auto_refund_at_expiry=False)
    old = await buy(stack, shop, short, paid_at=stack.clock.now() - timedelta(days=2))
    code = (await buyer_view(stack, old))[0]["code"]
    assert assert_problem(await prepare(stack, clerk, code=code), 409, "voucher-not-usable")["reason"] == "expired"

    now = stack.clock.now()
    later = await published_deal(
        stack,
        shop,
        valid_days=None,
        valid_from=(now + timedelta(days=1)).isoformat(),
        valid_until=(now + timedelta(days=10)).isoformat(),
    )
    early = await buy(stack, shop, later)
    code = (await buyer_view(stack, early))[0]["code"]
    refused = assert_problem(await prepare(stack, clerk, code=code), 409, "voucher-not-usable")
    assert refused["reason"] == "not-yet-valid"


async def test_unknown_codes_and_another_merchants_vouchers_answer_the_same_404(stack: Stack) -> None:
    shop, other = await counter(stack), await counter(stack)
    deal = await published_deal(stack, other)
    theirs = (await buyer_view(stack, await buy(stack, other, deal)))[0]
    clerk = await clerk_token(stack, shop)

    unknown = assert_problem(await prepare(stack, clerk, code=format_code(new_code())), 404, "voucher-not-found")
    foreign = assert_problem(await prepare(stack, clerk, code=theirs["code"]), 404, "voucher-not-found")
    by_qr = assert_problem(await prepare(stack, clerk, qr=theirs["qr"]), 404, "voucher-not-found")
    forged = assert_problem(await prepare(stack, clerk, qr=theirs["qr"][:-4] + "AAAA"), 404, "voucher-not-found")
    for body in (unknown, foreign, by_qr, forged):
        body.pop("request_id", None)
    assert unknown == foreign == by_qr == forged

    # A mistyped code is caught by its check character; a body naming both or neither is refused.
    typo = theirs["code"][:3] + ("0" if theirs["code"][3] != "0" else "1") + theirs["code"][4:]
    assert_problem(await prepare(stack, clerk, code=typo), 422, "voucher-code-typo", "code")
    assert_problem(await prepare(stack, clerk), 422, "code-or-qr", "code")
    assert_problem(await prepare(stack, clerk, code=theirs["code"], qr=theirs["qr"]), 422, "code-or-qr", "code")
    assert (await prepare(stack, clerk, code=theirs["code"], extra=1)).status_code == 400


async def test_only_active_clerks_of_the_store_prepare(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop)
    code = (await buyer_view(stack, await buy(stack, shop, deal)))[0]["code"]
    stranger = stack.infra.token("clerk", store_id=shop["store"]["store_id"])  # never added as a clerk
    assert_problem(await prepare(stack, stranger, code=code), 403, "not-a-clerk-here")
    buyer = stack.infra.token("buyer")
    assert (await prepare(stack, buyer, code=code)).status_code == 403


async def test_bursts_of_bad_codes_are_throttled_per_clerk(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop)
    code = (await buyer_view(stack, await buy(stack, shop, deal)))[0]["code"]
    guesser, colleague = await clerk_token(stack, shop), await clerk_token(stack, shop)
    for _ in range(10):
        assert_problem(await prepare(stack, guesser, code=format_code(new_code())), 404, "voucher-not-found")
    throttled = await prepare(stack, guesser, code=format_code(new_code()))
    assert_problem(throttled, 429, "too-many-requests")
    assert int(throttled.headers["Retry-After"]) >= 1
    # A real code still works for the guesser; another clerk is untouched.
    assert (await prepare(stack, guesser, code=code)).status_code == 200
    assert_problem(await prepare(stack, colleague, code=format_code(new_code())), 404, "voucher-not-found")


async def test_outside_usage_hours_is_refused_until_the_hours_come(stack: Stack) -> None:
    shop = await counter(stack, timezone="UTC")
    clerk = await clerk_token(stack, shop)
    now = stack.clock.now()
    start = (now.hour + 2) % 24
    hours = [f"{start:02d}:00", f"{start + 1:02d}:00" if start < 23 else "24:00"]
    deal = await published_deal(stack, shop, usage_hours=hours)
    code = (await buyer_view(stack, await buy(stack, shop, deal)))[0]["code"]
    refused = assert_problem(await prepare(stack, clerk, code=code), 409, "voucher-not-usable")
    assert refused["reason"] == "outside-usage-hours"

    into_window = timedelta(hours=2) - timedelta(minutes=now.minute, seconds=now.second) + timedelta(minutes=5)
    stack.clock.advance(into_window.total_seconds())
    assert (await prepare(stack, clerk, code=code)).status_code == 200


async def test_outside_opening_hours_is_refused_when_the_deal_names_no_hours(stack: Stack) -> None:
    now = stack.clock.now()
    closed_today = {str(day): [["00:00", "24:00"]] for day in range(7) if day != now.weekday()}
    shop = await counter(stack, timezone="UTC", opening_hours=closed_today)
    clerk = await clerk_token(stack, shop)
    deal = await published_deal(stack, shop)
    code = (await buyer_view(stack, await buy(stack, shop, deal)))[0]["code"]
    if stack.clock.now().weekday() == now.weekday():  # not across midnight since
        refused = assert_problem(await prepare(stack, clerk, code=code), 409, "voucher-not-usable")
        assert refused["reason"] == "outside-usage-hours"


async def test_undo_within_the_hour_makes_the_voucher_usable_again_and_not_after(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop, vouchers_per_purchase=2)
    purchase = await buy(stack, shop, deal)
    codes = await buyer_view(stack, purchase)
    clerk = await clerk_token(stack, shop)
    voucher_id = codes[0]["voucher_id"]

    token = (await prepare(stack, clerk, code=codes[0]["code"])).json()["verify_token"]
    redemption_id = (await verify(stack, clerk, token, [voucher_id])).json()["vouchers"][0]["redemption_id"]
    elsewhere = await clerk_token(stack, shop, (await _second_store(stack, shop))["store_id"])
    assert_problem(await undo(stack, elsewhere, redemption_id), 404, "redemption-not-found")
    assert_problem(await undo(stack, clerk, "not-a-uuid"), 404, "redemption-not-found")

    undone = await undo(stack, clerk, redemption_id)
    assert undone.status_code == 200, undone.text
    assert undone.json()["undone_at"] is not None
    assert_problem(await undo(stack, clerk, redemption_id), 409, "already-undone")
    mine = {v["voucher_id"]: v for v in await buyer_view(stack, purchase)}
    assert mine[voucher_id]["status"] == "unused"
    assert mine[voucher_id]["redemptions"][0]["undone_at"] is not None
    events = [e for e in await outbox(stack, RedemptionUndone.SUBJECT) if e["redemption_id"] == redemption_id]
    assert len(events) == 1

    # Usable again: redeemed anew, and that redemption cannot be undone once the hour is over.
    token = (await prepare(stack, clerk, code=codes[0]["code"])).json()["verify_token"]
    again = (await verify(stack, clerk, token, [voucher_id])).json()["vouchers"][0]
    assert again["outcome"] == "redeemed"
    stack.clock.advance(3601)
    assert_problem(await undo(stack, clerk, again["redemption_id"]), 409, "undo-window-closed")
    mine = {v["voucher_id"]: v for v in await buyer_view(stack, purchase)}
    assert mine[voucher_id]["status"] == "redeemed"


async def test_a_visit_redeems_at_most_the_deals_per_visit_limit(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop, vouchers_per_purchase=3, per_visit_limit=2)
    purchase = await buy(stack, shop, deal)
    codes = await buyer_view(stack, purchase)
    clerk = await clerk_token(stack, shop)
    prepared = (await prepare(stack, clerk, code=codes[0]["code"])).json()
    assert prepared["per_visit_limit"] == 2
    ids = [v["voucher_id"] for v in codes]
    assert_problem(
        await verify(stack, clerk, prepared["verify_token"], ids), 422, "over-per-visit-limit", "voucher_ids"
    )
    done = await verify(stack, clerk, prepared["verify_token"], ids[:2])
    assert [v["outcome"] for v in done.json()["vouchers"]] == ["redeemed", "redeemed"]
