"""Driving the web app over HTTP as a browser would: its cookies, its CSRF token, its forms."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from tests.harness import Stack

CSRF_COOKIE = "liveloop_csrf"
SESSION_COOKIE = "liveloop_session"


def browser(stack: Stack) -> httpx.AsyncClient:
    """A fresh visitor of the web app (its own cookie jar), not following redirects (tests check where they go)."""
    return httpx.AsyncClient(base_url=stack.url("web"), timeout=30, follow_redirects=False)


def csrf(client: httpx.AsyncClient) -> str:
    """The CSRF token the pages put in every form (the value of the CSRF cookie the app set)."""
    token = client.cookies.get(CSRF_COOKIE)
    assert token, "the web app set no CSRF cookie"
    return token


def hidden(html: str, name: str) -> str:
    """A hidden input's value in a page."""
    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert found, f"no hidden input {name!r}"
    return found.group(1)


@asynccontextmanager
async def signed_in_as(stack: Stack, role: str = "merchant") -> AsyncIterator[httpx.AsyncClient]:
    """A visitor signed in through the dev sign-in as the demo user of `role`."""
    async with browser(stack) as client:
        page = await client.get("/sign-in")
        assert page.status_code == 200, page.text
        answer = await client.post("/sign-in", data={"role": role, "_csrf_token": csrf(client)})
        assert answer.status_code == 303, answer.text
        yield client
