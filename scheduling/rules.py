"""Event-type rules: the value types a host configures, and their validation.

Times of day are minutes after local midnight (``540`` is 09:00, ``1440`` is 24:00), weekdays are
``0`` (Monday) to ``6`` (Sunday), durations are whole minutes. A weekly range never crosses midnight:
to work 22:00-02:00 write 22:00-24:00 on one day and 00:00-02:00 on the next; the two meet at local
midnight and the slot engine treats them as one continuous stretch of working time.

``EventRules.problems()`` lists every problem at once (the settings card shows each next to its field);
``EventRules.validate()`` raises :class:`~scheduling.errors.InvalidRule` for the first one.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from zoneinfo import ZoneInfo

from scheduling.errors import InvalidRule, UnknownTimeZone
from scheduling.reach import calendar_date_problem
from scheduling.timezones import zone

MINUTES_PER_DAY = 1440
MAX_WINDOW_DAYS = 365
#: A meeting length is whole minutes in ``[MIN_DURATION, MAX_DURATION]``; every adapter reads the bounds here.
MIN_DURATION = 1
MAX_DURATION = MINUTES_PER_DAY
DURATION_RULE = (
    f"A meeting must last at least {MIN_DURATION} minute and can't be longer than {MAX_DURATION // 60} hours."
)
WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: The host's chat reminder before each booked meeting: minutes before its start, per link (None: off).
DEFAULT_REMINDER = 15
MIN_REMINDER = 1
MAX_REMINDER = MINUTES_PER_DAY
REMINDER_RULE = f"A reminder can be {MIN_REMINDER} minute to {MAX_REMINDER // 60} hours before the meeting, or off."


class BusyStatus(StrEnum):
    """Graph's freeBusyStatus values, spelled as Graph spells them."""

    FREE = "free"
    TENTATIVE = "tentative"
    BUSY = "busy"
    OOF = "oof"
    WORKING_ELSEWHERE = "workingElsewhere"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: str) -> BusyStatus:
        """Case-insensitive parse (Graph's docs show both ``busy`` and ``Busy``); unknown text is UNKNOWN."""
        return _STATUS_BY_LOWER.get(value.strip().lower(), cls.UNKNOWN)


_STATUS_BY_LOWER = {s.value.lower(): s for s in BusyStatus}

DEFAULT_BLOCKING_STATUSES: frozenset[BusyStatus] = frozenset(
    {BusyStatus.TENTATIVE, BusyStatus.BUSY, BusyStatus.OOF, BusyStatus.UNKNOWN}
)

_HHMM = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def parse_hhmm(text: str) -> int:
    """``"09:30"`` -> 570; ``"24:00"`` -> 1440. Raises ValueError with a readable message."""
    m = _HHMM.match(text)
    if not m:
        raise ValueError(f"'{text}' is not a time like 09:00")
    hours, minutes = int(m.group(1)), int(m.group(2))
    if minutes >= 60 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"'{text}' is not a time between 00:00 and 24:00")
    return hours * 60 + minutes


def format_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True, order=True)
class LocalRange:
    """Wall-clock range ``[start, end)`` in minutes after local midnight, within one day."""

    start: int
    end: int

    @classmethod
    def parse(cls, start: str, end: str) -> LocalRange:
        return cls(parse_hhmm(start), parse_hhmm(end))

    def __str__(self) -> str:
        return f"{format_hhmm(self.start)}-{format_hhmm(self.end)}"


DayRanges = tuple[LocalRange, ...]


@dataclass(frozen=True, slots=True)
class Availability:
    """When a host works, in their own zone: weekly hours plus per-date overrides.

    ``weekly[d]`` holds the ranges of weekday ``d`` (0 = Monday). ``overrides`` replaces the weekly
    ranges on a date; an empty tuple blocks the date entirely.
    """

    time_zone: str
    weekly: tuple[DayRanges, DayRanges, DayRanges, DayRanges, DayRanges, DayRanges, DayRanges]
    overrides: Mapping[date, DayRanges] = field(default_factory=dict)

    @classmethod
    def business_hours(
        cls, time_zone: str, start: str = "09:00", end: str = "17:00", weekdays: Iterable[int] = range(5)
    ) -> Availability:
        days = set(weekdays)
        rng = (LocalRange.parse(start, end),)
        weekly = tuple(rng if d in days else () for d in range(7))
        return cls(time_zone, weekly)  # type: ignore[arg-type]

    def ranges_on(self, day: date) -> DayRanges:
        found = self.overrides.get(day)
        return found if found is not None else self.weekly[day.weekday()]

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.time_zone)

    def problems(self, prefix: str = "") -> dict[str, str]:
        out: dict[str, str] = {}
        try:
            zone(self.time_zone)
        except UnknownTimeZone as exc:
            out[prefix + "time_zone"] = exc.message
        if len(self.weekly) != 7:
            out[prefix + "weekly_hours"] = "Weekly hours need one entry for each of the 7 weekdays."
            return out
        for d, ranges in enumerate(self.weekly):
            msg = _day_problem(ranges)
            if msg:
                out[f"{prefix}weekly_hours.{WEEKDAY_NAMES[d]}"] = msg
        for day, ranges in self.overrides.items():
            msg = calendar_date_problem(day) or _day_problem(ranges)
            if msg:
                out[f"{prefix}date_overrides.{day.isoformat()}"] = msg
        return out


