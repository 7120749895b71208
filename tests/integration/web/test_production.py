"""Outside dev: no demo sign-in (404), the identity provider's token is verified before it is kept, cookies are
Secure, and the dev secrets refuse to start."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from libs.settings import InsecureSettings
from services.web.app import create_app
from services.web.settings import WebSettings
from tests.harness import Infra
from tests.integration.web.support import SESSION_COOKIE

ASYNC = pytest.mark.asyncio(loop_scope="session")
PRIVATE = "a-private-session-secret-of-forty-bytes-!"


def _production(infra: Infra) -> WebSettings:
    return WebSettings(service="web", environment="production", jwt_secret=infra.jwt_secret, session_secret=PRIVATE)


@ASYNC
async def test_production_has_no_demo_sign_in(infra: Infra) -> None:
    async with AsyncTestClient(create_app(_production(infra))) as client:
        assert (await client.get("/sign-in")).status_code == 404
        visitor = await client.get("/seller", follow_redirects=False)
        assert visitor.status_code == 303
        assert visitor.headers["location"] == "/signed-out"


@ASYNC
async def test_production_keeps_a_verified_token_from_the_identity_provider_in_a_secure_cookie(infra: Infra) -> None:
    token = infra.token("merchant", merchant_id="3e7b1456-c3aa-4178-b0b8-54a2fb3004ba")
    async with AsyncTestClient(create_app(_production(infra)), base_url="https://web.example") as client:
        forged = await client.post("/sign-in/callback", data={"token": token[:-2] + "xx"}, follow_redirects=False)
        assert forged.status_code == 401
        assert SESSION_COOKIE not in forged.headers.get("set-cookie", "")
        kept = await client.post(
            "/sign-in/callback", data={"token": token, "next": "//evil.example/"}, follow_redirects=False
        )
        assert kept.status_code == 303
        assert kept.headers["location"] == "/seller"  # never another site
        cookie = next(c for c in kept.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "secure", "samesite=lax"} <= attributes


def test_production_refuses_the_dev_session_secret(infra: Infra) -> None:
    settings = WebSettings(service="web", environment="production", jwt_secret=infra.jwt_secret)
    with pytest.raises(InsecureSettings, match="LIVELOOP_SESSION_SECRET"):
        create_app(settings)
