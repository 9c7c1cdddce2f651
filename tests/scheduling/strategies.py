"""Shared helpers, Hypothesis strategies and settings for the scheduling-core tests.

Everything here is test-only. The strategies draw a whole *scenario* (rules, ``now``, query window,
busy time, bookings, duration) around an anchor date that is often a DST change day, so one draw
exercises the clauses of ``scheduling.slots`` together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from scheduling.intervals import Interval
from scheduling.ports import BookedInterval, BusyInterval
from scheduling.rules import (
    DEFAULT_BLOCKING_STATUSES,
    Availability,
    BookingWindow,
    BusyStatus,
    EventRules,
    LocalRange,
)

# --------------------------------------------------------------------------- settings

#: Reproducible in CI: no example database, derandomized, no per-example deadline (the reference model
#: is deliberately slow). Individual tests pick ``max_examples`` so the whole core suite stays well
#: under a minute on two cores.
PROPERTY_SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def props(max_examples: int) -> settings:
    return settings(PROPERTY_SETTINGS, max_examples=max_examples)


# --------------------------------------------------------------------------- plain helpers


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


def wall(tz: str, y: int, mo: int, d: int, h: int = 0, mi: int = 0, *, fold: int = 0) -> datetime:
    """The UTC instant of a wall-clock time in ``tz`` (``fold=1``: the second occurrence)."""
    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(tz), fold=fold).astimezone(UTC)


def hours(
    time_zone: str,
    start: str = "09:00",
    end: str = "17:00",
    weekdays: Iterable[int] = range(7),
    overrides: dict[date, tuple[LocalRange, ...]] | None = None,
) -> Availability:
    """Working hours ``start``-``end`` on ``weekdays`` (default: every day) plus overrides."""
    base = Availability.business_hours(time_zone, start, end, weekdays)
    return Availability(time_zone, base.weekly, overrides or {})


def rules(
    time_zone: str = "UTC",
    *,
    durations: tuple[int, ...] = (30,),
    start: str = "09:00",
    end: str = "17:00",
    weekdays: Iterable[int] = range(5),
    overrides: dict[date, tuple[LocalRange, ...]] | None = None,
    availability: Availability | None = None,
    window: BookingWindow | None = None,
    **kw: object,
) -> EventRules:
    avail = availability or hours(time_zone, start, end, weekdays, overrides)
    return EventRules(durations, avail, window=window or BookingWindow(rolling_days=365), **kw)  # type: ignore[arg-type]


def rng(start: str, end: str) -> LocalRange:
    return LocalRange.parse(start, end)


def busy(start: datetime, end: datetime, status: BusyStatus = BusyStatus.BUSY) -> BusyInterval:
    return BusyInterval(start, end, status)


def local_labels(instants: Iterable[datetime], tz: str, fmt: str = "%H:%M") -> list[str]:
    return [i.astimezone(ZoneInfo(tz)).strftime(fmt) for i in instants]


def epoch(dt: datetime) -> int:
    ts = dt.timestamp()
    assert ts == int(ts), dt
    return int(ts)


def transition_days(tz: str, year: int) -> list[date]:
    """Local dates on which the zone's UTC offset changes (offset at midnight differs from the next)."""
    zi = ZoneInfo(tz)
    out = []
    d = date(year, 1, 1)
    while d.year == year:
        a = datetime.combine(d, time(0), zi).utcoffset()
        b = datetime.combine(d + timedelta(days=1), time(0), zi).utcoffset()
        if a != b:
            out.append(d)
        d += timedelta(days=1)
    return out


# --------------------------------------------------------------------------- Hypothesis strategies

#: Zones with DST (at 02:00, at 01:00, at midnight, 30-minute shifts), half-hour and 45-minute offsets.
ZONES = (
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Pacific/Chatham",
    "America/Santiago",
    "America/Havana",
    "Asia/Kathmandu",
)

ANCHORS: dict[str, list[date]] = {
    z: sorted(
        {d + timedelta(days=k) for d in transition_days(z, 2027) for k in (-1, 0, 1)}
        | {date(2027, 1, 4), date(2027, 6, 30)}
    )
    for z in ZONES
}

DURATIONS = (5, 10, 15, 20, 25, 30, 45, 60, 90, 120)
INTERVALS = (5, 7, 10, 15, 20, 25, 30, 45, 50, 60, 90, 120)
BUFFERS = (0, 0, 0, 5, 10, 15, 30, 45, 60, 120)


# Strategy objects are built once, at import: building them inside draws costs more than the tests.
_KIND = st.integers(0, 9)
_GRANULARITY = st.sampled_from((5, 15, 30, 60))
_RANGE_COUNT = st.integers(1, 3)


