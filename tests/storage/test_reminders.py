"""Issue 16 §4 storage, on SQLite and PostgreSQL: the reminder store (which bookings are due, exactly per link's
lead; recording one as reminded with its outbox items, once, only while the booking is still confirmed at that
start), a link's reminder in its own column, the calendar a booking's event was written to, and migration 0007
(existing links get the default reminder, existing bookings keep working, a clean downgrade)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, inspect, select, text

from scheduling.domain import BookingStatus, EventType, OutboxItem, User
from storage import migrate
from storage.db import create_database, create_engine_for
from storage.models import EventTypeRow, OutboxRow
from storage.repositories import Repositories, repositories
from tests.storage.fixtures import Kind, create_test_database, drop_test_database
from tests.storage.helpers import T0, FakeClock, at, booking, make_user, rules, seed_confirmed_booking, uid
from tests.storage.helpers import make_link as base_link

NOW = at(10)


def item(key: str, booking_id: str = "bk") -> OutboxItem:
    return OutboxItem("booking.reminder", "tenant-a", {"bookingId": booking_id}, key)


async def confirmed(repos: Repositories, link_id: str, start_minutes: int, **kw: object) -> str:
    """A confirmed booking of the link starting ``start_minutes`` after NOW, with a host of its own (so bookings
    may overlap)."""
    link = await repos.event_types.get(link_id)
    assert link is not None
    host = await make_user(repos, f"host{uid('h')}@contoso.com")
    start = NOW + timedelta(minutes=start_minutes)
    stored, _ = await repos.bookings.reserve(booking(link, [host], start, **kw))  # type: ignore[arg-type]
    await repos.bookings.confirm(
        stored.id, graph_event_id=f"ev-{stored.id}", ical_uid=None, join_url=None, join_url_missing=False
    )
    return stored.id


async def make_link(repos: Repositories, host: User, slug: str = "30min", **changes: object) -> EventType:
    link = await base_link(repos, host, slug)
    return await repos.event_types.update(replace(link, **changes)) if changes else link  # type: ignore[arg-type]


async def outbox_keys(repos: Repositories) -> list[str]:
    async with repos.db.read() as s:
        return sorted((await s.scalars(select(OutboxRow.dedupe_key))).all())


async def test_due_bookings_follow_each_links_own_lead(repos: Repositories) -> None:
    host = await make_user(repos)
    quarter = await make_link(repos, host, "quarter")  # the default: 15 minutes
    hour = await make_link(repos, host, "hour", rules=rules(reminder=60))
    day = await make_link(repos, host, "day", rules=rules(reminder=24 * 60))
    off = await make_link(repos, host, "off", rules=rules(reminder=None))
    assert quarter.rules.reminder == 15
    due = {
        await confirmed(repos, quarter.id, 15),  # exactly at its reminder time
        await confirmed(repos, quarter.id, 1),
        await confirmed(repos, hour.id, 60),
        await confirmed(repos, hour.id, 40),
        await confirmed(repos, day.id, 24 * 60),
    }
    not_yet = {
        await confirmed(repos, quarter.id, 16),
        await confirmed(repos, hour.id, 61),
        await confirmed(repos, day.id, 24 * 60 + 1),
        await confirmed(repos, off.id, 5),  # off: never
        await confirmed(repos, quarter.id, -10),  # begun: too late
        await confirmed(repos, quarter.id, 0),  # begins now: too late
    }
    pending, _ = await repos.bookings.reserve(booking(quarter, [await make_user(repos, "p@x.com")], NOW))
    cancelled = await confirmed(repos, quarter.id, 8)
    await repos.bookings.cancel(cancelled, reason="no")
    found = await repos.reminders.due_reminders(NOW, limit=100)
    assert {b.id for b in found} == due
    assert not not_yet & {b.id for b in found} and pending.id not in {b.id for b in found}
    assert [b.start for b in found] == sorted(b.start for b in found)  # soonest first
    assert len(await repos.reminders.due_reminders(NOW, limit=2)) == 2
    assert await repos.reminders.due_reminders(NOW, limit=0) == []


async def test_a_reminded_booking_is_due_again_only_at_a_new_start(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    booking_id = await confirmed(repos, link.id, 10)
    start = NOW + timedelta(minutes=10)
    assert await repos.reminders.mark_reminded(booking_id, start, [item("k1", booking_id)])
    assert await repos.reminders.due_reminders(NOW, limit=10) == []
    assert not await repos.reminders.mark_reminded(booking_id, start, [item("k1b", booking_id)])  # once per start
    current = await repos.bookings.get(booking_id)
    assert current is not None
    moved = await repos.bookings.move(
        booking_id, start=NOW + timedelta(minutes=12), end=NOW + timedelta(minutes=42), expected_version=current.version
    )
    assert [b.id for b in await repos.reminders.due_reminders(NOW, limit=10)] == [booking_id]
    assert not await repos.reminders.mark_reminded(booking_id, start, [item("k-old", booking_id)])  # the old start
    assert await repos.reminders.mark_reminded(booking_id, moved.start, [item("k2", booking_id)])
    assert await outbox_keys(repos) == ["k1", "k2"]
    assert (await repos.bookings.get(booking_id)) == replace(moved, calendar_sync=moved.calendar_sync)  # untouched


async def test_a_cancelled_booking_is_never_marked_and_its_items_never_written(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    booking_id = await confirmed(repos, link.id, 10)
    await repos.bookings.cancel(booking_id, reason="changed my mind")
    assert not await repos.reminders.mark_reminded(booking_id, NOW + timedelta(minutes=10), [item("k", booking_id)])
    assert await outbox_keys(repos) == []


async def test_racing_markers_write_one_reminder(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    booking_id = await confirmed(repos, link.id, 10)
    start = NOW + timedelta(minutes=10)
    results = await asyncio.gather(
        *(repos.reminders.mark_reminded(booking_id, start, [item(f"k-{n}", booking_id)]) for n in range(6))
    )
    assert sorted(results) == [False] * 5 + [True]
    assert len(await outbox_keys(repos)) == 1


async def test_marking_changes_nothing_calendar_sync_reads(repos: Repositories, clock: FakeClock) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    booking_id = await confirmed(repos, link.id, 10)
    confirmed_at = clock()
    clock.advance(minutes=5)
    await repos.reminders.mark_reminded(booking_id, NOW + timedelta(minutes=10), [])
    # calendar sync only applies Outlook changes to bookings unchanged since its round began
    organizer = (await repos.bookings.get(booking_id)).organizer_id  # type: ignore[union-attr]
    [still] = await repos.calendar_sync.confirmed_bookings_for_events(
        organizer, [f"ev-{booking_id}"], [], unchanged_since=confirmed_at
    )
    assert still.id == booking_id


async def test_a_links_reminder_is_its_own_column(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host, rules=rules(reminder=None))
    assert (await repos.event_types.get(link.id)).rules.reminder is None  # type: ignore[union-attr]
    updated = await repos.event_types.update(replace(link, rules=replace(link.rules, reminder=90)))
    assert updated.rules.reminder == 90 and (await repos.event_types.get(link.id)) == updated
    async with repos.db.read() as s:
        row = await s.get(EventTypeRow, link.id)
    assert row is not None and row.reminder_minutes == 90 and "reminder" not in row.rules  # one stored value


async def test_a_booking_keeps_the_calendar_its_event_was_written_to(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    shared, _ = await repos.bookings.reserve(replace(booking(link, [host], at(11)), event_calendar_id="cal-rota"))
    default, _ = await repos.bookings.reserve(booking(link, [host], at(12)))
    assert (await repos.bookings.get(shared.id)).event_calendar_id == "cal-rota"  # type: ignore[union-attr]
    assert (await repos.bookings.get(default.id)).event_calendar_id is None  # type: ignore[union-attr]
    confirmed_one = await repos.bookings.confirm(
        shared.id, graph_event_id="ev", ical_uid=None, join_url=None, join_url_missing=False
    )
    assert confirmed_one.event_calendar_id == "cal-rota" and confirmed_one.status is BookingStatus.CONFIRMED


# --------------------------------------------------------------------------- migration 0007


@pytest.fixture
async def empty_url(db_kind: Kind, tmp_path: Path) -> AsyncIterator[str]:
    url = await create_test_database(db_kind, tmp_path, migrate=False)
    try:
        yield url
    finally:
        await drop_test_database(url)


async def test_0007_gives_existing_links_the_default_reminder_and_downgrades_cleanly(empty_url: str) -> None:
    assert await migrate.upgrade(empty_url, "0006") == "0006"
    start = T0 + timedelta(days=3)
    db = create_database(empty_url)
    try:
        host_id, link_id, booking_id = await seed_confirmed_booking(db, start=start)
    finally:
        await db.dispose()
    assert await migrate.upgrade(empty_url) == migrate.head_revision()
    db = create_database(empty_url)
    try:
        repos = repositories(db)
        link = await repos.event_types.get(link_id)
        kept = await repos.bookings.get(booking_id)
        assert link is not None and link.rules.reminder == 15
        assert kept is not None and kept.event_calendar_id is None and kept.status is BookingStatus.CONFIRMED
        assert [b.id for b in await repos.reminders.due_reminders(start - timedelta(minutes=15), limit=5)] == [
            booking_id
        ]
        assert await repos.reminders.due_reminders(start - timedelta(minutes=16), limit=5) == []
        host = await repos.users.get(host_id)
        assert host is not None and host.calendar_for(kept).write_calendar_id is None  # the default calendar
    finally:
        await db.dispose()
    engine = create_engine_for(empty_url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_downgrade, "0006")
        async with engine.connect() as connection:
            booking_columns = {
                c["name"] for c in await connection.run_sync(lambda c: inspect(c).get_columns("bookings"))
            }
            link_columns = {
                c["name"] for c in await connection.run_sync(lambda c: inspect(c).get_columns("event_types"))
            }
            indexes = {i["name"] for i in await connection.run_sync(lambda c: inspect(c).get_indexes("bookings"))}
            count = (await connection.execute(text("SELECT count(*) FROM bookings"))).scalar_one()
    finally:
        await engine.dispose()
    assert not {"event_calendar_id", "reminded_start"} & booking_columns and "reminder_minutes" not in link_columns
    assert "ix_bookings_status_start_at" not in indexes and count == 1
    assert await migrate.upgrade(empty_url) == migrate.head_revision()


def columns(connection: Connection, table: str) -> list[dict[str, object]]:
    return list(inspect(connection).get_columns(table))  # type: ignore[arg-type]


def _downgrade(connection: Connection, revision: str) -> None:
    config = migrate.alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)
