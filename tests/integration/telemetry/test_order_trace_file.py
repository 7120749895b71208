"""What `make up` gives a developer without Docker: a service started with `LIVELOOP_SPANS_DIR` (as devstack starts
every service) writes its spans to `<dir>/<service>.jsonl`, the last ones on stop too, and `liveloop trace` reads them.
Started for real (`liveloop serve`), as devstack does."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import msgspec

from libs.cli import main
from libs.telemetry import names
from libs.telemetry.span_file import SPANS_DIR_ENV
from tests.harness import Stack, eventually, free_port

SERVICES = ("shop",)
ROOT = Path(__file__).resolve().parents[3]


def shop_env(stack: Stack, spans_dir: Path) -> dict[str, str]:
    """The environment a real shop process reads: this module's servers and namespace, and the spans directory."""
    settings = stack.infra.settings("shop")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVELOOP_", "STRIPE_", "OTEL_"))}
    for field in msgspec.structs.fields(type(settings)):
        value = getattr(settings, field.name)
        if value is None or field.name == "service":
            continue
        env[field.encode_name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    env["PYTHONPATH"] = str(ROOT)
    env["LIVELOOP_ACCESS_LOG"] = "off"
    env[SPANS_DIR_ENV] = str(spans_dir)
    return env


async def test_a_services_spans_land_in_its_file_by_the_time_it_has_stopped(stack: Stack, tmp_path: Path) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "libs.cli",
        "serve",
        "shop",
        "--port",
        str(port),
        cwd=ROOT,
        env=shop_env(stack, tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    trace_id = uuid.uuid4().hex
    product_id = str(uuid.uuid4())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:

            async def ready() -> bool:
                assert process.returncode is None, "shop exited"
                try:
                    return (await client.get("/ready")).status_code == 200
                except httpx.HTTPError:
                    return False

            await eventually(ready, timeout=30, interval=0.2)
            asked = await client.get(
                f"/products/{product_id}", headers={"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"}
            )
            assert asked.status_code == 404, asked.text
        # Stopped at once: the flush on stop writes what the batch still holds.
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert await asyncio.wait_for(process.wait(), 20) in (0, -signal.SIGTERM)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    records = [json.loads(line) for line in (tmp_path / "shop.jsonl").read_text().splitlines()]
    (span,) = [r for r in records if r["trace_id"] == trace_id]
    assert span["name"] == "GET /products/{product_id}"
    assert span["service"] == "liveloop-shop"
    assert span["kind"] == "SERVER"
    assert span["end_ns"] >= span["start_ns"] > 0


def test_liveloop_trace_reads_the_directory_make_up_names(tmp_path: Path, capsys, monkeypatch) -> None:
    order_id = str(uuid.uuid4())
    record = {
        "trace_id": uuid.uuid4().hex,
        "span_id": uuid.uuid4().hex[:16],
        "parent_span_id": None,
        "name": "order paid",
        "kind": "INTERNAL",
        "service": "liveloop-orders",
        "start_ns": 1_000_000,
        "end_ns": 3_500_000,
        "status": "UNSET",
        "attributes": {names.ORDER_ID: order_id, names.ROOM_ID: "room-1"},
        "links": [],
    }
    (tmp_path / "orders.jsonl").write_text(json.dumps(record) + "\n")
    monkeypatch.setenv(SPANS_DIR_ENV, str(tmp_path))

    assert main(["trace", order_id]) == 0
    out = capsys.readouterr().out
    assert "2.5 ms  orders  order paid  room=room-1" in out
