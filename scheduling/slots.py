"""Which slots can an invitee book right now?

``compute_slots`` answers it for one host; ``scheduling.team`` combines hosts. Pure: ``now``, the
query window, busy time and bookings are arguments.

Exact semantics (every clause is covered by a test):

* **Working time.** The host's weekly hours and date overrides, expanded day by day in the host's
  zone (see :mod:`scheduling.localtime` for DST gaps and folds). Ranges that touch, such as Friday
  22:00-24:00 and Saturday 00:00-02:00, form one continuous stretch.
* **Buffers.** A slot ``[S, S + duration)`` is offered only if its *padded* interval
  ``[S - buffer_before, S + duration + buffer_after)`` lies entirely inside working time and overlaps
  nothing that blocks. Buffers are the host's breathing room and must be working time too: a 09:00-17:00
  day with a 15-minute buffer before offers 09:15 as its first start.
* **What blocks.** Busy intervals whose status is in ``rules.blocking_statuses``, as they are (Outlook
  events carry no buffers), and existing bookings and live holds *padded with their own buffers*
  ``[start - their buffer_before, end + their buffer_after)``. Buffers therefore add up between two
  Slotwise meetings: a 10-minute after-buffer followed by a 10-minute before-buffer leaves 20 minutes.
  A hold whose ``expires_at`` is at or before ``now`` blocks nothing. Zero-length busy blocks nothing.
  Intervals are half-open, so a meeting may start exactly when a busy event (or its buffer) ends.
* **Grid.** Starts fall on the slot-interval grid of the host's *local* clock, counted from local
  midnight: with a 15-minute interval, starts read :00, :15, :30, :45 on the host's wall clock in
  every zone (Asia/Kolkata included). On a fall-back night the repeated hour has grid points in both
  of its occurrences.
* **Notice.** No slot starts before ``now + minimum_notice``.
* **Booking window.** No slot ends after the window's end, nor (fixed range) starts before its first
  local midnight (see :class:`~scheduling.rules.BookingWindow`).
* **Query window.** Only slots whose start lies in ``[window.start, window.end)`` are returned.
* **Caps.** Bookings with ``counts_toward_caps`` are counted per host-local date of their start and per
  ISO week of that date; a date (or week) that has reached its cap offers no slot, so booking any
  offered slot never exceeds a cap.

How it is computed: :func:`slot_frame` lays out what depends only on the rules, ``now``, the query window
and the duration (bounds, grid phases, local days); :meth:`SlotFrame.allowed` expands one
:class:`~scheduling.rules.Availability` into working time; :meth:`SlotFrame.runs` subtracts one host's
blockers (each busy time converted to epoch seconds once) and walks the grid, giving runs of starts. A team
computation (:mod:`scheduling.team`) shares the frame across members and the working time across members
with equal hours.

Complexity: O((b + w) log(b + w) + s) for b busy intervals and bookings, w working ranges and s slots.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from operator import itemgetter
from zoneinfo import ZoneInfo

from scheduling.errors import InvalidRule
from scheduling.intervals import Interval, union_spans
from scheduling.localtime import (
    day_segments,
    days_between,
    from_epoch,
    local_date,
    to_epoch,
    to_epoch_ceil,
    wall_to_epoch,
)
from scheduling.ports import BookedInterval, BusyInterval
from scheduling.rules import Availability, BookingWindow, EventRules


@dataclass(frozen=True, slots=True, order=True)
class Slot:
    """A bookable meeting time ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    @property
    def interval(self) -> Interval:
        return Interval(self.start, self.end)


def booking_window_bounds(window: BookingWindow, now: datetime, tz: ZoneInfo) -> tuple[int, int]:
    """(earliest start, latest end) in epoch seconds allowed by the booking window."""
    if window.rolling_days is not None:
        today = now.astimezone(tz).date()
        last = today + timedelta(days=window.rolling_days - 1)
        return (-(2**62), wall_to_epoch(last + timedelta(days=1), 0, tz))
    assert window.start_date is not None and window.end_date is not None
    first = wall_to_epoch(window.start_date, 0, tz)
    return (first, wall_to_epoch(window.end_date + timedelta(days=1), 0, tz))


