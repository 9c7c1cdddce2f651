"""The background runner: runs each registered job periodically, on every replica (``app.py`` registers them).

Registering a job is one line::

    jobs.add("reconcile", 60.0, reconciler.run, exclusive=True)

* A job is a pass (an async callable) run every ``interval`` seconds (the first one after an interval, or at
  once with ``at_once``). A pass that returns True had more work than it could take (a full batch) and runs
  again at once; :meth:`Background.wake` starts a job's next pass now (a private reply put in the outbox).
  A pass that fails is logged (with its traceback the first time in a row, one line after that) and tried
  again after a growing pause (its interval, doubled per failure in a row, at most a minute or the interval).
* Jobs whose work items carry their own row leases (outbox delivery, one job per channel: see
  :func:`delivery_pass`) need nothing more: every replica runs them and the store hands each item to one.
* ``exclusive`` jobs (reconciliation; subscription renewal) run on one replica at a time, under a
  :class:`scheduling.stores.JobLease` in the database. A pass starts only when this replica takes the job's
  lease (free, run out, or already its own); while the pass runs the lease is renewed every third of
  ``lease_ttl``, so a replica killed mid-pass loses it within ``lease_ttl``. After the pass the lease is kept
  until the next pass is due, so the fleet runs the job once per interval; it usually stays with the replica
  that ran it last, and any replica takes it over when that one is gone.
* :meth:`Background.stop` (SIGTERM, through aiohttp's shutdown) stops taking new work: no new pass starts,
  a delivery pass finishes the item in flight and gives its other leased items back; it waits for passes in
  flight at most ``drain_seconds`` (then cancels them: every job is safe to cut off, at worst an item is sent
  again once its lease runs out), and releases this replica's job leases so another replica takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from scheduling.correlation import begin_request
from scheduling.delivery import Attempt, DeliveryService, Outcome
from scheduling.ports import Clock
from scheduling.stores import JobLease

log = logging.getLogger("slotwise.background")

Pass = Callable[[], Awaitable[object]]

MAX_FAILURE_PAUSE = 60.0  # seconds: the longest pause after failed passes (unless the interval is longer)


def delivery_job(channel: str) -> str:
    """The job name of a channel's outbox delivery."""
    return f"outbox.{channel}"


