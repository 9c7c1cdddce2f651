"""Concurrent identical slot reads share one calendar read, and nothing is kept afterwards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from scheduling.errors import HostUnavailable
from tests.web.conftest import DEMO_PATH, Site
from web.context import SingleFlight

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_identical_concurrent_reads_share_one_computation_and_nothing_is_kept() -> None:
    flights = SingleFlight()
    calls = 0
    gate = asyncio.Event()

    async def work() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return calls

    waiters = [asyncio.ensure_future(flights.run("k", work)) for _ in range(10)]
    other = asyncio.ensure_future(flights.run("other", work))
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiters) == [1] * 10 and await other == 2
    assert len(flights) == 0
    assert await flights.run("k", work) == 3, "a read after the flight landed reads again"


async def test_a_failure_reaches_every_waiter_and_is_not_kept() -> None:
    flights = SingleFlight()
    attempts = 0

    async def failing() -> None:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.01)
        raise HostUnavailable("calendar down")

    results = await asyncio.gather(*(flights.run("k", failing) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, HostUnavailable) for r in results) and attempts == 1
    with pytest.raises(HostUnavailable):
        await flights.run("k", failing)
    assert attempts == 2


async def test_a_visitor_who_leaves_does_not_cancel_the_read_for_the_others() -> None:
    flights = SingleFlight()

    async def slow() -> str:
        await asyncio.sleep(0.05)
        return "slots"

    first = asyncio.ensure_future(flights.run("k", slow))
    second = asyncio.ensure_future(flights.run("k", slow))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == "slots"


async def test_fifty_visitors_at_once_cost_one_graph_call(live_site: Site) -> None:
    """(The live read: with a fresh busy cache they cost no Graph call at all, see tests/web/test_sync.py.)"""
    site = live_site
    first = (datetime.now(UTC) + timedelta(days=1)).date()
    params = {"start": first.isoformat(), "end": (first + timedelta(days=6)).isoformat(), "timeZone": "UTC"}
    log = site.emulator.request_log
    site.services.booking.forget_busy()  # start cold: the app's start-up read filled the slot-view cache
    before = len(log)
    site.emulator.faults.latency_ms = 50

    async def read() -> bytes:
        resp = await site.client.get(f"{DEMO_PATH}/slots", params=params)
        assert resp.status == 200
        return await resp.read()

    bodies = await asyncio.gather(*(read() for _ in range(50)))
    assert len(set(bodies)) == 1
    schedules = [r for r in log[before:] if r.path.endswith("getSchedule")]
    assert 1 <= len(schedules) <= 3, len(schedules)
    # and a booking made meanwhile is seen by the next read (no result outlives its flight)
    start = (await site.free_starts())[0]
    assert (await site.book_json(start)).status == 201
    assert start not in {s["start"] for s in await site.slots(days=21)}
