"""The slot engine's shared pieces: the frame, one host's runs of starts, and the fast subtraction of blockers.

The public results are covered against the brute-force reference model elsewhere; these pin the pieces the
team computation shares, so a regression shows where it is.
"""

from __future__ import annotations

import itertools
import math
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from scheduling.intervals import subtract_spans, union_spans
from scheduling.ports import BusyInterval
from scheduling.slots import (
    _subtract_sorted,
    blocking_spans,
    expand_runs,
    resolve_duration,
    slot_frame,
    slot_starts,
)
from tests.scheduling.strategies import Scenario, props, rules, scenarios, small_spans, utc


@props(300)
@given(small_spans(max_value=40, max_size=8), small_spans(max_value=40, max_size=10))
def test_subtracting_sorted_blockers_equals_the_interval_algebra(
    a: list[tuple[int, int]], b: list[tuple[int, int]]
) -> None:
    allowed = union_spans(a)  # the engine's working time is always normalised
    blockers = [s for s in b if s[0] < s[1]]  # and its blockers never empty
    if blockers:
        assert _subtract_sorted(allowed, list(blockers)) == subtract_spans(allowed, blockers)


def test_subtracting_blockers_handles_nesting_touching_and_spans_crossing_gaps() -> None:
    allowed = [(0, 10), (20, 30), (40, 50)]
    assert _subtract_sorted(allowed, [(5, 25), (6, 7), (26, 27), (27, 28)]) == [(0, 5), (25, 26), (28, 30), (40, 50)]
    assert _subtract_sorted(allowed, [(-5, 100)]) == []
    assert _subtract_sorted(allowed, [(10, 20), (30, 40)]) == allowed
    assert _subtract_sorted(allowed, [(45, 46), (0, 1)]) == [(1, 10), (20, 30), (40, 45), (46, 50)]


@props(150)
@given(scenarios())
def test_runs_expand_to_exactly_the_hosts_starts(sc: Scenario) -> None:
    frame = slot_frame(sc.rules, now=sc.now, window=sc.window, minutes=resolve_duration(sc.rules, sc.duration))
    starts = slot_starts(sc.rules, **sc.kwargs())
    if frame.empty:
        assert starts == []
        return
    runs = frame.runs(frame.allowed(sc.rules.availability), sc.busy, sc.bookings)
    assert expand_runs(runs, frame.step) == starts
    for (first, last), following in itertools.pairwise(runs):
        assert first <= last < following[0]  # sorted, disjoint, non-empty
    for first, last in runs:
        assert (last - first) % frame.step == 0


@props(150)
@given(scenarios(), st.integers(0, 3600), st.integers(0, 3600))
def test_blocking_spans_widen_like_padding_each_span(sc: Scenario, before: int, after: int) -> None:
    lo, hi = math.floor(sc.window.start.timestamp()) - 86400, math.ceil(sc.window.end.timestamp()) + 86400
    plain = blocking_spans(sc.rules, sc.busy, sc.bookings, sc.now, lo, hi)
    widened = blocking_spans(sc.rules, sc.busy, sc.bookings, sc.now, lo, hi, before, after)
    assert widened == [(s - before, e + after) for s, e in plain]
    for s, e in plain:
        assert s < e and s < hi and e > lo


def test_blocking_spans_round_outwards_to_whole_seconds() -> None:
    start = utc(2027, 1, 4, 9, 0, 0, 250_000)
    busy = [BusyInterval(start, start + timedelta(seconds=1))]
    s = math.floor(start.timestamp())
    assert blocking_spans(rules(), busy, (), start, s - 10, s + 10) == [(s, s + 2)]
    assert blocking_spans(rules(), busy, (), start, s - 10, s + 10, 60, 120) == [(s - 60, s + 122)]