def resolve_duration(rules: EventRules, duration: int | None) -> int:
    if duration is None:
        return rules.duration
    if duration not in rules.durations:
        allowed = ", ".join(f"{d} min" for d in rules.durations)
        raise InvalidRule("duration", f"This link offers {allowed} meetings, not {duration} min.")
    return duration


def working_spans(availability: Availability, first: date, last: date) -> list[tuple[int, int]]:
    """Working time between two local dates (inclusive) as merged epoch-second spans."""
    tz = availability.tz
    spans = [
        (wall_to_epoch(day, r.start, tz), wall_to_epoch(day, r.end, tz))
        for day in days_between(first, last)
        for r in availability.ranges_on(day)
    ]
    return union_spans(spans)


def blocking_spans(
    rules: EventRules,
    busy: Sequence[BusyInterval],
    bookings: Sequence[BookedInterval],
    now: datetime,
    lo: int,
    hi: int,
    widen_before: int = 0,
    widen_after: int = 0,
) -> list[tuple[int, int]]:
    """Everything that blocks, as epoch-second spans overlapping [lo, hi).

    Each span is widened by ``widen_before`` seconds at its start and ``widen_after`` at its end (the
    new slot's own buffers, so that the meeting alone can be tested against the result). This is the
    hot loop of slot computation: each busy time is converted once, in one pass over the list.
    """
    blocking = rules.blocking_statuses
    floor, ceil = math.floor, math.ceil
    stamp = datetime.timestamp
    if widen_before or widen_after:
        spans = [
            (floor(s) - widen_before, ceil(e) + widen_after)
            for b in busy
            if b.status in blocking and (s := stamp(b.start)) < hi and lo < (e := stamp(b.end)) and s < e
        ]
    else:
        spans = [
            (floor(s), ceil(e))
            for b in busy
            if b.status in blocking and (s := stamp(b.start)) < hi and lo < (e := stamp(b.end)) and s < e
        ]
    append = spans.append
    for bk in bookings:
        if bk.expires_at is not None and bk.expires_at <= now:
            continue
        s, e = bk.start.timestamp() - bk.buffer_before * 60, bk.end.timestamp() + bk.buffer_after * 60
        if s < hi and e > lo and s < e:  # an empty padded booking blocks nothing, like empty busy time
            append((floor(s) - widen_before, ceil(e) + widen_after))
    return spans


def capped_days(
    rules: EventRules, bookings: Sequence[BookedInterval], now: datetime, tz: ZoneInfo
) -> tuple[set[date], set[tuple[int, int]]]:
    """Local dates and ISO weeks (year, week) that have reached their caps."""
    return _capped(rules.daily_cap, rules.weekly_cap, bookings, now, tz)


def _capped(
    daily_cap: int | None, weekly_cap: int | None, bookings: Sequence[BookedInterval], now: datetime, tz: ZoneInfo
) -> tuple[set[date], set[tuple[int, int]]]:
    if daily_cap is None and weekly_cap is None:
        return set(), set()
    per_day: Counter[date] = Counter()
    for bk in bookings:
        if bk.counts_toward_caps and (bk.expires_at is None or bk.expires_at > now):
            per_day[bk.start.astimezone(tz).date()] += 1
    per_week: Counter[tuple[int, int]] = Counter()
    for day, n in per_day.items():
        iso = day.isocalendar()
        per_week[(iso.year, iso.week)] += n
    days = {d for d, n in per_day.items() if daily_cap is not None and n >= daily_cap}
    weeks = {w for w, n in per_week.items() if weekly_cap is not None and n >= weekly_cap}
    return days, weeks


def tighter_cap(a: int | None, b: int | None) -> int | None:
    """The stricter of two optional caps (None: no cap)."""
    if a is None:
        return b
    return a if b is None else min(a, b)


def check_availability(availability: Availability) -> None:
    """Raise :class:`InvalidRule` for the first problem of a host's own working hours."""
    problems = availability.problems()
    if problems:
        field_name, message = next(iter(problems.items()))
        raise InvalidRule(field_name, message)


#: Runs of starts: ``(first, last)`` grid points of one local day segment, both included; the run's starts
#: are ``range(first, last + 1, frame.step)``.
Run = tuple[int, int]


