"""The feed fan-out benchmark (`python -m bench.feed`, `make bench`), small: 50 viewers on the test stack's live.

The same code as the benchmark (set-up through the API, a spawned viewer process with raw asyncio SSE connections,
buyers over HTTP, the sold-out event's commit time from live's outbox), run against this module's services instead
of a stack of its own, so that `make test` keeps it working. It asserts what the benchmark fails on, never speed.
"""

from __future__ import annotations

import asyncio

from bench.feed import Options, run
from bench.feed_report import failures
from bench.stack import Target
from tests.harness import Infra, Stack

SERVICES = ("shop", "live", "orders")


async def test_every_viewer_of_the_room_gets_the_sale_sold_out_event(stack: Stack, infra: Infra) -> None:
    live = stack.url("live")
    target = Target(
        urls={"live": live, "shop": stack.url("shop"), "orders": stack.url("orders")},
        jwt_secret=infra.jwt_secret,
        live_urls=(live,),
    )
    options = Options(stock=10, buyers=4, in_flight=16, watch_timeout_s=60.0, database_url=infra.database_url)

    # The benchmark blocks (sync set-up, its own loops for the buyers): a thread, so that this loop serves the stack.
    [result] = await asyncio.to_thread(run, target, [50], options)

    assert failures(result) == []
    assert (result.connected, result.failed, result.missed) == (50, 0, 0)
    assert result.admitted == 10
    # Every viewer saw the same changes: each sale.stock of the sale, then its sale.sold_out.
    assert result.changes_min == result.changes_max >= 2
    assert result.deliveries == 50 * result.changes_min
    # The commit time came from live's outbox, and every viewer heard of it after it.
    assert result.from_commit.count == 50
    assert result.from_commit.first_ms is not None
    assert result.from_commit.first_ms > 0
