"""`python -m devstack.invariants` beside a running `make up` finds its servers without any export."""

from __future__ import annotations

from pathlib import Path

from devstack.invariants.__main__ import defaults
from devstack.stack import Endpoints, _write_stack_file


def _stack_file(tmp_path: Path) -> Path:
    endpoints = Endpoints(
        database_url="postgresql://postgres:@/liveloop?host=/somewhere/.liveloop/pg",
        nats_url="nats://127.0.0.1:58051",
        stripe_api_base="http://127.0.0.1:8421",
        services={"live": "http://127.0.0.1:8101"},
    )
    path = tmp_path / "stack.json"
    _write_stack_file(path, endpoints, "")
    return path


def test_the_checker_takes_the_running_stacks_database_nats_and_stripe_from_its_stack_file(tmp_path: Path) -> None:
    found = defaults({}, _stack_file(tmp_path))
    assert found == {
        "database_url": "postgresql://postgres:@/liveloop?host=/somewhere/.liveloop/pg",
        "nats_url": "nats://127.0.0.1:58051",
        "namespace": "",
        "stripe_api_base": "http://127.0.0.1:8421",
    }


def test_an_exported_address_wins_over_the_stack_file(tmp_path: Path) -> None:
    found = defaults({"NATS_URL": "nats://10.0.0.5:4222", "LIVELOOP_NS": "t1"}, _stack_file(tmp_path))
    assert found["nats_url"] == "nats://10.0.0.5:4222"
    assert found["namespace"] == "t1"
    assert found["database_url"].endswith("/.liveloop/pg")


def test_without_a_stack_file_the_usual_local_servers_are_assumed(tmp_path: Path) -> None:
    found = defaults({}, tmp_path / "absent.json")
    assert found["nats_url"] == "nats://127.0.0.1:4222"
    assert found["stripe_api_base"] == "http://127.0.0.1:8420"
    assert found["database_url"].startswith("postgresql://")


def test_the_stack_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    assert _stack_file(tmp_path).stat().st_mode & 0o077 == 0
