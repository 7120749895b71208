"""The redemption load (issue 10, `make bench`): 50 clerks at two stores press verify on the same voucher at once,
over 200 vouchers, 4 vouchers at a time; each voucher is redeemed exactly once. Prints verify requests/s,
redemptions/s and verify latency against a ceiling measured in the same run: `GET /clerk/me` (same token check,
same clerk-and-store read) with the same number of requests at the same concurrency. Never asserts on speed.

`.venv/bin/python -m pytest -m bench -s tests/integration/local_life/test_redemption_load.py`
"""

from __future__ import annotations

import asyncio
import os
import platform
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx
import pytest

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

pytestmark = [pytest.mark.bench, pytest.mark.timeout(600)]

SERVICES = ("local_life",)

CLERKS = 50  # 25 at each of two stores
BUYERS = 40
VOUCHERS_EACH = 5  # 40 buyers x 5 vouchers = 200 vouchers, one order line each
VOUCHERS = BUYERS * VOUCHERS_EACH
AT_ONCE = 4  # vouchers in flight together: each wave is 4 x 50 prepares, then 4 x 50 verifies
WAVE = AT_ONCE * CLERKS
TOTAL_TIMEOUT_S = 400  # the whole load, ceiling included; each request also has the client's 30 s


# Cores this process (the clients and the service, one event loop) and the whole machine used in each run of waves.
cpu_used: list[tuple[float, float]] = []


