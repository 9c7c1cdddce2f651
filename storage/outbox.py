"""SqlOutboxStore: the durable outbox of notifications and webhooks (``scheduling.stores.OutboxStore``).

Items are written by the booking store in the same transaction as the change they announce (or by
:meth:`SqlOutboxStore.enqueue` for standalone notices); ``dedupe_key`` is unique and a duplicate is
silently skipped. Delivery workers ``lease`` due items for a while: one statement,
``UPDATE outbox SET leased_until = ... WHERE id IN (SELECT id ... LIMIT n FOR UPDATE SKIP LOCKED)
RETURNING ...``, so on PostgreSQL concurrent leasers skip each other's rows instead of waiting or
double-claiming, and on SQLite the statement runs inside ``BEGIN IMMEDIATE`` (one writer at a time).
An item whose worker died becomes due again when its lease runs out (delivery is at least once).

``attempts`` counts recorded failures; the caller computes the next retry (exponential back-off) and
passes ``retry_at``, or None to give up (the item is kept as a dead letter).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from scheduling.domain import OutboxItem
from scheduling.errors import NotFound, ValidationFailed
from storage._sql import Clock, enqueue, utc, utcnow
from storage.db import Database
from storage.models import OutboxRow

MAX_ERROR_LENGTH = 4000


class SqlOutboxStore:
    """:class:`scheduling.stores.OutboxStore` on SQLite or PostgreSQL."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    async def enqueue(self, items: Sequence[OutboxItem]) -> int:
        """Add items on their own (not tied to a booking change); returns how many were new."""
        async with self._db.write() as s:
            return await enqueue(s, items, self._clock())

    async def lease(self, now: datetime, limit: int, lease_seconds: int) -> list[tuple[str, OutboxItem, int]]:
        if limit <= 0:
            return []
        if lease_seconds <= 0:
            raise ValidationFailed({"lease_seconds": "a lease must last at least one second"})
        now = utc(now, "now")
        o = OutboxRow
        due = (
            select(o.id)
            .where(o.delivered_at.is_(None), o.dead.is_(False), o.next_attempt_at <= now,
                   or_(o.leased_until.is_(None), o.leased_until <= now))
            .order_by(o.next_attempt_at, o.created_at, o.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(o)
            .where(o.id.in_(due))
            .values(leased_until=now + timedelta(seconds=lease_seconds))
            .returning(o.id, o.kind, o.tenant_id, o.payload, o.dedupe_key, o.channel, o.attempts,
                       o.next_attempt_at, o.created_at)
            .execution_options(synchronize_session=False)
        )
        async with self._db.write() as s:
            claimed = (await s.execute(claim)).all()
        rows = sorted(claimed, key=lambda r: (r.next_attempt_at, r.created_at, r.id))
        return [
            (r.id, OutboxItem(kind=r.kind, tenant_id=r.tenant_id, payload=dict(r.payload),
                              dedupe_key=r.dedupe_key, channel=r.channel), r.attempts)
            for r in rows
        ]

    async def mark_delivered(self, item_id: str) -> None:
        async with self._db.write() as s:
            result = await s.execute(update(OutboxRow).where(OutboxRow.id == item_id)
                                     .values(delivered_at=self._clock(), leased_until=None)
                                     .execution_options(synchronize_session=False))
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound("No such outbox item.")

    async def mark_failed(self, item_id: str, error: str, retry_at: datetime | None) -> None:
        values: dict[str, object] = {"attempts": OutboxRow.attempts + 1, "last_error": error[:MAX_ERROR_LENGTH],
                                     "leased_until": None}
        if retry_at is None:
            values["dead"] = True
        else:
            values["next_attempt_at"] = utc(retry_at, "retry_at")
        async with self._db.write() as s:
            result = await s.execute(update(OutboxRow).where(OutboxRow.id == item_id).values(values)
                                     .execution_options(synchronize_session=False))
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound("No such outbox item.")
