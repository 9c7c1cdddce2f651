"""Half-open UTC intervals and the interval algebra (``union``, ``intersect``, ``subtract``).

Every interval is ``[start, end)``: ``start`` is included, ``end`` is not, so two back-to-back meetings
``[09:00, 09:30)`` and ``[09:30, 10:00)`` do not overlap, and a zero-length interval is the empty set
(it blocks nothing and disappears from every result).

The algebra is written once over *spans*, ``(start, end)`` pairs of any ordered type, so the slot
engine can run it on integer epoch seconds in its hot loop while callers use :class:`Interval`.
All results are sorted, disjoint, non-adjacent (touching spans are merged) and free of empty spans.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar


class _Ordered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...
    def __le__(self, other: Any, /) -> bool: ...


T = TypeVar("T", bound=_Ordered)
Span = tuple[T, T]


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    """A half-open interval ``[start, end)`` of UTC instants (timezone-aware datetimes)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value: datetime = getattr(self, name)
            offset = value.utcoffset()
            if offset is None:
                raise ValueError(f"Interval.{name} must be timezone-aware, got {value!r}")
            if value.tzinfo is not UTC:
                object.__setattr__(self, name, value.astimezone(UTC))
        if self.end < self.start:
            raise ValueError(f"Interval end {self.end.isoformat()} is before start {self.start.isoformat()}")

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def is_empty(self) -> bool:
        return self.start == self.end

    def overlaps(self, other: Interval) -> bool:
        """True when the two intervals share at least one instant (empty intervals never overlap)."""
        return self.start < other.end and other.start < self.end and not self.is_empty and not other.is_empty

    def contains(self, other: Interval) -> bool:
        return self.start <= other.start and other.end <= self.end

    def span(self) -> tuple[datetime, datetime]:
        return (self.start, self.end)


# --------------------------------------------------------------------------- span algebra (generic)


def union_spans(spans: Iterable[Span[T]]) -> list[Span[T]]:
    """Merge spans into a sorted list of disjoint, non-touching, non-empty spans."""
    ordered = sorted(s for s in spans if s[0] < s[1])
    merged: list[Span[T]] = []
    for start, end in ordered:
        if merged and start <= merged[-1][1]:
            if merged[-1][1] < end:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def intersect_spans(a: Sequence[Span[T]], b: Sequence[Span[T]]) -> list[Span[T]]:
    """Intersection of two span sets; inputs need not be normalised."""
    left, right = union_spans(a), union_spans(b)
    out: list[Span[T]] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = left[i][0] if right[j][0] < left[i][0] else right[j][0]
        end = left[i][1] if left[i][1] < right[j][1] else right[j][1]
        if start < end:
            out.append((start, end))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract_spans(a: Sequence[Span[T]], b: Sequence[Span[T]]) -> list[Span[T]]:
    """Everything in ``a`` that is not in ``b``; linear after sorting."""
    base, cut = union_spans(a), union_spans(b)
    out: list[Span[T]] = []
    j = 0
    for start, end in base:
        cur = start
        while j < len(cut) and cut[j][1] <= cur:
            j += 1
        k = j
        while k < len(cut) and cut[k][0] < end:
            if cur < cut[k][0]:
                out.append((cur, cut[k][0]))
            if cur < cut[k][1]:
                cur = cut[k][1]
            if end <= cur:
                break
            k += 1
        if cur < end:
            out.append((cur, end))
    return out


# --------------------------------------------------------------------------- Interval wrappers


def _wrap(spans: Iterable[tuple[datetime, datetime]]) -> list[Interval]:
    return [Interval(s, e) for s, e in spans]


def union(intervals: Iterable[Interval]) -> list[Interval]:
    return _wrap(union_spans(i.span() for i in intervals))


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    return _wrap(intersect_spans([i.span() for i in a], [i.span() for i in b]))


def subtract(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    return _wrap(subtract_spans([i.span() for i in a], [i.span() for i in b]))


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as an aware UTC datetime; naive values are refused rather than guessed."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: pass a timezone-aware value")
    return dt.astimezone(UTC)
