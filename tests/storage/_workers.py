"""Code run in separate OS processes (multiprocessing, spawn) by the concurrency tests.

Each call builds its own engine, opens its connection, waits at the shared barrier so that all
processes hit the database at the same moment, does one thing and reports a plain string or list.
"""

from __future__ import annotations

import asyncio
import importlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from scheduling.domain import Booking, Invitee
from scheduling.errors import SlotUnavailable
from storage.bookings import SqlBookingStore
from storage.db import create_database
from storage.outbox import SqlOutboxStore

BARRIER_TIMEOUT = 120


def warm_up() -> None:
    """Pool initializer (runs when a worker starts, importing this module and the stores with it): also
    load the database drivers, so the first race starts as fast as later ones."""
    for module in (
        "asyncpg",
        "aiosqlite",
        "sqlalchemy.dialects.postgresql.asyncpg",
        "sqlalchemy.dialects.sqlite.aiosqlite",
    ):
        importlib.import_module(module)


async def _ready(db: Any, barrier: Any) -> None:
    async with db.read() as s:
        await s.execute(text("SELECT 1"))
    await asyncio.to_thread(barrier.wait, BARRIER_TIMEOUT)


async def _reserve(
    url: str,
    barrier: Any,
    booking_id: str,
    event_type_id: str,
    host_ids: list[str],
    start: str,
    minutes: int,
    before: int,
    after: int,
    key: str | None,
) -> str:
    db = create_database(url, pool_size=1, max_overflow=0)
    try:
        store = SqlBookingStore(db)
        begin = datetime.fromisoformat(start)
        booking = Booking(
            id=booking_id,
            tenant_id="tenant-a",
            event_type_id=event_type_id,
            host_ids=tuple(host_ids),
            start=begin,
            end=begin + timedelta(minutes=minutes),
            buffer_before=before,
            buffer_after=after,
            invitee=Invitee(name=f"Invitee {booking_id}", email=f"{booking_id}@example.com"),
            idempotency_key=key,
            manage_token_hash=f"hash-{booking_id}",
        )
        await _ready(db, barrier)
        try:
            stored, created = await store.reserve(booking)
        except SlotUnavailable:
            return "taken"
        return f"{'won' if created else 'replayed'}:{stored.id}"
    except Exception as exc:  # report, so the test shows what went wrong in the child
        return f"error:{exc!r}"
    finally:
        await db.dispose()


def reserve(
    url: str,
    barrier: Any,
    booking_id: str,
    event_type_id: str,
    host_ids: list[str],
    start: str,
    minutes: int,
    before: int = 0,
    after: int = 0,
    key: str | None = None,
) -> str:
    """Try to reserve one booking; returns "won:<id>", "replayed:<id>", "taken" or "error:<repr>"."""
    return asyncio.run(_reserve(url, barrier, booking_id, event_type_id, host_ids, start, minutes, before, after, key))


async def _lease_all(url: str, barrier: Any, now: str, limit: int) -> list[str]:
    db = create_database(url, pool_size=1, max_overflow=0)
    try:
        outbox = SqlOutboxStore(db)
        await _ready(db, barrier)
        claimed: list[str] = []
        while batch := await outbox.lease(datetime.fromisoformat(now), limit, 600):
            claimed.extend(x.id for x in batch)
        return claimed
    finally:
        await db.dispose()


def lease_all(url: str, barrier: Any, now: str, limit: int) -> list[str]:
    """Lease outbox items in batches of ``limit`` until none are left; returns the ids claimed."""
    return asyncio.run(_lease_all(url, barrier, now, limit))
