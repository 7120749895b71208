"""The funnel's figures over HTTP: who may read which scope, the series' range, the review's rules, and the figures
read from the read model's rows (written here as the funnel's consumers write them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.harness import Infra, Stack, assert_problem
from tests.integration.live.funnel.reading import funnel, money
from tests.integration.live.support import Room, control, create_room, new_id

SERVICES = ("live",)

M0 = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)


async def get(stack: Stack, path: str, token: str, **params: object):
    async with stack.client("live", token) as client:
        return await client.get(path, params=params)


async def session_of(db: asyncpg.Connection, room: Room) -> str:
    return str(await db.fetchval("SELECT session_id FROM live.room_sessions WHERE room_id = $1", room.room_id))


# --- who may read ---------------------------------------------------------------------------------


async def test_a_rooms_funnel_is_for_its_host_and_merchant_only(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    for token in (room.host, room.merchant):
        body = await funnel(stack, f"/rooms/{room.room_id}/funnel", token)
        assert (body["scope"], body["scope_id"], body["views"], body["series"]) == ("room", room.room_id, 0, [])
    another_host = infra.token("host", merchant_id=room.merchant_id)
    another_merchant = infra.token("merchant", merchant_id=new_id())
    for token in (another_host, another_merchant):
        assert_problem(await get(stack, f"/rooms/{room.room_id}/funnel", token), 404, "not-found")
    assert_problem(await get(stack, f"/rooms/{room.room_id}/funnel", infra.token("buyer")), 403)
    for path in ("/rooms/not-a-uuid/funnel", f"/rooms/{new_id()}/funnel"):
        assert_problem(await get(stack, path, room.host), 404, "not-found")


async def test_sessions_and_sales_of_another_room_are_not_found(stack: Stack, infra: Infra, db) -> None:
    room, other = await create_room(stack, infra), await create_room(stack, infra)
    await control(stack, other, "start")
    elsewhere = await session_of(db, other)
    for path in (
        f"/rooms/{room.room_id}/sessions/{elsewhere}/funnel",
        f"/rooms/{room.room_id}/sessions/nope/funnel",
        f"/rooms/{room.room_id}/flash-sales/{new_id()}/funnel",
        f"/rooms/{room.room_id}/flash-sales/nope/funnel",
        f"/videos/{new_id()}/funnel",
        "/videos/nope/funnel",
    ):
        assert_problem(await get(stack, path, room.host), 404, "not-found")
    body = await funnel(stack, f"/rooms/{other.room_id}/sessions/{elsewhere}/funnel", other.merchant)
    assert (body["scope"], body["scope_id"]) == ("session", elsewhere)


async def test_a_host_and_a_merchant_read_only_their_own(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", sub="host-own-figures", merchant_id=merchant_id)
    merchant = infra.token("merchant", merchant_id=merchant_id)
    assert (await funnel(stack, "/hosts/host-own-figures/funnel", host))["scope"] == "host"
    assert (await funnel(stack, f"/merchants/{merchant_id.upper()}/funnel", merchant))["scope_id"] == merchant_id
    assert_problem(await get(stack, "/hosts/someone-else/funnel", host), 404, "not-found")
    assert_problem(await get(stack, f"/merchants/{new_id()}/funnel", merchant), 404, "not-found")
    assert_problem(await get(stack, "/merchants/not-a-uuid/funnel", merchant), 404, "not-found")
    assert_problem(await get(stack, "/hosts/host-own-figures/funnel", merchant), 403)


# --- the series' range and the review's rules ---------------------------------------------------------


async def test_a_series_range_must_be_both_ends_within_a_day(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    path = f"/rooms/{room.room_id}/funnel"
    start = M0.isoformat()
    cases = [
        ({"from": start}, "to"),
        ({"to": start}, "from"),
        ({"from": start, "to": (M0 + timedelta(hours=24, minutes=1)).isoformat()}, "to"),
        ({"from": start, "to": start}, "to"),
    ]
    for params, field in cases:
        assert_problem(await get(stack, path, room.host, **params), 422, "bad-series-range", field)
    assert_problem(await get(stack, path, room.host, **{"from": "yesterday", "to": start}), 400, field="from")
    body = await funnel(stack, path, room.host, **{"from": start, "to": (M0 + timedelta(hours=24)).isoformat()})
    assert (body["series_from"], body["series"]) == ("2026-01-05T20:00:00Z", [])


async def test_a_review_waits_until_the_room_has_ended(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    assert_problem(await get(stack, f"/rooms/{room.room_id}/review", room.host), 409, "room-not-ended")
    await control(stack, room, "start")
    live = assert_problem(await get(stack, f"/rooms/{room.room_id}/review", room.host), 409, "room-not-ended")
    assert live["room_status"] == "live"
    await control(stack, room, "end")
    assert_problem(await get(stack, f"/rooms/{room.room_id}/review", infra.token("host")), 404, "not-found")
    review = (await get(stack, f"/rooms/{room.room_id}/review", room.merchant)).json()
    assert (review["room_id"], review["top_products"], review["best_minute"], review["sales"]) == (
        room.room_id,
        [],
        None,
        [],
    )
    assert review["funnel"]["views"] == 0


# --- figures from the read model's rows ----------------------------------------------------------------


async def seed(db: asyncpg.Connection, room: Room, session_id: str, products: list[str]) -> None:
    """A little of what the consumers fold for a room: 3 minutes of steps, two orders (one of two lines), refunds."""
    m0, m1, m2 = M0, M0 + timedelta(minutes=1), M0 + timedelta(minutes=2)
    rows = [
        ("view", m0, "", 10, 0, 0, 0.0),
        ("watch", m1, "", 4, 0, 0, 4 * 30.0),
        ("impression", m0, "", 8, 0, 0, 0.0),
        ("click", m0, "", 4, 0, 0, 0.0),
        ("cart", m1, "", 3, 3, 0, 0.0),
        ("order", m1, "USD", 3, 4, 5000, 0.0),
        ("paid", m1, "USD", 2, 3, 3000, 0.0),
        ("paid", m2, "USD", 1, 1, 2000, 0.0),
        ("refund", m2, "USD", 1, 1, 500, 0.0),
    ]
    for scope, scope_id in (("room", room.room_id), ("session", session_id)):
        await db.executemany(
            """INSERT INTO live.funnel_minutes (scope, scope_id, step, minute, currency, n, quantity, amount_minor,
                                                watch_s)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            [(scope, scope_id, *row) for row in rows],
        )
        await db.executemany(
            "INSERT INTO live.funnel_uniques (scope, scope_id, kind, person_id, first_at) VALUES ($1, $2, $3, $4, $5)",
            [(scope, scope_id, "viewer", f"v{i}", m0) for i in range(7)]
            + [(scope, scope_id, "clicker", f"v{i}", m0) for i in range(3)]
            + [(scope, scope_id, "buyer", f"v{i}", m1) for i in range(2)],
        )
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    a, b = products
    facts = [  # (step, order, line, product, quantity, amount, at)
        ("order", first, 1, a, 2, 2000, m1),
        ("order", first, 2, b, 1, 1000, m1),
        ("order", second, 1, a, 1, 2000, m1),
        ("paid", first, 1, a, 2, 2000, m1),
        ("paid", first, 2, b, 1, 1000, m1),
        ("paid", second, 1, a, 1, 2000, m2),
        ("refund", first, 2, b, 1, 500, m2),
    ]
    await db.executemany(
        """INSERT INTO live.funnel_facts (fact_key, step, at, source_type, room_id, session_id, host_id, merchant_id,
                                          person_id, product_id, order_id, quantity, amount_minor, currency)
           VALUES ($1, $2, $3, 'room', $4, $5, $6, $7, $8, $9, $10, $11, $12, 'USD')""",
        [
            (
                f"{step}:{order}:{line}",
                step,
                at,
                room.room_id,
                session_id,
                "h",
                room.merchant_id,
                "v0",
                product,
                order,
                quantity,
                amount,
            )
            for step, order, line, product, quantity, amount, at in facts
        ],
    )


