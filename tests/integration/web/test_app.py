"""What every answer of the web app carries, whatever the page: a request id, and the security headers."""

from __future__ import annotations

from tests.harness import Stack
from tests.integration.web.support import browser

SERVICES = ("shop", "local_life", "web")


async def test_every_answer_carries_a_request_id_and_echoes_a_sane_one_given(stack: Stack) -> None:
    async with browser(stack) as client:
        fresh = await client.get("/sign-in")
        again = await client.get("/sign-in")
        given = await client.get("/sign-in", headers={"X-Request-ID": "support-ticket-42"})
        insane = await client.get("/sign-in", headers={"X-Request-ID": "no spaces allowed"})
        unknown = await client.get("/no-such-page")
    assert len(fresh.headers["x-request-id"]) == 32
    assert fresh.headers["x-request-id"] != again.headers["x-request-id"]
    assert given.headers["x-request-id"] == "support-ticket-42"
    assert insane.headers["x-request-id"] not in ("", "no spaces allowed")
    assert unknown.status_code == 404
    assert unknown.headers["x-request-id"]
    assert "default-src 'self'" in fresh.headers["content-security-policy"]
