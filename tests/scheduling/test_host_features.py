"""Issue 16 §4, the pure part: the reminder rule of a link (validated, stored in the rules format), when a reminder
is due and when a queued one is obsolete, its dedupe keys; the host's calendar choice judged against the
calendars Graph lists (unknown, someone else's or read-only calendars refused), stored in its normal form; the
calendar a booking's event is read and changed through."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduling.domain import Booking, BookingStatus, Invitee, User
from scheduling.errors import InvalidRule
from scheduling.people import (
    CONFLICT_CALENDARS,
    MAX_CONFLICT_CALENDARS,
    WRITE_CALENDAR,
    CalendarChoice,
    calendar_options,
    calendar_problems,
    stored_choice,
)
from scheduling.ports import CalendarInfo
from scheduling.reminders import reminder_due, reminder_key, reminder_obsolete
from scheduling.rules import DEFAULT_REMINDER, REMINDER_RULE, Availability, EventRules
from scheduling.serialize import rules_from_dict, rules_to_dict

START = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)


def rules(**changes: object) -> EventRules:
    return replace(EventRules(durations=(30,), availability=Availability.business_hours("Europe/London")), **changes)  # type: ignore[arg-type]


def booking(**changes: object) -> Booking:
    base = Booking(
        id="bk-1",
        tenant_id="t",
        event_type_id="et-1",
        host_ids=("u-1",),
        start=START,
        end=START + timedelta(minutes=30),
        buffer_before=0,
        buffer_after=0,
        invitee=Invitee("Ivy", "ivy@example.org"),
        status=BookingStatus.CONFIRMED,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the reminder rule


def test_a_link_reminds_15_minutes_before_by_default_and_may_be_off() -> None:
    assert rules().reminder == DEFAULT_REMINDER == 15
    assert rules(reminder=None).problems() == {}
    assert rules(reminder=1).problems() == {} and rules(reminder=24 * 60).problems() == {}


@pytest.mark.parametrize("minutes", [0, -15, 24 * 60 + 1, 10**12])
def test_a_reminder_lead_outside_one_minute_to_a_day_is_refused_under_its_field(minutes: int) -> None:
    assert rules(reminder=minutes).problems() == {"reminder": REMINDER_RULE}
    with pytest.raises(InvalidRule) as refused:
        rules(reminder=minutes).validate()
    assert refused.value.field == "reminder"


def test_the_reminder_travels_in_the_rules_format_and_old_documents_get_the_default() -> None:
    for minutes in (None, 1, 15, 90):
        document = rules_to_dict(rules(reminder=minutes))
        assert document["reminder"] == minutes
        assert rules_from_dict(document).reminder == minutes
    legacy = rules_to_dict(rules())
    del legacy["reminder"]
    assert rules_from_dict(legacy).reminder == DEFAULT_REMINDER
    for wrong in (True, "15", 1.5):
        with pytest.raises(InvalidRule) as refused:
            rules_from_dict(rules_to_dict(rules()) | {"reminder": wrong})
        assert refused.value.field == "reminder"


# --------------------------------------------------------------------------- when a reminder is due


@given(offset=st.integers(min_value=-3 * 24 * 3600, max_value=3 * 24 * 3600), minutes=st.integers(1, 24 * 60))
def test_a_reminder_is_due_from_its_time_until_the_meeting_begins(offset: int, minutes: int) -> None:
    now = START + timedelta(seconds=offset)
    expected = START - timedelta(minutes=minutes) <= now < START
    assert reminder_due(booking(), minutes, now) is expected
    assert reminder_due(booking(), None, now) is False  # off: never
    for status in (BookingStatus.PENDING, BookingStatus.CANCELLED, BookingStatus.RELEASED):
        assert reminder_due(booking(status=status), minutes, now) is False


def test_the_boundaries_of_a_15_minute_reminder() -> None:
    due_at = START - timedelta(minutes=15)
    assert not reminder_due(booking(), 15, due_at - timedelta(microseconds=1))
    assert reminder_due(booking(), 15, due_at)
    assert reminder_due(booking(), 15, START - timedelta(microseconds=1))
    assert not reminder_due(booking(), 15, START)  # begun: too late


def test_a_moved_booking_gets_new_keys_and_each_host_its_own() -> None:
    key = reminder_key("bk-1", START, "u-1")
    assert key == "booking.reminder:bk-1:2027-03-01T10:00:00Z:u-1"
    assert reminder_key("bk-1", START + timedelta(hours=1), "u-1") != key
    assert reminder_key("bk-1", START, "u-2") != key


def test_a_queued_reminder_is_obsolete_once_its_booking_is_cancelled_moved_gone_or_over() -> None:
    payload = {"bookingId": "bk-1", "start": "2027-03-01T10:00:00Z"}
    before = START - timedelta(minutes=10)
    assert reminder_obsolete(booking(), payload, before) is None
    assert reminder_obsolete(booking(), payload, START + timedelta(minutes=5)) is None  # late, but still on
    assert reminder_obsolete(None, payload, before) == "the booking no longer exists"
    assert reminder_obsolete(booking(status=BookingStatus.CANCELLED), payload, before) == "the booking was cancelled"
    moved = booking(start=START + timedelta(hours=2), end=START + timedelta(hours=2, minutes=30))
    assert "moved" in (reminder_obsolete(moved, payload, before) or "")
    assert reminder_obsolete(booking(), payload, START + timedelta(minutes=30)) == "the meeting is over"


# --------------------------------------------------------------------------- the calendar choice

MAIN = CalendarInfo("cal-main", "Calendar", "Harriet", "harriet@contoso.example", True, True)
SIDE = CalendarInfo("cal-side", "Interviews", "Harriet", "harriet@contoso.example", True, False)
ROTA = CalendarInfo("cal-rota", "Rota", "Megan", "megan@contoso.example", True, False)
TEAM = CalendarInfo("cal-team", "Team", "Megan", "megan@contoso.example", False, False)
LISTED = (SIDE, ROTA, MAIN, TEAM)  # as Graph might order them


def host(**changes: object) -> User:
    base = User("u-1", "t", "oid", "Harriet", "harriet@contoso.example")
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_current_choice_defaults_to_the_main_calendar_for_both() -> None:
    options = calendar_options(LISTED, host())
    assert options.calendars[0] == MAIN  # default first
    assert (options.conflict_calendar_ids, options.write_calendar_id) == (("cal-main",), "cal-main")
    assert [c.id for c in options.writable] == ["cal-main", "cal-side", "cal-rota"]
    assert options.shared(ROTA) and not options.shared(SIDE)
    chosen = calendar_options(
        LISTED, host(conflict_calendar_ids=("cal-side", "cal-team"), write_calendar_id="cal-rota")
    )
    assert (chosen.conflict_calendar_ids, chosen.write_calendar_id) == (("cal-side", "cal-team"), "cal-rota")


def test_a_valid_choice_is_stored_in_its_normal_form() -> None:
    assert calendar_problems(LISTED, CalendarChoice(("cal-main",), "cal-main")) == {}
    # the main calendar alone is the mailbox's free/busy (getSchedule, the busy cache) and the default write target
    assert stored_choice(LISTED, CalendarChoice(("cal-main",), "cal-main")) == ((), None)
    both = CalendarChoice(("cal-main", "cal-team", "cal-main"), "cal-rota")
    assert calendar_problems(LISTED, both) == {}
    assert stored_choice(LISTED, both) == (("cal-main", "cal-team"), "cal-rota")


@pytest.mark.parametrize(
    ("choice", "fields"),
    [
        (CalendarChoice(("cal-main", "cal-of-mallory"), None), {CONFLICT_CALENDARS}),  # someone else's calendar
        (CalendarChoice(("cal-main",), "cal-of-mallory"), {WRITE_CALENDAR}),
        (CalendarChoice(("cal-main",), "cal-team"), {WRITE_CALENDAR}),  # shared read-only: can't be written
        (CalendarChoice((), None), {CONFLICT_CALENDARS}),  # nothing would block any time
        (CalendarChoice(("nope",), "nope"), {CONFLICT_CALENDARS, WRITE_CALENDAR}),  # every problem at once
    ],
)
def test_a_calendar_the_host_cant_see_or_write_is_refused_under_its_field(
    choice: CalendarChoice, fields: set[str]
) -> None:
    assert set(calendar_problems(LISTED, choice)) == fields


def test_at_most_one_batch_of_conflict_calendars() -> None:
    many = [CalendarInfo(f"c{i}", f"C{i}", "H", "harriet@contoso.example", True, i == 0) for i in range(30)]
    ok = CalendarChoice(tuple(f"c{i}" for i in range(MAX_CONFLICT_CALENDARS)))
    assert calendar_problems(many, ok) == {}
    too_many = CalendarChoice(tuple(f"c{i}" for i in range(MAX_CONFLICT_CALENDARS + 1)))
    assert set(calendar_problems(many, too_many)) == {CONFLICT_CALENDARS}


def test_a_bookings_event_is_reached_through_the_calendar_it_was_written_to() -> None:
    moved_on = host(write_calendar_id="cal-side", conflict_calendar_ids=("cal-main", "cal-side"))
    assert moved_on.calendar_for(booking(event_calendar_id="cal-rota")).write_calendar_id == "cal-rota"
    assert moved_on.calendar_for(booking()).write_calendar_id is None  # written to the default calendar
    assert moved_on.calendar_for(booking()).mailbox == "harriet@contoso.example"
    assert moved_on.host_calendar().write_calendar_id == "cal-side"  # new bookings go to the new one
