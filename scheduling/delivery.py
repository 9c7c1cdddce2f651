"""Delivery of the outbox: the use case that tells people (and systems) what happened, channel by channel.

The booking use cases write outbox items in the same transaction as the change they announce (other notices
come from ``scheduling.notices``). One :class:`DeliveryService` per channel (``teams`` today, ``webhook``
next) runs in the background, on every replica:

1. it leases up to ``batch`` due items *of its channel* (row leases in the store, SKIP LOCKED on PostgreSQL,
   so replicas never share an item; no global lock is needed);
2. hands each to the channel's :class:`~scheduling.ports.Notifier`, bounded by ``send_timeout``; an attempt
   starts only while enough of the item's lease is left for it to end inside the lease, so a slow send can't
   outlive its lease and be picked up by a second worker (items it can't start are given back);
3. records the outcome:

   * delivered — never leased again;
   * a failed attempt — retried at a time from the channel's :class:`RetryPolicy` (exponential back-off with
     jitter, bounded in attempts and age, no sooner than a receiver's ``Retry-After``); once the policy gives
     up, a dead letter kept for inspection;
   * undeliverable (unknown kind, recipient gone) — a dead letter at once;
   * obsolete (no longer needs saying) — done;
   * not reachable yet (a host with no chat with Slotwise) — *held*: not retried, not counted as an attempt,
     reported once, and released when the person becomes reachable (``PeopleService.remember_conversation``
     calls ``OutboxStore.release_held``). A hold is checked once more right after it is written, so a
     release that raced with it can't leave the item held with its recipient reachable.

Delivery is at least once: only a crash between a send and its record repeats a message (with the same
``Delivery.id``, which webhook receivers use to drop repeats).

Nothing here reads the clock or logs: the time comes from the :class:`~scheduling.ports.Clock` port and every
pass returns a :class:`DeliveryReport` (one :class:`Attempt` per leased item) for the runner to log.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from scheduling.errors import IntegrationError
from scheduling.ports import (
    Clock,
    Delivery,
    Notifier,
    NotReachable,
    Obsolete,
    RetryLater,
    Undeliverable,
)
from scheduling.stores import LeasedItem, OutboxStore

TEAMS = "teams"  # a host's personal chat with Slotwise (OutboxItem.channel's default)
WEBHOOK = "webhook"  # a subscriber's HTTPS endpoint

MAX_ERROR = 1000  # characters of an error kept with the item


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a channel tries a failed item again, and when it gives up.

    After the n-th failed attempt the wait is ``first_retry * 2**(n-1)``, at most ``max_retry``, shortened by
    up to ``jitter`` of itself (spreads the retries of many items failing together), and never shorter than
    a receiver's ``Retry-After``. No attempt is planned after ``max_attempts`` failures, nor after
    ``max_age`` since the item was written (the last one is moved to that deadline instead).
    """

    first_retry: timedelta
    max_retry: timedelta
    max_attempts: int
    max_age: timedelta | None = None
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.first_retry <= timedelta(0) or self.max_retry < self.first_retry:
            raise ValueError("a retry policy needs 0 < first_retry <= max_retry")
        if self.max_attempts < 1:
            raise ValueError("a retry policy allows at least one attempt")
        if self.max_age is not None and self.max_age <= timedelta(0):
            raise ValueError("a retry policy's max_age must be positive")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter is a fraction in [0, 1)")

    def wait(self, failures: int, spread: float = 0.0) -> timedelta:
        """The back-off after ``failures`` failed attempts; ``spread`` in [0, 1) picks the jitter."""
        doubled = self.first_retry * (1 << min(max(failures - 1, 0), 30))
        return min(doubled, self.max_retry) * (1 - self.jitter * min(max(spread, 0.0), 1.0))

    def next_attempt(
        self,
        failures: int,
        *,
        now: datetime,
        enqueued_at: datetime,
        spread: float = 0.0,
        retry_after: timedelta | None = None,
    ) -> datetime | None:
        """When to try again after the item's ``failures``-th failed attempt; None: give up."""
        if failures >= self.max_attempts:
            return None
        wait = self.wait(failures, spread)
        if retry_after is not None:
            wait = max(wait, retry_after)
        at = now + wait
        if self.max_age is None:
            return at
        deadline = enqueued_at + self.max_age
        if now >= deadline or (retry_after is not None and now + retry_after > deadline):
            return None
        return min(at, deadline)


# Teams chat: a person reads it; 8 attempts over about an hour (30 s, 1, 2, 4 ... 32 min), then a dead letter.
TEAMS_RETRY = RetryPolicy(first_retry=timedelta(seconds=30), max_retry=timedelta(hours=2), max_attempts=8)
# Webhooks: a system that may be down for a while; tried for up to 24 hours (10 s, 20 s ... then every 4 h).
WEBHOOK_RETRY = RetryPolicy(
    first_retry=timedelta(seconds=10), max_retry=timedelta(hours=4), max_attempts=30, max_age=timedelta(hours=24)
)
RETRY_POLICIES: Mapping[str, RetryPolicy] = {TEAMS: TEAMS_RETRY, WEBHOOK: WEBHOOK_RETRY}


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # failed; tried again at ``retry_at``
    DEAD = "dead"  # given up (undeliverable, or out of attempts or time): kept for inspection
    OBSOLETE = "obsolete"  # no longer needed saying: done
    HELD = "held"  # the recipient can't be reached yet: waits for them, no retries
    RETURNED = "returned"  # leased but not attempted (stopping, or too little lease left): due again at once


