"""View models for the pages: a week of slots in the viewer's zone, and time labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from scheduling.presentation import group_by_local_date
from scheduling.slots import Slot
from scheduling.timezones import zone

COMMON_ZONES = (
    "UTC",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Helsinki",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)


@dataclass(frozen=True)
class SlotView:
    start_iso: str
    label: str


@dataclass(frozen=True)
class DayView:
    day: date
    label: str
    slots: tuple[SlotView, ...]


@dataclass(frozen=True)
class WeekView:
    start: date
    days: tuple[DayView, ...]
    previous: date | None
    next: date
    next_free_day: date | None
    has_slots: bool


def iso_z(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def day_label(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B}"


def time_label(instant: datetime, tz_name: str) -> str:
    return instant.astimezone(zone(tz_name)).strftime("%H:%M")


def when_label(instant: datetime, tz_name: str) -> str:
    local = instant.astimezone(zone(tz_name))
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M}"


def zone_choices(current: str) -> list[str]:
    return sorted({*COMMON_ZONES, current})


def week_view(slots: Sequence[Slot], viewer_tz: str, week_start: date, today: date) -> WeekView:
    """Seven days from ``week_start`` (viewer-local); ``slots`` may run past the week (next free day)."""
    week_end = week_start + timedelta(days=7)
    grouped = {g.day: g.slots for g in group_by_local_date(slots, viewer_tz)}
    days = tuple(
        DayView(
            d, day_label(d), tuple(SlotView(iso_z(s.start), time_label(s.start, viewer_tz)) for s in grouped.get(d, ()))
        )
        for d in (week_start + timedelta(days=i) for i in range(7))
    )
    later = [d for d in sorted(grouped) if d >= week_end]
    previous = week_start - timedelta(days=7)
    return WeekView(
        start=week_start,
        days=days,
        previous=previous if previous >= today - timedelta(days=6) else None,
        next=week_end,
        next_free_day=later[0] if later else None,
        has_slots=any(d.slots for d in days),
    )
