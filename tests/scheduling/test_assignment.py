"""Round-robin assignment: priority tiers, fair distribution by weight with calibration, least recently booked,
maximise availability, fall-back to the next candidate, reschedules, and caps (through the team view).

Simulations are deterministic (fixed seeds, derandomized Hypothesis)."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduling.assignment import (
    AssignmentMode,
    PastAssignment,
    PeriodUnit,
    assignment_order,
    calibration_start,
    member_problems,
    out_of_office,
    period_containing,
    reschedule_order,
    standings,
)
from scheduling.domain import Priority
from scheduling.domain import TeamMember as Member
from scheduling.errors import InvalidRule, UnknownTimeZone
from scheduling.intervals import Interval
from scheduling.ports import BookedInterval, BusyInterval
from scheduling.rules import BusyStatus
from scheduling.team import TeamMember as MemberView
from scheduling.team import members_free_at, round_robin_slots
from tests.scheduling.strategies import props, rules, utc

NOW = utc(2027, 3, 15, 12)
PERIOD = period_containing(NOW, "Europe/London")
START = PERIOD.start


class Team:
    """A simulated round-robin: assignments go to the first candidate that is free at confirmation."""

    def __init__(self, members: Sequence[Member], mode: AssignmentMode = AssignmentMode.FAIR) -> None:
        self.members = list(members)
        self.mode = mode
        self.history: list[PastAssignment] = []
        self.last: dict[str, datetime | None] = {}
        self.clock = START
        self.away: dict[str, list[Interval]] = {}

    def order(self, free: Collection[str]) -> list[str]:
        return assignment_order(
            self.members,
            free,
            history=self.history,
            period=PERIOD,
            last_booked=self.last,
            mode=self.mode,
            away=self.away,
        )

    def book(self, free: Collection[str] | None = None, busy_at_confirmation: Collection[str] = ()) -> str | None:
        self.clock += timedelta(minutes=7)
        candidates = self.order([m.user_id for m in self.members] if free is None else free)
        chosen = next((c for c in candidates if c not in busy_at_confirmation), None)
        if chosen is not None:
            self.history.append(PastAssignment(chosen, self.clock))
            self.last[chosen] = self.clock
        return chosen

    def add(self, member: Member) -> None:
        self.members.append(member)

    def shares(self) -> dict[str, float]:
        counts = Counter(h.member_id for h in self.history)
        return {m.user_id: counts[m.user_id] / len(self.history) for m in self.members}


def at(minutes: int) -> datetime:
    return START + timedelta(minutes=minutes)


# --------------------------------------------------------------------------- the period


def test_the_period_is_the_calendar_month_in_the_teams_zone() -> None:
    # London is on GMT on 1 March and on BST on 1 April: the month ends at 23:00 UTC on 31 March.
    assert Interval(utc(2027, 3, 1), utc(2027, 3, 31, 23)) == PERIOD
    assert period_containing(utc(2027, 12, 31, 23, 30), "Asia/Tokyo") == Interval(
        utc(2027, 12, 31, 15), utc(2028, 1, 31, 15)
    )
    assert period_containing(utc(2027, 12, 31, 23, 30), "UTC") == Interval(utc(2027, 12, 1), utc(2028, 1, 1))


def test_the_period_can_be_a_day_or_an_iso_week() -> None:
    # 2027-03-28 is a Sunday and the day London moves to BST: 23 hours long.
    sunday = utc(2027, 3, 28, 12)
    change_day = Interval(utc(2027, 3, 28), utc(2027, 3, 28, 23))
    assert period_containing(sunday, "Europe/London", PeriodUnit.DAY) == change_day
    assert period_containing(sunday, "Europe/London", PeriodUnit.WEEK) == Interval(utc(2027, 3, 22), change_day.end)
    monday = period_containing(utc(2027, 3, 29, 0, 30), "Europe/London", PeriodUnit.WEEK)
    assert monday.start == utc(2027, 3, 28, 23)


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(UnknownTimeZone):
        period_containing(NOW, "Mars/Olympus_Mons")


# --------------------------------------------------------------------------- fair distribution by weight


def test_three_always_free_members_weighted_1_1_2_end_at_25_25_50_percent() -> None:
    team = Team([Member("a", weight=1), Member("b", weight=1), Member("c", weight=2)])
    for _ in range(300):
        team.book()
    shares = team.shares()
    for member, expected in {"a": 0.25, "b": 0.25, "c": 0.50}.items():
        assert abs(shares[member] - expected) <= 0.05, shares
    assert Counter(h.member_id for h in team.history) == {"a": 75, "b": 75, "c": 150}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_weighted_shares_hold_when_members_are_often_busy(seed: int) -> None:
    rng = random.Random(seed)
    team = Team([Member("a", weight=1), Member("b", weight=1), Member("c", weight=2)])
    for _ in range(300):
        free = [m for m in ("a", "b", "c") if rng.random() < 0.7]
        team.book(free or ["a"])
    shares = team.shares()
    for member, expected in {"a": 0.25, "b": 0.25, "c": 0.50}.items():
        assert abs(shares[member] - expected) <= 0.05, shares


def test_a_member_added_after_150_bookings_does_not_receive_every_following_booking() -> None:
    team = Team([Member("a"), Member("b"), Member("c")])
    for _ in range(150):
        team.book()
    team.add(Member("d", joined_at=team.clock + timedelta(minutes=1)))
    after = [team.book() for _ in range(100)]
    assert after.count("d") <= 26  # a quarter of what follows, not all of it
    assert after.count("d") >= 24
    assert "ddd" not in "".join(c or "-" for c in after)
    # Calibration is what does it: the same newcomer counted from the period's start takes the next 50 in a row.
    uncalibrated = Team([Member("a"), Member("b"), Member("c")])
    for _ in range(150):
        uncalibrated.book()
    uncalibrated.add(Member("d"))
    assert [uncalibrated.book() for _ in range(50)] == ["d"] * 50


def test_a_newcomer_is_calibrated_to_the_teams_average_per_weight() -> None:
    team = Team([Member("a", weight=1), Member("b", weight=1)])
    for _ in range(4):
        team.book()
    joined = team.clock + timedelta(seconds=1)
    team.add(Member("c", weight=2, joined_at=joined))
    table = standings(team.members, team.history, period=PERIOD)
    # 4 bookings shared by a weight of 2: 2 per unit of weight, so c (weight 2) is credited 4.
    assert table["c"].calibration == 4 and table["c"].bookings == 0
    assert [table[m].shortfall for m in "abc"] == [0, 0, 0]
    assert sum(s.shortfall for s in table.values()) == 0


def test_a_member_back_from_out_of_office_is_calibrated_for_the_time_away() -> None:
    team = Team([Member("a"), Member("b"), Member("c")])
    for _ in range(30):
        team.book()
    away_from = team.clock
    for _ in range(90):
        team.book(free=["a", "b"])  # c is out of office
    team.away["c"] = [Interval(away_from, team.clock + timedelta(minutes=1))]
    table = standings(team.members, team.history, period=PERIOD, away=team.away)
    assert table["c"].calibration == 45  # 90 bookings shared by the 2 who were there
    assert table["c"].shortfall == 0
    # Without the absence on record c would be owed 30 bookings (a third of 120, less the 10 they had)...
    assert standings(team.members, team.history, period=PERIOD)["c"].shortfall == 30
    after = [team.book() for _ in range(60)]
    assert 18 <= after.count("c") <= 22  # ...so they get a third of what follows, not the next 30 in a row


def test_out_of_office_in_outlook_for_the_first_half_of_the_period_is_calibrated_like_time_away() -> None:
    """c is out of office in Outlook for the first half of the month (not free, so a and b take everything). Back,
    with the ``oof`` stretches of c's free/busy as time away, c stands level with the members who were there
    and takes a third of what follows; without them, c would take every following booking."""
    half = PERIOD.start + PERIOD.duration / 2
    calendar = [
        BusyInterval(START - timedelta(days=3), half, BusyStatus.OOF),  # from before the period began
        BusyInterval(half + timedelta(hours=2), half + timedelta(hours=3), BusyStatus.BUSY),  # a meeting: not away
        BusyInterval(half + timedelta(hours=5), half + timedelta(hours=6), BusyStatus.TENTATIVE),
    ]

    def first_half() -> Team:
        team = Team([Member("a"), Member("b"), Member("c")])
        step = (half - START) / 120
        for i in range(120):
            team.clock = START + step * i
            team.book(free=["a", "b"])  # c is out of office
        team.clock = half + timedelta(hours=8)  # c is back
        return team

    team = first_half()
    since = calibration_start(team.history, PERIOD)
    assert since == START + timedelta(minutes=7)
    team.away["c"] = list(out_of_office(calendar, Interval(since or START, team.clock)))
    assert team.away["c"] == [Interval(START + timedelta(minutes=7), half)]
    table = standings(team.members, team.history, period=PERIOD, away=team.away)
    assert (table["a"].bookings, table["b"].bookings, table["c"].bookings) == (60, 60, 0)
    assert table["c"].calibration == 60  # 120 bookings shared by the 2 who were there
    assert table["c"].shortfall == table["a"].shortfall == table["b"].shortfall == 0  # level with a and b
    after = [team.book() for _ in range(90)]
    assert Counter(after) == {"a": 30, "b": 30, "c": 30}  # like a member who was present all along
    assert "ccc" not in "".join(c or "-" for c in after)
    # Without the out-of-office time, c is owed 40 bookings and takes the next 40 in a row.
    uncalibrated = first_half()
    assert [uncalibrated.book() for _ in range(40)] == ["c"] * 40


def test_out_of_office_is_the_oof_stretches_of_a_calendar_merged_and_clipped() -> None:
    within = Interval(at(0), at(600))
    busy = [
        BusyInterval(at(-60), at(30), BusyStatus.OOF),
        BusyInterval(at(30), at(90), BusyStatus.OOF),  # touches the one before: one stretch
        BusyInterval(at(100), at(200), BusyStatus.BUSY),
        BusyInterval(at(150), at(170), BusyStatus.OOF),
        BusyInterval(at(300), at(400), BusyStatus.WORKING_ELSEWHERE),
        BusyInterval(at(550), at(900), BusyStatus.OOF),
        BusyInterval(at(700), at(800), BusyStatus.OOF),  # outside
    ]
    assert out_of_office(busy, within) == (
        Interval(at(0), at(90)),
        Interval(at(150), at(170)),
        Interval(at(550), at(600)),
    )
    assert out_of_office([BusyInterval(at(0), at(60), BusyStatus.BUSY)], within) == ()
    # from the period's first booking: time away before it credits nothing
    assert calibration_start([], PERIOD) is None
    history = [PastAssignment("a", START - timedelta(days=1)), PastAssignment("b", at(90)), PastAssignment("a", at(30))]
    assert calibration_start(history, PERIOD) == at(30)


def test_only_the_period_and_the_active_members_count() -> None:
    members = [Member("a"), Member("b"), Member("gone", active=False)]
    history = [
        PastAssignment("a", START - timedelta(minutes=1)),  # last period
        PastAssignment("a", PERIOD.end),  # next period
        PastAssignment("b", at(5)),
        PastAssignment("gone", at(6)),
        PastAssignment("stranger", at(7)),
    ]
    table = standings(members, history, period=PERIOD)
    assert list(table) == ["a", "b"]
    assert (table["a"].bookings, table["b"].bookings) == (0, 1)
    assert table["a"].target == table["b"].target == Fraction(1, 2)
    assert assignment_order(members, ["a", "b", "gone", "stranger"], history=history, period=PERIOD) == ["a", "b"]


def test_a_member_who_took_a_booking_before_their_joined_at_was_there_then() -> None:
    # Left and came back: their own earlier booking counts, and they are not credited for it.
    members = [Member("a"), Member("b", joined_at=at(100))]
    table = standings(members, [PastAssignment("b", at(10)), PastAssignment("a", at(20))], period=PERIOD)
    assert table["b"].bookings == 1
    assert table["b"].calibration == 1  # a's booking at 20 happened while b was out
    assert table["a"].calibration == 0


# --------------------------------------------------------------------------- priority, ties, modes


def test_priority_tiers_are_honoured() -> None:
    members = [
        Member("low", priority=Priority.LOW),
        Member("mid"),
        Member("high", priority=Priority.HIGH),
        Member("high2", priority=Priority.HIGH),
    ]
    team = Team(members)
    got = [team.book() for _ in range(40)]
    assert set(got) == {"high", "high2"}
    assert got.count("high") == got.count("high2") == 20
    assert team.book(free=["low", "mid"]) == "mid"
    assert team.book(free=["low"]) == "low"
    assert team.order(["low", "mid", "high"]) == ["high", "mid", "low"]
    assert team.order(["low", "mid", "high"])[0] == "high"  # even though high has far more bookings


def test_ties_go_to_the_least_recently_booked_then_to_member_order() -> None:
    members = [Member("a"), Member("b"), Member("c")]
    history = [PastAssignment("a", at(1)), PastAssignment("b", at(2)), PastAssignment("c", at(3))]
    last = {"a": at(1) + timedelta(days=40), "b": at(2), "c": at(3)}  # a's last booking is the newest
    assert assignment_order(members, "abc", history=history, period=PERIOD, last_booked=last) == ["b", "c", "a"]
    assert assignment_order(members, "cba", history=(), period=PERIOD) == ["a", "b", "c"]
    never = {"a": at(1), "b": None}
    assert assignment_order(members, "ab", history=(), period=PERIOD, last_booked=never) == ["b", "a"]


def test_maximise_availability_takes_any_free_member_by_priority_then_least_recently_booked() -> None:
    members = [Member("a"), Member("b"), Member("vip", priority=Priority.HIGH)]
    history = [PastAssignment("a", at(i)) for i in range(10)] + [PastAssignment("b", at(20))]
    last = {"a": at(9), "b": at(20)}
    fair = assignment_order(members, "ab", history=history, period=PERIOD, last_booked=last)
    available = assignment_order(
        members, "ab", history=history, period=PERIOD, last_booked=last, mode=AssignmentMode.AVAILABILITY
    )
    assert fair == ["b", "a"]  # b is far below their share
    assert available == ["a", "b"]  # a waited longest, whatever the counts
    assert (
        assignment_order(
            members,
            ["a", "b", "vip"],
            history=history,
            period=PERIOD,
            last_booked=last,
            mode=AssignmentMode.AVAILABILITY,
        )[0]
        == "vip"
    )
    team = Team([Member("a", weight=1), Member("b", weight=100)], mode=AssignmentMode.AVAILABILITY)
    assert [team.book() for _ in range(6)] == ["a", "b"] * 3  # weights play no part


def test_nobody_free_means_no_candidates() -> None:
    assert assignment_order([Member("a")], [], history=(), period=PERIOD) == []
    assert assignment_order([], ["a"], history=(), period=PERIOD) == []


# --------------------------------------------------------------------------- fall-back, reschedule


def test_a_member_busy_at_confirmation_is_skipped_for_the_next_candidate() -> None:
    team = Team([Member("a"), Member("b"), Member("c")])
    for _ in range(9):
        team.book()
    first = team.order("abc")
    assert team.book(busy_at_confirmation={first[0]}) == first[1]
    # The next candidate is exactly who would have been chosen without the busy member.
    assert team.order("abc")[0] != first[1]


def test_reschedule_keeps_the_member_while_they_are_free() -> None:
    members = [Member("a"), Member("b"), Member("c")]
    history = [PastAssignment("b", at(1))]
    kw = {"history": history, "period": PERIOD}
    assert reschedule_order(members, "b", "abc", **kw) == ["b", "a", "c"]  # type: ignore[arg-type]
    assert reschedule_order(members, "b", "ac", **kw) == ["a", "c"]  # type: ignore[arg-type]
    assert reschedule_order(members, "b", "", **kw) == []  # type: ignore[arg-type]
    # Someone who left the rotation keeps their booking while they are free for the new time.
    left = [Member("a"), Member("b", active=False)]
    assert reschedule_order(left, "b", "ab", **kw) == ["b", "a"]  # type: ignore[arg-type]
    assert assignment_order(left, "ab", **kw) == ["a"]  # type: ignore[arg-type]


# --------------------------------------------------------------------------- caps, through the team view


def test_caps_per_member_hold_across_a_simulated_week() -> None:
    rng = random.Random(7)
    link = rules(durations=(30,), weekdays=range(7))
    members = [Member("a", daily_cap=2), Member("b", weekly_cap=5), Member("c")]
    views = {m.user_id: MemberView(m.user_id, daily_cap=m.daily_cap, weekly_cap=m.weekly_cap) for m in members}
    bookings: dict[str, list[BookedInterval]] = {m.user_id: [] for m in members}
    history: list[PastAssignment] = []
    now = utc(2027, 3, 7, 12)  # Sunday; the week under test is Monday 8th to Sunday 14th
    week = Interval(utc(2027, 3, 8), utc(2027, 3, 15))
    made = 0
    for i in range(60):
        team = [replace(views[m.user_id], bookings=tuple(bookings[m.user_id])) for m in members]
        slots = round_robin_slots(link, team, now=now, window=week)
        if not slots:
            break
        start = rng.choice(slots).start
        free = members_free_at(link, team, start, now=now)
        assert free == next(s.hosts for s in slots if s.start == start)
        order = assignment_order(members, free, history=history, period=PERIOD)
        chosen = order[0]
        bookings[chosen].append(BookedInterval(start, start + timedelta(minutes=30)))
        history.append(PastAssignment(chosen, now + timedelta(minutes=i)))
        made += 1
    assert made == 60
    per_day = Counter((host, b.start.date()) for host, held in bookings.items() for b in held)
    assert max(n for (host, _), n in per_day.items() if host == "a") == 2
    assert len(bookings["b"]) == 5
    assert len(bookings["a"]) <= 14 and len(bookings["c"]) == 60 - len(bookings["a"]) - 5
    for held in bookings.values():  # never two bookings of one member at once
        starts = sorted(b.start for b in held)
        assert all(later - earlier >= timedelta(minutes=30) for earlier, later in itertools.pairwise(starts))
    assert date(2027, 3, 8) <= min(b.start.date() for held in bookings.values() for b in held)


# --------------------------------------------------------------------------- validation


def test_invalid_rotation_settings_are_listed_and_refused() -> None:
    members = [
        Member("a", weight=0),
        Member("b", priority=7),
        Member("c", weight=101, daily_cap=0),
        Member("a"),
        Member("d", weekly_cap=0),
    ]
    assert member_problems(members) == {
        "members.a.weight": "A weight must be a whole number from 1 to 100.",
        "members.b.priority": "Priority must be high, medium or low.",
        "members.c.weight": "A weight must be a whole number from 1 to 100.",
        "members.c.daily_cap": "A limit must be at least 1 booking (leave it empty for no limit).",
        "members": "Each person can be in a team only once.",
        "members.d.weekly_cap": "A limit must be at least 1 booking (leave it empty for no limit).",
    }
    assert member_problems([Member("a", weight=1), Member("b", weight=100, priority=Priority.LOW)]) == {}
    not_whole = [Member("x", weight=2.5), Member("y", weight=True)]  # type: ignore[arg-type]
    assert set(member_problems(not_whole)) == {"members.x.weight", "members.y.weight"}
    with pytest.raises(InvalidRule) as info:
        assignment_order([Member("a", weight=0)], ["a"], history=(), period=PERIOD)
    assert info.value.field == "members.a.weight"


# --------------------------------------------------------------------------- properties

_MEMBER_COUNT = st.integers(1, 6)


@st.composite
def situations(
    draw: st.DrawFn,
) -> tuple[list[Member], list[str], list[PastAssignment], dict[str, datetime | None], dict[str, list[Interval]]]:
    n = draw(_MEMBER_COUNT)
    ids = [f"m{i}" for i in range(n)]
    members = [
        Member(
            user_id,
            priority=draw(st.sampled_from(Priority)),
            weight=draw(st.integers(1, 100)),
            active=draw(st.integers(0, 5)) > 0,
            joined_at=draw(st.one_of(st.none(), st.integers(0, 3000).map(at))),
        )
        for user_id in ids
    ]
    history = [
        PastAssignment(draw(st.sampled_from(ids)), at(draw(st.integers(-100, 3000))))
        for _ in range(draw(st.integers(0, 30)))
    ]
    last: dict[str, datetime | None] = {
        user_id: draw(st.one_of(st.none(), st.integers(-5000, 3000).map(at))) for user_id in ids
    }
    away = {
        user_id: [Interval(at(s), at(s + d))]
        for user_id in ids
        if draw(st.booleans())
        for s, d in [(draw(st.integers(0, 2000)), draw(st.integers(1, 1000)))]
    }
    free = draw(st.lists(st.sampled_from([*ids, "stranger"]), unique=True))
    return members, free, history, last, away


@props(200)
@given(situations(), st.sampled_from(AssignmentMode))
def test_the_order_is_every_free_active_member_once_by_tier_then_fairness_then_waiting(
    situation: tuple[
        list[Member], list[str], list[PastAssignment], dict[str, datetime | None], dict[str, list[Interval]]
    ],
    mode: AssignmentMode,
) -> None:
    members, free, history, last, away = situation
    order = assignment_order(members, free, history=history, period=PERIOD, last_booked=last, mode=mode, away=away)
    active = {m.user_id for m in members if m.active}
    assert sorted(order) == sorted(set(free) & active)
    table = standings(members, history, period=PERIOD, last_booked=last, away=away)
    assert sum(s.shortfall for s in table.values()) == 0
    for earlier, later in itertools.pairwise(order):
        a, b = table[earlier], table[later]
        assert a.priority >= b.priority
        if a.priority == b.priority and mode is AssignmentMode.FAIR:
            assert a.shortfall >= b.shortfall
        if a.priority == b.priority and (mode is AssignmentMode.AVAILABILITY or a.shortfall == b.shortfall):
            assert a.last_booked_at is None or (b.last_booked_at is not None and a.last_booked_at <= b.last_booked_at)


@props(200)
@given(situations(), st.sampled_from(AssignmentMode), st.data())
def test_dropping_a_busy_candidate_never_reorders_the_others(
    situation: tuple[
        list[Member], list[str], list[PastAssignment], dict[str, datetime | None], dict[str, list[Interval]]
    ],
    mode: AssignmentMode,
    data: st.DataObject,
) -> None:
    members, free, history, last, away = situation
    kw = {"history": history, "period": PERIOD, "last_booked": last, "mode": mode, "away": away}
    order = assignment_order(members, free, **kw)  # type: ignore[arg-type]
    if order:
        busy = data.draw(st.sampled_from(order))
        rest = assignment_order(members, [f for f in free if f != busy], **kw)  # type: ignore[arg-type]
        assert rest == [m for m in order if m != busy]
        current = data.draw(st.sampled_from([*order, "someone-else"]))
        again = reschedule_order(members, current, free, **kw)  # type: ignore[arg-type]
        assert again == ([current] if current in order else []) + [m for m in order if m != current]


@props(60)
@given(st.lists(st.integers(1, 100), min_size=2, max_size=6), st.integers(20, 80))
def test_always_free_members_never_stray_two_bookings_from_their_weight_share(weights: list[int], n: int) -> None:
    team = Team([Member(f"m{i}", weight=w) for i, w in enumerate(weights)])
    total = sum(weights)
    counts: Counter[str] = Counter()
    for done in range(1, n + 1):
        chosen = team.book()
        assert chosen is not None
        counts[chosen] += 1
        for i, w in enumerate(weights):
            assert abs(counts[f"m{i}"] - Fraction(done * w, total)) < 2
