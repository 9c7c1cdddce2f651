"""SqlOutboxStore: dedupe on enqueue, leasing (never two leasers on one item), retries and dead letters."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from scheduling.domain import OutboxItem
from scheduling.errors import NotFound, ValidationFailed
from storage.models import OutboxRow
from storage.repositories import Repositories
from tests.storage.helpers import TENANT, FakeClock


def item(n: int, channel: str = "teams") -> OutboxItem:
    return OutboxItem(kind="booking.created", tenant_id=TENANT, payload={"n": n, "nested": {"ok": True}},
                      dedupe_key=f"key-{n}", channel=channel)


async def test_enqueue_skips_duplicates(repos: Repositories) -> None:
    assert await repos.outbox.enqueue([item(1), item(2, "webhook"), item(1)]) == 2
    assert await repos.outbox.enqueue([item(2)]) == 0
    with pytest.raises(ValidationFailed):
        await repos.outbox.enqueue([OutboxItem("x", TENANT, {}, "")])


async def test_lease_returns_due_items_once_until_the_lease_runs_out(repos: Repositories,
                                                                     clock: FakeClock) -> None:
    await repos.outbox.enqueue([item(1)])
    clock.advance(seconds=1)
    await repos.outbox.enqueue([item(2, "webhook")])
    now = clock.advance(seconds=1)
    leased = await repos.outbox.lease(now, 10, 30)
    assert [(x.dedupe_key, x.channel, x.payload, attempts) for _, x, attempts in leased] == [
        ("key-1", "teams", {"n": 1, "nested": {"ok": True}}, 0),
        ("key-2", "webhook", {"n": 2, "nested": {"ok": True}}, 0),
    ]
    assert await repos.outbox.lease(now, 10, 30) == []
    assert await repos.outbox.lease(now + timedelta(seconds=29), 10, 30) == []
    again = await repos.outbox.lease(now + timedelta(seconds=30), 1, 30)  # a worker died: lease expired
    assert [x.dedupe_key for _, x, _ in again] == ["key-1"]
    assert await repos.outbox.lease(now, 0, 30) == []
    with pytest.raises(ValidationFailed):
        await repos.outbox.lease(now, 1, 0)


async def test_delivered_failed_and_dead_items(repos: Repositories, clock: FakeClock) -> None:
    await repos.outbox.enqueue([item(1), item(2), item(3)])
    now = clock.now_value
    ids = {x.dedupe_key: item_id for item_id, x, _ in await repos.outbox.lease(now, 10, 60)}
    await repos.outbox.mark_delivered(ids["key-1"])
    await repos.outbox.mark_failed(ids["key-2"], "HTTP 503 from the webhook", now + timedelta(minutes=5))
    await repos.outbox.mark_failed(ids["key-3"], "HTTP 410: gone" * 1000, None)
    assert await repos.outbox.lease(now + timedelta(minutes=4), 10, 60) == []  # retry not due yet
    retry = await repos.outbox.lease(now + timedelta(minutes=5), 10, 60)
    assert [(x.dedupe_key, attempts) for _, x, attempts in retry] == [("key-2", 1)]
    await repos.outbox.mark_failed(retry[0][0], "HTTP 503 again", now + timedelta(minutes=15))
    retry = await repos.outbox.lease(now + timedelta(hours=1), 10, 60)
    assert [(x.dedupe_key, attempts) for _, x, attempts in retry] == [("key-2", 2)]
    async with repos.db.read() as s:
        dead = await s.scalar(select(OutboxRow).where(OutboxRow.dedupe_key == "key-3"))
        assert dead is not None and dead.dead and dead.attempts == 1 and len(dead.last_error) == 4000
        done = await s.scalar(select(OutboxRow).where(OutboxRow.dedupe_key == "key-1"))
        assert done is not None and done.delivered_at == clock.now_value and done.leased_until is None
    with pytest.raises(NotFound):
        await repos.outbox.mark_delivered("nope")
    with pytest.raises(NotFound):
        await repos.outbox.mark_failed("nope", "x", None)


async def test_concurrent_leasers_never_share_an_item(repos: Repositories, clock: FakeClock) -> None:
    await repos.outbox.enqueue([item(n) for n in range(60)])
    now = clock.now_value
    seen: list[str] = []

    async def worker() -> None:
        while True:
            batch = await repos.outbox.lease(now, 7, 300)
            if not batch:
                return
            seen.extend(item_id for item_id, _, _ in batch)

    await asyncio.gather(*(worker() for _ in range(4)))
    assert len(seen) == 60 and len(set(seen)) == 60
