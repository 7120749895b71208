"""The seller's local-life pages over HTTP, against real services: stores made and changed through the forms (and read
back from local_life), clerks added and removed, a deal drafted, published, bought and counted in its voucher report,
refusals shown by the field local_life names, redemptions per store per day and settlement; another merchant's store
or deal is 404, other roles 403, and every form needs its CSRF token."""

from __future__ import annotations

import html
import re
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.harness import Stack, eventually
from tests.integration.local_life.support import merchant, new_deal, new_store
from tests.integration.orders.support import new_buyer, pay_checkout
from tests.integration.orders.test_deal_lines import vouchers_of
from tests.integration.web.support import csrf, hidden, signed_in_as

SERVICES = ("shop", "live", "local_life", "orders", "web")
pytestmark = pytest.mark.asyncio(loop_scope="session")
DASH = "\N{EN DASH}"


async def _api(stack: Stack, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
    """local_life's answer as the demo merchant (or `token`) reads it; asserts success."""
    async with stack.client("local_life", token or stack.demo.token(stack.infra, "merchant")) as client:
        answer = await client.request(method, path, **kwargs)
    assert answer.is_success, answer.text
    return answer.json() if answer.content else None


def _testid(text: str, testid: str) -> str:
    """The text inside the element with this data-testid (tags stripped, spaces collapsed)."""
    found = re.search(rf'data-testid="{re.escape(testid)}"[^>]*>(.*?)</(?:td|dd|span|p|h1|li|code)>', text, re.S)
    assert found, f"no {testid!r} in the page"
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split()))


def _store_form(**fields: str) -> dict[str, str]:
    form = {
        "name": f"Noodle bar {uuid.uuid4().hex[:6]}",
        "address": "88 Huaihai Road",
        "lat": "31.2200",
        "lng": "121.4600",
        "phone": "+86 21 5555 0000",
        "timezone": "Asia/Shanghai",
        # Monday: lunch and an evening to midnight; Tuesday all afternoon; the rest closed.
        "hours-0-0-opens": "09:00",
        "hours-0-0-closes": "14:00",
        "hours-0-1-opens": "17:00",
        "hours-0-1-closes": "00:00",
        "hours-1-0-opens": "12:00",
        "hours-1-0-closes": "22:00",
    }
    return form | fields


def _deal_form(store_id: str, **fields: str) -> dict[str, Any]:
    form: dict[str, Any] = {
        "title": f"Hotpot for two {uuid.uuid4().hex[:6]}",
        "description": "Broth, meat and greens",
        "price": "99.00",
        "value": "158",
        "vouchers_per_purchase": "2",
        "store_id": [store_id],
        "validity": "days",
        "valid_days": "30",
        "window_timezone": "Asia/Shanghai",
        "usage_weekday": ["0", "1", "2", "3", "4"],
        "usage_from": "10:00",
        "usage_to": "00:00",
        "per_buyer_limit": "3",
        "total_quantity": "50",
        "auto_refund_at_expiry": "1",
        "team_window_h": "24",
    }
    return form | fields


async def _new_deal_form(client: httpx.AsyncClient) -> dict[str, str]:
    page = await client.get("/seller/deals/new")
    assert page.status_code == 200, page.text
    return {"_csrf_token": csrf(client), "idempotency_key": hidden(page.text, "idempotency_key")}


async def _store_ids(stack: Stack) -> set[str]:
    return {s["store_id"] for s in (await _api(stack, "GET", "/seller/stores", params={"limit": 100}))["items"]}


# --- stores --------------------------------------------------------------------------------------------------------


async def test_a_store_added_through_the_form_is_local_lifes_with_its_opening_hours(stack: Stack) -> None:
    async with signed_in_as(stack) as client:
        listing = await client.get("/seller/stores")
        assert listing.status_code == 200, listing.text
        assert "Demo Outfitters Studio" in listing.text
        assert '<label for="hours-0-0-opens" class="visually-hidden">Monday opens</label>' in listing.text
        form = _store_form()
        created = await client.post("/seller/stores", data={**form, "_csrf_token": csrf(client)})
        assert created.status_code == 303, created.text
        store_id = created.headers["location"].removeprefix("/seller/stores/")
        page = await client.get(created.headers["location"])
        assert page.status_code == 200
        assert _testid(page.text, "store-name") == form["name"]
        assert _testid(page.text, "store-status") == "open"
        assert _testid(page.text, "store-hours-0") == f"Monday 09:00{DASH}14:00, 17:00{DASH}24:00"
        assert _testid(page.text, "store-hours-2") == "Wednesday Closed"

    store = await _api(stack, "GET", f"/seller/stores/{store_id}")
    assert (store["name"], store["address"], store["phone"], store["timezone"]) == (
        form["name"],
        "88 Huaihai Road",
        "+86 21 5555 0000",
        "Asia/Shanghai",
    )
    assert (store["lat"], store["lng"]) == (31.22, 121.46)
    assert store["opening_hours"] == {"0": [["09:00", "14:00"], ["17:00", "24:00"]], "1": [["12:00", "22:00"]]}


