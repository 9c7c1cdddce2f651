"""How rules, times and zones read to people, and the parsers for what people type back.

Formatting is locale-neutral English with a 24-hour clock (matching
:func:`scheduling.presentation.local_time_label`). Displayed ranges use an en dash (U+2013) between
the times; the parsers accept a hyphen, an en dash, an em dash or the word "to" alike, so anything
shown can be typed back.

The parsers raise ``ValueError`` whose message is a sentence a person can act on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from scheduling.ports import Location, LocationKind
from scheduling.rules import (
    MINUTES_PER_DAY,
    BookingWindow,
    BusyStatus,
    DayRanges,
    LocalRange,
    format_hhmm,
    parse_hhmm,
)
from scheduling.timezones import zone

DAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DASH = "\u2013"  # en dash

STATUS_LABELS: dict[BusyStatus, str] = {
    BusyStatus.BUSY: "Busy",
    BusyStatus.TENTATIVE: "Tentative",
    BusyStatus.OOF: "Out of office",
    BusyStatus.WORKING_ELSEWHERE: "Working elsewhere",
    BusyStatus.UNKNOWN: "Unknown (unreadable) entries",
    BusyStatus.FREE: "Free",
}

LOCATION_LABELS: dict[LocationKind, str] = {
    LocationKind.TEAMS: "Microsoft Teams meeting",
    LocationKind.IN_PERSON: "In person",
    LocationKind.PHONE: "Phone call",
    LocationKind.CUSTOM: "Other",
}

Weekly = tuple[DayRanges, DayRanges, DayRanges, DayRanges, DayRanges, DayRanges, DayRanges]


# --------------------------------------------------------------------------- minutes


def minutes_label(minutes: int) -> str:
    """``45`` -> "45 min", ``90`` -> "1 h 30 min", ``1440`` -> "1 day", ``0`` -> "none"."""
    if minutes <= 0:
        return "none"
    days, rest = divmod(minutes, MINUTES_PER_DAY)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} day" + ("s" if days != 1 else ""))
    if hours:
        parts.append(f"{hours} h")
    if mins:
        parts.append(f"{mins} min")
    return " ".join(parts)


def minutes_value(minutes: int) -> str:
    """Compact, parseable form for pre-filling inputs: ``90`` -> "1h 30m", ``2880`` -> "2d", ``0`` -> "0"."""
    if minutes <= 0:
        return "0"
    days, rest = divmod(minutes, MINUTES_PER_DAY)
    hours, mins = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (mins, "m")) if n]
    return " ".join(parts)


_UNIT_MINUTES = {
    "m": 1,
    "min": 1,
    "mins": 1,
    "minute": 1,
    "minutes": 1,
    "h": 60,
    "hr": 60,
    "hrs": 60,
    "hour": 60,
    "hours": 60,
    "d": MINUTES_PER_DAY,
    "day": MINUTES_PER_DAY,
    "days": MINUTES_PER_DAY,
}
_AMOUNT = re.compile(r"(\d+(?:[.,]\d+)?)\s*([a-z]*)")


_LONGEST = 400 * MINUTES_PER_DAY  # longer than every bounded setting (window, notice, buffers, durations)


def parse_minutes(text: str) -> int:
    """ "45", "45m", "45 min", "1h", "1.5 h", "1h 30m", "2 days" -> whole minutes (a bare number is minutes)."""
    cleaned = text.strip().lower()
    if not cleaned:
        raise ValueError("Enter a number of minutes, for example 15 or 1h 30m.")
    total = 0.0
    pos = 0
    for m in _AMOUNT.finditer(cleaned):
        if cleaned[pos : m.start()].strip(" ,+and"):
            break
        unit = m.group(2) or "m"
        if unit not in _UNIT_MINUTES:
            raise ValueError(f"'{text.strip()}' has an unknown unit '{unit}'; use m, h or d.")
        total += float(m.group(1).replace(",", ".")) * _UNIT_MINUTES[unit]
        pos = m.end()
    if pos == 0 or cleaned[pos:].strip():
        raise ValueError(f"'{text.strip()}' is not a length of time like 15, 45m, 1h 30m or 2d.")
    if not total <= _LONGEST:  # also inf (hundreds of digits) and nan: no setting is anywhere near this long
        raise ValueError(f"'{text.strip()[:20]}' is far too long for any setting; enter at most a year or so.")
    if total != int(total):
        raise ValueError(f"'{text.strip()}' is not a whole number of minutes.")
    return int(total)


def durations_label(durations: Sequence[int]) -> str:
    """``(30,)`` -> "30 min"; ``(15, 30, 60)`` -> "15, 30 or 60 min" (all in minutes when mixed)."""
    if not durations:
        return "none"
    if len(durations) == 1:
        return minutes_label(durations[0])
    if all(d % 60 == 0 and d < MINUTES_PER_DAY for d in durations):
        nums, unit = [str(d // 60) for d in durations], "h"
    else:
        nums, unit = [str(d) for d in durations], "min"
    return f"{', '.join(nums[:-1])} or {nums[-1]} {unit}"


# --------------------------------------------------------------------------- ranges and weekly hours


def ranges_label(ranges: DayRanges) -> str:
    """ "09:00 to 12:00, 13:00 to 17:00" written with en dashes, or "off"."""
    if not ranges:
        return "off"
    return ", ".join(f"{format_hhmm(r.start)}{DASH}{format_hhmm(r.end)}" for r in sorted(ranges))


def ranges_value(ranges: DayRanges) -> str:
    """Editable form: ``09:00-12:00, 13:00-17:00``; empty for a day off."""
    return ", ".join(f"{format_hhmm(r.start)}-{format_hhmm(r.end)}" for r in sorted(ranges))


_DASHES = "\\-\u2013\u2014"  # hyphen (escaped for character classes), en dash, em dash
_RANGE = re.compile(rf"^(\d{{1,2}}:\d{{2}})\s*(?:[{_DASHES}]|to)\s*(\d{{1,2}}:\d{{2}})$", re.IGNORECASE)
_OFF_WORDS = {"", "off", "closed", "none", "-", "no", "unavailable"}


def parse_day_ranges(text: str) -> DayRanges:
    """ "09:00-12:00, 13:00-17:00" -> ranges; "" or "off" -> no hours. Overlaps are left to EventRules."""
    cleaned = text.strip()
    if cleaned.lower() in _OFF_WORDS:
        return ()
    out = []
    for part in re.split(r"[,;]", cleaned):
        piece = part.strip()
        if not piece:
            continue
        m = _RANGE.match(piece)
        if not m:
            raise ValueError(f"'{piece}' is not a time range like 09:00-17:00.")
        out.append(LocalRange(parse_hhmm(m.group(1)), parse_hhmm(m.group(2))))
    return tuple(out)


def _day_runs(days: Sequence[int]) -> str:
    """``[0, 1, 2, 4]`` -> "Mon to Wed, Fri" with an en dash (runs of three or more days use a dash)."""
    runs: list[list[int]] = []
    for d in sorted(days):
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAY_ABBR[run[0]]}{DASH}{DAY_ABBR[run[-1]]}")
        else:
            parts.extend(DAY_ABBR[d] for d in run)
    return ", ".join(parts)


def weekly_summary(weekly: Sequence[DayRanges]) -> str:
    """ "Mon-Fri 09:00-17:00; Sat 10:00-12:00" (en dashes): days with the same hours grouped, days off
    left out."""
    groups: dict[DayRanges, list[int]] = {}
    for d, ranges in enumerate(weekly):
        if ranges:
            groups.setdefault(tuple(sorted(ranges)), []).append(d)
    if not groups:
        return "no working hours"
    ordered = sorted(groups.items(), key=lambda item: item[1][0])
    return "; ".join(f"{_day_runs(days)} {ranges_label(ranges)}" for ranges, days in ordered)


_DAY_NAMES = {
    name: i
    for i, names in enumerate(
        (
            ("mon", "monday"),
            ("tue", "tues", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thur", "thurs", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        )
    )
    for name in names
}


def _parse_days(text: str) -> list[int]:
    days: list[int] = []
    for part in re.split(r"[,&/]|\band\b", text, flags=re.IGNORECASE):
        piece = part.strip()
        if not piece:
            continue
        bounds = [b.strip().lower() for b in re.split(rf"[{_DASHES}]|\bto\b", piece, flags=re.IGNORECASE)]
        if len(bounds) == 1 and bounds[0] in _DAY_NAMES:
            days.append(_DAY_NAMES[bounds[0]])
        elif len(bounds) == 2 and all(b in _DAY_NAMES for b in bounds):
            first, last = _DAY_NAMES[bounds[0]], _DAY_NAMES[bounds[1]]
            span = (last - first) % 7
            days.extend((first + i) % 7 for i in range(span + 1))
        else:
            raise ValueError(f"'{piece}' is not a weekday or a span like Mon-Fri.")
    return days


def parse_weekly_hours(text: str) -> Weekly:
    """Inverse of :func:`weekly_summary`: "Mon-Fri 09:00-17:00; Sat 10:00-12:00" -> seven days of ranges.

    Groups are separated by ``;`` or new lines; each is weekdays followed by ranges (or "off").
    Weekdays not mentioned have no hours; a weekday mentioned twice is an error.
    """
    weekly: list[DayRanges | None] = [None] * 7
    cleaned = text.strip()
    if cleaned.lower() in ("", "no working hours", "none", "off"):
        return ((),) * 7
    for group in re.split(r"[;\n]", cleaned):
        piece = group.strip()
        if not piece:
            continue
        m = re.match(rf"^([A-Za-z ,&/{_DASHES}]+?)\s*(\d.*|off|closed)?$", piece, re.IGNORECASE)
        if not m or not m.group(1).strip():
            raise ValueError(f"'{piece}' should start with weekdays, like 'Mon-Fri 09:00-17:00'.")
        if not m.group(2):
            raise ValueError(f"'{piece}' needs hours after the weekdays, like 'Mon-Fri 09:00-17:00' or 'Sat off'.")
        days = _parse_days(m.group(1))
        ranges = parse_day_ranges(m.group(2))
        for d in days:
            if weekly[d] is not None:
                raise ValueError(f"{DAY_ABBR[d]} appears more than once.")
            weekly[d] = ranges
    done = tuple(r if r is not None else () for r in weekly)
    return done  # type: ignore[return-value]


# --------------------------------------------------------------------------- other rules


def window_label(window: BookingWindow) -> str:
    if window.rolling_days is not None:
        return f"the next {window.rolling_days} day" + ("s" if window.rolling_days != 1 else "")
    if window.start_date and window.end_date:
        return f"{date_label(window.start_date, year=True)} {DASH} {date_label(window.end_date, year=True)}"
    return "not set"


def caps_label(daily: int | None, weekly: int | None) -> str:
    parts = []
    if daily is not None:
        parts.append(f"{daily} a day")
    if weekly is not None:
        parts.append(f"{weekly} a week")
    return "at most " + " and ".join(parts) if parts else "no limit"


def statuses_label(statuses: Iterable[BusyStatus]) -> str:
    chosen = set(statuses)
    names = [label for status, label in STATUS_LABELS.items() if status in chosen]
    return ", ".join(names) if names else "nothing"


def location_label(location: Location) -> str:
    """Plain text (not escaped): "Microsoft Teams meeting", "In person: Room 4"..."""
    base = LOCATION_LABELS.get(location.kind, "Other")
    if location.kind is LocationKind.TEAMS or not location.text.strip():
        return base
    if location.kind is LocationKind.CUSTOM:
        return location.text.strip()
    return f"{base}: {location.text.strip()}"


# --------------------------------------------------------------------------- dates, times and zones


def date_label(day: date, *, year: bool = False) -> str:
    """ "Tue 8 Dec" (or "Tue 8 Dec 2026")."""
    out = f"{DAY_ABBR[day.weekday()]} {day.day} {day:%b}"
    return f"{out} {day.year}" if year else out


def long_date_label(day: date) -> str:
    """ "Tuesday 8 December 2026"."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def offset_label(instant: datetime, time_zone: str) -> str:
    """ "UTC+05:30", "UTC-08:00", or "UTC" for a zero offset (at ``instant``)."""
    offset = instant.astimezone(zone(time_zone)).utcoffset() or timedelta(0)
    seconds = int(offset.total_seconds())
    if seconds == 0:
        return "UTC"
    sign = "+" if seconds > 0 else "-"
    hours, rem = divmod(abs(seconds), 3600)
    return f"UTC{sign}{hours:02d}:{rem // 60:02d}"


def zone_label(time_zone: str, at: datetime) -> str:
    """ "Asia/Kolkata (UTC+05:30)"."""
    return f"{time_zone} ({offset_label(at, time_zone)})"


def time_label(instant: datetime, time_zone: str) -> str:
    return f"{instant.astimezone(zone(time_zone)):%H:%M}"


def when_label(start: datetime, end: datetime, time_zone: str) -> str:
    """ "Tue 8 Dec 2026, 14:30-15:00" (en dash), or both dates when the meeting crosses local midnight."""
    tz = zone(time_zone)
    s, e = start.astimezone(tz), end.astimezone(tz)
    if s.date() == e.date() or (e - timedelta(microseconds=1)).date() == s.date():
        return f"{date_label(s.date(), year=True)}, {s:%H:%M}{DASH}{e:%H:%M}"
    return f"{date_label(s.date(), year=True)} {s:%H:%M} {DASH} {date_label(e.date(), year=True)} {e:%H:%M}"


def utc_iso(instant: datetime) -> str:
    """The wire form of an instant in card data: ``2026-12-08T09:30:00Z``."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
