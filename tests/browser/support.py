"""What the browser tests share: signing in as a person would."""

from __future__ import annotations

from playwright.async_api import Page, expect


async def sign_in(page: Page, role: str) -> None:
    """Through the dev sign-in page, as a person would: the demo user of `role`."""
    await page.goto("/sign-in")
    await page.get_by_test_id(f"sign-in-{role}").click()
    await expect(page.get_by_test_id("signed-in-as")).to_have_text(f"{role}-demo ({role})")
