"""Who gets a round-robin booking: priority tiers, then fair distribution by weight, then who waited longest.

Pure: the members, the team's assignment history in the period, when each member was last booked and the
period itself are arguments (nothing here reads a clock or a store).

At confirmation the booking pipeline asks :func:`assignment_order` for the members free for the chosen slot
(``free``: computed by :func:`scheduling.team.members_free_at`, so each member's buffers and daily/weekly caps
already hold), re-checks the first candidate's calendar live and, if they are now busy, takes the next. The
order is a plain sort on a key of each member alone, so dropping a candidate never reorders the others:
falling back to the next one is the same as asking again without that member.

The order, best first:

1. **Priority tier** (:class:`~scheduling.domain.Priority`): every free member of a higher tier comes before
   any member of a lower one.
2. **Fair distribution by weight** (:attr:`AssignmentMode.FAIR`): within a tier, the member furthest below
   their weight share of the team's bookings in the period comes first. Member ``m`` with weight ``w(m)``
   has a *load* ``bookings(m) + calibration(m)``; their *target* is their weight share of the team's total
   load, ``total_load * w(m) / total_weight``; the *shortfall* ``target - load`` ranks them (exact fractions,
   no float ties). Totals run over the active members, free or not.

   **Calibration** (the idea behind cal.com's "weights with calibration"): a member who was not in the
   rotation for part of the period (added mid-period: before ``joined_at``; back from out-of-office: inside
   one of their ``away`` intervals) is credited, for each booking the team took meanwhile, with the share
   they would have had at the period's average, ``w(m) / (total weight of the members present then)``. So a
   newcomer starts level with the team's average instead of at zero, and does not take every booking
   until they have caught up with members who were there all along. Time away is Leave to Join in the
   rotation, and Outlook's out-of-office (:func:`out_of_office`: the ``oof`` stretches of the member's free/busy
   in the part of the period that matters, read with the same call that checks who is free for the slot).
3. **Least recently booked** (``last_booked``, which may lie before the period; never booked counts as
   longest ago), then the order the members were given.

With :attr:`AssignmentMode.AVAILABILITY` ("maximise availability") step 2 is skipped: any free member, still
by priority tier and then least recently booked.

:func:`reschedule_order` keeps a booking with its member while they are free for the new time and falls back
to the same order otherwise.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from scheduling.domain import Priority, TeamMember
from scheduling.errors import InvalidRule
from scheduling.intervals import Interval, union_spans
from scheduling.localtime import from_epoch, wall_to_epoch
from scheduling.ports import BusyInterval
from scheduling.rules import BusyStatus
from scheduling.timezones import zone

MIN_WEIGHT = 1
MAX_WEIGHT = 100
_LONG_AGO = datetime.min.replace(tzinfo=UTC)  # never booked: waited longest


class AssignmentMode(StrEnum):
    FAIR = "fair"  # fair distribution by weight
    AVAILABILITY = "availability"  # maximise availability: any free member


class PeriodUnit(StrEnum):
    """How often fairness starts over (the bookings that count are those assigned in the current one)."""

    DAY = "day"
    WEEK = "week"  # ISO week, Monday to Sunday
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class PastAssignment:
    """A booking of the team's round-robin links that still holds time: who took it and when it was assigned.

    The caller passes those of the period (others are ignored); a booking being rescheduled is left out.
    """

    member_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a member stands in the period (what the fair order is computed from)."""

    member_id: str
    priority: int
    weight: int
    bookings: int  # assigned to them in the period
    calibration: Fraction  # credited for bookings the team took while they were not in the rotation
    target: Fraction  # their weight share of the team's total load
    last_booked_at: datetime | None

    @property
    def load(self) -> Fraction:
        return self.bookings + self.calibration

    @property
    def shortfall(self) -> Fraction:
        """How far below their share they are (negative: above it). Highest goes first."""
        return self.target - self.load


def period_containing(now: datetime, time_zone: str, unit: PeriodUnit = PeriodUnit.MONTH) -> Interval:
    """The calendar day, ISO week or month containing ``now`` in ``time_zone`` (the team's zone), from local
    midnight to local midnight, as a UTC interval."""
    tz = zone(time_zone)
    today = now.astimezone(tz).date()
    if unit is PeriodUnit.DAY:
        first, after = today, today + timedelta(days=1)
    elif unit is PeriodUnit.WEEK:
        first = today - timedelta(days=today.weekday())
        after = first + timedelta(days=7)
    else:
        first = today.replace(day=1)
        after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return Interval(from_epoch(wall_to_epoch(first, 0, tz)), from_epoch(wall_to_epoch(after, 0, tz)))


def calibration_start(history: Iterable[PastAssignment], period: Interval) -> datetime | None:
    """From when time away can matter to calibration in ``period``: the first assignment in it (a member is
    credited only for bookings the team took while they were away); None when the period has none yet."""
    return min((r.at for r in history if period.start <= r.at < period.end), default=None)


def out_of_office(busy: Iterable[BusyInterval], within: Interval) -> tuple[Interval, ...]:
    """The stretches of ``within`` a member's free/busy shows them out of office (Graph's ``oof``), merged, in
    order: time away for calibration, like time out of the rotation."""
    spans = union_spans(
        (max(b.start, within.start), min(b.end, within.end)) for b in busy if b.status is BusyStatus.OOF
    )
    return tuple(Interval(start, end) for start, end in spans)


