"""Slots on the 2027 DST change days, half-hour and 45-minute offsets, and the localtime helpers.

The documented rule (scheduling.localtime): a wall time in a spring-forward gap is read with the offset
before the gap (it moves forward by the gap's length); a wall time in a fall-back fold is its first
occurrence. Working hours stay wall-clock hours; grid points are wall-clock multiples of the interval
counted from local midnight, in both occurrences of a repeated hour.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduling.intervals import Interval
from scheduling.localtime import (
    DAY,
    day_segments,
    days_between,
    from_epoch,
    local_date,
    local_midnight_wall,
    offset_at,
    to_epoch,
    to_epoch_ceil,
    wall_to_epoch,
)
from scheduling.ports import BookedInterval, BusyInterval
from scheduling.rules import Availability, BookingWindow, EventRules
from scheduling.slots import compute_slots, is_bookable
from tests.scheduling.strategies import epoch, hours, local_labels, rng, transition_days, utc, wall

NOW = utc(2027, 1, 1)


def every_day(tz: str, start: str = "09:00", end: str = "17:00", **kw: object) -> EventRules:
    avail = kw.pop("availability", None) or hours(tz, start, end)
    durations = kw.pop("durations", (30,))
    kw.setdefault("window", BookingWindow(rolling_days=365))
    return EventRules(durations, avail, **kw)  # type: ignore[arg-type]


def day_window(day: date, tz: str) -> Interval:
    zi = ZoneInfo(tz)
    return Interval(datetime.combine(day, time(0), zi), datetime.combine(day + timedelta(days=1), time(0), zi))


def slots_on(
    r: EventRules,
    day: date,
    *,
    now: datetime = NOW,
    busy: Sequence[BusyInterval] = (),
    bookings: Sequence[BookedInterval] = (),
) -> list[tuple[datetime, datetime]]:
    window = day_window(day, r.time_zone)
    return [(s.start, s.end) for s in compute_slots(r, now=now, window=window, busy=busy, bookings=bookings)]


def labels(r: EventRules, day: date, *, busy: Sequence[BusyInterval] = ()) -> list[str]:
    return local_labels([s for s, _ in slots_on(r, day, busy=busy)], r.time_zone, "%H:%M %Z")


def test_the_2027_change_days_are_the_ones_under_test() -> None:
    assert transition_days("America/New_York", 2027) == [date(2027, 3, 14), date(2027, 11, 7)]
    assert transition_days("Europe/London", 2027) == [date(2027, 3, 28), date(2027, 10, 31)]
    assert transition_days("Australia/Sydney", 2027) == [date(2027, 4, 4), date(2027, 10, 3)]
    assert transition_days("Asia/Kolkata", 2027) == []


# --------------------------------------------------------------------------- 09:00-17:00 stays wall time


@pytest.mark.parametrize(
    ("tz", "day", "first_utc"),
    [
        ("America/New_York", date(2027, 3, 13), utc(2027, 3, 13, 14)),  # EST
        ("America/New_York", date(2027, 3, 14), utc(2027, 3, 14, 13)),  # EDT from today
        ("America/New_York", date(2027, 11, 6), utc(2027, 11, 6, 13)),  # EDT
        ("America/New_York", date(2027, 11, 7), utc(2027, 11, 7, 14)),  # EST from today
        ("Europe/London", date(2027, 3, 27), utc(2027, 3, 27, 9)),
        ("Europe/London", date(2027, 3, 28), utc(2027, 3, 28, 8)),
        ("Europe/London", date(2027, 10, 30), utc(2027, 10, 30, 8)),
        ("Europe/London", date(2027, 10, 31), utc(2027, 10, 31, 9)),
        ("Australia/Sydney", date(2027, 4, 3), utc(2027, 4, 2, 22)),  # AEDT
        ("Australia/Sydney", date(2027, 4, 4), utc(2027, 4, 3, 23)),  # AEST
        ("Australia/Sydney", date(2027, 10, 2), utc(2027, 10, 1, 23)),  # AEST
        ("Australia/Sydney", date(2027, 10, 3), utc(2027, 10, 2, 22)),  # AEDT
    ],
)
def test_working_hours_stay_on_the_wall_clock(tz: str, day: date, first_utc: datetime) -> None:
    r = every_day(tz)
    got = slots_on(r, day)
    assert len(got) == 16
    assert got[0][0] == first_utc
    assert got[-1][1] == first_utc + timedelta(hours=8)
    assert local_labels([s for s, _ in got], tz) == [f"{h:02d}:{m:02d}" for h in range(9, 17) for m in (0, 30)]
    assert all(e - s == timedelta(minutes=30) for s, e in got)


# --------------------------------------------------------------------------- overnight hours on change days


@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [
        pytest.param(
            "America/New_York",
            date(2027, 3, 14),
            ["00:00 EST", "01:00 EST", "03:00 EDT", "04:00 EDT", "05:00 EDT"],
            id="new-york-spring",
        ),
        pytest.param(
            "America/New_York",
            date(2027, 11, 7),
            ["00:00 EDT", "01:00 EDT", "01:00 EST", "02:00 EST", "03:00 EST", "04:00 EST", "05:00 EST"],
            id="new-york-fall",
        ),
        pytest.param(
            "Europe/London",
            date(2027, 3, 28),
            ["00:00 GMT", "02:00 BST", "03:00 BST", "04:00 BST", "05:00 BST"],
            id="london-spring",
        ),
        pytest.param(
            "Europe/London",
            date(2027, 10, 31),
            ["00:00 BST", "01:00 BST", "01:00 GMT", "02:00 GMT", "03:00 GMT", "04:00 GMT", "05:00 GMT"],
            id="london-fall",
        ),
        pytest.param(
            "Australia/Sydney",
            date(2027, 10, 3),
            ["00:00 AEST", "01:00 AEST", "03:00 AEDT", "04:00 AEDT", "05:00 AEDT"],
            id="sydney-spring",
        ),
        pytest.param(
            "Australia/Sydney",
            date(2027, 4, 4),
            ["00:00 AEDT", "01:00 AEDT", "02:00 AEDT", "02:00 AEST", "03:00 AEST", "04:00 AEST", "05:00 AEST"],
            id="sydney-fall",
        ),
    ],
)
def test_overnight_hours_across_the_change(tz: str, day: date, expected: list[str]) -> None:
    """00:00-06:00 is 5 real hours on a spring-forward night and 7 on a fall-back night."""
    r = every_day(tz, "00:00", "06:00", durations=(60,), slot_interval=60)
    assert labels(r, day) == expected
    got = slots_on(r, day)
    assert all(e - s == timedelta(hours=1) for s, e in got)
    assert [s for s, _ in got] == sorted({s for s, _ in got})


@pytest.mark.parametrize(
    ("tz", "day", "count"),
    [
        ("America/New_York", date(2027, 3, 14), 46),
        ("America/New_York", date(2027, 11, 7), 50),
        ("America/New_York", date(2027, 11, 8), 48),
        ("Europe/London", date(2027, 3, 28), 46),
        ("Europe/London", date(2027, 10, 31), 50),
        ("Australia/Sydney", date(2027, 10, 3), 46),
        ("Australia/Sydney", date(2027, 4, 4), 50),
        ("Asia/Kolkata", date(2027, 3, 14), 48),
    ],
)
def test_round_the_clock_hours_give_one_start_per_grid_point(tz: str, day: date, count: int) -> None:
    r = every_day(tz, "00:00", "24:00")
    got = slots_on(r, day)
    assert len(got) == count
    starts = [s for s, _ in got]
    assert all(b - a == timedelta(minutes=30) for a, b in itertools.pairwise(starts))


# --------------------------------------------------------------------------- the gap and fold rule


def test_range_starting_in_the_gap_moves_forward() -> None:
    # 02:30 does not exist on 14 March in New York: it is read as 03:30 EDT.
    r = every_day("America/New_York", "02:30", "04:00")
    assert labels(r, date(2027, 3, 14)) == ["03:30 EDT"]
    assert labels(r, date(2027, 3, 15)) == ["02:30 EDT", "03:00 EDT", "03:30 EDT"]


def test_range_ending_in_the_gap_moves_forward() -> None:
    # 01:30-02:30: 02:30 is read as 03:30 EDT, so the range is one real hour long.
    r = every_day("America/New_York", "01:30", "02:30")
    assert labels(r, date(2027, 3, 14)) == ["01:30 EST", "03:00 EDT"]
    got = slots_on(r, date(2027, 3, 14))
    assert got[0][0] == utc(2027, 3, 14, 6, 30) and got[-1][1] == utc(2027, 3, 14, 7, 30)


def test_range_in_the_fold_starts_at_the_first_occurrence() -> None:
    # 01:30 on 7 November is 01:30 EDT; 03:00 is EST: 2.5 real hours.
    r = every_day("America/New_York", "01:30", "03:00")
    assert labels(r, date(2027, 11, 7)) == ["01:30 EDT", "01:00 EST", "01:30 EST", "02:00 EST", "02:30 EST"]


def test_range_ending_in_the_fold_ends_at_the_first_occurrence() -> None:
    r = every_day("America/New_York", "00:00", "01:30")
    assert labels(r, date(2027, 11, 7)) == ["00:00 EDT", "00:30 EDT", "01:00 EDT"]


def test_meeting_may_span_the_gap_and_lasts_real_minutes() -> None:
    r = every_day("America/New_York", "00:00", "06:00", durations=(60,))
    got = dict(slots_on(r, date(2027, 3, 14)))
    start = wall("America/New_York", 2027, 3, 14, 1, 30)
    assert got[start] == start + timedelta(hours=1)
    assert got[start].astimezone(ZoneInfo("America/New_York")).strftime("%H:%M %Z") == "03:30 EDT"


def test_half_hour_dst_shift_lord_howe() -> None:
    r = every_day("Australia/Lord_Howe", "00:00", "04:00")
    spring, fall = transition_days("Australia/Lord_Howe", 2027)[::-1]
    assert local_labels([s for s, _ in slots_on(r, spring)], r.time_zone) == [
        "00:00",
        "00:30",
        "01:00",
        "01:30",
        "02:30",
        "03:00",
        "03:30",
    ]
    assert local_labels([s for s, _ in slots_on(r, fall)], r.time_zone) == [
        "00:00",
        "00:30",
        "01:00",
        "01:30",
        "01:30",
        "02:00",
        "02:30",
        "03:00",
        "03:30",
    ]
    hourly = every_day("Australia/Lord_Howe", "00:00", "04:00", durations=(60,), slot_interval=60)
    assert local_labels([s for s, _ in slots_on(hourly, spring)], r.time_zone) == ["00:00", "01:00", "03:00"]


def test_change_at_midnight_santiago() -> None:
    tz = "America/Santiago"
    # 5 September 2027: 00:00 does not exist (00:00 -04 becomes 01:00 -03).
    r = every_day(tz, "00:00", "03:00", durations=(60,), slot_interval=60)
    assert labels(r, date(2027, 9, 5)) == ["01:00 -03", "02:00 -03"]
    # ... and a 22:00-24:00 range the evening before runs into it without a break.
    avail = Availability(tz, ((rng("22:00", "24:00"),),) * 6 + ((rng("00:00", "03:00"),),))
    r2 = every_day(tz, availability=avail, durations=(120,), slot_interval=60)
    window = Interval(wall(tz, 2027, 9, 4), wall(tz, 2027, 9, 6))
    got = compute_slots(r2, now=NOW, window=window)
    assert local_labels([s.start for s in got], tz, "%d %H:%M %Z") == ["04 22:00 -04", "04 23:00 -04", "05 01:00 -03"]
    # 3 April 2027: 23:00-24:00 happens twice.
    r3 = every_day(tz, "22:00", "24:00", durations=(60,), slot_interval=60)
    assert labels(r3, date(2027, 4, 3)) == ["22:00 -03", "23:00 -03", "23:00 -04"]


def test_change_at_midnight_havana() -> None:
    r = every_day("America/Havana", "00:00", "02:00", durations=(60,), slot_interval=60)
    assert labels(r, date(2027, 3, 14)) == ["01:00 CDT"]
    assert labels(r, date(2027, 11, 7)) == ["00:00 CDT", "00:00 CST", "01:00 CST"]


# --------------------------------------------------------------------------- half-hour and 45-minute offsets


def test_kolkata_grid_is_on_the_local_quarter_hours() -> None:
    r = every_day("Asia/Kolkata", slot_interval=15)
    got = slots_on(r, date(2027, 3, 15))
    assert got[0][0] == utc(2027, 3, 15, 3, 30)  # 09:00 IST
    assert local_labels([s for s, _ in got], r.time_zone)[:5] == ["09:00", "09:15", "09:30", "09:45", "10:00"]
    assert len(got) == (16 * 60 + 30 - 9 * 60) // 15 + 1


@pytest.mark.parametrize(
    ("tz", "utc_minute"),
    [("Asia/Kolkata", 30), ("Asia/Kathmandu", 15), ("Pacific/Chatham", 15), ("America/St_Johns", 30)],
)
def test_hourly_grid_follows_the_local_hour(tz: str, utc_minute: int) -> None:
    r = every_day(tz, durations=(60,), slot_interval=60)
    got = slots_on(r, date(2027, 1, 4))
    assert [s.astimezone(ZoneInfo(tz)).minute for s, _ in got] == [0] * 8
    assert {s.minute for s, _ in got} == {utc_minute}


def test_kolkata_45_minute_grid_counts_from_local_midnight() -> None:
    r = every_day("Asia/Kolkata", slot_interval=45)
    labels_ = local_labels([s for s, _ in slots_on(r, date(2027, 1, 4))], "Asia/Kolkata")
    assert labels_[:4] == ["09:00", "09:45", "10:30", "11:15"]
    assert labels_[-1] == "16:30"  # 990 minutes = 22 * 45
    assert all((int(x[:2]) * 60 + int(x[3:])) % 45 == 0 for x in labels_)


# --------------------------------------------------------------------------- notice, window, busy, caps on change days


def test_notice_counts_real_time_across_spring_forward() -> None:
    r = every_day("America/New_York", minimum_notice=24 * 60)
    now = wall("America/New_York", 2027, 3, 13, 12)  # 12:00 EST = 17:00 UTC
    got = slots_on(r, date(2027, 3, 14), now=now)
    assert got[0][0] == utc(2027, 3, 14, 17)  # 13:00 EDT: 24 real hours later, 25 on the wall


def test_rolling_window_ends_at_local_midnight_after_a_change_day() -> None:
    r = every_day("America/New_York", "00:00", "24:00", durations=(60,), window=BookingWindow(rolling_days=2))
    now = wall("America/New_York", 2027, 3, 13, 8)
    got = slots_on(r, date(2027, 3, 14), now=now)
    assert got[-1][1] == wall("America/New_York", 2027, 3, 15, 0) == utc(2027, 3, 15, 4)
    assert not slots_on(r, date(2027, 3, 15), now=now)


def test_busy_time_in_utc_on_a_change_day() -> None:
    r = every_day("America/New_York", "00:00", "06:00", durations=(60,), slot_interval=60)
    busy = (BusyInterval(utc(2027, 3, 14, 6), utc(2027, 3, 14, 7)),)  # 01:00-02:00 EST, up to the gap
    assert labels(r, date(2027, 3, 14), busy=busy) == ["00:00 EST", "03:00 EDT", "04:00 EDT", "05:00 EDT"]


def test_busy_in_the_second_occurrence_of_the_repeated_hour() -> None:
    r = every_day("America/New_York", "00:00", "06:00", durations=(60,), slot_interval=60)
    second = wall("America/New_York", 2027, 11, 7, 1, fold=1)
    busy = (BusyInterval(second, second + timedelta(hours=1)),)
    assert labels(r, date(2027, 11, 7), busy=busy) == [
        "00:00 EDT",
        "01:00 EDT",
        "02:00 EST",
        "03:00 EST",
        "04:00 EST",
        "05:00 EST",
    ]


def test_caps_count_the_local_date_on_a_fall_back_night() -> None:
    # 23:30 EST on 7 November is 04:30 UTC on the 8th: it counts for the 7th.
    r = every_day("America/New_York", daily_cap=1)
    late = wall("America/New_York", 2027, 11, 7, 23, 30)
    booked = (BookedInterval(late, late + timedelta(minutes=30)),)
    assert slots_on(r, date(2027, 11, 7), bookings=booked) == []
    assert len(slots_on(r, date(2027, 11, 8), bookings=booked)) == 16


def test_is_bookable_on_both_occurrences_of_the_repeated_hour() -> None:
    r = every_day("America/New_York", "00:00", "06:00", durations=(30,))
    first = wall("America/New_York", 2027, 11, 7, 1, 30)
    second = wall("America/New_York", 2027, 11, 7, 1, 30, fold=1)
    assert second - first == timedelta(hours=1)
    assert is_bookable(r, first, now=NOW)
    assert is_bookable(r, second, now=NOW)
    assert not is_bookable(r, wall("America/New_York", 2027, 3, 14, 3, 15), now=NOW)  # off the grid


# --------------------------------------------------------------------------- localtime helpers


NY = ZoneInfo("America/New_York")


def test_wall_to_epoch_gap_and_fold_rule() -> None:
    assert wall_to_epoch(date(2027, 3, 14), 150, NY) == epoch(utc(2027, 3, 14, 7, 30))  # 02:30 -> 03:30 EDT
    assert wall_to_epoch(date(2027, 11, 7), 90, NY) == epoch(utc(2027, 11, 7, 5, 30))  # 01:30 EDT
    assert wall_to_epoch(date(2027, 1, 4), 540, NY) == epoch(utc(2027, 1, 4, 14))
    assert wall_to_epoch(date(2027, 1, 4), 1440, NY) == wall_to_epoch(date(2027, 1, 5), 0, NY)


@pytest.mark.parametrize(
    ("tz", "day", "lengths"),
    [
        ("America/New_York", date(2027, 1, 4), [24]),
        ("America/New_York", date(2027, 3, 14), [2, 21]),
        ("America/New_York", date(2027, 11, 7), [2, 23]),
        ("Europe/London", date(2027, 3, 28), [1, 22]),
        ("Europe/London", date(2027, 10, 31), [2, 23]),
        ("Australia/Sydney", date(2027, 10, 3), [2, 21]),
        ("Australia/Sydney", date(2027, 4, 4), [3, 22]),
        ("Asia/Kolkata", date(2027, 3, 14), [24]),
    ],
)
def test_day_segments(tz: str, day: date, lengths: list[int]) -> None:
    zi = ZoneInfo(tz)
    segs = day_segments(day, zi)
    assert [(s.end - s.start) / 3600 for s in segs] == lengths
    assert segs[0].start == wall_to_epoch(day, 0, zi) and segs[-1].end == wall_to_epoch(day + timedelta(days=1), 0, zi)
    for a, b in itertools.pairwise(segs):
        assert a.end == b.start and a.offset != b.offset
    for s in segs:
        assert offset_at(s.start, zi) == s.offset == offset_at(s.end - 1, zi)
        assert s.day == day and s.anchor == local_midnight_wall(day)
        # The phase puts grid points on wall-clock multiples of the step.
        for step in (15 * 60, 25 * 60, 3600):
            first = s.start + (s.phase(step) - s.start) % step
            local = datetime.fromtimestamp(first, zi)
            assert (local.hour * 3600 + local.minute * 60) % step == 0


def test_epoch_conversions() -> None:
    t = utc(2027, 1, 4, 9)
    assert to_epoch(t) == to_epoch_ceil(t) == epoch(t)
    frac = t + timedelta(microseconds=1)
    assert to_epoch(frac) == epoch(t) and to_epoch_ceil(frac) == epoch(t) + 1
    before = t - timedelta(microseconds=1)
    assert to_epoch(before) == epoch(t) - 1 and to_epoch_ceil(before) == epoch(t)
    old = datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)
    assert to_epoch(old) == -1 and to_epoch_ceil(old) == 0
    assert from_epoch(epoch(t)) == t and from_epoch(0).tzinfo is UTC
    assert to_epoch(datetime(2027, 1, 4, 4, tzinfo=NY)) == epoch(t)


def test_offset_local_date_and_days_between() -> None:
    assert offset_at(epoch(utc(2027, 3, 14, 6, 59)), NY) == -5 * 3600
    assert offset_at(epoch(utc(2027, 3, 14, 7)), NY) == -4 * 3600
    assert local_date(epoch(utc(2027, 1, 5, 3)), NY) == date(2027, 1, 4)
    assert list(days_between(date(2027, 1, 30), date(2027, 2, 2))) == [
        date(2027, 1, 30),
        date(2027, 1, 31),
        date(2027, 2, 1),
        date(2027, 2, 2),
    ]
    assert list(days_between(date(2027, 1, 2), date(2027, 1, 1))) == []
    assert local_midnight_wall(date(1970, 1, 2)) == DAY
