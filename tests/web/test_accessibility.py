"""Accessible pages, checked by a machine (issue 16 §5).

Every page an invitee meets (the week of times, the form, the form with errors, the confirmation, the
manage page while rescheduling, after rescheduling and after cancelling, the conflict pages and the message
pages for 404/410/503) is audited in headless Chromium by axe-core (pinned in tools/axe) at the WCAG 2.1 A
and AA tags, and must have no violation; each must also reflow at 320 CSS px without sideways scrolling
(WCAG 1.4.10, which axe cannot see).

The booking is made with the keyboard alone: Tab, Enter, Space, End and typed text, never a click. Every
element Tab lands on must show a focus ring, the time buttons must be named with their day, a failed submit
must put the focus on the first field in error with its message as the field's description, and picking a
time zone from the list must not reload the page under the keyboard (WCAG 3.2.2).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from scheduling.domain import BookingStatus, Question
from tests.browser import axe_source, axe_violations, describe, launched_chromium
from tests.web.conftest import DEMO_PATH, DEMO_UPN, Site, token_of

pytestmark = pytest.mark.asyncio(loop_scope="session")

BROWSER_TZ = "Asia/Tokyo"
PICKED_TZ = "Europe/London"  # the zone the visitor picks from the list, by keyboard


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    async with launched_chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_source()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(timezone_id=BROWSER_TZ, locale="en-GB", viewport={"width": 1100, "height": 900})
    opened = await context.new_page()
    errors: list[str] = []
    # 4xx pages log "Failed to load resource" (expected here); anything else (a CSP report, a script error) is not
    opened.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    await context.close()
    assert errors == [], f"the pages logged errors: {errors}"


async def audit(page: Any, axe: str, what: str) -> None:
    """No axe-core WCAG 2.1 A/AA violation on the page as shown, and no sideways scrolling at 320 CSS px."""
    violations = await axe_violations(page, axe)
    assert violations == [], f"axe-core: WCAG 2.1 A/AA violations on {what} ({page.url}):\n{describe(violations)}"
    size = page.viewport_size
    await page.set_viewport_size({"width": 320, "height": 640})
    overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    await page.set_viewport_size(size)
    assert overflow <= 0, f"{what} scrolls sideways by {overflow}px at 320 CSS px (WCAG 1.4.10)"
    print(f"axe-core: {what}: 0 violations")


# The focused element, whether it matches, and its focus ring: an outline at least 2px wide whose colour has a
# contrast of 3:1 or more with the background around the element (WCAG 2.4.7 and 1.4.11).
FOCUSED = """selector => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const name = ['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName) && el.labels.length
    ? el.labels[0].innerText : (el.getAttribute('aria-label') || el.innerText || '');
  const rgb = c => c.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => [r, g, b].map(v => v / 255)
    .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  let around = el.parentElement;
  while (around && rgb(getComputedStyle(around).backgroundColor)[3] === 0) around = around.parentElement;
  const [a, b] = [luminance(rgb(style.outlineColor)),
                  luminance(rgb(around ? getComputedStyle(around).backgroundColor : 'rgb(255, 255, 255)'))];
  const contrast = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  return {what: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : '')
                + (name.trim() ? ' "' + name.trim().replace(/\\s+/g, ' ').slice(0, 60) + '"' : ''),
          body: el === document.body, hit: el.matches(selector), contrast: Math.round(contrast * 100) / 100,
          ring: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2 && contrast >= 3};
}"""


class Keyboard:
    """Drives a page with keys only, and keeps the path it took (printed, and shown when a step fails)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.path: list[str] = []

    async def tab_to(self, selector: str, limit: int = 40) -> None:
        """Press Tab until the focus is on ``selector``; every stop must show a visible focus ring."""
        for _ in range(limit):
            await self.page.keyboard.press("Tab")
            focused = await self.page.evaluate(FOCUSED, selector)
            self.path.append(f"Tab -> {focused['what']}")
            if focused["body"]:
                continue  # past the last element: the focus leaves the page for a moment
            assert focused["ring"], (
                f"no visible focus ring on {focused['what']} (outline contrast {focused['contrast']}:1)\n{self.trail()}"
            )
            if focused["hit"]:
                return
        raise AssertionError(f"{selector} not reached with {limit} Tabs\n{self.trail()}")

    async def press(self, key: str) -> None:
        self.path.append(key)
        await self.page.keyboard.press(key)

    async def type(self, text: str) -> None:
        self.path.append(f"type {text!r}")
        await self.page.keyboard.type(text)

    def trail(self) -> str:
        return "keyboard path so far:\n  " + "\n  ".join(self.path)