@dataclass(frozen=True, slots=True)
class _LocalDay:
    day: date
    week: tuple[int, int]  # ISO (year, week)
    segments: tuple[tuple[int, int, int], ...]  # (first start, exclusive bound, grid phase), clipped to [lo, hi)


@dataclass(frozen=True, slots=True)
class SlotFrame:
    """The part of a computation that depends only on the rules, ``now``, the query window and the duration.

    A team computation builds it once and shares it across members (with the working time of each distinct
    :class:`Availability`, see :meth:`allowed`); a single host's computation is the same code with one host.
    Built by :func:`slot_frame` (which validates the rules); ``days`` is empty when nothing can be offered.
    """

    rules: EventRules
    now: datetime
    minutes: int
    length: int  # seconds
    step: int  # seconds
    lo: int  # earliest start (epoch seconds)
    hi: int  # exclusive bound on starts
    days: tuple[_LocalDay, ...]

    @property
    def empty(self) -> bool:
        return not self.days

    def allowed(self, availability: Availability) -> list[tuple[int, int]]:
        """Working time, shrunk by this slot's own buffers: where a padded meeting's core may sit."""
        pad_before, pad_after = self.rules.buffer_before * 60, self.rules.buffer_after * 60
        span_lo, span_hi = self.lo - pad_before, self.hi + self.length + pad_after
        tz = availability.tz
        first_day = local_date(span_lo, tz) - timedelta(days=1)
        last_day = local_date(span_hi, tz) + timedelta(days=1)
        return [
            (s + pad_before, e - pad_after)
            for s, e in working_spans(availability, first_day, last_day)
            if e - s > pad_before + pad_after
        ]

    def runs(
        self,
        allowed: Sequence[tuple[int, int]],
        busy: Sequence[BusyInterval] = (),
        bookings: Sequence[BookedInterval] = (),
        *,
        daily_cap: int | None = None,
        weekly_cap: int | None = None,
    ) -> list[Run]:
        """One host's bookable starts as runs, given the host's :meth:`allowed` time, busy time and bookings.

        ``daily_cap``/``weekly_cap`` apply on top of the rules' own caps (the stricter wins).
        """
        if not self.days:
            return []
        rules = self.rules
        length, step = self.length, self.step
        pad_before, pad_after = rules.buffer_before * 60, rules.buffer_after * 60
        # Working time minus blockers widened by this slot's buffers: exactly where the meeting itself may sit.
        blockers = blocking_spans(
            rules, busy, bookings, self.now, self.lo - pad_before, self.hi + length + pad_after, pad_after, pad_before
        )
        free = _subtract_sorted(allowed, blockers) if blockers else allowed
        daily, weekly = tighter_cap(rules.daily_cap, daily_cap), tighter_cap(rules.weekly_cap, weekly_cap)
        full_days, full_weeks = _capped(daily, weekly, bookings, self.now, rules.availability.tz)

        runs: list[Run] = []
        append = runs.append
        n = len(free)
        i = 0
        for local in self.days:
            if local.day in full_days or local.week in full_weeks:
                continue
            for seg_lo, seg_hi, phase in local.segments:  # starts in [seg_lo, seg_hi)
                while i < n and free[i][1] - length < seg_lo:
                    i += 1
                j = i
                seg_last = seg_hi - 1
                while j < n:
                    a, b = free[j]
                    if a >= seg_hi:
                        break
                    if a < seg_lo:
                        a = seg_lo
                    b -= length  # the last start that fits, inclusive
                    if b > seg_last:
                        b = seg_last
                    if a <= b:
                        first = a + (phase - a) % step
                        if first <= b:
                            append((first, b - (b - first) % step))
                    j += 1
        return runs


_first = itemgetter(0)