async def test_a_store_is_changed_closed_and_opened_again(stack: Stack) -> None:
    async with signed_in_as(stack) as client:
        created = await client.post("/seller/stores", data={**_store_form(), "_csrf_token": csrf(client)})
        path = created.headers["location"]
        edit = await client.get(f"{path}/edit")
        assert edit.status_code == 200
        assert 'name="hours-0-1-closes" value="00:00"' in edit.text  # 24:00 as a time field shows it
        changed = _store_form(name="Noodle bar (renamed)", phone="", **{"hours-1-0-opens": "", "hours-1-0-closes": ""})
        saved = await client.post(f"{path}/edit", data={**changed, "_csrf_token": csrf(client)})
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == path
        store_id = path.rsplit("/", 1)[1]
        store = await _api(stack, "GET", f"/seller/stores/{store_id}")
        assert (store["name"], store["phone"]) == ("Noodle bar (renamed)", "")
        assert store["opening_hours"] == {"0": [["09:00", "14:00"], ["17:00", "24:00"]]}

        closed = await client.post(f"{path}/status", data={"status": "closed", "_csrf_token": csrf(client)})
        assert closed.status_code == 303
        assert (await _api(stack, "GET", f"/seller/stores/{store_id}"))["status"] == "closed"
        page = await client.get(path)
        assert _testid(page.text, "store-status") == "closed"
        assert 'data-testid="open-store"' in page.text
        await client.post(f"{path}/status", data={"status": "open", "_csrf_token": csrf(client)})
        assert (await _api(stack, "GET", f"/seller/stores/{store_id}"))["status"] == "open"


async def test_a_refused_store_is_shown_by_the_field_local_life_names_and_nothing_is_made(stack: Stack) -> None:
    before = await _store_ids(stack)
    async with signed_in_as(stack) as client:
        await client.get("/seller/stores")
        token = csrf(client)
        # Wednesday closes before it opens: local_life's invalid-hours, naming opening_hours.2[0].
        backwards = _store_form(**{"hours-2-0-opens": "14:00", "hours-2-0-closes": "09:00"})
        refused = await client.post("/seller/stores", data={**backwards, "_csrf_token": token})
        assert refused.status_code == 422, refused.text
        assert _testid(refused.text, "error-hours-2") == "a range starts before it ends (overnight: split at 24:00)"
        assert f'value="{backwards["name"]}"' in refused.text  # what was typed stays
        assert 'data-testid="error-name"' not in refused.text

        zone = await client.post(
            "/seller/stores", data={**_store_form(timezone="Mars/Olympus_Mons"), "_csrf_token": token}
        )
        assert zone.status_code == 422
        assert _testid(zone.text, "error-timezone") == "not an IANA time zone"

        # What only the page checks: degrees, and a time without its pair.
        local = await client.post(
            "/seller/stores",
            data={**_store_form(lat="north", **{"hours-3-0-opens": "10:00"}), "_csrf_token": token},
        )
        assert local.status_code == 422
        assert 'data-testid="error-lat"' in local.text
        assert _testid(local.text, "error-hours-3") == "Give both the opening and the closing time"
    assert await _store_ids(stack) == before