def slot_name(start: datetime, tz: str) -> str:
    local = start.astimezone(ZoneInfo(tz))
    return f"{local:%H:%M}, {local:%A} {local.day} {local:%B}"


def utc(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


async def test_an_invitee_books_reschedules_and_cancels_by_keyboard_on_pages_axe_passes(
    site: Site, page: Any, axe: str
) -> None:
    from playwright.async_api import expect

    keys = Keyboard(page)
    base = str(site.client.make_url("")).rstrip("/")
    await page.goto(base + DEMO_PATH)
    await page.wait_for_url(f"**tz={BROWSER_TZ.replace('/', '%2F')}**")  # static/tz.js fills in the zone
    await audit(page, axe, "the booking page")

    # the zone list, by type-ahead: the page must not reload under the keys; the Change button applies it
    await keys.tab_to("select#tz")
    await keys.type(PICKED_TZ)
    assert await page.locator("select#tz").input_value() == PICKED_TZ, keys.trail()
    assert BROWSER_TZ.replace("/", "%2F") in page.url, "picking from the list reloaded the page (WCAG 3.2.2)"
    await keys.tab_to("form.tz-form button")
    await keys.press("Enter")
    await page.wait_for_url(f"**tz={PICKED_TZ.replace('/', '%2F')}**")
    assert await page.locator("select#tz").input_value() == PICKED_TZ

    # a time: its name says the day too, not just "09:00"
    await keys.tab_to("a.slot")
    slot = page.locator(":focus")
    start = utc((await slot.get_attribute("href") or "").split("start=")[1].replace("%3A", ":"))
    await expect(slot).to_have_accessible_name(slot_name(start, PICKED_TZ))
    await keys.press("Enter")
    await page.wait_for_url("**start=**")
    await audit(page, axe, "the booking form")

    # a first try with the name left out and a bad email, sent with Enter from the email field
    await keys.tab_to("#email")
    await keys.type("kenji@example")
    async with page.expect_navigation():
        await keys.press("Enter")
    assert (await page.title()).startswith("Error: ")
    focused = page.locator(":focus")
    await expect(focused).to_have_id("name")  # the first field in error has the focus ...
    await expect(focused).to_have_attribute("aria-invalid", "true")
    await expect(focused).to_have_accessible_description("Please enter your name.")  # ... and says why
    await audit(page, axe, "the booking form with errors")
    await keys.type("Kenji Tanaka")
    await keys.tab_to("#email")
    await expect(page.locator(":focus")).to_have_accessible_description(re.compile("doesn't look like an email"))
    await keys.press("End")
    await keys.type(".jp")
    await keys.tab_to("#notes")
    await keys.type("Looking forward to it.")
    await keys.tab_to("button.primary")
    await expect(page.locator(":focus")).to_have_accessible_name(re.compile(r"^Book \w+day \d+ \w+ \d{4}, \d\d:\d\d$"))
    await keys.press("Space")
    await page.wait_for_url("**/manage/**booked=1**")
    assert "You're booked" in await page.locator("main").inner_text()
    await audit(page, axe, "the confirmation page")
    token = token_of(page.url)
    booking = await site.services.booking.by_manage_token(token)
    assert (booking.invitee.name, booking.invitee.email) == ("Kenji Tanaka", "kenji@example.jp")
    assert booking.invitee.time_zone == PICKED_TZ and booking.start == start
    assert booking.invitee.notes == "Looking forward to it."

    # reschedule: the link lands on the Reschedule section, so the next Tab is its zone list, not the top
    await keys.tab_to("a[href*='reschedule=1']")
    await keys.press("Enter")
    await page.wait_for_url("**reschedule=1#reschedule")
    await audit(page, axe, "the manage page, rescheduling")
    await keys.tab_to("#reschedule select#tz", limit=1)
    await keys.tab_to("button.slot")
    await keys.tab_to("button.slot", limit=1)
    later = page.locator(":focus")
    new_start = utc(await page.evaluate("document.activeElement.form.elements.start.value"))
    await expect(later).to_have_accessible_name(slot_name(new_start, PICKED_TZ))
    await keys.press("Enter")
    await page.wait_for_url("**done=rescheduled**")
    assert "Rescheduled." in await page.locator("main").inner_text()
    await audit(page, axe, "the manage page, rescheduled")
    moved = await site.event_of(token)
    assert moved is not None and utc(moved["start"]["dateTime"] + "Z") == new_start

    # cancel, with a reason
    await keys.tab_to("#reason")
    await keys.type("Something came up.")
    await keys.tab_to("button.danger")
    await keys.press("Space")
    await page.wait_for_url("**done=cancelled**")
    assert "This booking is cancelled." in await page.locator("main").inner_text()
    await audit(page, axe, "the manage page, cancelled")
    assert (await site.services.booking.by_manage_token(token)).status is BookingStatus.CANCELLED
    assert [c["comment"] for c in site.cancellations_of(moved["id"])] == ["Something came up."]
    print("keyboard path:\n  " + "\n  ".join(keys.path))


async def test_the_message_and_conflict_pages_pass_axe(site: Site, page: Any, axe: str) -> None:
    base = str(site.client.make_url("")).rstrip("/")
    for path, status, what in (
        ("/", 200, "the home page"),
        ("/book/nobody/intro-call", 404, "the 404 page of an unknown link"),
        ("/manage/nope", 404, "the 404 page of an unknown manage link"),
    ):
        response = await page.goto(base + path)
        assert response.status == status
        await audit(page, axe, what)

    # a link with its own questions, sent empty
    link = await site.link()
    await site.services.repos.event_types.update(
        replace(
            link,
            questions=(
                Question("company", "Company", required=True, max_length=40),
                Question("agenda", "What should we cover?", multiline=True, max_length=300),
            ),
        )
    )
    starts = await site.free_starts(count=3)
    await page.goto(base + DEMO_PATH + f"?tz=UTC&start={starts[1]}")
    async with page.expect_navigation():
        await page.locator("button.primary").click()
    assert await page.locator("[aria-invalid=true]").count() == 3  # name, email, company
    await audit(page, axe, "the booking form with questions and errors")

    # the time was taken meanwhile: the week again, with a notice and other free times
    token = token_of(await site.book(starts[0], answer_company="Contoso"))
    await page.get_by_label("Your name").fill("Kenji Tanaka")
    await page.get_by_label("Email").fill("kenji@example.jp")
    await page.get_by_label("Company").fill("Fabrikam")
    site.emulator.add_event(DEMO_UPN, "Taken", start=utc(starts[1]), end=utc(starts[1]) + timedelta(minutes=30))
    async with page.expect_navigation() as taken:
        await page.locator("button.primary").click()
    assert (await taken.value).status == 409 and await page.locator(".alternatives a").count() > 0
    await audit(page, axe, "the booking page with a taken time (409)")

    # rescheduling to a time taken meanwhile: the manage page with alternatives as buttons
    await page.goto(base + f"/manage/{token}?tz=UTC&reschedule=1")
    site.emulator.add_event(DEMO_UPN, "Taken too", start=utc(starts[2]), end=utc(starts[2]) + timedelta(minutes=30))
    async with page.expect_navigation() as taken:
        await page.locator(f"form:has(input[name=start][value='{starts[2]}']) button").click()
    assert (await taken.value).status == 409 and await page.locator(".alternatives button").count() > 0
    await audit(page, axe, "the manage page with a taken time (409)")

    await site.services.repos.event_types.update(replace(await site.link(), active=False))
    response = await page.goto(base + DEMO_PATH)
    assert response.status == 410
    await audit(page, axe, "the 410 page of a switched-off link")

    await site.services.repos.event_types.update(replace(await site.link(), active=True))
    site.emulator.faults.unavailable(count=10_000, user=DEMO_UPN, retry_after=0.01)
    await site.stale_cache()  # slot views read Graph live (and fail) once the busy cache can't be trusted
    response = await page.goto(base + DEMO_PATH + "?tz=UTC")
    assert response.status == 503
    await audit(page, axe, "the 503 page of an unreadable calendar")
    response = await page.goto(base + f"/manage/{token}?tz=UTC&reschedule=1")
    assert response.status == 200 and await page.locator("main p.error").count() == 1
    await audit(page, axe, "the manage page when the times can't be read")


async def test_the_audit_finds_violations_when_there_are_some(shared_site: Site, page: Any, axe: str) -> None:
    """The harness can fail: the form with its label and the page language taken away is reported."""
    base = str(shared_site.client.make_url("")).rstrip("/")
    start = (await shared_site.free_starts())[0]
    await page.goto(base + DEMO_PATH + f"?tz=UTC&start={start}")
    await page.evaluate("""() => { document.querySelector('label[for=name]').remove();
                                   document.documentElement.removeAttribute('lang'); }""")
    found = {v["id"] for v in await axe_violations(page, axe)}
    assert {"label", "html-has-lang"} <= found, found
