"""Graph ``patternedRecurrence`` (``{"pattern": {...}, "range": {...}}``): parsing and date expansion.

Supported pattern types: ``daily``, ``weekly`` (``daysOfWeek``, ``firstDayOfWeek``), ``absoluteMonthly``
(``dayOfMonth``; a day past the month's end falls on its last day), ``relativeMonthly`` (``index`` +
``daysOfWeek``), ``absoluteYearly`` and ``relativeYearly`` (plus ``month``), all with ``interval``.
Ranges: ``endDate`` (inclusive), ``noEnd`` and ``numbered`` (``numberOfOccurrences``, counted from the
start of the series, so deleted occurrences still count, as in Outlook).

Expansion works on *local dates* of the series' own zone; the caller puts the series' wall-clock start
time on each date in that zone, so a 09:00 standup stays at 09:00 across a DST change.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_INDEX = {name: i for i, name in enumerate(WEEKDAYS)}
_INDEXES = ("first", "second", "third", "fourth", "last")
PATTERN_TYPES = ("daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly")
RANGE_TYPES = ("endDate", "noEnd", "numbered")


class RecurrenceError(ValueError):
    """The recurrence object is invalid; the message says which property."""


@dataclass(frozen=True, slots=True)
class Recurrence:
    type: str
    interval: int
    days_of_week: tuple[int, ...]
    first_day_of_week: int
    day_of_month: int
    month: int
    index: str
    range_type: str
    start_date: date
    end_date: date | None
    count: int
    recurrence_time_zone: str | None

    def to_graph(self, default_zone: str) -> dict[str, Any]:
        """The recurrence as Graph renders it (every pattern and range property present)."""
        return {
            "pattern": {
                "type": self.type,
                "interval": self.interval,
                "month": self.month,
                "dayOfMonth": self.day_of_month,
                "daysOfWeek": [WEEKDAYS[d] for d in self.days_of_week],
                "firstDayOfWeek": WEEKDAYS[self.first_day_of_week],
                "index": self.index,
            },
            "range": {
                "type": self.range_type,
                "startDate": self.start_date.isoformat(),
                "endDate": self.end_date.isoformat() if self.end_date else "0001-01-01",
                "recurrenceTimeZone": self.recurrence_time_zone or default_zone,
                "numberOfOccurrences": self.count,
            },
        }


def _ci(obj: Mapping[str, Any], key: str) -> Any:
    for k, v in obj.items():
        if k.lower() == key.lower():
            return v
    return None


def _date(value: Any, prop: str) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise RecurrenceError(f"recurrence.range.{prop} '{value}' is not a date (YYYY-MM-DD).") from exc


def parse_recurrence(obj: Any, series_start: date) -> Recurrence:
    """Validate a request's recurrence; ``series_start`` is the event's local start date."""
    if not isinstance(obj, Mapping):
        raise RecurrenceError("recurrence must be an object with 'pattern' and 'range'.")
    pattern, rng = _ci(obj, "pattern"), _ci(obj, "range")
    if not isinstance(pattern, Mapping) or not isinstance(rng, Mapping):
        raise RecurrenceError("recurrence must have both 'pattern' and 'range'.")
    ptype = str(_ci(pattern, "type") or "")
    ptype = next((t for t in PATTERN_TYPES if t.lower() == ptype.lower()), "")
    if not ptype:
        raise RecurrenceError(f"recurrence.pattern.type must be one of {', '.join(PATTERN_TYPES)}.")
    interval = _ci(pattern, "interval")
    interval = 1 if interval is None else interval
    if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
        raise RecurrenceError("recurrence.pattern.interval must be a positive integer.")
    days_raw = _ci(pattern, "daysOfWeek") or []
    try:
        days = tuple(sorted({_WEEKDAY_INDEX[str(d).lower()] for d in days_raw}))
    except KeyError as exc:
        raise RecurrenceError(f"recurrence.pattern.daysOfWeek has an unknown day {exc}.") from exc
    first_dow = _WEEKDAY_INDEX.get(str(_ci(pattern, "firstDayOfWeek") or "sunday").lower())
    if first_dow is None:
        raise RecurrenceError("recurrence.pattern.firstDayOfWeek is not a day of the week.")
    day_of_month = int(_ci(pattern, "dayOfMonth") or 0)
    month = int(_ci(pattern, "month") or 0)
    index = str(_ci(pattern, "index") or "first").lower()
    if index not in _INDEXES:
        raise RecurrenceError(f"recurrence.pattern.index must be one of {', '.join(_INDEXES)}.")
    if ptype in ("weekly", "relativeMonthly", "relativeYearly") and not days:
        raise RecurrenceError(f"recurrence.pattern.daysOfWeek is required for a {ptype} pattern.")
    if ptype in ("absoluteMonthly", "absoluteYearly") and not 1 <= day_of_month <= 31:
        raise RecurrenceError(f"recurrence.pattern.dayOfMonth is required for a {ptype} pattern.")
    if ptype in ("absoluteYearly", "relativeYearly") and not 1 <= month <= 12:
        raise RecurrenceError(f"recurrence.pattern.month is required for a {ptype} pattern.")

    rtype = str(_ci(rng, "type") or "")
    rtype = next((t for t in RANGE_TYPES if t.lower() == rtype.lower()), "")
    if not rtype:
        raise RecurrenceError(f"recurrence.range.type must be one of {', '.join(RANGE_TYPES)}.")
    start_date = _date(_ci(rng, "startDate"), "startDate") if _ci(rng, "startDate") else series_start
    end_date = None
    count = 0
    if rtype == "endDate":
        if not _ci(rng, "endDate"):
            raise RecurrenceError("recurrence.range.endDate is required for an endDate range.")
        end_date = _date(_ci(rng, "endDate"), "endDate")
        if end_date < start_date:
            raise RecurrenceError("recurrence.range.endDate must not be before startDate.")
    elif rtype == "numbered":
        count = _ci(rng, "numberOfOccurrences")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise RecurrenceError("recurrence.range.numberOfOccurrences must be a positive integer.")
    zone = _ci(rng, "recurrenceTimeZone")
    return Recurrence(
        ptype,
        interval,
        days,
        first_dow,
        day_of_month,
        month,
        index,
        rtype,
        start_date,
        end_date,
        count,
        str(zone) if zone else None,
    )


def _add_months(year: int, month: int, n: int) -> tuple[int, int]:
    total = year * 12 + (month - 1) + n
    return total // 12, total % 12 + 1


def _clamped(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _relative(year: int, month: int, days: tuple[int, ...], index: str) -> date:
    """The ``index``-th of ``days`` in the month (several days: the earliest, or the latest for 'last')."""
    last_day = calendar.monthrange(year, month)[1]
    candidates = []
    for weekday in days:
        if index == "last":
            d = date(year, month, last_day)
            candidates.append(d - timedelta(days=(d.weekday() - weekday) % 7))
        else:
            first = date(year, month, 1)
            d = first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * _INDEXES.index(index))
            if d.month != month:  # a fifth-week request that does not exist falls back a week
                d -= timedelta(days=7)
            candidates.append(d)
    return max(candidates) if index == "last" else min(candidates)


def _pattern_dates(rec: Recurrence) -> Iterator[date]:
    """Every pattern date from the start, unbounded (the caller stops)."""
    start = rec.start_date
    if rec.type == "daily":
        d = start
        while True:
            yield d
            d += timedelta(days=rec.interval)
    elif rec.type == "weekly":
        week = start - timedelta(days=(start.weekday() - rec.first_day_of_week) % 7)
        offsets = sorted((wd - rec.first_day_of_week) % 7 for wd in rec.days_of_week)
        while True:
            for off in offsets:
                d = week + timedelta(days=off)
                if d >= start:
                    yield d
            week += timedelta(days=7 * rec.interval)
    elif rec.type in ("absoluteMonthly", "relativeMonthly"):
        k = 0
        while True:
            y, m = _add_months(start.year, start.month, k * rec.interval)
            d = (
                _clamped(y, m, rec.day_of_month)
                if rec.type == "absoluteMonthly"
                else _relative(y, m, rec.days_of_week, rec.index)
            )
            if d >= start:
                yield d
            k += 1
    else:  # yearly
        k = 0
        while True:
            y = start.year + k * rec.interval
            d = (
                _clamped(y, rec.month, rec.day_of_month)
                if rec.type == "absoluteYearly"
                else _relative(y, rec.month, rec.days_of_week, rec.index)
            )
            if d >= start:
                yield d
            k += 1


def occurrence_dates(rec: Recurrence, until: date) -> Iterator[date]:
    """The series' occurrence dates in order, up to and including ``until`` and the range's end."""
    for produced, d in enumerate(_pattern_dates(rec)):
        if d > until:
            return
        if rec.range_type == "endDate" and rec.end_date is not None and d > rec.end_date:
            return
        if rec.range_type == "numbered" and produced >= rec.count:
            return
        yield d
