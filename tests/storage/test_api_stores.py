"""The REST API's stores on SQLite and PostgreSQL: a rate limit shared by two service instances (replicas) on one
database, counted exactly under concurrency; API keys found only by their hash, revoked for good; booking pages by
(start, id); link expiries."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from scheduling.api_keys import ApiKeyService, InvalidApiKey, hash_api_key
from scheduling.ratelimit import RateLimit, RateLimited, RateLimitService, wait_for_room, window_start
from storage.api import SqlApiKeyStore, SqlCounterStore, SqlLinkExpiryStore
from storage.db import Database, create_database
from storage.models import ApiKeyRow
from storage.repositories import repositories
from tests.storage.fixtures import db, db_kind, db_url  # noqa: F401 - fixtures, found by name
from tests.storage.helpers import make_user

T0 = datetime(2027, 3, 1, 9, 0, 10, tzinfo=UTC)


@dataclass
class Clock:
    current: datetime = T0

    def now(self) -> datetime:
        return self.current


async def test_two_replicas_share_one_limit(db_url: str, db: Database) -> None:  # noqa: F811
    other = create_database(db_url)  # a second replica: its own engine and pool on the same database
    try:
        clock = Clock()
        rule = RateLimit("api", 5)
        first = RateLimitService(store=SqlCounterStore(db), clock=clock)
        second = RateLimitService(store=SqlCounterStore(other), clock=clock)
        decisions = [await (first if i % 2 else second).hit(rule, "key-1") for i in range(8)]
        assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
        assert decisions[4].remaining == 0 and decisions[0].remaining == 4
        with pytest.raises(RateLimited) as refused:
            await first.check(rule, "key-1")
        assert 62 <= refused.value.retry_after_seconds <= 63  # until the sliding estimate has room: 50 s + 1/5 min
        assert (await second.hit(rule, "key-2")).allowed  # keys are counted apart
        clock.current = T0 + timedelta(minutes=2)  # both windows are over
        assert (await second.hit(rule, "key-1")).allowed
    finally:
        await other.dispose()


async def test_concurrent_hits_never_exceed_the_limit(db: Database) -> None:  # noqa: F811
    limits = RateLimitService(store=SqlCounterStore(db), clock=Clock())
    rule = RateLimit("burst", 7)
    decisions = await asyncio.gather(*(limits.hit(rule, "k") for _ in range(20)))
    assert sum(d.allowed for d in decisions) == 7


async def test_the_window_slides_and_old_counters_are_purged(db: Database) -> None:  # noqa: F811
    clock = Clock(window_start(T0, timedelta(minutes=1)) + timedelta(seconds=50))
    limits = RateLimitService(store=SqlCounterStore(db), clock=clock)
    rule = RateLimit("slide", 4)
    assert all([(await limits.hit(rule, "k")).allowed for _ in range(4)])
    clock.current += timedelta(seconds=15)  # 5 s into the next window: the last one still weighs 11/12 of 4
    refused = await limits.hit(rule, "k")
    assert not refused.allowed and timedelta(seconds=1) <= refused.retry_after <= timedelta(seconds=60)
    clock.current += refused.retry_after
    assert (await limits.hit(rule, "k")).allowed  # exactly when it said
    clock.current += timedelta(minutes=5)
    assert await limits.purge() >= 1


def test_wait_for_room_is_the_first_moment_the_estimate_allows_one_more() -> None:
    assert wait_for_room(10, 0, 3, 0.5) == 0
    wait = wait_for_room(10, 10, 5, 0.2)  # needs prev * (1 - f) <= 4: f >= 0.6
    assert wait == pytest.approx(0.4, abs=1e-3)
    assert wait_for_room(3, 0, 3, 0.25) == pytest.approx(0.75 + 1 / 3, abs=1e-3)  # into the next window


async def test_api_keys_are_found_by_hash_only_and_revoked_for_good(db: Database) -> None:  # noqa: F811
    repos = repositories(db)
    user = await make_user(repos, "dana@contoso.com")
    clock = Clock()
    keys = ApiKeyService(keys=SqlApiKeyStore(db), users=repos.users, clock=clock)
    issued = await keys.create(user, "CRM")
    async with db.read() as s:
        row = await s.get(ApiKeyRow, issued.key.id)
    assert row is not None and row.key_hash == hash_api_key(issued.secret) and issued.secret not in repr(vars(row))
    assert row.prefix == issued.secret[:12] and issued.key.prefix == row.prefix
    principal = await keys.authenticate(issued.secret)
    assert principal.user.id == user.id and principal.caller.kind == "api" and principal.caller.subject == issued.key.id
    clock.current += timedelta(minutes=5)
    await keys.authenticate(issued.secret)
    (listed,) = await keys.list(user)
    assert listed.last_used_at == clock.current
    with pytest.raises(InvalidApiKey):
        await keys.authenticate(issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B"))
    stranger = await make_user(repos, "eve@contoso.com", name="Eve")
    with pytest.raises(Exception, match="No such API key"):
        await keys.revoke(stranger, issued.key.id)
    await keys.revoke(user, issued.key.id)
    with pytest.raises(InvalidApiKey, match="revoked"):
        await keys.authenticate(issued.secret)
    assert await keys.list(user) == []


async def test_link_expiries_are_due_once(db: Database) -> None:  # noqa: F811
    store = SqlLinkExpiryStore(db)
    await store.set_expiry("l1", T0)
    await store.set_expiry("l2", T0 + timedelta(days=1))
    assert await store.due_expiries(T0, 10) == ["l1"]
    await store.expired("l1", T0)
    assert await store.due_expiries(T0 + timedelta(days=2), 10) == ["l2"]
    await store.set_expiry("l1", T0 + timedelta(days=3))  # a new expiry is due again later
    assert set(await store.expiries(["l1", "l2", "l3"])) == {"l1", "l2"}
    await store.set_expiry("l2", None)
    assert await store.due_expiries(T0 + timedelta(days=4), 10) == ["l1"]


async def test_one_statement_runs_without_a_transaction_around_it_and_commits(db: Database) -> None:  # noqa: F811
    """The rate-limit upsert on PostgreSQL is one autocommitted statement (one round trip, not three); what it
    wrote is there for every other connection at once, and on SQLite it runs in a write transaction."""
    store = SqlCounterStore(db)
    start = window_start(T0, timedelta(minutes=1))
    statement = store._upsert("one", start, 5, start + timedelta(minutes=2))
    assert await db.one_statement(statement) == 1
    assert await db.one_statement(statement) == 2
    assert await store.counted("one", start) == 2  # another connection sees it: committed
    over = store._upsert("one", start, 2, start + timedelta(minutes=2))
    assert await db.one_statement(over) is None  # refused by the upsert's condition: no row back, nothing counted
    assert await store.counted("one", start) == 2