async def test_figures_series_and_review_add_up_the_rows(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    room = await create_room(stack, infra)
    await control(stack, room, "start")
    session_id = await session_of(db, room)
    products = sorted([new_id(), new_id()])
    await seed(db, room, session_id, products)

    for path in (f"/rooms/{room.room_id}/funnel", f"/rooms/{room.room_id}/sessions/{session_id}/funnel"):
        body = await funnel(stack, path, room.host)
        assert (body["views"], body["unique_viewers"], body["average_watch_s"]) == (10, 7, 30.0)
        assert (body["impressions"], body["clicks"], body["unique_clickers"], body["click_through_rate"]) == (
            8,
            4,
            3,
            0.5,
        )
        assert (body["carts"], body["orders"], body["paid_orders"], body["buyers"], body["refunds"]) == (3, 2, 2, 2, 1)
        assert money(body) == {
            "currency": "USD",
            "gross_paid_minor": 5000,
            "refunded_minor": 500,
            "net_minor": 4500,
            "gpm_minor": 500_000,
            "uv_value_minor": 714,
        }
        assert body["conversion"] == {
            "view_to_click": 0.4,
            "click_to_cart": 0.75,
            "cart_to_order": 0.6667,
            "order_to_paid": 1.0,
        }
        minutes = [
            (p["minute"], p["views"], p["orders"], p["paid_orders"], p["gross_paid_minor"]) for p in body["series"]
        ]
        assert minutes == [
            ("2026-01-05T20:00:00Z", 10, 0, 0, {}),
            ("2026-01-05T20:01:00Z", 0, 2, 1, {"USD": 3000}),
            ("2026-01-05T20:02:00Z", 0, 0, 1, {"USD": 2000}),
        ]
        assert body["series_to"] == "2026-01-05T20:03:00Z"

    asked = {"from": (M0 + timedelta(minutes=1)).isoformat(), "to": (M0 + timedelta(minutes=2)).isoformat()}
    body = await funnel(stack, f"/rooms/{room.room_id}/funnel", room.merchant, **asked)
    assert [p["minute"] for p in body["series"]] == ["2026-01-05T20:01:00Z"]
    assert body["views"] == 10  # the totals are the room's, whatever the series shows

    await control(stack, room, "end")
    review = (await get(stack, f"/rooms/{room.room_id}/review", room.host)).json()
    a, b = products
    assert [(p["product_id"], p["gross_paid_minor"], p["units"], p["paid_orders"]) for p in review["top_products"]] == [
        (a, 4000, 3, 2),
        (b, 1000, 1, 1),
    ]
    assert review["best_minute"] == {
        "minute": "2026-01-05T20:01:00Z",
        "gross_paid_minor": {"USD": 3000},
        "paid_orders": 1,
    }


@pytest.mark.parametrize("who", ["host", "merchant"])
async def test_the_staff_feed_is_for_the_rooms_staff(stack: Stack, infra: Infra, who: str) -> None:
    room = await create_room(stack, infra)
    outsider = infra.token(who, merchant_id=new_id())
    assert_problem(await get(stack, f"/rooms/{room.room_id}/funnel/feed", outsider), 404, "not-found")
    assert_problem(await get(stack, f"/rooms/{new_id()}/funnel/feed", room.host), 404, "not-found")
