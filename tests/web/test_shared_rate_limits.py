"""The public pages' rate limits are shared by every replica (issue 15): two app instances on one database
(SQLite file and PostgreSQL), requests alternating between them, count against one limit per client address,
for the HTML pages and the JSON endpoints alike; the limit is checked before a booking is written; and a limiter
that can't reach its database lets the request through (logged) instead of turning a page view into a 500."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, text

from scheduling.booking import BookingService
from scheduling.ratelimit import RateLimit, RateLimitService, Throttle
from storage.api import SqlCounterStore
from storage.db import Database, create_database
from storage.models import BookingRow, RateCounterRow
from storage.repositories import repositories
from tests.integration.harness import MONDAY_10, World, booking_world
from tests.storage.fixtures import KINDS, Kind, database
from tests.web.conftest import csrf_of, text_of
from web.context import WEB, WebContext, make_templates
from web.pages import setup_pages
from web.security import Csrf, parse_trusted_proxies, security_middleware

pytestmark = pytest.mark.asyncio(loop_scope="session")
on_both = pytest.mark.parametrize(
    "kind", [pytest.param(k, marks=[pytest.mark.postgres] if k == "postgres" else []) for k in KINDS]
)

PROXY = "127.0.0.1"  # the test client's address: a trusted proxy, so X-Forwarded-For names the client
IVY = {"X-Forwarded-For": "203.0.113.7"}
OTTO = {"X-Forwarded-For": "198.51.100.9"}  # another visitor, behind the same proxy


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def throttle(db: Database, w: World, rule: RateLimit) -> Throttle:
    return RateLimitService(store=repositories(db, clock=w.clock.now).counters, clock=w.clock).throttle(rule)


@asynccontextmanager
async def replica(
    w: World, db: Database, *, booking: int = 1000, slots: int = 1000
) -> AsyncIterator[TestClient[Any, Any]]:
    """One app instance (its own engine and pool, its own web context) on the world's database."""
    repos = repositories(db, clock=w.clock.now)
    service = BookingService(
        calendar=w.calendar,
        bookings=repos.bookings,
        users=repos.users,
        event_types=repos.event_types,
        clock=w.clock,
        token_secret=b"s" * 32,
    )
    app = web.Application(middlewares=[security_middleware])
    app[WEB] = WebContext(
        service=service,
        clock=w.clock,
        base_url="http://127.0.0.1",
        csrf=Csrf(b"c" * 32, secure_cookie=False),  # replicas share the secret, as deployed
        booking_limiter=throttle(db, w, RateLimit("booking", booking)),
        slot_limiter=throttle(db, w, RateLimit("slots", slots)),
        templates=make_templates(),
        trusted_proxies=parse_trusted_proxies(PROXY),
    )
    setup_pages(app)
    async with TestClient(TestServer(app, host=PROXY)) as client:
        yield client


@asynccontextmanager
async def two_replicas(w: World, **limits: int) -> AsyncIterator[tuple[TestClient[Any, Any], TestClient[Any, Any]]]:
    second = create_database(w.db.url)  # the other replica: its own engine and pool on the same database
    try:
        async with AsyncExitStack() as stack:
            a = await stack.enter_async_context(replica(w, w.db, **limits))
            b = await stack.enter_async_context(replica(w, second, **limits))
            yield a, b
    finally:
        await second.dispose()


async def bookings(w: World) -> int:
    async with w.db.read() as s:
        return int(await s.scalar(select(func.count()).select_from(BookingRow)) or 0)


def page(w: World) -> str:
    return f"/book/{w.host.handle}/{w.link.slug}"


async def slots_json(client: TestClient[Any, Any], w: World, headers: dict[str, str]) -> Any:
    day = MONDAY_10.date().isoformat()
    return await client.get(f"{page(w)}/slots", params={"start": day, "end": day}, headers=headers)


async def book_json(client: TestClient[Any, Any], w: World, start: datetime, headers: dict[str, str]) -> Any:
    body = {"start": iso(start), "name": "Ivy", "email": "ivy@example.org", "timeZone": "Europe/London"}
    return await client.post(page(w), json=body, headers=headers)


async def book_form(client: TestClient[Any, Any], w: World, start: datetime, headers: dict[str, str]) -> Any:
    form = await client.get(page(w), params={"start": iso(start)}, headers=headers)  # the form: no slot read
    assert form.status == 200, await form.text()
    data = {
        "csrf_token": csrf_of(await form.text()),
        "start": iso(start),
        "name": "Ivy",
        "email": "ivy@example.org",
        "timeZone": "Europe/London",
    }
    return await client.post(page(w), data=data, headers=headers, allow_redirects=False)


def retry_after(resp: Any) -> int:
    seconds = int(resp.headers["Retry-After"])
    assert 1 <= seconds <= 120  # the sliding window: up to two windows' length after a full one
    return seconds


@on_both
async def test_slot_reads_share_one_limit_across_replicas(kind: Kind) -> None:
    async with booking_world(kind) as w, two_replicas(w, slots=3) as (a, b):
        assert (await slots_json(a, w, IVY)).status == 200
        assert (await b.get(page(w), headers=IVY)).status == 200  # the week page reads slots too
        assert (await slots_json(a, w, IVY)).status == 200
        # the fourth read, on either replica, is over the one limit: JSON problem details and the page
        refused = await slots_json(b, w, IVY)
        body = await refused.json()
        assert refused.status == 429, body
        assert refused.content_type == "application/problem+json" and body["code"] == "rate_limited"
        page_refused = await a.get(page(w), headers=IVY)
        assert page_refused.status == 429
        assert "Too many requests for times" in text_of(await page_refused.text())
        assert retry_after(refused) == retry_after(page_refused)  # one counter, one answer
        # another client address is counted apart, on both replicas
        assert (await slots_json(b, w, OTTO)).status == 200
        assert (await a.get(page(w), headers=OTTO)).status == 200
        # the limit is kept in the database, not in either replica
        async with w.db.read() as s:
            keys = set((await s.scalars(select(RateCounterRow.key))).all())
        assert keys == {"slots:203.0.113.7", "slots:198.51.100.9"}


