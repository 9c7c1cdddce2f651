"""Races between OS processes (spawned, each with its own engine) on SQLite files and on PostgreSQL.

Eight worker processes are started once per test session and reused; for every race they all open their
connection, meet at a barrier, and fire at the same moment.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from multiprocessing.managers import SyncManager
from typing import Any

import pytest

from scheduling.domain import OutboxItem
from scheduling.intervals import Interval
from storage.repositories import Repositories
from tests.storage import _workers
from tests.storage.helpers import TENANT, FakeClock, at, make_link, make_user

WORKERS = 8


@pytest.fixture(scope="session")
def pool() -> Iterator[tuple[ProcessPoolExecutor, SyncManager]]:
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    executor = ProcessPoolExecutor(max_workers=WORKERS, mp_context=context, initializer=_workers.warm_up)
    try:
        yield executor, manager
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        manager.shutdown()


async def race(pool: tuple[ProcessPoolExecutor, SyncManager], fn: Any, calls: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``fn(url, barrier, *args)`` for every args tuple, all processes released together."""
    executor, manager = pool
    barrier = manager.Barrier(len(calls))
    futures = [executor.submit(fn, call[0], barrier, *call[1:]) for call in calls]
    return list(await asyncio.gather(*(asyncio.wrap_future(f) for f in futures)))


def _padded(start: Any, minutes: int, before: int, after: int) -> tuple[Any, Any]:
    return start - timedelta(minutes=before), start + timedelta(minutes=minutes + after)


async def test_eight_processes_one_slot_one_winner(pool: Any, db_url: str, repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    calls = [(db_url, f"same-{i}", link.id, [host.id], at(10).isoformat(), 30) for i in range(WORKERS)]
    results = await race(pool, _workers.reserve, calls)
    assert not [r for r in results if r.startswith("error")], results
    winners = [r for r in results if r.startswith("won")]
    assert len(winners) == 1 and results.count("taken") == WORKERS - 1, results
    found = await repos.bookings.host_bookings([host.id], Interval(at(0), at(23)))
    assert len(found[host.id]) == 1


async def test_overlapping_slots_of_different_lengths_never_both_win(
    pool: Any, db_url: str, repos: Repositories
) -> None:
    a = await make_user(repos, "a@contoso.com")
    b = await make_user(repos, "b@contoso.com")
    link = await make_link(repos, a)
    # (hosts, start, minutes, buffer before, buffer after): every request collides with some other
    wanted = [
        ([a], at(10), 30, 0, 0),
        ([a], at(10, 15), 60, 0, 0),
        ([a, b], at(10, 20), 30, 0, 0),
        ([b], at(10, 40), 30, 0, 10),
        ([b], at(10), 60, 5, 0),
        ([a], at(10, 30), 15, 0, 15),
        ([a, b], at(9, 45), 30, 0, 0),
        ([b], at(11, 0), 30, 15, 0),
    ]
    calls = [
        (db_url, f"mix-{i}", link.id, [h.id for h in hosts], start.isoformat(), minutes, before, after)
        for i, (hosts, start, minutes, before, after) in enumerate(wanted)
    ]
    results = await race(pool, _workers.reserve, calls)
    assert not [r for r in results if r.startswith("error")], results
    won = [w for w, r in zip(wanted, results, strict=True) if r.startswith("won")]
    assert won, results
    for (hosts1, s1, m1, b1, a1), (hosts2, s2, m2, b2, a2) in itertools.combinations(won, 2):
        if {h.id for h in hosts1} & {h.id for h in hosts2}:
            (f1, u1), (f2, u2) = _padded(s1, m1, b1, a1), _padded(s2, m2, b2, a2)
            assert u1 <= f2 or u2 <= f1, f"overlapping winners: {results}"
    # what the database holds agrees with what the processes were told
    stored = await repos.bookings.host_bookings([a.id, b.id], Interval(at(0), at(23)))
    assert sum(len(v) for v in stored.values()) == sum(len(hosts) for hosts, *_ in won)


async def test_same_idempotency_key_from_eight_processes_makes_one_booking(
    pool: Any, db_url: str, repos: Repositories
) -> None:
    hosts = [await make_user(repos, f"host{i}@contoso.com") for i in range(WORKERS)]
    link = await make_link(repos, hosts[0])
    # different hosts, so nothing but the (event type, key) uniqueness stands between them
    calls = [
        (db_url, f"key-{i}", link.id, [hosts[i].id], at(10).isoformat(), 30, 0, 0, "client-retry-1")
        for i in range(WORKERS)
    ]
    results = await race(pool, _workers.reserve, calls)
    assert not [r for r in results if r.startswith("error")], results
    assert len([r for r in results if r.startswith("won")]) == 1, results
    assert len({r.split(":", 1)[1] for r in results}) == 1, results  # everyone got the winner back


async def test_outbox_leasers_in_four_processes_never_share_an_item(
    pool: Any, db_url: str, repos: Repositories, clock: FakeClock
) -> None:
    await repos.outbox.enqueue([OutboxItem("booking.created", TENANT, {"n": n}, f"lease-{n}") for n in range(40)])
    now = (clock.now_value + timedelta(seconds=1)).isoformat()
    results = await race(pool, _workers.lease_all, [(db_url, now, 3) for _ in range(4)])
    claimed = [item for batch in results for item in batch]
    assert len(claimed) == 40 and len(set(claimed)) == 40