def default_holder() -> str:
    """This replica's name in job leases: host, process and a random part (a restarted process is another)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(eq=False)
class _Job:
    name: str
    interval: float
    run: Pass
    exclusive: bool
    at_once: bool
    woken: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Background:
    def __init__(
        self,
        *,
        leases: JobLease,
        clock: Clock,
        holder: str | None = None,
        lease_ttl: timedelta = timedelta(seconds=30),
        drain_seconds: float = 25.0,
    ) -> None:
        if lease_ttl < timedelta(seconds=1):
            raise ValueError("a job lease lasts at least a second")
        self._leases = leases
        self._clock = clock
        self.holder = holder or default_holder()
        self.lease_ttl = lease_ttl
        self.drain_seconds = drain_seconds
        self._jobs: dict[str, _Job] = {}
        self._stop = asyncio.Event()
        self._started = False

    # ------------------------------------------------------------------ registering and driving

    def add(self, name: str, interval: float, run: Pass, *, exclusive: bool = False, at_once: bool = False) -> None:
        """Run ``run`` every ``interval`` seconds once started; ``exclusive``: one replica at a time (job lease)."""
        if self._started:
            raise RuntimeError("register every job before start()")
        if name in self._jobs:
            raise ValueError(f"there is a job called {name!r} already")
        if interval <= 0:
            raise ValueError("a job's interval is positive")
        self._jobs[name] = _Job(name, interval, run, exclusive, at_once)

    @property
    def jobs(self) -> list[str]:
        return list(self._jobs)

    def wake(self, name: str) -> None:
        """Start job ``name``'s next pass now (nothing when no such job runs, e.g. delivery switched off)."""
        job = self._jobs.get(name)
        if job is not None:
            job.woken.set()

    def stopping(self) -> bool:
        """True once :meth:`stop` was called: passes stop taking new work."""
        return self._stop.is_set()

    def start(self) -> None:
        if self._started:
            raise RuntimeError("already started")
        self._started = True
        for job in self._jobs.values():
            job.task = asyncio.create_task(self._loop(job), name=f"slotwise job {job.name}")

    async def stop(self) -> None:
        """Stop taking new work, let passes in flight finish (at most ``drain_seconds``), release job leases."""
        self._stop.set()
        tasks = [job.task for job in self._jobs.values() if job.task is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.drain_seconds)
            for task in late:
                log.warning(
                    "%s did not finish within %g s of the shutdown; cut off", task.get_name(), self.drain_seconds
                )
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for job in self._jobs.values():
            if job.exclusive:
                try:
                    await self._leases.release(job.name, self.holder)
                except Exception as exc:  # the lease then simply runs out
                    log.warning("could not release the lease of %s: %s", job.name, exc)

    async def run_pass(self, name: str) -> object:
        """Run one pass of job ``name`` now, as the runner would (an exclusive job only under its lease: None when
        another replica holds it)."""
        return await self._pass(self._jobs[name])

    # ------------------------------------------------------------------ the loop of one job

    async def _loop(self, job: _Job) -> None:
        failures = 0
        if not job.at_once:
            await self._idle(job, job.interval)
        while not self._stop.is_set():
            job.woken.clear()  # a wake during the pass below starts the next one at once
            again = False
            begin_request()  # each pass has a request id of its own: its log lines and Graph calls carry it
            try:
                again = await self._pass(job) is True
                failures = 0
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.exception("%s failed; will retry", job.name)
                else:
                    log.warning(
                        "%s failed again (%d times in a row): %s: %s", job.name, failures, type(exc).__name__, exc
                    )
            if not again:
                pause = (
                    job.interval
                    if not failures
                    else min(job.interval * 2 ** min(failures - 1, 16), max(job.interval, MAX_FAILURE_PAUSE))
                )
                await self._idle(job, pause)

    async def _idle(self, job: _Job, seconds: float) -> None:
        """Wait ``seconds``, or less when stopped or woken."""
        if self._stop.is_set():
            return
        waits = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(job.woken.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def _pass(self, job: _Job) -> object:
        if not job.exclusive:
            return await job.run()
        if not await self._leases.acquire(job.name, self.holder, self._clock.now(), self.lease_ttl):
            return None  # another replica runs it
        heartbeat = asyncio.create_task(self._heartbeat(job))
        try:
            return await job.run()
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self._keep_until_due(job)

    async def _heartbeat(self, job: _Job) -> None:
        """Renew an exclusive job's lease while its pass runs."""
        while True:
            await asyncio.sleep(self.lease_ttl.total_seconds() / 3)
            try:
                if not await self._leases.renew(job.name, self.holder, self._clock.now(), self.lease_ttl):
                    log.warning("lost the lease of %s while a pass of it was running", job.name)
                    return
            except Exception as exc:  # the database is away: try again at the next beat (the lease may run out)
                log.warning("could not renew the lease of %s: %s", job.name, exc)

    async def _keep_until_due(self, job: _Job) -> None:
        """After a pass: keep the lease until the next pass is due (a little less, so this replica's own next
        pass finds it free or its own), so other replicas don't run the job meanwhile; on shutdown, give it up."""
        keep = timedelta(seconds=job.interval) - min(timedelta(seconds=1), timedelta(seconds=job.interval / 10))
        try:
            if self._stop.is_set() or keep <= timedelta(0):
                await self._leases.release(job.name, self.holder)
            else:
                await self._leases.renew(job.name, self.holder, self._clock.now(), keep)
        except Exception as exc:  # the lease then runs out as it was
            log.warning("could not keep the lease of %s: %s", job.name, exc)


# ------------------------------------------------------------------ outbox delivery


def delivery_pass(service: DeliveryService, jobs: Background, *, spill_to: Sequence[str] = ()) -> Pass:
    """The pass of a channel's delivery job: one :meth:`DeliveryService.run_once` (giving back what it can't
    start once ``jobs`` is stopping), each item's outcome logged once (a held item only when it is held: it is
    not leased again until its recipient can be reached); True when a full batch came (more may be due).

    ``spill_to``: jobs woken when a full batch came, so passes side by side share a burst while only one pass
    polls an idle outbox (extra passes that polled too would each cost the database a write every interval)."""

    async def run() -> bool:
        report = await service.run_once(stop=jobs.stopping)
        for attempt in report.attempts:
            _log_attempt(report.channel, attempt)
        if report.more:
            for name in spill_to:
                jobs.wake(name)
        return report.more

    return run


def _log_attempt(channel: str, a: Attempt) -> None:
    what = f"{channel} outbox item {a.item_id} ({a.kind})"
    if a.outcome is Outcome.HELD:
        log.info("%s is held until its recipient can be reached: %s", what, a.reason)
    elif a.outcome is Outcome.OBSOLETE:
        log.info("%s needs no message any more: %s", what, a.reason)
    elif a.outcome is Outcome.RETRY:
        log.info(
            "%s failed (attempt %d), next attempt at %s: %s",
            what,
            a.attempt,
            a.retry_at.isoformat(timespec="seconds") if a.retry_at else "?",
            a.reason,
        )
    elif a.outcome is Outcome.DEAD:
        log.warning("%s was given up after attempt %d (kept as a dead letter): %s", what, a.attempt, a.reason)
    else:
        log.debug("%s: %s", what, a.outcome.value)
