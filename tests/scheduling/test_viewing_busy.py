"""The slot-view busy cache (issue 10, item 9): busy time is kept per host by the stretch each read
covered, so queries for other days, windows or zones inside it cost no calendar call; it stays fresh for
``ttl``; concurrent misses share one read; a failure reaches every waiter and is not kept."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduling.booking import VIEW_READ_SPAN, ViewingBusyCache
from scheduling.domain import User
from scheduling.errors import HostUnavailable
from scheduling.intervals import Interval
from scheduling.ports import BusyInterval

NOW = datetime(2030, 3, 4, 9, 17, tzinfo=UTC)
HOST = User(id="h1", tenant_id="t", aad_object_id="a1", display_name="Hana Host", email="hana@contoso.example")
OTHER = User(id="h2", tenant_id="t", aad_object_id="a2", display_name="Otto Host", email="otto@contoso.example")
HORIZON = Interval(NOW, NOW + timedelta(days=60))
ZONES = ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata", "America/St_Johns", "Europe/London")


@dataclass
class Clock:
    current: datetime = NOW

    def now(self) -> datetime:
        return self.current


def noon_hours(window: Interval) -> list[BusyInterval]:
    """The truth of the test calendar: one busy hour every day at 12:00 UTC."""
    first = window.start.replace(hour=0, minute=0, second=0, microsecond=0)
    starts = (first + timedelta(days=d, hours=12) for d in range((window.end - first).days + 1))
    return [
        BusyInterval(s, s + timedelta(hours=1))
        for s in starts
        if s < window.end and window.start < s + timedelta(hours=1)
    ]


@dataclass
class Calendar:
    """The test calendar as a reader; records every read, can be held at a gate or made to fail."""

    reads: list[tuple[str, Interval]] = field(default_factory=list)
    gate: asyncio.Event | None = None
    fail: bool = False

    async def read(self, host: User, window: Interval) -> list[BusyInterval]:
        self.reads.append((host.id, window))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise HostUnavailable("calendar down")
        return noon_hours(window)


def cache(calendar: Calendar, clock: Clock, ttl: float = 30) -> ViewingBusyCache:
    return ViewingBusyCache(calendar.read, clock, timedelta(seconds=ttl))


def local_days(first: datetime, days: int, tz: str) -> Interval:
    zone = ZoneInfo(tz)
    day = first.astimezone(zone).date()
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    return Interval(start, start + timedelta(days=days))


async def test_random_windows_in_random_zones_inside_the_horizon_cost_one_read() -> None:
    calendar, clock = Calendar(), Clock()
    busy = cache(calendar, clock)
    rng = random.Random(7)
    for _ in range(500):
        first = NOW + timedelta(days=rng.randrange(0, 55), hours=rng.randrange(0, 24))
        window = local_days(first, rng.randrange(1, 8), rng.choice(ZONES))
        low = max(window.start, HORIZON.start)
        inside = Interval(low, max(low, min(window.end, HORIZON.end)))
        assert await busy.busy(HOST, inside, HORIZON) == noon_hours(inside)
        clock.current += timedelta(milliseconds=10)
    assert len(calendar.reads) == 1, calendar.reads
    assert calendar.reads[0][1] == HORIZON  # the whole horizon at once (it fits one call)


async def test_reads_are_whole_utc_days_widened_over_the_horizon_up_to_one_calls_span() -> None:
    busy = cache(Calendar(), Clock())
    noon = NOW.replace(hour=12, minute=0)
    day = NOW.replace(hour=0, minute=0)
    assert busy.read_range(Interval(noon, noon + timedelta(hours=1)), None) == Interval(day, day + timedelta(days=1))
    long_horizon = Interval(NOW, NOW + timedelta(days=200))
    read = busy.read_range(Interval(noon + timedelta(days=100), noon + timedelta(days=101)), long_horizon)
    assert read.duration == VIEW_READ_SPAN and read.start == day + timedelta(days=100)
    near_end = busy.read_range(Interval(long_horizon.end - timedelta(hours=2), long_horizon.end), long_horizon)
    assert near_end.end == long_horizon.end and near_end.duration == VIEW_READ_SPAN
    huge = Interval(noon, noon + timedelta(days=70))  # more than one call can cover: read as asked
    assert busy.read_range(huge, None).contains(huge)


async def test_busy_time_is_fresh_for_ttl_then_read_again_and_hosts_are_separate() -> None:
    calendar, clock = Calendar(), Clock()
    busy = cache(calendar, clock, ttl=30)
    week = Interval(NOW, NOW + timedelta(days=7))
    await busy.busy(HOST, week, HORIZON)
    clock.current += timedelta(seconds=29)
    await busy.busy(HOST, Interval(NOW + timedelta(days=2), NOW + timedelta(days=3)), HORIZON)
    assert len(calendar.reads) == 1
    await busy.busy(OTHER, week, HORIZON)
    assert [host for host, _ in calendar.reads] == ["h1", "h2"]
    clock.current += timedelta(seconds=1)  # 30 s after the first read
    await busy.busy(HOST, week, HORIZON)
    assert [host for host, _ in calendar.reads] == ["h1", "h2", "h1"]


async def test_forget_drops_a_hosts_reads_and_a_read_in_flight_is_not_kept() -> None:
    calendar, clock = Calendar(), Clock()
    busy = cache(calendar, clock)
    week = Interval(NOW, NOW + timedelta(days=7))
    await busy.busy(HOST, week, HORIZON)
    await busy.busy(OTHER, week, HORIZON)
    busy.forget([HOST.id])
    await busy.busy(OTHER, week, HORIZON)
    assert len(calendar.reads) == 2
    calendar.gate = asyncio.Event()
    flight = asyncio.ensure_future(busy.busy(HOST, week, HORIZON))
    await asyncio.sleep(0)
    busy.forget()  # e.g. a booking landed while the read was in flight
    calendar.gate.set()
    await flight
    calendar.gate = None
    await busy.busy(HOST, week, HORIZON)
    assert [host for host, _ in calendar.reads] == ["h1", "h2", "h1", "h1"]


async def test_concurrent_misses_share_one_read_and_a_failure_reaches_all_and_is_not_kept() -> None:
    gate = asyncio.Event()
    calendar, clock = Calendar(gate=gate), Clock()
    busy = cache(calendar, clock)
    windows = [local_days(NOW + timedelta(days=d), 3, tz) for d, tz in zip(range(1, 40, 4), ZONES * 2, strict=False)]
    waiters = [asyncio.ensure_future(busy.busy(HOST, w, HORIZON)) for w in windows]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiters)
    assert len(calendar.reads) == 1 and all(results)

    failing_gate = asyncio.Event()
    failing, clock = Calendar(gate=failing_gate, fail=True), Clock()
    busy = cache(failing, clock)
    waiters = [asyncio.ensure_future(busy.busy(HOST, w, HORIZON)) for w in windows]
    await asyncio.sleep(0)
    failing_gate.set()
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(o, HostUnavailable) for o in outcomes) and len(failing.reads) == 1
    failing.gate, failing.fail = None, False
    assert await busy.busy(HOST, windows[0], HORIZON)
    assert len(failing.reads) == 2  # the failure was not kept


async def test_an_empty_window_reads_nothing() -> None:
    calendar = Calendar()
    assert await cache(calendar, Clock()).busy(HOST, Interval(NOW, NOW), HORIZON) == []
    assert calendar.reads == []


@pytest.mark.parametrize("ttl", [0.0, 30.0])
async def test_what_a_read_found_is_what_the_window_gets(ttl: float) -> None:
    calendar, clock = Calendar(), Clock()
    busy = cache(calendar, clock, ttl)
    noon = (NOW + timedelta(days=3)).replace(hour=12, minute=0)
    window = Interval(noon - timedelta(minutes=30), noon + timedelta(minutes=30))
    found = await busy.busy(HOST, window, HORIZON)
    assert found == [BusyInterval(noon, noon + timedelta(hours=1))]
