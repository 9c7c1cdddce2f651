"""Clear pages when a link is off, deleted or used, and when the host's calendar can't be read: never
slots that might be false."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from scheduling.domain import ConnectionStatus
from scheduling.errors import NotFound, SlotwiseError
from scheduling.links import NewLink
from scheduling.ratelimit import RateLimited
from storage.errors import StorageUnavailable
from tests.web.conftest import DEMO_PATH, DEMO_UPN, Site, page_slots, text_of
from web import WEB, escaped_errors, security_middleware

pytestmark = pytest.mark.asyncio(loop_scope="session")


def no_slots(html: str) -> bool:
    return page_slots(html) == [] and 'class="slot"' not in html and "start=" not in html


async def slots_query(site: Site, path: str = DEMO_PATH) -> ClientResponse:
    today = datetime.now(UTC).date()
    return await site.client.get(
        f"{path}/slots",
        params={"start": today.isoformat(), "end": (today + timedelta(days=6)).isoformat(), "timeZone": "UTC"},
    )


async def test_a_switched_off_link_is_410_with_a_clear_message(site: Site) -> None:
    start = (await site.free_starts())[0]
    _html, csrf = await site.form(DEMO_PATH, start=start)
    await site.services.repos.event_types.update(replace(await site.link(), active=False))
    resp = await site.client.get(DEMO_PATH)
    html = await resp.text()
    assert resp.status == 410
    assert "This link is no longer active" in html
    assert "Ask the host for a current link." in text_of(html) and no_slots(html)
    form = await site.client.get(DEMO_PATH, params={"start": start})
    assert form.status == 410
    post = await site.client.post(
        DEMO_PATH,
        data={"csrf_token": csrf, "start": start, "name": "Ivy", "email": "ivy@example.org", "timeZone": "UTC"},
    )
    assert post.status == 410
    api = await slots_query(site)
    assert api.status == 410 and (await api.json())["type"] == "urn:slotwise:problem:link_inactive"
    booked = await site.book_json(start)
    assert booked.status == 410


async def test_a_deleted_link_is_404_with_a_clear_message(site: Site) -> None:
    link = await site.link()
    await site.services.repos.event_types.delete(link.tenant_id, link.id)
    resp = await site.client.get(DEMO_PATH)
    html = await resp.text()
    assert resp.status == 404
    assert "There is no booking link at this address." in text_of(html) and no_slots(html)
    for path in ("/book/nobody/intro-call", "/book/adele/../../etc/passwd", "/book/adele/%3Cscript%3E"):
        other = await site.client.get(path)
        assert other.status == 404 and "<script>" not in await other.text()


async def test_a_used_single_use_link_is_410_and_says_so(site: Site) -> None:
    host = await site.host()
    link = await site.services.links.create(host, NewLink(duration=30, title="One time", single_use=True))
    path = f"/book/{host.handle}/{link.slug}"
    start = (await site.free_starts(path))[0]
    _html, csrf = await site.form(path, start=start)
    assert (await site.book_json(start, path=path)).status == 201
    resp = await site.client.get(path)
    html = await resp.text()
    assert resp.status == 410
    assert "This link has been used" in html
    assert "This one-time booking link has already been used. Ask the host for a new link." in text_of(html)
    assert no_slots(html)
    second = await site.book_json((await site.free_starts(count=2))[1], path=path, email="late@example.org")
    assert second.status == 410
    post = await site.client.post(
        path, data={"csrf_token": csrf, "start": start, "name": "Late", "email": "late@example.org", "timeZone": "UTC"}
    )
    assert post.status == 410 and "already been used" in await post.text()


async def test_an_unknown_manage_token_is_404(site: Site) -> None:
    for token in ("nope", "A" * 43, "%00"):
        resp = await site.client.get(f"/manage/{token}")
        assert resp.status == 404 and "This manage link is not valid." in text_of(await resp.text())
    ics = await site.client.get("/manage/nope/invite.ics")
    assert ics.status == 404 and ics.content_type == "text/html"


async def disconnect(site: Site) -> None:
    """The host's refresh token is revoked: the connection is broken and the sandbox can't reconnect."""
    host = await site.host()
    await site.services.repos.users.set_connection(host.id, ConnectionStatus.BROKEN, "invalid_grant")
    site.emulator.set_token_error(DEMO_UPN, "invalid_grant")


async def calendar_down(site: Site) -> None:
    """Every Graph call for the host's mailbox fails with 503 (a short Retry-After keeps the client's
    retries quick; without one it backs off for several seconds before giving up). Slot views read the
    busy cache while it is fresh and reuse a live Graph answer for up to 30 s, so the cache is marked stale
    (as by a ``missed`` notification; the delta round that would repair it fails too) and the earlier
    reads of the fixture are forgotten."""
    site.emulator.faults.unavailable(count=10_000, user=DEMO_UPN, retry_after=0.01)
    await site.stale_cache()


async def unreadable(site: Site) -> None:
    await calendar_down(site)


async def mailbox_off(site: Site) -> None:
    site.emulator.get_user(DEMO_UPN).mailbox_enabled = False  # type: ignore[union-attr]
    await site.stale_cache()


@pytest.mark.parametrize("breakage", [disconnect, unreadable, mailbox_off])
async def test_a_host_whose_calendar_cant_be_read_gets_a_503_page_without_slots(
    site: Site, breakage: Callable[[Site], Awaitable[None]]
) -> None:
    start = (await site.free_starts())[0]
    _html, csrf = await site.form(DEMO_PATH, start=start)
    await breakage(site)
    resp = await site.client.get(DEMO_PATH, params={"tz": "Europe/Rome"})
    html = await resp.text()
    assert resp.status == 503, html
    assert "Bookings are paused" in html and no_slots(html)
    text = text_of(html)
    assert "Adele Vance" in text and ("try again" in text.lower())
    api = await slots_query(site)
    assert api.status == 503
    body = await api.json()
    assert body["type"] == "urn:slotwise:problem:host_unavailable" and "slots" not in body
    # booking fails closed too: nothing is written to the calendar
    post = await site.client.post(
        DEMO_PATH,
        data={"csrf_token": csrf, "start": start, "name": "Ivy", "email": "ivy@example.org", "timeZone": "UTC"},
    )
    assert post.status == 503 and no_slots(await post.text())
    assert (await site.book_json(start)).status == 503
    if breakage is not mailbox_off:
        assert [e for e in site.emulator.events(DEMO_UPN) if e.get("transactionId")] == []


async def test_the_page_recovers_once_the_calendar_answers_again(site: Site) -> None:
    await calendar_down(site)
    assert (await site.client.get(DEMO_PATH)).status == 503
    site.emulator.faults.clear()
    resp = await site.client.get(DEMO_PATH)
    assert resp.status == 200 and page_slots(await resp.text())


async def test_rescheduling_while_the_calendar_is_unreadable_shows_no_slots(site: Site) -> None:
    token = (await site.book()).split("/")[2].split("?")[0]
    await calendar_down(site)
    resp = await site.client.get(f"/manage/{token}", params={"reschedule": "1"})
    html = await resp.text()
    assert resp.status == 200, "the booking itself is still shown"
    assert "can't be read right now" in text_of(html) and no_slots(html)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (StorageUnavailable(), 503, "storage_unavailable"),
        (NotFound("There is no such booking."), 404, "not_found"),
        (RateLimited(timedelta(seconds=7), 10, timedelta(minutes=1)), 429, "rate_limited"),
    ],
)
async def test_a_core_error_a_handler_lets_through_is_answered_as_what_it_is_never_500(
    site: Site, error: SlotwiseError, status: int, code: str
) -> None:
    """bench.fleet found a read made after a handler's own ``try`` (the database restarting just then) answered 500.
    web.pages.escaped_errors answers any core error that escapes a handler: problem details or the message page."""

    async def handler(_request: web.Request) -> web.Response:
        raise error

    app = web.Application(middlewares=[security_middleware, escaped_errors])
    app[WEB] = site.app[WEB]
    app.router.add_get("/escaped", handler)
    async with TestClient(TestServer(app)) as client:
        as_json = await client.get("/escaped", headers={"Accept": "application/json"})
        problem = await as_json.json()
        assert as_json.status == status and problem["code"] == code and problem["detail"] == error.message
        if status == 429:
            assert as_json.headers["Retry-After"] == "7"
        page = await client.get("/escaped", headers={"Accept": "text/html"})
        assert page.status == status and error.message in text_of(await page.text())
