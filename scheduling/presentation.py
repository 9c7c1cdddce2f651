"""Presenting slots to a viewer: grouped by the viewer's local date, in the viewer's zone.

The set of slots never depends on the viewer; only how they are grouped and labelled does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Generic, Protocol, TypeVar

from scheduling.timezones import zone


class _HasStart(Protocol):
    @property
    def start(self) -> datetime: ...


S = TypeVar("S", bound=_HasStart)


@dataclass(frozen=True, slots=True)
class LocalDay(Generic[S]):
    day: date
    slots: tuple[S, ...]


def group_by_local_date(slots: Iterable[S], viewer_time_zone: str) -> list[LocalDay[S]]:
    """Slots grouped by the viewer-local date of their start, dates ascending, slots in start order."""
    tz = zone(viewer_time_zone)
    groups: dict[date, list[S]] = {}
    for slot in sorted(slots, key=lambda s: s.start):
        groups.setdefault(slot.start.astimezone(tz).date(), []).append(slot)
    return [LocalDay(day, tuple(items)) for day, items in sorted(groups.items())]


def local_time_label(instant: datetime, time_zone: str, *, with_date: bool = False) -> str:
    """'14:30' or 'Tue 1 Dec 14:30' in the given zone (24-hour clock, locale-neutral)."""
    local = instant.astimezone(zone(time_zone))
    if with_date:
        return f"{local:%a} {local.day} {local:%b %H:%M}"
    return f"{local:%H:%M}"
