"""The background runner (background.py) with real job leases on SQLite and PostgreSQL: exclusive jobs run on
one replica at a time and once per interval across replicas, a stopped replica hands its job over at once and a
killed one when its lease runs out, a long pass keeps its lease; full batches and wakes run a pass at once;
failures are logged quietly; stopping lets a delivery in flight finish, gives the rest back and is bounded; and
the real app process shuts down on SIGTERM releasing its leases."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from background import Background, delivery_job, delivery_pass
from scheduling.delivery import TEAMS, DeliveryService
from scheduling.domain import OutboxItem
from scheduling.ports import Delivery
from storage.db import Database
from storage.models import JobLeaseRow
from storage.repositories import Repositories, repositories
from tests.storage.fixtures import db, db_kind, db_url  # noqa: F401 - fixtures, found by name

ROOT = Path(__file__).resolve().parent.parent


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class ShiftedClock:
    """The wall clock, moved on by ``shift`` (a replica that looks later than the others)."""

    shift: timedelta = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift


@pytest.fixture
def repos(db: Database) -> Repositories:  # noqa: F811 - the db fixture
    return repositories(db)


def replica(repos: Repositories, name: str, **options: object) -> Background:
    settings: dict[str, object] = {"leases": repos.job_leases, "clock": WallClock(), "holder": name, **options}
    return Background(**settings)  # type: ignore[arg-type]


async def lease_rows(repos: Repositories) -> list[tuple[str, str]]:
    async with repos.db.read() as s:
        return [(r.name, r.holder) for r in await s.scalars(select(JobLeaseRow))]


@dataclass
class Passes:
    """Records the passes of a job, per replica, as (replica, start, end) in loop time."""

    seconds: float = 0.03
    runs: list[tuple[str, float, float]] = field(default_factory=list)

    def job(self, name: str) -> object:
        async def run() -> None:
            loop = asyncio.get_running_loop()
            start = loop.time()
            await asyncio.sleep(self.seconds)
            self.runs.append((name, start, loop.time()))

        return run


async def test_an_exclusive_job_runs_on_one_replica_at_a_time_once_per_interval(repos: Repositories) -> None:
    passes = Passes()
    replicas = [replica(repos, f"replica-{n}") for n in range(3)]
    for n, jobs in enumerate(replicas):
        jobs.add("reconcile", 0.2, passes.job(f"replica-{n}"), exclusive=True, at_once=True)  # type: ignore[arg-type]
        jobs.start()
    await asyncio.sleep(1.0)
    for jobs in replicas:
        await jobs.stop()
    runs = sorted(passes.runs, key=lambda r: r[1])
    assert all(earlier[2] <= later[1] for earlier, later in itertools.pairwise(runs)), runs  # no overlap
    assert 2 <= len(runs) <= 7, runs  # about 1.0 / 0.2 passes for the fleet, not three times as many
    assert await lease_rows(repos) == []  # every replica released what it held


async def test_a_stopped_replica_hands_its_job_over_at_once(repos: Repositories) -> None:
    passes = Passes(seconds=0)
    first, second = replica(repos, "first"), replica(repos, "second")
    first.add("reconcile", 60, passes.job("first"), exclusive=True, at_once=True)  # type: ignore[arg-type]
    second.add("reconcile", 60, passes.job("second"), exclusive=True)  # type: ignore[arg-type]
    first.start()
    for _ in range(100):
        if passes.runs:
            break
        await asyncio.sleep(0.01)
    assert await lease_rows(repos) == [("reconcile", "first")]  # kept until its next pass is due, a minute on
    assert await second.run_pass("reconcile") is None and [r[0] for r in passes.runs] == ["first"]
    await first.stop()
    assert await lease_rows(repos) == []
    await second.run_pass("reconcile")
    assert [r[0] for r in passes.runs] == ["first", "second"]


async def test_a_killed_replicas_job_is_taken_over_when_its_lease_runs_out(repos: Repositories) -> None:
    """A replica killed with SIGKILL releases nothing: its lease (30 s) ends, then another replica runs the job."""
    await repos.job_leases.acquire("reconcile", "killed", datetime.now(UTC), timedelta(seconds=30))
    passes = Passes(seconds=0)
    clock = ShiftedClock()
    survivor = replica(repos, "survivor", clock=clock)
    survivor.add("reconcile", 60, passes.job("survivor"), exclusive=True)  # type: ignore[arg-type]
    assert await survivor.run_pass("reconcile") is None
    clock.shift = timedelta(seconds=31)
    await survivor.run_pass("reconcile")
    assert [r[0] for r in passes.runs] == ["survivor"]
    assert await lease_rows(repos) == [("reconcile", "survivor")]


async def test_a_long_pass_keeps_renewing_its_lease(repos: Repositories) -> None:
    passes = Passes(seconds=1.6)
    busy, other = replica(repos, "busy", lease_ttl=timedelta(seconds=1)), replica(repos, "other")
    busy.add("reconcile", 60, passes.job("busy"), exclusive=True)  # type: ignore[arg-type]
    other.add("reconcile", 60, passes.job("other"), exclusive=True)  # type: ignore[arg-type]
    running = asyncio.create_task(busy.run_pass("reconcile"))
    await asyncio.sleep(1.3)  # past the 1 s it took the lease for: renewed meanwhile
    assert await other.run_pass("reconcile") is None
    await running
    assert [r[0] for r in passes.runs] == ["busy"]


async def test_a_full_batch_runs_again_at_once_and_a_wake_starts_a_pass_now(repos: Repositories) -> None:
    answers = [True, True, False]
    runs: list[float] = []

    async def batch() -> bool:
        runs.append(asyncio.get_running_loop().time())
        return answers.pop(0) if answers else False

    jobs = replica(repos, "one")
    jobs.add(delivery_job(TEAMS), 30, batch, at_once=True)
    jobs.add("reconcile", 30, batch, exclusive=True)  # not at once: its first pass is 30 s away
    jobs.start()
    await asyncio.sleep(0.1)
    assert len(runs) == 3  # full, full, then the rest: no wait in between
    jobs.wake(delivery_job(TEAMS))
    jobs.wake("no-such-job")
    await asyncio.sleep(0.1)
    assert len(runs) == 4  # woken, not 30 s later
    await jobs.stop()
    assert jobs.jobs == [delivery_job(TEAMS), "reconcile"]
    with pytest.raises(RuntimeError):
        jobs.add("late", 1, batch)


async def test_registering_a_job_twice_or_without_an_interval_is_refused(repos: Repositories) -> None:
    jobs = replica(repos, "one")

    async def nothing() -> None:
        return None

    jobs.add("reconcile", 60, nothing)
    with pytest.raises(ValueError):
        jobs.add("reconcile", 60, nothing)
    with pytest.raises(ValueError):
        jobs.add("other", 0, nothing)


async def test_a_failing_pass_is_logged_quietly_and_backs_off(
    repos: Repositories, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="slotwise.background")
    calls: list[int] = []

    async def broken() -> None:
        calls.append(1)
        raise ConnectionError("the database is away")

    jobs = replica(repos, "one")
    jobs.add("reconcile", 0.01, broken, at_once=True)
    jobs.start()
    await asyncio.sleep(0.6)
    await jobs.stop()
    records = [r for r in caplog.records if r.name == "slotwise.background"]
    assert records[0].exc_info is not None and records[0].getMessage() == "reconcile failed; will retry"
    assert all(r.exc_info is None and "failed again" in r.getMessage() for r in records[1:])
    assert 4 <= len(calls) <= 9  # doubling pauses: 10, 20, 40, 80, 160, 320 ms, not 60 passes


async def test_stopping_lets_a_delivery_in_flight_finish_and_gives_the_rest_back(repos: Repositories) -> None:
    await repos.outbox.enqueue([OutboxItem("booking.created", "t1", {"n": n}, f"k{n}") for n in range(4)])
    sending, may_finish = asyncio.Event(), asyncio.Event()
    sent: list[Delivery] = []

    class SlowChat:
        async def deliver(self, delivery: Delivery) -> None:
            sending.set()
            await may_finish.wait()
            sent.append(delivery)

    delivery = DeliveryService(outbox=repos.outbox, notifier=SlowChat(), channel=TEAMS, clock=WallClock())
    jobs = replica(repos, "one")
    jobs.add(delivery_job(TEAMS), 30, delivery_pass(delivery, jobs), at_once=True)
    jobs.start()
    await asyncio.wait_for(sending.wait(), 5)
    stopping = asyncio.create_task(jobs.stop())
    await asyncio.sleep(0.05)
    assert jobs.stopping() and not stopping.done()  # waits for the send in flight
    may_finish.set()
    await asyncio.wait_for(stopping, 5)
    assert len(sent) == 1  # the one in flight finished and was recorded ...
    again = await repos.outbox.lease(datetime.now(UTC), 10, 60, channel=TEAMS)
    assert len(again) == 3 and sent[0].id not in {x.id for x in again}  # ... the rest is due at once elsewhere


async def test_only_the_first_delivery_pass_polls_the_others_run_when_it_finds_a_full_batch(
    repos: Repositories,
) -> None:
    sent: list[str] = []
    leased_by: list[str] = []

    class Chat:
        async def deliver(self, delivery: Delivery) -> None:
            await asyncio.sleep(0.01)
            sent.append(delivery.id)

    delivery = DeliveryService(outbox=repos.outbox, notifier=Chat(), channel=TEAMS, clock=WallClock(), batch=2)
    jobs = replica(repos, "one")
    spill = ["extra.2", "extra.3"]
    passes = delivery_pass(delivery, jobs, spill_to=spill)

    def named(name: str) -> Callable[[], Awaitable[object]]:
        async def run() -> object:
            leased_by.append(name)
            return await passes()

        return run

    jobs.add(delivery_job(TEAMS), 0.05, named("first"), at_once=True)
    for name in spill:
        jobs.add(name, 60, named(name))
    jobs.start()
    await asyncio.sleep(0.5)  # an idle outbox: only the first pass looks, every 50 ms
    assert leased_by and set(leased_by) == {"first"}
    await repos.outbox.enqueue([OutboxItem("booking.created", "t1", {"n": n}, f"k{n}") for n in range(12)])
    for _ in range(200):
        if len(sent) == 12:
            break
        await asyncio.sleep(0.02)
    await jobs.stop()
    assert sorted(sent) == sorted(set(sent)) and len(sent) == 12  # each item once
    assert set(leased_by) == {"first", *spill}  # a full batch woke the others, which shared the burst


async def test_stopping_is_bounded_when_a_pass_hangs(repos: Repositories, caplog: pytest.LogCaptureFixture) -> None:
    async def hangs() -> None:
        await asyncio.sleep(60)

    jobs = replica(repos, "one", drain_seconds=0.1)
    jobs.add("reconcile", 60, hangs, exclusive=True, at_once=True)
    jobs.start()
    for _ in range(100):
        if await lease_rows(repos):
            break
        await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await jobs.stop()
    assert loop.time() - started < 2
    assert "did not finish within 0.1 s of the shutdown; cut off" in caplog.text
    assert await lease_rows(repos) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_app_shuts_down_on_sigterm_and_releases_its_job_leases(tmp_path: Path) -> None:
    port = _free_port()
    database = tmp_path / "slotwise.db"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SLOTWISE_PORT": str(port),
        "SLOTWISE_VAR_DIR": str(tmp_path),
        "SLOTWISE_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "SLOTWISE_SANDBOX_SEED": "false",
        "SLOTWISE_RECONCILE_SECONDS": "0.2",
        "SLOTWISE_OUTBOX_SECONDS": "0.1",
    }
    for name in ("MicrosoftAppId", "MICROSOFT_APP_ID"):
        env.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import app; app.main()",
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        held: list[tuple[str, str]] = []
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200 and database.exists():
                        with sqlite3.connect(database) as conn:
                            held = conn.execute("SELECT name, holder FROM job_leases").fetchall()
                        if "reconcile" in {name for name, _ in held}:
                            break
                except (httpx.HTTPError, sqlite3.OperationalError):
                    pass
                await asyncio.sleep(0.05)
        assert "reconcile" in {name for name, _ in held}, held  # the replica runs reconciliation, under a lease
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT name, holder FROM job_leases").fetchall() == []
