"""A failing browser test leaves every person's screenshot and page HTML behind; a passing one leaves nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CONFTEST = """
import pytest

from tests.browser.conftest import *  # noqa: F403  (the fixtures and hooks under test)


@pytest.fixture(scope="session")
def browser_output(tmp_path_factory):
    return OUTPUT
"""

TESTS = """
from playwright.async_api import expect


async def test_seen_by_two(people):
    merchant = await people.open("merchant")
    await merchant.set_content("<h1>Catalogue</h1><p>Oolong tea, 12 left</p>")
    buyer = await people.open("buyer")
    await buyer.set_content("<h1>Live now</h1>")
    await expect(buyer.get_by_role("heading")).to_have_text("Live now")
    assert False, "the merchant expected 13 left"


async def test_passes(people):
    page = await people.open("buyer")
    await page.set_content("<h1>Live now</h1>")
    await expect(page.get_by_role("heading")).to_have_text("Live now")
"""

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
"""


def test_a_failing_test_saves_each_persons_screenshot_and_html(tmp_path: Path) -> None:
    output = tmp_path / "output"
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(f"OUTPUT = __import__('pathlib').Path({str(output)!r})\n" + CONFTEST)
    (suite / "test_pages.py").write_text(textwrap.dedent(TESTS))
    (suite / "pytest.ini").write_text(INI)
    env = os.environ | {"PYTHONPATH": str(REPO)}

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed" in run.stdout, run.stdout
    saved = output / "test_pages" / "test_seen_by_two"
    assert sorted(p.name for p in saved.iterdir()) == ["buyer.html", "buyer.png", "merchant.html", "merchant.png"]
    assert "Oolong tea, 12 left" in (saved / "merchant.html").read_text()
    assert (saved / "buyer.png").read_bytes().startswith(b"\x89PNG")
    assert str(saved / "merchant.png") in run.stdout  # the report says where to look
    assert not (output / "test_pages" / "test_passes").exists()
