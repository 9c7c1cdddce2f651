"""The sandbox app on a free port (real HTTP, the mounted Graph emulator, a temp SQLite database),
ready once the demo host's link answers; plus helpers the web tests share."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, or_, select

import app as app_module
from app import Settings, build_app
from graph.sandbox import EmulatorState
from scheduling.domain import EventType, User
from scheduling.sync import SyncRequest
from storage.models import BookingRow, CalendarConnectionRow, EventTypeRow, SyncWorkRow, UserRow

DEMO_PATH = "/book/adele/intro-call"
DEMO_UPN = "adele@contoso.example"
#: UTC offsets at and near the edges of what an instant may carry (for generated dates).
OFFSETS = [
    UTC,
    timezone(timedelta(hours=23, minutes=59)),
    timezone(-timedelta(hours=23, minutes=59)),
    timezone(timedelta(hours=14)),
    timezone(timedelta(hours=-12)),
    timezone(timedelta(minutes=30)),
]
HOST_TZ = "America/Los_Angeles"  # the demo mailbox's zone, taken over by the host on connecting


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    client: TestClient[Any, Any]
    app: web.Application
    settings: Settings

    @property
    def emulator(self) -> EmulatorState:
        return self.app[app_module.EMULATOR]

    @property
    def services(self) -> app_module.Services:
        return self.app[app_module.SERVICES]

    async def host(self, handle: str = "adele") -> User:
        user = await self.services.repos.users.get_by_handle(handle)
        assert user is not None
        return user

    async def link(self, handle: str = "adele", slug: str = "intro-call") -> EventType:
        host = await self.host(handle)
        link = await self.services.repos.event_types.get_by_owner_slug(host.id, slug)
        assert link is not None
        return link

    async def slots(
        self, path: str = DEMO_PATH, tz: str = "UTC", days: int = 14, first: date | None = None
    ) -> list[dict[str, str]]:
        first = first or datetime.now(UTC).date()
        resp = await self.client.get(
            f"{path}/slots",
            params={"start": first.isoformat(), "end": (first + timedelta(days=days - 1)).isoformat(), "timeZone": tz},
        )
        assert resp.status == 200, await resp.text()
        slots: list[dict[str, str]] = (await resp.json())["slots"]
        return slots

    async def free_starts(self, path: str = DEMO_PATH, count: int = 1) -> list[str]:
        slots = await self.slots(path, days=21)
        assert len(slots) >= count, f"the demo link offers only {len(slots)} slots in three weeks"
        return [s["start"] for s in slots[:count]]

    async def form(self, path: str, **query: str) -> tuple[str, str]:
        """GET a page holding a form: (html, its CSRF token)."""
        resp = await self.client.get(path + ("?" + urlencode(query) if query else ""))
        html = await resp.text()
        assert resp.status == 200, html
        return html, csrf_of(html)

    async def book_via_form(self, start: str, *, path: str = DEMO_PATH, tz: str = "Europe/Paris", **fields: str) -> Any:
        """Open the form for ``start`` and submit it (not following the redirect)."""
        _html, token = await self.form(path, start=start, tz=tz)
        data = {
            "csrf_token": token,
            "start": start,
            "timeZone": tz,
            "name": "Ivy Invitee",
            "email": "ivy@example.org",
            "notes": "",
        } | fields
        return await self.client.post(path, data=data, allow_redirects=False)

    async def book_json(
        self, start: str, *, path: str = DEMO_PATH, headers: dict[str, str] | None = None, **fields: Any
    ) -> Any:
        body = {
            "start": start,
            "name": "Jo Json",
            "email": "jo@example.org",
            "timeZone": "Asia/Kolkata",
            "notes": "",
            "answers": {},
        } | fields
        return await self.client.post(path, json=body, headers=headers or {})

    async def event_of(self, token: str) -> dict[str, Any] | None:
        """The Outlook event (as the emulator holds it) of the booking with this manage token."""
        booking = await self.services.booking.by_manage_token(token)
        return self.event_for(booking.id)

    def event_for(self, booking_id: str) -> dict[str, Any] | None:
        found = [e for e in self.emulator.events(DEMO_UPN) if e.get("transactionId") == booking_id]
        assert len(found) <= 1, f"{len(found)} events for booking {booking_id}"
        return found[0] if found else None

    async def synced(self, seconds: float = 5.0) -> None:
        """Until calendar sync has caught up with Outlook: every notification the emulator sent so far was
        delivered, and the queued sync work is done (the busy cache holds what Outlook holds)."""
        notifier = self.emulator.notifier
        if notifier is not None:
            await notifier.drain()
        async with asyncio.timeout(seconds):
            while True:  # the worker runs in the app: poll the queue it empties
                if not await self._sync_work_left():
                    return
                await asyncio.sleep(0.01)

    async def at_rest(self, seconds: float = 3.0) -> None:
        """Before the app stops, let calendar sync finish what it is doing (it calls the Graph emulator inside the
        same server, and a connection racing the server's shutdown is left open); work waiting for a later retry
        is not waited for."""
        notifier = self.emulator.notifier if self.settings.emulator_enabled else None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    if notifier is not None and notifier.tasks:
                        await asyncio.wait(set(notifier.tasks), timeout=seconds)
                    now = datetime.now(UTC)
                    async with self.services.repos.db.read() as s:
                        busy = await s.scalar(
                            select(func.count())
                            .select_from(SyncWorkRow)
                            .where(or_(SyncWorkRow.due_at <= now, SyncWorkRow.leased_until > now))
                        )
                    if not busy and not (notifier is not None and notifier.tasks):
                        return
                    await asyncio.sleep(0.01)

    async def _sync_work_left(self) -> int:
        async with self.services.repos.db.read() as s:
            return int(await s.scalar(select(func.count()).select_from(SyncWorkRow)) or 0)

    async def stale_cache(self, reason: str = "notifications missed") -> None:
        """Mark the host's busy cache stale, as a ``missed`` lifecycle notification does, and forget the
        in-process reads: slot views read Graph live until a delta round succeeds."""
        host = await self.host()
        now = datetime.now(UTC)
        await self.services.repos.calendar_sync.request_work(
            host.id, SyncRequest(delta=True), due_at=now, now=now, stale_reason=reason
        )
        self.services.booking.forget_busy()

    def cancellations_of(self, event_id: str) -> list[dict[str, Any]]:
        return [c for c in self.emulator.cancellations if c["eventId"] == event_id]

    async def book(self, start: str | None = None, **fields: str) -> str:
        """Book through the page (a slot, default the first free one): the manage page path with query."""
        start = start or (await self.free_starts())[0]
        resp = await self.book_via_form(start, **fields)
        assert resp.status == 303, await resp.text()
        return str(resp.headers["Location"])


def token_of(location: str) -> str:
    """The manage token in a /manage/{token}... path."""
    return location.split("/manage/")[1].split("?")[0].split("/")[0]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def page_slots(html: str) -> list[tuple[str, str, str]]:
    """(day heading, UTC start, time label) of every slot a week page offers, in page order."""
    out = []
    for day in re.finditer(r'<section class="day"[^>]*>\s*<h3[^>]*>(.*?)</h3>(.*?)</section>', html, re.S):
        for slot in re.finditer(
            r'(?:start=|name="start" value=")([0-9T%:A-Z-]+?)(?:"|&amp;)[^>]*>\s*'
            r"(?:<input[^>]*>\s*)*(?:<button[^>]*>)?([0-9:]{5})<",
            day.group(2),
        ):
            out.append((text_of(day.group(1)), slot.group(1).replace("%3A", ":"), slot.group(2)))
    return out


def day_headings(html: str) -> list[str]:
    """The day headings of a week page, as text."""
    return [text_of(h) for h in re.findall(r'<h3 id="day-\d">(.*?)</h3>', html, re.S)]


def text_of(html: str) -> str:
    """The visible text of a page, tags dropped and entities decoded (for readable assertions)."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def sandbox_settings(tmp_path: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "SLOTWISE_BOOKING_RATE_LIMIT": 1000,
        "SLOTWISE_SLOT_READ_RATE_LIMIT": 100_000,
        "SLOTWISE_RECONCILE_SECONDS": 3600,
        "SLOTWISE_PORT": free_port(),
    } | extra
    return Settings(
        _env_file=None,
        SLOTWISE_VAR_DIR=str(tmp_path),
        SLOTWISE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'slotwise.db'}",
        **values,
    )