def _subtract_sorted(allowed: Sequence[tuple[int, int]], blockers: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``subtract_spans(allowed, blockers)`` for normalised ``allowed`` and non-empty ``blockers`` (sorted here,
    in place), merging the blockers on the fly: one sort and one linear pass."""
    blockers.sort(key=_first)  # by start only: the pass below does not need equal starts in any order
    out: list[tuple[int, int]] = []
    append = out.append
    k, n = 0, len(blockers)
    reach = -(2**62)  # the furthest end of the blockers consumed so far
    for s, e in allowed:
        cur = s if reach <= s else reach
        while k < n:
            bs, be = blockers[k]
            if bs >= e:
                break
            k += 1
            if be > cur:
                if bs > cur:
                    append((cur, bs))
                cur = reach = be
        if cur < e:
            append((cur, e))
    return out


def slot_frame(rules: EventRules, *, now: datetime, window: Interval, minutes: int) -> SlotFrame:
    """Validate ``rules`` and lay out the query's bounds and local days (``minutes``: a resolved duration)."""
    rules.validate()
    return _frame(rules, now, window, minutes)


def _frame(rules: EventRules, now: datetime, window: Interval, minutes: int) -> SlotFrame:
    tz = rules.availability.tz
    length = minutes * 60
    step = rules.interval * 60
    bw_start, bw_end = booking_window_bounds(rules.window, now, tz)
    lo = max(to_epoch_ceil(window.start), to_epoch_ceil(now) + rules.minimum_notice * 60, bw_start)
    hi = min(to_epoch_ceil(window.end), bw_end - length + 1)  # exclusive bound on starts
    days: list[_LocalDay] = []
    if lo < hi:
        for day in days_between(local_date(lo, tz), local_date(hi - 1, tz)):
            segments = []
            for seg in day_segments(day, tz):
                seg_lo, seg_hi = max(seg.start, lo), min(seg.end, hi)
                if seg_lo < seg_hi:
                    segments.append((seg_lo, seg_hi, seg.phase(step)))
            if segments:
                iso = day.isocalendar()
                days.append(_LocalDay(day, (iso.year, iso.week), tuple(segments)))
    return SlotFrame(rules, now, minutes, length, step, lo, hi, tuple(days))


def expand_runs(runs: Sequence[Run], step: int) -> list[int]:
    """Every start of ``runs``, in order."""
    starts: list[int] = []
    for first, last in runs:
        starts.extend(range(first, last + 1, step))
    return starts


def slot_starts(
    rules: EventRules,
    *,
    now: datetime,
    window: Interval,
    busy: Sequence[BusyInterval] = (),
    bookings: Sequence[BookedInterval] = (),
    duration: int | None = None,
    availability: Availability | None = None,
) -> list[int]:
    """Sorted epoch-second starts of every bookable slot (the engine behind ``compute_slots``).

    ``availability`` replaces the rules' own working hours (a team member's hours); the grid, notice,
    window and caps still follow ``rules`` and its zone.
    """
    frame, avail = _single_frame(rules, now, window, duration, availability)
    if frame.empty:
        return []
    return expand_runs(frame.runs(frame.allowed(avail), busy, bookings), frame.step)


def _single_frame(
    rules: EventRules, now: datetime, window: Interval, duration: int | None, availability: Availability | None
) -> tuple[SlotFrame, Availability]:
    rules.validate()
    minutes = resolve_duration(rules, duration)
    if availability is not None:
        check_availability(availability)
    return _frame(rules, now, window, minutes), availability or rules.availability


def compute_slots(
    rules: EventRules,
    *,
    now: datetime,
    window: Interval,
    busy: Sequence[BusyInterval] = (),
    bookings: Sequence[BookedInterval] = (),
    duration: int | None = None,
) -> list[Slot]:
    """Every bookable slot for one host whose start lies in ``window`` (sorted, UTC)."""
    minutes = resolve_duration(rules, duration)
    frame, avail = _single_frame(rules, now, window, minutes, None)
    if frame.empty:
        return []
    slots: list[Slot] = []
    append = slots.append
    length, step = timedelta(seconds=frame.length), timedelta(seconds=frame.step)
    for first, last in frame.runs(frame.allowed(avail), busy, bookings):
        at = from_epoch(first)
        for _ in range(first, last + 1, frame.step):
            append(Slot(at, at + length))
            at += step
    return slots


def is_bookable(
    rules: EventRules,
    start: datetime,
    *,
    now: datetime,
    busy: Sequence[BusyInterval] = (),
    bookings: Sequence[BookedInterval] = (),
    duration: int | None = None,
) -> bool:
    """True when ``start`` is exactly one of the offered slots."""
    minutes = resolve_duration(rules, duration)
    window = Interval(start, start + timedelta(minutes=1))
    return to_epoch(start) in slot_starts(rules, now=now, window=window, busy=busy, bookings=bookings, duration=minutes)
