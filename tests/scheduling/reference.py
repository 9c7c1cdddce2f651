"""A brute-force reference model of slot computation, written straight from the docstring of
``scheduling.slots`` and ``scheduling.localtime``, sharing no code with the engine.

It works minute by minute: working time and blocked time are bitmaps of UTC minutes built with
``zoneinfo`` (wall times constructed with ``fold=0``, which is the documented gap/fold rule), and every
whole-minute instant of the query window is checked against each clause on its own. Slow by design;
use it on windows of a few days.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from scheduling.intervals import Interval
from scheduling.ports import BookedInterval, BusyInterval
from scheduling.rules import Availability, EventRules

_PAD_DAYS = 3
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _wall_instant(day: date, minute: int, tz: ZoneInfo) -> int:
    """Epoch seconds of wall time ``minute`` after local midnight of ``day`` (fold=0; 1440 = next day)."""
    if minute == 1440:
        day, minute = day + timedelta(days=1), 0
    dt = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=tz, fold=0)
    return int(dt.timestamp())


def _default_interval(duration: int) -> int:
    return duration if duration in (5, 10, 15, 20, 30) else 30


def _ceil_seconds(dt: datetime) -> int:
    """Smallest whole epoch second at or after ``dt`` (exact, no float rounding)."""
    q, r = divmod(dt - _EPOCH, timedelta(seconds=1))
    return q + (1 if r else 0)


def _ceil_minute(ts: float) -> int:
    m = int(ts // 60)
    return m if m * 60 >= ts else m + 1


def reference_starts(
    rules: EventRules,
    *,
    now: datetime,
    window: Interval,
    busy: Sequence[BusyInterval] = (),
    bookings: Sequence[BookedInterval] = (),
    duration: int | None = None,
    availability: Availability | None = None,
) -> list[int]:
    """Epoch-second starts of every slot the documented semantics allow (minute granularity)."""
    minutes = rules.durations[0] if duration is None else duration
    avail = availability if availability is not None else rules.availability
    tz = ZoneInfo(rules.availability.time_zone)
    work_tz = ZoneInfo(avail.time_zone)
    step = rules.slot_interval if rules.slot_interval is not None else _default_interval(rules.durations[0])
    pad_b, pad_a = rules.buffer_before, rules.buffer_after

    # Minute bitmaps over [base, base + size) UTC minutes, with generous margins.
    base = int(window.start.timestamp() // 60) - _PAD_DAYS * 1440
    size = _ceil_minute(window.end.timestamp()) - base + _PAD_DAYS * 1440 + minutes
    work = bytearray(size)
    blocked = bytearray(size)

    def mark(bits: bytearray, start_s: float, end_s: float) -> None:
        """Mark every minute cell that shares an instant with ``[start_s, end_s)`` (nothing if empty)."""
        if not start_s < end_s:
            return
        a = max(0, int(start_s // 60) - base)
        b = min(size, _ceil_minute(end_s) - base)
        if a < b:
            bits[a:b] = b"\x01" * (b - a)

    first_day = datetime.fromtimestamp(base * 60, work_tz).date() - timedelta(days=1)
    last_day = datetime.fromtimestamp((base + size) * 60, work_tz).date() + timedelta(days=1)
    day = first_day
    while day <= last_day:
        ranges = avail.overrides.get(day, avail.weekly[day.weekday()])
        for r in ranges:
            mark(work, _wall_instant(day, r.start, work_tz), _wall_instant(day, r.end, work_tz))
        day += timedelta(days=1)

    live_bookings = [bk for bk in bookings if bk.expires_at is None or bk.expires_at > now]
    for interval in busy:
        if interval.status in rules.blocking_statuses:
            mark(blocked, interval.start.timestamp(), interval.end.timestamp())
    for bk in live_bookings:
        mark(
            blocked,
            (bk.start - timedelta(minutes=bk.buffer_before)).timestamp(),
            (bk.end + timedelta(minutes=bk.buffer_after)).timestamp(),
        )

    work_sum = [0, *itertools.accumulate(work)]
    blocked_sum = [0, *itertools.accumulate(blocked)]

    # Caps: bookings that count, by host-local date of their start, and by ISO week of that date.
    per_day: Counter[date] = Counter(bk.start.astimezone(tz).date() for bk in live_bookings if bk.counts_toward_caps)
    per_week: Counter[tuple[int, int]] = Counter()
    for d, n in per_day.items():
        per_week[d.isocalendar()[:2]] += n

    # Booking window.
    bw = rules.window
    if bw.rolling_days is not None:
        today = now.astimezone(tz).date()
        earliest, latest_end = None, _wall_instant(today + timedelta(days=bw.rolling_days), 0, tz)
    else:
        assert bw.start_date is not None and bw.end_date is not None
        earliest = _wall_instant(bw.start_date, 0, tz)
        latest_end = _wall_instant(bw.end_date + timedelta(days=1), 0, tz)

    # Exact integer bounds (instants may carry microseconds): a whole-second start t satisfies
    # window.start <= t < window.end and t >= now + notice exactly when these integer tests hold.
    first_ok = max(_ceil_seconds(window.start), _ceil_seconds(now + timedelta(minutes=rules.minimum_notice)))
    end_excl = _ceil_seconds(window.end)
    out: list[int] = []
    for m in range(first_ok // 60, end_excl // 60 + 1):
        t = m * 60
        if not first_ok <= t < end_excl:
            continue  # query window and notice
        if t + minutes * 60 > latest_end or (earliest is not None and t < earliest):
            continue  # booking window
        a, b = m - pad_b - base, m + minutes + pad_a - base  # padded slot as bitmap indices
        if work_sum[b] - work_sum[a] != b - a:
            continue  # padded slot not entirely inside working time
        if blocked_sum[b] - blocked_sum[a]:
            continue  # padded slot meets something that blocks
        local = datetime.fromtimestamp(t, tz)
        if (local.hour * 60 + local.minute) % step or local.second:
            continue  # not on the host's local grid
        d = local.date()
        if rules.daily_cap is not None and per_day[d] >= rules.daily_cap:
            continue
        if rules.weekly_cap is not None and per_week[d.isocalendar()[:2]] >= rules.weekly_cap:
            continue
        out.append(t)
    return out
