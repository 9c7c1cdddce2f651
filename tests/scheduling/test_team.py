"""Team availability: round-robin is the union of members' slots (with who is free), collective is the
intersection. Every member uses the team event type's rules with their own hours, busy time and bookings."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduling.errors import InvalidRule
from scheduling.intervals import Interval
from scheduling.ports import BookedInterval, BusyInterval
from scheduling.rules import Availability
from scheduling.slots import Slot, compute_slots
from scheduling.team import TeamMember, TeamSlot, collective_slots, round_robin_slots
from tests.scheduling.reference import reference_starts
from tests.scheduling.strategies import ZONES, Scenario, availabilities, hours, local_labels, props, rules, scenarios

MON = date(2027, 1, 4)
NOW = datetime(2027, 1, 1, tzinfo=UTC)
WINDOW = Interval(datetime(2027, 1, 4, tzinfo=UTC), datetime(2027, 1, 5, tzinfo=UTC))


def hm(h: int, m: int = 0) -> datetime:
    return datetime.combine(MON, time(h, m), UTC)


ANN = TeamMember("ann", busy=(BusyInterval(hm(9), hm(12)),))
BOB = TeamMember("bob", busy=(BusyInterval(hm(13), hm(17)),))


def hosts_by_label(slots: list[TeamSlot]) -> dict[str, tuple[str, ...]]:
    return dict(zip(local_labels([s.start for s in slots], "UTC"), [s.hosts for s in slots], strict=True))


def test_round_robin_is_the_union_with_who_is_free() -> None:
    got = round_robin_slots(rules(), [ANN, BOB], now=NOW, window=WINDOW)
    by = hosts_by_label(got)
    assert list(by) == [f"{h:02d}:{m:02d}" for h in range(9, 17) for m in (0, 30)]
    assert by["09:00"] == by["11:30"] == ("bob",)
    assert by["12:00"] == by["12:30"] == ("ann", "bob")
    assert by["13:00"] == by["16:30"] == ("ann",)
    assert all(s.end - s.start == timedelta(minutes=30) for s in got)
    assert got == sorted(got)


def test_hosts_keep_the_order_members_were_given() -> None:
    got = round_robin_slots(rules(), [BOB, ANN], now=NOW, window=WINDOW)
    assert hosts_by_label(got)["12:00"] == ("bob", "ann")


def test_collective_is_the_intersection() -> None:
    got = collective_slots(rules(), [ANN, BOB], now=NOW, window=WINDOW)
    assert got == [Slot(hm(12), hm(12, 30)), Slot(hm(12, 30), hm(13))]


def test_single_member_team_equals_the_host_alone() -> None:
    alone = compute_slots(rules(), now=NOW, window=WINDOW, busy=ANN.busy)
    assert [Slot(s.start, s.end) for s in round_robin_slots(rules(), [ANN], now=NOW, window=WINDOW)] == alone
    assert collective_slots(rules(), [ANN], now=NOW, window=WINDOW) == alone


def test_no_members_no_slots() -> None:
    assert round_robin_slots(rules(), [], now=NOW, window=WINDOW) == []
    assert collective_slots(rules(), [], now=NOW, window=WINDOW) == []


def test_member_bookings_block_only_that_member() -> None:
    carl = TeamMember("carl", bookings=(BookedInterval(hm(9), hm(17)),))
    dora = TeamMember("dora")
    got = round_robin_slots(rules(), [carl, dora], now=NOW, window=WINDOW)
    assert {s.hosts for s in got} == {("dora",)}
    assert collective_slots(rules(), [carl, dora], now=NOW, window=WINDOW) == []


def test_caps_apply_per_member() -> None:
    r = rules(daily_cap=1)
    capped = TeamMember("capped", bookings=(BookedInterval(hm(8), hm(8, 30)),))
    free = TeamMember("free")
    got = round_robin_slots(r, [capped, free], now=NOW, window=WINDOW)
    assert got and {s.hosts for s in got} == {("free",)}


def test_member_hours_replace_the_event_types_hours() -> None:
    part_time = TeamMember("pt", availability=hours("UTC", "13:00", "15:00"))
    got = round_robin_slots(rules(), [part_time], now=NOW, window=WINDOW)
    assert local_labels([s.start for s in got], "UTC") == ["13:00", "13:30", "14:00", "14:30"]


def test_member_hours_in_another_zone_use_the_event_types_grid() -> None:
    # The event type lives in Kolkata (grid on the IST hour = UTC :30); the member works 09-17 UTC.
    r = rules("Asia/Kolkata", durations=(60,), slot_interval=60, weekdays=range(7))
    member = TeamMember("utc-worker", availability=hours("UTC", "09:00", "17:00"))
    got = round_robin_slots(r, [member], now=NOW, window=WINDOW)
    assert local_labels([s.start for s in got], "UTC") == [f"{h:02d}:30" for h in range(9, 16)]


def test_invalid_member_hours_are_an_invalid_rule() -> None:
    bad = TeamMember("bad", availability=hours("UTC", "17:00", "09:00"))
    with pytest.raises(InvalidRule) as info:
        round_robin_slots(rules(), [ANN, bad], now=NOW, window=WINDOW)
    assert info.value.field == "weekly_hours.monday"
    bad_zone = TeamMember("bad", availability=hours("Atlantis/Capital"))
    with pytest.raises(InvalidRule) as info:
        collective_slots(rules(), [bad_zone], now=NOW, window=WINDOW)
    assert info.value.field == "time_zone"


def test_duration_is_checked_and_used() -> None:
    r = rules(durations=(30, 60))
    with pytest.raises(InvalidRule) as info:
        round_robin_slots(r, [ANN], now=NOW, window=WINDOW, duration=45)
    assert info.value.field == "duration"
    with pytest.raises(InvalidRule):
        collective_slots(r, [ANN], now=NOW, window=WINDOW, duration=45)
    got = collective_slots(r, [ANN, BOB], now=NOW, window=WINDOW, duration=60)
    assert got == [Slot(hm(12), hm(13))]
    rr = round_robin_slots(r, [ANN], now=NOW, window=WINDOW, duration=60)
    assert all(s.end - s.start == timedelta(hours=1) for s in rr)


def test_team_slot_type() -> None:
    s = TeamSlot(hm(9), hm(9, 30), ("a", "b"))
    assert s < TeamSlot(hm(9, 30), hm(10), ("a",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.hosts = ()  # type: ignore[misc]


# --------------------------------------------------------------------------- properties


@st.composite
def teams(draw: st.DrawFn) -> tuple[Scenario, list[TeamMember]]:
    sc = draw(scenarios(max_window_hours=36))
    members = []
    for i in range(draw(st.integers(1, 3))):
        busy = tuple(b for b in sc.busy if draw(st.booleans()))
        bookings = tuple(b for b in sc.bookings if draw(st.booleans()))
        avail: Availability | None = None
        if draw(st.booleans()):
            zone = draw(st.sampled_from((sc.rules.time_zone, *ZONES)))
            avail = draw(availabilities(zone, sc.anchor))
        members.append(TeamMember(f"m{i}", busy=busy, bookings=bookings, availability=avail))
    return sc, members


@props(60)
@given(teams())
def test_round_robin_and_collective_match_each_members_reference_slots(
        team: tuple[Scenario, list[TeamMember]]) -> None:
    sc, members = team
    kw = {"now": sc.now, "window": sc.window, "duration": sc.duration}
    per_member = [set(reference_starts(sc.rules, busy=m.busy, bookings=m.bookings, availability=m.availability,
                                       **kw)) for m in members]  # type: ignore[arg-type]
    rr = round_robin_slots(sc.rules, members, **kw)  # type: ignore[arg-type]
    union_starts = set().union(*per_member)
    assert [int(s.start.timestamp()) for s in rr] == sorted(union_starts)
    for s in rr:
        t = int(s.start.timestamp())
        assert s.hosts == tuple(m.member_id for m, starts in zip(members, per_member, strict=True) if t in starts)
        assert s.end - s.start == timedelta(minutes=sc.duration)
    col = collective_slots(sc.rules, members, **kw)  # type: ignore[arg-type]
    assert [int(s.start.timestamp()) for s in col] == sorted(set.intersection(*per_member))
    assert [(s.start, s.end) for s in col] == [(s.start, s.end) for s in rr if len(s.hosts) == len(members)]


@props(40)
@given(teams())
def test_members_on_the_event_types_hours_equal_single_host_slots(team: tuple[Scenario, list[TeamMember]]) -> None:
    sc, members = team
    kw = {"now": sc.now, "window": sc.window, "duration": sc.duration}
    for m in members:
        if m.availability is None or m.availability.time_zone == sc.rules.time_zone:
            r = sc.rules if m.availability is None else dataclasses.replace(
                sc.rules, availability=m.availability)
            alone = compute_slots(r, busy=m.busy, bookings=m.bookings, **kw)  # type: ignore[arg-type]
            rr = round_robin_slots(sc.rules, [m], **kw)  # type: ignore[arg-type]
            assert [(s.start, s.end) for s in rr] == [(s.start, s.end) for s in alone]
            assert all(s.hosts == (m.member_id,) for s in rr)
