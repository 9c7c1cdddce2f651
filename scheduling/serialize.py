"""JSON-ready dicts for rules and links, and back: one format for storage, the REST API and cards.

Times of day are "HH:MM" strings, dates ISO strings, durations minutes. ``rules_from_dict`` accepts
exactly what ``rules_to_dict`` produces (plus omitted optional keys) and raises InvalidRule naming the
field for anything malformed; it does not run the semantic validation (``EventRules.validate``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from scheduling.errors import InvalidRule
from scheduling.reach import calendar_date_problem
from scheduling.rules import (
    DEFAULT_BLOCKING_STATUSES,
    DEFAULT_REMINDER,
    WEEKDAY_NAMES,
    Availability,
    BookingWindow,
    BusyStatus,
    DayRanges,
    EventRules,
    LocalRange,
    format_hhmm,
    parse_hhmm,
)


def _ranges_out(ranges: DayRanges) -> list[list[str]]:
    return [[format_hhmm(r.start), format_hhmm(r.end)] for r in ranges]


def _ranges_in(value: Any, field: str) -> DayRanges:
    if not isinstance(value, list):
        raise InvalidRule(field, "Expected a list of [start, end] times.")
    out = []
    for item in value:
        if not (isinstance(item, list | tuple) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise InvalidRule(field, "Each range must be a pair of times like ['09:00', '17:00'].")
        try:
            out.append(LocalRange(parse_hhmm(item[0]), parse_hhmm(item[1])))
        except ValueError as exc:
            raise InvalidRule(field, str(exc)) from exc
    return tuple(out)


def availability_to_dict(a: Availability) -> dict[str, Any]:
    return {
        "time_zone": a.time_zone,
        "weekly_hours": {WEEKDAY_NAMES[d]: _ranges_out(r) for d, r in enumerate(a.weekly)},
        "date_overrides": {d.isoformat(): _ranges_out(r) for d, r in sorted(a.overrides.items())},
    }


def availability_from_dict(data: Mapping[str, Any]) -> Availability:
    tz = data.get("time_zone")
    if not isinstance(tz, str):
        raise InvalidRule("time_zone", "A time zone is required.")
    weekly_in = data.get("weekly_hours", {})
    if not isinstance(weekly_in, Mapping):
        raise InvalidRule("weekly_hours", "Weekly hours must map weekday names to ranges.")
    unknown = set(weekly_in) - set(WEEKDAY_NAMES)
    if unknown:
        raise InvalidRule("weekly_hours", f"Unknown weekday {sorted(unknown)[0]!r}.")
    weekly = tuple(_ranges_in(weekly_in.get(name, []), f"weekly_hours.{name}") for name in WEEKDAY_NAMES)
    overrides: dict[date, DayRanges] = {}
    for key, ranges in dict(data.get("date_overrides", {})).items():
        try:
            day = date.fromisoformat(key)
        except (TypeError, ValueError) as exc:
            raise InvalidRule("date_overrides", f"{key!r} is not a date like 2027-01-31.") from exc
        if calendar_date_problem(day) is not None:
            # Stored before the calendar was checked (the API took any date): no slot can fall on it, and
            # keeping it would make the rules fail validation. Dropped, so the link works as it always did.
            continue
        overrides[day] = _ranges_in(ranges, f"date_overrides.{key}")
    return Availability(tz, weekly, overrides)  # type: ignore[arg-type]


def rules_to_dict(r: EventRules) -> dict[str, Any]:
    w = r.window
    return {
        "durations": list(r.durations),
        "slot_interval": r.slot_interval,
        "buffer_before": r.buffer_before,
        "buffer_after": r.buffer_after,
        "minimum_notice": r.minimum_notice,
        "booking_window": {
            "rolling_days": w.rolling_days,
            "start_date": w.start_date.isoformat() if w.start_date else None,
            "end_date": w.end_date.isoformat() if w.end_date else None,
        },
        "daily_cap": r.daily_cap,
        "weekly_cap": r.weekly_cap,
        "blocking_statuses": sorted(s.value for s in r.blocking_statuses),
        "availability": availability_to_dict(r.availability),
        "reminder": r.reminder,
    }


def _int(data: Mapping[str, Any], key: str, default: int | None) -> int | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRule(key, f"{key.replace('_', ' ').capitalize()} must be a whole number of minutes.")
    return value


def _date(value: Any, field: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRule(field, f"{value!r} is not a date like 2027-01-31.") from exc


def rules_from_dict(data: Mapping[str, Any]) -> EventRules:
    durations = data.get("durations")
    if not isinstance(durations, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in durations):
        raise InvalidRule("durations", "Durations must be a list of whole minutes.")
    bw = data.get("booking_window") or {}
    window = BookingWindow(
        rolling_days=_int(bw, "rolling_days", None) if "rolling_days" in bw else 60,
        start_date=_date(bw.get("start_date"), "booking_window"),
        end_date=_date(bw.get("end_date"), "booking_window"),
    )
    statuses = data.get("blocking_statuses")
    blocking = DEFAULT_BLOCKING_STATUSES
    if statuses is not None:
        known = {s.value: s for s in BusyStatus}
        if not isinstance(statuses, list) or not all(isinstance(s, str) and s in known for s in statuses):
            raise InvalidRule("blocking_statuses", "Blocking statuses must be a list of: " + ", ".join(known) + ".")
        blocking = frozenset(known[s] for s in statuses)
    avail = data.get("availability")
    if not isinstance(avail, Mapping):
        raise InvalidRule("availability", "Working hours are required.")
    return EventRules(
        durations=tuple(durations),
        availability=availability_from_dict(avail),
        slot_interval=_int(data, "slot_interval", None),
        buffer_before=_int(data, "buffer_before", 0) or 0,
        buffer_after=_int(data, "buffer_after", 0) or 0,
        minimum_notice=_int(data, "minimum_notice", 0) or 0,
        window=window,
        daily_cap=_int(data, "daily_cap", None),
        weekly_cap=_int(data, "weekly_cap", None),
        blocking_statuses=blocking,
        reminder=_int(data, "reminder", DEFAULT_REMINDER),  # omitted: the default; null: off
    )
