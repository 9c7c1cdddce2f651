"""Team availability: round-robin (union) and collective (intersection) links.

Every member is computed with the team event type's rules (duration, grid, buffers, notice, window and
caps, in the event type's zone) and their own working hours, busy time and bookings. A member whose
calendar could not be read must not be passed in as 'free': the caller leaves them out (round-robin)
or offers nothing (collective).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from scheduling.intervals import Interval
from scheduling.localtime import from_epoch
from scheduling.ports import BookedInterval, BusyInterval
from scheduling.rules import Availability, EventRules
from scheduling.slots import Slot, resolve_duration, slot_starts


@dataclass(frozen=True, slots=True)
class TeamMember:
    member_id: str
    busy: Sequence[BusyInterval] = ()
    bookings: Sequence[BookedInterval] = ()
    availability: Availability | None = None  # None: the event type's own hours


@dataclass(frozen=True, slots=True, order=True)
class TeamSlot:
    """A slot and the members free for it (in the order the members were given)."""

    start: datetime
    end: datetime
    hosts: tuple[str, ...]


def _member_starts(rules: EventRules, members: Sequence[TeamMember], now: datetime, window: Interval,
                   minutes: int) -> list[list[int]]:
    return [
        slot_starts(rules, now=now, window=window, busy=m.busy, bookings=m.bookings, duration=minutes,
                    availability=m.availability)
        for m in members
    ]


def round_robin_slots(rules: EventRules, members: Sequence[TeamMember], *, now: datetime,
                      window: Interval, duration: int | None = None) -> list[TeamSlot]:
    """Slots where at least one member is free, each reporting who is free (union)."""
    minutes = resolve_duration(rules, duration)
    who: dict[int, list[str]] = {}
    for member, starts in zip(members, _member_starts(rules, members, now, window, minutes), strict=True):
        for s in starts:
            found = who.get(s)
            if found is None:
                who[s] = [member.member_id]
            else:
                found.append(member.member_id)
    length = minutes * 60
    return [TeamSlot(from_epoch(s), from_epoch(s + length), tuple(who[s])) for s in sorted(who)]


def collective_slots(rules: EventRules, members: Sequence[TeamMember], *, now: datetime,
                     window: Interval, duration: int | None = None) -> list[Slot]:
    """Slots where every member is free (intersection). No members means no slots."""
    if not members:
        return []
    minutes = resolve_duration(rules, duration)
    per_member = _member_starts(rules, members, now, window, minutes)
    common = set(per_member[0]).intersection(*per_member[1:])
    length = minutes * 60
    return [Slot(from_epoch(s), from_epoch(s + length)) for s in sorted(common)]
