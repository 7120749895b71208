"""The end-to-end tests share one deployment of all five services."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.harness import Stack, fresh_infra


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def stack(servers: tuple[str, str, str]) -> AsyncIterator[Stack]:
    """All five services, served over HTTP on loopback, shared by the end-to-end tests."""
    async with fresh_infra(servers) as fresh:
        running = Stack(fresh)
        await running.start()
        try:
            yield running
        finally:
            await running.stop()
