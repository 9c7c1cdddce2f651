"""Stores of the REST API and webhooks: API keys, rate counters, link expiries, booking listings, webhook
subscriptions and deliveries (the ports of ``scheduling.stores`` marked issue 13).

* Rate counters: ``take`` is one statement, ``INSERT ... ON CONFLICT (key, window_start) DO UPDATE SET count =
  count + 1 WHERE rate_counters.count + 1 <= :limit RETURNING count``: the row is created or incremented only
  while under the limit, atomically on both databases (PostgreSQL locks the conflicting row; SQLite runs it
  inside ``BEGIN IMMEDIATE``), so replicas sharing the database share the limit exactly. On SQLite one writer
  task per process counts the events queued meanwhile in one such transaction (:class:`SqlCounterStore`).
* Webhook signing secrets are stored encrypted: AES-256-GCM under a key derived for this purpose from the
  Slotwise secret (``derive_key(secret, scheduling.webhooks.SECRET_KEY_PURPOSE)``, passed in by ``app.py``), with
  the subscription id as associated data, so a ciphertext copied to another row does not decrypt. Slotwise must
  be able to sign with the secret, so it can't be hashed; the database alone yields no secret.
* A fan-out writes each delivery's outbox item and its record in one transaction; an item whose ``dedupe_key``
  exists already is skipped with its record (``ON CONFLICT DO NOTHING RETURNING id``), so repeating a fan-out
  writes nothing twice.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from scheduling.api_keys import ApiKey
from scheduling.domain import Booking, OutboxItem
from scheduling.errors import Conflict, ValidationFailed
from scheduling.webhooks import DeliveryRecord, DeliveryStatus, NewDelivery, WebhookSubscription
from storage._sql import Clock, enqueue, outbox_rows, utc, utcnow
from storage.bookings import to_booking
from storage.db import Database
from storage.models import (
    ApiKeyRow,
    BookingRow,
    LinkExpiryRow,
    OutboxRow,
    RateCounterRow,
    ReservationRow,
    WebhookDeliveryRow,
    WebhookSubscriptionRow,
)

_BULK = {"synchronize_session": False}
MAX_ERROR = 1000
TAKE_BATCH = 500  # events counted in one SQLite write transaction (SqlCounterStore)


def _insert(db: Database) -> Any:
    return pg_insert if db.is_postgres else sqlite_insert


# ------------------------------------------------------------------ API keys


def _api_key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        user_id=row.user_id,
        tenant_id=row.tenant_id,
        prefix=row.prefix,
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class SqlApiKeyStore:
    """:class:`scheduling.stores.ApiKeyStore` on SQLite or PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, key: ApiKey, key_hash: str) -> ApiKey:
        if len(key_hash) != 64:
            raise ValidationFailed({"key_hash": "an API key is stored as its SHA-256"})
        async with self._db.write() as s:
            s.add(
                ApiKeyRow(
                    id=key.id,
                    user_id=key.user_id,
                    tenant_id=key.tenant_id,
                    prefix=key.prefix,
                    key_hash=key_hash,
                    name=key.name,
                    created_at=utc(key.created_at, "created_at"),
                    last_used_at=None,
                    revoked_at=None,
                )
            )
        return key

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        async with self._db.read() as s:
            row = await s.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash))
            return _api_key(row) if row is not None else None

    async def for_user(self, user_id: str) -> list[ApiKey]:
        async with self._db.read() as s:
            rows = await s.scalars(select(ApiKeyRow).where(ApiKeyRow.user_id == user_id).order_by(ApiKeyRow.created_at))
            return [_api_key(r) for r in rows.all()]

    async def revoke(self, key_id: str, user_id: str, at: datetime) -> ApiKey | None:
        k = ApiKeyRow
        async with self._db.write() as s:
            await s.execute(
                update(k)
                .where(k.id == key_id, k.user_id == user_id, k.revoked_at.is_(None))
                .values(revoked_at=utc(at, "at"))
                .execution_options(**_BULK)
            )
            row = await s.scalar(select(k).where(k.id == key_id, k.user_id == user_id))
            return _api_key(row) if row is not None else None

    async def touch(self, key_id: str, at: datetime, unless_since: datetime) -> None:
        k = ApiKeyRow
        async with self._db.write() as s:
            await s.execute(
                update(k)
                .where(k.id == key_id, or_(k.last_used_at.is_(None), k.last_used_at <= utc(unless_since, "since")))
                .values(last_used_at=utc(at, "at"))
                .execution_options(**_BULK)
            )


