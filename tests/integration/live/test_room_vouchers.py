"""Vouchers of local_life deals counted for the room that sold them: sold, redeemed (less undone), refunded, expired;
each fact once, however often and under whichever event id it arrives (local_life's events are published by the
test)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import msgspec

from libs.contracts import (
    Event,
    IssuedVoucher,
    RedemptionUndone,
    VoucherRedeemed,
    VouchersExpired,
    VouchersIssued,
    VoucherSource,
    VouchersRefunded,
    new_event_id,
)
from tests.harness import Infra, Stack, caught_up, delivered_twice, eventually, publish
from tests.integration.live.support import Room, create_room, new_id, stats

SERVICES = ("live",)

COUNTERS = ("vouchers_sold", "vouchers_redeemed", "vouchers_refunded", "vouchers_expired")


def source(room_id: str | None) -> VoucherSource:
    return VoucherSource(order_id=new_id(), line_no=1, room_id=room_id)


def issued(merchant_id: str, room_id: str | None, count: int = 1) -> VouchersIssued:
    now = datetime.now(UTC)
    return VouchersIssued(
        deal_id=new_id(),
        merchant_id=merchant_id,
        buyer_id=f"buyer-{uuid.uuid4().hex[:8]}",
        source=source(room_id),
        vouchers=[
            IssuedVoucher(voucher_id=new_id(), valid_from=now, valid_until=now + timedelta(days=30))
            for _ in range(count)
        ],
    )


def redeemed(sold: VouchersIssued, index: int = 0) -> VoucherRedeemed:
    return VoucherRedeemed(
        redemption_id=new_id(),
        voucher_id=sold.vouchers[index].voucher_id,
        deal_id=sold.deal_id,
        merchant_id=sold.merchant_id,
        store_id=new_id(),
        clerk_id="clerk-1",
        source=sold.source,
        redeemed_at=datetime.now(UTC),
    )


def undone(redemption: VoucherRedeemed) -> RedemptionUndone:
    return RedemptionUndone(
        redemption_id=redemption.redemption_id,
        voucher_id=redemption.voucher_id,
        deal_id=redemption.deal_id,
        merchant_id=redemption.merchant_id,
        store_id=redemption.store_id,
        clerk_id=redemption.clerk_id,
        source=redemption.source,
        undone_at=datetime.now(UTC),
    )


def refunded(sold: VouchersIssued, *indexes: int) -> VouchersRefunded:
    return VouchersRefunded(
        grant_id=new_id(),
        reason="buyer",
        deal_id=sold.deal_id,
        merchant_id=sold.merchant_id,
        buyer_id=sold.buyer_id,
        source=sold.source,
        voucher_ids=[sold.vouchers[i].voucher_id for i in indexes],
        amount_minor=1000 * len(indexes),
    )


def expired(sold: VouchersIssued, *indexes: int) -> VouchersExpired:
    return VouchersExpired(
        deal_id=sold.deal_id,
        merchant_id=sold.merchant_id,
        buyer_id=sold.buyer_id,
        source=sold.source,
        voucher_ids=[sold.vouchers[i].voucher_id for i in indexes],
    )


async def arrives_every_way(stack: Stack, event: Event) -> None:
    """Delivered twice under one event id (a redelivery), then again under a new one (the same fact republished)."""
    await delivered_twice(stack, event)
    await publish(stack, msgspec.structs.replace(event, event_id=new_event_id()))


async def counted(stack: Stack, room: Room, **expected: int) -> None:
    """Once live has applied every event published so far, the room's voucher counters are `expected` (the ones not
    named: zero)."""
    await eventually(lambda: caught_up(stack, "live", "live__room_vouchers", "LOCAL", deliveries=0), timeout=15)
    body = await stats(stack, room)
    assert {name: body[name] for name in COUNTERS} == {name: expected.get(name, 0) for name in COUNTERS}


async def test_vouchers_sold_in_a_room_count_once_each(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    card = issued(room.merchant_id, room.room_id, count=3)  # a 3-visit card: three vouchers
    await arrives_every_way(stack, card)
    # A later event of the same consumer: once it shows, every delivery before it was handled.
    await publish(stack, issued(room.merchant_id, room.room_id))
    await counted(stack, room, vouchers_sold=4)


async def test_redemptions_count_once_and_an_undo_takes_back_a_counted_one(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    sold = issued(room.merchant_id, room.room_id, count=3)
    await publish(stack, sold)
    first, second = redeemed(sold, 0), redeemed(sold, 1)
    await arrives_every_way(stack, first)
    await publish(stack, second)
    await counted(stack, room, vouchers_sold=3, vouchers_redeemed=2)

    await arrives_every_way(stack, undone(first))
    await counted(stack, room, vouchers_sold=3, vouchers_redeemed=1)

    # The voucher is usable again and redeemed anew: a new redemption, counted.
    again = redeemed(sold, 0)
    await publish(stack, again)
    await counted(stack, room, vouchers_sold=3, vouchers_redeemed=2)


async def test_an_undo_ahead_of_its_redemption_leaves_nothing_counted(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    sold = issued(room.merchant_id, room.room_id, count=2)
    await publish(stack, sold)
    early = redeemed(sold, 0)
    # The relay may publish a redemption and its undo in either order.
    await publish(stack, undone(early))
    await publish(stack, early)
    await publish(stack, redeemed(sold, 1))
    await counted(stack, room, vouchers_sold=2, vouchers_redeemed=1)
    # An undo of a redemption counted nowhere never takes another one back.
    await arrives_every_way(stack, undone(early))
    await publish(stack, expired(sold, 1))  # a marker on the same consumer
    await counted(stack, room, vouchers_sold=2, vouchers_redeemed=1, vouchers_expired=1)


async def test_refunded_and_expired_vouchers_count_once_each(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    sold = issued(room.merchant_id, room.room_id, count=4)
    await publish(stack, sold)
    await arrives_every_way(stack, refunded(sold, 0, 1))
    # A second grant naming a voucher already refunded (and one not yet) counts only the new one.
    await publish(stack, refunded(sold, 1, 2))
    await arrives_every_way(stack, expired(sold, 3))
    await counted(stack, room, vouchers_sold=4, vouchers_refunded=3, vouchers_expired=1)


async def test_vouchers_of_no_room_or_anothers_room_count_nowhere(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    room = await create_room(stack, infra, merchant_id)
    foreign = await create_room(stack, infra)  # sells for another merchant
    for event in (
        issued(merchant_id, None, count=2),
        issued(merchant_id, new_id(), count=2),  # a room live never created
        issued(merchant_id, "not-a-room"),
        issued(merchant_id, foreign.room_id, count=2),
    ):
        await publish(stack, event)
    stray = issued(merchant_id, foreign.room_id)
    await publish(stack, redeemed(stray))
    await publish(stack, issued(merchant_id, room.room_id))  # the marker: handled after every event above
    await counted(stack, room, vouchers_sold=1)
    await counted(stack, foreign)
