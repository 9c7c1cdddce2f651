"""Team availability: round-robin is the union of members' slots (with who is free), collective is the
intersection. Every member uses the team event type's rules with their own hours, busy time and bookings."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

import scheduling.slots
from scheduling.errors import InvalidRule
from scheduling.intervals import Interval
from scheduling.ports import BookedInterval, BusyInterval
from scheduling.rules import Availability, BusyStatus, EventRules
from scheduling.slots import Slot, compute_slots, tighter_cap
from scheduling.team import TeamMember, TeamSlot, collective_slots, members_free_at, round_robin_slots
from tests.scheduling.reference import reference_starts
from tests.scheduling.strategies import (
    ZONES,
    Scenario,
    TeamQuery,
    availabilities,
    hours,
    local_labels,
    props,
    rules,
    scenarios,
)

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


def test_an_unreadable_member_is_never_free_in_round_robin() -> None:
    # Ann's calendar could not be read: she has no busy time we know of, and must still never be offered.
    unread = dataclasses.replace(ANN, busy=(), readable=False)
    got = round_robin_slots(rules(), [unread, BOB], now=NOW, window=WINDOW)
    assert got and {s.hosts for s in got} == {("bob",)}
    assert local_labels([s.start for s in got], "UTC") == [f"{h:02d}:{m:02d}" for h in range(9, 13) for m in (0, 30)]
    assert round_robin_slots(rules(), [unread], now=NOW, window=WINDOW) == []


def test_collective_offers_nothing_while_any_member_is_unreadable() -> None:
    free_all_day = TeamMember("carl")
    assert collective_slots(rules(), [free_all_day, BOB], now=NOW, window=WINDOW)
    unread = dataclasses.replace(free_all_day, readable=False)
    assert collective_slots(rules(), [unread, BOB], now=NOW, window=WINDOW) == []
    assert collective_slots(rules(), [BOB, unread], now=NOW, window=WINDOW) == []


def test_collective_offers_nothing_when_one_member_is_busy_all_day() -> None:
    busy_day = TeamMember("dora", busy=(BusyInterval(hm(0), hm(23, 59)),))
    assert collective_slots(rules(), [TeamMember("carl"), busy_day], now=NOW, window=WINDOW) == []
    tentative = TeamMember("dora", busy=(BusyInterval(hm(0), hm(23, 59), BusyStatus.TENTATIVE),))
    assert collective_slots(rules(), [TeamMember("carl"), tentative], now=NOW, window=WINDOW) == []


def test_a_members_own_daily_cap_applies_to_that_member_only() -> None:
    booked = (BookedInterval(hm(8), hm(8, 30)),)
    capped = TeamMember("capped", bookings=booked, daily_cap=1)
    uncapped = TeamMember("uncapped", bookings=booked)
    got = round_robin_slots(rules(), [capped, uncapped], now=NOW, window=WINDOW)
    assert got and {s.hosts for s in got} == {("uncapped",)}
    # Monday is full for `capped`; Tuesday is not.
    tuesday = Interval(WINDOW.start + timedelta(days=1), WINDOW.end + timedelta(days=1))
    assert {s.hosts for s in round_robin_slots(rules(), [capped], now=NOW, window=tuesday)} == {("capped",)}


def test_the_stricter_of_the_links_cap_and_the_members_cap_wins() -> None:
    two = (BookedInterval(hm(7), hm(7, 30)), BookedInterval(hm(7, 30), hm(8)))
    loose = TeamMember("m", bookings=two, daily_cap=5)
    assert round_robin_slots(rules(daily_cap=2), [loose], now=NOW, window=WINDOW) == []
    assert round_robin_slots(rules(daily_cap=3), [loose], now=NOW, window=WINDOW)
    strict = TeamMember("m", bookings=two, daily_cap=2)
    assert round_robin_slots(rules(daily_cap=3), [strict], now=NOW, window=WINDOW) == []
    weekly = TeamMember("m", bookings=two, weekly_cap=2)
    week = Interval(WINDOW.start, WINDOW.start + timedelta(days=5))
    assert round_robin_slots(rules(), [weekly], now=NOW, window=week) == []
    assert tighter_cap(None, None) is None
    assert tighter_cap(3, None) == tighter_cap(None, 3) == tighter_cap(3, 4) == tighter_cap(4, 3) == 3


def test_a_member_cap_below_one_is_an_invalid_rule() -> None:
    with pytest.raises(InvalidRule) as info:
        round_robin_slots(rules(), [TeamMember("m", daily_cap=0)], now=NOW, window=WINDOW)
    assert info.value.field == "members.m.daily_cap"
    with pytest.raises(InvalidRule) as info:
        collective_slots(rules(), [ANN, TeamMember("w", weekly_cap=-1)], now=NOW, window=WINDOW)
    assert info.value.field == "members.w.weekly_cap"


def test_members_free_at_is_the_slots_hosts() -> None:
    assert members_free_at(rules(), [ANN, BOB], hm(12), now=NOW) == ("ann", "bob")
    assert members_free_at(rules(), [ANN, BOB], hm(9), now=NOW) == ("bob",)
    assert members_free_at(rules(), [BOB, ANN], hm(16, 30), now=NOW) == ("ann",)
    # Not a slot: off the grid, outside hours, or nobody free.
    assert members_free_at(rules(), [ANN, BOB], hm(12, 10), now=NOW) == ()
    assert members_free_at(rules(), [ANN, BOB], hm(12, 0) + timedelta(seconds=1), now=NOW) == ()
    assert members_free_at(rules(), [ANN, BOB], hm(18), now=NOW) == ()
    busy_noon = TeamMember("c", busy=(BusyInterval(hm(12), hm(13)),))
    assert members_free_at(rules(), [busy_noon], hm(12), now=NOW) == ()
    assert members_free_at(rules(durations=(30, 60)), [ANN, BOB], hm(12), now=NOW, duration=60) == ("ann", "bob")
    assert members_free_at(rules(durations=(30, 60)), [ANN, BOB], hm(12, 30), now=NOW, duration=60) == ("ann",)
    assert members_free_at(rules(), [], hm(12), now=NOW) == ()


def test_buffers_pad_each_members_meeting() -> None:
    # Ann is busy until 12:00; with a 15-minute buffer before, her first slot after it is 12:30 (grid 30).
    r = rules(buffer_before=15)
    assert members_free_at(r, [ANN], hm(12), now=NOW) == ()
    assert members_free_at(r, [ANN], hm(12, 30), now=NOW) == ("ann",)
    # Bob's busy time starts at 13:00; a 15-minute buffer after rules out 12:30.
    r = rules(buffer_after=15)
    assert members_free_at(r, [BOB], hm(12), now=NOW) == ("bob",)
    assert members_free_at(r, [BOB], hm(12, 30), now=NOW) == ()


def counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[object]:
    calls: list[object] = []
    real: Callable[..., object] = getattr(scheduling.slots, name)

    def spy(*args: object, **kw: object) -> object:
        calls.append(args[0])
        return real(*args, **kw)

    monkeypatch.setattr(scheduling.slots, name, spy)
    return calls


def test_working_time_is_computed_once_per_distinct_availability(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting(monkeypatch, "working_spans")
    london, kolkata = hours("Europe/London", "08:00", "18:00"), hours("Asia/Kolkata", "08:00", "18:00")
    members = [
        TeamMember(f"m{i}", availability=dataclasses.replace(london if i % 2 else kolkata)) for i in range(10)
    ] + [TeamMember("own-hours-1"), TeamMember("own-hours-2")]
    week = Interval(WINDOW.start, WINDOW.start + timedelta(days=7))
    got = round_robin_slots(rules(), members, now=NOW, window=week)
    assert len(calls) == 3  # London, Kolkata and the link's own hours: once each, for 12 members
    assert {a.time_zone for a in calls} == {"Europe/London", "Asia/Kolkata", "UTC"}  # type: ignore[attr-defined]
    # ...and sharing changes nothing: each member alone gives the same slots as inside the team.
    for m in members:
        alone = {s.start for s in round_robin_slots(rules(), [m], now=NOW, window=week)}
        assert alone == {s.start for s in got if m.member_id in s.hosts}


def test_an_empty_view_computes_no_working_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting(monkeypatch, "working_spans")
    past = Interval(NOW - timedelta(days=2), NOW - timedelta(days=1))
    assert round_robin_slots(rules(), [ANN, BOB], now=NOW, window=past) == []
    assert round_robin_slots(rules(), [dataclasses.replace(ANN, readable=False)], now=NOW, window=WINDOW) == []
    assert calls == []


def test_invalid_member_hours_are_reported_even_when_nothing_can_be_offered() -> None:
    bad = TeamMember("bad", availability=hours("UTC", "17:00", "09:00"))
    past = Interval(NOW - timedelta(days=2), NOW - timedelta(days=1))
    with pytest.raises(InvalidRule):
        round_robin_slots(rules(), [bad], now=NOW, window=past)
    with pytest.raises(InvalidRule):
        collective_slots(rules(), [dataclasses.replace(bad, readable=False)], now=NOW, window=WINDOW)


def test_hosts_across_a_dst_change_follow_each_segments_grid() -> None:
    # New York falls back on 2027-11-07: 01:00-02:00 happens twice; a 45-minute grid has its own phase in each
    # offset. Two members free all day: every slot lists both, and the starts are those of a single host.
    r = rules("America/New_York", durations=(45,), slot_interval=45, start="00:00", end="24:00", weekdays=range(7))
    day = Interval(datetime(2027, 11, 7, 4, tzinfo=UTC), datetime(2027, 11, 8, 5, tzinfo=UTC))
    both = round_robin_slots(r, [TeamMember("a"), TeamMember("b")], now=NOW, window=day)
    alone = compute_slots(r, now=NOW, window=day)
    assert [(s.start, s.end) for s in both] == [(s.start, s.end) for s in alone]
    assert {s.hosts for s in both} == {("a", "b")}
    assert collective_slots(r, [TeamMember("a"), TeamMember("b")], now=NOW, window=day) == alone


# --------------------------------------------------------------------------- properties


def member_rules(r: EventRules, m: TeamMember) -> EventRules:
    """The link's rules as they apply to one member: their own caps on top of the link's."""
    return dataclasses.replace(
        r, daily_cap=tighter_cap(r.daily_cap, m.daily_cap), weekly_cap=tighter_cap(r.weekly_cap, m.weekly_cap)
    )


def reference_set(sc: Scenario, m: TeamMember) -> set[int]:
    if not m.readable:
        return set()
    return set(
        reference_starts(
            member_rules(sc.rules, m),
            now=sc.now,
            window=sc.window,
            busy=m.busy,
            bookings=m.bookings,
            duration=sc.duration,
            availability=m.availability,
        )
    )


@st.composite
def teams(draw: st.DrawFn, extras: bool = False) -> tuple[Scenario, list[TeamMember]]:
    """A scenario and 1-3 members drawn from its busy time and bookings; ``extras``: also member caps and
    unreadable members."""
    sc = draw(scenarios(max_window_hours=36))
    members = []
    for i in range(draw(st.integers(1, 3))):
        busy = tuple(b for b in sc.busy if draw(st.booleans()))
        bookings = tuple(b for b in sc.bookings if draw(st.booleans()))
        avail: Availability | None = None
        if draw(st.booleans()):
            zone = draw(st.sampled_from((sc.rules.time_zone, *ZONES)))
            avail = draw(availabilities(zone, sc.anchor))
        caps: dict[str, object] = {}
        if extras:
            caps = {
                "daily_cap": draw(st.one_of(st.none(), st.integers(1, 2))),
                "weekly_cap": draw(st.one_of(st.none(), st.integers(1, 3))),
                "readable": draw(st.integers(0, 4)) > 0,
            }
        members.append(TeamMember(f"m{i}", busy=busy, bookings=bookings, availability=avail, **caps))  # type: ignore[arg-type]
    return sc, members


@props(60)
@given(teams())
def test_round_robin_and_collective_match_each_members_reference_slots(team: tuple[Scenario, list[TeamMember]]) -> None:
    sc, members = team
    kw: TeamQuery = {"now": sc.now, "window": sc.window, "duration": sc.duration}
    per_member = [
        set(reference_starts(sc.rules, busy=m.busy, bookings=m.bookings, availability=m.availability, **kw))
        for m in members
    ]
    rr = round_robin_slots(sc.rules, members, **kw)
    union_starts = set().union(*per_member)
    assert [int(s.start.timestamp()) for s in rr] == sorted(union_starts)
    for s in rr:
        t = int(s.start.timestamp())
        assert s.hosts == tuple(m.member_id for m, starts in zip(members, per_member, strict=True) if t in starts)
        assert s.end - s.start == timedelta(minutes=sc.duration)
    col = collective_slots(sc.rules, members, **kw)
    assert [int(s.start.timestamp()) for s in col] == sorted(set.intersection(*per_member))
    assert [(s.start, s.end) for s in col] == [(s.start, s.end) for s in rr if len(s.hosts) == len(members)]


@props(60)
@given(teams(extras=True))
def test_with_caps_and_unreadable_members_round_robin_is_the_union_and_collective_the_intersection(
    team: tuple[Scenario, list[TeamMember]],
) -> None:
    sc, members = team
    kw: TeamQuery = {"now": sc.now, "window": sc.window, "duration": sc.duration}
    per_member = [reference_set(sc, m) for m in members]
    rr = round_robin_slots(sc.rules, members, **kw)
    assert [int(s.start.timestamp()) for s in rr] == sorted(set().union(*per_member))
    for s in rr:
        t = int(s.start.timestamp())
        assert s.hosts == tuple(m.member_id for m, starts in zip(members, per_member, strict=True) if t in starts)
        assert all(m.readable for m in members if m.member_id in s.hosts)
    col = collective_slots(sc.rules, members, **kw)
    expected = sorted(set.intersection(*per_member)) if all(m.readable for m in members) else []
    assert [int(s.start.timestamp()) for s in col] == expected


@props(60)
@given(teams(extras=True))
def test_no_team_slot_overlaps_a_listed_hosts_busy_time_or_bookings(team: tuple[Scenario, list[TeamMember]]) -> None:
    sc, members = team
    r = sc.rules
    by_id = {m.member_id: m for m in members}
    for s in round_robin_slots(r, members, now=sc.now, window=sc.window, duration=sc.duration):
        padded = Interval(s.start - timedelta(minutes=r.buffer_before), s.end + timedelta(minutes=r.buffer_after))
        for host in s.hosts:
            m = by_id[host]
            for b in m.busy:
                if b.status in r.blocking_statuses:
                    assert not padded.overlaps(Interval(b.start, b.end)), (host, s, b)
            for bk in m.bookings:
                if bk.expires_at is None or bk.expires_at > sc.now:
                    held = Interval(
                        bk.start - timedelta(minutes=bk.buffer_before), bk.end + timedelta(minutes=bk.buffer_after)
                    )
                    assert not padded.overlaps(held), (host, s, bk)


@props(40)
@given(teams(extras=True), st.data())
def test_members_free_at_agrees_with_the_round_robin_view(
    team: tuple[Scenario, list[TeamMember]], data: st.DataObject
) -> None:
    sc, members = team
    rr = round_robin_slots(sc.rules, members, now=sc.now, window=sc.window, duration=sc.duration)
    if rr:
        s = data.draw(st.sampled_from(rr))
        assert members_free_at(sc.rules, members, s.start, now=sc.now, duration=sc.duration) == s.hosts
    offered = {s.start for s in rr}
    probe = sc.window.start + timedelta(minutes=data.draw(st.integers(0, 36 * 60)))
    if probe < sc.window.end and probe not in offered:
        assert members_free_at(sc.rules, members, probe, now=sc.now, duration=sc.duration) == ()


@props(40)
@given(teams())
def test_members_on_the_event_types_hours_equal_single_host_slots(team: tuple[Scenario, list[TeamMember]]) -> None:
    sc, members = team
    kw: TeamQuery = {"now": sc.now, "window": sc.window, "duration": sc.duration}
    for m in members:
        if m.availability is None or m.availability.time_zone == sc.rules.time_zone:
            r = sc.rules if m.availability is None else dataclasses.replace(sc.rules, availability=m.availability)
            alone = compute_slots(r, busy=m.busy, bookings=m.bookings, **kw)
            rr = round_robin_slots(sc.rules, [m], **kw)
            assert [(s.start, s.end) for s in rr] == [(s.start, s.end) for s in alone]
            assert all(s.hosts == (m.member_id,) for s in rr)
