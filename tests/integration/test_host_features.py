"""Issue 16 §4 over real counterparts (the Graph emulator over HTTP, SQLite and PostgreSQL):

* which calendars count and which one is written to: the host's choice is judged against the calendars Graph
  lists (a calendar they can't see, or can't write, is refused and nothing is saved); free/busy is read across
  the chosen calendars in one Graph request; bookings are written to the chosen calendar, and a booking stays
  reachable through the calendar it was written to after the host picks another one (sync, reconciliation,
  reschedule and cancel never lose it);
* reminders: exactly one per booking and start even with two replicas running the job, re-planned on
  reschedule, dropped on cancel, nothing when the link's reminder is off, one per host of a multi-host booking.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from background import Background
from scheduling.domain import BookingStatus, CalendarSync, User
from scheduling.errors import ValidationFailed
from scheduling.intervals import Interval
from scheduling.people import CONFLICT_CALENDARS, WRITE_CALENDAR, CalendarChoice, PeopleService
from scheduling.reminders import ReminderService, reminder_obsolete
from scheduling.sync import SyncReport
from storage.models import OutboxRow
from tests.integration.harness import HOST_UPN, MONDAY_10, NOW, TENANT, World, booking_world, invitee, rules
from tests.integration.test_calendar_sync import world_sync
from tests.storage.fixtures import Kind

pytestmark = pytest.mark.parametrize("kind", ["sqlite", "postgres"])

MEGAN = "megan@contoso.example"
MALLORY = "mallory@contoso.example"


def people(w: World) -> PeopleService:
    return PeopleService(users=w.repos.users, outbox=w.repos.outbox, calendar=w.calendar)


def share_calendars(w: World) -> dict[str, str]:
    """Harriet's main calendar and a second one of hers, Megan's rota (shared, can edit) and team calendar
    (shared, read-only), and Mallory's calendar (not shared with Harriet). Returns name -> id."""
    state = w.emulator.state
    state.add_user(upn=MEGAN, display_name="Megan Bowen", time_zone="GMT Standard Time")
    state.add_user(upn=MALLORY, display_name="Mallory", time_zone="GMT Standard Time")
    return {
        "main": state.default_calendar(HOST_UPN).id,
        "side": state.add_calendar(HOST_UPN, "Interviews")["id"],
        "rota": state.add_calendar(HOST_UPN, "Rota", can_edit=True, owner_upn=MEGAN)["id"],
        "team": state.add_calendar(HOST_UPN, "Team", can_edit=False, owner_upn=MEGAN)["id"],
        "mallory": state.default_calendar(MALLORY).id,
    }


async def choose(w: World, conflicts: tuple[str, ...], write: str | None) -> User:
    saved = await people(w).save_profile(w.host, time_zone="Europe/London", calendars=CalendarChoice(conflicts, write))
    w.host = saved
    return saved


# --------------------------------------------------------------------------- calendars


async def test_the_choice_is_judged_against_what_graph_lists_and_saved_all_or_nothing(kind: Kind) -> None:
    async with booking_world(kind) as w:
        ids = share_calendars(w)
        options = await people(w).calendar_options(w.host)
        assert [c.name for c in options.calendars] == ["Calendar", "Interviews", "Rota", "Team"]
        assert (options.conflict_calendar_ids, options.write_calendar_id) == ((ids["main"],), ids["main"])
        before = await w.repos.users.get(w.host.id)
        with pytest.raises(ValidationFailed) as refused:
            await people(w).save_profile(
                w.host,
                time_zone="America/New_York",
                calendars=CalendarChoice((ids["main"], ids["mallory"]), ids["team"]),
            )
        assert set(refused.value.fields) == {CONFLICT_CALENDARS, WRITE_CALENDAR}
        assert await w.repos.users.get(w.host.id) == before  # nothing saved, not even the valid zone

        saved = await choose(w, (ids["main"], ids["side"], ids["team"]), ids["rota"])
        assert saved.conflict_calendar_ids == (ids["main"], ids["side"], ids["team"])
        assert saved.write_calendar_id == ids["rota"]
        assert await w.repos.users.get(w.host.id) == saved