@st.composite
def day_ranges(draw: st.DrawFn) -> tuple[LocalRange, ...]:
    """0-3 non-overlapping wall-clock ranges of one day (they may touch each other and 00:00/24:00)."""
    kind = draw(_KIND)
    if kind == 0:
        return ()
    if kind == 1:
        return (LocalRange(0, 1440),)
    g = draw(_GRANULARITY)
    n = draw(_RANGE_COUNT)
    points = sorted(draw(_POINT_LISTS[g, n]))
    out = [LocalRange(points[i] * g, points[i + 1] * g) for i in range(0, 2 * n, 2) if points[i] < points[i + 1]]
    return tuple(out)


_POINT_LISTS = {
    (g, n): st.lists(st.integers(0, 1440 // g), min_size=2 * n, max_size=2 * n)
    for g in (5, 15, 30, 60)
    for n in (1, 2, 3)
}
DAY_RANGES = day_ranges()
_WEEKLY = st.tuples(*[DAY_RANGES] * 7)
_OVERRIDES = st.dictionaries(st.integers(-2, 3), DAY_RANGES, max_size=3)


class SlotQuery(TypedDict):
    """The keyword arguments ``compute_slots``, ``slot_starts`` and ``reference_starts`` take for a scenario."""

    now: datetime
    window: Interval
    busy: tuple[BusyInterval, ...]
    bookings: tuple[BookedInterval, ...]
    duration: int


class TeamQuery(TypedDict):
    """The keyword arguments ``round_robin_slots`` and ``collective_slots`` take for a scenario."""

    now: datetime
    window: Interval
    duration: int


@dataclass(frozen=True)
class Scenario:
    rules: EventRules
    now: datetime
    window: Interval
    busy: tuple[BusyInterval, ...]
    bookings: tuple[BookedInterval, ...]
    duration: int
    anchor: date

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.rules.time_zone)

    def kwargs(self) -> SlotQuery:
        return {
            "now": self.now,
            "window": self.window,
            "busy": self.busy,
            "bookings": self.bookings,
            "duration": self.duration,
        }


def _minute_floor(dt: datetime) -> datetime:
    return dt.replace(second=0, microsecond=0)


def availabilities(time_zone: str, anchor: date) -> st.SearchStrategy[Availability]:
    """Random weekly hours plus up to three overrides on the days around ``anchor``."""
    return st.tuples(_WEEKLY, _OVERRIDES).map(
        lambda wo: Availability(time_zone, wo[0], {anchor + timedelta(days=k): v for k, v in wo[1].items()})
    )


_BOOL = st.booleans()
_ROLLING = st.integers(1, 6)
_FIRST_DAY = st.integers(-1, 1)
_FIXED_LEN = st.integers(0, 4)


def _booking_window(draw: st.DrawFn, anchor: date) -> BookingWindow:
    if draw(_BOOL):
        return BookingWindow(rolling_days=7 - draw(_ROLLING))  # simplest draw: 6 days
    first = anchor + timedelta(days=draw(_FIRST_DAY))
    return BookingWindow.fixed(first, first + timedelta(days=4 - draw(_FIXED_LEN)))


DST_ZONES = tuple(z for z in ZONES if transition_days(z, 2027))
_DST_DAYS = {z: st.sampled_from(transition_days(z, 2027)) for z in DST_ZONES}
_ANCHOR_DAYS = {z: st.sampled_from(ANCHORS[z]) for z in ZONES}
_DURATION_SETS = st.lists(st.sampled_from(DURATIONS), min_size=1, max_size=3, unique=True)
_BLOCKING = st.one_of(st.just(DEFAULT_BLOCKING_STATUSES), st.frozensets(st.sampled_from(BusyStatus)))
_INTERVAL = st.one_of(st.none(), st.sampled_from(INTERVALS))
_BUFFER = st.sampled_from(BUFFERS)
_NOTICE = st.one_of(st.just(0), st.integers(0, 240), st.integers(0, 3000))
_CAP_FOCUSED = st.integers(1, 2)
_DAILY_CAP = st.one_of(st.none(), st.integers(1, 3))
_WEEKLY_CAP = st.one_of(st.none(), st.integers(1, 6))
_NOW_OFFSET = st.integers(-30 * 3600, 12 * 3600)
_MICROS = st.integers(0, 999_999)
_DST_NOW = st.integers(0, 12 * 3600)
_HOUR_SECONDS = st.integers(0, 3600)
_DST_WINDOW_HOURS = st.integers(25, 48)
_WINDOW_START = st.integers(-12 * 3600, 12 * 3600)
_SHORT = st.integers(0, 4)
_SHORT_WINDOW = st.integers(60, 3 * 3600)
_FRACTION = st.integers(0, 10**6)
_STRETCH = {n: st.one_of(st.just(0), st.integers(0, n)) for n in (180, 300)}
_BUSY_COUNT = st.integers(0, 8)
_BOOKING_COUNT = st.integers(0, 6)
_BOOKING_COUNT_CAPS = st.integers(1, 8)
_STATUS = st.sampled_from(BusyStatus)
_EXPIRY = st.one_of(st.none(), st.just(0), st.integers(-90, 90))
_ZONE_STRATEGIES: dict[tuple[str, ...], st.SearchStrategy[str]] = {}


@st.composite
def scenarios(
    draw: st.DrawFn,
    zones: Sequence[str] = ZONES,
    max_window_hours: int = 72,
    with_caps: bool = True,
    focus: str | None = None,
) -> Scenario:
    """A random scenario. ``focus="dst"``: the anchor is a DST change day and the query window covers
    it; ``focus="caps"``: caps are always set and every booking counts toward them."""
    if focus == "dst":
        tz = draw(_ZONE_STRATEGIES.setdefault(DST_ZONES, st.sampled_from(DST_ZONES)))
        anchor = draw(_DST_DAYS[tz])
    else:
        tz = draw(_ZONE_STRATEGIES.setdefault(tuple(zones), st.sampled_from(tuple(zones))))
        anchor = draw(_ANCHOR_DAYS[tz])
    durations = tuple(draw(_DURATION_SETS))
    event_rules = EventRules(
        durations=durations,
        availability=draw(availabilities(tz, anchor)),
        slot_interval=draw(_INTERVAL),
        buffer_before=draw(_BUFFER),
        buffer_after=draw(_BUFFER),
        minimum_notice=draw(_NOTICE),
        window=_booking_window(draw, anchor),
        daily_cap=(draw(_CAP_FOCUSED) if focus == "caps" else draw(_DAILY_CAP)) if with_caps else None,
        weekly_cap=draw(_WEEKLY_CAP) if with_caps else None,
        blocking_statuses=draw(_BLOCKING),
    )
    midnight = datetime.combine(anchor, time(0), ZoneInfo(tz)).astimezone(UTC)
    now = midnight + timedelta(seconds=draw(_NOW_OFFSET))
    if draw(_BOOL):
        now = _minute_floor(now)
    else:
        now += timedelta(microseconds=draw(_MICROS))
    if focus == "dst":  # the window covers the whole change day
        now = midnight - timedelta(seconds=draw(_DST_NOW))
        w_start = now + timedelta(seconds=draw(_HOUR_SECONDS))
        w_end = midnight + timedelta(hours=draw(_DST_WINDOW_HOURS))
    else:
        w_start = now + timedelta(seconds=draw(_WINDOW_START))
        if draw(_BOOL):
            w_start = _minute_floor(w_start)
        if draw(_SHORT) == 4:  # mostly windows of 6 hours or more
            w_seconds = draw(_SHORT_WINDOW)
        else:
            w_seconds = 6 * 3600 + draw(_FRACTION) * (max_window_hours - 6) * 3600 // 10**6
        w_end = w_start + timedelta(seconds=w_seconds)
    window = Interval(w_start, w_end)

    base = _minute_floor(w_start) - timedelta(days=1)
    span_minutes = int((w_end - w_start).total_seconds() // 60) + 2 * 1440

    def stretch(max_len: int) -> tuple[datetime, datetime]:
        s = base + timedelta(minutes=draw(_FRACTION) * span_minutes // 10**6)
        return s, s + timedelta(minutes=draw(_STRETCH[max_len]))

    busy_list = []
    for _ in range(draw(_BUSY_COUNT)):
        s, e = stretch(300)
        busy_list.append(BusyInterval(s, e, draw(_STATUS)))
    bookings = []
    for _ in range(draw(_BOOKING_COUNT_CAPS if focus == "caps" else _BOOKING_COUNT)):
        s, e = stretch(180)
        expiry = draw(_EXPIRY)
        bookings.append(
            BookedInterval(
                s,
                e,
                buffer_before=draw(_BUFFER),
                buffer_after=draw(_BUFFER),
                counts_toward_caps=focus == "caps" or draw(_BOOL),
                expires_at=None if expiry is None else now + timedelta(minutes=expiry),
            )
        )
    duration = draw(st.sampled_from(durations))
    return Scenario(event_rules, now, window, tuple(busy_list), tuple(bookings), duration, anchor)


def small_spans(max_value: int = 24, max_size: int = 6) -> st.SearchStrategy[list[tuple[int, int]]]:
    """Lists of integer spans (possibly empty, touching, overlapping, unsorted) on a small line."""
    pair = st.tuples(st.integers(0, max_value), st.integers(0, max_value)).map(lambda p: (min(p), max(p)))
    return st.lists(pair, max_size=max_size)
