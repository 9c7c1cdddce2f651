"""Unit tests of the emulator's pure parts: recurrence expansion, wire time formats, ids, faults, getSchedule's
availabilityView."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.sandbox.errors import GraphError, format_retry_after
from graph.sandbox.faults import Faults
from graph.sandbox.ids import IdFactory, decode_event_id, occurrence_id
from graph.sandbox.recurrence import WEEKDAYS, Recurrence, RecurrenceError, occurrence_dates, parse_recurrence
from graph.sandbox.routes_schedule import DIGITS, STRENGTH, availability_view
from graph.sandbox.timefmt import (
    fmt_stamp,
    fmt_wall,
    localize,
    parse_dttz,
    parse_prefer,
    parse_query_instant,
    parse_wall,
    resolve_zone,
    to_dttz,
)


def rec(pattern: dict[str, object], rng: dict[str, object], start: date = date(2030, 3, 4)) -> Recurrence:
    return parse_recurrence({"pattern": pattern, "range": rng}, start)


def test_weekly_interval_and_first_day_of_week() -> None:
    r = rec(
        {"type": "weekly", "interval": 2, "daysOfWeek": ["sunday", "wednesday"], "firstDayOfWeek": "monday"},
        {"type": "numbered", "numberOfOccurrences": 4},
    )
    # weeks start on Monday: Wed 6, Sun 10, (skip a week), Wed 20, Sun 24
    assert list(occurrence_dates(r, date(2031, 1, 1))) == [
        date(2030, 3, 6),
        date(2030, 3, 10),
        date(2030, 3, 20),
        date(2030, 3, 24),
    ]
    sunday_first = rec(
        {"type": "weekly", "interval": 2, "daysOfWeek": ["sunday", "wednesday"]},
        {"type": "numbered", "numberOfOccurrences": 3},
    )
    # weeks start on Sunday (default): Wed 6, (skip), Sun 17, Wed 20
    assert list(occurrence_dates(sunday_first, date(2031, 1, 1))) == [
        date(2030, 3, 6),
        date(2030, 3, 17),
        date(2030, 3, 20),
    ]


def test_monthly_and_yearly_patterns() -> None:
    second_tuesday = rec(
        {"type": "relativeMonthly", "daysOfWeek": ["tuesday"], "index": "second"},
        {"type": "numbered", "numberOfOccurrences": 2},
    )
    assert list(occurrence_dates(second_tuesday, date(2031, 1, 1))) == [date(2030, 3, 12), date(2030, 4, 9)]
    last_weekday = rec(
        {
            "type": "relativeMonthly",
            "index": "last",
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
        },
        {"type": "numbered", "numberOfOccurrences": 2},
    )
    assert list(occurrence_dates(last_weekday, date(2031, 1, 1))) == [date(2030, 3, 29), date(2030, 4, 30)]
    yearly = rec(
        {"type": "absoluteYearly", "dayOfMonth": 29, "month": 2}, {"type": "numbered", "numberOfOccurrences": 3}
    )
    assert list(occurrence_dates(yearly, date(2040, 1, 1))) == [date(2031, 2, 28), date(2032, 2, 29), date(2033, 2, 28)]
    thanksgiving = rec(
        {"type": "relativeYearly", "month": 11, "daysOfWeek": ["thursday"], "index": "fourth"},
        {"type": "endDate", "endDate": "2031-12-31"},
    )
    assert list(occurrence_dates(thanksgiving, date(2040, 1, 1))) == [date(2030, 11, 28), date(2031, 11, 27)]


def test_ranges_stop_at_end_date_or_until() -> None:
    daily = rec({"type": "daily"}, {"type": "endDate", "endDate": "2030-03-06"})
    assert list(occurrence_dates(daily, date(2031, 1, 1))) == [date(2030, 3, 4), date(2030, 3, 5), date(2030, 3, 6)]
    forever = rec({"type": "daily", "interval": 3}, {"type": "noEnd"})
    assert list(occurrence_dates(forever, date(2030, 3, 10))) == [date(2030, 3, 4), date(2030, 3, 7), date(2030, 3, 10)]
    graph = forever.to_graph("UTC")
    assert graph["pattern"]["interval"] == 3 and graph["range"]["type"] == "noEnd"


@pytest.mark.parametrize(
    ("pattern", "rng", "needle"),
    [
        ({"type": "hourly"}, {"type": "noEnd"}, "pattern.type"),
        ({"type": "daily", "interval": 0}, {"type": "noEnd"}, "interval"),
        ({"type": "weekly"}, {"type": "noEnd"}, "daysOfWeek"),
        ({"type": "weekly", "daysOfWeek": ["funday"]}, {"type": "noEnd"}, "daysOfWeek"),
        ({"type": "absoluteMonthly"}, {"type": "noEnd"}, "dayOfMonth"),
        ({"type": "absoluteYearly", "dayOfMonth": 3}, {"type": "noEnd"}, "month"),
        ({"type": "daily"}, {"type": "numbered"}, "numberOfOccurrences"),
        ({"type": "daily"}, {"type": "endDate"}, "endDate"),
        ({"type": "daily"}, {"type": "endDate", "endDate": "2030-01-01"}, "endDate"),
        ({"type": "daily"}, {"type": "forever"}, "range.type"),
    ],
)
def test_invalid_recurrences(pattern: dict[str, object], rng: dict[str, object], needle: str) -> None:
    with pytest.raises(RecurrenceError, match=needle):
        rec(pattern, rng)


@settings(max_examples=60, deadline=None)
@given(
    days=st.sets(st.sampled_from(WEEKDAYS), min_size=1),
    interval=st.integers(1, 4),
    count=st.integers(1, 30),
    start=st.dates(date(2020, 1, 1), date(2040, 1, 1)),
)
def test_weekly_occurrences_property(days: set[str], interval: int, count: int, start: date) -> None:
    r = rec(
        {"type": "weekly", "interval": interval, "daysOfWeek": sorted(days)},
        {"type": "numbered", "numberOfOccurrences": count},
        start,
    )
    dates = list(occurrence_dates(r, start + timedelta(days=7 * interval * (count + 1))))
    assert len(dates) == count
    assert all(d >= start for d in dates) and dates == sorted(set(dates))
    assert {WEEKDAYS[d.weekday()] for d in dates} <= days
    week0 = start - timedelta(days=(start.weekday() + 1) % 7)  # Sunday-first weeks
    assert all(((d - week0).days // 7) % interval == 0 for d in dates)


def test_parse_wall_and_query_instants() -> None:
    assert parse_wall("2019-03-15T12:00:00.0000000") == (datetime(2019, 3, 15, 12), None)
    assert parse_wall("2019-03-15T12:00:00.1234567Z") == (datetime(2019, 3, 15, 12, 0, 0, 123456), timedelta(0))
    assert parse_wall("2019-11-08T19:00:00-08:00")[1] == timedelta(hours=-8)
    assert parse_query_instant("s", "2019-11-08T19:00:00-08:00") == datetime(2019, 11, 9, 3, tzinfo=UTC)
    assert parse_query_instant("s", "2019-11-08") == datetime(2019, 11, 8, tzinfo=UTC)
    with pytest.raises(GraphError):
        parse_wall("2019-02-30T00:00:00")


def test_zones_windows_iana_and_unknown() -> None:
    assert resolve_zone("Pacific Standard Time").key == "America/Los_Angeles"
    assert resolve_zone("Europe/Berlin").key == "Europe/Berlin"
    assert resolve_zone("tzone://Microsoft/Utc").key == "UTC"
    for bad in ("Greenwich Mean Time", "", None, "Mars/Olympus"):
        with pytest.raises(GraphError) as info:
            resolve_zone(bad)
        assert info.value.code == "TimeZoneNotSupportedException"


def test_dttz_roundtrip_and_formats() -> None:
    instant, zone, wall = parse_dttz(
        {"dateTime": "2030-03-10T09:00:00", "timeZone": "Pacific Standard Time"}, field="start"
    )
    assert instant == datetime(2030, 3, 10, 16, tzinfo=UTC) and zone == "Pacific Standard Time"
    assert wall == datetime(2030, 3, 10, 9)
    assert to_dttz(instant, "India Standard Time") == {
        "dateTime": "2030-03-10T21:30:00.0000000",
        "timeZone": "India Standard Time",
    }
    assert fmt_wall(datetime(2030, 1, 2, 3, 4, 5, 600000)) == "2030-01-02T03:04:05.6000000"
    assert fmt_stamp(datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2030-01-02T03:04:05.0000000Z"
    explicit = parse_dttz({"dateTime": "2030-03-10T09:00:00Z", "timeZone": "Pacific Standard Time"}, field="s")
    assert explicit[0] == datetime(2030, 3, 10, 9, tzinfo=UTC)


def test_dst_gap_moves_forward() -> None:
    # 02:30 does not exist in Los Angeles on 2030-03-10
    tz = resolve_zone("America/Los_Angeles")
    assert localize(datetime(2030, 3, 10, 2, 30), tz).astimezone(tz).hour == 3


def test_prefer_parsing() -> None:
    prefs = parse_prefer(
        ['outlook.timezone="Pacific Standard Time", odata.maxpagesize=5', 'outlook.body-content-type="text"']
    )
    assert prefs == {
        "outlook.timezone": "Pacific Standard Time",
        "odata.maxpagesize": "5",
        "outlook.body-content-type": "text",
    }
    assert parse_prefer(['outlook.timezone="A, B"']) == {"outlook.timezone": "A, B"}


def test_ids_are_base64_with_special_characters_and_decode() -> None:
    ids = IdFactory(1)
    for _ in range(50):
        event_id, key = ids.event_id()
        assert ("/" in event_id or "+" in event_id) and event_id.endswith("=")
        assert decode_event_id(event_id) == ("event", key, None)
        occ = occurrence_id(key, date(2030, 3, 4))
        assert decode_event_id(occ) == ("occurrence", key, date(2030, 3, 4))
    assert IdFactory(5).guid() == IdFactory(5).guid()
    for bad in ("", "AAMk", "not base64!", "QUJD"):
        with pytest.raises(ValueError):
            decode_event_id(bad)


def test_retry_after_format_and_fault_rules() -> None:
    assert format_retry_after(2) == "2" and format_retry_after(2.128) == "2.128" and format_retry_after(0.2) == "0.2"
    faults = Faults()
    faults.throttle(count=2, user="Adele@contoso.example")
    assert faults.take(identities={"megan@contoso.example"}, path="/me", outer_batch=False) is None
    assert faults.take(identities={"adele@contoso.example"}, path="/me", outer_batch=False) is not None
    assert faults.take(identities={"adele@contoso.example"}, path="/me", outer_batch=True) is None
    assert faults.take(identities={"adele@contoso.example"}, path="/me", outer_batch=False) is not None
    assert faults.rules == []


def _view_slot_by_slot(spans: list[tuple[datetime, datetime, str]], start: datetime, end: datetime, every: int) -> str:
    """availabilityView as its definition reads: each slot, the strongest status of the spans overlapping it."""
    step = timedelta(minutes=every)
    out = []
    for i in range(math.ceil((end - start) / step)):
        slot_start, slot_end = start + i * step, min(start + (i + 1) * step, end)
        strongest = "free"
        for s, e, status in spans:
            if s < slot_end and e > slot_start and STRENGTH[status] > STRENGTH[strongest]:
                strongest = status
        out.append(DIGITS[strongest])
    return "".join(out)


@given(
    offset=st.integers(0, 2000),
    length=st.integers(1, 3000),
    every=st.sampled_from([5, 7, 15, 30, 60, 1440]),
    raw=st.lists(
        st.tuples(st.integers(-500, 6000), st.integers(0, 4000), st.sampled_from(sorted(STRENGTH))), max_size=12
    ),
)
@settings(max_examples=300, derandomize=True, database=None)
def test_availability_view_marks_each_slot_with_the_strongest_status_overlapping_it(
    offset: int, length: int, every: int, raw: list[tuple[int, int, str]]
) -> None:
    base = datetime(2027, 1, 1, tzinfo=UTC)
    start, end = base + timedelta(minutes=offset), base + timedelta(minutes=offset + length)
    spans = sorted((base + timedelta(minutes=s), base + timedelta(minutes=s + d), status) for s, d, status in raw)
    spans = [t for t in spans if (t[0] < end and t[1] > start) or (t[0] == t[1] and start <= t[0] < end)]
    assert availability_view(spans, start, end, every) == _view_slot_by_slot(spans, start, end, every)
