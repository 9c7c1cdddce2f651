"""Property tests of slot computation: each documented clause, checked on random scenarios that
include DST change days, half-hour zones, buffers, caps, holds and odd grids; plus exact agreement
with the brute-force reference model in ``tests/scheduling/reference.py``."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, given
from hypothesis import strategies as st

from scheduling.intervals import Interval, union
from scheduling.ports import BookedInterval, BusyInterval
from scheduling.presentation import group_by_local_date
from scheduling.slots import Slot, compute_slots, is_bookable, slot_starts
from tests.scheduling.reference import reference_starts
from tests.scheduling.strategies import ZONES, Scenario, props, scenarios


def offered(sc: Scenario) -> list[Slot]:
    return compute_slots(sc.rules, **sc.kwargs())


def padded(sc: Scenario, s: Slot) -> Interval:
    return Interval(
        s.start - timedelta(minutes=sc.rules.buffer_before), s.end + timedelta(minutes=sc.rules.buffer_after)
    )


def live(sc: Scenario) -> list[BookedInterval]:
    return [b for b in sc.bookings if b.expires_at is None or b.expires_at > sc.now]


def working_time(sc: Scenario) -> list[Interval]:
    """Working time near the query window, built directly with zoneinfo (fold=0: the documented rule)."""
    avail = sc.rules.availability
    tz = ZoneInfo(avail.time_zone)
    day = sc.window.start.astimezone(tz).date() - timedelta(days=3)
    last = sc.window.end.astimezone(tz).date() + timedelta(days=3)
    out = []
    while day <= last:
        for r in avail.ranges_on(day):

            def at(m: int, d: date = day) -> datetime:
                # (same-zone datetimes compare by wall clock, so go to UTC before comparing)
                wall = datetime.combine(d + timedelta(days=m // 1440), time((m % 1440) // 60, m % 60), tz)
                return wall.astimezone(UTC)

            if at(r.start) < at(r.end):  # a range wholly inside a DST gap is empty
                out.append(Interval(at(r.start), at(r.end)))
        day += timedelta(days=1)
    return union(out)


# --------------------------------------------------------------------------- the reference model


def assert_matches_reference(sc: Scenario) -> None:
    slots = offered(sc)
    assert [int(s.start.timestamp()) for s in slots] == reference_starts(sc.rules, **sc.kwargs())
    assert all(s.end - s.start == timedelta(minutes=sc.duration) for s in slots)
    assert [int(s.start.timestamp()) for s in slots] == slot_starts(sc.rules, **sc.kwargs())


@props(300)
@given(scenarios())
def test_agrees_with_the_brute_force_reference_model(sc: Scenario) -> None:
    assert_matches_reference(sc)


@props(80)
@given(scenarios(focus="dst"))
def test_agrees_with_the_reference_model_across_dst_change_days(sc: Scenario) -> None:
    assert_matches_reference(sc)


@props(80)
@given(scenarios(focus="caps"))
def test_agrees_with_the_reference_model_when_caps_bind(sc: Scenario) -> None:
    assert_matches_reference(sc)


# --------------------------------------------------------------------------- each clause on its own


@props(100)
@given(scenarios())
def test_no_slot_overlaps_blocking_busy_time_or_bookings(sc: Scenario) -> None:
    blocking = [Interval(b.start, b.end) for b in sc.busy if b.status in sc.rules.blocking_statuses]
    booked = [
        Interval(b.start - timedelta(minutes=b.buffer_before), b.end + timedelta(minutes=b.buffer_after))
        for b in live(sc)
    ]
    for s in offered(sc):
        p = padded(sc, s)
        assert not any(p.overlaps(b) for b in blocking), (s, "padded slot meets raw busy time")
        assert not any(p.overlaps(b) for b in booked), (s, "padded slot meets a padded booking")


@props(100)
@given(scenarios())
def test_padded_slots_lie_within_working_hours(sc: Scenario) -> None:
    work = working_time(sc)
    for s in offered(sc):
        assert any(w.contains(padded(sc, s)) for w in work), s


@props(100)
@given(scenarios())
def test_no_slot_before_notice_or_after_the_booking_window(sc: Scenario) -> None:
    r = sc.rules
    tz = sc.tz
    if r.window.rolling_days is not None:
        today = sc.now.astimezone(tz).date()
        first = None
        end = datetime.combine(today + timedelta(days=r.window.rolling_days), time(0), tz)
    else:
        assert r.window.start_date and r.window.end_date
        first = datetime.combine(r.window.start_date, time(0), tz)
        end = datetime.combine(r.window.end_date + timedelta(days=1), time(0), tz)
    for s in offered(sc):
        assert s.start >= sc.now + timedelta(minutes=r.minimum_notice)
        assert s.end <= end
        assert first is None or s.start >= first
        assert sc.window.start <= s.start < sc.window.end
        assert s.end - s.start == timedelta(minutes=sc.duration)


@props(100)
@given(scenarios(focus="caps"))
def test_caps_are_never_exceeded_by_booking_an_offered_slot(sc: Scenario) -> None:
    r = sc.rules
    tz = sc.tz
    counting = [b.start.astimezone(tz).date() for b in live(sc) if b.counts_toward_caps]
    per_day = Counter(counting)
    per_week = Counter(d.isocalendar()[:2] for d in counting)
    for s in offered(sc):
        d = s.start.astimezone(tz).date()
        if r.daily_cap is not None:
            assert per_day[d] + 1 <= r.daily_cap
        if r.weekly_cap is not None:
            assert per_week[d.isocalendar()[:2]] + 1 <= r.weekly_cap


@props(100)
@given(scenarios())
def test_slot_starts_are_on_the_local_grid(sc: Scenario) -> None:
    step = sc.rules.interval
    for s in offered(sc):
        local = s.start.astimezone(sc.tz)
        assert local.second == 0 and local.microsecond == 0
        assert (local.hour * 60 + local.minute) % step == 0, local


@props(100)
@given(
    scenarios(),
    st.lists(
        st.sampled_from((*ZONES, "Pacific/Auckland", "America/Los_Angeles", "Pacific/Kiritimati", "Pacific/Pago_Pago")),
        min_size=1,
        max_size=3,
    ),
)
def test_the_set_of_slots_does_not_depend_on_the_viewer(sc: Scenario, viewers: list[str]) -> None:
    slots = offered(sc)
    for viewer in viewers:
        groups = group_by_local_date(slots, viewer)
        assert [s for g in groups for s in g.slots] == slots
        tz = ZoneInfo(viewer)
        for g in groups:
            assert all(s.start.astimezone(tz).date() == g.day for s in g.slots)
        assert [g.day for g in groups] == sorted({g.day for g in groups})


@props(100)
@given(scenarios(), st.integers(0, 10_000), st.integers(0, 59))
def test_the_query_window_only_filters_starts(sc: Scenario, cut_minutes: int, cut_seconds: int) -> None:
    whole = offered(sc)
    length = sc.window.end - sc.window.start
    cut = sc.window.start + min(length, timedelta(minutes=cut_minutes, seconds=cut_seconds))
    left = compute_slots(sc.rules, **dataclasses.replace(sc, window=Interval(sc.window.start, cut)).kwargs())
    right = compute_slots(sc.rules, **dataclasses.replace(sc, window=Interval(cut, sc.window.end)).kwargs())
    assert left + right == whole
    wide = Interval(sc.window.start - timedelta(days=1), sc.window.end + timedelta(days=1))
    wider = compute_slots(sc.rules, **dataclasses.replace(sc, window=wide).kwargs())
    assert [s for s in wider if sc.window.start <= s.start < sc.window.end] == whole


@props(60)
@given(scenarios(max_window_hours=30), st.data())
def test_is_bookable_agrees_with_compute_slots(sc: Scenario, data: st.DataObject) -> None:
    slots = offered(sc)
    starts = {s.start for s in slots}
    kw = {"now": sc.now, "busy": sc.busy, "bookings": sc.bookings, "duration": sc.duration}
    for s in slots[:: max(1, len(slots) // 6)]:
        assert is_bookable(sc.rules, s.start, **kw)  # type: ignore[arg-type]
    span = int((sc.window.end - sc.window.start).total_seconds() // 60)
    for minute in data.draw(st.lists(st.integers(0, max(0, span - 1)), max_size=6)):
        t = sc.window.start.replace(second=0, microsecond=0) + timedelta(minutes=minute)
        if sc.window.start <= t < sc.window.end:
            assert is_bookable(sc.rules, t, **kw) is (t in starts)  # type: ignore[arg-type]


@props(80)
@given(scenarios(), st.data())
def test_booking_an_offered_slot_removes_everything_it_conflicts_with(sc: Scenario, data: st.DataObject) -> None:
    slots = offered(sc)
    assume(slots)
    chosen = data.draw(st.sampled_from(slots))
    r = sc.rules
    booking = BookedInterval(chosen.start, chosen.end, buffer_before=r.buffer_before, buffer_after=r.buffer_after)
    after = compute_slots(r, **dataclasses.replace(sc, bookings=(*sc.bookings, booking)).kwargs())
    assert chosen not in after
    assert set(after) <= set(slots)
    booked = Interval(chosen.start - timedelta(minutes=r.buffer_before), chosen.end + timedelta(minutes=r.buffer_after))
    assert not any(padded(sc, s).overlaps(booked) for s in after)
    if r.daily_cap == 1:
        day = chosen.start.astimezone(sc.tz).date()
        assert all(s.start.astimezone(sc.tz).date() != day for s in after)


@props(60)
@given(scenarios(with_caps=False))
def test_more_busy_time_never_adds_slots(sc: Scenario) -> None:
    assume(sc.busy)
    fewer = dataclasses.replace(sc, busy=sc.busy[1:])
    assert set(offered(sc)) <= set(offered(fewer))


@props(60)
@given(scenarios())
def test_results_are_sorted_unique_utc(sc: Scenario) -> None:
    slots = offered(sc)
    assert slots == sorted(set(slots))
    assert all(s.start.tzinfo is UTC and s.end.tzinfo is UTC for s in slots)


@props(60)
@given(scenarios(), st.lists(st.integers(-3 * 24 * 60, 3 * 24 * 60), min_size=1, max_size=5), st.data())
def test_empty_busy_time_and_empty_bookings_block_nothing(
    sc: Scenario, minutes: list[int], data: st.DataObject
) -> None:
    """Zero-length busy time blocks nothing, with or without the slot's buffers; so does a booking
    whose padded interval is empty (zero length and no buffers of its own; kept out of the caps here)."""
    base = sc.window.start.replace(second=0, microsecond=0)
    instants = [
        base + timedelta(minutes=m, microseconds=data.draw(st.sampled_from((0, 0, 1, 500_000)))) for m in minutes
    ]
    empties = dataclasses.replace(
        sc,
        busy=(*sc.busy, *(BusyInterval(t, t) for t in instants)),
        bookings=(*sc.bookings, *(BookedInterval(t, t, counts_toward_caps=False) for t in instants)),
    )
    assert compute_slots(sc.rules, **empties.kwargs()) == offered(sc)
