"""Team availability: round-robin (union) and collective (intersection) links.

Every member is computed with the team event type's rules (duration, grid, buffers, notice, window and
caps, in the event type's zone) and their own working hours, busy time and bookings; a member's own
daily/weekly caps apply on top of the link's (the stricter wins). Buffers pad each member's meeting as
they pad a single host's.

A member whose calendar could not be read, or who is not connected, is passed with ``readable=False``:
they are never treated as free. Round-robin leaves them out of the view; collective offers nothing at
all while any member is unreadable (a meeting needs everyone). Inactive members are not passed in.

Cost: the rules, the query's bounds and local days are laid out once (:class:`~scheduling.slots.SlotFrame`),
working time is computed once per distinct :class:`Availability` (members in the same zone with the same
hours share it), each member's busy time is converted once, and the members' runs of free starts are merged
by one sweep, so a 20-member computation costs little more than 20 blocker subtractions plus its output.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import compress

from scheduling.errors import InvalidRule
from scheduling.intervals import Interval
from scheduling.localtime import from_epoch
from scheduling.ports import BookedInterval, BusyInterval
from scheduling.rules import Availability, EventRules
from scheduling.slots import Run, Slot, SlotFrame, check_availability, resolve_duration, slot_frame


@dataclass(frozen=True, slots=True)
class TeamMember:
    """One member as the availability computation sees them (plain values; the caller reads calendars).

    ``daily_cap``/``weekly_cap``: the member's own caps, counted over their ``bookings`` that have
    ``counts_toward_caps`` (per local date / ISO week in the event type's zone), like the link's caps.
    ``readable`` false: the calendar could not be read or the member is not connected (never free).
    """

    member_id: str
    busy: Sequence[BusyInterval] = ()
    bookings: Sequence[BookedInterval] = ()
    availability: Availability | None = None  # None: the event type's own hours
    daily_cap: int | None = None
    weekly_cap: int | None = None
    readable: bool = True


@dataclass(frozen=True, slots=True, order=True)
class TeamSlot:
    """A slot and the members free for it (in the order the members were given)."""

    start: datetime
    end: datetime
    hosts: tuple[str, ...]


# A frozen dataclass's __init__ sets each field through object.__setattr__; a round-robin view builds thousands
# of TeamSlots, so the sweep fills the three slots directly (same object, same invariants, a third faster).
_NEW_SLOT = object.__new__
_SET_START, _SET_END, _SET_HOSTS = (vars(TeamSlot)[name].__set__ for name in ("start", "end", "hosts"))


def _availability_key(availability: Availability) -> Hashable:
    """Equal working hours give equal keys (value, not identity: each member's row is its own object)."""
    key = (availability.time_zone, availability.weekly, frozenset(availability.overrides.items()))
    try:
        hash(key)
    except TypeError:  # overrides holding unhashable values: share nothing rather than fail
        return ("id", id(availability))
    return key


def _team_runs(
    rules: EventRules, members: Sequence[TeamMember], now: datetime, window: Interval, minutes: int
) -> tuple[SlotFrame, list[list[Run]]]:
    """Validate the rules and every member's hours, then each member's runs of free starts (none if unreadable)."""
    frame = slot_frame(rules, now=now, window=window, minutes=minutes)
    working: dict[Hashable, list[tuple[int, int]] | None] = {}
    keys = []
    for m in members:
        for name, cap in (("daily_cap", m.daily_cap), ("weekly_cap", m.weekly_cap)):
            if cap is not None and cap < 1:
                raise InvalidRule(
                    f"members.{m.member_id}.{name}", "A limit must be at least 1 booking (leave it empty for no limit)."
                )
        avail = m.availability or rules.availability
        key = _availability_key(avail)
        if key not in working:
            if m.availability is not None:
                check_availability(m.availability)
            working[key] = None  # computed on first use: an empty frame or unreadable members need none
        keys.append(key)
    runs: list[list[Run]] = []
    for m, key in zip(members, keys, strict=True):
        if frame.empty or not m.readable:
            runs.append([])
            continue
        allowed = working[key]
        if allowed is None:
            allowed = working[key] = frame.allowed(m.availability or rules.availability)
        runs.append(frame.runs(allowed, m.busy, m.bookings, daily_cap=m.daily_cap, weekly_cap=m.weekly_cap))
    return frame, runs


def _sweep(
    runs: Sequence[Sequence[Run]], step: int, ids: Sequence[str], *, everyone: bool = False
) -> list[tuple[int, int, tuple[str, ...]]]:
    """``(first start, exclusive end, hosts)`` for each stretch where the set of free members is constant and
    not empty (``everyone``: only where every member is free); ``hosts`` lists them in member order. Starts
    in a stretch are ``range(first, end, step)``.

    A member's runs never overlap, and runs that overlap in time lie in the same local-day segment, so every
    run open in a stretch shares one grid phase: the phase of the run opened last.
    """
    shift = len(runs).bit_length()  # member indexes fit in `shift` bits
    opening = 1 << shift
    index = opening - 1
    at_shift = shift + 1
    # One int per event, so that sorting compares ints: instant, then close (0) before open (1), then member.
    events: list[int] = []
    for k, member_runs in enumerate(runs):
        opens, closes = opening | k, k
        events += [first << at_shift | opens for first, _ in member_runs]
        events += [last + 1 << at_shift | closes for _, last in member_runs]
    events.sort()
    stretches: list[tuple[int, int, tuple[str, ...]]] = []
    free = bytearray(len(runs))  # 1 for each member free in the current stretch (a selector for compress)
    wanted = len(runs) if everyone else 1
    count = phase = cursor = 0
    for event in events:
        at = event >> at_shift
        if at != cursor:
            if count >= wanted:
                first = cursor + (phase - cursor) % step
                if first < at:
                    stretches.append((first, at, tuple(compress(ids, free))))
            cursor = at
        if event & opening:
            free[event & index] = 1
            count += 1
            phase = at % step
        else:
            free[event & index] = 0
            count -= 1
    return stretches


def round_robin_slots(
    rules: EventRules, members: Sequence[TeamMember], *, now: datetime, window: Interval, duration: int | None = None
) -> list[TeamSlot]:
    """Slots where at least one readable member is free, each reporting who is free (union)."""
    minutes = resolve_duration(rules, duration)
    if not members:
        return []
    frame, runs = _team_runs(rules, members, now, window, minutes)
    length, step = timedelta(seconds=frame.length), timedelta(seconds=frame.step)
    out: list[TeamSlot] = []
    append = out.append
    at, following = from_epoch(0), 0  # the instant after the last slot emitted, as datetime and epoch seconds
    new, set_start, set_end, set_hosts = _NEW_SLOT, _SET_START, _SET_END, _SET_HOSTS
    for first, end, hosts in _sweep(runs, frame.step, [m.member_id for m in members]):
        if first != following:  # stretches often follow on: keep counting from the last start
            at = from_epoch(first)
        starts = range(first, end, frame.step)
        for _ in starts:
            slot = new(TeamSlot)
            set_start(slot, at)
            set_end(slot, at + length)
            set_hosts(slot, hosts)
            append(slot)
            at += step
        following = first + len(starts) * frame.step
    return out


def collective_slots(
    rules: EventRules, members: Sequence[TeamMember], *, now: datetime, window: Interval, duration: int | None = None
) -> list[Slot]:
    """Slots where every member is free (intersection). No members, or any unreadable member, means no slots."""
    minutes = resolve_duration(rules, duration)
    if not members:
        return []
    frame, runs = _team_runs(rules, members, now, window, minutes)
    if not all(m.readable for m in members):  # an unreadable member's view is empty anyway; say it outright
        return []
    length, step = timedelta(seconds=frame.length), timedelta(seconds=frame.step)
    out: list[Slot] = []
    for first, end, _ in _sweep(runs, frame.step, [m.member_id for m in members], everyone=True):
        at = from_epoch(first)
        for _ in range(first, end, frame.step):
            out.append(Slot(at, at + length))
            at += step
    return out


def members_free_at(
    rules: EventRules, members: Sequence[TeamMember], start: datetime, *, now: datetime, duration: int | None = None
) -> tuple[str, ...]:
    """The members free for the slot starting exactly at ``start`` (in member order; empty if none, or if
    ``start`` is not one of the link's slots). The check made at confirmation, before assignment."""
    window = Interval(start, start + timedelta(minutes=1))
    for slot in round_robin_slots(rules, members, now=now, window=window, duration=duration):
        if slot.start == start:
            return slot.hosts
    return ()
