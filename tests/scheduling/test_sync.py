"""The rules of calendar sync in the core (scheduling.sync): when the busy cache may answer a slot view, who is
subscribed, how client states are compared, the window a delta round covers, how requests merge; and that
a slot view asks Graph nothing while the cache serves it, and reads live when it doesn't."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from scheduling.booking import BookingService
from scheduling.domain import ConnectionStatus, User
from scheduling.intervals import Interval
from scheduling.ports import BusyInterval, CalendarPort
from scheduling.stores import BookingStore, BusyCacheStore, EventTypeStore, UserStore
from scheduling.sync import (
    CachedBusy,
    SyncPolicy,
    SyncRequest,
    client_state_matches,
    hash_client_state,
    wants_subscription,
)

NOW = datetime(2030, 3, 4, 9, 17, tzinfo=UTC)
WINDOW = Interval(NOW - timedelta(days=1), NOW + timedelta(days=92))
ASKED = Interval(NOW, NOW + timedelta(days=7))
LAG = timedelta(seconds=30)
FRESH = CachedBusy(
    host_id="h",
    window=WINDOW,
    has_cursor=True,
    stale_since=None,
    dirty_since=None,
    subscription_expires_at=NOW + timedelta(days=3),
)


def test_a_fresh_cache_serves_what_lies_inside_its_window() -> None:
    assert FRESH.serves(ASKED, NOW, LAG)
    assert FRESH.serves(WINDOW, NOW, LAG)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"has_cursor": False}, "never synced"),
        ({"stale_since": NOW - timedelta(seconds=1)}, "notifications missed / subscription removed"),
        ({"subscription_expires_at": None}, "no subscription"),
        ({"subscription_expires_at": NOW}, "subscription expired (Graph says nothing then)"),
        ({"dirty_since": NOW - LAG - timedelta(seconds=1)}, "a notified change waits too long (worker down)"),
    ],
)
def test_a_cache_that_cant_be_trusted_does_not_serve(change: dict[str, object], why: str) -> None:
    assert not replace(FRESH, **change).serves(ASKED, NOW, LAG), why  # type: ignore[arg-type]


def test_a_recent_change_on_its_way_still_serves_and_the_window_must_cover_the_question() -> None:
    assert replace(FRESH, dirty_since=NOW - LAG).serves(ASKED, NOW, LAG)
    assert not FRESH.serves(Interval(NOW, WINDOW.end + timedelta(minutes=1)), NOW, LAG)
    assert not FRESH.serves(Interval(WINDOW.start - timedelta(minutes=1), NOW), NOW, LAG)


@pytest.mark.parametrize("status", list(ConnectionStatus))
def test_every_connected_host_and_only_they_are_subscribed(status: ConnectionStatus) -> None:
    user = User(id="u", tenant_id="t", aad_object_id="a", display_name="U", email="u@x", connection_status=status)
    assert wants_subscription(user) is (status is ConnectionStatus.CONNECTED)


def test_client_states_are_compared_by_hash_and_an_empty_one_never_matches() -> None:
    stored = hash_client_state("s3cret")
    assert stored != "s3cret" and len(stored) == 64
    assert client_state_matches("s3cret", stored)
    assert not client_state_matches("s3cret ", stored)
    assert not client_state_matches(None, stored) and not client_state_matches("", hash_client_state(""))
    assert not client_state_matches("s3cret", "")


def test_the_delta_window_runs_from_yesterday_to_the_horizon_and_moves_daily() -> None:
    policy = SyncPolicy(horizon=timedelta(days=92))
    window = policy.window(NOW)
    assert window.start == datetime(2030, 3, 3, tzinfo=UTC) and window.end == datetime(2030, 6, 5, tzinfo=UTC)
    assert not policy.window_outdated(window, NOW)
    assert not policy.window_outdated(window, NOW + timedelta(hours=20))
    assert policy.window_outdated(window, NOW + timedelta(days=2))
    assert policy.window_outdated(window, window.start - timedelta(seconds=1))


def test_retries_back_off_to_a_ceiling() -> None:
    policy = SyncPolicy(first_retry=timedelta(seconds=5), max_retry=timedelta(minutes=10))
    assert [policy.retry_at(NOW, n) - NOW for n in (1, 2, 3)] == [timedelta(seconds=s) for s in (5, 10, 20)]
    assert policy.retry_at(NOW, 60) - NOW == timedelta(minutes=10)


def test_requests_merge_flag_by_flag() -> None:
    merged = SyncRequest(delta=True).merged(SyncRequest(recreate=True, removed_subscription_id="s1"))
    assert merged == SyncRequest(delta=True, recreate=True, removed_subscription_id="s1")
    assert merged.merged(SyncRequest(reauthorize=True)).removed_subscription_id == "s1"


# ------------------------------------------------------------------ the slot view's read


@dataclass
class Cache:
    cached: CachedBusy | None
    asked: list[Interval] = field(default_factory=list)

    async def cached_busy(self, host_id: str, window: Interval) -> CachedBusy | None:
        self.asked.append(window)
        return self.cached


@dataclass
class Calendar:
    reads: list[Interval] = field(default_factory=list)

    async def busy(self, host: object, window: Interval) -> list[BusyInterval]:
        self.reads.append(window)
        return [BusyInterval(NOW + timedelta(hours=5), NOW + timedelta(hours=6))]


class Clock:
    def now(self) -> datetime:
        return NOW


HOST = User(
    id="h",
    tenant_id="t",
    aad_object_id="a",
    display_name="Hana",
    email="hana@x",
    connection_status=ConnectionStatus.CONNECTED,
)


def service(cache: Cache, calendar: Calendar) -> BookingService:
    # the slot view reads only the calendar and the cache; the stores are never reached
    return BookingService(
        calendar=cast(CalendarPort, calendar),
        bookings=cast(BookingStore, object()),
        users=cast(UserStore, object()),
        event_types=cast(EventTypeStore, object()),
        clock=Clock(),
        token_secret=b"k" * 32,
        busy_cache=cast(BusyCacheStore, cache),
    )


async def test_a_view_reads_the_fresh_cache_and_no_calendar() -> None:
    held = (
        BusyInterval(NOW + timedelta(hours=1), NOW + timedelta(hours=2)),
        BusyInterval(NOW + timedelta(days=20), NOW + timedelta(days=20, hours=1)),
    )
    cache, calendar = Cache(replace(FRESH, busy=held)), Calendar()
    svc = service(cache, calendar)
    assert await svc.viewing_busy(HOST, ASKED) == [held[0]]  # only what overlaps the question
    assert await svc.viewing_busy(HOST, Interval(NOW, NOW + timedelta(days=30))) == list(held)
    assert calendar.reads == [] and len(cache.asked) == 1 and cache.asked[0].contains(ASKED)  # one read, kept
    svc.forget_busy()
    await svc.viewing_busy(HOST, ASKED)
    assert len(cache.asked) == 2


@pytest.mark.parametrize("cached", [None, replace(FRESH, stale_since=NOW)])
async def test_a_missing_or_stale_cache_falls_back_to_the_live_read(cached: CachedBusy | None) -> None:
    cache, calendar = Cache(cached), Calendar()
    busy = await service(cache, calendar).viewing_busy(HOST, ASKED)
    assert [(b.start, b.end) for b in busy] == [(NOW + timedelta(hours=5), NOW + timedelta(hours=6))]
    assert len(calendar.reads) == 1


async def test_a_host_with_chosen_conflict_calendars_is_always_read_live() -> None:
    cache, calendar = Cache(FRESH), Calendar()
    await service(cache, calendar).viewing_busy(replace(HOST, conflict_calendar_ids=("shared",)), ASKED)
    assert cache.asked == [] and len(calendar.reads) == 1
