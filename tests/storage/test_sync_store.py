"""The calendar-sync stores (storage.sync) on SQLite and PostgreSQL: subscriptions and their renewal leases,
the busy cache (replace, compare-and-set apply, dirty and stale marks), the per-host work queue (merged
requests, leases, generations), and bookings found by their Outlook event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, delete, inspect, text

from scheduling.domain import ConnectionStatus, Team
from scheduling.intervals import Interval
from scheduling.ports import BusyInterval
from scheduling.rules import BusyStatus
from scheduling.sync import HostSubscription, SyncRequest, hash_client_state
from storage import migrate
from storage.db import Database, create_database, create_engine_for
from storage.models import UserRow
from storage.repositories import Repositories, repositories
from storage.sync import SqlCalendarSyncStore
from tests.storage.fixtures import Kind, create_test_database, drop_test_database
from tests.storage.helpers import FakeClock, at, booking, make_link, make_user, seed_confirmed_booking

WINDOW = Interval(at(0, day=-1), at(0, day=90))


def sub(host_id: str, sid: str, expires: datetime, created: datetime) -> HostSubscription:
    return HostSubscription(host_id, sid, hash_client_state(f"secret-{sid}"), expires, created)


def busy(hour: int, minutes: int = 60, day: int = 0) -> BusyInterval:
    return BusyInterval(at(hour, day=day), at(hour, day=day) + timedelta(minutes=minutes), BusyStatus.BUSY)


async def test_subscriptions_are_one_per_host_and_found_by_id(repos: Repositories, clock: FakeClock) -> None:
    store = repos.calendar_sync
    host = await make_user(repos)
    now = clock()
    assert await store.save_subscription(sub(host.id, "s1", now + timedelta(days=7), now)) is None
    replaced = await store.save_subscription(sub(host.id, "s2", now + timedelta(days=7), now))
    assert replaced is not None and replaced.subscription_id == "s1"
    assert (await store.subscription_of(host.id)).subscription_id == "s2"  # type: ignore[union-attr]
    found = await store.subscriptions_by_ids(["s1", "s2", "nope"])
    assert list(found) == ["s2"] and found["s2"].client_state_hash == hash_client_state("secret-s2")
    gone = await store.delete_subscription(host.id)
    assert gone is not None and gone.subscription_id == "s2"
    assert await store.subscription_of(host.id) is None and await store.delete_subscription(host.id) is None


async def test_renewal_leases_due_subscriptions_once_and_respects_a_recent_reauthorization(
    repos: Repositories, clock: FakeClock
) -> None:
    store = repos.calendar_sync
    now = clock()
    hosts = [await make_user(repos, f"h{i}@contoso.com") for i in range(4)]
    await store.save_subscription(sub(hosts[0].id, "due", now + timedelta(hours=2), now))
    await store.save_subscription(sub(hosts[1].id, "later", now + timedelta(days=6), now))
    await store.save_subscription(sub(hosts[2].id, "quiet", now + timedelta(hours=3), now))
    await store.save_subscription(sub(hosts[3].id, "urgent", now + timedelta(minutes=5), now))
    await store.reauthorized("quiet", now - timedelta(minutes=2))
    await store.reauthorized("urgent", now - timedelta(minutes=2))
    args = {
        "due_before": now + timedelta(days=1),
        "quiet_since": now - timedelta(minutes=10),
        "urgent_before": now + timedelta(minutes=10),
        "limit": 10,
        "lease_seconds": 60,
    }
    first = await store.lease_renewals(now, **args)  # type: ignore[arg-type]
    assert [s.subscription_id for s in first] == ["urgent", "due"]  # soonest first; "quiet" waits, "later" not due
    assert await store.lease_renewals(now, **args) == []  # type: ignore[arg-type]  # leased
    await store.renewed("due", now + timedelta(days=7), now)
    renewed = await store.subscription_of(hosts[0].id)
    assert renewed is not None and renewed.renewed_at == now and renewed.expires_at == now + timedelta(days=7)
    later = now + timedelta(minutes=11)
    again = await store.lease_renewals(later, **args | {"quiet_since": later - timedelta(minutes=10)})  # type: ignore[arg-type]
    assert [s.subscription_id for s in again] == ["urgent", "quiet"]  # urgent's lease ran out; quiet is quiet now


async def test_hosts_out_of_step_are_connected_without_one_or_subscribed_without_a_connection(
    repos: Repositories, clock: FakeClock
) -> None:
    store = repos.calendar_sync
    now = clock()
    missing, fine, gone, queued = [await make_user(repos, f"{n}@contoso.com") for n in ("m", "f", "g", "q")]
    linkless = await make_user(repos, "l@contoso.com")  # connected, but nothing needs a subscription
    for user in (missing, fine, queued, linkless):
        await repos.users.set_connection(user.id, ConnectionStatus.CONNECTED)
    for user in (missing, fine, queued):
        await make_link(repos, user)
    await store.save_subscription(sub(fine.id, "fine", now + timedelta(days=7), now))
    await store.save_subscription(sub(gone.id, "gone", now + timedelta(days=7), now))
    await store.request_work(queued.id, SyncRequest(subscribe=True), due_at=now, now=now)  # already on its way
    assert sorted(await store.hosts_out_of_step(limit=10)) == sorted([missing.id, gone.id])


async def test_a_connected_host_needs_a_subscription_with_an_active_personal_link_or_a_place_in_a_rotation(
    repos: Repositories,
) -> None:
    store = repos.calendar_sync
    host, member, idle, away = [await make_user(repos, f"{n}@contoso.com") for n in ("h", "mb", "i", "a")]
    for user in (host, member, idle):
        await repos.users.set_connection(user.id, ConnectionStatus.CONNECTED)
    link = await make_link(repos, host)
    await make_link(repos, away)  # a link, but the calendar is not connected
    await make_link(repos, idle, "off", active=False)  # switched off: needs nothing
    team = await repos.teams.create_team(Team(id="team-1", tenant_id=host.tenant_id, name="Sales", slug="sales"))
    await make_link(repos, None, "team-demo", team_id=team.id)  # a team link is nobody's personal link
    await repos.teams.join(team.id, member.id, clock_now := at(9))
    needs = {u.email: await store.needs_subscription(u.id) for u in (host, member, idle, away)}
    assert needs == {"h@contoso.com": True, "mb@contoso.com": True, "i@contoso.com": False, "a@contoso.com": False}
    assert not await store.needs_subscription("nobody")
    await repos.teams.leave(team.id, member.id, clock_now + timedelta(hours=1))
    await repos.event_types.delete(host.tenant_id, link.id)
    assert not await store.needs_subscription(member.id) and not await store.needs_subscription(host.id)
    assert sorted(await store.hosts_out_of_step(limit=10)) == []  # nobody connected needs one


async def test_subscriptions_made_for_another_address_are_found_unless_already_queued(
    repos: Repositories, clock: FakeClock
) -> None:
    store = repos.calendar_sync
    now = clock()
    here, there, queued = [await make_user(repos, f"{n}@contoso.com") for n in ("h", "t", "q")]
    await store.save_subscription(replace(sub(here.id, "here", now + timedelta(days=1), now), endpoint="https://a/n"))
    await store.save_subscription(replace(sub(there.id, "there", now + timedelta(days=1), now), endpoint="https://b/n"))
    await store.save_subscription(replace(sub(queued.id, "q", now + timedelta(days=1), now), endpoint="https://b/n"))
    await store.request_work(queued.id, SyncRequest(recreate=True), due_at=now, now=now)
    assert [s.subscription_id for s in await store.subscriptions_elsewhere("https://a/n", limit=10)] == ["there"]
    assert (await store.subscription_of(there.id)).endpoint == "https://b/n"  # type: ignore[union-attr]


async def test_the_busy_cache_is_replaced_then_applied_on_its_own_cursor_only(
    repos: Repositories, clock: FakeClock
) -> None:
    store = repos.calendar_sync
    host = await make_user(repos)
    now = clock()
    assert await store.cached_busy(host.id, WINDOW) is None
    await store.replace_busy(
        host.id,
        window=WINDOW,
        cursor="c1",
        busy={"a": busy(9), "b": busy(11), "c": busy(14)},
        synced_at=now,
        started_at=now,
    )
    cached = await store.cached_busy(host.id, Interval(at(10), at(15)))
    assert cached is not None and cached.has_cursor and cached.window == WINDOW
    assert [(b.start, b.end) for b in cached.busy] == [(at(11), at(12)), (at(14), at(15))]
    assert cached.subscription_expires_at is None  # no subscription: the core won't trust it
    # an apply on a cursor that moved meanwhile writes nothing
    assert not await store.apply_busy(
        host.id,
        expected_cursor="old",
        cursor="c9",
        blocking={"z": busy(16)},
        cleared=["a"],
        synced_at=now,
        started_at=now,
    )
    assert await store.apply_busy(
        host.id,
        expected_cursor="c1",
        cursor="c2",
        blocking={"b": busy(12), "d": busy(8)},
        cleared=["a", "unknown"],
        synced_at=now,
        started_at=now,
    )
    state = await store.cache_state(host.id)
    assert state is not None and state.cursor == "c2"
    whole = await store.cached_busy(host.id, WINDOW)
    assert whole is not None and [(b.start, b.end) for b in whole.busy] == [
        (at(8), at(9)),
        (at(12), at(13)),
        (at(14), at(15)),
    ]
    await store.drop_cache(host.id)
    assert await store.cached_busy(host.id, WINDOW) is None and await store.cache_state(host.id) is None


async def test_dirty_and_stale_marks_are_cleared_only_by_a_round_that_began_after_them(
    repos: Repositories, clock: FakeClock
) -> None:
    store = repos.calendar_sync
    host = await make_user(repos)
    t0 = clock()
    await store.replace_busy(host.id, window=WINDOW, cursor="c1", busy={}, synced_at=t0, started_at=t0)
    t1 = t0 + timedelta(seconds=1)
    await store.request_work(host.id, SyncRequest(delta=True), due_at=t1, now=t1, dirty=True)
    await store.request_work(host.id, SyncRequest(delta=True), due_at=t1, now=t1 + timedelta(seconds=1), dirty=True)
    cached = await store.cached_busy(host.id, WINDOW)
    assert cached is not None and cached.dirty_since == t1 and cached.stale_since is None  # the oldest kept
    # a round that started before the notification arrived does not answer it
    await store.apply_busy(
        host.id, expected_cursor="c1", cursor="c2", blocking={}, cleared=[], synced_at=t1, started_at=t0
    )
    assert (await store.cached_busy(host.id, WINDOW)).dirty_since == t1  # type: ignore[union-attr]
    t2 = t1 + timedelta(seconds=5)
    await store.request_work(host.id, SyncRequest(delta=True), due_at=t2, now=t2, stale_reason="notifications missed")
    await store.apply_busy(
        host.id,
        expected_cursor="c2",
        cursor="c3",
        blocking={},
        cleared=[],
        synced_at=t2,
        started_at=t2 - timedelta(seconds=1),
    )
    cached = await store.cached_busy(host.id, WINDOW)
    assert cached is not None and cached.dirty_since is None and cached.stale_since == t2
    await store.replace_busy(host.id, window=WINDOW, cursor="c4", busy={}, synced_at=t2, started_at=t2)
    cached = await store.cached_busy(host.id, WINDOW)
    assert cached is not None and cached.stale_since is None and cached.dirty_since is None
    assert await store.hosts_behind(window_end_before=WINDOW.end + timedelta(seconds=1), limit=5) == [host.id]
    assert await store.hosts_behind(window_end_before=WINDOW.end, limit=5) == []


async def test_requests_merge_into_one_row_leased_by_one_worker(repos: Repositories, clock: FakeClock) -> None:
    store = repos.calendar_sync
    host = await make_user(repos)
    now = clock()
    await store.request_work(host.id, SyncRequest(delta=True), due_at=now + timedelta(seconds=30), now=now)
    await store.request_work(host.id, SyncRequest(recreate=True, removed_subscription_id="old"), due_at=now, now=now)
    await store.request_work(host.id, SyncRequest(reauthorize=True), due_at=now + timedelta(hours=1), now=now)
    [work] = await store.lease_work(now, 10, 60)
    assert work.request == SyncRequest(delta=True, recreate=True, reauthorize=True, removed_subscription_id="old")
    assert work.generation == 3 and work.attempts == 0
    assert await store.lease_work(now, 10, 60) == []
    # finished, but a request came in meanwhile: the row stays (unleased) for the next pass
    await store.request_work(host.id, SyncRequest(delta=True), due_at=now, now=now)
    await store.finish_work(host.id, work.generation)
    [next_work] = await store.lease_work(now, 10, 60)
    assert next_work.generation == 4
    await store.fail_work(host.id, "Graph is down", now + timedelta(seconds=5))
    assert await store.lease_work(now, 10, 60) == []
    [retry] = await store.lease_work(now + timedelta(seconds=5), 10, 60)
    assert retry.attempts == 1
    await store.finish_work(host.id, retry.generation)
    assert await store.lease_work(now + timedelta(hours=2), 10, 60) == []
    await store.request_work(host.id, SyncRequest(delta=True), due_at=now, now=now)
    await store.forget_work(host.id)
    assert await store.lease_work(now, 10, 60) == []


async def test_concurrent_workers_never_lease_the_same_host(
    db: Database, repos: Repositories, clock: FakeClock
) -> None:
    now = clock()
    hosts = [await make_user(repos, f"w{i}@contoso.com") for i in range(12)]
    for host in hosts:
        await repos.calendar_sync.request_work(host.id, SyncRequest(delta=True), due_at=now, now=now)
    engines = [
        create_database(db.url.render_as_string(hide_password=False), pool_size=2, max_overflow=0) for _ in range(3)
    ]
    try:
        stores = [SqlCalendarSyncStore(e, clock=clock) for e in engines]
        leased = await asyncio.gather(*(s.lease_work(now, 5, 60) for s in stores))
    finally:
        for engine in engines:
            await engine.dispose()
    ids = [w.host_id for batch in leased for w in batch]
    assert len(ids) == len(set(ids)) == 12


@pytest.mark.parametrize("status", ["confirmed", "cancelled"])
async def test_bookings_are_found_by_their_outlook_event_or_tag(
    repos: Repositories, clock: FakeClock, status: str
) -> None:
    host = await make_user(repos)
    other = await make_user(repos, "other@contoso.com")
    link = await make_link(repos, host)
    stored, _ = await repos.bookings.reserve(booking(link, [host], at(10)))
    await repos.bookings.confirm(stored.id, graph_event_id="ev-1", ical_uid=None, join_url=None, join_url_missing=False)
    if status == "cancelled":
        await repos.bookings.cancel(stored.id, reason="x")
    store = repos.calendar_sync
    now = clock()
    by_event = await store.confirmed_bookings_for_events(host.id, ["ev-1", "ev-2"], [], unchanged_since=now)
    by_tag = await store.confirmed_bookings_for_events(host.id, [], [stored.id], unchanged_since=now)
    between = await store.confirmed_bookings_between(host.id, Interval(at(9), at(11)), unchanged_since=now)
    expected = [stored.id] if status == "confirmed" else []
    assert [b.id for b in by_event] == [b.id for b in by_tag] == [b.id for b in between] == expected
    assert await store.confirmed_bookings_for_events(other.id, ["ev-1"], [stored.id], unchanged_since=now) == []
    assert await store.confirmed_bookings_between(host.id, Interval(at(11), at(12)), unchanged_since=now) == []
    # a booking changed after the round began is left for the next round
    earlier = now - timedelta(seconds=1)
    assert await store.confirmed_bookings_for_events(host.id, ["ev-1"], [], unchanged_since=earlier) == []
    assert await store.confirmed_bookings_between(host.id, Interval(at(9), at(11)), unchanged_since=earlier) == []


async def test_deleting_a_host_deletes_their_sync_rows(db: Database, clock: FakeClock) -> None:
    repos = repositories(db, clock=clock)
    host = await make_user(repos)
    now = clock()
    store = repos.calendar_sync
    await store.save_subscription(sub(host.id, "s", now + timedelta(days=1), now))
    await store.replace_busy(host.id, window=WINDOW, cursor="c", busy={"a": busy(9)}, synced_at=now, started_at=now)
    await store.request_work(host.id, SyncRequest(delta=True), due_at=now, now=now)
    async with db.write() as s:
        await s.execute(delete(UserRow).where(UserRow.id == host.id))
    assert await store.subscription_of(host.id) is None and await store.cached_busy(host.id, WINDOW) is None
    assert await store.lease_work(now, 5, 60) == []


@pytest.fixture
async def empty_url(db_kind: Kind, tmp_path: Path) -> AsyncIterator[str]:
    url = await create_test_database(db_kind, tmp_path, migrate=False)
    try:
        yield url
    finally:
        await drop_test_database(url)


SYNC_TABLES = {"calendar_subscriptions", "busy_cache", "busy_cache_events", "sync_work"}


async def test_0004_keeps_existing_bookings_and_downgrades_cleanly(empty_url: str) -> None:
    assert await migrate.upgrade(empty_url, "0003") == "0003"
    db = create_database(empty_url)
    try:  # written column by column: the repositories write columns of later revisions
        host_id, _link_id, booking_id = await seed_confirmed_booking(db, start=at(10), event_id="ev-1")
    finally:
        await db.dispose()
    assert await migrate.upgrade(empty_url) == migrate.head_revision()
    db = create_database(empty_url)
    try:
        repos = repositories(db)
        [kept] = await repos.calendar_sync.confirmed_bookings_for_events(
            host_id, ["ev-1"], [], unchanged_since=datetime.now(UTC) + timedelta(days=1)
        )
        assert kept.id == booking_id and kept.graph_event_id == "ev-1"
    finally:
        await db.dispose()
    engine = create_engine_for(empty_url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_downgrade, "0003")
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
            indexes = {i["name"] for i in await connection.run_sync(lambda c: inspect(c).get_indexes("bookings"))}
            count = (await connection.execute(text("SELECT count(*) FROM bookings"))).scalar_one()
    finally:
        await engine.dispose()
    assert not SYNC_TABLES & tables and "ix_bookings_organizer_id_graph_event_id" not in indexes and count == 1
    assert await migrate.upgrade(empty_url) == migrate.head_revision()


def _downgrade(connection: Connection, revision: str) -> None:
    config = migrate.alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)
