"""SqlOutboxStore: the durable outbox of notifications and webhooks (``scheduling.stores.OutboxStore``).

Items are written by the booking store in the same transaction as the change they announce (or by
:meth:`SqlOutboxStore.enqueue` for standalone notices); ``dedupe_key`` is unique and a duplicate is
silently skipped. Each channel's delivery worker leases its due items for a while: one statement,
``UPDATE outbox SET leased_until = ... WHERE id IN (SELECT id ... WHERE channel = ... LIMIT n FOR UPDATE
SKIP LOCKED) RETURNING ...`` (on the partial index ``ix_outbox_due (channel, next_attempt_at)``), so on
PostgreSQL concurrent leasers skip each other's rows instead of waiting or double-claiming, and on SQLite
the statement runs inside ``BEGIN IMMEDIATE`` (one writer at a time). An item whose worker died becomes due
again when its lease runs out (delivery is at least once).

``attempts`` counts recorded failures; the caller computes the next retry (its channel's retry policy) and
passes ``retry_at``, or None to give up (the item is kept as a dead letter). An item whose recipient can't be
reached yet is *held* (``held_for`` names them): never leased, until :meth:`SqlOutboxStore.release_held`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import not_, or_, select, update

from scheduling.domain import OutboxItem
from scheduling.errors import NotFound, ValidationFailed
from scheduling.stores import LeasedItem
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

    async def lease(
        self, now: datetime, limit: int, lease_seconds: int, *, channel: str | None = None
    ) -> list[LeasedItem]:
        if limit <= 0:
            return []
        if lease_seconds <= 0:
            raise ValidationFailed({"lease_seconds": "a lease must last at least one second"})
        now = utc(now, "now")
        o = OutboxRow
        # The first three terms are ix_outbox_due's predicate, spelt as in the index (``NOT dead``, not ``dead IS
        # false``) so both databases see the partial index applies.
        conditions = [
            o.delivered_at.is_(None),
            not_(o.dead),
            o.held_for.is_(None),
            o.next_attempt_at <= now,
            or_(o.leased_until.is_(None), o.leased_until <= now),
        ]
        if channel is not None:
            conditions.append(o.channel == channel)
        due = (
            select(o.id)
            .where(*conditions)
            .order_by(o.next_attempt_at, o.created_at, o.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(o)
            .where(o.id.in_(due))
            .values(leased_until=now + timedelta(seconds=lease_seconds))
            .returning(
                o.id,
                o.kind,
                o.tenant_id,
                o.payload,
                o.dedupe_key,
                o.channel,
                o.attempts,
                o.next_attempt_at,
                o.created_at,
            )
            .execution_options(synchronize_session=False)
        )
        async with self._db.write() as s:
            claimed = (await s.execute(claim)).all()
        rows = sorted(claimed, key=lambda r: (r.next_attempt_at, r.created_at, r.id))
        return [
            LeasedItem(
                id=r.id,
                item=OutboxItem(
                    kind=r.kind,
                    tenant_id=r.tenant_id,
                    payload=dict(r.payload),
                    dedupe_key=r.dedupe_key,
                    channel=r.channel,
                ),
                attempts=r.attempts,
                enqueued_at=r.created_at,
            )
            for r in rows
        ]

    async def give_back(self, item_ids: Sequence[str]) -> None:
        if not item_ids:
            return
        async with self._db.write() as s:
            await s.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(list(item_ids)), OutboxRow.delivered_at.is_(None))
                .values(leased_until=None)
                .execution_options(synchronize_session=False)
            )

    async def mark_delivered(self, item_id: str) -> None:
        await self._update(item_id, delivered_at=self._clock(), leased_until=None, held_for=None)

    async def mark_failed(self, item_id: str, error: str, retry_at: datetime | None) -> None:
        values: dict[str, object] = {
            "attempts": OutboxRow.attempts + 1,
            "last_error": error[:MAX_ERROR_LENGTH],
            "leased_until": None,
            "held_for": None,
        }
        if retry_at is None:
            values["dead"] = True
        else:
            values["next_attempt_at"] = utc(retry_at, "retry_at")
        await self._update(item_id, **values)

    async def hold(self, item_id: str, recipient_id: str, reason: str) -> None:
        if not recipient_id:
            raise ValidationFailed({"recipient_id": "a held item waits for someone"})
        # The lease goes on until the worker gives the item back: a release racing with this can't hand the item
        # to a second worker while the one holding it still looks at it.
        await self._update(item_id, held_for=recipient_id, last_error=reason[:MAX_ERROR_LENGTH])

    async def release_held(self, recipient_id: str) -> int:
        o = OutboxRow
        async with self._db.write() as s:
            result = await s.execute(
                update(o)
                .where(o.held_for == recipient_id, o.delivered_at.is_(None), o.dead.is_(False))
                .values(held_for=None)
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def _update(self, item_id: str, **values: object) -> None:
        async with self._db.write() as s:
            result = await s.execute(
                update(OutboxRow)
                .where(OutboxRow.id == item_id)
                .values(values)
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound("No such outbox item.")
