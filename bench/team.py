"""Team links, the pure core: ``python -m bench.team``.

* slot view: a 20-member round-robin link over 30 days (15-minute grid, 30-minute meetings, members in four
  zones with their own hours, 300 busy events and 20 bookings each, some with their own daily caps), and the
  collective view of the 5 first members working in Europe;
* assignment: 200 bookings over the same 20 members (weights 1-100, three priority tiers), each the
  confirmation step of the booking pipeline on calendars already read: who is free for the chosen slot
  (:func:`scheduling.team.members_free_at`) and the candidate order (:func:`scheduling.assignment.assignment_order`)
  over the period's growing history.

Graph requests and HTTP latency are not part of this yet (they need the team booking pipeline); the figures
here are what the core adds to them. Prints figures and ends with one JSON line.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.slots import busy_events
from scheduling.assignment import PastAssignment, assignment_order, period_containing
from scheduling.domain import Priority
from scheduling.domain import TeamMember as Member
from scheduling.intervals import Interval
from scheduling.ports import BookedInterval
from scheduling.rules import Availability, EventRules
from scheduling.team import TeamMember, collective_slots, members_free_at, round_robin_slots

NOW = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
MEMBERS = 20
DAYS = 30
ZONES = ("Europe/London", "Europe/Berlin", "America/New_York", "Asia/Kolkata")
RULES = EventRules(
    (30,), Availability.business_hours("Europe/London"), slot_interval=15, buffer_after=5, minimum_notice=120
)
WINDOW = Interval(NOW, NOW + timedelta(days=DAYS))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def timed(fn: Callable[[], object], repeats: int) -> tuple[list[float], object]:
    result = fn()  # warm-up (zone caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times, result


def team(seed: int = 12) -> tuple[list[Member], list[TeamMember]]:
    """The rotation's settings and each member's calendar view (what the pipeline reads before computing)."""
    rng = random.Random(seed)
    members = [
        Member(
            f"m{i}",
            priority=rng.choice((Priority.LOW, Priority.MEDIUM, Priority.MEDIUM, Priority.HIGH)),
            weight=rng.randint(1, 100),
            daily_cap=rng.choice((None, None, 4)),
        )
        for i in range(MEMBERS)
    ]
    views = []
    for i, m in enumerate(members):
        booked = []
        for _ in range(20):
            start = NOW + timedelta(minutes=rng.randrange(0, DAYS * 24 * 2) * 30)
            booked.append(BookedInterval(start, start + timedelta(minutes=30), 0, 5))
        hours = Availability.business_hours(ZONES[i % len(ZONES)], "08:00", "18:00")
        views.append(TeamMember(m.user_id, busy_events(rng, 300, DAYS), tuple(booked), hours, daily_cap=m.daily_cap))
    return members, views


def slot_view_figures(repeats: int = 20) -> dict[str, Any]:
    _, views = team()
    times, slots = timed(lambda: round_robin_slots(RULES, views, now=NOW, window=WINDOW), repeats)
    europe = [v for i, v in enumerate(views) if ZONES[i % len(ZONES)].startswith("Europe/")][:5]
    col_times, col = timed(lambda: collective_slots(RULES, europe, now=NOW, window=WINDOW), repeats)
    assert isinstance(slots, list) and isinstance(col, list)
    return {
        "slot_view_median_ms": round(statistics.median(times), 3),
        "slot_view_p95_ms": round(percentile(times, 0.95), 3),
        "slot_view_slots": len(slots),
        "collective_view_median_ms": round(statistics.median(col_times), 3),
        "collective_view_slots": len(col),
    }


def assignment_figures(bookings: int = 200, seed: int = 12) -> dict[str, Any]:
    rng = random.Random(seed)
    members, views = team(seed)
    by_id = {v.member_id: v for v in views}
    period = period_containing(NOW, "Europe/London")
    history: list[PastAssignment] = []
    last: dict[str, datetime | None] = {}
    offered = round_robin_slots(RULES, views, now=NOW, window=WINDOW)
    step_ms, order_ms = [], []
    made: Counter[str] = Counter()
    clock = NOW
    for _ in range(bookings):
        clock += timedelta(minutes=3)
        start = rng.choice(offered).start
        t0 = time.perf_counter()
        free = members_free_at(RULES, list(by_id.values()), start, now=NOW)
        t1 = time.perf_counter()
        order = assignment_order(members, free, history=history, period=period, last_booked=last)
        t2 = time.perf_counter()
        step_ms.append((t2 - t0) * 1000)
        order_ms.append((t2 - t1) * 1000)
        if not order:
            continue  # taken meanwhile: the invitee picks another slot
        chosen = order[0]
        view = by_id[chosen]
        by_id[chosen] = replace(
            view, bookings=(*view.bookings, BookedInterval(start, start + timedelta(minutes=30), 0, 5))
        )
        history.append(PastAssignment(chosen, clock))
        last[chosen] = clock
        made[chosen] += 1
    return {
        "assignments": bookings,
        "assigned": sum(made.values()),
        "members": MEMBERS,
        "assignment_p95_ms": round(percentile(step_ms, 0.95), 3),
        "assignment_median_ms": round(statistics.median(step_ms), 3),
        "assignment_order_p95_ms": round(percentile(order_ms, 0.95), 3),
        "members_assigned": len(made),
    }


def main() -> None:
    view = slot_view_figures()
    print(
        f"slot view    : {MEMBERS} members x {DAYS} days, {view['slot_view_slots']} slots, "
        f"median {view['slot_view_median_ms']:.2f} ms, p95 {view['slot_view_p95_ms']:.2f} ms; "
        f"collective of 5 in Europe: {view['collective_view_slots']} slots, "
        f"median {view['collective_view_median_ms']:.2f} ms"
    )
    assign = assignment_figures()
    print(
        f"assignment   : {assign['assigned']} of {assign['assignments']} bookings over {MEMBERS} members "
        f"({assign['members_assigned']} got some); free check + order p95 {assign['assignment_p95_ms']:.2f} ms, "
        f"order alone p95 {assign['assignment_order_p95_ms']:.2f} ms"
    )
    print(json.dumps({**view, **assign, "days": DAYS}))


if __name__ == "__main__":
    main()
