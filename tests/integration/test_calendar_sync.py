"""Calendar sync's use cases over real counterparts (the Graph emulator over HTTP, SQLite and PostgreSQL):
Outlook-side deletes and moves of booked events reach their bookings exactly once, Slotwise's own pending
changes are not mistaken for them, a full round finds events deleted while nobody listened, and two
replicas on one database renew each subscription once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from graph.adapter import GraphCalendar
from graph.client import GraphClient
from graph.sync import GraphChangeTracking
from scheduling.booking import BookingService
from scheduling.domain import BookingStatus, CalendarSync, ConnectionStatus, User
from scheduling.sync import CalendarSyncService, SyncReport
from storage.db import create_database
from storage.models import CalendarSubscriptionRow, OutboxRow
from storage.repositories import Repositories, repositories
from tests.graph.graph_harness import Emulator, running_emulator
from tests.integration.harness import HOST_UPN, MONDAY_10, World, booking_world, invitee
from tests.storage.fixtures import Kind, database

pytestmark = pytest.mark.parametrize("kind", ["sqlite", "postgres"])


def sync_service(
    emu: Emulator, repos: Repositories, graph: GraphClient, booking: BookingService, clock: Any
) -> CalendarSyncService:
    tracking = GraphChangeTracking(
        graph, notification_url=f"{emu.receiver_base}/notify", lifecycle_url=f"{emu.receiver_base}/lifecycle"
    )
    store = repos.calendar_sync
    return CalendarSyncService(
        sync=tracking,
        calendar=GraphCalendar(graph),
        subscriptions=store,
        cache=store,
        queue=store,
        index=store,
        users=repos.users,
        bookings=booking,
        clock=clock,
    )


def world_sync(w: World) -> CalendarSyncService:
    return sync_service(w.emulator, w.repos, w.graph, w.service, w.clock)


async def outbox_of(w: World, kind: str) -> list[dict[str, Any]]:
    async with w.db.read() as s:
        return [
            dict(r.payload)
            for r in (
                await s.scalars(select(OutboxRow).where(OutboxRow.kind == kind, OutboxRow.channel == "teams"))
            ).all()
        ]


def wall(instant: datetime) -> dict[str, str]:
    return {"dateTime": instant.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


async def test_outlook_deletes_and_moves_reach_their_bookings_once(kind: Kind) -> None:
    async with booking_world(kind) as w:
        sync = world_sync(w)
        kept = (await w.service.book(w.link, MONDAY_10, invitee("Kim"))).booking
        gone = (await w.service.book(w.link, MONDAY_10 + timedelta(hours=1), invitee("Gil"))).booking
        moved = (await w.service.book(w.link, MONDAY_10 + timedelta(hours=2), invitee("Mo"))).booking
        first = await sync.delta_round(w.host, SyncReport())
        assert first.full and {kept.graph_event_id, gone.graph_event_id, moved.graph_event_id} <= set(first.blocking)

        w.emulator.state.remove_event(HOST_UPN, gone.graph_event_id or "")
        later = MONDAY_10 + timedelta(days=1, hours=3)
        w.emulator.state.patch_event(
            HOST_UPN, moved.graph_event_id or "", {"start": wall(later), "end": wall(later + timedelta(minutes=30))}
        )
        report = SyncReport()
        changes = await sync.delta_round(w.host, report)
        assert not changes.full and report.cancelled == [gone.id] and report.moved == [moved.id]
        assert (await w.repos.bookings.get(kept.id)).status is BookingStatus.CONFIRMED  # type: ignore[union-attr]
        cancelled = await w.repos.bookings.get(gone.id)
        assert cancelled is not None and cancelled.status is BookingStatus.CANCELLED
        assert cancelled.calendar_sync is CalendarSync.IN_SYNC
        now_moved = await w.repos.bookings.get(moved.id)
        assert now_moved is not None and (now_moved.start, now_moved.calendar_sync) == (later, CalendarSync.IN_SYNC)
        assert [(n["bookingId"], n["by"]) for n in await outbox_of(w, "booking.cancelled")] == [(gone.id, "outlook")]
        [rescheduled] = await outbox_of(w, "booking.rescheduled")
        assert (rescheduled["bookingId"], rescheduled["source"], rescheduled["outsideRules"]) == (
            moved.id,
            "outlook",
            False,
        )
        # the slot of the cancelled booking is free again in the database
        assert await w.service.book(w.link, MONDAY_10 + timedelta(hours=1), invitee("New")) is not None

        again = SyncReport()
        await sync.delta_round(w.host, again, full=True)  # everything once more: nothing new to learn
        assert (again.cancelled, again.moved) == ([], [])
        assert len(await outbox_of(w, "booking.cancelled")) == 1 and len(await outbox_of(w, "booking.rescheduled")) == 1


async def test_a_move_slotwise_has_not_written_yet_is_not_taken_for_an_outlook_move(kind: Kind) -> None:
    async with booking_world(kind) as w:
        sync = world_sync(w)
        booking = (await w.service.book(w.link, MONDAY_10, invitee())).booking
        await sync.delta_round(w.host, SyncReport())
        # Slotwise moves the booking in the database; the Outlook PATCH has not happened yet (crash, outage)
        pending = await w.repos.bookings.move(
            booking.id,
            start=MONDAY_10 + timedelta(hours=3),
            end=MONDAY_10 + timedelta(hours=3, minutes=30),
            expected_version=booking.version,
        )
        assert pending.calendar_sync is CalendarSync.UPDATE_PENDING
        w.emulator.state.patch_event(HOST_UPN, booking.graph_event_id or "", {"subject": "renamed in Outlook"})
        report = SyncReport()
        await sync.delta_round(w.host, report, full=True)
        assert (report.cancelled, report.moved) == ([], [])
        after = await w.repos.bookings.get(booking.id)
        assert after is not None and after.start == MONDAY_10 + timedelta(hours=3)
        assert await w.reconciler.run() is not None  # reconciliation writes Slotwise's move to Outlook
        again = SyncReport()
        await sync.delta_round(w.host, again)
        assert (again.cancelled, again.moved) == ([], [])


async def test_an_event_marked_cancelled_cancels_its_booking_found_by_event_id(kind: Kind) -> None:
    async with booking_world(kind) as w:
        sync = world_sync(w)
        booking = (await w.service.book(w.link, MONDAY_10, invitee())).booking
        await sync.delta_round(w.host, SyncReport())
        state = w.emulator.state
        state.find_event(state.user(HOST_UPN), booking.graph_event_id or "").is_cancelled = True  # still there
        state.patch_event(HOST_UPN, booking.graph_event_id or "", {"subject": "Canceled: Intro call"})
        report = SyncReport()
        changes = await sync.delta_round(w.host, report)
        assert [e.is_cancelled for e in changes.changed] == [True] and report.cancelled == [booking.id]
        assert (await w.repos.bookings.get(booking.id)).status is BookingStatus.CANCELLED  # type: ignore[union-attr]


async def test_a_full_round_finds_an_event_deleted_while_nobody_listened(kind: Kind) -> None:
    async with booking_world(kind) as w:
        sync = world_sync(w)
        booking = (await w.service.book(w.link, MONDAY_10, invitee())).booking
        await sync.delta_round(w.host, SyncReport())
        w.emulator.state.remove_event(HOST_UPN, booking.graph_event_id or "")
        w.emulator.state.expire_delta_tokens(HOST_UPN)  # and the cursor is gone: the next round is a full one
        report = SyncReport()
        changes = await sync.delta_round(w.host, report)
        assert changes.full and changes.resynced and report.cancelled == [booking.id]


@asynccontextmanager
async def replicas(
    kind: Kind, hosts: int
) -> AsyncIterator[tuple[Emulator, list[CalendarSyncService], list[User], Repositories]]:
    """Two sync services (each its own engine and Graph client) on one database and one Graph emulator."""

    class RealClock:
        def now(self) -> datetime:
            return datetime.now(UTC)

    with running_emulator() as emu:
        async with database(kind) as db:
            second = create_database(db.url.render_as_string(hide_password=False), pool_size=5, max_overflow=5)
            mailbox_of: dict[str, str] = {}
            users: list[User] = []
            repos = repositories(db)
            for i in range(hosts):
                upn = f"host{i}@contoso.example"
                mailbox = emu.state.add_user(upn=upn, display_name=f"Host {i}", time_zone="UTC")
                user = await repos.users.upsert(
                    User(
                        id=f"u-{i}",
                        tenant_id="t",
                        aad_object_id=mailbox.id,
                        display_name=f"Host {i}",
                        email=upn,
                        connection_status=ConnectionStatus.CONNECTED,
                    )
                )
                await repos.users.set_connection(user.id, ConnectionStatus.CONNECTED)
                mailbox_of[user.id] = upn
                users.append(await repos.users.get(user.id) or user)

            async def tokens(user_id: str, force_refresh: bool = False) -> str:
                return emu.state.issue_token(mailbox_of.get(user_id, user_id))

            services: list[CalendarSyncService] = []
            clients: list[GraphClient] = []
            for handle in (db, second):
                r = repositories(handle)
                graph = GraphClient(emu.graph_base, token_provider=tokens, sleep=emu.sleep, backoff_base=0.01)
                clients.append(graph)
                booking = BookingService(
                    calendar=GraphCalendar(graph),
                    bookings=r.bookings,
                    users=r.users,
                    event_types=r.event_types,
                    clock=RealClock(),
                    token_secret=b"s" * 32,
                )
                services.append(sync_service(emu, r, graph, booking, RealClock()))
            try:
                yield emu, services, users, repos
            finally:
                for graph in clients:
                    await graph.aclose()
                await second.dispose()


async def test_two_replicas_renew_each_subscription_once(kind: Kind) -> None:
    async with replicas(kind, hosts=4) as (emu, (a, b), users, repos):
        for user in users:
            await a.host_connected(user)
        await asyncio.gather(a.run_due(), b.run_due())  # the queued subscriptions, shared out between them
        subs = {u.id: await a.subscription_of(u.id) for u in users}
        assert all(subs.values()) and len({s.subscription_id for s in subs.values() if s}) == 4
        assert len(emu.state.subscriptions) == 4

        soon = datetime.now(UTC) + timedelta(hours=2)  # inside renew_before (a day): every one is due
        async with repos.db.write() as s:
            await s.execute(update(CalendarSubscriptionRow).values(expires_at=soon))
        before = len(emu.state.request_log)
        reports = await asyncio.gather(a.maintain(), b.maintain(), a.maintain(), b.maintain())
        renewals = Counter(r.path.rsplit("/", 1)[-1] for r in emu.state.request_log[before:] if r.method == "PATCH")
        assert renewals == Counter({s.subscription_id: 1 for s in subs.values() if s})
        assert sorted(u for r in reports for u in r.renewed) == sorted(u.id for u in users)
        for user in users:
            stored = await a.subscription_of(user.id)
            assert stored is not None and stored.expires_at > soon + timedelta(days=5) and stored.renewed_at
        again = len(emu.state.request_log)
        await asyncio.gather(a.maintain(), b.maintain())
        assert not [r for r in emu.state.request_log[again:] if r.method == "PATCH"]
