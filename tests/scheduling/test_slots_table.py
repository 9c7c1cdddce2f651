"""Boundary cases of slot computation, one row per clause of the documented semantics.

The host works Monday-Friday 09:00-17:00 UTC unless a row says otherwise; meetings are 30 minutes on a
30-minute grid; ``now`` is the Friday before, so notice and the booking window stay out of the way.
Expected slots are written as the host's wall-clock start times.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduling.errors import InvalidRule
from scheduling.intervals import Interval
from scheduling.ports import BookedInterval, BusyInterval
from scheduling.rules import Availability, BookingWindow, BusyStatus, EventRules
from scheduling.slots import Slot, compute_slots, is_bookable
from tests.scheduling.strategies import busy, local_labels, rng, rules, utc

MON, TUE, SAT = date(2027, 1, 4), date(2027, 1, 5), date(2027, 1, 9)
NOW = utc(2027, 1, 1)  # the Friday before


def hm(h: int, m: int = 0, day: date = MON, *, s: int = 0) -> datetime:
    return datetime.combine(day, time(h, m, s), UTC)


def grid(first: str, last: str, step: int = 30) -> list[str]:
    h1, m1 = map(int, first.split(":"))
    h2, m2 = map(int, last.split(":"))
    return [f"{t // 60:02d}:{t % 60:02d}" for t in range(h1 * 60 + m1, h2 * 60 + m2 + 1, step)]


ALL = grid("09:00", "16:30")


def day_window(day: date, tz: str = "UTC") -> Interval:
    zi = ZoneInfo(tz)
    return Interval(datetime.combine(day, time(0), zi), datetime.combine(day + timedelta(days=1), time(0), zi))


def offered(
    r: EventRules,
    *,
    day: date = MON,
    now: datetime = NOW,
    busy: tuple[BusyInterval, ...] = (),
    bookings: tuple[BookedInterval, ...] = (),
    duration: int | None = None,
    window: Interval | None = None,
) -> list[str]:
    """Wall-clock starts (host zone) of the slots offered on ``day`` (or in ``window``)."""
    slots = compute_slots(
        r, now=now, window=window or day_window(day, r.time_zone), busy=busy, bookings=bookings, duration=duration
    )
    length = timedelta(minutes=duration or r.duration)
    assert all(s.end - s.start == length for s in slots)
    assert slots == sorted(set(slots)), "sorted and without duplicates"
    return local_labels([s.start for s in slots], r.time_zone)


# --------------------------------------------------------------------------- busy time


BUSY_CASES = [
    pytest.param((), ALL, id="free-day"),
    pytest.param(
        (busy(hm(10), hm(10, 30)), busy(hm(10, 30), hm(11))),
        [t for t in ALL if t not in ("10:00", "10:30")],
        id="back-to-back-busy",
    ),
    pytest.param((busy(hm(8), hm(9)),), ALL, id="busy-ends-exactly-at-day-start"),
    pytest.param((busy(hm(17), hm(18)),), ALL, id="busy-starts-exactly-at-day-end"),
    pytest.param((busy(hm(8), hm(9, 1)),), ALL[1:], id="busy-one-minute-into-day"),
    pytest.param((busy(hm(16, 59), hm(17)),), ALL[:-1], id="busy-last-minute-of-day"),
    pytest.param((busy(hm(12), hm(12)),), ALL, id="zero-length-busy"),
    pytest.param((busy(hm(9, 10), hm(9, 20)),), ALL[1:], id="busy-inside-one-slot"),
    pytest.param((busy(hm(10), hm(10, 30)),), [t for t in ALL if t != "10:00"], id="busy-exactly-one-slot"),
    pytest.param(
        (busy(hm(9, 45), hm(10, 15)),), [t for t in ALL if t not in ("09:30", "10:00")], id="busy-straddling-two-slots"
    ),
    pytest.param(
        (busy(hm(22, 0, date(2027, 1, 3)), hm(10)),), grid("10:00", "16:30"), id="busy-crossing-midnight-into-the-day"
    ),
    pytest.param((busy(hm(16), hm(2, 0, TUE)),), grid("09:00", "15:30"), id="busy-crossing-midnight-out"),
    pytest.param((busy(hm(0), hm(0, 0, TUE)),), [], id="busy-all-day"),
    pytest.param((busy(hm(12), hm(11)),), ALL, id="inverted-busy-blocks-nothing"),
    pytest.param(
        (busy(hm(9), hm(9, 29, s=59) + timedelta(microseconds=500_000)),), ALL[1:], id="fractional-end-before-next-slot"
    ),
    pytest.param(
        (busy(hm(9, 30) + timedelta(microseconds=1), hm(9, 40)),),
        [t for t in ALL if t != "09:30"],
        id="fractional-start-inside-slot",
    ),
    pytest.param((busy(hm(9, 59, s=59), hm(10)),), [t for t in ALL if t != "09:30"], id="last-second-of-slot"),
    pytest.param(
        (busy(hm(12) + timedelta(microseconds=1), hm(12) + timedelta(microseconds=1)),),
        ALL,
        id="zero-length-fractional-busy",
    ),
    pytest.param(
        (
            busy(
                datetime(2027, 1, 4, 5, tzinfo=ZoneInfo("America/New_York")),
                datetime(2027, 1, 4, 6, tzinfo=ZoneInfo("America/New_York")),
            ),
        ),
        [t for t in ALL if t not in ("10:00", "10:30")],
        id="busy-given-in-another-zone",
    ),
    pytest.param(
        (busy(hm(10), hm(11), BusyStatus.FREE), busy(hm(13), hm(14), BusyStatus.WORKING_ELSEWHERE)),
        ALL,
        id="free-and-working-elsewhere-do-not-block",
    ),
    pytest.param((busy(hm(0, 0, date(2027, 2, 1)), hm(0, 0, date(2027, 2, 2))),), ALL, id="busy-far-away"),
]


@pytest.mark.parametrize(("busy_time", "expected"), BUSY_CASES)
def test_busy_time(busy_time: tuple[BusyInterval, ...], expected: list[str]) -> None:
    assert offered(rules(), busy=busy_time) == expected


@pytest.mark.parametrize(
    ("status", "blocks"),
    [
        (BusyStatus.BUSY, True),
        (BusyStatus.TENTATIVE, True),
        (BusyStatus.OOF, True),
        (BusyStatus.UNKNOWN, True),
        (BusyStatus.FREE, False),
        (BusyStatus.WORKING_ELSEWHERE, False),
    ],
)
def test_default_blocking_statuses(status: BusyStatus, blocks: bool) -> None:
    got = offered(rules(), busy=(busy(hm(10), hm(11), status),))
    assert got == ([t for t in ALL if t not in ("10:00", "10:30")] if blocks else ALL)


@pytest.mark.parametrize(
    ("blocking", "status", "blocks"),
    [
        ({BusyStatus.BUSY}, BusyStatus.TENTATIVE, False),
        ({BusyStatus.BUSY}, BusyStatus.BUSY, True),
        ({BusyStatus.BUSY, BusyStatus.WORKING_ELSEWHERE}, BusyStatus.WORKING_ELSEWHERE, True),
        (set(), BusyStatus.BUSY, False),
        (set(BusyStatus), BusyStatus.FREE, True),
    ],
)
def test_custom_blocking_statuses(blocking: set[BusyStatus], status: BusyStatus, blocks: bool) -> None:
    r = rules(blocking_statuses=frozenset(blocking))
    got = offered(r, busy=(busy(hm(10), hm(11), status),))
    assert got == ([t for t in ALL if t not in ("10:00", "10:30")] if blocks else ALL)


def test_custom_blocking_statuses_do_not_change_bookings() -> None:
    r = rules(blocking_statuses=frozenset())
    assert offered(r, bookings=(BookedInterval(hm(10), hm(10, 30)),)) == [t for t in ALL if t != "10:00"]


# --------------------------------------------------------------------------- buffers

BUFFER_CASES = [
    pytest.param(
        {"buffer_before": 15, "slot_interval": 15}, (), (), grid("09:15", "16:30", 15), id="buffer-before-at-day-start"
    ),
    pytest.param({"buffer_before": 15}, (), (), grid("09:30", "16:30"), id="buffer-before-then-grid"),
    pytest.param(
        {"buffer_after": 15, "slot_interval": 15}, (), (), grid("09:00", "16:15", 15), id="buffer-after-at-day-end"
    ),
    pytest.param({"buffer_before": 240, "buffer_after": 210}, (), (), ["13:00"], id="buffers-fill-the-day"),
    pytest.param({"buffer_before": 240, "buffer_after": 211}, (), (), [], id="buffers-overfill-the-day"),
    pytest.param(
        {"buffer_after": 10, "slot_interval": 10},
        (busy(hm(12), hm(13)),),
        (),
        [t for t in grid("09:00", "16:20", 10) if not "11:20" < t < "13:00"],
        id="buffer-after-vs-busy",
    ),
    pytest.param(
        {"buffer_before": 10, "slot_interval": 10},
        (busy(hm(12), hm(13)),),
        (),
        [t for t in grid("09:10", "16:30", 10) if not "11:30" < t < "13:10"],
        id="buffer-before-vs-busy-busy-has-no-buffer",
    ),
    pytest.param(
        {"buffer_before": 10, "slot_interval": 10},
        (busy(hm(12), hm(12)),),
        (),
        grid("09:10", "16:30", 10),
        id="zero-length-busy-with-buffers",
    ),
    pytest.param(
        {"buffer_before": 15, "buffer_after": 15, "slot_interval": 15},
        (busy(hm(12), hm(12)),),
        (),
        grid("09:15", "16:15", 15),
        id="zero-length-busy-with-both-buffers",
    ),
    pytest.param(
        {"buffer_before": 10, "slot_interval": 10},
        (),
        (BookedInterval(hm(10), hm(10, 30), buffer_after=10),),
        [t for t in grid("09:10", "16:30", 10) if not "09:30" < t < "10:50"],
        id="buffers-add-up-between-bookings",
    ),
    pytest.param(
        {"slot_interval": 10},
        (),
        (BookedInterval(hm(10), hm(10, 30), buffer_before=5, buffer_after=10),),
        [t for t in grid("09:00", "16:30", 10) if not "09:20" < t < "10:40"],
        id="booking-own-buffers-block",
    ),
    pytest.param(
        {"buffer_after": 5, "slot_interval": 5, "durations": (25,)},
        (),
        (BookedInterval(hm(10), hm(10, 30)),),
        [t for t in grid("09:00", "16:30", 5) if not "09:30" < t < "10:30"],
        id="slot-and-buffer-end-exactly-at-booking",
    ),
    pytest.param(
        {"slot_interval": 30},
        (),
        (BookedInterval(hm(12), hm(12), buffer_before=30, buffer_after=30),),
        [t for t in ALL if t not in ("11:30", "12:00")],
        id="zero-length-booking-with-buffers-blocks",
    ),
    pytest.param({}, (), (BookedInterval(hm(12), hm(12)),), ALL, id="zero-length-booking-without-buffers"),
    pytest.param(
        {"buffer_before": 10, "buffer_after": 10, "slot_interval": 10},
        (),
        (BookedInterval(hm(12), hm(12)),),
        grid("09:10", "16:20", 10),
        id="zero-length-booking-without-own-buffers-vs-slot-buffers",
    ),
    pytest.param(
        {},
        (),
        (BookedInterval(hm(12) + timedelta(microseconds=5), hm(12) + timedelta(microseconds=5)),),
        ALL,
        id="zero-length-fractional-booking-without-buffers",
    ),
]


@pytest.mark.parametrize(("changes", "busy_time", "bookings", "expected"), BUFFER_CASES)
def test_buffers(
    changes: dict[str, object],
    busy_time: tuple[BusyInterval, ...],
    bookings: tuple[BookedInterval, ...],
    expected: list[str],
) -> None:
    r = dataclasses.replace(rules(), **changes)  # type: ignore[arg-type]
    assert offered(r, busy=busy_time, bookings=bookings) == expected


def test_buffers_must_be_working_time_across_a_midnight_stretch() -> None:
    # Monday 22:00-24:00 and Tuesday 00:00-02:00 are one stretch, so a buffer may cross midnight.
    avail = Availability("UTC", ((rng("22:00", "24:00"),), (rng("00:00", "02:00"),)) + ((),) * 5)
    r = rules(availability=avail, durations=(60,), buffer_before=30, buffer_after=30)
    window = Interval(hm(0), hm(0, 0, date(2027, 1, 6)))
    assert offered(r, window=window) == ["22:30", "23:00", "23:30", "00:00", "00:30"]


# --------------------------------------------------------------------------- bookings and holds


def test_live_hold_blocks_with_its_buffers() -> None:
    now = hm(8)
    hold = BookedInterval(hm(10), hm(10, 30), buffer_after=30, expires_at=now + timedelta(minutes=5))
    assert offered(rules(), now=now, bookings=(hold,)) == [t for t in ALL if t not in ("10:00", "10:30")]


@pytest.mark.parametrize("expired_for", [timedelta(0), timedelta(seconds=1), timedelta(days=3)])
def test_expired_hold_blocks_nothing(expired_for: timedelta) -> None:
    now = hm(8)
    hold = BookedInterval(hm(10), hm(10, 30), buffer_after=30, expires_at=now - expired_for)
    assert offered(rules(), now=now, bookings=(hold,)) == ALL


def test_hold_expiring_one_microsecond_after_now_still_blocks() -> None:
    now = hm(8)
    hold = BookedInterval(hm(10), hm(10, 30), expires_at=now + timedelta(microseconds=1))
    assert offered(rules(), now=now, bookings=(hold,)) == [t for t in ALL if t != "10:00"]


def test_booking_not_counting_toward_caps_blocks_but_does_not_count() -> None:
    r = rules(daily_cap=1)
    other = BookedInterval(hm(10), hm(10, 30), counts_toward_caps=False)
    assert offered(r, bookings=(other,)) == [t for t in ALL if t != "10:00"]


def test_booking_with_no_expiry_blocks() -> None:
    assert offered(rules(), bookings=(BookedInterval(hm(9), hm(17)),)) == []


# --------------------------------------------------------------------------- caps


def test_daily_cap_reached_closes_the_day() -> None:
    r = rules(daily_cap=1)
    booked = (BookedInterval(hm(9), hm(9, 30)),)
    assert offered(r, bookings=booked) == []
    assert offered(r, day=TUE, bookings=booked) == ALL


def test_daily_cap_not_yet_reached_leaves_the_day_open() -> None:
    r = rules(daily_cap=2)
    booked = (BookedInterval(hm(9), hm(9, 30)),)
    assert offered(r, bookings=booked) == ALL[1:]
    booked2 = (*booked, BookedInterval(hm(15), hm(15, 30)))
    assert offered(r, bookings=booked2) == []


def test_weekly_cap_reached_closes_the_iso_week() -> None:
    r = rules(weekly_cap=2)
    booked = (BookedInterval(hm(9), hm(9, 30)), BookedInterval(hm(9, 0, TUE), hm(9, 30, TUE)))
    for d in range(4, 11):
        assert offered(r, day=date(2027, 1, d), bookings=booked) == []
    assert offered(r, day=date(2027, 1, 11), bookings=booked) == ALL


def test_weekly_cap_uses_the_iso_week_across_new_year() -> None:
    # 2026-12-28 (Monday) to 2027-01-03 is ISO week 2026-W53.
    r = rules(weekly_cap=2)
    now = utc(2026, 12, 27)
    booked = (
        BookedInterval(hm(9, 0, date(2026, 12, 28)), hm(9, 30, date(2026, 12, 28))),
        BookedInterval(hm(9, 0, date(2027, 1, 1)), hm(9, 30, date(2027, 1, 1))),
    )
    for d in (date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)):
        assert offered(r, day=d, now=now, bookings=booked) == []
    assert offered(r, day=MON, now=now, bookings=booked) == ALL


def test_caps_count_by_host_local_date() -> None:
    # 16:00 UTC on Monday is 01:00 on Tuesday in Tokyo: it fills the host's Tuesday.
    r = rules("Asia/Tokyo", daily_cap=1)
    booked = (BookedInterval(utc(2027, 1, 4, 16), utc(2027, 1, 4, 16, 30)),)
    assert offered(r, day=MON, bookings=booked) == ALL
    assert offered(r, day=TUE, bookings=booked) == []


def test_expired_holds_do_not_count_toward_caps_live_ones_do() -> None:
    r = rules(daily_cap=1)
    now = hm(7)
    expired = BookedInterval(hm(9), hm(9, 30), expires_at=now)
    live = BookedInterval(hm(9), hm(9, 30), expires_at=now + timedelta(minutes=10))
    assert offered(r, now=now, bookings=(expired,)) == ALL
    assert offered(r, now=now, bookings=(live,)) == []


def test_bookings_outside_the_query_window_count_toward_caps() -> None:
    r = rules(weekly_cap=1)
    friday = date(2027, 1, 8)
    booked = (BookedInterval(hm(9, 0, friday), hm(9, 30, friday)),)
    assert offered(r, day=MON, bookings=booked) == []


# --------------------------------------------------------------------------- notice, booking window, query window


@pytest.mark.parametrize(
    ("now", "notice", "expected"),
    [
        pytest.param(hm(9, 10), 60, grid("10:30", "16:30"), id="cut-off-then-grid"),
        pytest.param(hm(9), 60, grid("10:00", "16:30"), id="start-exactly-at-cut-off"),
        pytest.param(hm(9) + timedelta(microseconds=1), 60, grid("10:30", "16:30"), id="one-microsecond-late"),
        pytest.param(hm(9, 30), 0, grid("09:30", "16:30"), id="no-notice-now-on-grid"),
        pytest.param(hm(9, 30, s=1), 0, grid("10:00", "16:30"), id="no-notice-just-after"),
        pytest.param(hm(0), 16 * 60 + 30, ["16:30"], id="long-notice"),
        pytest.param(hm(0), 16 * 60 + 31, [], id="notice-past-the-day"),
        pytest.param(hm(12), 0, grid("12:00", "16:30"), id="past-slots-never-offered"),
    ],
)
def test_minimum_notice(now: datetime, notice: int, expected: list[str]) -> None:
    assert offered(rules(minimum_notice=notice), now=now) == expected


def test_notice_counts_real_minutes_across_days() -> None:
    r = rules(minimum_notice=24 * 60)
    now = hm(12)
    assert offered(r, now=now) == []
    assert offered(r, day=TUE, now=now) == grid("12:00", "16:30")


def test_rolling_window_ends_at_local_midnight() -> None:
    r = rules(window=BookingWindow(rolling_days=1), start="00:00", end="24:00", weekdays=range(7), durations=(60,))
    now = hm(8)
    window = Interval(hm(0), hm(0, 0, date(2027, 1, 6)))
    got = offered(r, now=now, window=window)
    assert got == grid("08:00", "23:00")  # a 23:30 start would end after Monday's midnight


def test_rolling_window_counts_days_in_the_host_zone() -> None:
    # 12:00 UTC on 4 January is 01:00 on 5 January in Auckland: 'today' is the 5th there.
    r = rules("Pacific/Auckland", window=BookingWindow(rolling_days=2), weekdays=range(7))
    now = utc(2027, 1, 4, 12)
    assert offered(r, day=date(2027, 1, 5), now=now) == ALL
    assert offered(r, day=date(2027, 1, 6), now=now) == ALL
    assert offered(r, day=date(2027, 1, 7), now=now) == []


def test_rolling_window_of_sixty_days_by_default() -> None:
    r = EventRules((30,), Availability.business_hours("UTC", weekdays=range(7)))
    last = date(2027, 1, 1) + timedelta(days=59)
    assert offered(r, day=last) == ALL
    assert offered(r, day=last + timedelta(days=1)) == []


def test_fixed_window_bounds_both_ends() -> None:
    r = rules(window=BookingWindow.fixed(TUE, date(2027, 1, 6)))
    assert offered(r, day=MON) == []
    assert offered(r, day=TUE) == ALL
    assert offered(r, day=date(2027, 1, 6)) == ALL
    assert offered(r, day=date(2027, 1, 7)) == []


def test_fixed_window_edges_are_local_midnights() -> None:
    r = rules(window=BookingWindow.fixed(TUE, TUE), start="00:00", end="24:00", weekdays=range(7), durations=(60,))
    window = Interval(hm(0), hm(0, 0, date(2027, 1, 7)))
    got = compute_slots(r, now=NOW, window=window)
    assert got[0].start == hm(0, 0, TUE)
    assert got[-1].end == hm(0, 0, date(2027, 1, 6))
    assert len(got) == 47


def test_fixed_window_in_the_past_offers_nothing() -> None:
    r = rules(window=BookingWindow.fixed(date(2026, 12, 1), date(2026, 12, 31)))
    assert offered(r, day=MON) == []


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(hm(10), hm(12), grid("10:00", "11:30"), id="start-included-end-excluded"),
        pytest.param(hm(9, 45), hm(12), grid("10:00", "11:30"), id="slot-starting-before-window-excluded"),
        pytest.param(hm(10), hm(10), [], id="empty-window"),
        pytest.param(hm(10), hm(10, s=1), ["10:00"], id="one-second-window"),
        pytest.param(hm(10, s=1), hm(10, 30), [], id="just-after-a-start"),
        pytest.param(hm(16, 30), hm(23), ["16:30"], id="last-slot"),
    ],
)
def test_query_window_filters_starts(start: datetime, end: datetime, expected: list[str]) -> None:
    assert offered(rules(), window=Interval(start, end)) == expected


def test_now_after_the_window_offers_nothing() -> None:
    assert offered(rules(), now=hm(18)) == []


# --------------------------------------------------------------------------- working hours and overrides


def test_override_adds_hours_on_a_day_off() -> None:
    r = rules(overrides={SAT: (rng("10:00", "12:00"),)})
    assert offered(r, day=SAT) == grid("10:00", "11:30")
    assert offered(r, day=date(2027, 1, 10)) == []


def test_override_blocks_a_day() -> None:
    r = rules(overrides={MON: ()})
    assert offered(r) == []
    assert offered(r, day=TUE) == ALL


def test_override_replaces_the_weekly_hours() -> None:
    r = rules(overrides={MON: (rng("13:00", "14:00"), rng("15:00", "15:30"))})
    assert offered(r) == ["13:00", "13:30", "15:00"]


def test_ranges_meeting_at_midnight_form_one_stretch() -> None:
    avail = Availability("UTC", ((rng("22:00", "24:00"),), (rng("00:00", "02:00"),)) + ((),) * 5)
    r = rules(availability=avail, durations=(60,))
    window = Interval(hm(0), hm(0, 0, date(2027, 1, 6)))
    assert offered(r, window=window) == ["22:00", "22:30", "23:00", "23:30", "00:00", "00:30", "01:00"]


def test_range_ending_at_midnight_without_a_next_day() -> None:
    avail = Availability("UTC", ((rng("22:00", "24:00"),),) + ((),) * 6)
    r = rules(availability=avail, durations=(60,))
    window = Interval(hm(0), hm(0, 0, date(2027, 1, 6)))
    assert offered(r, window=window) == ["22:00", "22:30", "23:00"]


def test_override_meets_weekly_hours_at_midnight() -> None:
    avail = Availability("UTC", ((rng("22:00", "24:00"),),) + ((),) * 6, {TUE: (rng("00:00", "01:00"),)})
    r = rules(availability=avail, durations=(60,))
    window = Interval(hm(0), hm(0, 0, date(2027, 1, 6)))
    assert offered(r, window=window) == ["22:00", "22:30", "23:00", "23:30", "00:00"]


def test_touching_ranges_within_a_day_form_one_stretch() -> None:
    avail = Availability("UTC", ((rng("09:00", "10:00"), rng("10:00", "11:00")),) + ((),) * 6)
    r = rules(availability=avail, durations=(60,))
    assert offered(r) == ["09:00", "09:30", "10:00"]


def test_gap_between_ranges_is_not_working_time() -> None:
    avail = Availability("UTC", ((rng("09:00", "10:00"), rng("10:30", "11:30")),) + ((),) * 6)
    r = rules(availability=avail, durations=(60,))
    assert offered(r) == ["09:00", "10:30"]


# --------------------------------------------------------------------------- durations and grid


def test_several_durations() -> None:
    r = rules(durations=(30, 60))
    assert offered(r, duration=60) == grid("09:00", "16:00")
    assert offered(r, duration=30) == ALL
    assert offered(r) == ALL
    with pytest.raises(InvalidRule) as info:
        offered(r, duration=45)
    assert info.value.field == "duration"


def test_interval_longer_than_duration() -> None:
    assert offered(rules(slot_interval=90)) == ["09:00", "10:30", "12:00", "13:30", "15:00", "16:30"]


def test_odd_interval_is_counted_from_local_midnight() -> None:
    got = offered(rules(slot_interval=7))
    assert got[0] == "09:06" and got[-1] == "16:27"  # 546 and 987 minutes: multiples of 7
    assert len(got) == (987 - 546) // 7 + 1


def test_grid_ignores_where_free_time_starts() -> None:
    # Free time starts at 09:10 (after a busy block), but starts stay on the :00/:30 grid.
    assert offered(rules(), busy=(busy(hm(9), hm(9, 10)),)) == ALL[1:]


def test_default_interval_for_long_meetings_is_thirty_minutes() -> None:
    assert offered(rules(durations=(45,))) == grid("09:00", "16:00")
    assert offered(rules(durations=(20,))) == grid("09:00", "16:40", 20)


def test_whole_day_meeting() -> None:
    r = rules(durations=(1440,), start="00:00", end="24:00", weekdays=[0], slot_interval=1440)
    assert offered(r) == ["00:00"]


# --------------------------------------------------------------------------- the Slot type and is_bookable


def test_slot_type() -> None:
    s = compute_slots(rules(), now=NOW, window=day_window(MON))[0]
    assert s == Slot(hm(9), hm(9, 30))
    assert s.interval == Interval(hm(9), hm(9, 30))
    assert s.start.tzinfo is UTC and s.end.tzinfo is UTC


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        pytest.param(hm(9), True, id="first-slot"),
        pytest.param(hm(16, 30), True, id="last-slot"),
        pytest.param(hm(17), False, id="ends-after-hours"),
        pytest.param(hm(9, 15), False, id="off-grid"),
        pytest.param(hm(9) + timedelta(seconds=1), False, id="one-second-late"),
        pytest.param(hm(9) + timedelta(microseconds=1), False, id="one-microsecond-late"),
        pytest.param(hm(10), False, id="busy"),
        pytest.param(hm(11), False, id="booked"),
        pytest.param(hm(9, 0, SAT), False, id="day-off"),
        pytest.param(datetime(2027, 1, 4, 10, 30, tzinfo=ZoneInfo("Europe/Berlin")), True, id="aware-non-utc"),
    ],
)
def test_is_bookable(start: datetime, expected: bool) -> None:
    kw = {"now": NOW, "busy": (busy(hm(10), hm(10, 30)),), "bookings": (BookedInterval(hm(11), hm(11, 30)),)}
    r = rules()
    assert is_bookable(r, start, **kw) is expected  # type: ignore[arg-type]
    offered_starts = [s.start for s in compute_slots(r, window=day_window(start.astimezone(UTC).date()), **kw)]  # type: ignore[arg-type]
    assert (start in offered_starts) is expected


def test_is_bookable_respects_notice_caps_and_duration() -> None:
    r = rules(durations=(30, 60), minimum_notice=60, daily_cap=1)
    assert is_bookable(r, hm(10), now=hm(9))
    assert not is_bookable(r, hm(9, 30), now=hm(9))
    assert not is_bookable(r, hm(16, 30), now=NOW, duration=60)
    assert is_bookable(r, hm(16), now=NOW, duration=60)
    assert not is_bookable(r, hm(10), now=NOW, bookings=(BookedInterval(hm(15), hm(15, 30)),))
    with pytest.raises(InvalidRule):
        is_bookable(r, hm(10), now=NOW, duration=45)
