"""SqlJobLease: one holder per background job at a time, on SQLite and PostgreSQL; a lease that ran out (a
killed replica) is taken over; renewing and releasing only ever touch the caller's own lease."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from scheduling.errors import ValidationFailed
from storage.models import JobLeaseRow
from storage.repositories import Repositories
from tests.storage.helpers import T0

TTL = timedelta(seconds=30)


async def test_one_holder_until_the_lease_runs_out(repos: Repositories) -> None:
    leases = repos.job_leases
    assert await leases.acquire("reconcile", "replica-a", T0, TTL)
    assert not await leases.acquire("reconcile", "replica-b", T0 + timedelta(seconds=29), TTL)
    assert await leases.acquire("renew-subscriptions", "replica-b", T0, TTL)  # another job: its own lease
    assert await leases.acquire("reconcile", "replica-a", T0 + timedelta(seconds=10), TTL)  # its own: extended
    assert not await leases.acquire("reconcile", "replica-b", T0 + timedelta(seconds=39), TTL)
    # replica-a was killed: nobody renews, and at the end of its lease replica-b takes over
    assert await leases.acquire("reconcile", "replica-b", T0 + timedelta(seconds=40), TTL)
    assert not await leases.acquire("reconcile", "replica-a", T0 + timedelta(seconds=41), TTL)
    async with repos.db.read() as s:
        row = await s.scalar(select(JobLeaseRow).where(JobLeaseRow.name == "reconcile"))
    assert row is not None and row.holder == "replica-b"
    assert (row.acquired_at, row.leased_until) == (T0 + timedelta(seconds=40), T0 + timedelta(seconds=70))


async def test_extending_a_lease_keeps_when_it_was_taken(repos: Repositories) -> None:
    leases = repos.job_leases
    assert await leases.acquire("reconcile", "replica-a", T0, TTL)
    assert await leases.acquire("reconcile", "replica-a", T0 + timedelta(seconds=20), TTL)
    async with repos.db.read() as s:
        row = await s.scalar(select(JobLeaseRow))
    assert row is not None and (row.acquired_at, row.leased_until) == (T0, T0 + timedelta(seconds=50))


async def test_renew_and_release_touch_only_the_holders_lease(repos: Repositories) -> None:
    leases = repos.job_leases
    assert await leases.acquire("reconcile", "replica-a", T0, TTL)
    assert await leases.renew("reconcile", "replica-a", T0 + timedelta(seconds=25), TTL)
    assert not await leases.acquire("reconcile", "replica-b", T0 + timedelta(seconds=50), TTL)  # renewed to 55 s
    assert not await leases.renew("reconcile", "replica-b", T0, TTL)
    assert not await leases.renew("nothing", "replica-a", T0, TTL)
    await leases.release("reconcile", "replica-b")  # not its lease: nothing happens
    assert not await leases.acquire("reconcile", "replica-b", T0 + timedelta(seconds=50), TTL)
    await leases.release("reconcile", "replica-a")  # shutting down: replica-b may take it at once
    assert await leases.acquire("reconcile", "replica-b", T0 + timedelta(seconds=1), TTL)
    assert not await leases.renew("reconcile", "replica-a", T0 + timedelta(seconds=2), TTL)  # it is gone for a


async def test_a_lease_taken_over_after_running_out_is_no_longer_renewable_by_the_old_holder(
    repos: Repositories,
) -> None:
    leases = repos.job_leases
    assert await leases.acquire("reconcile", "replica-a", T0, TTL)
    assert await leases.acquire("reconcile", "replica-b", T0 + timedelta(seconds=31), TTL)
    assert not await leases.renew("reconcile", "replica-a", T0 + timedelta(seconds=32), TTL)
    await leases.release("reconcile", "replica-a")
    assert not await leases.acquire("reconcile", "replica-c", T0 + timedelta(seconds=33), TTL)  # still b's


async def test_replicas_racing_for_a_free_lease_get_one_holder(repos: Repositories) -> None:
    leases = repos.job_leases
    for round_ in range(3):
        now = T0 + timedelta(minutes=round_)  # each round starts after the previous lease ran out
        won = await asyncio.gather(*(leases.acquire("reconcile", f"replica-{n}", now, TTL) for n in range(8)))
        assert sum(won) == 1, won


async def test_bad_arguments_are_refused(repos: Repositories) -> None:
    with pytest.raises(ValidationFailed):
        await repos.job_leases.acquire("", "replica-a", T0, TTL)
    with pytest.raises(ValidationFailed):
        await repos.job_leases.acquire("reconcile", "", T0, TTL)
    with pytest.raises(ValidationFailed):
        await repos.job_leases.renew("reconcile", "replica-a", T0, timedelta(0))
