"""The Agents Playground's own page in headless Chromium (Debian's ``chromium`` driven by the Python
``playwright`` package; no browser download): type "make a 30-min link", press Send, click Preview on the
link card, and screenshot the slot picker as the Playground's Adaptive Cards renderer draws it
(``artifacts/playground-slot-card.png``). Then book through the rendered cards (a time button, the form's
inputs typed into, Confirm) and screenshot the form, the confirmation and the host's notification.

Without Chromium (or the driver) the test is skipped with the install hint, except under CI, where it
fails: CI must run it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser import CHROMIUM_ARGS, require_browser
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.asyncio(loop_scope="session")

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
TIMEOUT_MS = 15_000


async def shot(element: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    await element.scroll_into_view_if_needed()
    await element.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


async def test_slot_card_in_the_playground_page(stack: Stack) -> None:
    executable = require_browser()
    from playwright.async_api import async_playwright

    host = stack.playground.me
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 1000}, locale="en-US")
            crashes: list[str] = []
            page.on("pageerror", lambda exc: crashes.append(str(exc)))
            await page.goto(stack.playground.url + "/")
            box = page.get_by_role("textbox")
            await box.wait_for(timeout=TIMEOUT_MS)

            # opening the page installs the app: the welcome card comes first
            await page.locator(".ac-adaptiveCard", has_text="What I can do").first.wait_for(timeout=TIMEOUT_MS)
            await box.fill("make a 30-min link")
            await page.get_by_role("button", name="Send Message").click()
            link_card = page.locator(".ac-adaptiveCard", has_text="Your link is ready").last
            await link_card.wait_for(timeout=TIMEOUT_MS)
            assert re.search(r"/book/[\w.-]+/[\w.-]+", await link_card.inner_text())

            await link_card.get_by_role("button", name="Preview", exact=True).click()
            slot_card = page.locator(".ac-adaptiveCard", has_text="Pick a time").last
            await slot_card.wait_for(timeout=TIMEOUT_MS)
            times = slot_card.get_by_role("button", name=re.compile(r"^\d{2}:\d{2}$"))
            assert await times.count() > 0, await slot_card.inner_text()
            slot_text = await slot_card.inner_text()
            assert f"with {host['name']}" in slot_text and "30 min" in slot_text, slot_text
            path = await shot(slot_card, "playground-slot-card.png")
            assert path.stat().st_size > 5_000

            # book through the rendered cards: a time, the form typed into, Confirm
            await times.first.click()
            form = page.locator(".ac-adaptiveCard", has_text="Confirm your booking").last
            await form.wait_for(timeout=TIMEOUT_MS)
            name, email = form.get_by_role("textbox").nth(0), form.get_by_role("textbox").nth(1)
            assert await name.input_value() == host["name"]  # prefilled from Teams
            await name.fill("Ivy Invitee")
            await email.fill("ivy@example.org")
            await shot(form, "playground-booking-form.png")
            await form.get_by_role("button", name="Confirm booking").click()
            booked = page.locator(".ac-adaptiveCard", has_text="You're booked").last
            await booked.wait_for(timeout=TIMEOUT_MS)
            await shot(booked, "playground-booked.png")
            note = page.locator(".ac-adaptiveCard", has_text="New booking from Ivy Invitee").last
            await note.wait_for(timeout=TIMEOUT_MS)
            await shot(note, "playground-host-notification.png")
            assert "ivy@example.org" in await note.inner_text()
            assert not crashes, crashes
        finally:
            await browser.close()

    # what the renderer submitted reached Outlook: the typed invitee is on the meeting
    events = [
        e
        for e in stack.emulator.events(host["email"])
        if "ivy@example.org" in [a["emailAddress"]["address"] for a in e.get("attendees", [])]
    ]
    assert len(events) == 1, stack.emulator.events(host["email"])
    assert events[0]["onlineMeeting"]["joinUrl"].startswith("https://teams.microsoft.com/l/meetup-join/")
