"""What `make up` keeps across restarts, and what it tells you while starting: started for real."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import asyncpg
import pytest
import stripe

from devstack import embedded
from devstack.seed import DemoState, demo_tokens
from devstack.stack import HOST, port_for
from tests.integration.devstack.support import fetchval

CONTRIB = ("cube", "earthdistance", "pg_trgm", "btree_gist", "pg_stat_statements")


def _stripe(base: str) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_devstack", base_addresses={"api": base})


def test_localstripe_with_a_state_file_still_knows_an_earlier_runs_payment_intent(tmp_path: Path) -> None:
    state = tmp_path / "localstripe.pickle"
    first = embedded.start_localstripe(embedded.free_port(), log_dir=tmp_path, state_file=state)
    try:
        intent = _stripe(first.url).v1.payment_intents.create(params={"amount": 2599, "currency": "usd"})
    finally:
        first.stop()

    second = embedded.start_localstripe(embedded.free_port(), log_dir=tmp_path, state_file=state)
    try:
        client = _stripe(second.url)
        again = client.v1.payment_intents.retrieve(intent.id)
        # How orders pays an intent: the card first, then the confirmation.
        client.v1.payment_intents.update(intent.id, params={"payment_method": "pm_card_visa"})
        confirmed = client.v1.payment_intents.confirm(intent.id)
    finally:
        second.stop()
    assert (again.id, again.amount, again.status) == (intent.id, 2599, "requires_payment_method")
    assert confirmed.status == "succeeded"


def test_localstripe_without_a_state_file_forgets_everything_when_stopped(tmp_path: Path) -> None:
    first = embedded.start_localstripe(embedded.free_port(), log_dir=tmp_path)
    try:
        intent = _stripe(first.url).v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
    finally:
        first.stop()

    second = embedded.start_localstripe(embedded.free_port(), log_dir=tmp_path)
    try:
        with pytest.raises(stripe.InvalidRequestError):
            _stripe(second.url).v1.payment_intents.retrieve(intent.id)
    finally:
        second.stop()


def test_a_taken_port_is_announced_with_the_port_chosen_instead(capfd: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        chosen = port_for("NATS", port)
    assert chosen != port
    assert f"port {port} is taken; NATS listens on 127.0.0.1:{chosen} instead" in capfd.readouterr().out


def test_a_free_port_is_used_without_a_word(capfd: pytest.CaptureFixture[str]) -> None:
    port = embedded.free_port()
    assert port_for("localstripe", port) == port
    assert capfd.readouterr().out == ""


def test_embedded_postgres_is_18_with_the_contrib_extensions(tmp_path: Path) -> None:
    pg = embedded.start_postgres(tmp_path / "pg", cleanup="delete")
    try:
        version, km, similar = asyncio.run(_contrib_answers(pg.dsn))
    finally:
        pg.stop()
    assert version >= 180000
    assert km == 111  # one degree of longitude at the equator (earthdistance over cube)
    assert similar > 0.3  # pg_trgm


def test_data_of_an_older_postgres_is_moved_aside_and_a_fresh_database_started(tmp_path: Path) -> None:
    old = tmp_path / "pg"
    old.mkdir()
    (old / "PG_VERSION").write_text("16\n")
    (old / "base").mkdir()

    pg = embedded.start_postgres(old)
    try:
        answer = asyncio.run(fetchval(pg.dsn, "SELECT 1"))
    finally:
        pg.stop()
    assert answer == 1
    assert pg.set_aside is not None
    assert pg.set_aside.parent == tmp_path
    assert pg.set_aside.name.startswith("pg-postgres16-")
    assert (pg.set_aside / "PG_VERSION").read_text() == "16\n"
    assert (pg.set_aside / "base").is_dir()
    assert (old / "PG_VERSION").read_text().strip() == embedded.postgres_major() == "18"


def test_an_older_postgres_still_running_on_the_data_is_left_alone(tmp_path: Path) -> None:
    old = tmp_path / "pg"
    old.mkdir()
    (old / "PG_VERSION").write_text("16\n")
    (old / "postmaster.pid").write_text(f"{os.getpid()}\n{old}\n")  # a live pid: this test's own
    with pytest.raises(embedded.StartupError, match=f"pid {os.getpid()} still serves"):
        embedded.start_postgres(old)
    assert (old / "PG_VERSION").read_text() == "16\n"


async def _contrib_answers(dsn: str) -> tuple[int, int, float]:
    conn = await asyncpg.connect(dsn)
    try:
        for extension in CONTRIB:
            await conn.execute(f"CREATE EXTENSION {extension}")
        version = int(await conn.fetchval("SHOW server_version_num"))
        km = await conn.fetchval("SELECT round(earth_distance(ll_to_earth(0, 0), ll_to_earth(0, 1)) / 1000)::int")
        similar = await conn.fetchval("SELECT similarity('linen shirt', 'linnen shirt')")
        return version, km, similar
    finally:
        await conn.close()


def test_demo_tokens_without_a_demo_merchant_leave_out_the_merchant_and_clerk_tokens() -> None:
    # No merchant yet: no merchant token; no store yet: no clerk token (a clerk works at a real store only).
    tokens = demo_tokens(DemoState(), "dev-secret-not-for-production-0123456789")
    assert set(tokens) == {"buyer", "host", "operator"}


def test_the_demo_clerk_token_carries_the_demo_store() -> None:
    from libs.auth import read_token

    secret = "dev-secret-not-for-production-0123456789"
    state = DemoState(merchant_id="m-1", store_id="s-1")
    clerk = read_token(demo_tokens(state, secret)["clerk"], secret=secret)
    assert (clerk.role, clerk.store_id, clerk.merchant_id) == ("clerk", "s-1", "m-1")
