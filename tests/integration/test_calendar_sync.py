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
from scheduling.booking import OUTLOOK_MOVE_REFUSED, BookingService
from scheduling.connect import ConnectionService
from scheduling.domain import BookingStatus, CalendarSync, ConnectionStatus, EventType, LinkKind, User
from scheduling.intervals import Interval
from scheduling.links import LinkService, NewLink
from scheduling.ports import Location
from scheduling.sync import CalendarSyncService, SyncReport
from scheduling.teams import ANNOUNCEMENT, TeamLinkService
from storage.db import create_database
from storage.models import BusyCacheRow, CalendarSubscriptionRow, OutboxRow
from storage.repositories import Repositories, repositories
from tests.graph.graph_harness import Emulator, running_emulator
from tests.integration.harness import HOST_UPN, MONDAY_10, World, booking_world, invitee, rules
from tests.integration.test_team_links import TeamWorld, form, team_world
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
        outbox=repos.outbox,
    )


async def personal_link(repos: Repositories, user: User) -> EventType:
    return await repos.event_types.create(
        EventType(
            id=f"link-{user.id}",
            tenant_id=user.tenant_id,
            slug="intro",
            title="Intro call",
            rules=rules(),
            owner_user_id=user.id,
            location=Location(),
        )
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
                await personal_link(repos, user)  # what makes a connected host need a subscription
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


# ------------------------------------------------------------------ a move onto another booking


async def rows_of(w: World, kind: str) -> list[OutboxRow]:
    async with w.db.read() as s:
        return list((await s.scalars(select(OutboxRow).where(OutboxRow.kind == kind))).all())


@pytest.mark.parametrize("buffered", [False, True])
async def test_a_move_onto_another_booking_keeps_the_old_time_and_tells_the_host_once(
    kind: Kind, buffered: bool
) -> None:
    link_rules = rules(buffer_after=15) if buffered else None
    async with booking_world(kind, link_rules=link_rules) as w:
        sync = world_sync(w)
        other = (await w.service.book(w.link, MONDAY_10, invitee("Kim"))).booking
        booking = (await w.service.book(w.link, MONDAY_10 + timedelta(hours=2), invitee("Mo"))).booking
        await sync.delta_round(w.host, SyncReport())
        # onto Kim's meeting itself, or (with a 15-minute buffer after each) right after it
        onto = MONDAY_10 + timedelta(minutes=35 if buffered else 15)
        w.emulator.state.patch_event(
            HOST_UPN, booking.graph_event_id or "", {"start": wall(onto), "end": wall(onto + timedelta(minutes=30))}
        )
        report = SyncReport()
        await sync.delta_round(w.host, report)
        assert (report.moved, report.refused) == ([], [booking.id])
        kept = await w.repos.bookings.get(booking.id)
        assert kept is not None and (kept.start, kept.status, kept.version) == (
            booking.start,
            BookingStatus.CONFIRMED,
            booking.version,
        )
        untouched = await w.repos.bookings.get(other.id)
        assert untouched is not None and untouched.start == MONDAY_10
        # the database still holds the old time for it: nobody else can book it, and Kim's stays Kim's
        found = await w.repos.bookings.host_bookings([w.host.id], Interval(MONDAY_10, MONDAY_10 + timedelta(hours=3)))
        assert sorted(b.start for b in found[w.host.id]) == [MONDAY_10, booking.start]

        [row] = await rows_of(w, OUTLOOK_MOVE_REFUSED)  # a chat notice only: no webhook for a change not made
        assert row.channel == "teams" and row.payload["hostId"] == w.host.id
        notice = dict(row.payload)
        assert (notice["bookingId"], notice["start"], notice["requestedStart"]) == (
            booking.id,
            booking.start.isoformat().replace("+00:00", "Z"),
            onto.isoformat().replace("+00:00", "Z"),
        )
        assert notice["conflict"]["bookingId"] == other.id and notice["conflict"]["inviteeName"] == "Kim"
        assert not await outbox_of(w, "booking.rescheduled")

        for full in (False, True):  # later rounds see the same move again: the host is not told again
            again = SyncReport()
            await sync.delta_round(w.host, again, full=full)
            assert (again.moved, again.refused) == ([], [])
        assert len(await rows_of(w, OUTLOOK_MOVE_REFUSED)) == 1

        # the host moves Kim's meeting away in Slotwise: the next time Outlook's move is seen, it is applied
        await w.service.reschedule(untouched, MONDAY_10 + timedelta(hours=4), "host")
        assert await w.reconciler.run() is not None
        last = SyncReport()
        await sync.delta_round(w.host, last, full=True)
        assert last.moved == [booking.id]
        moved = await w.repos.bookings.get(booking.id)
        assert moved is not None and moved.start == onto


# ------------------------------------------------------------------ who needs a subscription


async def test_the_renewal_job_deletes_a_subscription_nobody_needs_and_renews_a_personal_hosts(kind: Kind) -> None:
    async with replicas(kind, hosts=2) as (emu, (a, _b), users, repos):
        keeps, drops = users
        for user in users:
            await a.host_connected(user)
        await a.run_due()
        subs = {u.id: await a.subscription_of(u.id) for u in users}
        assert all(subs.values())
        await repos.event_types.delete(drops.tenant_id, f"link-{drops.id}")  # their only link: nothing needs it now

        soon = datetime.now(UTC) + timedelta(hours=2)
        async with repos.db.write() as s:
            await s.execute(update(CalendarSubscriptionRow).values(expires_at=soon))
        report = await a.maintain()
        assert report.renewed == [keeps.id] and report.unsubscribed == [drops.id]
        assert await a.subscription_of(drops.id) is None and await a.cached_busy(drops.id, Interval(soon, soon)) is None
        gone = subs[drops.id]
        assert gone is not None and gone.subscription_id not in emu.state.subscriptions
        kept = await a.subscription_of(keeps.id)
        assert kept is not None and kept.subscription_id in emu.state.subscriptions

        again = await a.maintain()  # no subscription is made again for someone who needs none
        assert (again.unsubscribed, await a.run_due()) == ([], SyncReport())
        assert await a.subscription_of(drops.id) is None

        await personal_link(repos, drops)  # a new link: the renewal job subscribes them again
        await a.maintain()
        await a.run_due()
        assert await a.subscription_of(drops.id) is not None


class _NoConnector:
    async def connect_without_prompt(self, user: User) -> bool:
        return False

    async def disconnect(self, user: User) -> None:
        return None


async def test_leaving_a_team_rotation_deletes_the_subscription_unless_something_still_needs_it(kind: Kind) -> None:
    async with team_world(kind) as tw:
        graph = member_graph(tw)
        try:
            sync = sync_service(tw.emulator, tw.repos, graph, tw.booking, tw.clock)
            _creator, kept, left = tw.members
            await personal_link(tw.repos, kept)  # Ian also has a personal link; Jo is only in the rotation
            for user in (kept, left):
                await sync.host_connected(user)
            await sync.run_due()
            old = await sync.subscription_of(left.id)
            assert old is not None and await sync.subscription_of(kept.id) is not None
            connections = ConnectionService(
                users=tw.repos.users, connector=_NoConnector(), calendar=GraphCalendar(graph), sync=sync
            )
            teams = TeamLinkService(
                teams=tw.repos.teams,
                event_types=tw.repos.event_types,
                bookings=tw.repos.bookings,
                users=tw.repos.users,
                outbox=tw.repos.outbox,
                calendar=GraphCalendar(graph),
                booking=tw.booking,
                links=LinkService(event_types=tw.repos.event_types, calendar=GraphCalendar(graph)),
                clock=tw.clock,
                connections=connections,
            )
            await teams.leave(tw.link.id, left)
            await teams.leave(tw.link.id, kept)
            assert (
                await sync.subscription_of(left.id) is None
                and old.subscription_id not in tw.emulator.state.subscriptions
            )
            async with tw.db.read() as s:
                assert (await s.scalars(select(BusyCacheRow.host_id))).all() == [kept.id]
            assert await sync.subscription_of(kept.id) is not None  # personal-link sync goes on
            await teams.join(tw.link.id, left)  # back in the rotation: subscribed again at once, not at maintain()
            await sync.run_due()
            back = await sync.subscription_of(left.id)
            assert back is not None and back.subscription_id in tw.emulator.state.subscriptions
            await teams.leave(tw.link.id, left)
            assert await sync.subscription_of(left.id) is None
            links = LinkService(event_types=tw.repos.event_types, calendar=GraphCalendar(graph))
            links.sync = sync
            await links.create(left, NewLink(duration=30, title="Jo's own"))  # a first personal link: the same
            await sync.run_due()
            assert await sync.subscription_of(left.id) is not None
        finally:
            await graph.aclose()


# ------------------------------------------------------------------ team bookings changed in Outlook


def member_graph(tw: TeamWorld) -> GraphClient:
    mailbox_of = {u.id: u.email for u in tw.members}

    async def tokens(user_id: str, force_refresh: bool = False) -> str:
        return tw.emulator.state.issue_token(mailbox_of.get(user_id, user_id))

    return GraphClient(tw.emulator.graph_base, token_provider=tokens, sleep=tw.emulator.sleep, backoff_base=0.01)


async def team_outbox(tw: TeamWorld, kind: str) -> list[dict[str, Any]]:
    async with tw.db.read() as s:
        rows = (await s.scalars(select(OutboxRow).where(OutboxRow.kind == kind, OutboxRow.channel == "teams"))).all()
    return [dict(r.payload) for r in rows]


@pytest.mark.parametrize("link_kind", [LinkKind.ROUND_ROBIN, LinkKind.COLLECTIVE])
async def test_a_team_members_outlook_move_and_cancel_reach_the_booking_the_channel_and_every_host(
    kind: Kind, link_kind: LinkKind
) -> None:
    async with team_world(kind, link_kind) as tw:
        graph = member_graph(tw)
        try:
            sync = sync_service(tw.emulator, tw.repos, graph, tw.booking, tw.clock)
            slots = await tw.slots()
            booking = (await tw.booking.book(tw.link, slots[0].start, form(1))).booking
            organiser = next(m for m in tw.members if m.id == booking.organizer_id)
            upn = organiser.email
            await sync.delta_round(organiser, SyncReport())

            later = slots[6].start
            tw.emulator.state.patch_event(
                upn, booking.graph_event_id or "", {"start": wall(later), "end": wall(later + timedelta(minutes=30))}
            )
            report = SyncReport()
            await sync.delta_round(organiser, report)
            assert report.moved == [booking.id]
            moved = await tw.repos.bookings.get(booking.id)
            assert moved is not None and (moved.start, moved.calendar_sync) == (later, CalendarSync.IN_SYNC)
            told = await team_outbox(tw, "booking.rescheduled")
            assert sorted(n["hostId"] for n in told) == sorted(booking.host_ids)
            assert {n["by"] for n in told} == {"outlook"}
            [announced] = [a for a in await team_outbox(tw, ANNOUNCEMENT) if a["change"] == "booking.rescheduled"]
            assert announced["by"] == "outlook" and announced["hostNames"]

            tw.emulator.state.remove_event(upn, booking.graph_event_id or "")
            report = SyncReport()
            await sync.delta_round(organiser, report)
            assert report.cancelled == [booking.id]
            cancelled = await tw.repos.bookings.get(booking.id)
            assert cancelled is not None and cancelled.status is BookingStatus.CANCELLED
            told = await team_outbox(tw, "booking.cancelled")
            assert sorted(n["hostId"] for n in told) == sorted(booking.host_ids)
            assert {n["source"] for n in told} == {"outlook"}
            [announced] = [a for a in await team_outbox(tw, ANNOUNCEMENT) if a["change"] == "booking.cancelled"]
            assert announced["by"] == "outlook"
        finally:
            await graph.aclose()
