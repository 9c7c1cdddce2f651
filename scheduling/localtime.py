"""Wall-clock time in a host's zone, expanded to UTC day by day.

The documented rule for local times that don't exist or exist twice (DST gaps and folds), which is
what ``zoneinfo`` does with ``fold=0``:

* a wall time inside a spring-forward gap is read with the offset in force *before* the gap, which
  moves it forward by the gap's length (New York, 2027-03-14: 02:30 is read as 03:30 EDT);
* a wall time inside a fall-back fold is its *first* occurrence (New York, 2027-11-07: 01:30 is
  01:30 EDT, not 01:30 EST).

So a 09:00-17:00 rule is always 09:00-17:00 on the wall, eight hours long on ordinary days, and a rule
that covers the repeated hour of a fall-back night is an hour longer in real time, as it is on the wall.

Internally the slot engine works in integer epoch seconds; this module converts at the boundary.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
DAY = 86400


def to_epoch(dt: datetime) -> int:
    """Aware datetime -> whole epoch seconds (floor)."""
    ts = dt.timestamp()
    i = int(ts)
    return i - 1 if ts < i else i


def to_epoch_ceil(dt: datetime) -> int:
    ts = dt.timestamp()
    i = int(ts)
    return i + 1 if ts > i else i


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def wall_to_epoch(day: date, minute: int, tz: ZoneInfo) -> int:
    """UTC epoch seconds of wall time ``minute`` after local midnight of ``day`` (rule above)."""
    wall = datetime.combine(day, time(0), tzinfo=tz) + timedelta(minutes=minute)
    return int(wall.timestamp())


def offset_at(seconds: int, tz: ZoneInfo) -> int:
    """UTC offset (seconds) in force at an instant."""
    off = datetime.fromtimestamp(seconds, tz).utcoffset()
    assert off is not None
    return int(off.total_seconds())


def local_date(seconds: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(seconds, tz).date()


def local_midnight_wall(day: date) -> int:
    """The wall-clock 'local epoch' seconds of local midnight of ``day`` (offset-free arithmetic)."""
    return (day.toordinal() - _EPOCH_ORDINAL) * DAY


def days_between(first: date, last: date) -> Iterator[date]:
    d = first
    while d <= last:
        yield d
        d += timedelta(days=1)


@dataclass(frozen=True, slots=True)
class DaySegment:
    """Part of one local day during which the UTC offset is constant.

    Grid points inside it are the instants ``t`` with ``(t - phase) % step == 0``, i.e. the wall
    clock reads a whole multiple of ``step`` after local midnight.
    """

    start: int
    end: int
    offset: int
    day: date
    anchor: int  # wall-clock local-epoch seconds of this day's midnight

    def phase(self, step: int) -> int:
        return (self.anchor - self.offset) % step


def day_segments(day: date, tz: ZoneInfo) -> list[DaySegment]:
    """The one (or, on a DST change day, two) constant-offset segments of a local day."""
    start = wall_to_epoch(day, 0, tz)
    end = wall_to_epoch(day + timedelta(days=1), 0, tz)
    anchor = local_midnight_wall(day)
    first, last = offset_at(start, tz), offset_at(end - 1, tz)
    if first == last:
        return [DaySegment(start, end, first, day, anchor)]
    lo, hi = start, end - 1  # offset(lo) == first, offset(hi) == last: find the first second of `last`
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if offset_at(mid, tz) == first:
            lo = mid
        else:
            hi = mid
    return [DaySegment(start, hi, first, day, anchor), DaySegment(hi, end, last, day, anchor)]