async def test_clerks_are_added_to_a_store_and_removed(stack: Stack) -> None:
    store = await new_store(stack, stack.demo.token(stack.infra, "merchant"), timezone="Asia/Shanghai")
    path = f"/seller/stores/{store['store_id']}"
    clerk_id = f"clerk-{uuid.uuid4().hex[:8]}"
    async with signed_in_as(stack) as client:
        page = await client.get(path)
        assert 'data-testid="clerks">No clerks yet.' in page.text
        missing = await client.post(
            f"{path}/clerks", data={"clerk_id": clerk_id, "name": " ", "_csrf_token": csrf(client)}
        )
        assert missing.status_code == 422
        assert _testid(missing.text, "error-name") == "This is required"
        added = await client.post(
            f"{path}/clerks", data={"clerk_id": clerk_id, "name": "Mei", "_csrf_token": csrf(client)}
        )
        assert added.status_code == 303, added.text
        page = await client.get(path)
        assert _testid(page.text, f"clerk-status-{clerk_id}") == "active"
        listed = await _api(stack, "GET", f"{path}/clerks")
        assert [(c["clerk_id"], c["name"], c["status"]) for c in listed["items"]] == [(clerk_id, "Mei", "active")]

        removed = await client.post(f"{path}/clerks/{clerk_id}/remove", data={"_csrf_token": csrf(client)})
        assert removed.status_code == 303
        page = await client.get(path)
        assert _testid(page.text, f"clerk-status-{clerk_id}") == "removed"
        assert f'data-testid="remove-clerk-{clerk_id}"' not in page.text
        assert [c["status"] for c in (await _api(stack, "GET", f"{path}/clerks"))["items"]] == ["removed"]
        # The clerk's token no longer proves anything at the store.
        clerk = stack.infra.token("clerk", sub=clerk_id, store_id=store["store_id"])
        async with stack.client("local_life", clerk) as as_clerk:
            assert (await as_clerk.get("/clerk/me")).status_code == 403


# --- deals ---------------------------------------------------------------------------------------------------------


async def test_a_deal_is_drafted_once_published_listed_bought_and_counted(stack: Stack) -> None:
    async with signed_in_as(stack) as client:
        keys = await _new_deal_form(client)
        form = _deal_form(stack.demo.store_id)
        created = await client.post("/seller/deals/new", data={**form, **keys})
        assert created.status_code == 303, created.text
        deal_id = created.headers["location"].removeprefix("/seller/deals/")
        again = await client.post("/seller/deals/new", data={**form, **keys})  # a double click: the same draft
        assert again.headers["location"] == created.headers["location"]

        deal = await _api(stack, "GET", f"/seller/deals/{deal_id}")
        assert deal["status"] == "draft"
        assert (deal["title"], deal["price_minor"], deal["original_value_minor"], deal["currency"]) == (
            form["title"],
            9900,
            15800,
            "USD",
        )
        assert (deal["vouchers_per_purchase"], deal["valid_days"], deal["usage_weekdays"]) == (2, 30, [0, 1, 2, 3, 4])
        assert (deal["usage_hours"], deal["per_buyer_limit"], deal["total_quantity"]) == (["10:00", "24:00"], 3, 50)
        assert (deal["store_ids"], deal["all_stores"], deal["auto_refund_at_expiry"]) == (
            [stack.demo.store_id],
            False,
            True,
        )
        drafts = await client.get("/seller/deals?status=draft")
        assert f'data-testid="deal-row-{deal_id}"' in drafts.text

        page = await client.get(f"/seller/deals/{deal_id}")
        assert _testid(page.text, "deal-status") == "draft"
        assert _testid(page.text, "deal-price") == "$99.00"
        assert "Demo Outfitters Studio" in _testid(page.text, "deal-stores")
        published = await client.post(f"/seller/deals/{deal_id}/publish", data={"_csrf_token": csrf(client)})
        assert published.status_code == 303
        assert (await _api(stack, "GET", f"/seller/deals/{deal_id}"))["status"] == "published"
        on_sale = await client.get("/seller/deals?status=published")
        assert f'data-testid="deal-row-{deal_id}"' in on_sale.text
        assert f'data-testid="deal-row-{deal_id}"' not in (await client.get("/seller/deals?status=draft")).text

        buyer = new_buyer(stack)
        await pay_checkout(stack, buyer, [{"deal_id": deal_id, "quantity": 1}])
        await vouchers_of(stack, buyer, 2)

        async def counted() -> str | None:
            shown = await client.get(f"/seller/deals/{deal_id}")
            return shown.text if _testid(shown.text, "vouchers-sold") == "2" else None

        shown = await eventually(counted, timeout=15)
        assert _testid(shown, "vouchers-unused") == "2"
        assert _testid(shown, "vouchers-redeemed") == "0"
        assert _testid(shown, "deal-sold") == "1 of 50"

        ended = await client.post(f"/seller/deals/{deal_id}/end", data={"_csrf_token": csrf(client)})
        assert ended.status_code == 303
        assert (await _api(stack, "GET", f"/seller/deals/{deal_id}"))["status"] == "ended"
        page = await client.get(f"/seller/deals/{deal_id}")
        assert _testid(page.text, "deal-status") == "ended"
        assert 'data-testid="end-deal"' not in page.text


