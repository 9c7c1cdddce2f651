"""SqlOperationsStore on SQLite and PostgreSQL: the outbox backlog per channel (only items still waiting on us:
not delivered, not dead, not held), the subscription count, and the readiness schema check (at head; a fresh
empty database is "not migrated")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from scheduling import stores
from scheduling.domain import OutboxItem
from scheduling.sync import HostSubscription, hash_client_state
from storage.db import Database, create_database
from storage.migrate import head_revision
from storage.operations import SqlOperationsStore
from storage.repositories import Repositories
from tests.ports import assert_implements
from tests.storage.fixtures import KINDS, Kind, create_test_database, drop_test_database, require_postgres
from tests.storage.helpers import TENANT, FakeClock, make_user


def item(n: int, channel: str = "teams") -> OutboxItem:
    return OutboxItem("booking.created", TENANT, {"n": n}, f"ops-{n}", channel)


def test_it_implements_the_port() -> None:
    assert_implements(stores.OperationsStore, SqlOperationsStore)


async def test_the_backlog_counts_only_items_waiting_on_us(db: Database, repos: Repositories, clock: FakeClock) -> None:
    ops = SqlOperationsStore(db)
    assert await ops.outbox_backlog() == []
    first = clock()
    await repos.outbox.enqueue([item(1), item(2, "webhook")])
    clock.advance(minutes=5)
    await repos.outbox.enqueue([item(3), item(4), item(5), item(6)])
    leased = {x.item.dedupe_key: x.id for x in await repos.outbox.lease(clock(), 10, 60, channel="teams")}
    await repos.outbox.mark_delivered(leased["ops-1"])  # the oldest teams item is done
    await repos.outbox.mark_failed(leased["ops-4"], "gone", None)  # a dead letter
    await repos.outbox.hold(leased["ops-5"], "host-1", "no chat yet")  # waits for a person, not for us
    await repos.outbox.mark_failed(leased["ops-6"], "busy", clock() + timedelta(hours=1))  # still ours to retry
    assert await ops.outbox_backlog() == [
        stores.OutboxBacklog("teams", 2, first + timedelta(minutes=5)),  # ops-3 (leased) and ops-6 (retrying)
        stores.OutboxBacklog("webhook", 1, first),
    ]


async def test_subscriptions_are_counted(db: Database, repos: Repositories, clock: FakeClock) -> None:
    ops = SqlOperationsStore(db)
    assert await ops.subscription_count() == 0
    for n in range(2):
        host = await make_user(repos, f"host{n}@contoso.com")
        now = clock()
        await repos.calendar_sync.save_subscription(
            HostSubscription(host.id, f"sub-{n}", hash_client_state("s"), now + timedelta(days=3), now)
        )
    assert await ops.subscription_count() == 2


async def test_a_migrated_database_is_ready(db: Database) -> None:
    ops = SqlOperationsStore(db)
    assert await ops.schema_revision() == head_revision()
    assert await ops.schema_problem() is None


@pytest.mark.parametrize(
    "kind", [pytest.param(k, marks=[pytest.mark.postgres] if k == "postgres" else []) for k in KINDS]
)
async def test_a_fresh_empty_database_is_not_migrated(kind: Kind, tmp_path: Path) -> None:
    if kind == "postgres":
        require_postgres()
    url = await create_test_database(kind, tmp_path, migrate=False)
    db = create_database(url, pool_size=1, max_overflow=0)
    try:
        ops = SqlOperationsStore(db)
        assert await ops.schema_revision() is None
        problem = await ops.schema_problem()
        assert problem is not None and "not migrated" in problem and head_revision() in problem
    finally:
        await db.dispose()
        await drop_test_database(url)