async def test_busy_time_comes_from_every_chosen_calendar_in_one_graph_request(kind: Kind) -> None:
    async with booking_world(kind) as w:
        ids = share_calendars(w)
        state = w.emulator.state
        state.add_event(HOST_UPN, "interview", MONDAY_10, MONDAY_10 + timedelta(hours=1), calendar_id=ids["side"])
        team_busy = MONDAY_10 + timedelta(hours=3)
        state.add_event(MEGAN, "team day", team_busy, team_busy + timedelta(hours=1), calendar_id=ids["team"])
        window = Interval(MONDAY_10 - timedelta(hours=1), MONDAY_10 + timedelta(hours=6))

        starts = {s.start for s in await w.service.slots(w.link, window)}
        assert MONDAY_10 in starts and team_busy in starts  # only the main calendar counts so far

        await choose(w, (ids["main"], ids["side"], ids["team"]), None)
        w.service.forget_busy()
        state.request_log.clear()
        starts = {s.start for s in await w.service.slots(w.link, window)}
        assert MONDAY_10 not in starts and team_busy not in starts
        assert MONDAY_10 + timedelta(hours=1) in starts
        outer = [r.path for r in state.request_log if not r.path.startswith("$batch:")]
        assert outer == ["/$batch"]  # the figure: one Graph request for a slot view over 3 calendars
        assert len([r for r in state.request_log if r.path.startswith("$batch:")]) == 3


async def test_a_booking_in_a_shared_calendar_stays_reachable_after_the_host_picks_another(kind: Kind) -> None:
    async with booking_world(kind) as w:
        ids = share_calendars(w)
        await choose(w, (ids["main"],), ids["rota"])
        stored = (await w.service.book(w.link, MONDAY_10, invitee())).booking
        assert stored.status is BookingStatus.CONFIRMED and stored.event_calendar_id == ids["rota"]
        assert [e["id"] for e in w.emulator.state.events(MEGAN, ids["rota"])] == [stored.graph_event_id]
        assert w.events() == []  # not in Harriet's own calendars

        await choose(w, (ids["main"],), ids["main"])  # bookings go to her main calendar from now on
        assert w.host.write_calendar_id is None

        # a full sync round reads the booking's event where it was written: found, so nothing is cancelled
        report = SyncReport()
        await world_sync(w).delta_round(w.host, report, full=True)
        assert report.cancelled == [] and report.moved == []
        # reconciliation leaves it alone too
        await w.reconciler.run()
        current = await w.repos.bookings.get(stored.id)
        assert current is not None and current.status is BookingStatus.CONFIRMED

        later = MONDAY_10 + timedelta(hours=2)
        moved = await w.service.reschedule(current, later, "host")
        assert moved.calendar_sync is CalendarSync.IN_SYNC  # the PATCH reached the rota
        [event] = w.emulator.state.events(MEGAN, ids["rota"])
        assert event["start"]["dateTime"].startswith("2027-03-01T12:00")
        cancelled = await w.service.cancel(moved, "Sorry", "host")
        assert cancelled.calendar_sync is CalendarSync.IN_SYNC
        assert w.emulator.state.events(MEGAN, ids["rota"]) == []
        assert w.emulator.state.cancellations[-1]["eventId"] == stored.graph_event_id

        again = (await w.service.book(w.link, MONDAY_10 + timedelta(hours=4), invitee("Kim"))).booking
        assert again.event_calendar_id is None and [e["id"] for e in w.events()] == [again.graph_event_id]


# --------------------------------------------------------------------------- reminders


def reminder_service(w: World) -> ReminderService:
    return ReminderService(
        reminders=w.repos.reminders, event_types=w.repos.event_types, users=w.repos.users, clock=w.clock
    )


async def reminder_rows(w: World) -> list[OutboxRow]:
    async with w.db.read() as s:
        return list((await s.scalars(select(OutboxRow).where(OutboxRow.kind == "booking.reminder"))).all())


async def test_exactly_one_reminder_with_two_replicas_running_the_job(kind: Kind) -> None:
    async with booking_world(kind) as w:
        booking = (await w.service.book(w.link, MONDAY_10, invitee())).booking
        w.clock.current = MONDAY_10 - timedelta(minutes=15)
        replicas = [Background(leases=w.repos.job_leases, clock=w.clock, holder=name) for name in ("a", "b")]
        for jobs in replicas:
            jobs.add("reminders", 30.0, reminder_service(w).run, exclusive=True)
        ran = await asyncio.gather(*(jobs.run_pass("reminders") for jobs in replicas))
        assert sorted(r is None for r in ran) == [False, True]  # one replica held the job lease
        # even with the lease gone (run out mid-pass): the passes race and still write one reminder
        w.clock.advance(minutes=1)
        await asyncio.gather(*(reminder_service(w).run() for _ in range(4)))
        [row] = await reminder_rows(w)
        assert row.dedupe_key == f"booking.reminder:{booking.id}:2027-03-01T10:00:00Z:{w.host.id}"
        assert row.channel == "teams" and row.payload["hostId"] == w.host.id
        assert row.payload["reminderMinutes"] == 15 and row.payload["joinUrl"] == booking.join_url
        assert row.payload["inviteeName"] == "Ivy Invitee"


