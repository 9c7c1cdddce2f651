"""A visitor in Tokyo books through the real pages in headless Chromium (Debian's ``chromium`` driven by
the Python ``playwright`` package; no browser download). Screenshots land in ``artifacts/``.

The same pages are audited with axe-core and completed by keyboard alone in test_accessibility.py.
Without Chromium (or the driver) the test is skipped with the install hint, except under CI, where it
fails: CI must run it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from tests.browser import launched_chromium
from tests.web.conftest import DEMO_PATH, DEMO_UPN, HOST_TZ, Site

pytestmark = pytest.mark.asyncio(loop_scope="session")

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
VISITOR_TZ = "Asia/Tokyo"


@pytest_asyncio.fixture(loop_scope="session")
async def browser_page() -> AsyncIterator[Any]:
    async with launched_chromium() as browser:
        context = await browser.new_context(
            timezone_id=VISITOR_TZ, locale="en-GB", viewport={"width": 1100, "height": 900}
        )
        page = await context.new_page()
        problems: list[str] = []
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.problems = problems
        yield page
        await context.close()


async def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    await page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


async def test_a_visitor_in_tokyo_books_a_slot_in_chromium(site: Site, browser_page: Any) -> None:
    page = browser_page
    base = str(site.client.make_url("")).rstrip("/")
    await page.goto(base + DEMO_PATH)
    # static/tz.js detects the browser's zone and reloads the page with ?tz=
    await page.wait_for_url("**tz=Asia%2FTokyo**")
    assert await page.locator("select#tz").input_value() == VISITOR_TZ
    assert await page.locator("h1").inner_text() == "Intro call"
    first = page.locator("a.slot").first
    start_iso = (await first.get_attribute("href") or "").split("start=")[1].replace("%3A", ":")
    start = datetime.fromisoformat(start_iso.replace("Z", "+00:00"))
    assert await first.inner_text() == start.astimezone(ZoneInfo(VISITOR_TZ)).strftime("%H:%M")
    await shot(page, "web-booking-page.png")

    await first.click()
    await page.wait_for_url("**start=**")
    assert await page.locator("input[name=timeZone]").input_value() == VISITOR_TZ
    # a first try with mistakes: errors next to the fields, what was typed is kept
    await page.get_by_label("Email").fill("kenji@example")
    await page.get_by_role("button", name="Book").click()
    await page.wait_for_selector("#name-error")
    assert await page.locator("#name-error").inner_text() == "Please enter your name."
    assert "doesn't look like an email address" in await page.locator("#email-error").inner_text()
    assert await page.get_by_label("Email").input_value() == "kenji@example"
    await shot(page, "web-form-errors.png")
    assert [p for p in page.problems if "422" not in p] == []
    page.problems.clear()  # the 422 above was expected
    await page.get_by_label("Your name").fill("Kenji Tanaka")
    await page.get_by_label("Email").fill("kenji@example.jp")
    await page.get_by_label("Anything to share before the meeting? (optional)").fill("Looking forward to it.")
    await shot(page, "web-booking-form.png")
    await page.get_by_role("button", name="Book").click()

    await page.wait_for_url("**/manage/**booked=1**")
    body = await page.locator("main").inner_text()
    assert "You're booked" in body and "kenji@example.jp" in body
    local = start.astimezone(ZoneInfo(VISITOR_TZ))
    assert f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M}" in body and f"({VISITOR_TZ})" in body
    assert f"for Adele Vance ({HOST_TZ})" in body
    assert await page.get_by_role("link", name="Join the Teams meeting").count() == 1
    await shot(page, "web-confirmation.png")
    assert page.problems == [], f"the pages logged errors (CSP violations?): {page.problems}"

    [event] = [e for e in site.emulator.events(DEMO_UPN) if e.get("transactionId")]
    assert [a["emailAddress"]["address"] for a in event["attendees"]] == ["kenji@example.jp"]
    assert event["start"]["timeZone"] == "UTC"
    assert datetime.fromisoformat(event["start"]["dateTime"] + "+00:00") == start
    token = page.url.split("/manage/")[1].split("?")[0]
    booking = await site.services.booking.by_manage_token(token)
    assert booking.invitee.time_zone == VISITOR_TZ and booking.start == start

    # the manage link: pick a new time, in the same zone
    await page.get_by_role("link", name="Pick a new time").click()
    await page.wait_for_url("**reschedule=1**")
    later = page.locator("button.slot").nth(3)
    new_start = datetime.fromisoformat(
        (await later.locator("xpath=..").locator("input[name=start]").input_value()).replace("Z", "+00:00")
    )
    await shot(page, "web-reschedule.png")
    await later.click()
    await page.wait_for_url("**done=rescheduled**")
    assert "Rescheduled." in await page.locator("main").inner_text()
    [moved] = [e for e in site.emulator.events(DEMO_UPN) if e.get("transactionId")]
    assert moved["id"] == event["id"] and moved["onlineMeeting"]["joinUrl"] == event["onlineMeeting"]["joinUrl"]
    assert datetime.fromisoformat(moved["start"]["dateTime"] + "+00:00") == new_start
    assert page.problems == [], f"the pages logged errors: {page.problems}"
