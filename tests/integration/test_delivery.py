"""The outbox delivery use case (``scheduling.delivery``) on the real stores, SQLite and PostgreSQL, with scripted
notifiers: one channel at a time, a stable id and counted attempts per item, retries by the channel's policy
then a dead letter, Retry-After, obsolete items, sends bounded inside their lease, items given back on stop,
holds for unreachable recipients (released by ``PeopleService.remember_conversation``, race included), and
replicas delivering every item exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select

from scheduling.delivery import TEAMS, WEBHOOK, DeliveryService, Outcome, RetryPolicy
from scheduling.domain import OutboxItem, User
from scheduling.people import PeopleService
from scheduling.ports import Delivery, NotReachable, Obsolete, RetryLater, Undeliverable
from storage.db import Database
from storage.errors import StorageUnavailable
from storage.models import OutboxRow
from storage.repositories import Repositories, repositories
from tests.integration.harness import NOW, TENANT, Clock
from tests.storage.fixtures import db, db_kind, db_url  # noqa: F401 - fixtures, found by name

NO_JITTER = RetryPolicy(first_retry=timedelta(seconds=30), max_retry=timedelta(hours=1), max_attempts=3, jitter=0)


@dataclass
class Script:
    """A notifier that records every delivery it is handed and answers with ``behaviour``."""

    behaviour: Callable[[Delivery], Awaitable[None]] | None = None
    seen: list[Delivery] = field(default_factory=list)

    async def deliver(self, delivery: Delivery) -> None:
        self.seen.append(delivery)
        if self.behaviour is not None:
            await self.behaviour(delivery)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def repos(db: Database, clock: Clock) -> Repositories:  # noqa: F811 - the db fixture
    return repositories(db, clock=clock.now)


def notice(n: int, channel: str = TEAMS, host: str = "dana") -> OutboxItem:
    return OutboxItem("booking.created", TENANT, {"hostId": host, "n": n}, f"booking.created:{channel}:{n}", channel)


def service(
    repos: Repositories, notifier: Script, clock: Clock, channel: str = TEAMS, **options: object
) -> DeliveryService:
    settings: dict[str, object] = {
        "outbox": repos.outbox,
        "notifier": notifier,
        "channel": channel,
        "clock": clock,
        "spread": lambda: 0.0,
        **options,
    }
    return DeliveryService(**settings)  # type: ignore[arg-type]


async def rows(repos: Repositories) -> dict[str, OutboxRow]:
    async with repos.db.read() as s:
        return {r.dedupe_key: r for r in await s.scalars(select(OutboxRow))}


async def test_a_channel_delivers_its_own_items_once_each(repos: Repositories, clock: Clock) -> None:
    await repos.outbox.enqueue([notice(1), notice(2, WEBHOOK), notice(3)])
    teams = Script()
    report = await service(repos, teams, clock).run_once()
    assert report.channel == TEAMS and report.leased == 2 and not report.more
    assert sorted(d.item.payload["n"] for d in teams.seen) == [1, 3]  # type: ignore[type-var]
    assert {(d.attempt, d.enqueued_at) for d in teams.seen} == {(1, NOW)}
    assert sorted(report.ids(Outcome.DELIVERED)) == sorted(d.id for d in teams.seen)
    assert (await service(repos, teams, clock).run_once()).leased == 0
    clock.advance(days=1)
    assert (await service(repos, teams, clock).run_once()).leased == 0  # delivered is final
    hooks = Script()
    assert (await service(repos, hooks, clock, WEBHOOK).run_once()).leased == 1  # left for its own channel
    assert [d.item.channel for d in hooks.seen] == [WEBHOOK]


async def test_failures_are_retried_by_the_policy_under_one_id_then_kept_as_a_dead_letter(
    repos: Repositories, clock: Clock
) -> None:
    async def down(_delivery: Delivery) -> None:
        raise ConnectionError("the receiver is down")

    await repos.outbox.enqueue([notice(1, WEBHOOK)])
    hooks = Script(down)
    delivery = service(repos, hooks, clock, WEBHOOK, policy=NO_JITTER)
    outcomes = []
    for wait in (0, 29, 1, 59, 1):  # due at +30 s after the first failure, +60 s after the second
        clock.advance(seconds=wait)
        outcomes += [(a.outcome, a.attempt, a.retry_at) for a in (await delivery.run_once()).attempts]
    first = NOW
    assert outcomes == [
        (Outcome.RETRY, 1, first + timedelta(seconds=30)),
        (Outcome.RETRY, 2, first + timedelta(seconds=90)),
        (Outcome.DEAD, 3, None),
    ]
    assert len({d.id for d in hooks.seen}) == 1 and [d.attempt for d in hooks.seen] == [1, 2, 3]
    clock.advance(days=2)
    assert (await delivery.run_once()).leased == 0
    dead = (await rows(repos))[notice(1, WEBHOOK).dedupe_key]
    assert dead.dead and dead.attempts == 3 and dead.last_error == "ConnectionError: the receiver is down"


async def test_retry_after_undeliverable_and_obsolete(repos: Repositories, clock: Clock) -> None:
    async def answer(delivery: Delivery) -> None:
        n = delivery.item.payload["n"]
        if n == 1:
            raise RetryLater("HTTP 429", retry_after=timedelta(minutes=10))
        if n == 2:
            raise Undeliverable("HTTP 410: the endpoint is gone")
        raise Obsolete("the host has reconnected")

    await repos.outbox.enqueue([notice(1), notice(2), notice(3)])
    delivery = service(repos, Script(answer), clock, policy=NO_JITTER)
    report = await delivery.run_once()
    by_n = {a.item_id: a for a in report.attempts}
    assert sorted(a.outcome for a in by_n.values()) == [Outcome.DEAD, Outcome.OBSOLETE, Outcome.RETRY]
    [retry] = [a for a in report.attempts if a.outcome is Outcome.RETRY]
    assert retry.retry_at == NOW + timedelta(minutes=10)  # not the policy's 30 s
    clock.advance(minutes=9)
    assert (await delivery.run_once()).leased == 0
    clock.advance(minutes=1)
    assert (await delivery.run_once()).leased == 1
    stored = await rows(repos)
    assert stored[notice(2).dedupe_key].dead and stored[notice(2).dedupe_key].attempts == 1
    assert stored[notice(3).dedupe_key].delivered_at is not None and not stored[notice(3).dedupe_key].dead


async def test_an_unreachable_host_is_held_once_and_released_by_their_first_chat(
    repos: Repositories, clock: Clock
) -> None:
    dana = await repos.users.upsert(
        User(id="dana", tenant_id=TENANT, aad_object_id="oid-dana", display_name="Dana", email="dana@contoso.example")
    )
    reachable: list[str] = []

    async def chat(delivery: Delivery) -> None:
        user = await repos.users.get(str(delivery.item.payload["hostId"]))
        if user is None or not user.conversation_reference:
            raise NotReachable("dana", "the host has no chat with Slotwise yet")

    await repos.outbox.enqueue([notice(1), notice(2)])
    notifier = Script(chat)
    delivery = service(repos, notifier, clock)
    first = await delivery.run_once()
    assert [a.outcome for a in first.attempts] == [Outcome.HELD, Outcome.HELD]
    assert all(a.attempt == 1 for a in first.attempts)
    looked = len(notifier.seen)  # each was looked at twice: before and after the hold was written
    for _ in range(5):
        clock.advance(hours=6)
        assert (await delivery.run_once()).leased == 0  # held: no retries, nothing to report
    assert len(notifier.seen) == looked
    held = await rows(repos)
    assert {r.held_for for r in held.values()} == {"dana"} and {r.attempts for r in held.values()} == {0}

    people = PeopleService(users=repos.users, outbox=repos.outbox, reachable=lambda: reachable.append("woken"))
    await people.remember_conversation(dana, {"tenantId": TENANT, "reference": {"conversation": {"id": "a:1"}}})
    assert reachable == ["woken"]
    released = await delivery.run_once()
    assert [a.outcome for a in released.attempts] == [Outcome.DELIVERED, Outcome.DELIVERED]
    assert {d.attempt for d in notifier.seen[looked:]} == {1}  # holding counted no attempt
    await people.remember_conversation(await people.current(dana), {"tenantId": TENANT, "reference": {}})
    assert reachable == ["woken"]  # nothing was held any more: no wake


async def test_a_release_racing_with_the_hold_is_not_lost(repos: Repositories, clock: Clock) -> None:
    """The host's first chat lands between the notifier's look (no chat) and the hold being written: the release
    finds nothing held, so the delivery looks once more after holding, and delivers."""
    state = {"reachable": False}

    async def racing(_delivery: Delivery) -> None:
        if not state["reachable"]:
            state["reachable"] = True
            assert await repos.outbox.release_held("dana") == 0  # the release, before the hold
            raise NotReachable("dana", "no chat yet")

    await repos.outbox.enqueue([notice(1)])
    report = await service(repos, Script(racing), clock).run_once()
    assert [a.outcome for a in report.attempts] == [Outcome.DELIVERED]
    stored = (await rows(repos))[notice(1).dedupe_key]
    assert stored.delivered_at is not None and stored.held_for is None


async def test_a_slow_send_is_cut_off_inside_its_lease_and_retried(repos: Repositories, clock: Clock) -> None:
    async def hangs(_delivery: Delivery) -> None:
        await asyncio.sleep(5)

    await repos.outbox.enqueue([notice(1)])
    report = await service(repos, Script(hangs), clock, lease_seconds=1, send_timeout=0.05).run_once()
    [attempt] = report.attempts
    assert (attempt.outcome, attempt.reason) == (Outcome.RETRY, "no answer within 0.05 s")


async def test_an_attempt_starts_only_while_it_can_end_inside_the_lease(repos: Repositories, clock: Clock) -> None:
    async def slow(_delivery: Delivery) -> None:
        clock.advance(seconds=25)  # each send takes 25 s of the 60 s lease

    await repos.outbox.enqueue([notice(n) for n in range(4)])
    report = await service(repos, Script(slow), clock, lease_seconds=60, send_timeout=20).run_once()
    assert [a.outcome for a in report.attempts] == [Outcome.DELIVERED] + [Outcome.RETURNED] * 3
    other = Script()
    assert (await service(repos, other, clock).run_once()).leased == 3  # given back: due at once
    assert len(other.seen) == 3


async def test_stopping_finishes_the_send_in_flight_and_gives_the_rest_back(repos: Repositories, clock: Clock) -> None:
    notifier = Script()
    await repos.outbox.enqueue([notice(n) for n in range(5)])
    report = await service(repos, notifier, clock).run_once(stop=lambda: len(notifier.seen) >= 2)
    assert [a.outcome for a in report.attempts] == [Outcome.DELIVERED] * 2 + [Outcome.RETURNED] * 3
    assert not report.more
    assert (await service(repos, Script(), clock).run_once()).leased == 3


async def test_replicas_deliver_every_item_exactly_once(repos: Repositories, clock: Clock) -> None:
    await repos.outbox.enqueue([notice(n) for n in range(60)])
    delivered: list[str] = []

    async def record(delivery: Delivery) -> None:
        await asyncio.sleep(0)  # let the other replicas interleave
        delivered.append(delivery.id)

    async def replica() -> None:
        delivery = service(repos, Script(record), clock, batch=7)
        while (await delivery.run_once()).more:
            pass

    await asyncio.gather(*(replica() for _ in range(4)))
    assert len(delivered) == 60 and len(set(delivered)) == 60


class FlakyMarks:
    """The real outbox store, whose first ``failures`` marks of a delivered item meet a database that is away."""

    def __init__(self, outbox: object, failures: int) -> None:
        self._outbox = outbox
        self.failures = failures

    def __getattr__(self, name: str) -> object:
        return getattr(self._outbox, name)

    async def mark_delivered(self, item_id: str) -> None:
        if self.failures:
            self.failures -= 1
            raise StorageUnavailable()
        await self._outbox.mark_delivered(item_id)  # type: ignore[attr-defined]


async def test_a_sent_item_is_marked_even_when_the_database_is_away_for_a_moment(
    repos: Repositories, clock: Clock
) -> None:
    """A chat message can't be taken back: a sent item whose mark meets a database restart is marked once the
    database is back (within the pass's time), not sent again when its lease runs out (bench.fleet found this)."""
    await repos.outbox.enqueue([notice(1)])
    teams = Script()
    flaky = FlakyMarks(repos.outbox, failures=2)
    report = await service(repos, teams, clock, outbox=flaky).run_once()
    assert report.ids(Outcome.DELIVERED) == [teams.seen[0].id] and flaky.failures == 0
    clock.advance(minutes=5)  # long past the lease
    assert (await service(repos, teams, clock).run_once()).leased == 0
    assert len(teams.seen) == 1


async def test_a_database_away_for_longer_than_the_pass_allows_leaves_the_item_to_its_lease(
    repos: Repositories, clock: Clock
) -> None:
    await repos.outbox.enqueue([notice(1)])
    teams = Script()
    with pytest.raises(StorageUnavailable):
        await service(repos, teams, clock, outbox=FlakyMarks(repos.outbox, failures=99), send_timeout=1.0).run_once()
    clock.advance(minutes=5)
    assert (await service(repos, teams, clock).run_once()).leased == 1  # sent again: at least once, not lost
