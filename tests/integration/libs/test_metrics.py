"""GET /metrics: what a Prometheus scraping each service sees (Prometheus text format, no token needed)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import msgspec
from prometheus_client.parser import text_string_to_metric_families

from libs.bus import ConsumerRunner, Relay, Subscription, add_events
from libs.clock import OffsetClock
from libs.contracts import StockChanged
from libs.scheduler import Scheduler, schedule
from tests.harness import SERVICES, Stack, eventually, publish
from tests.integration.libs.support import Env, running, stock_event
from tests.integration.live.support import (
    UNTHROTTLED,
    buy,
    buy_once,
    create_room,
    new_sale,
    product_event,
    room_selling,
    seller_with_stock,
)

SERVICES = SERVICES
SETTINGS = UNTHROTTLED


def samples(text: str, name: str) -> dict[frozenset, float]:
    """The samples named `name` in a Prometheus text page, by their labels (scope labels left out)."""
    found: dict[frozenset, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                labels = {k: v for k, v in sample.labels.items() if not k.startswith("otel_scope_")}
                found[frozenset(labels.items())] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    """The one sample `name` whose labels include `labels` (None if there is none)."""
    matching = [v for k, v in samples(text, name).items() if set(labels.items()) <= k]
    assert len(matching) <= 1, (name, labels, matching)
    return matching[0] if matching else None


async def scrape(stack: Stack, service: str) -> str:
    async with stack.client(service) as client:  # no token: Prometheus has none
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    return response.text


def requests_of(text: str, route: str, method: str, status: int) -> float:
    return (
        value(
            text,
            "http_server_duration_milliseconds_count",
            http_route=route,
            http_method=method,
            http_status_code=str(status),
        )
        or 0.0
    )


async def test_every_service_serves_metrics_without_a_token_and_keeps_them_out_of_its_api(stack: Stack) -> None:
    for service in SERVICES:
        text = await scrape(stack, service)
        assert value(text, "target_info", service_name=f"liveloop-{service}") == 1.0, service
        assert value(text, "liveloop_outbox_backlog") == 0.0, service
        async with stack.client(service) as client:
            schema = (await client.get("/schema/openapi.json")).json()
        assert "/metrics" not in schema["paths"], service


async def test_requests_are_counted_by_route_template_method_and_status_never_by_raw_id(stack: Stack) -> None:
    room = await create_room(stack, stack.infra)
    async with stack.client("live") as anonymous:
        seen = await anonymous.get(f"/rooms/{room.room_id}")
        refused = await anonymous.post(f"/rooms/{room.room_id}/start")  # no token
        stray = await anonymous.get(f"/no-such-page/{room.room_id}")  # no route: the router answers itself
        odd = await anonymous.request("BREW", f"/rooms/{room.room_id}")  # a method HTTP does not have
    assert seen.status_code == 200, seen.text
    assert refused.status_code == 401, refused.text
    assert stray.status_code == 404, stray.text
    assert odd.status_code in (400, 405), odd.text

    text = await scrape(stack, "live")
    assert requests_of(text, "/rooms", "POST", 201) >= 1
    assert requests_of(text, "/rooms/{room_id}", "GET", 200) >= 1
    assert requests_of(text, "/rooms/{room_id}/start", "POST", 401) >= 1
    assert requests_of(text, "unmatched", "GET", 404) >= 1
    assert "BREW" not in text
    assert value(text, "http_server_duration_milliseconds_sum", http_route="/rooms/{room_id}", http_method="GET")
    assert room.room_id not in text
    # Only bounded labels: no Host header, no server address.
    labels = {key for sample in samples(text, "http_server_duration_milliseconds_count") for key, _ in sample}
    assert labels == {"http_route", "http_method", "http_status_code"}


async def test_purchases_served_by_the_purchase_middleware_are_counted_under_their_route(stack: Stack) -> None:
    route = "/rooms/{room_id}/flash-sales/{sale_id}/purchase"
    seller = await seller_with_stock(stack, 50)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=20, per_buyer_limit=1)
    # The first purchase loads the sale in this instance (the handler); the ones after it take the fast lane.
    assert (await buy_once(stack, room.room_id, sale["sale_id"], stack.infra.token("buyer"))).status_code == 201
    before = await scrape(stack, "live")
    async with stack.client("live") as client:
        admitted = [await buy(client, room.room_id, sale["sale_id"], stack.infra.token("buyer")) for _ in range(3)]
        first = stack.infra.token("buyer")
        again = [await buy(client, room.room_id, sale["sale_id"], first) for _ in range(2)]
    assert [r.status_code for r in admitted] == [201] * 3
    assert [r.status_code for r in again] == [201, 409]

    after = await scrape(stack, "live")
    assert requests_of(after, route, "POST", 201) - requests_of(before, route, "POST", 201) == 4
    assert requests_of(after, route, "POST", 409) - requests_of(before, route, "POST", 409) == 1
    # One batch each, written on its snapshot: nothing else wrote to the sale meanwhile, so no conflict.
    assert batches(after, "written") - batches(before, "written") == 4
    assert batches(after, "conflict") == batches(before, "conflict")
    assert sale["sale_id"] not in after
    # Admissions become orders in orders: its business counter is on its /metrics.
    await eventually(lambda: orders_placed(stack), timeout=20)


def batches(text: str, result: str) -> float:
    """Flash-sale admission batch writes with this result, as live's /metrics counts them."""
    return value(text, "liveloop_flash_sale_batches_total", liveloop_flash_sale_batch_result=result) or 0.0


async def orders_placed(stack: Stack) -> bool:
    return (value(await scrape(stack, "orders"), "liveloop_order_placed_total", liveloop_currency="USD") or 0) >= 5