def member_problems(members: Sequence[TeamMember]) -> dict[str, str]:
    """Every problem with a team's rotation settings, keyed ``members.<user id>.<field>`` (and ``members``)."""
    out: dict[str, str] = {}
    seen: set[str] = set()
    for m in members:
        if m.user_id in seen:
            out["members"] = "Each person can be in a team only once."
        seen.add(m.user_id)
        key = f"members.{m.user_id}."
        if m.priority not in set(Priority):
            out[key + "priority"] = "Priority must be high, medium or low."
        if isinstance(m.weight, bool) or not isinstance(m.weight, int) or not MIN_WEIGHT <= m.weight <= MAX_WEIGHT:
            out[key + "weight"] = f"A weight must be a whole number from {MIN_WEIGHT} to {MAX_WEIGHT}."
        for name in ("daily_cap", "weekly_cap"):
            value = getattr(m, name)
            if value is not None and value < 1:
                out[key + name] = "A limit must be at least 1 booking (leave it empty for no limit)."
    return out


def _check(members: Sequence[TeamMember]) -> None:
    problems = member_problems(members)
    if problems:
        field_name, message = next(iter(problems.items()))
        raise InvalidRule(field_name, message)


def _absent(member: TeamMember, at: datetime, away: Sequence[Interval]) -> bool:
    if member.joined_at is not None and at < member.joined_at:
        return True
    return any(a.start <= at < a.end for a in away)


def standings(
    members: Sequence[TeamMember],
    history: Iterable[PastAssignment],
    *,
    period: Interval,
    last_booked: Mapping[str, datetime | None] | None = None,
    away: Mapping[str, Sequence[Interval]] | None = None,
) -> dict[str, Standing]:
    """Each active member's standing in ``period`` (keyed by user id, in member order).

    Only assignments inside ``period`` to active members count; an assignment's member was in the rotation
    when they took it, whatever ``joined_at`` says (someone who left and came back).
    """
    _check(members)
    away = away or {}
    active = [m for m in members if m.active]
    by_id = {m.user_id: m for m in active}
    # Members who may have been out of the rotation for part of the period: only they need checking.
    partial = [
        m
        for m in active
        if (m.joined_at is not None and m.joined_at > period.start)
        or any(a.overlaps(period) for a in away.get(m.user_id, ()))
    ]
    total_weight = sum(m.weight for m in active)
    counts = dict.fromkeys(by_id, 0)
    credit = {m.user_id: Fraction(0) for m in active}
    for record in history:
        if record.member_id not in by_id or not period.start <= record.at < period.end:
            continue
        counts[record.member_id] += 1
        if not partial:
            continue
        missing = [
            m for m in partial if m.user_id != record.member_id and _absent(m, record.at, away.get(m.user_id, ()))
        ]
        if missing:
            present_weight = total_weight - sum(m.weight for m in missing)  # the assignee at least
            for m in missing:
                credit[m.user_id] += Fraction(m.weight, present_weight)
    total_load = sum(counts.values()) + sum(credit.values(), Fraction(0))
    last = last_booked or {}
    return {
        m.user_id: Standing(
            m.user_id,
            m.priority,
            m.weight,
            counts[m.user_id],
            credit[m.user_id],
            total_load * m.weight / total_weight,
            last.get(m.user_id),
        )
        for m in active
    }


def assignment_order(
    members: Sequence[TeamMember],
    free: Collection[str],
    *,
    history: Iterable[PastAssignment],
    period: Interval,
    last_booked: Mapping[str, datetime | None] | None = None,
    mode: AssignmentMode = AssignmentMode.FAIR,
    away: Mapping[str, Sequence[Interval]] | None = None,
) -> list[str]:
    """The candidates for a new booking, best first: every active member in ``free``, each once (module
    docstring for the order). Ids in ``free`` that are not active members are never candidates. Empty when
    nobody is free."""
    table = standings(
        members, history if mode is AssignmentMode.FAIR else (), period=period, last_booked=last_booked, away=away
    )
    position = {m.user_id: i for i, m in enumerate(members)}
    candidates = [table[user_id] for user_id in dict.fromkeys(free) if user_id in table]

    def key(s: Standing) -> tuple[int, Fraction, datetime, int]:
        shortfall = s.shortfall if mode is AssignmentMode.FAIR else Fraction(0)
        return (-s.priority, -shortfall, s.last_booked_at or _LONG_AGO, position[s.member_id])

    return [s.member_id for s in sorted(candidates, key=key)]


def reschedule_order(
    members: Sequence[TeamMember],
    current: str,
    free: Collection[str],
    *,
    history: Iterable[PastAssignment],
    period: Interval,
    last_booked: Mapping[str, datetime | None] | None = None,
    mode: AssignmentMode = AssignmentMode.FAIR,
    away: Mapping[str, Sequence[Interval]] | None = None,
) -> list[str]:
    """Candidates for a booking moved to a new time: its member ``current`` first while they are free for it
    (even if they have since left the rotation: their bookings stay theirs), then :func:`assignment_order`.
    ``history`` leaves out the booking being moved."""
    rest = [
        user_id
        for user_id in assignment_order(
            members, free, history=history, period=period, last_booked=last_booked, mode=mode, away=away
        )
        if user_id != current
    ]
    return [current, *rest] if current in free else rest