async def test_a_draft_is_edited_to_a_window_of_days_and_a_published_deal_no_longer_changes(stack: Stack) -> None:
    token = stack.demo.token(stack.infra, "merchant")
    draft = await new_deal(stack, token, currency="USD", store_ids=[stack.demo.store_id])
    path = f"/seller/deals/{draft['deal_id']}"
    async with signed_in_as(stack) as client:
        edit = await client.get(f"{path}/edit")
        assert edit.status_code == 200
        assert 'name="price" type="text" value="99.00"' in edit.text
        changes = _deal_form(
            stack.demo.store_id,
            title="Hotpot for four",
            price="180",
            value="260.50",
            validity="window",
            valid_from="2030-01-01",
            valid_until="2030-03-31",
            window_timezone="Asia/Shanghai",
            usage_from="",
            usage_to="",
            total_quantity="",
        )
        saved = await client.post(f"{path}/edit", data={**changes, "_csrf_token": csrf(client)})
        assert saved.status_code == 303, saved.text
        deal = await _api(stack, "GET", f"/seller/deals/{draft['deal_id']}")
        assert (deal["title"], deal["price_minor"], deal["original_value_minor"]) == ("Hotpot for four", 18000, 26050)
        # Whole days in Shanghai: from midnight of the first to midnight after the last (UTC+8).
        assert (deal["valid_days"], deal["valid_from"], deal["valid_until"]) == (
            None,
            "2029-12-31T16:00:00Z",
            "2030-03-31T16:00:00Z",
        )
        assert (deal["usage_hours"], deal["total_quantity"]) == (None, None)
        again = await client.get(f"{path}/edit")  # the window reads back as the days typed
        assert 'name="valid_from" type="date" value="2030-01-01"' in again.text
        assert 'name="valid_until" type="date" value="2030-03-31"' in again.text

        await client.post(f"{path}/publish", data={"_csrf_token": csrf(client)})
        late = await client.post(f"{path}/edit", data={**changes, "title": "Too late", "_csrf_token": csrf(client)})
        assert late.status_code == 409
        assert "the deal is published; only a draft changes" in late.text
    assert (await _api(stack, "GET", f"/seller/deals/{draft['deal_id']}"))["title"] == "Hotpot for four"


async def test_deal_refusals_are_shown_by_the_field_local_life_names(stack: Stack) -> None:
    async with signed_in_as(stack) as client:
        before = await client.get("/seller/deals")
        keys = await _new_deal_form(client)
        cheap = await client.post("/seller/deals/new", data={**_deal_form(stack.demo.store_id, value="50"), **keys})
        assert cheap.status_code == 422, cheap.text
        assert _testid(cheap.text, "error-value") == "the original value is at least the price"
        assert 'data-testid="error-price"' not in cheap.text
        assert hidden(cheap.text, "idempotency_key") == keys["idempotency_key"]

        window = _deal_form(stack.demo.store_id, validity="window", valid_from="2030-02-01", valid_until="2030-01-01")
        backwards = await client.post("/seller/deals/new", data={**window, **keys})
        assert backwards.status_code == 422
        assert _testid(backwards.text, "error-valid_until") == "the window starts before it ends"

        local = _deal_form(stack.demo.store_id, price="9.999", usage_weekday=[])
        checked = await client.post("/seller/deals/new", data={**local, **keys})
        assert checked.status_code == 422
        assert _testid(checked.text, "error-price") == "Too many decimal places for this currency"
        assert _testid(checked.text, "error-usage_weekdays") == "Choose at least one weekday"
        after = await client.get("/seller/deals")
        assert before.text.count("deal-row-") == after.text.count("deal-row-")

        # A draft for no store cannot be published: the deal's page says why, with a 422.
        nowhere = await new_deal(stack, stack.demo.token(stack.infra, "merchant"), currency="USD")
        refused = await client.post(f"/seller/deals/{nowhere['deal_id']}/publish", data={"_csrf_token": csrf(client)})
        assert refused.status_code == 422
        assert _testid(refused.text, "deal-refusal") == "the deal is sold for no open store of the merchant's"
        assert (await _api(stack, "GET", f"/seller/deals/{nowhere['deal_id']}"))["status"] == "draft"


