"""SqlOutboxStore: dedupe on enqueue, leasing per channel (never two leasers on one item), retries, dead letters,
items given back, held items (never leased) and their release; and the 0003 upgrade keeping the items queued
before it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, event, insert, inspect, select, text

from scheduling.domain import OutboxItem
from scheduling.errors import NotFound, ValidationFailed
from storage import migrate
from storage.db import create_database, create_engine_for
from storage.models import OutboxRow
from storage.repositories import Repositories, repositories
from tests.storage.fixtures import Kind, create_test_database, drop_test_database
from tests.storage.helpers import TENANT, FakeClock, at, table_of


def item(n: int, channel: str = "teams") -> OutboxItem:
    return OutboxItem(
        kind="booking.created",
        tenant_id=TENANT,
        payload={"n": n, "nested": {"ok": True}},
        dedupe_key=f"key-{n}",
        channel=channel,
    )


async def test_enqueue_skips_duplicates(repos: Repositories) -> None:
    assert await repos.outbox.enqueue([item(1), item(2, "webhook"), item(1)]) == 2
    assert await repos.outbox.enqueue([item(2)]) == 0
    with pytest.raises(ValidationFailed):
        await repos.outbox.enqueue([OutboxItem("x", TENANT, {}, "")])


async def test_lease_returns_due_items_once_until_the_lease_runs_out(repos: Repositories, clock: FakeClock) -> None:
    first = clock.now_value
    await repos.outbox.enqueue([item(1)])
    clock.advance(seconds=1)
    await repos.outbox.enqueue([item(2, "webhook")])
    now = clock.advance(seconds=1)
    leased = await repos.outbox.lease(now, 10, 30)
    assert [(x.item.dedupe_key, x.item.channel, x.item.payload, x.attempts) for x in leased] == [
        ("key-1", "teams", {"n": 1, "nested": {"ok": True}}, 0),
        ("key-2", "webhook", {"n": 2, "nested": {"ok": True}}, 0),
    ]
    assert [x.enqueued_at for x in leased] == [first, first + timedelta(seconds=1)]
    assert await repos.outbox.lease(now, 10, 30) == []
    assert await repos.outbox.lease(now + timedelta(seconds=29), 10, 30) == []
    again = await repos.outbox.lease(now + timedelta(seconds=30), 1, 30)  # a worker died: lease expired
    assert [x.item.dedupe_key for x in again] == ["key-1"]
    assert await repos.outbox.lease(now, 0, 30) == []
    with pytest.raises(ValidationFailed):
        await repos.outbox.lease(now, 1, 0)


async def test_each_channel_leases_only_its_own_items(repos: Repositories, clock: FakeClock) -> None:
    await repos.outbox.enqueue([item(1, "webhook"), item(2), item(3, "webhook"), item(4)])
    now = clock.now_value
    teams = await repos.outbox.lease(now, 10, 60, channel="teams")
    assert {x.item.dedupe_key for x in teams} == {"key-2", "key-4"}
    assert await repos.outbox.lease(now, 10, 60, channel="teams") == []
    assert await repos.outbox.lease(now, 10, 60, channel="sms") == []
    hooks = await repos.outbox.lease(now, 10, 60, channel="webhook")
    assert {x.item.dedupe_key for x in hooks} == {"key-1", "key-3"}
    assert {x.item.channel for x in hooks} == {"webhook"}


async def test_delivered_failed_and_dead_items(repos: Repositories, clock: FakeClock) -> None:
    await repos.outbox.enqueue([item(1), item(2), item(3)])
    now = clock.now_value
    ids = {x.item.dedupe_key: x.id for x in await repos.outbox.lease(now, 10, 60)}
    await repos.outbox.mark_delivered(ids["key-1"])
    await repos.outbox.mark_failed(ids["key-2"], "HTTP 503 from the webhook", now + timedelta(minutes=5))
    await repos.outbox.mark_failed(ids["key-3"], "HTTP 410: gone" * 1000, None)
    assert await repos.outbox.lease(now + timedelta(minutes=4), 10, 60) == []  # retry not due yet
    retry = await repos.outbox.lease(now + timedelta(minutes=5), 10, 60)
    assert [(x.item.dedupe_key, x.attempts) for x in retry] == [("key-2", 1)]
    await repos.outbox.mark_failed(retry[0].id, "HTTP 503 again", now + timedelta(minutes=15))
    retry = await repos.outbox.lease(now + timedelta(hours=1), 10, 60)
    assert [(x.item.dedupe_key, x.attempts) for x in retry] == [("key-2", 2)]
    async with repos.db.read() as s:
        dead = await s.scalar(select(OutboxRow).where(OutboxRow.dedupe_key == "key-3"))
        assert dead is not None and dead.dead and dead.attempts == 1 and len(dead.last_error) == 4000
        done = await s.scalar(select(OutboxRow).where(OutboxRow.dedupe_key == "key-1"))
        assert done is not None and done.delivered_at == clock.now_value and done.leased_until is None
    with pytest.raises(NotFound):
        await repos.outbox.mark_delivered("nope")
    with pytest.raises(NotFound):
        await repos.outbox.mark_failed("nope", "x", None)


async def test_items_given_back_are_due_at_once(repos: Repositories, clock: FakeClock) -> None:
    await repos.outbox.enqueue([item(1), item(2), item(3)])
    now = clock.now_value
    leased = {x.item.dedupe_key: x.id for x in await repos.outbox.lease(now, 10, 60)}
    await repos.outbox.mark_delivered(leased["key-1"])
    await repos.outbox.give_back(list(leased.values()))  # a stopping worker; the delivered one stays delivered
    await repos.outbox.give_back([])
    again = await repos.outbox.lease(now, 10, 60)
    assert sorted((x.item.dedupe_key, x.attempts) for x in again) == [("key-2", 0), ("key-3", 0)]


async def test_a_held_item_waits_for_its_recipient_without_attempts(repos: Repositories, clock: FakeClock) -> None:
    await repos.outbox.enqueue([item(1), item(2), item(3, "webhook")])
    now = clock.now_value
    ids = {x.item.dedupe_key: x.id for x in await repos.outbox.lease(now, 10, 60)}
    await repos.outbox.hold(ids["key-1"], "dana", "no chat with Slotwise yet")
    await repos.outbox.hold(ids["key-2"], "ivan", "no chat with Slotwise yet")
    await repos.outbox.give_back([ids["key-1"], ids["key-2"]])
    await repos.outbox.mark_delivered(ids["key-3"])
    assert await repos.outbox.lease(now + timedelta(days=30), 10, 60) == []  # held: never due
    assert await repos.outbox.release_held("nobody") == 0
    assert await repos.outbox.release_held("dana") == 1
    assert await repos.outbox.release_held("dana") == 0
    [released] = await repos.outbox.lease(now, 10, 60)  # due at once (its old due time), not a day later
    assert (released.item.dedupe_key, released.attempts) == ("key-1", 0)
    await repos.outbox.mark_delivered(released.id)
    async with repos.db.read() as s:
        rows = {r.dedupe_key: r for r in await s.scalars(select(OutboxRow))}
    assert rows["key-1"].held_for is None and rows["key-1"].delivered_at is not None
    assert rows["key-2"].held_for == "ivan" and rows["key-2"].last_error == "no chat with Slotwise yet"
    assert rows["key-2"].attempts == 0 and rows["key-2"].leased_until is None
    with pytest.raises(NotFound):
        await repos.outbox.hold("nope", "dana", "x")
    with pytest.raises(ValidationFailed):
        await repos.outbox.hold(ids["key-2"], "", "x")


async def test_a_hold_keeps_the_lease_until_it_is_given_back(repos: Repositories, clock: FakeClock) -> None:
    """A release right after a hold makes the item due, but not to a second worker while the first still
    has it (it looks once more after holding, then gives it back)."""
    await repos.outbox.enqueue([item(1)])
    now = clock.now_value
    [leased] = await repos.outbox.lease(now, 10, 60)
    await repos.outbox.hold(leased.id, "dana", "no chat")
    assert await repos.outbox.release_held("dana") == 1
    assert await repos.outbox.lease(now, 10, 60) == []  # still the first worker's
    await repos.outbox.give_back([leased.id])
    assert [x.id for x in await repos.outbox.lease(now, 10, 60)] == [leased.id]


async def test_concurrent_leasers_never_share_an_item(repos: Repositories, clock: FakeClock) -> None:
    await repos.outbox.enqueue([item(n, "teams" if n % 3 else "webhook") for n in range(60)])
    now = clock.now_value
    seen: list[str] = []

    async def worker(channel: str) -> None:
        while True:
            batch = await repos.outbox.lease(now, 7, 300, channel=channel)
            if not batch:
                return
            assert {x.item.channel for x in batch} == {channel}
            seen.extend(x.id for x in batch)

    await asyncio.gather(*(worker(channel) for channel in ("teams", "webhook", "teams", "webhook")))
    assert len(seen) == 60 and len(set(seen)) == 60


@pytest.mark.postgres
@pytest.mark.parametrize("db_kind", ["postgres"], indirect=True)
async def test_a_channels_lease_runs_on_the_due_index(repos: Repositories, clock: FakeClock) -> None:
    """The leasing statement, as the store sends it, can use ``ix_outbox_due (channel, next_attempt_at)``: its
    predicate must be spelt as in the index (``NOT dead``) for PostgreSQL to see the partial index applies."""
    statements: list[tuple[str, object]] = []

    def capture(_conn: object, _cursor: object, statement: str, parameters: object, *_: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE OUTBOX SET LEASED_UNTIL"):
            statements.append((statement, parameters))

    engine = repos.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        await repos.outbox.lease(clock.now_value, 10, 60, channel="teams")
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    [(statement, parameters)] = statements
    async with repos.db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        async with driver.transaction():
            await driver.execute("SET LOCAL enable_seqscan = off")
            plan = await driver.fetch("EXPLAIN " + statement, *parameters)  # type: ignore[misc]
    assert "ix_outbox_due" in "\n".join(row[0] for row in plan)


# ---------------------------------------------------------------------------- 0002 -> 0003: the queue survives


@pytest.fixture
async def empty_url(db_kind: Kind, tmp_path: Path) -> AsyncIterator[str]:
    url = await create_test_database(db_kind, tmp_path, migrate=False)
    try:
        yield url
    finally:
        await drop_test_database(url)


async def test_items_queued_before_0003_survive_the_upgrade_and_are_leased_by_their_channel(empty_url: str) -> None:
    assert await migrate.upgrade(empty_url, "0002") == "0002"
    row = {
        "tenant_id": TENANT,
        "kind": "booking.created",
        "payload": {"hostId": "u1"},
        "created_at": at(8),
        "attempts": 0,
        "next_attempt_at": at(8),
        "leased_until": None,
        "delivered_at": None,
        "last_error": "",
        "dead": False,
    }
    rows = [
        {**row, "id": "due-teams", "channel": "teams", "dedupe_key": "k1"},
        {**row, "id": "due-hook", "channel": "webhook", "dedupe_key": "k2"},
        {
            **row,
            "id": "retrying",
            "channel": "teams",
            "dedupe_key": "k3",
            "attempts": 2,
            "next_attempt_at": at(12),
            "last_error": "HTTP 503",
        },
        {**row, "id": "done", "channel": "teams", "dedupe_key": "k4", "delivered_at": at(9)},
        {**row, "id": "dead", "channel": "teams", "dedupe_key": "k5", "dead": True, "attempts": 8},
    ]
    db = create_database(empty_url)
    try:
        async with db.write() as s:
            await s.execute(insert(table_of(OutboxRow)).values(rows))
    finally:
        await db.dispose()

    await migrate.upgrade(empty_url)
    db = create_database(empty_url)
    try:
        outbox = repositories(db).outbox
        assert [x.id for x in await outbox.lease(at(10), 10, 86400, channel="teams")] == ["due-teams"]
        assert [x.id for x in await outbox.lease(at(10), 10, 86400, channel="webhook")] == ["due-hook"]
        [retrying] = await outbox.lease(at(12), 10, 86400, channel="teams")
        assert (retrying.id, retrying.attempts, retrying.item.payload) == ("retrying", 2, {"hostId": "u1"})
        assert await outbox.lease(at(23), 10, 60) == []  # delivered and dead items stay so
        async with db.read() as s:
            assert {r.id: r.held_for for r in await s.scalars(select(OutboxRow))} == dict.fromkeys(
                ["due-teams", "due-hook", "retrying", "done", "dead"]
            )
    finally:
        await db.dispose()


async def test_0003_downgrades_to_plain_due_items_and_upgrades_again(empty_url: str) -> None:
    assert await migrate.upgrade(empty_url, "0003") == "0003"
    db = create_database(empty_url)
    try:
        outbox = repositories(db, clock=lambda: at(8)).outbox
        await outbox.enqueue([item(1)])
        [leased] = await outbox.lease(at(8), 10, 60)
        await outbox.hold(leased.id, "dana", "no chat")
        await outbox.give_back([leased.id])
    finally:
        await db.dispose()
    engine = create_engine_for(empty_url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_downgrade, "0002")
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
            columns = {c["name"] for c in await connection.run_sync(lambda c: inspect(c).get_columns("outbox"))}
            due = (
                (
                    await connection.execute(
                        text(
                            "SELECT dedupe_key FROM outbox WHERE delivered_at IS NULL "
                            "AND NOT dead AND leased_until IS NULL"
                        )
                    )
                )
                .scalars()
                .all()
            )
    finally:
        await engine.dispose()
    assert "job_leases" not in tables and "held_for" not in columns
    assert due == ["key-1"]  # the code before 0003 retries it
    assert await migrate.upgrade(empty_url, "0003") == "0003"


def _downgrade(connection: Connection, revision: str) -> None:
    config = migrate.alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)
