"""scheduling.reach: the bound on every date and instant a request names, and the clamp that keeps every query
window the core computes on inside it (so no date arithmetic can leave Python's calendar)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduling.errors import InvalidQuery
from scheduling.intervals import Interval
from scheduling.localtime import wall_to_epoch
from scheduling.reach import (
    REACH_AHEAD,
    REACH_BEHIND,
    bounded_window,
    calendar_date_problem,
    check_date,
    check_instant,
    date_problem,
    instant_problem,
    reach,
)
from scheduling.rules import Availability, BookingWindow, EventRules
from scheduling.serialize import rules_from_dict, rules_to_dict
from tests.scheduling.strategies import props

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_the_reach_is_a_year_back_and_five_years_ahead() -> None:
    assert reach(NOW) == Interval(NOW - REACH_BEHIND, NOW + REACH_AHEAD)
    assert instant_problem(NOW + timedelta(days=365), NOW) is None
    assert "too far ahead" in (instant_problem(NOW + REACH_AHEAD + timedelta(seconds=1), NOW) or "")
    assert "too long ago" in (instant_problem(NOW - REACH_BEHIND - timedelta(seconds=1), NOW) or "")
    assert date_problem(date(2031, 12, 1), NOW.date()) is None
    assert "too far ahead" in (date_problem(date(9999, 12, 31), NOW.date()) or "")


def test_the_checks_name_the_parameter() -> None:
    with pytest.raises(InvalidQuery) as refused:
        check_instant(datetime(9999, 12, 31, tzinfo=UTC), NOW, "start")
    assert refused.value.parameter == "start" and "'start'" in refused.value.message
    with pytest.raises(InvalidQuery) as refused:
        check_date(date.min, NOW.date(), "week")
    assert refused.value.parameter == "week" and "between 2025-11-30 and" in refused.value.message


def test_stored_dates_lie_in_the_calendar_and_booking_windows_say_so() -> None:
    assert calendar_date_problem(date(2027, 1, 1)) is None
    assert calendar_date_problem(date(9999, 12, 31)) == "Use a date between 2000-01-01 and 2099-12-31."
    window = BookingWindow.fixed(date(9999, 12, 1), date(9999, 12, 31))
    assert "9999-12-01" in window.problems()["booking_window"]


instants = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))


@props(300)
@given(start=instants, length=st.integers(min_value=0, max_value=62 * 86400))
def test_a_clamped_window_lies_inside_the_reach_and_inside_the_asked_window(start: datetime, length: int) -> None:
    try:
        end = start + timedelta(seconds=length)
    except OverflowError:
        return
    window = Interval(start, end)
    clamped = bounded_window(window, NOW)
    assert reach(NOW).contains(clamped)
    if window.overlaps(reach(NOW)):
        assert clamped == Interval(max(start, NOW - REACH_BEHIND), min(end, NOW + REACH_AHEAD))
    else:
        assert clamped.is_empty


def _widened(window: Interval) -> tuple[datetime, datetime, int, int]:
    """The arithmetic the use cases do around a query window: a week and a day either side (bookings that
    touch it), a booking window's reach past it, and its local midnights in the zones furthest from UTC."""
    low, high = window.start - timedelta(days=8), window.end + timedelta(days=62)
    first = wall_to_epoch(
        window.start.astimezone(ZoneInfo("Etc/GMT+12")).date() - timedelta(days=1), 0, ZoneInfo("Etc/GMT+12")
    )
    last = wall_to_epoch(
        window.end.astimezone(ZoneInfo("Pacific/Kiritimati")).date() + timedelta(days=1),
        0,
        ZoneInfo("Pacific/Kiritimati"),
    )
    return low, high, first, last


edge_windows = st.builds(
    lambda start, seconds: Interval(
        start, start + min(timedelta(seconds=seconds), datetime.max.replace(tzinfo=UTC) - start)
    ),
    st.one_of(
        st.datetimes(max_value=datetime(1, 1, 10)), st.datetimes(min_value=datetime(9999, 12, 20)), st.datetimes()
    ).map(lambda d: d.replace(tzinfo=UTC)),
    st.integers(min_value=0, max_value=62 * 86400),
)


@props(200)
@given(window=edge_windows)
def test_the_arithmetic_around_a_clamped_window_never_leaves_the_calendar(window: Interval) -> None:
    low, high, _first, _last = _widened(bounded_window(window, NOW))
    assert NOW - REACH_BEHIND - timedelta(days=8) <= low <= high <= NOW + REACH_AHEAD + timedelta(days=62)


def test_without_the_clamp_it_would() -> None:
    for window in (
        Interval(datetime(9999, 12, 30, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)),
        Interval(datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 2, tzinfo=UTC)),
    ):
        with pytest.raises(OverflowError):
            _widened(window)
        assert _widened(bounded_window(window, NOW))


async def test_the_booking_use_cases_refuse_instants_out_of_reach_whoever_calls_them() -> None:
    """The core defends itself: a start in year 1 or 9999 is InvalidQuery naming 'start' before any store or
    calendar is touched, and a slot window far out is clamped to nothing instead of overflowing."""
    from scheduling.booking import BookingService
    from scheduling.domain import Booking, BookingStatus, EventType, Invitee
    from scheduling.errors import InvalidQuery
    from scheduling.invitee import InviteeForm
    from scheduling.rules import Availability, EventRules

    class Untouchable:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"{name} must not be reached")

    now = datetime(2027, 3, 1, 9, tzinfo=UTC)
    clock = type("Clock", (), {"now": staticmethod(lambda: now)})()
    nothing: Any = Untouchable()
    service = BookingService(
        calendar=nothing, bookings=nothing, users=nothing, event_types=nothing, clock=clock, token_secret=b"k" * 32
    )
    rules = EventRules(durations=(30,), availability=Availability("UTC", ((),) * 7))
    link = EventType(id="l", tenant_id="t", slug="s", title="T", rules=rules, owner_user_id="u")
    form = InviteeForm("Ana", "ana@example.org", "UTC")
    for far in (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 30, tzinfo=UTC)):
        with pytest.raises(InvalidQuery) as refused:
            await service.book(link, far, form)
        assert refused.value.parameter == "start"
        booking = Booking(
            id="b",
            tenant_id="t",
            event_type_id="l",
            host_ids=("u",),
            start=now,
            end=now,
            buffer_before=0,
            buffer_after=0,
            invitee=Invitee("Ana", "ana@example.org"),
            status=BookingStatus.CONFIRMED,
        )
        with pytest.raises(InvalidQuery):
            await service.reschedule(booking, far, "invitee")


def test_a_date_override_outside_the_calendar_is_refused_and_one_stored_before_is_dropped_on_load() -> None:
    rules = EventRules((30,), Availability.business_hours("UTC"))
    far = replace(rules.availability, overrides={date(1, 1, 1): (), date(2027, 5, 3): ()})
    assert set(replace(rules, availability=far).problems()) == {"date_overrides.0001-01-01"}
    stored = rules_to_dict(rules) | {"availability": {**rules_to_dict(rules)["availability"]}}
    stored["availability"]["date_overrides"] = {"0001-01-01": [], "9999-12-31": [], "2027-05-03": []}
    loaded = rules_from_dict(stored)  # what the API took before it checked the calendar
    assert set(loaded.availability.overrides) == {date(2027, 5, 3)} and loaded.validate() == loaded
