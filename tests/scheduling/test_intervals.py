"""The Interval type and the interval algebra (union, intersect, subtract)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduling.intervals import (
    Interval,
    intersect,
    intersect_spans,
    subtract,
    subtract_spans,
    union,
    union_spans,
    utc,
)
from tests.scheduling.strategies import props, small_spans
from tests.scheduling.strategies import utc as at

T9, T930, T10, T1030, T11 = (
    at(2027, 1, 4, 9),
    at(2027, 1, 4, 9, 30),
    at(2027, 1, 4, 10),
    at(2027, 1, 4, 10, 30),
    at(2027, 1, 4, 11),
)


# --------------------------------------------------------------------------- Interval


class TestInterval:
    def test_naive_start_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="start must be timezone-aware"):
            Interval(datetime(2027, 1, 4, 9), T10)

    def test_naive_end_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="end must be timezone-aware"):
            Interval(T9, datetime(2027, 1, 4, 10))

    def test_non_utc_aware_values_are_converted_to_utc(self) -> None:
        ny = ZoneInfo("America/New_York")
        i = Interval(datetime(2027, 1, 4, 4, 0, tzinfo=ny), datetime(2027, 1, 4, 5, 0, tzinfo=ny))
        assert i.start.tzinfo is UTC and i.end.tzinfo is UTC
        assert (i.start, i.end) == (T9, T10)
        fixed = timezone(timedelta(hours=5, minutes=30))
        j = Interval(datetime(2027, 1, 4, 14, 30, tzinfo=fixed), datetime(2027, 1, 4, 15, tzinfo=fixed))
        assert (j.start, j.end) == (T9, T930) and j.start.tzinfo is UTC

    def test_zoneinfo_utc_is_normalised_too(self) -> None:
        i = Interval(datetime(2027, 1, 4, 9, tzinfo=ZoneInfo("UTC")), T10)
        assert i.start.tzinfo is UTC
        assert i == Interval(T9, T10)

    def test_end_before_start_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="before start"):
            Interval(T10, T9)

    def test_end_before_start_is_checked_after_conversion(self) -> None:
        # 09:30 in New York is 14:30 UTC, after 10:00 UTC: inverted although the wall clock says otherwise.
        with pytest.raises(ValueError):
            Interval(datetime(2027, 1, 4, 9, 30, tzinfo=ZoneInfo("America/New_York")), T10)

    def test_zero_length_is_allowed_and_empty(self) -> None:
        i = Interval(T9, T9)
        assert i.is_empty and i.duration == timedelta(0)
        assert not Interval(T9, T10).is_empty

    def test_duration_and_span(self) -> None:
        i = Interval(T9, T1030)
        assert i.duration == timedelta(minutes=90)
        assert i.span() == (T9, T1030)

    @pytest.mark.parametrize(
        ("a", "b", "expected"),
        [
            pytest.param((T9, T10), (T10, T11), False, id="back-to-back"),
            pytest.param((T10, T11), (T9, T10), False, id="back-to-back-reversed"),
            pytest.param((T9, T1030), (T10, T11), True, id="partial"),
            pytest.param((T9, T11), (T930, T10), True, id="nested"),
            pytest.param((T9, T10), (T9, T10), True, id="equal"),
            pytest.param((T9, T930), (T10, T11), False, id="apart"),
            pytest.param((T930, T930), (T9, T10), False, id="empty-inside"),
            pytest.param((T9, T10), (T930, T930), False, id="empty-inside-reversed"),
            pytest.param((T9, T9), (T9, T9), False, id="both-empty-same-instant"),
            pytest.param((T9, T10), (T9, T9), False, id="empty-at-start"),
        ],
    )
    def test_overlaps_is_half_open_and_symmetric(
        self, a: tuple[datetime, datetime], b: tuple[datetime, datetime], expected: bool
    ) -> None:
        assert Interval(*a).overlaps(Interval(*b)) is expected
        assert Interval(*b).overlaps(Interval(*a)) is expected

    @pytest.mark.parametrize(
        ("outer", "inner", "expected"),
        [
            pytest.param((T9, T11), (T930, T10), True, id="nested"),
            pytest.param((T9, T11), (T9, T11), True, id="equal"),
            pytest.param((T9, T11), (T10, T11), True, id="shares-end"),
            pytest.param((T9, T11), (T9, T10), True, id="shares-start"),
            pytest.param((T9, T10), (T930, T1030), False, id="sticks-out-after"),
            pytest.param((T930, T11), (T9, T10), False, id="sticks-out-before"),
            pytest.param((T930, T10), (T9, T11), False, id="bigger"),
            pytest.param((T9, T10), (T10, T11), False, id="back-to-back"),
        ],
    )
    def test_contains(self, outer: tuple[datetime, datetime], inner: tuple[datetime, datetime], expected: bool) -> None:
        assert Interval(*outer).contains(Interval(*inner)) is expected

    def test_ordering_and_equality(self) -> None:
        assert Interval(T9, T10) < Interval(T9, T11) < Interval(T10, T11)
        assert Interval(T9, T10) == Interval(T9.astimezone(ZoneInfo("Asia/Kolkata")), T10)
        assert len({Interval(T9, T10), Interval(T9.astimezone(ZoneInfo("Europe/London")), T10)}) == 1

    def test_is_frozen(self) -> None:
        i = Interval(T9, T10)
        with pytest.raises(AttributeError):
            i.start = T10  # type: ignore[misc]


class TestUtc:
    def test_naive_is_refused(self) -> None:
        with pytest.raises(ValueError, match="naive"):
            utc(datetime(2027, 1, 4, 9))

    def test_aware_is_converted(self) -> None:
        value = utc(datetime(2027, 1, 4, 20, tzinfo=ZoneInfo("Australia/Sydney")))
        assert value == at(2027, 1, 4, 9) and value.tzinfo is UTC


# --------------------------------------------------------------------------- table cases on spans


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        pytest.param([], [], id="nothing"),
        pytest.param([(3, 3)], [], id="zero-length-disappears"),
        pytest.param([(5, 2)], [], id="inverted-span-is-empty"),
        pytest.param([(1, 3), (3, 5)], [(1, 5)], id="touching-merge"),
        pytest.param([(3, 5), (1, 3)], [(1, 5)], id="unsorted-touching"),
        pytest.param([(1, 4), (2, 3)], [(1, 4)], id="nested"),
        pytest.param([(1, 2), (4, 5)], [(1, 2), (4, 5)], id="apart"),
        pytest.param([(1, 3), (2, 6), (6, 7), (9, 9), (8, 10)], [(1, 7), (8, 10)], id="chain"),
        pytest.param([(2, 2), (1, 3)], [(1, 3)], id="empty-inside"),
        pytest.param([(1, 2), (2, 2), (2, 3)], [(1, 3)], id="empty-between-touching"),
    ],
)
def test_union_spans_table(spans: list[tuple[int, int]], expected: list[tuple[int, int]]) -> None:
    assert union_spans(spans) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param([(1, 5)], [(5, 9)], [], id="back-to-back-is-empty"),
        pytest.param([(1, 5)], [(3, 3)], [], id="zero-length"),
        pytest.param([(1, 5)], [(3, 9)], [(3, 5)], id="partial"),
        pytest.param([(1, 10)], [(2, 3), (5, 6)], [(2, 3), (5, 6)], id="several-inside"),
        pytest.param([(1, 3), (3, 6)], [(2, 5)], [(2, 5)], id="unnormalised-left"),
        pytest.param([(4, 9), (0, 2)], [(1, 5), (8, 12)], [(1, 2), (4, 5), (8, 9)], id="unsorted"),
        pytest.param([], [(1, 2)], [], id="empty-left"),
    ],
)
def test_intersect_spans_table(
    a: list[tuple[int, int]], b: list[tuple[int, int]], expected: list[tuple[int, int]]
) -> None:
    assert intersect_spans(a, b) == expected
    assert intersect_spans(b, a) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param([(1, 5)], [], [(1, 5)], id="nothing-to-cut"),
        pytest.param([(1, 5)], [(5, 9)], [(1, 5)], id="back-to-back-after"),
        pytest.param([(5, 9)], [(1, 5)], [(5, 9)], id="back-to-back-before"),
        pytest.param([(1, 5)], [(3, 3)], [(1, 5)], id="zero-length-cuts-nothing"),
        pytest.param([(1, 5)], [(1, 5)], [], id="exactly"),
        pytest.param([(1, 5)], [(0, 9)], [], id="covering"),
        pytest.param([(1, 9)], [(3, 4)], [(1, 3), (4, 9)], id="hole"),
        pytest.param([(1, 9)], [(1, 2), (8, 9)], [(2, 8)], id="both-edges"),
        pytest.param([(1, 9)], [(2, 3), (3, 4)], [(1, 2), (4, 9)], id="touching-cuts"),
        pytest.param([(1, 4), (6, 9)], [(3, 7)], [(1, 3), (7, 9)], id="cut-spans-two"),
        pytest.param([(1, 3), (3, 6)], [(0, 1)], [(1, 6)], id="result-normalised"),
        pytest.param([(6, 9), (1, 4)], [(8, 20), (0, 2)], [(2, 4), (6, 8)], id="unsorted"),
        pytest.param([(1, 20)], [(2, 4), (3, 5), (10, 12)], [(1, 2), (5, 10), (12, 20)], id="overlapping-cuts"),
    ],
)
def test_subtract_spans_table(
    a: list[tuple[int, int]], b: list[tuple[int, int]], expected: list[tuple[int, int]]
) -> None:
    assert subtract_spans(a, b) == expected


def test_interval_wrappers() -> None:
    a = [Interval(T9, T10), Interval(T10, T11)]
    b = [Interval(T930, T1030)]
    assert union(a) == [Interval(T9, T11)]
    assert intersect(a, b) == [Interval(T930, T1030)]
    assert subtract(a, b) == [Interval(T9, T930), Interval(T1030, T11)]
    assert union([Interval(T9, T9)]) == []
    assert subtract([Interval(T9, T10)], [Interval(T10, T11)]) == [Interval(T9, T10)]
    assert intersect([Interval(T9, T10)], [Interval(T10, T11)]) == []
    assert all(i.start.tzinfo is UTC for i in union(a + b))


def test_algebra_runs_on_datetimes_in_other_zones() -> None:
    ny = ZoneInfo("America/New_York")
    a = [Interval(datetime(2027, 1, 4, 4, tzinfo=ny), datetime(2027, 1, 4, 6, tzinfo=ny))]  # 09-11 UTC
    b = [Interval(T10, T1030)]
    assert subtract(a, b) == [Interval(T9, T10), Interval(T1030, T11)]


# --------------------------------------------------------------------------- laws, against a brute-force model

Spans = list[tuple[int, int]]


def points(spans: Spans) -> set[int]:
    """The integer points [s, e) covered (the brute-force model of a span set on a small line)."""
    return {x for s, e in spans for x in range(s, e)}


def from_points(pts: set[int]) -> Spans:
    out: Spans = []
    for x in sorted(pts):
        if out and out[-1][1] == x:
            out[-1] = (out[-1][0], x + 1)
        else:
            out.append((x, x + 1))
    return out


def assert_normalised(spans: Spans) -> None:
    for s, e in spans:
        assert s < e, f"empty span in {spans}"
    for (_, e1), (s2, _) in itertools.pairwise(spans):
        assert e1 < s2, f"not sorted, disjoint and non-touching: {spans}"


@props(200)
@given(small_spans(), small_spans())
def test_operations_match_the_point_model(a: Spans, b: Spans) -> None:
    u, i, d = union_spans(a + b), intersect_spans(a, b), subtract_spans(a, b)
    for result in (u, i, d, union_spans(a)):
        assert_normalised(result)
    # Normalised results are the canonical form of their point sets.
    assert u == from_points(points(a) | points(b))
    assert i == from_points(points(a) & points(b))
    assert d == from_points(points(a) - points(b))
    assert union_spans(a) == from_points(points(a))


@props(150)
@given(small_spans(), small_spans(), small_spans())
def test_union_and_intersect_laws(a: Spans, b: Spans, c: Spans) -> None:
    # commutativity
    assert union_spans(a + b) == union_spans(b + a)
    assert intersect_spans(a, b) == intersect_spans(b, a)
    # associativity
    assert union_spans(union_spans(a + b) + c) == union_spans(a + union_spans(b + c))
    assert intersect_spans(intersect_spans(a, b), c) == intersect_spans(a, intersect_spans(b, c))
    # idempotence
    assert union_spans(union_spans(a)) == union_spans(a)
    assert union_spans(a + a) == union_spans(a)
    assert intersect_spans(a, a) == union_spans(a)
    # distributivity
    assert intersect_spans(a, union_spans(b + c)) == union_spans(intersect_spans(a, b) + intersect_spans(a, c))
    # absorption
    assert union_spans(a + intersect_spans(a, b)) == union_spans(a)
    assert intersect_spans(a, union_spans(a + b)) == union_spans(a)


@props(150)
@given(small_spans(), small_spans(), small_spans())
def test_subtract_laws(a: Spans, b: Spans, c: Spans) -> None:
    diff, common = subtract_spans(a, b), intersect_spans(a, b)
    # a \ b and a ∩ b partition a
    assert union_spans(diff + common) == union_spans(a)
    assert intersect_spans(diff, common) == []
    assert intersect_spans(diff, b) == []
    # De Morgan-like identities
    assert subtract_spans(a, union_spans(b + c)) == intersect_spans(subtract_spans(a, b), subtract_spans(a, c))
    assert subtract_spans(a, intersect_spans(b, c)) == union_spans(subtract_spans(a, b) + subtract_spans(a, c))
    assert subtract_spans(subtract_spans(a, b), c) == subtract_spans(a, union_spans(b + c))
    # identities
    assert subtract_spans(a, []) == union_spans(a)
    assert subtract_spans(a, a) == []
    assert subtract_spans([], a) == []
    assert union_spans(subtract_spans(a, b) + b) == union_spans(a + b)


@props(100)
@given(small_spans(max_value=48), small_spans(max_value=48))
def test_interval_wrappers_agree_with_spans(a: Spans, b: Spans) -> None:
    def iv(spans: Spans) -> list[Interval]:
        return [Interval(T9 + timedelta(minutes=s), T9 + timedelta(minutes=e)) for s, e in spans]

    def back(intervals: list[Interval]) -> Spans:
        return [(int((i.start - T9).total_seconds() // 60), int((i.end - T9).total_seconds() // 60)) for i in intervals]

    assert back(union(iv(a) + iv(b))) == union_spans(a + b)
    assert back(intersect(iv(a), iv(b))) == intersect_spans(a, b)
    assert back(subtract(iv(a), iv(b))) == subtract_spans(a, b)


@props(100)
@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(-5, 5)), max_size=5))
def test_union_accepts_any_iterable(spans: Spans) -> None:
    assert union_spans(iter(spans)) == union_spans(spans)