async def test_a_rescheduled_booking_is_reminded_again_for_its_new_time(kind: Kind) -> None:
    async with booking_world(kind) as w:
        booking = (await w.service.book(w.link, MONDAY_10, invitee())).booking
        w.clock.current = MONDAY_10 - timedelta(minutes=5)
        assert (await reminder_service(w).run()).enqueued == [booking.id]
        later = MONDAY_10 + timedelta(hours=3)
        moved = await w.service.reschedule(booking, later, "invitee")
        [first] = await reminder_rows(w)
        assert reminder_obsolete(moved, first.payload, w.clock.now()) is not None  # dropped at delivery
        assert (await reminder_service(w).run()).enqueued == []  # not due for 13:00 yet
        w.clock.current = later - timedelta(minutes=15)
        assert (await reminder_service(w).run()).enqueued == [booking.id]
        rows = await reminder_rows(w)
        assert sorted(r.payload["start"] for r in rows) == ["2027-03-01T10:00:00Z", "2027-03-01T13:00:00Z"]
        second = next(r for r in rows if r.payload["start"] == "2027-03-01T13:00:00Z")
        assert reminder_obsolete(moved, second.payload, w.clock.now()) is None


async def test_a_cancelled_booking_is_never_reminded(kind: Kind) -> None:
    async with booking_world(kind) as w:
        booking = (await w.service.book(w.link, MONDAY_10, invitee())).booking
        await w.service.cancel(booking, "Not needed", "invitee")
        for minutes in (15, 10, 1):
            w.clock.current = MONDAY_10 - timedelta(minutes=minutes)
            assert (await reminder_service(w).run()).enqueued == []
        assert await reminder_rows(w) == []


async def test_a_link_with_the_reminder_off_sends_nothing(kind: Kind) -> None:
    async with booking_world(kind, link_rules=rules(reminder=None)) as w:
        assert w.link.rules.reminder is None
        await w.service.book(w.link, MONDAY_10, invitee())
        for minutes in (24 * 60, 60, 15, 1):
            w.clock.current = MONDAY_10 - timedelta(minutes=minutes)
            assert (await reminder_service(w).run()).enqueued == []
        assert await reminder_rows(w) == []
        # switched on later: the booking is reminded by the link's new rule
        await w.repos.event_types.update(replace(w.link, rules=replace(w.link.rules, reminder=5)))
        w.clock.current = MONDAY_10 - timedelta(minutes=5)
        assert len((await reminder_service(w).run()).enqueued) == 1


async def test_every_host_of_a_multi_host_booking_gets_their_own_reminder(kind: Kind) -> None:
    async with booking_world(kind) as w:
        member = await w.repos.users.upsert(
            User(id="u-max", tenant_id=TENANT, aad_object_id="oid-max", display_name="Max", email="max@contoso.example")
        )
        base = (await w.service.book(w.link, MONDAY_10, invitee())).booking
        team = replace(
            base,
            id="bk-team",
            host_ids=(w.host.id, member.id),
            start=MONDAY_10 + timedelta(hours=2),
            end=MONDAY_10 + timedelta(hours=2, minutes=30),
            idempotency_key=None,
            manage_token_hash="h-team",
            status=BookingStatus.PENDING,
        )
        stored, _ = await w.repos.bookings.reserve(team)
        await w.repos.bookings.confirm(
            stored.id, graph_event_id="ev-team", ical_uid=None, join_url=None, join_url_missing=False
        )
        w.clock.current = team.start - timedelta(minutes=15)
        assert (await reminder_service(w).run()).enqueued == ["bk-team"]
        rows: dict[Any, Any] = {r.payload["hostId"]: r for r in await reminder_rows(w)}
        assert set(rows) == {w.host.id, member.id}
        assert rows[member.id].payload["hostName"] == "Max"
        assert team.start > NOW