# ------------------------------------------------------------------ rate counters


@dataclass(slots=True)
class _Take:
    """One event waiting for the SQLite writer of a :class:`SqlCounterStore`."""

    key: str
    window_start: datetime
    limit: int
    expires_at: datetime
    answer: asyncio.Future[int | None]


class SqlCounterStore:
    """:class:`scheduling.stores.CounterStore` on SQLite or PostgreSQL (see the module docstring).

    Every page view counts an event, so ``take`` must stay cheap under a burst. PostgreSQL runs the conditional
    upserts side by side (row locks serialize only the same key's). SQLite has one writer, and one transaction
    through aiosqlite costs several thread round trips (BEGIN IMMEDIATE, the statement, COMMIT), each waiting its
    turn on a busy event loop: one transaction per event capped a burst of slot reads at a tenth of its rate
    (``python -m bench.web``). So on SQLite the events of one process queue for one writer task, which counts
    everything queued in one write transaction (at most :data:`TAKE_BATCH`): per key one conditional upsert of
    all its queued events (one client's burst counts as one statement), or, when they don't all fit, the key's
    count read and one upsert of those that still do, in the order they came.
    The transaction holds SQLite's write lock, so the counts stay exact across processes; and an event whose
    caller has gone away before its batch is written is not counted.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: list[_Take] = []
        self._writer: asyncio.Task[None] | None = None

    async def counted(self, key: str, window_start: datetime) -> int:
        c = RateCounterRow
        async with self._db.read() as s:
            found = await s.scalar(select(c.count).where(c.key == key, c.window_start == utc(window_start, "window")))
            return int(found or 0)

    async def take(self, key: str, window_start: datetime, *, limit: int, expires_at: datetime) -> int | None:
        if limit < 1:
            return None
        start, expires = utc(window_start, "window"), utc(expires_at, "expires_at")
        if self._db.is_postgres:  # one conditional upsert, atomic by itself: no transaction around it
            found = await self._db.one_statement(self._upsert(key, start, limit, expires))
            return int(found) if found is not None else None
        answer: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Take(key, start, limit, expires, answer))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_queued())
        return await answer

    def _upsert(self, key: str, start: datetime, limit: int, expires: datetime, events: int = 1) -> Any:
        """Count ``events`` more of ``key`` in the window at ``start`` if that keeps it at most ``limit``: one
        statement, returning the new count (no row when it would not fit)."""
        c = RateCounterRow
        statement = _insert(self._db)(c).values(key=key, window_start=start, count=events, expires_at=expires)
        return statement.on_conflict_do_update(
            index_elements=[c.key, c.window_start], set_={"count": c.count + events}, where=c.count + events <= limit
        ).returning(c.count)

    async def _write_queued(self) -> None:
        """The SQLite writer: counts what is queued, a batch per transaction, until the queue is empty."""
        while self._queue:
            batch = [t for t in self._queue[:TAKE_BATCH] if not t.answer.done()]  # done: its caller went away
            del self._queue[:TAKE_BATCH]
            if not batch:
                continue
            try:
                counts = await self._take_all(batch)
            except Exception as exc:  # every event of the batch failed with it (the caller decides what that means)
                for t in batch:
                    if not t.answer.done():
                        t.answer.set_exception(exc)
                continue
            for t, count in zip(batch, counts, strict=True):
                if not t.answer.done():
                    t.answer.set_result(count)

    async def _take_all(self, batch: list[_Take]) -> list[int | None]:
        c = RateCounterRow
        groups: dict[tuple[str, datetime, int], list[int]] = {}  # the batch's events by (key, window, limit)
        for i, t in enumerate(batch):
            groups.setdefault((t.key, t.window_start, t.limit), []).append(i)
        counts: list[int | None] = [None] * len(batch)
        async with self._db.write() as s:
            for (key, start, limit), events in groups.items():
                expires = batch[events[0]].expires_at
                if len(events) <= limit:  # (a new row is inserted whole: only a count that fits)
                    found = (await s.execute(self._upsert(key, start, limit, expires, len(events)))).scalar()
                    if found is not None:  # all of them fit (the common case: one statement)
                        for count, i in enumerate(events, start=int(found) - len(events) + 1):
                            counts[i] = count
                        continue
                    if len(events) == 1:
                        continue
                before = int(await s.scalar(select(c.count).where(c.key == key, c.window_start == start)) or 0)
                fit = max(0, min(len(events), limit - before))  # in their order: the first ``fit`` are counted
                if fit:
                    await s.execute(self._upsert(key, start, limit, expires, fit))
                for count, i in enumerate(events[:fit], start=before + 1):
                    counts[i] = count
        return counts

    async def purge(self, now: datetime) -> int:
        async with self._db.write() as s:
            result = await s.execute(
                delete(RateCounterRow).where(RateCounterRow.expires_at <= utc(now, "now")).execution_options(**_BULK)
            )
            return int(getattr(result, "rowcount", 0) or 0)


# ------------------------------------------------------------------ link expiries


class SqlLinkExpiryStore:
    """:class:`scheduling.stores.LinkExpiryStore` on SQLite or PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def set_expiry(self, event_type_id: str, expires_at: datetime | None) -> None:
        e = LinkExpiryRow
        async with self._db.write() as s:
            if expires_at is None:
                await s.execute(delete(e).where(e.event_type_id == event_type_id).execution_options(**_BULK))
                return
            statement = _insert(self._db)(e).values(
                event_type_id=event_type_id, expires_at=utc(expires_at, "expires_at"), expired_at=None
            )
            await s.execute(
                statement.on_conflict_do_update(
                    index_elements=[e.event_type_id],
                    set_={"expires_at": statement.excluded.expires_at, "expired_at": None},
                )
            )

    async def expiries(self, event_type_ids: Sequence[str]) -> Mapping[str, datetime]:
        if not event_type_ids:
            return {}
        e = LinkExpiryRow
        async with self._db.read() as s:
            rows = await s.execute(
                select(e.event_type_id, e.expires_at).where(e.event_type_id.in_(list(event_type_ids)))
            )
            return {r.event_type_id: r.expires_at for r in rows.all()}

    async def due_expiries(self, now: datetime, limit: int) -> list[str]:
        e = LinkExpiryRow
        async with self._db.read() as s:
            rows = await s.scalars(
                select(e.event_type_id)
                .where(e.expired_at.is_(None), e.expires_at <= utc(now, "now"))
                .order_by(e.expires_at)
                .limit(limit)
            )
            return list(rows.all())

    async def expired(self, event_type_id: str, at: datetime) -> None:
        e = LinkExpiryRow
        async with self._db.write() as s:
            await s.execute(
                update(e)
                .where(e.event_type_id == event_type_id, e.expires_at <= utc(at, "at"))
                .values(expired_at=utc(at, "at"))
                .execution_options(**_BULK)
            )