def machine_busy() -> float:
    """CPU seconds the whole machine has spent not idle (all cores, from /proc/stat)."""
    with open("/proc/stat") as stat:
        ticks = [int(t) for t in stat.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def timed(latencies: list[float], request: Awaitable[httpx.Response]) -> httpx.Response:
    started = time.perf_counter()
    response = await request
    latencies.append(time.perf_counter() - started)
    return response


async def waves(
    count: int, send: Callable[[int, list[float]], Awaitable[list[httpx.Response]]]
) -> tuple[float, list[float], list[list[httpx.Response]]]:
    """Run `count` waves one after the other; the seconds spent inside them, each request's latency, the answers."""
    latencies: list[float] = []
    answers = []
    busy = 0.0
    cpu, machine = time.process_time(), machine_busy()
    for n in range(count):
        started = time.perf_counter()
        answers.append(await send(n, latencies))
        busy += time.perf_counter() - started
    cpu_used.append(((time.process_time() - cpu) / busy, (machine_busy() - machine) / busy))
    return busy, latencies, answers


async def ceiling(clients: list[httpx.AsyncClient], requests: int) -> tuple[float, list[float]]:
    """`requests` x `GET /clerk/me`, WAVE at a time (each clerk AT_ONCE at once): seconds and latencies."""

    async def wave(_: int, latencies: list[float]) -> list[httpx.Response]:
        answers = await asyncio.gather(*(timed(latencies, c.get("/clerk/me")) for c in clients for _ in range(AT_ONCE)))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]
        return answers

    busy, latencies, _ = await waves(requests // WAVE, wave)
    return busy, latencies


async def test_fifty_clerks_on_each_of_two_hundred_vouchers_redeem_each_once(stack: Stack) -> None:
    # Set-up: two stores of one merchant, 25 clerks at each, a deal sold at both, 40 buyers with 5 vouchers each.
    shop = await counter(stack)
    second = await new_store(stack, shop["token"], timezone="Asia/Shanghai", opening_hours=ALL_DAY)
    stores = [shop["store"]["store_id"], second["store_id"]]
    deal = await published_deal(stack, shop, store_ids=stores, vouchers_per_purchase=VOUCHERS_EACH)
    purchases = await asyncio.gather(*(buy(stack, shop, deal) for _ in range(BUYERS)))
    vouchers = [v for views in await asyncio.gather(*(buyer_view(stack, p) for p in purchases)) for v in views]
    assert len(vouchers) == VOUCHERS
    clerks = await asyncio.gather(*(clerk_token(stack, shop, stores[i % 2]) for i in range(CLERKS)))
    # One client per clerk (a clerk's till), each with AT_ONCE requests in flight at most; all to 127.0.0.1.
    clients = [stack.client("local_life", clerk) for clerk in clerks]

    async def redeem(n: int, latencies: list[float]) -> list[httpx.Response]:
        """Vouchers n*AT_ONCE .. +AT_ONCE: every clerk scans each (prepare); then every clerk presses verify."""
        batch = vouchers[n * AT_ONCE : (n + 1) * AT_ONCE]
        prepared = await asyncio.gather(
            *(
                timed(prepare_latency, c.post("/redemptions/prepare", json={"code": v["code"]}))
                for v in batch
                for c in clients
            )
        )
        assert all(p.status_code == 200 for p in prepared), [p.text for p in prepared if p.status_code != 200]
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(
                timed(
                    latencies,
                    c.post(
                        "/redemptions/verify",
                        json={"verify_token": p.json()["verify_token"], "voucher_ids": [v["voucher_id"]]},
                    ),
                )
                for (v, c), p in zip(((v, c) for v in batch for c in clients), prepared, strict=True)
            )
        )
        verify_busy.append(time.perf_counter() - started)
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]
        return answers

    prepare_latency: list[float] = []
    verify_busy: list[float] = []
    try:
        async with asyncio.timeout(TOTAL_TIMEOUT_S):
            before, before_latency = await ceiling(clients, VOUCHERS * CLERKS // 2)
            run_started = time.perf_counter()
            _, verify_latency, answered = await waves(VOUCHERS // AT_ONCE, redeem)
            run = time.perf_counter() - run_started
            after, after_latency = await ceiling(clients, VOUCHERS * CLERKS // 2)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))

    # Exactly one `redeemed` per voucher, everyone else told `already-redeemed`.
    outcomes: dict[str, Counter] = {v["voucher_id"]: Counter() for v in vouchers}
    for answer in (a for wave in answered for a in wave):
        (one,) = answer.json()["vouchers"]
        outcomes[one["voucher_id"]][one["outcome"]] += 1
    assert all(o == {"redeemed": 1, "already-redeemed": CLERKS - 1} for o in outcomes.values()), [
        (v, o) for v, o in outcomes.items() if o != {"redeemed": 1, "already-redeemed": CLERKS - 1}
    ]
    db = stack.apps["local_life"].runtime.db
    live = await db.fetch(
        "SELECT voucher_id::text, count(*) AS n FROM redemptions WHERE undone_at IS NULL GROUP BY voucher_id"
    )
    assert sorted((r["voucher_id"], r["n"]) for r in live) == sorted((v, 1) for v in outcomes)
    redeemed = Counter(e["voucher_id"] for e in await outbox(stack, VoucherRedeemed.SUBJECT))
    assert redeemed == Counter(list(outcomes))

    # Figures (printed with -s; never asserted).
    verify_requests = VOUCHERS * CLERKS
    verify_s = sum(verify_busy)
    ceiling_s = before + after
    verify_rps = verify_requests / verify_s
    ceiling_rps = len(before_latency + after_latency) / ceiling_s
    ms = 1000
    rows = [
        ("ceiling GET /clerk/me before", len(before_latency) / before, before_latency),
        ("ceiling GET /clerk/me after", len(after_latency) / after, after_latency),
        ("ceiling (both)", ceiling_rps, before_latency + after_latency),
        ("prepare (while preparing)", verify_requests / (run - verify_s), prepare_latency),
        ("verify (while verifying)", verify_rps, verify_latency),
    ]
    print(
        f"\n\nRedemption load  vouchers={VOUCHERS}  clerks={CLERKS} (2 stores)  vouchers_at_once={AT_ONCE}"
        f"  requests_in_flight={WAVE}  db_pool_max={stack.apps['local_life'].runtime.settings.db_pool_max}"
        f"  python={platform.python_version()}  nproc={os.cpu_count()}\n"
    )
    print(f"  {'':36}{'req/s':>9}{'ratio':>8}{'count':>8}{'p50 ms':>9}{'p99 ms':>9}")
    for label, rps, lat in rows:
        ratio = f"{rps / ceiling_rps:.2f}" if label.startswith(("prepare", "verify")) else ""
        print(
            f"  {label:36}{rps:9,.0f}{ratio:>8}{len(lat):8}"
            f"{percentile(lat, 50) * ms:9.1f}{percentile(lat, 99) * ms:9.1f}"
        )
    print(f"\n  redemptions/s, verify time only      {VOUCHERS / verify_s:9,.1f}")
    print(f"  redemptions/s, prepare + verify      {VOUCHERS / run:9,.1f}   ({run:.1f} s for {VOUCHERS} vouchers)")
    print(f"  all requests/s, prepare + verify     {2 * verify_requests / run:9,.0f}")
    print("\n  cores busy                  this process (clients + service)   machine")
    for label, (mine, machine) in zip(
        ("ceiling before", "redemption load", "ceiling after"), cpu_used[-3:], strict=True
    ):
        print(f"  {label:28}{mine:10.2f}{machine:28.2f}")
    print(f"  redeemed once each: {len(live)} of {VOUCHERS}; VoucherRedeemed in the outbox: {sum(redeemed.values())}\n")
