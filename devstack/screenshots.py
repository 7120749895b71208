"""One screenshot per audience, taken from a running `make up` stack: `make screenshots` (or
`python -m devstack.screenshots`) writes them to docs/screenshots/, where the README shows them.

Each person signs in through the dev sign-in page in a browser context of their own (Debian's chromium, as the
browser tests use), exactly as a newcomer following the README would; the buyer's page is taken at a phone's size.
Run it after the README tour, so the pages have something to show (an order to ship, a sale, a redemption).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Page, async_playwright

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@dataclass(frozen=True)
class Shot:
    """Who signs in, which page they open (`{room_id}`-style holes filled from demo.json), and the file it makes."""

    role: str
    path: str
    file: str
    viewport: dict[str, int]
    wait_for: str  # a test id the page shows once it is whole


SHOTS = (
    Shot("merchant", "/seller", "merchant-today.png", DESKTOP, "signed-in-as"),
    Shot("host", "/host/rooms/{room_id}", "host-console.png", DESKTOP, "signed-in-as"),
    Shot("buyer", "/rooms/{room_id}", "buyer-room.png", PHONE, "signed-in-as"),
    Shot("clerk", "/counter", "clerk-counter.png", DESKTOP, "signed-in-as"),
    Shot("operator", "/operator/cases", "operator-disputes.png", DESKTOP, "signed-in-as"),
)


async def _sign_in(page: Page, role: str) -> None:
    await page.goto("/sign-in")
    await page.get_by_test_id(f"sign-in-{role}").click()
    await page.get_by_test_id("signed-in-as").wait_for()


async def take(web_url: str, demo: dict[str, str], out: Path, language: str) -> list[Path]:
    """Every shot in `language` (`en` or `zh_Hans`); the files written."""
    written: list[Path] = []
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            for shot in SHOTS:
                context = await browser.new_context(base_url=web_url, viewport=shot.viewport)  # type: ignore[arg-type]
                await context.add_cookies([{"name": "liveloop_lang", "value": language, "url": web_url}])
                page = await context.new_page()
                await _sign_in(page, shot.role)
                await page.goto(shot.path.format(**demo))
                await page.get_by_test_id(shot.wait_for).wait_for()
                await page.wait_for_timeout(1500)  # let the live parts (SSE) fill in before the picture
                target = out / (shot.file if language == "en" else shot.file.replace(".png", f".{language}.png"))
                await page.screenshot(path=str(target), full_page=True)
                written.append(target)
                await context.close()
        finally:
            await browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--web", default="http://127.0.0.1:8100", help="the web app's URL (make up prints it)")
    parser.add_argument("--demo", default=str(REPO / ".liveloop" / "demo.json"), help="the demo ids make up wrote")
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    parser.add_argument("--language", default="en", choices=("en", "zh_Hans"))
    args = parser.parse_args(argv)
    try:
        demo = {k: str(v) for k, v in json.loads(Path(args.demo).read_text()).items() if isinstance(v, str)}
    except OSError as exc:
        print(f"no demo ids at {args.demo} ({exc}): start the stack with `make up` first", file=sys.stderr)
        return 2
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(take(args.web, demo, Path(args.out), args.language)):
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