# ------------------------------------------------------------------ bookings as the API lists them


class SqlBookingQueries:
    """:class:`scheduling.stores.BookingQueries` on SQLite or PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def hosted_page(
        self,
        user_id: str,
        *,
        event_type_id: str | None,
        statuses: Sequence[str],
        start_from: datetime | None,
        start_before: datetime | None,
        after: tuple[datetime, str] | None,
        limit: int,
        event_type_ids: Sequence[str] = (),
    ) -> list[Booking]:
        b, r = BookingRow, ReservationRow
        hosted = select(r.booking_id).where(r.host_id == user_id, r.booking_id.is_not(None))
        conditions: list[Any] = [
            or_(b.id.in_(hosted), b.event_type_id.in_(list(event_type_ids))) if event_type_ids else b.id.in_(hosted)
        ]
        if event_type_id is not None:
            conditions.append(b.event_type_id == event_type_id)
        if statuses:
            conditions.append(b.status.in_(list(statuses)))
        if start_from is not None:
            conditions.append(b.start_at >= utc(start_from, "start_from"))
        if start_before is not None:
            conditions.append(b.start_at < utc(start_before, "start_before"))
        if after is not None:
            start, booking_id = utc(after[0], "cursor"), after[1]
            conditions.append(or_(b.start_at > start, and_(b.start_at == start, b.id > booking_id)))
        query = select(b).where(*conditions).order_by(b.start_at, b.id).limit(max(1, limit))
        async with self._db.read() as s:
            return [to_booking(row) for row in (await s.scalars(query)).all()]


# ------------------------------------------------------------------ webhooks


class SecretBox:
    """AES-256-GCM for webhook secrets: ``0x01 | nonce (12) | ciphertext``, the subscription id as associated data."""

    VERSION = b"\x01"

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the webhook secret key is 32 bytes (derive_key(secret, SECRET_KEY_PURPOSE))")
        self._aead = AESGCM(key)

    def seal(self, secret: str, subscription_id: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return self.VERSION + nonce + self._aead.encrypt(nonce, secret.encode(), subscription_id.encode())

    def open(self, blob: bytes, subscription_id: str) -> str:
        data = bytes(blob)
        if data[:1] != self.VERSION:
            raise ValueError("not a sealed webhook secret")
        try:
            return self._aead.decrypt(data[1:13], data[13:], subscription_id.encode()).decode()
        except InvalidTag:
            raise ValueError(
                "the webhook secret does not decrypt with this key (SLOTWISE_SECRET_KEY changed?)"
            ) from None


class SqlWebhookStore:
    """:class:`scheduling.stores.WebhookStore` on SQLite or PostgreSQL (see the module docstring)."""

    def __init__(self, db: Database, *, secret_key: bytes, clock: Clock = utcnow) -> None:
        self._db = db
        self._box = SecretBox(secret_key)
        self._clock = clock

    def _subscription(self, row: WebhookSubscriptionRow) -> WebhookSubscription:
        return WebhookSubscription(
            id=row.id,
            user_id=row.user_id,
            tenant_id=row.tenant_id,
            url=row.url,
            events=tuple(str(e) for e in row.events),
            description=row.description,
            secret=self._box.open(row.secret, row.id),
            created_at=row.created_at,
            updated_at=row.updated_at,
            previous_secret=self._box.open(row.previous_secret, row.id) if row.previous_secret is not None else None,
            previous_secret_expires_at=row.previous_secret_expires_at,
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            disabled_at=row.disabled_at,
            last_success_at=row.last_success_at,
            version=row.version,
        )

    def _columns(self, sub: WebhookSubscription) -> dict[str, Any]:
        return {
            "url": sub.url,
            "events": list(sub.events),
            "description": sub.description,
            "secret": self._box.seal(sub.secret, sub.id),
            "previous_secret": self._box.seal(sub.previous_secret, sub.id) if sub.previous_secret else None,
            "previous_secret_expires_at": sub.previous_secret_expires_at,
            "enabled": sub.enabled,
            "disabled_reason": sub.disabled_reason,
            "disabled_at": sub.disabled_at,
            "updated_at": utc(sub.updated_at, "updated_at"),
        }

    async def add_subscription(self, subscription: WebhookSubscription) -> WebhookSubscription:
        async with self._db.write() as s:
            s.add(
                WebhookSubscriptionRow(
                    id=subscription.id,
                    user_id=subscription.user_id,
                    tenant_id=subscription.tenant_id,
                    last_success_at=None,
                    created_at=utc(subscription.created_at, "created_at"),
                    version=1,
                    **self._columns(subscription),
                )
            )
        return subscription

    async def subscription(self, subscription_id: str) -> WebhookSubscription | None:
        async with self._db.read() as s:
            row = await s.get(WebhookSubscriptionRow, subscription_id)
            return self._subscription(row) if row is not None else None

    async def subscriptions_of(self, user_id: str) -> list[WebhookSubscription]:
        w = WebhookSubscriptionRow
        async with self._db.read() as s:
            rows = await s.scalars(select(w).where(w.user_id == user_id).order_by(w.created_at, w.id))
            return [self._subscription(r) for r in rows.all()]

    async def save_subscription(self, subscription: WebhookSubscription) -> WebhookSubscription:
        w = WebhookSubscriptionRow
        async with self._db.write() as s:
            result = await s.execute(
                update(w)
                .where(w.id == subscription.id, w.version == subscription.version)
                .values(version=w.version + 1, **self._columns(subscription))
                .execution_options(**_BULK)
            )
            if not getattr(result, "rowcount", 0):
                raise Conflict("This subscription was changed at the same moment; read it again and retry.")
            row = await s.get(w, subscription.id, populate_existing=True)
            assert row is not None
            return self._subscription(row)

    async def delete_subscription(self, subscription_id: str) -> None:
        async with self._db.write() as s:
            await s.execute(
                delete(WebhookSubscriptionRow)
                .where(WebhookSubscriptionRow.id == subscription_id)
                .execution_options(**_BULK)
            )

    async def audience(self, tenant_id: str, user_ids: Sequence[str], event: str) -> list[WebhookSubscription]:
        if not user_ids:
            return []
        w = WebhookSubscriptionRow
        async with self._db.read() as s:
            rows = await s.scalars(
                select(w)
                .where(w.tenant_id == tenant_id, w.user_id.in_(list(user_ids)), w.enabled.is_(True))
                .order_by(w.created_at, w.id)
            )
            return [sub for sub in (self._subscription(r) for r in rows.all()) if event in sub.events]

    async def fan_out(self, deliveries: Sequence[NewDelivery]) -> list[str]:
        if not deliveries:
            return []
        now = self._clock()
        rows = outbox_rows([d.item for d in deliveries], now)
        subscription_of = {row["id"]: d.subscription_id for row, d in zip(rows, deliveries, strict=True)}
        event_of = {row["id"]: d.item.kind for row, d in zip(rows, deliveries, strict=True)}
        statement = _insert(self._db)(OutboxRow).values(rows)
        insert = statement.on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(OutboxRow.id)
        async with self._db.write() as s:
            written = [str(i) for i in (await s.execute(insert)).scalars().all()]
            if written:
                s.add_all(
                    WebhookDeliveryRow(
                        id=item_id,
                        subscription_id=subscription_of[item_id],
                        event=event_of[item_id],
                        status=DeliveryStatus.PENDING.value,
                        attempts=0,
                        response_code=None,
                        error="",
                        created_at=now,
                        last_attempt_at=None,
                        delivered_at=None,
                    )
                    for item_id in written
                )
        order = {row["id"]: n for n, row in enumerate(rows)}
        return sorted(written, key=order.__getitem__)

    async def attempted(
        self,
        delivery_id: str,
        subscription_id: str,
        *,
        status: DeliveryStatus,
        response_code: int | None,
        error: str,
        at: datetime,
        succeeded: bool = False,
    ) -> None:
        d, w = WebhookDeliveryRow, WebhookSubscriptionRow
        at = utc(at, "at")
        values: dict[str, Any] = {"status": status.value, "error": error[:MAX_ERROR]}
        if status is not DeliveryStatus.SKIPPED:
            values |= {"attempts": d.attempts + 1, "response_code": response_code, "last_attempt_at": at}
        if succeeded:
            values["delivered_at"] = at
        async with self._db.write() as s:
            await s.execute(update(d).where(d.id == delivery_id).values(values).execution_options(**_BULK))
            if succeeded:
                await s.execute(
                    update(w)
                    .where(w.id == subscription_id, or_(w.last_success_at.is_(None), w.last_success_at < at))
                    .values(last_success_at=at)
                    .execution_options(**_BULK)
                )

    async def disable(self, subscription_id: str, reason: str, at: datetime, notice: OutboxItem) -> bool:
        w = WebhookSubscriptionRow
        async with self._db.write() as s:
            result = await s.execute(
                update(w)
                .where(w.id == subscription_id, w.enabled.is_(True))
                .values(
                    enabled=False,
                    disabled_reason=reason[:MAX_ERROR],
                    disabled_at=utc(at, "at"),
                    version=w.version + 1,
                    updated_at=utc(at, "at"),
                )
                .execution_options(**_BULK)
            )
            if not getattr(result, "rowcount", 0):
                return False
            await enqueue(s, [notice], self._clock())
            return True

    async def deliveries(self, subscription_id: str, limit: int) -> list[DeliveryRecord]:
        d = WebhookDeliveryRow
        async with self._db.read() as s:
            rows = await s.scalars(
                select(d)
                .where(d.subscription_id == subscription_id)
                .order_by(d.created_at.desc(), d.id.desc())
                .limit(max(1, limit))
            )
            return [
                DeliveryRecord(
                    id=r.id,
                    subscription_id=r.subscription_id,
                    event=r.event,
                    status=DeliveryStatus(r.status),
                    attempts=r.attempts,
                    created_at=r.created_at,
                    response_code=r.response_code,
                    error=r.error,
                    last_attempt_at=r.last_attempt_at,
                    delivered_at=r.delivered_at,
                )
                for r in rows.all()
            ]