@asynccontextmanager
async def running_site(tmp_path: Path, **extra: Any) -> AsyncIterator[Site]:
    """The sandbox app listening on a free port, once the demo host's link answers 200."""
    settings = sandbox_settings(tmp_path, **extra)
    application = build_app(settings)
    async with TestClient(TestServer(application, host="127.0.0.1", port=settings.port)) as client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:
            resp = await client.get(DEMO_PATH)
            await resp.read()
            if resp.status == 200:
                break
            assert loop.time() < deadline, f"the demo link never came up (last status {resp.status})"
            await asyncio.sleep(0.05)
        client.session.cookie_jar.clear()
        site = Site(client, application, settings)
        yield site
        await site.at_rest()


# The web tests run in one event loop per session (each module says so with ``pytestmark``), so that a
# module can share one running app among tests that change nothing (``shared_site``) while the others
# get a fresh app each (``site``). Starting the app (migrations, demo bootstrap) takes about a second.


@pytest_asyncio.fixture(loop_scope="session")
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    """A fresh app for a test that books, breaks or reconfigures something."""
    async with running_site(tmp_path) as s:
        yield s


@pytest_asyncio.fixture(loop_scope="session")
async def live_site(tmp_path: Path) -> AsyncIterator[Site]:
    """A fresh app with calendar sync off (no subscription, no busy cache): slot views read Graph live, as
    they do for any host whose busy cache is stale."""
    async with running_site(tmp_path, SLOTWISE_CALENDAR_SYNC=False) as s:
        yield s


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def shared_site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    """One app for the module's read-only tests: they must not book, break or reconfigure anything."""
    async with running_site(tmp_path_factory.mktemp("shared-site")) as s:
        yield s