async def test_consumed_events_and_background_loops_show_on_metrics(stack: Stack) -> None:
    durable = "live__product_catalogue"
    before = await processed(stack, durable)
    await publish(stack, product_event(str(uuid.uuid4())))
    await eventually(lambda: processed(stack, durable, more_than=before))
    text = await scrape(stack, "live")
    assert value(text, "liveloop_consumer_pending", liveloop_consumer=durable) == 0.0
    assert value(text, "liveloop_consumer_ack_pending", liveloop_consumer=durable) == 0.0
    assert value(text, "liveloop_consumer_processed_total", liveloop_consumer=durable, duplicate="false")
    assert value(text, "liveloop_consumer_redelivered_total", liveloop_consumer=durable) == 0.0
    assert value(text, "liveloop_consumer_dead_lettered_total", liveloop_consumer=durable) == 0.0
    assert value(text, "liveloop_outbox_published_total")
    assert value(text, "liveloop_outbox_oldest_age_seconds") is not None
    kinds = {dict(labels)["liveloop_job_kind"] for labels in samples(text, "liveloop_job_due")}
    assert kinds
    assert kinds == {
        dict(labels)["liveloop_job_kind"] for labels in samples(text, "liveloop_job_oldest_due_age_seconds")
    }


async def processed(stack: Stack, durable: str, more_than: float = -1) -> float:
    """Events the durable has applied, per live's /metrics (0 while none is more than `more_than`)."""
    text = await scrape(stack, "live")
    count = value(text, "liveloop_consumer_processed_total", liveloop_consumer=durable, duplicate="false") or 0.0
    return count if count > more_than else 0.0


# --- the gauges' values, on the platform's tables alone (the module's scratch schema) ---------------------------


async def test_outbox_backlog_and_the_age_of_its_oldest_row(env: Env) -> None:
    relay = Relay(env.db, env.bus)
    async with env.db.transaction() as conn:
        await add_events(conn, stock_event(), stock_event(), stock_event())
        await conn.execute(
            "UPDATE outbox SET created_at = now() - interval '90 seconds' WHERE seq = (SELECT min(seq) FROM outbox)"
        )
    text = (await env.telemetry.scrape()).decode()
    assert value(text, "liveloop_outbox_backlog") == 3.0
    assert 90.0 <= value(text, "liveloop_outbox_oldest_age_seconds") < 200.0

    await relay.publish_pending()
    text = (await env.telemetry.scrape()).decode()
    assert value(text, "liveloop_outbox_backlog") == 0.0
    assert value(text, "liveloop_outbox_oldest_age_seconds") == 0.0


async def test_consumer_lag_redeliveries_and_dead_letters(env: Env) -> None:
    name = f"test__metrics_{uuid.uuid4().hex[:8]}"

    async def poison(conn, event) -> None:
        raise ValueError("cannot apply")

    runner = ConsumerRunner(env.db, env.bus, [Subscription(name, (StockChanged.SUBJECT,), poison)], max_deliver=2)
    await runner.subscribe(runner.subscriptions[0])
    for _ in range(3):
        event = stock_event()
        await env.bus.publish_event(event.SUBJECT, msgspec.json.encode(event), {}, event.event_id)
    text = (await env.telemetry.scrape()).decode()
    assert value(text, "liveloop_consumer_pending", liveloop_consumer=name) == 3.0
    assert value(text, "liveloop_consumer_dead_lettered_total", liveloop_consumer=name) == 0.0

    async def all_dead() -> bool:
        text = (await env.telemetry.scrape()).decode()
        return value(text, "liveloop_consumer_dead_lettered_total", liveloop_consumer=name) == 3.0

    async with running(runner.run()):
        await eventually(all_dead, timeout=20)
    text = (await env.telemetry.scrape()).decode()
    assert value(text, "liveloop_consumer_redelivered_total", liveloop_consumer=name) == 3.0
    assert value(text, "liveloop_consumer_pending", liveloop_consumer=name) == 0.0
    assert value(text, "liveloop_consumer_ack_pending", liveloop_consumer=name) == 0.0


async def test_due_jobs_and_the_wait_of_the_oldest(env: Env) -> None:
    clock = OffsetClock()
    kind = f"k_{uuid.uuid4().hex[:8]}"
    done: list[str] = []

    async def job(conn, key: str, payload: dict) -> None:
        done.append(key)

    scheduler = Scheduler(env.db, env.telemetry, clock, {kind: job})
    async with env.db.transaction() as conn:
        await schedule(conn, kind, "late", clock.now() - timedelta(seconds=120))
        await schedule(conn, kind, "due", clock.now() - timedelta(seconds=5))
        await schedule(conn, kind, "later", clock.now() + timedelta(hours=1))
    text = (await env.telemetry.scrape()).decode()
    assert value(text, "liveloop_job_due", liveloop_job_kind=kind) == 2.0
    assert 120.0 <= value(text, "liveloop_job_oldest_due_age_seconds", liveloop_job_kind=kind) < 200.0

    await scheduler.run_due()
    assert sorted(done) == ["due", "late"]
    text = (await env.telemetry.scrape()).decode()
    assert value(text, "liveloop_job_due", liveloop_job_kind=kind) == 0.0
    assert value(text, "liveloop_job_oldest_due_age_seconds", liveloop_job_kind=kind) == 0.0

    clock.advance(2 * 3600)  # the clock the scheduler runs by decides what is due
    text = (await env.telemetry.scrape()).decode()
    assert value(text, "liveloop_job_due", liveloop_job_kind=kind) == 1.0
    assert value(text, "liveloop_job_oldest_due_age_seconds", liveloop_job_kind=kind) >= 3600.0
