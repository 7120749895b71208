"""The embedded infrastructure behind `make up` and the test harness, started for real."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import nats
import pytest
import stripe

from devstack import embedded
from tests.integration.devstack.support import execute, fetchval


def test_embedded_postgres_keeps_its_data_across_a_restart(tmp_path: Path) -> None:
    pg = embedded.start_postgres(tmp_path / "pg")
    try:
        dsn = embedded.ensure_database(pg.dsn, "liveloop")
        assert embedded.ensure_database(pg.dsn, "liveloop") == dsn
        asyncio.run(execute(dsn, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)"))
    finally:
        pg.stop()

    pg = embedded.start_postgres(tmp_path / "pg")
    try:
        assert asyncio.run(fetchval(embedded.ensure_database(pg.dsn, "liveloop"), "SELECT n FROM kept")) == 42
    finally:
        pg.stop()


def test_embedded_nats_acknowledges_jetstream_writes_and_drops_duplicates(tmp_path: Path) -> None:
    server = embedded.start_nats(tmp_path / "nats", embedded.free_port())
    try:
        first, second = asyncio.run(_publish_twice(server.url))
        assert (first.seq, first.duplicate) == (1, None)
        assert second.duplicate is True
    finally:
        server.stop()
    assert not server.alive()


def test_starting_nats_on_a_taken_port_fails_with_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(embedded.StartupError, match=f"127.0.0.1:{port} is already in use"):
            embedded.start_nats(tmp_path / "nats", port)


def test_localstripe_posts_a_signed_webhook_for_a_confirmed_payment(
    tmp_path: Path, webhook_receiver: tuple[str, list[tuple[str, bytes]], threading.Event]
) -> None:
    url, received, arrived = webhook_receiver
    fake = embedded.start_localstripe(embedded.free_port(), log_dir=tmp_path)
    try:
        embedded.register_webhook(fake.url, url, "whsec_test_devstack")
        client = stripe.StripeClient("sk_test_devstack", base_addresses={"api": fake.url})
        intent = client.v1.payment_intents.create(
            params={"amount": 2599, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
        )
        assert intent.status == "succeeded"
        assert arrived.wait(10), f"no webhook; localstripe log:\n{fake.log_tail()}"
    finally:
        fake.stop()
    signature, payload = received[0]
    event = stripe.Webhook.construct_event(payload, signature, "whsec_test_devstack")
    assert event["type"] == "payment_intent.succeeded"
    assert event["data"]["object"]["id"] == intent.id


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[str, list[tuple[str, bytes]], threading.Event]]:
    """A loopback HTTP server recording (Stripe-Signature, body) of each POST."""
    received: list[tuple[str, bytes]] = []
    arrived = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["Stripe-Signature"], body))
            self.send_response(200)
            self.end_headers()
            arrived.set()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/stripe/webhook", received, arrived
    finally:
        server.shutdown()
        server.server_close()


async def _publish_twice(url: str) -> tuple[object, object]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="devstack_check", subjects=["devstack_check.>"])
        headers = {"Nats-Msg-Id": "event-1"}
        first = await js.publish("devstack_check.happened.v1", b"{}", headers=headers)
        second = await js.publish("devstack_check.happened.v1", b"{}", headers=headers)
        return first, second
    finally:
        await nc.close()