# --- who may ---------------------------------------------------------------------------------------------------------


async def test_another_merchants_store_and_deal_are_404_and_unchanged(stack: Stack) -> None:
    _, other = merchant(stack)
    store = await new_store(stack, other, name="Not yours")
    deal = await new_deal(stack, other, title="Not yours either", store_ids=[store["store_id"]])
    async with signed_in_as(stack) as client:
        token = csrf(client)
        for path in (
            f"/seller/stores/{store['store_id']}",
            f"/seller/stores/{store['store_id']}/edit",
            f"/seller/deals/{deal['deal_id']}",
            f"/seller/deals/{deal['deal_id']}/edit",
            "/seller/stores/not-a-store",
            "/seller/deals/not-a-deal",
        ):
            answer = await client.get(path)
            assert answer.status_code == 404, path
            assert "Not yours" not in answer.text
        for path, data in (
            (f"/seller/stores/{store['store_id']}/edit", _store_form(name="Mine now")),
            (f"/seller/stores/{store['store_id']}/status", {"status": "closed"}),
            (f"/seller/stores/{store['store_id']}/clerks", {"clerk_id": "intruder", "name": "Eve"}),
            (f"/seller/stores/{store['store_id']}/clerks/intruder/remove", {}),
            (f"/seller/deals/{deal['deal_id']}/edit", _deal_form(store["store_id"], title="Mine now")),
            (f"/seller/deals/{deal['deal_id']}/publish", {}),
            (f"/seller/deals/{deal['deal_id']}/end", {}),
        ):
            answer = await client.post(path, data={**data, "_csrf_token": token})
            assert answer.status_code == 404, path
    found = await _api(stack, "GET", f"/seller/stores/{store['store_id']}", other)
    assert (found["name"], found["status"]) == ("Not yours", "open")
    assert (await _api(stack, "GET", f"/seller/stores/{store['store_id']}/clerks", other))["items"] == []
    found = await _api(stack, "GET", f"/seller/deals/{deal['deal_id']}", other)
    assert (found["title"], found["status"]) == ("Not yours either", "draft")


@pytest.mark.parametrize("role", ["buyer", "clerk"])
async def test_only_a_merchant_gets_the_local_life_back_office(stack: Stack, role: str) -> None:
    async with signed_in_as(stack, role) as client:
        for path in ("/seller/stores", "/seller/deals", "/seller/deals/new", "/seller/redemptions"):
            assert (await client.get(path)).status_code == 403, path
        for path in ("/seller/stores", "/seller/deals/new", "/seller/settlements"):
            assert (await client.post(path, data={"_csrf_token": csrf(client)})).status_code == 403, path


async def test_the_forms_need_their_csrf_token(stack: Stack) -> None:
    before = await _store_ids(stack)
    async with signed_in_as(stack) as client:
        await client.get("/seller/stores")
        assert (await client.post("/seller/stores", data=_store_form())).status_code == 403
        keys = await _new_deal_form(client)
        form = _deal_form(stack.demo.store_id, idempotency_key=keys["idempotency_key"])
        assert (await client.post("/seller/deals/new", data=form)).status_code == 403
        assert (await client.post("/seller/settlements", data={"idempotency_key": "k"})).status_code == 403
    assert await _store_ids(stack) == before


async def test_the_stores_page_reads_in_simplified_chinese(stack: Stack) -> None:
    async with signed_in_as(stack) as client:
        client.cookies.set("liveloop_lang", "zh_Hans")
        page = await client.get("/seller/stores")
        assert "添加门店" in page.text
        assert '<label for="hours-0-0-opens" class="visually-hidden">周一开门</label>' in page.text
        deal = await client.get("/seller/deals/new")
        assert "新建团购" in deal.text


# --- redemptions and settlement ----------------------------------------------------------------------------------


