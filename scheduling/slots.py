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

Complexity: O((b + w) log(b + w) + s) for b busy intervals and bookings, w working ranges and s slots.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from scheduling.errors import InvalidRule
from scheduling.intervals import Interval, subtract_spans, union_spans
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


def blocking_spans(rules: EventRules, busy: Sequence[BusyInterval], bookings: Sequence[BookedInterval],
                   now: datetime, lo: int, hi: int, widen_before: int = 0,
                   widen_after: int = 0) -> list[tuple[int, int]]:
    """Everything that blocks, as epoch-second spans overlapping [lo, hi).

    Each span is widened by ``widen_before`` seconds at its start and ``widen_after`` at its end (the
    new slot's own buffers, so that the meeting alone can be tested against the result). This is the
    hot loop of slot computation, hence the inlined conversions.
    """
    blocking = rules.blocking_statuses
    spans: list[tuple[int, int]] = []
    append = spans.append
    floor, ceil = math.floor, math.ceil
    for b in busy:
        if b.status in blocking:
            s, e = b.start.timestamp(), b.end.timestamp()
            if s < hi and e > lo and s < e:
                append((floor(s) - widen_before, ceil(e) + widen_after))
    for bk in bookings:
        if bk.expires_at is not None and bk.expires_at <= now:
            continue
        s, e = bk.start.timestamp() - bk.buffer_before * 60, bk.end.timestamp() + bk.buffer_after * 60
        if s < hi and e > lo and s < e:  # an empty padded booking blocks nothing, like empty busy time
            append((floor(s) - widen_before, ceil(e) + widen_after))
    return spans


def capped_days(rules: EventRules, bookings: Sequence[BookedInterval], now: datetime,
                tz: ZoneInfo) -> tuple[set[date], set[tuple[int, int]]]:
    """Local dates and ISO weeks (year, week) that have reached their caps."""
    if rules.daily_cap is None and rules.weekly_cap is None:
        return set(), set()
    per_day: Counter[date] = Counter()
    for bk in bookings:
        if bk.counts_toward_caps and (bk.expires_at is None or bk.expires_at > now):
            per_day[bk.start.astimezone(tz).date()] += 1
    per_week: Counter[tuple[int, int]] = Counter()
    for day, n in per_day.items():
        iso = day.isocalendar()
        per_week[(iso.year, iso.week)] += n
    days = {d for d, n in per_day.items() if rules.daily_cap is not None and n >= rules.daily_cap}
    weeks = {w for w, n in per_week.items() if rules.weekly_cap is not None and n >= rules.weekly_cap}
    return days, weeks


def slot_starts(rules: EventRules, *, now: datetime, window: Interval,
                busy: Sequence[BusyInterval] = (), bookings: Sequence[BookedInterval] = (),
                duration: int | None = None, availability: Availability | None = None) -> list[int]:
    """Sorted epoch-second starts of every bookable slot (the engine behind ``compute_slots``).

    ``availability`` replaces the rules' own working hours (a team member's hours); the grid, notice,
    window and caps still follow ``rules`` and its zone.
    """
    rules.validate()
    minutes = resolve_duration(rules, duration)
    avail = availability or rules.availability
    if availability is not None:
        problems = availability.problems()
        if problems:
            field_name, message = next(iter(problems.items()))
            raise InvalidRule(field_name, message)
    tz = rules.availability.tz
    length = minutes * 60
    step = rules.interval * 60
    pad_before, pad_after = rules.buffer_before * 60, rules.buffer_after * 60

    bw_start, bw_end = booking_window_bounds(rules.window, now, tz)
    lo = max(to_epoch_ceil(window.start), to_epoch_ceil(now) + rules.minimum_notice * 60, bw_start)
    hi = min(to_epoch_ceil(window.end), bw_end - length + 1)  # exclusive bound on starts
    if lo >= hi:
        return []

    # Working time, shrunk by this slot's own buffers, minus blockers widened by the same buffers:
    # what remains is exactly where the meeting itself may sit.
    span_lo, span_hi = lo - pad_before, hi + length + pad_after
    first_day = local_date(span_lo, avail.tz) - timedelta(days=1)
    last_day = local_date(span_hi, avail.tz) + timedelta(days=1)
    allowed = [
        (s + pad_before, e - pad_after)
        for s, e in working_spans(avail, first_day, last_day)
        if e - s > pad_before + pad_after
    ]
    blockers = blocking_spans(rules, busy, bookings, now, span_lo, span_hi, pad_after, pad_before)
    free = subtract_spans(allowed, blockers) if blockers else allowed

    full_days, full_weeks = capped_days(rules, bookings, now, tz)
    segments = []
    for day in days_between(local_date(lo, tz), local_date(hi - 1, tz)):
        if day in full_days:
            continue
        if full_weeks:
            iso = day.isocalendar()
            if (iso.year, iso.week) in full_weeks:
                continue
        segments.extend(day_segments(day, tz))

    starts: list[int] = []
    i = 0
    for seg in segments:
        seg_lo, seg_hi = max(seg.start, lo), min(seg.end, hi)  # starts in [seg_lo, seg_hi)
        if seg_lo >= seg_hi:
            continue
        phase = seg.phase(step)
        while i < len(free) and free[i][1] - length < seg_lo:
            i += 1
        j = i
        while j < len(free) and free[j][0] < seg_hi:
            a = max(free[j][0], seg_lo)
            b = min(free[j][1] - length, seg_hi - 1)  # inclusive last start
            if a <= b:
                first = a + (phase - a) % step
                starts.extend(range(first, b + 1, step))
            j += 1
    return starts


def compute_slots(rules: EventRules, *, now: datetime, window: Interval,
                  busy: Sequence[BusyInterval] = (), bookings: Sequence[BookedInterval] = (),
                  duration: int | None = None) -> list[Slot]:
    """Every bookable slot for one host whose start lies in ``window`` (sorted, UTC)."""
    minutes = resolve_duration(rules, duration)
    length = minutes * 60
    return [
        Slot(from_epoch(s), from_epoch(s + length))
        for s in slot_starts(rules, now=now, window=window, busy=busy, bookings=bookings, duration=minutes)
    ]


def is_bookable(rules: EventRules, start: datetime, *, now: datetime,
                busy: Sequence[BusyInterval] = (), bookings: Sequence[BookedInterval] = (),
                duration: int | None = None) -> bool:
    """True when ``start`` is exactly one of the offered slots."""
    minutes = resolve_duration(rules, duration)
    window = Interval(start, start + timedelta(minutes=1))
    return to_epoch(start) in slot_starts(rules, now=now, window=window, busy=busy, bookings=bookings,
                                           duration=minutes)
