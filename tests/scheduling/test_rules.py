"""Event-type rules: parsing, busy statuses, and validation (every problem names its field)."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from scheduling.errors import InvalidRule, SchedulingError, SlotwiseError
from scheduling.intervals import Interval
from scheduling.rules import (
    DEFAULT_BLOCKING_STATUSES,
    Availability,
    BookingWindow,
    BusyStatus,
    EventRules,
    LocalRange,
    default_slot_interval,
    format_hhmm,
    parse_hhmm,
)
from scheduling.slots import compute_slots, resolve_duration
from tests.scheduling.strategies import hours, rng, utc

# --------------------------------------------------------------------------- parse_hhmm / LocalRange


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("00:00", 0),
        ("09:00", 540),
        ("9:30", 570),
        ("09:30", 570),
        ("23:59", 1439),
        ("24:00", 1440),
        (" 08:15 ", 495),
    ],
)
def test_parse_hhmm_accepts(text: str, minutes: int) -> None:
    assert parse_hhmm(text) == minutes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("24:01", "between 00:00 and 24:00"),
        ("9:60", "between 00:00 and 24:00"),
        ("25:00", "between 00:00 and 24:00"),
        ("99:99", "between 00:00 and 24:00"),
        ("9", "not a time like 09:00"),
        ("9:5", "not a time like 09:00"),
        ("09:000", "not a time like 09:00"),
        ("123:00", "not a time like 09:00"),
        ("-1:00", "not a time like 09:00"),
        ("09.30", "not a time like 09:00"),
        ("9am", "not a time like 09:00"),
        ("", "not a time like 09:00"),
    ],
)
def test_parse_hhmm_rejects_with_a_readable_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_hhmm(text)
    assert repr(text)[1:-1] in str(info.value)


@pytest.mark.parametrize("minutes", [0, 5, 59, 60, 540, 1439, 1440])
def test_format_hhmm_round_trips(minutes: int) -> None:
    assert parse_hhmm(format_hhmm(minutes)) == minutes


def test_format_hhmm() -> None:
    assert format_hhmm(0) == "00:00"
    assert format_hhmm(570) == "09:30"
    assert format_hhmm(1440) == "24:00"


def test_local_range_parse_and_str() -> None:
    r = LocalRange.parse("09:00", "17:30")
    assert r == LocalRange(540, 1050)
    assert str(r) == "09:00-17:30"
    assert LocalRange.parse("22:00", "24:00") == LocalRange(1320, 1440)
    assert str(LocalRange(0, 1440)) == "00:00-24:00"


@pytest.mark.parametrize(("start", "end"), [("24:01", "24:00"), ("09:00", "9:60"), ("x", "10:00")])
def test_local_range_parse_rejects(start: str, end: str) -> None:
    with pytest.raises(ValueError):
        LocalRange.parse(start, end)


# --------------------------------------------------------------------------- BusyStatus


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("free", BusyStatus.FREE),
        ("Free", BusyStatus.FREE),
        ("busy", BusyStatus.BUSY),
        ("Busy", BusyStatus.BUSY),
        ("BUSY", BusyStatus.BUSY),
        ("TENTATIVE", BusyStatus.TENTATIVE),
        ("tentative", BusyStatus.TENTATIVE),
        ("oof", BusyStatus.OOF),
        ("OOF", BusyStatus.OOF),
        ("workingElsewhere", BusyStatus.WORKING_ELSEWHERE),
        ("workingelsewhere", BusyStatus.WORKING_ELSEWHERE),
        ("WorkingElsewhere", BusyStatus.WORKING_ELSEWHERE),
        (" busy ", BusyStatus.BUSY),
        ("unknown", BusyStatus.UNKNOWN),
        ("Unknown", BusyStatus.UNKNOWN),
        ("", BusyStatus.UNKNOWN),
        ("away", BusyStatus.UNKNOWN),
        ("working elsewhere", BusyStatus.UNKNOWN),
    ],
)
def test_busy_status_parse(text: str, status: BusyStatus) -> None:
    assert BusyStatus.parse(text) is status


def test_busy_status_values_are_graph_spellings() -> None:
    assert [s.value for s in BusyStatus] == ["free", "tentative", "busy", "oof", "workingElsewhere", "unknown"]


def test_default_blocking_statuses() -> None:
    assert (
        frozenset({BusyStatus.TENTATIVE, BusyStatus.BUSY, BusyStatus.OOF, BusyStatus.UNKNOWN})
        == DEFAULT_BLOCKING_STATUSES
    )
    assert BusyStatus.FREE not in DEFAULT_BLOCKING_STATUSES
    assert BusyStatus.WORKING_ELSEWHERE not in DEFAULT_BLOCKING_STATUSES
    assert EventRules((30,), hours("UTC")).blocking_statuses == DEFAULT_BLOCKING_STATUSES


# --------------------------------------------------------------------------- Availability and defaults


def test_business_hours() -> None:
    a = Availability.business_hours("Europe/London")
    nine_to_five = (LocalRange(540, 1020),)
    assert a.weekly == (nine_to_five,) * 5 + ((), ())
    assert a.time_zone == "Europe/London"
    assert a.overrides == {}
    b = Availability.business_hours("UTC", "08:30", "12:00", weekdays=[5, 6])
    assert b.weekly == ((),) * 5 + ((LocalRange(510, 720),),) * 2


def test_ranges_on_uses_overrides_first() -> None:
    extra = (rng("10:00", "12:00"),)
    a = Availability("UTC", Availability.business_hours("UTC").weekly, {date(2027, 1, 9): extra, date(2027, 1, 4): ()})
    assert a.ranges_on(date(2027, 1, 9)) == extra  # a Saturday with added hours
    assert a.ranges_on(date(2027, 1, 4)) == ()  # a Monday blocked
    assert a.ranges_on(date(2027, 1, 5)) == (rng("09:00", "17:00"),)  # an ordinary Tuesday
    assert a.ranges_on(date(2027, 1, 10)) == ()  # an ordinary Sunday


@pytest.mark.parametrize(
    ("duration", "interval"),
    [(5, 5), (10, 10), (15, 15), (20, 20), (30, 30), (25, 30), (45, 30), (60, 30), (90, 30), (1, 30)],
)
def test_default_slot_interval(duration: int, interval: int) -> None:
    assert default_slot_interval(duration) == interval
    assert EventRules((duration,), hours("UTC")).interval == interval


def test_explicit_interval_and_first_duration_is_default() -> None:
    r = EventRules((45, 15), hours("UTC"), slot_interval=15)
    assert r.interval == 15
    assert r.duration == 45
    assert r.time_zone == "UTC"
    assert EventRules((15, 45), hours("UTC")).interval == 15  # from the default (first) duration


def test_default_booking_window_is_sixty_rolling_days() -> None:
    assert EventRules((30,), hours("UTC")).window == BookingWindow(rolling_days=60)


# --------------------------------------------------------------------------- validation

VALID = EventRules((30,), hours("Europe/London"))


def test_valid_rules_validate_to_themselves() -> None:
    assert VALID.problems() == {}
    assert VALID.validate() is VALID


INVALID_CASES = [
    # (changes, field, words the message must contain)
    pytest.param({"durations": ()}, "durations", "at least one", id="no-duration"),
    pytest.param({"durations": (0,)}, "durations", "at least 1 minute", id="zero-duration"),
    pytest.param({"durations": (-30,)}, "durations", "at least 1 minute", id="negative-duration"),
    pytest.param({"durations": (30, -5)}, "durations", "at least 1 minute", id="one-negative-duration"),
    pytest.param({"durations": (1441,)}, "durations", "longer than 24 hours", id="over-24h"),
    pytest.param({"durations": (30, 30)}, "durations", "only once", id="duplicate-durations"),
    pytest.param({"slot_interval": 0}, "slot_interval", "between 1 minute and 24 hours", id="interval-zero"),
    pytest.param({"slot_interval": -15}, "slot_interval", "between 1 minute", id="interval-negative"),
    pytest.param({"slot_interval": 1441}, "slot_interval", "24 hours", id="interval-too-long"),
    pytest.param({"buffer_before": -5}, "buffer_before", "between 0 minutes", id="negative-buffer-before"),
    pytest.param({"buffer_after": -1}, "buffer_after", "between 0 minutes", id="negative-buffer-after"),
    pytest.param({"buffer_after": 1441}, "buffer_after", "24 hours", id="buffer-too-long"),
    pytest.param({"minimum_notice": -1}, "minimum_notice", "between 0 and 365 days", id="negative-notice"),
    pytest.param({"minimum_notice": 365 * 1440 + 1}, "minimum_notice", "365 days", id="notice-too-long"),
    pytest.param({"daily_cap": 0}, "daily_cap", "at least 1 booking", id="daily-cap-zero"),
    pytest.param({"weekly_cap": -2}, "weekly_cap", "at least 1 booking", id="weekly-cap-negative"),
    pytest.param({"window": BookingWindow(rolling_days=366)}, "booking_window", "1 to 365 days", id="rolling-over-365"),
    pytest.param({"window": BookingWindow(rolling_days=0)}, "booking_window", "1 to 365 days", id="rolling-zero"),
    pytest.param(
        {"window": BookingWindow.fixed(date(2027, 1, 1), date(2028, 1, 1))},
        "booking_window",
        "longer than 365 days",
        id="fixed-over-365",
    ),
    pytest.param(
        {"window": BookingWindow.fixed(date(2027, 3, 2), date(2027, 3, 1))},
        "booking_window",
        "before its first date",
        id="fixed-inverted",
    ),
    pytest.param(
        {"window": BookingWindow(rolling_days=None, start_date=date(2027, 3, 1))},
        "booking_window",
        "both a first and a last date",
        id="fixed-missing-end",
    ),
    pytest.param(
        {"window": BookingWindow(rolling_days=30, end_date=date(2027, 3, 1))},
        "booking_window",
        "not both",
        id="rolling-and-fixed",
    ),
    pytest.param({"availability": hours("Mars/Olympus_Mons")}, "time_zone", "Mars/Olympus_Mons", id="unknown-zone"),
    pytest.param(
        {"availability": hours("Pacific Standard Time")}, "time_zone", "IANA name", id="windows-name-is-not-iana"
    ),
    pytest.param(
        {"availability": hours("UTC", "17:00", "09:00")},
        "weekly_hours.monday",
        "ends before it starts",
        id="inverted-weekly-range",
    ),
    pytest.param(
        {"availability": hours("UTC", "09:00", "09:00")},
        "weekly_hours.monday",
        "ends before it starts",
        id="empty-weekly-range",
    ),
    pytest.param(
        {"availability": Availability("UTC", ((rng("09:00", "12:00"), rng("11:00", "13:00")),) + ((),) * 6)},
        "weekly_hours.monday",
        "overlap",
        id="overlapping-weekly-ranges",
    ),
    pytest.param(
        {
            "availability": Availability(
                "UTC", ((),) * 3 + ((rng("11:00", "13:00"), rng("09:00", "12:00")),) + ((),) * 3
            )
        },
        "weekly_hours.thursday",
        "overlap",
        id="overlapping-unsorted-thursday",
    ),
    pytest.param(
        {"availability": Availability("UTC", ((),) * 6 + ((LocalRange(-60, 600),),))},
        "weekly_hours.sunday",
        "outside 00:00-24:00",
        id="range-before-midnight",
    ),
    pytest.param(
        {"availability": Availability("UTC", ((LocalRange(600, 1500),),) + ((),) * 6)},
        "weekly_hours.monday",
        "outside 00:00-24:00",
        id="range-past-24h",
    ),
    pytest.param(
        {"availability": Availability("UTC", ((),) * 6)},  # type: ignore[arg-type]
        "weekly_hours",
        "7 weekdays",
        id="six-weekdays",
    ),
    pytest.param(
        {"availability": hours("UTC", overrides={date(2027, 1, 4): (rng("12:00", "10:00"),)})},
        "date_overrides.2027-01-04",
        "ends before it starts",
        id="inverted-override",
    ),
    pytest.param(
        {"availability": hours("UTC", overrides={date(2027, 1, 4): (rng("10:00", "12:00"), rng("11:30", "13:00"))})},
        "date_overrides.2027-01-04",
        "overlap",
        id="overlapping-override",
    ),
]


@pytest.mark.parametrize(("changes", "field", "words"), INVALID_CASES)
def test_each_invalid_rule_names_its_field(changes: dict[str, object], field: str, words: str) -> None:
    bad = dataclasses.replace(VALID, **changes)  # type: ignore[arg-type]
    problems = bad.problems()
    assert field in problems, problems
    assert words in problems[field]
    assert problems[field].endswith("."), "messages are sentences"
    with pytest.raises(InvalidRule) as info:
        bad.validate()
    assert info.value.field == field
    assert str(info.value) == problems[field] == info.value.message
    assert isinstance(info.value, SchedulingError) and isinstance(info.value, SlotwiseError)
    assert info.value.code in ("invalid_rule", "unknown_time_zone")


@pytest.mark.parametrize(("changes", "field", "words"), INVALID_CASES)
def test_slot_computation_refuses_invalid_rules(changes: dict[str, object], field: str, words: str) -> None:
    bad = dataclasses.replace(VALID, **changes)  # type: ignore[arg-type]
    with pytest.raises(InvalidRule) as info:
        compute_slots(bad, now=utc(2027, 1, 4), window=_week())
    assert info.value.field == field


def _week() -> Interval:
    return Interval(utc(2027, 1, 4), utc(2027, 1, 11))


def test_problems_lists_every_problem_at_once() -> None:
    weekly = ((rng("12:00", "10:00"),), (rng("09:00", "12:00"), rng("11:00", "13:00"))) + ((),) * 5
    bad = EventRules(
        durations=(0,),
        availability=Availability(
            "Nowhere/Special",
            weekly,
            {date(2027, 5, 1): (rng("13:00", "13:00"),)},
        ),
        slot_interval=0,
        buffer_before=-1,
        buffer_after=-1,
        minimum_notice=-1,
        window=BookingWindow.fixed(date(2027, 2, 1), date(2027, 1, 1)),
        daily_cap=0,
        weekly_cap=0,
    )
    assert set(bad.problems()) == {
        "durations",
        "slot_interval",
        "buffer_before",
        "buffer_after",
        "minimum_notice",
        "daily_cap",
        "weekly_cap",
        "booking_window",
        "time_zone",
        "weekly_hours.monday",
        "weekly_hours.tuesday",
        "date_overrides.2027-05-01",
    }
    with pytest.raises(InvalidRule) as info:
        bad.validate()
    assert info.value.field == next(iter(bad.problems()))


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"durations": (1,)}, id="one-minute"),
        pytest.param({"durations": (1440,)}, id="24-hours"),
        pytest.param({"durations": (15, 30, 60)}, id="several"),
        pytest.param({"slot_interval": 1}, id="interval-1"),
        pytest.param({"slot_interval": 1440}, id="interval-24h"),
        pytest.param({"buffer_before": 0, "buffer_after": 1440}, id="buffers-at-bounds"),
        pytest.param({"minimum_notice": 365 * 1440}, id="notice-365-days"),
        pytest.param({"daily_cap": 1, "weekly_cap": 1}, id="caps-1"),
        pytest.param({"window": BookingWindow(rolling_days=1)}, id="rolling-1"),
        pytest.param({"window": BookingWindow(rolling_days=365)}, id="rolling-365"),
        pytest.param({"window": BookingWindow.fixed(date(2027, 1, 1), date(2027, 1, 1))}, id="fixed-one-day"),
        pytest.param({"window": BookingWindow.fixed(date(2027, 1, 1), date(2027, 12, 31))}, id="fixed-365"),
        pytest.param({"availability": hours("UTC", "00:00", "24:00")}, id="whole-day"),
        pytest.param(
            {"availability": Availability("UTC", ((rng("09:00", "12:00"), rng("12:00", "13:00")),) + ((),) * 6)},
            id="touching-ranges",
        ),
        pytest.param({"availability": hours("Asia/Kolkata", overrides={date(2027, 1, 4): ()})}, id="blocked-day"),
        pytest.param({"blocking_statuses": frozenset()}, id="nothing-blocks"),
    ],
)
def test_boundary_values_are_valid(changes: dict[str, object]) -> None:
    assert dataclasses.replace(VALID, **changes).problems() == {}  # type: ignore[arg-type]


def test_validation_of_each_weekday_is_named() -> None:
    for d, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")):
        weekly = tuple((rng("10:00", "09:00"),) if i == d else () for i in range(7))
        assert list(Availability("UTC", weekly).problems()) == [f"weekly_hours.{name}"]  # type: ignore[arg-type]


def test_availability_problems_prefix() -> None:
    a = hours("Nowhere/Special")
    assert a.problems(prefix="members.ann.") == {
        "members.ann.time_zone": "'Nowhere/Special' is not a time zone we know. Use an IANA name such as "
        "'Europe/London'."
    }


# --------------------------------------------------------------------------- several durations


def test_duration_must_be_one_of_the_offered_durations() -> None:
    r = EventRules((30, 60), hours("UTC"))
    assert resolve_duration(r, None) == 30
    assert resolve_duration(r, 60) == 60
    with pytest.raises(InvalidRule) as info:
        resolve_duration(r, 45)
    assert info.value.field == "duration"
    assert "30 min, 60 min" in info.value.message and "45" in info.value.message
    with pytest.raises(InvalidRule) as info:
        compute_slots(r, now=utc(2027, 1, 4), window=_week(), duration=45)
    assert info.value.field == "duration"


def test_compute_slots_with_no_durations_is_an_invalid_rule_not_a_crash() -> None:
    bad = dataclasses.replace(VALID, durations=())
    with pytest.raises(InvalidRule) as info:
        compute_slots(bad, now=utc(2027, 1, 4), window=_week())
    assert info.value.field == "durations"
