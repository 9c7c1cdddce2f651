"""Map an Outlook ``customTimeZone`` (bias + standard/daylight transition rules) to an IANA zone.

Outlook reports ``workingHours.timeZone`` either as ``{"name": "Pacific Standard Time"}`` or as a
``#microsoft.graph.customTimeZone``::

    {"bias": 480, "name": "Customized Time Zone",
     "standardOffset": {"time": "02:00:00", "dayOccurrence": 1, "dayOfWeek": "sunday",
                        "month": 11, "year": 0},
     "daylightOffset": {"time": "02:00:00", "dayOccurrence": 2, "dayOfWeek": "sunday",
                        "month": 3, "year": 0, "daylightBias": -60}}

Windows convention: ``UTC = local + bias`` (minutes), so the standard UTC offset is ``-bias`` and the
daylight one ``-(bias + daylightBias)``; ``dayOccurrence`` 5 means "last". The custom zone has no name,
so :func:`match_custom_zone` tries the mailbox's own zone first, then every canonical zone of CLDR's
Windows mapping (as shipped by tzlocal), and keeps the first whose offsets agree with the rule on both
sides of both transitions in the reference year. A rule without daylight saving prefers the fixed
``Etc/GMT±N`` zone (after the mailbox zone) so no foreign DST rule sneaks in later. With no match it
returns None and the caller falls back to the mailbox zone.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from tzlocal.windows_tz import win_tz

from scheduling.timezones import is_valid_zone, zone

_WEEKDAYS = {
    name: i for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}


def _nth_weekday(year: int, month: int, weekday: int, occurrence: int) -> date:
    """The ``occurrence``-th (1..4, 5 = last) ``weekday`` of ``month``."""
    days_in_month = calendar.monthrange(year, month)[1]
    if occurrence >= 5:
        last = date(year, month, days_in_month)
        return last - timedelta(days=(last.weekday() - weekday) % 7)
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (max(occurrence, 1) - 1))


def _transition_date(rule: Mapping[str, Any], year: int) -> date | None:
    month = int(rule.get("month") or 0)
    if not 1 <= month <= 12:
        return None
    weekday = _WEEKDAYS.get(str(rule.get("dayOfWeek", "sunday")).lower(), 6)
    rule_year = int(rule.get("year") or 0)
    return _nth_weekday(rule_year or year, month, weekday, int(rule.get("dayOccurrence") or 1))


def _offset_minutes(zone_name: str, day: date) -> int:
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=zone(zone_name))
    offset = noon.utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


@lru_cache(maxsize=1)
def _canonical_zones() -> tuple[str, ...]:
    return tuple(sorted({z for z in win_tz.values() if is_valid_zone(z)}))


def _fits(zone_name: str, std: int, dst: int | None, dst_start: date | None, std_start: date | None, year: int) -> bool:
    one = timedelta(days=1)
    if dst is None or dst_start is None or std_start is None:
        return all(_offset_minutes(zone_name, d) == std for d in (date(year, 1, 15), date(year, 7, 15)))
    return (
        _offset_minutes(zone_name, dst_start - one) == std
        and _offset_minutes(zone_name, dst_start + one) == dst
        and _offset_minutes(zone_name, std_start - one) == dst
        and _offset_minutes(zone_name, std_start + one) == std
    )


def match_custom_zone(custom: Mapping[str, Any], year: int, prefer: Iterable[str] = ()) -> str | None:
    """The IANA zone that behaves like ``custom`` in ``year`` (see the module docstring), or None."""
    try:
        bias = int(custom.get("bias") or 0)
    except (TypeError, ValueError):
        return None
    std_rule = custom.get("standardOffset") or {}
    dst_rule = custom.get("daylightOffset") or {}
    std = -bias
    daylight_bias = int(dst_rule.get("daylightBias") or 0) if isinstance(dst_rule, Mapping) else 0
    dst_start = _transition_date(dst_rule, year) if isinstance(dst_rule, Mapping) else None
    std_start = _transition_date(std_rule, year) if isinstance(std_rule, Mapping) else None
    dst = -(bias + daylight_bias) if daylight_bias and dst_start and std_start else None
    fixed = _fixed_zone(bias) if dst is None else None
    seen: set[str] = set()
    candidates: list[str] = [*prefer, *([fixed] if fixed else []), *_canonical_zones()]
    for candidate in candidates:
        if candidate in seen or not is_valid_zone(candidate):
            continue
        seen.add(candidate)
        if _fits(candidate, std, dst, dst_start, std_start, year):
            return candidate
    return None


def _fixed_zone(bias: int) -> str | None:
    """``Etc/GMT+8`` for bias 480 (POSIX sign: west of Greenwich is ``+``); None unless whole hours."""
    if bias % 60 or abs(bias) > 12 * 60:
        return None
    hours = bias // 60
    return "UTC" if hours == 0 else f"Etc/GMT{'+' if hours > 0 else '-'}{abs(hours)}"