async def _redeemed_voucher(stack: Stack) -> dict[str, Any]:
    """A voucher of a new deal of the demo merchant at the demo store, bought and redeemed there by the demo clerk."""
    merchant_token = stack.demo.token(stack.infra, "merchant")
    deal = await new_deal(stack, merchant_token, publish=True, currency="USD", store_ids=[stack.demo.store_id])
    buyer = new_buyer(stack)
    await pay_checkout(stack, buyer, [{"deal_id": deal["deal_id"], "quantity": 1}])
    (voucher,) = await vouchers_of(stack, buyer, 1)
    clerk = stack.demo.token(stack.infra, "clerk")
    prepared = await _api(stack, "POST", "/redemptions/prepare", clerk, json={"code": voucher["code"]})
    verified = await _api(
        stack,
        "POST",
        "/redemptions/verify",
        clerk,
        json={"verify_token": prepared["verify_token"], "voucher_ids": [voucher["voucher_id"]]},
    )
    return verified["vouchers"][0]


async def test_redemptions_per_store_per_day_and_their_range(stack: Stack) -> None:
    redeemed = await _redeemed_voucher(stack)
    # The demo store's day is Los Angeles', not UTC's.
    local_day = str(datetime.fromisoformat(redeemed["redeemed_at"]).astimezone(ZoneInfo("America/Los_Angeles")).date())
    report = await _api(stack, "GET", "/seller/reports/redemptions", params={"from": local_day, "to": local_day})
    [row] = [r for r in report["items"] if r["store_id"] == stack.demo.store_id]
    async with signed_in_as(stack) as client:
        page = await client.get("/seller/redemptions")  # the last 7 days by default
        assert page.status_code == 200, page.text
        shown = re.search(rf'data-testid="report-{stack.demo.store_id}-{local_day}".*?</tr>', page.text, re.S)
        assert shown, page.text
        assert f'data-testid="report-count">{row["redemptions"]}<' in shown.group(0)
        assert f'data-testid="report-amount">${row["amount_minor"] / 100:,.2f}<' in shown.group(0)
        asked = await client.get("/seller/redemptions", params={"from": local_day, "to": local_day})
        assert f'value="{local_day}"' in asked.text
        assert f'data-testid="report-{stack.demo.store_id}-{local_day}"' in asked.text

        backwards = await client.get("/seller/redemptions", params={"from": "2030-02-01", "to": "2030-01-01"})
        assert backwards.status_code == 422
        assert _testid(backwards.text, "error-to") == "`to` is on or after `from`"
        typo = await client.get("/seller/redemptions", params={"from": "last week"})
        assert typo.status_code == 422
        assert _testid(typo.text, "error-from") == "Enter a date such as 2025-12-31"


async def test_what_is_due_is_settled_once_past_the_undo_window(stack: Stack) -> None:
    # Nothing of the demo merchant is past its undo window yet (every redemption of this module is minutes old).
    await _redeemed_voucher(stack)
    async with signed_in_as(stack) as client:
        page = await client.get("/seller/redemptions")
        assert _testid(page.text, "settlement-due") == "Nothing is due."
        refused = await client.post(
            "/seller/settlements", data={"idempotency_key": str(uuid.uuid4()), "_csrf_token": csrf(client)}
        )
        assert refused.status_code == 409
        assert _testid(refused.text, "settle-refusal") == (
            "no redemption is due: none past the undo window and not settled yet"
        )

        stack.clock.advance(3601)  # local_life's clock: every redemption so far is now past its hour
        due = await _api(stack, "GET", "/seller/settlement")
        [usd] = due["totals"]
        page = await client.get("/seller/redemptions")
        assert _testid(page.text, "due-USD") == f"${usd['amount_minor'] / 100:,.2f} ({usd['redemptions']} vouchers)"
        form = {"idempotency_key": hidden(page.text, "idempotency_key"), "_csrf_token": csrf(client)}
        settled = await client.post("/seller/settlements", data=form)
        assert settled.status_code == 303, settled.text
        again = await client.post("/seller/settlements", data=form)  # a double click settles once
        assert again.headers["location"] == settled.headers["location"]
        settlement_id = re.search(r"settled=([0-9a-f-]+)", settled.headers["location"]).group(1)
        page = await client.get(settled.headers["location"])
        assert "Settled:" in _testid(page.text, "settled")
        assert f'data-testid="settlement-{settlement_id}"' in page.text
        assert _testid(page.text, "settlement-due") == "Nothing is due."
    past = await _api(stack, "GET", "/seller/settlements")
    assert [s["settlement_id"] for s in past["items"]] == [settlement_id]
    assert past["items"][0]["totals"] == [usd]