@on_both
async def test_booking_attempts_share_one_limit_checked_before_any_booking_is_written(kind: Kind) -> None:
    async with booking_world(kind) as w, two_replicas(w, booking=3) as (a, b):
        starts = [MONDAY_10 + timedelta(minutes=30 * i) for i in range(8)]
        assert (await book_json(a, w, starts[0], IVY)).status == 201
        assert (await book_json(b, w, starts[1], IVY)).status == 201
        assert (await book_form(a, w, starts[2], IVY)).status == 303
        assert await bookings(w) == 3 and len(w.tagged_events()) == 3
        # the fourth attempt, a booking that would succeed, is refused on both replicas and writes nothing
        refused = await book_json(b, w, starts[3], IVY)
        body = await refused.json()
        assert refused.status == 429, body
        assert refused.content_type == "application/problem+json" and body["code"] == "rate_limited"
        form_refused = await book_form(a, w, starts[4], IVY)
        assert form_refused.status == 429 and "Too many attempts" in text_of(await form_refused.text())
        assert retry_after(refused) >= 1 and retry_after(form_refused) >= 1
        assert await bookings(w) == 3 and len(w.tagged_events()) == 3
        # another client address books on
        assert (await book_json(b, w, starts[5], OTTO)).status == 201
        assert (await book_form(a, w, starts[6], OTTO)).status == 303
        assert await bookings(w) == 5


@on_both
async def test_a_limiter_whose_counters_fail_lets_requests_through_and_logs_it(
    kind: Kind, caplog: pytest.LogCaptureFixture
) -> None:
    """Fail open: the limit guards the pages against floods; a failure of its counters must not take them down."""
    async with booking_world(kind) as w, two_replicas(w, booking=1, slots=1) as (a, b):
        async with w.db.write() as s:
            await s.execute(text("DROP TABLE rate_counters"))  # every count now fails, on both replicas
        with caplog.at_level(logging.WARNING, logger="slotwise.web"):
            for client in (a, b, a):  # over the limits of 1, were anything counted
                assert (await client.get(page(w), headers=IVY)).status == 200
                assert (await slots_json(client, w, IVY)).status == 200
            assert (await book_json(b, w, MONDAY_10, IVY)).status == 201
            assert (await book_form(a, w, MONDAY_10 + timedelta(minutes=30), IVY)).status == 303
        failed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rate limit ")]
        assert all(r.levelno == logging.WARNING for r in caplog.records if r.getMessage() in failed)
        assert len(failed) == 8 and all("not checked, request let through" in m for m in failed)
        assert sum(m.startswith("rate limit slots ") for m in failed) == 6
        assert sum(m.startswith("rate limit booking ") for m in failed) == 2
        assert await bookings(w) == 2


# ------------------------------------------------------------------ the counters under a burst


@on_both
async def test_a_burst_of_events_is_counted_exactly_by_two_replicas(kind: Kind, tmp_path: Path) -> None:
    """What a burst of page views does to the store: one client's events (queued together on SQLite, counted by
    one upsert of all that fit) and other clients' interleaved, from two replicas at once; never over the limit,
    every allowed event a distinct count."""
    async with database(kind, tmp_path) as db:
        other = create_database(db.url)
        try:
            stores = (SqlCounterStore(db), SqlCounterStore(other))
            start = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
            expires = start + timedelta(minutes=2)
            keys = ["slots:ivy"] * 40 + ["slots:otto"] * 3 + [f"slots:{n}" for n in range(10)]
            counts = await asyncio.gather(
                *(stores[i % 2].take(key, start, limit=25, expires_at=expires) for i, key in enumerate(keys))
            )
            ivy = [c for k, c in zip(keys, counts, strict=True) if k == "slots:ivy"]
            assert sorted(c for c in ivy if c is not None) == list(range(1, 26)) and ivy.count(None) == 15
            otto = [c for k, c in zip(keys, counts, strict=True) if k == "slots:otto"]
            assert sorted(c or 0 for c in otto) == [1, 2, 3]
            assert counts[43:] == [1] * 10
            assert await stores[1].counted("slots:ivy", start) == 25
            assert await stores[0].take("slots:ivy", start, limit=26, expires_at=expires) == 26  # a larger room
            # a new key's burst larger than its limit, on one replica: the first four
            eve = await asyncio.gather(
                *(stores[0].take("slots:eve", start, limit=4, expires_at=expires) for _ in range(6))
            )
            assert sorted(c for c in eve if c is not None) == [1, 2, 3, 4] and eve.count(None) == 2
        finally:
            await other.dispose()


async def test_an_event_whose_caller_went_away_before_it_was_written_is_not_counted(tmp_path: Path) -> None:
    """SQLite: the event waits in the writer's queue; a caller that is gone by the time it is written (a closed
    connection) leaves it uncounted."""
    async with database("sqlite", tmp_path) as db:
        store = SqlCounterStore(db)
        start = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
        expires = start + timedelta(minutes=2)
        gone = asyncio.ensure_future(store.take("slots:ivy", start, limit=5, expires_at=expires))
        await asyncio.sleep(0)  # queued, the writer not started yet
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gone
        assert await store.take("slots:ivy", start, limit=5, expires_at=expires) == 1