ICS_NAME = re.compile(r"[A-Za-z0-9-]+")
ICS_PARAM = re.compile(
    r';[A-Za-z0-9-]+=(?:"[^"\x00-\x08\x0a-\x1f\x7f]*"|[^";:,\x00-\x08\x0a-\x1f\x7f]*)'
    r'(?:,(?:"[^"\x00-\x08\x0a-\x1f\x7f]*"|[^";:,\x00-\x08\x0a-\x1f\x7f]*))*'
)


def parse_ics(data: bytes) -> list[tuple[str, str, str]]:
    """Strictly check an RFC 5545 stream and return its content lines as (name, params, value).

    CRLF line ends, lines folded at 75 octets without splitting UTF-8 sequences, every content line
    ``name *(;param) : value`` with quoted or safe parameter values, no control characters, balanced
    BEGIN/END, one VCALENDAR with VERSION 2.0 and PRODID, and VEVENTs with UID, DTSTAMP and DTSTART.
    """
    assert data.endswith(b"\r\n"), "an iCalendar stream ends with CRLF"
    physical = data[:-2].split(b"\r\n")
    for line in physical:
        assert b"\n" not in line and b"\r" not in line, f"bare line break in {line!r}"
        assert len(line) <= 75, f"line longer than 75 octets: {line!r}"
        line.decode("utf-8")  # each physical line is whole UTF-8 on its own
    logical: list[str] = []
    for line in physical:
        text = line.decode("utf-8")
        if text.startswith((" ", "\t")):
            assert logical, "a continuation line before any content line"
            logical[-1] += text[1:]
        else:
            logical.append(text)
    out: list[tuple[str, str, str]] = []
    stack: list[str] = []
    for content in logical:
        name = ICS_NAME.match(content)
        assert name, f"no property name in {content!r}"
        rest = content[name.end() :]
        params = ""
        while rest.startswith(";"):
            param = ICS_PARAM.match(rest)
            assert param, f"malformed parameter in {content!r}"
            params += param.group(0)
            rest = rest[param.end() :]
        assert rest.startswith(":"), f"no ':' after the name and parameters in {content!r}"
        value = rest[1:]
        assert not re.search(r"[\x00-\x08\x0a-\x1f\x7f]", value), f"control character in {content!r}"
        prop = name.group(0).upper()
        if prop == "BEGIN":
            stack.append(value)
        elif prop == "END":
            assert stack and stack.pop() == value, f"unbalanced END:{value}"
        else:
            assert stack, f"{prop} outside any component"
        out.append((prop, params, value))
    assert not stack, f"unclosed components {stack}"
    assert out[0] == ("BEGIN", "", "VCALENDAR") and out[-1] == ("END", "", "VCALENDAR")
    props = {p for p, _, _ in out}
    assert {"VERSION", "PRODID", "UID", "DTSTAMP", "DTSTART"} <= props
    assert ("VERSION", "", "2.0") in out
    return out


def ics_value(lines: list[tuple[str, str, str]], prop: str) -> str:
    found = [v for p, _, v in lines if p == prop]
    assert len(found) == 1, f"{prop}: {found}"
    return found[0]


def ics_text(value: str) -> str:
    """An iCalendar TEXT value unescaped (RFC 5545 3.3.11); unescaped ';' or ',' is an error."""
    assert not re.search(r"(?<!\\)(?:\\\\)*[;,]", value), f"unescaped ; or , in {value!r}"
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


async def world_state(site: Site) -> tuple[Any, ...]:
    """Every booking (status, times, version), link (version, active), user (connection) and calendar
    connection, and Outlook's events: what a refused request must leave as it was."""
    b, e, u, c = BookingRow, EventTypeRow, UserRow, CalendarConnectionRow
    async with site.services.repos.db.read() as s:
        bookings = (await s.execute(select(b.id, b.status, b.start_at, b.end_at, b.version).order_by(b.id))).all()
        links = (await s.execute(select(e.id, e.version, e.active).order_by(e.id))).all()
        users = (await s.execute(select(u.id, u.connection_status).order_by(u.id))).all()
        connections = (await s.execute(select(c.user_id, c.status, c.updated_at).order_by(c.user_id))).all()
    events = sorted(
        (v["id"], v["start"]["dateTime"], bool(v.get("isCancelled"))) for v in site.emulator.events(DEMO_UPN)
    )
    return (*(tuple(map(tuple, rows)) for rows in (bookings, links, users, connections)), tuple(events))