def _day_problem(ranges: DayRanges) -> str | None:
    for r in ranges:
        if not (0 <= r.start <= MINUTES_PER_DAY and 0 <= r.end <= MINUTES_PER_DAY):
            return f"{r} is outside 00:00-24:00."
        if r.end <= r.start:
            return f"{r} ends before it starts; a range must end after it begins (use 24:00 for midnight)."
    ordered = sorted(ranges)
    for a, b in itertools.pairwise(ordered):
        if b.start < a.end:
            return f"{a} and {b} overlap; merge them into one range."
    return None


@dataclass(frozen=True, slots=True)
class BookingWindow:
    """How far ahead invitees may book.

    Rolling: today (host-local) and the next ``rolling_days - 1`` days, i.e. slots must end by local
    midnight at the end of day ``today + rolling_days - 1``. Fixed: from local midnight starting
    ``start_date`` to local midnight ending ``end_date`` (both dates included).
    """

    rolling_days: int | None = 60
    start_date: date | None = None
    end_date: date | None = None

    @classmethod
    def fixed(cls, start: date, end: date) -> BookingWindow:
        return cls(rolling_days=None, start_date=start, end_date=end)

    def problems(self) -> dict[str, str]:
        if self.rolling_days is not None:
            if self.start_date or self.end_date:
                return {"booking_window": "Choose either a rolling number of days or a date range, not both."}
            if not 1 <= self.rolling_days <= MAX_WINDOW_DAYS:
                return {"booking_window": f"The booking window must be 1 to {MAX_WINDOW_DAYS} days."}
            return {}
        if self.start_date is None or self.end_date is None:
            return {"booking_window": "A date-range window needs both a first and a last date."}
        for day in (self.start_date, self.end_date):
            if (outside := calendar_date_problem(day)) is not None:
                return {"booking_window": f"{day.isoformat()} can't be part of a booking window. {outside}"}
        if self.end_date < self.start_date:
            return {"booking_window": "The window's last date is before its first date."}
        if (self.end_date - self.start_date).days + 1 > MAX_WINDOW_DAYS:
            return {"booking_window": f"The booking window can't be longer than {MAX_WINDOW_DAYS} days."}
        return {}


def duration_problem(minutes: int) -> str | None:
    """:data:`DURATION_RULE` when ``minutes`` is no meeting length, else None."""
    return None if MIN_DURATION <= minutes <= MAX_DURATION else DURATION_RULE


def reminder_problem(minutes: int | None) -> str | None:
    """:data:`REMINDER_RULE` when ``minutes`` is no reminder lead (None, off, is fine), else None."""
    return None if minutes is None or MIN_REMINDER <= minutes <= MAX_REMINDER else REMINDER_RULE


def default_slot_interval(duration: int) -> int:
    """The start-time grid when none is set: the duration for short meetings, else every 30 minutes."""
    return duration if duration in (5, 10, 15, 20, 30) else 30


@dataclass(frozen=True, slots=True)
class EventRules:
    """Everything that decides which slots an event type offers. All durations in minutes."""

    durations: tuple[int, ...]
    availability: Availability
    slot_interval: int | None = None
    buffer_before: int = 0
    buffer_after: int = 0
    minimum_notice: int = 0
    window: BookingWindow = field(default_factory=BookingWindow)
    daily_cap: int | None = None
    weekly_cap: int | None = None
    blocking_statuses: frozenset[BusyStatus] = DEFAULT_BLOCKING_STATUSES
    reminder: int | None = DEFAULT_REMINDER  # minutes before each booked meeting the host is reminded; None: off

    @property
    def duration(self) -> int:
        """The default duration (the first allowed one)."""
        if not self.durations:
            raise InvalidRule("durations", "Give at least one meeting length.")
        return self.durations[0]

    @property
    def interval(self) -> int:
        return self.slot_interval if self.slot_interval is not None else default_slot_interval(self.duration)

    @property
    def time_zone(self) -> str:
        return self.availability.time_zone

    def problems(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if not self.durations:
            out["durations"] = "Give at least one meeting length."
        for d in self.durations:
            problem = duration_problem(d)
            if problem:
                out["durations"] = problem
        if len(set(self.durations)) != len(self.durations):
            out["durations"] = "Each meeting length may appear only once."
        if self.slot_interval is not None and not 1 <= self.slot_interval <= MINUTES_PER_DAY:
            out["slot_interval"] = "Start times must be between 1 minute and 24 hours apart."
        for name in ("buffer_before", "buffer_after"):
            value = getattr(self, name)
            if not 0 <= value <= MINUTES_PER_DAY:
                out[name] = "A buffer must be between 0 minutes and 24 hours."
        if not 0 <= self.minimum_notice <= MAX_WINDOW_DAYS * MINUTES_PER_DAY:
            out["minimum_notice"] = f"Minimum notice must be between 0 and {MAX_WINDOW_DAYS} days."
        for name in ("daily_cap", "weekly_cap"):
            value = getattr(self, name)
            if value is not None and value < 1:
                out[name] = "A limit must be at least 1 booking (leave it empty for no limit)."
        if (reminder := reminder_problem(self.reminder)) is not None:
            out["reminder"] = reminder
        out.update(self.window.problems())
        out.update(self.availability.problems())
        return out

    def validate(self) -> EventRules:
        problems = self.problems()
        if problems:
            field_name, message = next(iter(problems.items()))
            raise InvalidRule(field_name, message)
        return self
