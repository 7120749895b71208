"""Browser tests: Debian's chromium driven by Playwright, one browser per session, one context per person.

A test module names the services it needs with `SERVICES = (..., "web")`, like an integration test; its people
(`merchant`, `host`, `buyer`, `clerk`, or `people.open(name)` for anyone else) each get their own browser context,
so cookies and sessions never leak between them. When a test fails, every page still open is saved under
`tests/browser/output/<test name>/` (`<person>.png` and `<person>.html`) before the contexts close.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright, expect

from tests.harness import Infra, Stack

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).parent
# Playwright waits this long for a page to reach the state a test expects: generous for a loaded CI machine,
# short enough that a broken page fails in seconds rather than at the suite's timeout.
WAIT_MS = 10_000
expect.set_options(timeout=WAIT_MS)

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/browser is a browser test (`pytest -m browser` runs just these)."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Remember each phase's report, so the `people` fixture knows at teardown whether the test failed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def failure(item: pytest.Item) -> pytest.TestReport | None:
    """The report of the phase (setup or call) that failed, if one did."""
    return next((report for report in item.stash.get(_REPORTS, {}).values() if report.failed), None)


@pytest.fixture(scope="session")
def browser_output() -> Path:
    """Where failure artifacts go (gitignored)."""
    return HERE / "output"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium. Missing is an error, never a skip: `make test` installs it first."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` as root, or `sudo apt-get install -y chromium`")
    return CHROMIUM


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(playwright: Playwright, chromium: Path) -> AsyncIterator[Browser]:
    """One headless chromium for the session; each person gets a context of their own in it."""
    launched = await playwright.chromium.launch(executable_path=str(chromium), headless=True)
    yield launched
    await launched.close()


class People:
    """Each person's own browser context (cookies, storage) and page, opened on demand."""

    def __init__(self, browser: Browser, base_url: str | None) -> None:
        self.browser = browser
        self.base_url = base_url
        self.contexts: dict[str, BrowserContext] = {}

    async def open(self, name: str, *, base_url: str | None = None, **context_options: object) -> Page:
        """A fresh context and page for `name`; relative URLs (`page.goto("/sign-in")`) go to the web app."""
        if name in self.contexts:
            raise ValueError(f"{name} already has a browser context in this test")
        context = await self.browser.new_context(base_url=base_url or self.base_url, **context_options)
        context.set_default_timeout(WAIT_MS)
        self.contexts[name] = context
        return await context.new_page()

    async def snapshot(self) -> dict[str, bytes | str]:
        """A screenshot and the HTML of every open page, by file name; a page that cannot be read is noted."""
        files: dict[str, bytes | str] = {}
        for name, context in self.contexts.items():
            for n, page in enumerate(context.pages):
                stem = name if n == 0 else f"{name}-{n}"
                try:
                    files[f"{stem}.png"] = await page.screenshot(full_page=True)
                    files[f"{stem}.html"] = f"<!-- {page.url} -->\n" + await page.content()
                except Exception as exc:  # a crashed or closing page must not hide the test's own failure
                    files[f"{stem}.error.txt"] = f"{page.url}\n{exc!r}\n"
        return files

    async def close(self) -> None:
        for context in self.contexts.values():
            await context.close()
        self.contexts.clear()


def artifact_dir(output: Path, item: pytest.Item) -> Path:
    """tests/browser/output/<module>/<test name>, with parameters kept but made safe for a file name."""
    return output / item.path.stem / re.sub(r"[^\w.-]+", "_", item.name)


def write_artifacts(directory: Path, files: dict[str, bytes | str]) -> list[Path]:
    """Replace what an earlier failure of the same test left in `directory` with `files`."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for name, content in files.items():
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return [directory / name for name in files]


@pytest.fixture
def web_url(request: pytest.FixtureRequest) -> str | None:
    """The web app's URL when the module's stack serves it. A plain fixture: the async `stack` can be set up from
    here, not from inside another async fixture (whose event loop is already running)."""
    if "web" not in getattr(request.module, "SERVICES", ()):
        return None
    stack: Stack = request.getfixturevalue("stack")
    return stack.url("web")


@pytest_asyncio.fixture(loop_scope="session")
async def people(
    browser: Browser, browser_output: Path, web_url: str | None, request: pytest.FixtureRequest
) -> AsyncIterator[People]:
    """The test's people; on failure their pages are saved before their contexts close."""
    opened = People(browser, web_url)
    try:
        yield opened
    finally:
        failed = failure(request.node)
        if failed is not None:
            saved = write_artifacts(artifact_dir(browser_output, request.node), await opened.snapshot())
            # The failure's own report is the one printed at the end of the run: say there where to look.
            failed.sections.append(("browser pages saved", "\n".join(str(path) for path in saved)))
        await opened.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(infra: Infra, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    """The services the module names in `SERVICES` (with "web" among them for pages), on the module's database."""
    services = getattr(request.module, "SERVICES", None)
    if not services:
        raise pytest.UsageError(f"{request.module.__name__} uses the `stack` fixture but names no SERVICES")
    running = Stack(infra)
    try:
        await running.start(*services, **getattr(request.module, "SETTINGS", {}))
        yield running
    finally:
        await running.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def merchant(people: People) -> Page:
    """The merchant's page, in a context of their own, not signed in yet."""
    return await people.open("merchant")


@pytest_asyncio.fixture(loop_scope="session")
async def host(people: People) -> Page:
    return await people.open("host")


@pytest_asyncio.fixture(loop_scope="session")
async def buyer(people: People) -> Page:
    return await people.open("buyer")


@pytest_asyncio.fixture(loop_scope="session")
async def clerk(people: People) -> Page:
    return await people.open("clerk")
