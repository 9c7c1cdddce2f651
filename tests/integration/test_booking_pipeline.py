"""The booking use cases end to end: real database (SQLite and PostgreSQL), the Graph emulator over
HTTP, the real Graph client. Never double-booked, never half-written, retries never duplicate."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from scheduling.booking import hash_token
from scheduling.domain import BookingStatus, CalendarSync
from scheduling.errors import Conflict, HostUnavailable, NotFound, SlotUnavailable, ValidationFailed
from scheduling.intervals import Interval
from scheduling.invitee import InviteeForm
from tests.integration.harness import HOST_UPN, MONDAY_10, NOW, booking_world, invitee, rules
from tests.storage.fixtures import Kind

pytestmark = pytest.mark.parametrize("kind", ["sqlite", "postgres"])


async def test_booking_writes_one_outlook_event_with_teams_and_confirms(kind: Kind) -> None:
    async with booking_world(kind) as w:
        outcome = await w.service.book(w.link, MONDAY_10, invitee(), idempotency_key="k1")
        b = outcome.booking
        assert b.status is BookingStatus.CONFIRMED and outcome.confirmed and not outcome.replayed
        assert len(outcome.manage_token) >= 22 and b.manage_token_hash == hash_token(outcome.manage_token)
        [event] = w.events()
        assert event["id"] == b.graph_event_id and event["transactionId"] == b.id
        assert event["isOnlineMeeting"] and event["onlineMeeting"]["joinUrl"] == b.join_url
        assert [a["emailAddress"]["address"] for a in event["attendees"]] == ["ivy@example.org"]
        assert event["originalStartTimeZone"] in ("Europe/London", "GMT Standard Time")
        # The notification was enqueued with the confirmation, exactly once.
        leased = await w.repos.outbox.lease(NOW, 10, 60, channel="teams")  # the host's notices
        assert [(x.item.kind, x.item.payload["bookingId"]) for x in leased] == [("booking.created", b.id)]


async def test_idempotent_retry_returns_the_same_booking_and_never_a_second_event(kind: Kind) -> None:
    async with booking_world(kind) as w:
        first = await w.service.book(w.link, MONDAY_10, invitee(), idempotency_key="retry-me")
        again = await w.service.book(w.link, MONDAY_10, invitee(), idempotency_key="retry-me")
        assert again.replayed and again.booking.id == first.booking.id
        assert again.manage_token == first.manage_token
        assert len(w.events()) == 1


async def test_booking_request_counts_three_graph_calls(kind: Kind) -> None:
    async with booking_world(kind) as w:
        w.emulator.state.request_log.clear()
        await w.service.book(w.link, MONDAY_10, invitee())
        assert [r.method for r in w.emulator.state.request_log] == ["POST", "POST", "GET"]


async def test_a_booking_whose_teams_link_was_dropped_reads_the_event_back_once(kind: Kind) -> None:
    """getSchedule, create, one read-back: the adapter does not read back a second time."""
    async with booking_world(kind) as w:
        w.emulator.state.get_user(HOST_UPN).drop_online_meetings = True  # type: ignore[union-attr]
        w.emulator.state.request_log.clear()
        outcome = await w.service.book(w.link, MONDAY_10, invitee())
        assert outcome.confirmed and outcome.booking.join_url_missing
        assert [r.method for r in w.emulator.state.request_log] == ["POST", "POST", "GET"]


async def test_book_validates_what_the_invitee_entered_and_writes_nothing_when_it_is_wrong(kind: Kind) -> None:
    async with booking_world(kind) as w:
        w.emulator.state.request_log.clear()
        wrong = InviteeForm(name=" ", email="not-an-email", time_zone="Nowhere/Land", notes=7, answers={"unknown": "x"})
        with pytest.raises(ValidationFailed) as failed:
            await w.service.book(w.link, MONDAY_10, wrong)
        assert set(failed.value.fields) == {"name", "email", "timeZone", "notes", "answers.unknown"}
        with pytest.raises(ValidationFailed) as failed:
            await w.service.book(
                w.link, MONDAY_10, InviteeForm(name=["x"], email="ivy@example.org", time_zone="UTC", answers=["a"])
            )
        assert failed.value.fields == {"name": "Must be text.", "answers": "Answers must map question ids to text."}
        assert w.emulator.state.request_log == [] and w.events() == []
        assert await w.repos.bookings.upcoming_for_host(w.host.tenant_id, w.host.id, NOW) == []
        made = await w.service.book(
            w.link, MONDAY_10, InviteeForm(name="  Ivy  ", email=" ivy@example.org ", time_zone="Asia/Tokyo")
        )
        assert (made.booking.invitee.name, made.booking.invitee.email) == ("Ivy", "ivy@example.org")  # cleaned


async def test_a_taken_slot_gives_slot_unavailable_with_alternatives(kind: Kind) -> None:
    async with booking_world(kind) as w:
        await w.service.book(w.link, MONDAY_10, invitee())
        with pytest.raises(SlotUnavailable) as err:
            await w.service.book(w.link, MONDAY_10, invitee("Bob", "bob@example.org"))
        assert err.value.alternatives and MONDAY_10 not in err.value.alternatives
        assert len(w.events()) == 1


async def test_host_who_became_busy_in_outlook_since_page_load_gets_slot_unavailable(kind: Kind) -> None:
    async with booking_world(kind) as w:
        slots = await w.service.slots(w.link, Interval(NOW, NOW + timedelta(days=1)))
        assert MONDAY_10 in [s.start for s in slots]
        w.emulator.state.add_event(
            HOST_UPN, subject="Dentist", start=MONDAY_10 - timedelta(minutes=15), end=MONDAY_10 + timedelta(minutes=15)
        )
        with pytest.raises(SlotUnavailable):
            await w.service.book(w.link, MONDAY_10, invitee())
        assert await w.repos.bookings.host_bookings([w.host.id], Interval(NOW, NOW + timedelta(days=1))) == {
            w.host.id: []
        }


async def test_unreadable_calendar_fails_closed_and_books_nothing(kind: Kind) -> None:
    async with booking_world(kind) as w:
        w.emulator.state.faults.unavailable(count=50, status=503)
        with pytest.raises(HostUnavailable):
            await w.service.slots(w.link, Interval(NOW, NOW + timedelta(days=1)))
        with pytest.raises(HostUnavailable):
            await w.service.book(w.link, MONDAY_10, invitee())
        w.emulator.state.faults.clear()
        assert w.events() == []
        assert (await w.repos.bookings.host_bookings([w.host.id], Interval(NOW, NOW + timedelta(days=2))))[
            w.host.id
        ] == []


async def test_tenant_policy_without_teams_link_is_flagged_for_the_host(kind: Kind) -> None:
    async with booking_world(kind) as w:
        w.emulator.state.get_user(HOST_UPN).drop_online_meetings = True  # type: ignore[union-attr]
        outcome = await w.service.book(w.link, MONDAY_10, invitee())
        assert outcome.confirmed and outcome.booking.join_url is None and outcome.booking.join_url_missing
        [leased] = await w.repos.outbox.lease(NOW, 10, 60, channel="teams")  # the host's notices
        assert leased.item.payload["joinUrlMissing"] is True


async def test_invitee_reschedules_with_the_manage_token_keeping_the_same_teams_event(kind: Kind) -> None:
    async with booking_world(kind) as w:
        outcome = await w.service.book(w.link, MONDAY_10, invitee())
        booking = await w.service.by_manage_token(outcome.manage_token)
        later = MONDAY_10 + timedelta(hours=3)
        moved = await w.service.reschedule(booking, later, "invitee")
        assert (moved.start, moved.status, moved.calendar_sync) == (
            later,
            BookingStatus.CONFIRMED,
            CalendarSync.IN_SYNC,
        )
        [event] = w.events()
        assert event["id"] == booking.graph_event_id and event["onlineMeeting"]["joinUrl"] == booking.join_url
        assert event["start"]["dateTime"].startswith("2027-03-01T13:00")
        assert event["id"] not in w.emulator.state.body_blob_lost
        # The old time is free again: someone else can take it.
        other = await w.service.book(w.link, MONDAY_10, invitee("Bob", "bob@example.org"))
        assert other.confirmed


async def test_overlapping_reschedule_of_own_booking_is_allowed(kind: Kind) -> None:
    async with booking_world(kind, link_rules=rules(durations=(60,), slot_interval=30)) as w:
        outcome = await w.service.book(w.link, MONDAY_10, invitee())
        moved = await w.service.reschedule(outcome.booking, MONDAY_10 + timedelta(minutes=30), "invitee")
        assert moved.start == MONDAY_10 + timedelta(minutes=30)


async def test_host_cancels_with_a_reason_sent_through_graph_cancel(kind: Kind) -> None:
    async with booking_world(kind) as w:
        outcome = await w.service.book(w.link, MONDAY_10, invitee())
        booking = await w.service.for_host(w.host.id, outcome.booking.id)
        cancelled = await w.service.cancel(booking, "Sorry, I'm ill", "host")
        assert cancelled.status is BookingStatus.CANCELLED and cancelled.calendar_sync is CalendarSync.IN_SYNC
        assert [c["comment"] for c in w.emulator.state.cancellations] == ["Sorry, I'm ill"]
        with pytest.raises(Conflict):
            await w.service.cancel(cancelled, "again", "host")
        again = await w.service.book(w.link, MONDAY_10, invitee("Bob", "bob@example.org"))
        assert again.confirmed


async def test_manage_tokens_only_reach_their_own_booking(kind: Kind) -> None:
    async with booking_world(kind) as w:
        a = await w.service.book(w.link, MONDAY_10, invitee())
        b = await w.service.book(w.link, MONDAY_10 + timedelta(hours=1), invitee("Bob", "bob@example.org"))
        assert (await w.service.by_manage_token(a.manage_token)).id == a.booking.id
        assert (await w.service.by_manage_token(b.manage_token)).id == b.booking.id
        for bad in ("", "x", a.manage_token[:-1], a.booking.id):
            with pytest.raises(NotFound):
                await w.service.by_manage_token(bad)
        with pytest.raises(NotFound):
            await w.service.for_host("someone-else", a.booking.id)


async def test_single_use_link_books_once_then_is_used(kind: Kind) -> None:
    async with booking_world(kind, single_use=True) as w:
        await w.service.book(w.link, MONDAY_10, invitee())
        with pytest.raises(SlotUnavailable):
            await w.service.book(w.link, MONDAY_10 + timedelta(hours=2), invitee("Bob", "bob@example.org"))
        link = await w.repos.event_types.get(w.link.id)
        assert link is not None and not link.active


async def test_concurrent_bookers_in_one_process_exactly_one_wins(kind: Kind) -> None:
    async with booking_world(kind) as w:
        results = await asyncio.gather(
            *(w.service.book(w.link, MONDAY_10, invitee(f"P{i}", f"p{i}@example.org")) for i in range(8)),
            return_exceptions=True,
        )
        wins = [r for r in results if not isinstance(r, BaseException)]
        losses = [r for r in results if isinstance(r, SlotUnavailable)]
        assert len(wins) == 1 and len(losses) == 7, results
        assert len(w.tagged_events()) == 1


async def test_slot_views_reuse_a_graph_answer_briefly_yet_see_new_bookings_at_once(kind: Kind) -> None:
    async with booking_world(kind) as w:
        window = Interval(NOW, NOW + timedelta(days=1))
        w.emulator.state.request_log.clear()
        first = await w.service.slots(w.link, window)
        assert await w.service.slots(w.link, window) == first
        assert len(w.emulator.state.request_log) == 1  # one getSchedule for two views
        await w.service.book(w.link, MONDAY_10, invitee())
        assert MONDAY_10 not in [s.start for s in await w.service.slots(w.link, window)]
        w.emulator.state.add_event(
            HOST_UPN, subject="Late add", start=MONDAY_10 + timedelta(hours=2), end=MONDAY_10 + timedelta(hours=3)
        )
        w.clock.advance(seconds=31)  # past the 30 s reuse: Outlook changes show up
        later = [s.start for s in await w.service.slots(w.link, window)]
        assert MONDAY_10 + timedelta(hours=2) not in later