@dataclass(frozen=True, slots=True)
class Attempt:
    """What happened to one leased item in a pass. ``attempt`` numbers the attempt (0 when none was made)."""

    item_id: str
    kind: str
    outcome: Outcome
    attempt: int = 0
    reason: str = ""
    retry_at: datetime | None = None


@dataclass(slots=True)
class DeliveryReport:
    channel: str
    leased: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    more: bool = False  # a full batch was leased and worked through: more items may be due right now

    def ids(self, outcome: Outcome) -> list[str]:
        return [a.item_id for a in self.attempts if a.outcome is outcome]


def _describe(exc: BaseException) -> str:
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:MAX_ERROR]


def _never() -> bool:
    return False


class DeliveryService:
    """Delivers the due outbox items of one channel with its notifier; see the module docstring."""

    def __init__(
        self,
        *,
        outbox: OutboxStore,
        notifier: Notifier,
        channel: str,
        clock: Clock,
        policy: RetryPolicy | None = None,
        batch: int = 20,
        lease_seconds: int = 60,
        send_timeout: float = 20.0,
        spread: Callable[[], float] = random.random,
    ) -> None:
        if policy is None and channel not in RETRY_POLICIES:
            raise ValueError(f"no retry policy for the channel {channel!r}")
        if batch < 1:
            raise ValueError("a pass leases at least one item")
        if not 0 < send_timeout <= lease_seconds / 2:
            raise ValueError("a send must end well before its lease does (send_timeout <= lease_seconds / 2)")
        self._outbox = outbox
        self._notifier = notifier
        self.channel = channel
        self.clock = clock
        self.policy = policy or RETRY_POLICIES[channel]
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.send_timeout = send_timeout
        self._spread = spread

    async def run_once(self, stop: Callable[[], bool] = _never) -> DeliveryReport:
        """One pass over the channel's due items. ``stop`` is asked before each item: once it says True, the
        items not yet attempted are given back (the attempt in flight always finishes and is recorded)."""
        now = self.clock.now()
        leased = await self._outbox.lease(now, self.batch, self.lease_seconds, channel=self.channel)
        report = DeliveryReport(self.channel, leased=len(leased))
        lease_end = now + timedelta(seconds=self.lease_seconds)
        for index, lease in enumerate(leased):
            # An attempt starts only if it can end (send_timeout) with time to record it (as long again) left.
            if stop() or self.clock.now() + timedelta(seconds=2 * self.send_timeout) > lease_end:
                rest = leased[index:]
                await self._outbox.give_back([x.id for x in rest])
                report.attempts += [Attempt(x.id, x.item.kind, Outcome.RETURNED) for x in rest]
                return report
            report.attempts.append(await self._attempt(lease))
        report.more = len(leased) >= self.batch
        return report

    async def _attempt(self, lease: LeasedItem, *, may_hold: bool = True) -> Attempt:
        item_id, kind, number = lease.id, lease.item.kind, lease.attempts + 1
        delivery = Delivery(id=item_id, item=lease.item, attempt=number, enqueued_at=lease.enqueued_at)
        try:
            await asyncio.wait_for(self._notifier.deliver(delivery), self.send_timeout)
        except NotReachable as exc:
            if not may_hold:  # still unreachable after the hold was written: it stays held, and its lease ends
                await self._outbox.give_back([item_id])  # (a release from now on makes it due at once)
                return Attempt(item_id, kind, Outcome.HELD, number, exc.message)
            await self._outbox.hold(item_id, exc.recipient_id, _describe(exc))
            # A release that ran between the notifier's look and the hold found nothing to release: look once
            # more now that the hold is written (any later release finds it).
            return await self._attempt(lease, may_hold=False)
        except Obsolete as exc:
            await self._outbox.mark_delivered(item_id)
            return Attempt(item_id, kind, Outcome.OBSOLETE, number, exc.message)
        except Undeliverable as exc:
            await self._outbox.mark_failed(item_id, _describe(exc), None)
            return Attempt(item_id, kind, Outcome.DEAD, number, exc.message)
        except TimeoutError:
            return await self._failed(lease, f"no answer within {self.send_timeout:g} s")
        except RetryLater as exc:
            return await self._failed(lease, _describe(exc), exc.retry_after)
        except Exception as exc:  # any other failure of the channel: an attempt to retry by the policy
            return await self._failed(lease, _describe(exc))
        await self._record_delivered(item_id)
        return Attempt(item_id, kind, Outcome.DELIVERED, number)

    async def _record_delivered(self, item_id: str) -> None:
        """Mark a sent item delivered, retrying while the database is away (a restart, a dropped connection) for
        as long as the pass kept for it (``send_timeout``): an item sent but not marked is sent again when its lease
        runs out, and a chat message can't be taken back. Only a crash in this window still repeats one."""
        waited, pause = 0.0, 0.25
        while True:
            try:
                await self._outbox.mark_delivered(item_id)
                return
            except IntegrationError:
                if waited + pause > self.send_timeout:
                    raise
            await asyncio.sleep(pause)
            waited, pause = waited + pause, pause * 2

    async def _failed(self, lease: LeasedItem, reason: str, retry_after: timedelta | None = None) -> Attempt:
        number = lease.attempts + 1
        retry_at = self.policy.next_attempt(
            number, now=self.clock.now(), enqueued_at=lease.enqueued_at, spread=self._spread(), retry_after=retry_after
        )
        await self._outbox.mark_failed(lease.id, reason, retry_at)
        outcome = Outcome.RETRY if retry_at is not None else Outcome.DEAD
        return Attempt(lease.id, lease.item.kind, outcome, number, reason, retry_at)
