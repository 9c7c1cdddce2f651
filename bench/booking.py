"""Booking under contention: ``python -m bench.booking``.

200 booking attempts over 20 slots from 4 worker processes (each its own engine, Graph client and
event loop), against PostgreSQL and the Graph emulator with 50 ms added latency per Graph request.
Prints figures and ends with one JSON line: attempts, successes (must equal the number of slots),
double_bookings (must be 0), orphans (must be 0), p50_ms, p95_ms (target: p95 under 450 ms).

``run_contention`` is also used by the tests with smaller numbers, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import random
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from graph.adapter import GraphCalendar
from graph.client import GraphClient
from graph.sandbox import EmulatorState
from scheduling.booking import BookingService
from scheduling.domain import BookingStatus, ConnectionStatus, EventType, User
from scheduling.errors import SlotUnavailable
from scheduling.intervals import Interval
from scheduling.invitee import InviteeForm
from scheduling.ports import Location
from scheduling.rules import Availability, BookingWindow, EventRules
from storage.db import create_database
from storage.repositories import repositories

TENANT = "bench-tenant"
HOST_UPN = "bench.host@contoso.example"
NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Attempt:
    start: str
    duration: int
    outcome: str  # booked | unavailable | error:<type>
    ms: float


class FixedClock:
    def now(self) -> datetime:
        return NOW


async def _attempts(
    db_url: str, graph_base: str, token: str, link_id: str, plan: list[tuple[str, int]], worker: int
) -> list[Attempt]:
    db = create_database(db_url, pool_size=2, max_overflow=2)
    repos = repositories(db, clock=FixedClock().now)

    async def tokens(_user_id: str, force_refresh: bool = False) -> str:
        return token

    graph = GraphClient(graph_base, token_provider=tokens)
    service = BookingService(
        calendar=GraphCalendar(graph),
        bookings=repos.bookings,
        users=repos.users,
        event_types=repos.event_types,
        clock=FixedClock(),
        token_secret=b"b" * 32,
        alternatives=3,
    )
    out: list[Attempt] = []
    try:
        link = await repos.event_types.get(link_id)
        assert link is not None
        for i, (start, duration) in enumerate(plan):
            who = InviteeForm(f"Worker {worker} #{i}", f"w{worker}-{i}@example.org", "UTC")
            t0 = time.perf_counter()
            try:
                await service.book(link, datetime.fromisoformat(start), who, duration=duration)
                outcome = "booked"
            except SlotUnavailable:
                outcome = "unavailable"
            except Exception as exc:
                outcome = f"error:{type(exc).__name__}:{exc}"
            out.append(Attempt(start, duration, outcome, (time.perf_counter() - t0) * 1000))
    finally:
        await graph.aclose()
        await db.dispose()
    return out


def _worker(args: tuple[str, str, str, str, list[tuple[str, int]], int]) -> list[Attempt]:
    return asyncio.run(_attempts(*args))


async def setup_world(db_url: str, state: EmulatorState, durations: tuple[int, ...]) -> tuple[User, EventType]:
    mailbox = state.add_user(upn=HOST_UPN, display_name="Bench Host", time_zone="UTC")
    db = create_database(db_url)
    try:
        repos = repositories(db, clock=FixedClock().now)
        host = await repos.users.upsert(
            User(
                id="bench-host",
                tenant_id=TENANT,
                aad_object_id=mailbox.id,
                display_name="Bench Host",
                email=HOST_UPN,
                time_zone="UTC",
            )
        )
        await repos.users.set_connection(host.id, ConnectionStatus.CONNECTED)
        rules = EventRules(
            durations=durations,
            availability=Availability.business_hours("UTC", "08:00", "20:00"),
            slot_interval=30,
            window=BookingWindow(rolling_days=30),
        )
        link = await repos.event_types.create(
            EventType(
                id="bench-link",
                tenant_id=TENANT,
                slug="bench",
                title="Bench",
                rules=rules,
                owner_user_id=host.id,
                location=Location(),
            )
        )
        return host, link
    finally:
        await db.dispose()


async def audit(db_url: str, state: EmulatorState) -> tuple[int, int, int]:
    """(confirmed bookings, overlapping pairs among them, orphans on either side)."""
    db = create_database(db_url)
    try:
        repos = repositories(db, clock=FixedClock().now)
        window = Interval(NOW - timedelta(days=1), NOW + timedelta(days=40))
        held = (await repos.bookings.host_bookings(["bench-host"], window))["bench-host"]
        spans = sorted((b.start, b.end) for b in held)
        overlaps = sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[1])
        events = [e for e in state.events(HOST_UPN) if not e.get("isCancelled")]
        orphans = 0
        confirmed_ids = set()
        for e in events:
            booking = await repos.bookings.get(e.get("transactionId") or "")
            if booking is None or booking.status is not BookingStatus.CONFIRMED:
                orphans += 1
            else:
                confirmed_ids.add(booking.id)
        if len(confirmed_ids) != len(events):
            orphans += len(events) - len(confirmed_ids)
        orphans += len(held) - len(confirmed_ids) if len(held) > len(confirmed_ids) else 0
        return len(held), overlaps, orphans
    finally:
        await db.dispose()


def run_contention(
    db_url: str,
    graph_base: str,
    state: EmulatorState,
    *,
    processes: int,
    attempts: int,
    plan_slots: list[tuple[datetime, int]],
    seed: int = 7,
) -> dict[str, Any]:
    """Spread ``attempts`` over ``plan_slots`` (every slot tried attempts/len times), shuffled, across
    ``processes`` spawned workers; return the figures."""
    token = state.issue_token(HOST_UPN, expires_in=3600)
    plan = [
        (plan_slots[i % len(plan_slots)][0].isoformat(), plan_slots[i % len(plan_slots)][1]) for i in range(attempts)
    ]
    random.Random(seed).shuffle(plan)
    chunks = [plan[i::processes] for i in range(processes)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes) as pool:
        results = pool.map(
            _worker, [(db_url, graph_base, token, "bench-link", chunk, w) for w, chunk in enumerate(chunks)]
        )
    flat = [a for r in results for a in r]
    confirmed, overlaps, orphans = asyncio.run(audit(db_url, state))
    times = sorted(a.ms for a in flat)
    return {
        "attempts": len(flat),
        "successes": sum(a.outcome == "booked" for a in flat),
        "unavailable": sum(a.outcome == "unavailable" for a in flat),
        "errors": [a.outcome for a in flat if a.outcome.startswith("error")][:5],
        "confirmed_in_db": confirmed,
        "double_bookings": overlaps,
        "orphans": orphans,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1),
    }


def main() -> None:
    from bench.support import ServerThread, create_scratch_database, drop_scratch_database, postgres_base_url
    from graph.sandbox import create_graph_app

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--attempts", type=int, default=200)
    parser.add_argument("--slots", type=int, default=20)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()

    state = EmulatorState()
    state.faults.latency_ms = args.latency_ms
    server = ServerThread(create_graph_app(state))
    [graph_url] = server.start()
    db_url = asyncio.run(create_scratch_database(args.db))
    try:
        asyncio.run(setup_world(db_url, state, (30,)))
        first = NOW.replace(hour=8) + timedelta(days=1)
        slots = [(first + timedelta(minutes=30 * i), 30) for i in range(args.slots)]
        t0 = time.perf_counter()
        figures = run_contention(
            db_url, f"{graph_url}/v1.0", state, processes=args.processes, attempts=args.attempts, plan_slots=slots
        )
        elapsed = time.perf_counter() - t0
    finally:
        server.stop()
        asyncio.run(drop_scratch_database(db_url))
    where = postgres_base_url().render_as_string(hide_password=True) if args.db == "postgres" else "SQLite file"
    print(f"database         : {args.db} ({where})")
    print(f"Graph latency    : {args.latency_ms} ms per request (emulator)")
    print(
        f"attempts         : {figures['attempts']} from {args.processes} processes over {args.slots} slots "
        f"in {elapsed:.1f} s"
    )
    print(f"successes        : {figures['successes']} (slots: {args.slots}); unavailable: {figures['unavailable']}")
    print(
        f"double bookings  : {figures['double_bookings']}; orphans: {figures['orphans']}; "
        f"errors: {figures['errors'] or 'none'}"
    )
    print(f"latency          : p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms")
    print(
        json.dumps({k: figures[k] for k in ("attempts", "successes", "double_bookings", "orphans", "p50_ms", "p95_ms")})
    )


if __name__ == "__main__":
    main()
