"""The funnel's pure rules: which facts an event records, how new facts fold, and which source an order line gets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from libs.contracts import CartItemAdded, OrderCancelled, OrderLine, OrderPaid, RoomViewed
from services.live.funnel.domain import facts
from services.live.funnel.domain.attribution import Line, RoomAt, Touch, VideoAt, Windows, choose

T = datetime(2026, 12, 4, 12, 0, 30, tzinfo=UTC)
WINDOWS = Windows(room_s=1800, video_s=7 * 24 * 3600)
ROOM = "7f1b6a52-8a2b-4c61-9d6e-0a6c1d2e3f40"
MERCHANT = "0b7e3c1a-2d4f-4e5a-8b6c-7d8e9f0a1b2c"
PRODUCT = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"


def line(**changes: object) -> Line:
    fields: dict[str, object] = dict(order_id="o1", line_no=0, buyer_id="bob", merchant_id=MERCHANT, product_id=PRODUCT)
    return Line(**(fields | changes), at=T)  # type: ignore[arg-type]


def touch(source_type: str, minutes_before: float, source_id: str = "s1") -> Touch:
    return Touch(source_type=source_type, source_id=source_id, at=T - timedelta(minutes=minutes_before), host_id="h")


def test_room_click_29_minutes_before_the_order_is_its_source_and_31_minutes_is_not() -> None:
    assert choose(line(), None, None, [touch("room", 29)], WINDOWS).room_id == "s1"
    assert choose(line(), None, None, [touch("room", 31)], WINDOWS).source_type is None


def test_video_touch_counts_for_seven_days_and_the_last_touch_in_its_window_wins() -> None:
    assert choose(line(), None, None, [touch("video", 6 * 24 * 60)], WINDOWS).video_id == "s1"
    assert choose(line(), None, None, [touch("video", 8 * 24 * 60)], WINDOWS).source_type is None
    # A room click 40 minutes ago is out of its window: the older video touch still in its own wins.
    chosen = choose(line(), None, None, [touch("room", 40, "r"), touch("video", 60, "v")], WINDOWS)
    assert (chosen.source_type, chosen.video_id) == ("video", "v")
    chosen = choose(line(), None, None, [touch("room", 5, "r"), touch("video", 60, "v")], WINDOWS)
    assert (chosen.source_type, chosen.room_id) == ("room", "r")


def test_line_naming_its_room_wins_over_a_later_touch_unless_the_room_is_another_merchants() -> None:
    room = RoomAt(room_id=ROOM, host_id="host", merchant_id=MERCHANT, session_id="sess")
    chosen = choose(line(room_id=ROOM), room, None, [touch("video", 1, "v")], WINDOWS)
    assert (chosen.source_type, chosen.room_id, chosen.session_id, chosen.host_id) == ("room", ROOM, "sess", "host")
    foreign = RoomAt(room_id=ROOM, host_id="host", merchant_id="someone-else")
    assert choose(line(room_id=ROOM), foreign, None, [touch("video", 1, "v")], WINDOWS).video_id == "v"
    video = VideoAt(video_id="v9", host_id="vh", merchant_id=MERCHANT)
    assert choose(line(video_id="v9"), None, video, [touch("room", 1)], WINDOWS).video_id == "v9"


def test_touch_after_the_order_does_not_count() -> None:
    later = Touch(source_type="room", source_id="r", at=T + timedelta(seconds=1))
    assert choose(line(), None, None, [later], WINDOWS).source_type is None


def test_a_view_names_every_scope_and_folds_into_each_with_its_unique_viewer() -> None:
    event = RoomViewed(
        visit_id="v1",
        room_id=ROOM.upper(),
        session_id="S",
        host_id="host",
        merchant_id=MERCHANT,
        viewer_id="ann",
        joined_at=T,
    )
    [draft] = facts.drafts_of(event, "trace")
    assert draft.fact.fact_key == "view:v1"
    assert draft.fact.room_id == ROOM  # one spelling of our ids
    assert draft.fact.trace_id == "trace"
    folded = facts.fold([draft.fact, draft.fact])
    assert [(m.scope, m.step, m.minute.second, m.n) for m in folded.minutes] == [
        ("host", "view", 0, 2),
        ("merchant", "view", 0, 2),
        ("room", "view", 0, 2),
        ("session", "view", 0, 2),
    ]
    assert {(u.scope, u.kind, u.person_id) for u in folded.uniques} == {
        ("host", "viewer", "ann"),
        ("merchant", "viewer", "ann"),
        ("room", "viewer", "ann"),
        ("session", "viewer", "ann"),
    }
    assert folded.changed.rooms == (ROOM,)
    assert folded.changed.sessions == ("S",)


def test_paid_order_records_a_fact_per_line_plus_sale_and_coupon_steps() -> None:
    lines = [
        OrderLine(
            sku_id="k", product_id=PRODUCT, title="t", sku_name="s", quantity=2, unit_price_minor=500, amount_minor=900
        ),
        OrderLine(
            sku_id="k2",
            product_id=PRODUCT,
            title="t",
            sku_name="s",
            quantity=1,
            unit_price_minor=300,
            amount_minor=300,
            flash_sale_id="sale",
        ),
    ]
    event = OrderPaid(
        order_id="o1",
        checkout_id="c",
        buyer_id="bob",
        merchant_id=MERCHANT,
        lines=lines,
        coupon_id="cp",
        discount_minor=100,
        payment_id="p",
        amount_minor=1200,
        currency="usd",
        paid_at=T,
    )
    drafts = facts.drafts_of(event)
    assert [d.fact.fact_key for d in drafts] == ["paid:o1:0", "paid:o1:1", "sale_paid:o1:1", "coupon_used:cp"]
    assert [d.fact.amount_minor for d in drafts] == [900, 300, 300, 100]
    assert {d.fact.currency for d in drafts} == {"USD"}
    assert all(d.line is not None and d.keeps for d in drafts)
    cancelled = OrderCancelled(
        order_id="o1", checkout_id="c", buyer_id="bob", merchant_id=MERCHANT, lines=lines, reason="expired"
    )
    assert [d.fact.fact_key for d in facts.drafts_of(cancelled)] == ["sale_expired:o1:1"]


def test_cart_line_from_a_room_of_another_merchant_has_no_source_and_is_no_touch() -> None:
    event = CartItemAdded(
        fact_key="bob:k:t",
        buyer_id="bob",
        sku_id="k",
        product_id=PRODUCT,
        merchant_id=MERCHANT,
        quantity=1,
        unit_price_minor=100,
        currency="USD",
        source_type="room",
        source_id=ROOM,
        added_at=T,
    )
    [draft] = facts.drafts_of(event)
    foreign = {(ROOM, T): RoomAt(room_id=ROOM, host_id="h", merchant_id="other")}
    fact = facts.complete(draft, foreign, {}, None)
    assert fact.room_id is None
    assert facts.fold([fact]).touches == []
    own = {(ROOM, T): RoomAt(room_id=ROOM, host_id="h", merchant_id=MERCHANT, session_id="s")}
    fact = facts.complete(draft, own, {}, None)
    assert (fact.source_type, fact.room_id, fact.session_id, fact.host_id) == ("room", ROOM, "s", "h")
    [row] = facts.fold([fact]).touches
    assert (row.person_id, row.item_id, row.at, row.source_type, row.source_id) == ("bob", PRODUCT, T, "room", ROOM)
