"""Slot computation speed: ``python -m bench.slots``.

Scenarios (the foundation issue's targets on a 2-core machine):
* single host: 60-day window, 15-minute grid, 30-minute meetings, 2,000 busy events, 200 bookings
  (target: median under 10 ms);
* team: 20-member round-robin union, 500 busy events each, 30-day window, 5-minute grid
  (target: median under 100 ms);
* scaling: the single-host median at 1x, 4x and 16x the busy events (target: no worse than linear).
Ends with one JSON line of figures.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from scheduling.intervals import Interval
from scheduling.ports import BookedInterval, BusyInterval
from scheduling.rules import Availability, BusyStatus, EventRules
from scheduling.slots import compute_slots
from scheduling.team import TeamMember, round_robin_slots

NOW = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
STATUSES = [BusyStatus.BUSY] * 6 + [BusyStatus.TENTATIVE, BusyStatus.FREE, BusyStatus.OOF]


def busy_events(rng: random.Random, n: int, days: int) -> list[BusyInterval]:
    out = []
    for _ in range(n):
        start = NOW + timedelta(minutes=rng.randrange(0, days * 24 * 4) * 15)
        out.append(
            BusyInterval(start, start + timedelta(minutes=rng.choice((15, 30, 45, 60, 90))), rng.choice(STATUSES))
        )
    return out


def bookings(rng: random.Random, n: int, days: int) -> list[BookedInterval]:
    out = []
    for _ in range(n):
        start = NOW + timedelta(minutes=rng.randrange(0, days * 24 * 2) * 30)
        out.append(BookedInterval(start, start + timedelta(minutes=30), 5, 5))
    return out


def measure(fn: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    result = fn()  # warm-up (zone caches, imports)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))], result


def single_host(busy_count: int, repeats: int) -> tuple[float, float, int]:
    rng = random.Random(busy_count)
    rules = EventRules(
        (30,),
        Availability.business_hours("America/New_York"),
        slot_interval=15,
        buffer_before=5,
        buffer_after=5,
        minimum_notice=240,
    )
    busy, booked = busy_events(rng, busy_count, 60), bookings(rng, 200, 60)
    window = Interval(NOW, NOW + timedelta(days=60))

    def run() -> object:
        return compute_slots(rules, now=NOW, window=window, busy=busy, bookings=booked)

    med, p95, slots = measure(run, repeats)
    assert isinstance(slots, list)
    return med, p95, len(slots)


def team(repeats: int) -> tuple[float, float, int]:
    rng = random.Random(20)
    rules = EventRules((30,), Availability.business_hours("Europe/London"), slot_interval=5)
    zones = ["Europe/London", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
    members = [
        TeamMember(
            f"m{i}", busy_events(rng, 500, 30), (), Availability.business_hours(zones[i % len(zones)], "08:00", "18:00")
        )
        for i in range(20)
    ]
    window = Interval(NOW, NOW + timedelta(days=30))
    med, p95, slots = measure(lambda: round_robin_slots(rules, members, now=NOW, window=window), repeats)
    assert isinstance(slots, list)
    return med, p95, len(slots)


def main() -> None:
    s_med, s_p95, s_count = single_host(2000, 60)
    print(f"single host  : {s_count} slots, median {s_med:.2f} ms, p95 {s_p95:.2f} ms (2,000 busy, 200 bookings)")
    scaling = {}
    for factor in (1, 4, 16):
        med, _, _ = single_host(2000 * factor, 30 if factor < 16 else 15)
        scaling[f"{factor}x"] = round(med, 3)
        print(f"scaling {factor:>2}x   : {2000 * factor} busy events, median {med:.2f} ms")
    t_med, t_p95, t_count = team(20)
    print(f"team (20 RR) : {t_count} slots, median {t_med:.2f} ms, p95 {t_p95:.2f} ms (500 busy each)")
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS     : {peak_rss_mb:.1f} MB")
    print(
        json.dumps(
            {
                "single_host_median_ms": round(s_med, 3),
                "single_host_p95_ms": round(s_p95, 3),
                "team_median_ms": round(t_med, 3),
                "team_p95_ms": round(t_p95, 3),
                "scaling": scaling,
                "peak_rss_mb": round(peak_rss_mb, 1),
                "single_host_slots": s_count,
                "team_slots": t_count,
            }
        )
    )


if __name__ == "__main__":
    main()
