"""SqlCalendarSyncStore: the stores of calendar sync (``scheduling.stores``: SubscriptionStore, BusyCacheStore,
SyncWorkQueue, OutlookBookingIndex) on SQLite and PostgreSQL.

* Subscriptions: one row per host (``calendar_subscriptions``). Renewals are leased like outbox items:
  ``UPDATE ... WHERE host_id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``, so replicas renewing at
  the same moment never claim the same subscription (SQLite: one writer at a time, ``BEGIN IMMEDIATE``).
* Busy cache: a header per host (``busy_cache``: window, delta cursor, stale/dirty marks) and its events
  (``busy_cache_events``, by event id). A write locks the header row (``FOR UPDATE``) first, so an
  incremental round applies only on top of the cursor it started from (compare and set).
* Work queue: one row per host (``sync_work``); a request is an ``INSERT ... ON CONFLICT DO UPDATE`` that
  ORs the flags in, bumps ``generation`` and pulls ``due_at`` forward, in the same transaction as the cache
  marks it implies. A worker leases whole rows; finishing deletes the row only if its generation is the
  one leased (a request that came meanwhile keeps it, unleased, for the next pass).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, case, delete, func, insert, not_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from scheduling.domain import Booking, BookingStatus, ConnectionStatus
from scheduling.errors import ValidationFailed
from scheduling.intervals import Interval
from scheduling.ports import BusyInterval
from scheduling.rules import BusyStatus
from scheduling.sync import CachedBusy, CacheState, HostSubscription, SyncRequest, SyncWork
from storage._sql import Clock, utc, utcnow, violation
from storage.bookings import to_booking
from storage.db import Database
from storage.models import (
    BookingRow,
    BusyCacheEventRow,
    BusyCacheRow,
    CalendarSubscriptionRow,
    EventTypeRow,
    SyncWorkRow,
    TeamMemberRow,
    UserRow,
)

_BULK = {"synchronize_session": False}
_CHUNK = 500
MAX_ERROR_LENGTH = 4000
T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _subscription(row: CalendarSubscriptionRow) -> HostSubscription:
    return HostSubscription(
        host_id=row.host_id,
        subscription_id=row.subscription_id,
        client_state_hash=row.client_state_hash,
        expires_at=row.expires_at,
        created_at=row.created_at,
        renewed_at=row.renewed_at,
        reauthorized_at=row.reauthorized_at,
        endpoint=row.notification_url,
    )


def _positive(lease_seconds: int) -> None:
    if lease_seconds <= 0:
        raise ValidationFailed({"lease_seconds": "a lease must last at least one second"})


def _has_links_or_rotation(user_id: Any) -> Any:
    """The part of :func:`scheduling.sync.needs_subscription` kept in the database: the person has an active
    personal link, or is in a team's rotation."""
    e, m = EventTypeRow, TeamMemberRow
    personal = select(e.id).where(e.owner_user_id == user_id, e.team_id.is_(None), e.active.is_(True)).exists()
    rotation = select(m.user_id).where(m.user_id == user_id, m.active.is_(True)).exists()
    return or_(personal, rotation)


class SqlCalendarSyncStore:
    """Every calendar-sync store of the core on one :class:`~storage.db.Database`."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    # ================================================================== subscriptions

    async def subscription_of(self, host_id: str) -> HostSubscription | None:
        async with self._db.read() as s:
            row = await s.get(CalendarSubscriptionRow, host_id)
            return _subscription(row) if row is not None else None

    async def subscriptions_by_ids(self, subscription_ids: Sequence[str]) -> Mapping[str, HostSubscription]:
        found: dict[str, HostSubscription] = {}
        ids = list(dict.fromkeys(subscription_ids))
        async with self._db.read() as s:
            for chunk in _chunks(ids):
                rows = await s.scalars(
                    select(CalendarSubscriptionRow).where(CalendarSubscriptionRow.subscription_id.in_(chunk))
                )
                found.update({r.subscription_id: _subscription(r) for r in rows})
        return found

    async def save_subscription(self, subscription: HostSubscription) -> HostSubscription | None:
        values = {
            "subscription_id": subscription.subscription_id,
            "client_state_hash": subscription.client_state_hash,
            "expires_at": utc(subscription.expires_at, "expires_at"),
            "created_at": utc(subscription.created_at, "created_at"),
            "renewed_at": subscription.renewed_at,
            "reauthorized_at": subscription.reauthorized_at,
            "leased_until": None,
            "notification_url": subscription.endpoint,
        }
        for attempt in range(2):
            try:
                async with self._db.write() as s:
                    row = await s.scalar(
                        select(CalendarSubscriptionRow)
                        .where(CalendarSubscriptionRow.host_id == subscription.host_id)
                        .with_for_update()
                    )
                    if row is None:
                        await s.execute(insert(CalendarSubscriptionRow).values(host_id=subscription.host_id, **values))
                        return None
                    replaced = _subscription(row)
                    await s.execute(
                        update(CalendarSubscriptionRow)
                        .where(CalendarSubscriptionRow.host_id == subscription.host_id)
                        .values(**values),
                        execution_options=_BULK,
                    )
                    return replaced
            except IntegrityError as exc:  # another writer inserted the host's row first: replace theirs
                if attempt or violation(exc).kind != "unique":
                    raise
        raise AssertionError("unreachable")

    async def delete_subscription(self, host_id: str) -> HostSubscription | None:
        async with self._db.write() as s:
            row = await s.scalar(
                select(CalendarSubscriptionRow).where(CalendarSubscriptionRow.host_id == host_id).with_for_update()
            )
            if row is None:
                return None
            gone = _subscription(row)
            await s.execute(
                delete(CalendarSubscriptionRow).where(CalendarSubscriptionRow.host_id == host_id),
                execution_options=_BULK,
            )
            return gone

    async def lease_renewals(
        self,
        now: datetime,
        *,
        due_before: datetime,
        quiet_since: datetime,
        urgent_before: datetime,
        limit: int,
        lease_seconds: int,
    ) -> list[HostSubscription]:
        if limit <= 0:
            return []
        _positive(lease_seconds)
        now = utc(now, "now")
        c = CalendarSubscriptionRow
        due = (
            select(c.host_id)
            .where(
                c.expires_at <= utc(due_before, "due_before"),
                or_(c.leased_until.is_(None), c.leased_until <= now),
                or_(
                    c.reauthorized_at.is_(None),
                    c.reauthorized_at <= utc(quiet_since, "quiet_since"),
                    c.expires_at <= utc(urgent_before, "urgent_before"),
                ),
            )
            .order_by(c.expires_at, c.host_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(c)
            .where(c.host_id.in_(due))
            .values(leased_until=now + timedelta(seconds=lease_seconds))
            .returning(c.host_id)
            .execution_options(synchronize_session=False)
        )
        async with self._db.write() as s:
            claimed = [r.host_id for r in (await s.execute(claim)).all()]
            rows = (await s.scalars(select(c).where(c.host_id.in_(claimed)))).all() if claimed else []
        return sorted((_subscription(r) for r in rows), key=lambda x: (x.expires_at, x.host_id))

    async def renewed(self, subscription_id: str, expires_at: datetime, now: datetime) -> None:
        async with self._db.write() as s:
            await s.execute(
                update(CalendarSubscriptionRow)
                .where(CalendarSubscriptionRow.subscription_id == subscription_id)
                .values(expires_at=utc(expires_at, "expires_at"), renewed_at=utc(now, "now"), leased_until=None),
                execution_options=_BULK,
            )

    async def reauthorized(self, subscription_id: str, now: datetime) -> None:
        async with self._db.write() as s:
            await s.execute(
                update(CalendarSubscriptionRow)
                .where(CalendarSubscriptionRow.subscription_id == subscription_id)
                .values(reauthorized_at=utc(now, "now")),
                execution_options=_BULK,
            )

    async def subscriptions_elsewhere(self, endpoint: str, *, limit: int) -> list[HostSubscription]:
        c, w = CalendarSubscriptionRow, SyncWorkRow
        queued = select(w.host_id).where(w.host_id == c.host_id).exists()
        query = select(c).where(c.notification_url != endpoint, not_(queued)).order_by(c.host_id).limit(limit)
        async with self._db.read() as s:
            return [_subscription(r) for r in (await s.scalars(query)).all()]

    async def needs_subscription(self, host_id: str) -> bool:
        u = UserRow
        query = select(u.id).where(
            u.id == host_id, u.connection_status == ConnectionStatus.CONNECTED.value, _has_links_or_rotation(u.id)
        )
        async with self._db.read() as s:
            return (await s.scalar(query)) is not None

    async def hosts_out_of_step(self, limit: int) -> list[str]:
        u, c, w = UserRow, CalendarSubscriptionRow, SyncWorkRow
        connected = ConnectionStatus.CONNECTED.value
        queued = select(w.host_id).where(w.host_id == u.id).exists()
        missing = (
            select(u.id)
            .outerjoin(c, c.host_id == u.id)
            .where(u.connection_status == connected, c.host_id.is_(None), not_(queued), _has_links_or_rotation(u.id))
            .order_by(u.id)
            .limit(limit)
        )
        orphaned = (
            select(c.host_id)
            .join(u, u.id == c.host_id)
            .where(u.connection_status != connected)
            .order_by(c.host_id)
            .limit(limit)
        )
        async with self._db.read() as s:
            found = list((await s.scalars(missing)).all()) + list((await s.scalars(orphaned)).all())
        return list(dict.fromkeys(found))[:limit]

    # ================================================================== busy cache

    async def cached_busy(self, host_id: str, window: Interval) -> CachedBusy | None:
        b, c, e = BusyCacheRow, CalendarSubscriptionRow, BusyCacheEventRow
        header = (
            select(
                b.window_start,
                b.window_end,
                b.delta_cursor.is_not(None).label("has_cursor"),
                b.stale_since,
                b.dirty_since,
                c.expires_at,
            )
            .outerjoin(c, c.host_id == b.host_id)
            .where(b.host_id == host_id)
        )
        events = (
            select(e.start_at, e.end_at, e.status)
            .where(e.host_id == host_id, e.start_at < window.end, e.end_at > window.start)
            .order_by(e.start_at, e.end_at)
        )
        async with self._db.read() as s:
            head = (await s.execute(header)).first()
            if head is None:
                return None
            rows = (await s.execute(events)).all()
        busy = tuple(dict.fromkeys(BusyInterval(r.start_at, r.end_at, BusyStatus.parse(r.status)) for r in rows))
        return CachedBusy(
            host_id=host_id,
            window=Interval(head.window_start, head.window_end),
            has_cursor=bool(head.has_cursor),
            stale_since=head.stale_since,
            dirty_since=head.dirty_since,
            subscription_expires_at=head.expires_at,
            busy=busy,
        )

    async def cache_state(self, host_id: str) -> CacheState | None:
        async with self._db.read() as s:
            row = await s.get(BusyCacheRow, host_id)
            if row is None:
                return None
            return CacheState(host_id, Interval(row.window_start, row.window_end), row.delta_cursor, row.stale_since)

    @staticmethod
    def _event_rows(host_id: str, busy: Mapping[str, BusyInterval]) -> list[dict[str, Any]]:
        return [
            {
                "host_id": host_id,
                "event_id": event_id,
                "start_at": utc(b.start, "start"),
                "end_at": utc(b.end, "end"),
                "status": b.status.value,
            }
            for event_id, b in busy.items()
        ]

    @staticmethod
    def _settled(row: BusyCacheRow, started_at: datetime) -> None:
        """Clear the dirty and stale marks a round that began at ``started_at`` answers (not later ones)."""
        if row.dirty_since is not None and row.dirty_since <= started_at:
            row.dirty_since = None
        if row.stale_since is not None and row.stale_since <= started_at:
            row.stale_since = None
            row.stale_reason = ""

    async def replace_busy(
        self,
        host_id: str,
        *,
        window: Interval,
        cursor: str,
        busy: Mapping[str, BusyInterval],
        synced_at: datetime,
        started_at: datetime,
    ) -> None:
        started_at = utc(started_at, "started_at")
        async with self._db.write() as s:
            row = await s.scalar(select(BusyCacheRow).where(BusyCacheRow.host_id == host_id).with_for_update())
            if row is None:
                row = BusyCacheRow(host_id=host_id, stale_reason="", dirty_since=None, stale_since=None)
                s.add(row)
            row.window_start, row.window_end = window.start, window.end
            row.delta_cursor = cursor
            row.synced_at = utc(synced_at, "synced_at")
            row.updated_at = self._clock()
            self._settled(row, started_at)
            await s.flush()
            await s.execute(
                delete(BusyCacheEventRow).where(BusyCacheEventRow.host_id == host_id), execution_options=_BULK
            )
            for chunk in _chunks(self._event_rows(host_id, busy)):
                await s.execute(insert(BusyCacheEventRow), list(chunk))

    async def apply_busy(
        self,
        host_id: str,
        *,
        expected_cursor: str,
        cursor: str,
        blocking: Mapping[str, BusyInterval],
        cleared: Sequence[str],
        synced_at: datetime,
        started_at: datetime,
    ) -> bool:
        started_at = utc(started_at, "started_at")
        async with self._db.write() as s:
            row = await s.scalar(select(BusyCacheRow).where(BusyCacheRow.host_id == host_id).with_for_update())
            if row is None or row.delta_cursor != expected_cursor:
                return False
            gone = list(dict.fromkeys([*cleared, *blocking]))
            for chunk in _chunks(gone):
                await s.execute(
                    delete(BusyCacheEventRow).where(
                        BusyCacheEventRow.host_id == host_id, BusyCacheEventRow.event_id.in_(chunk)
                    ),
                    execution_options=_BULK,
                )
            for rows in _chunks(self._event_rows(host_id, blocking)):
                await s.execute(insert(BusyCacheEventRow), list(rows))
            row.delta_cursor = cursor
            row.synced_at = utc(synced_at, "synced_at")
            row.updated_at = self._clock()
            self._settled(row, started_at)
            return True

    async def drop_cache(self, host_id: str) -> None:
        async with self._db.write() as s:
            await s.execute(
                delete(BusyCacheEventRow).where(BusyCacheEventRow.host_id == host_id), execution_options=_BULK
            )
            await s.execute(delete(BusyCacheRow).where(BusyCacheRow.host_id == host_id), execution_options=_BULK)

    async def hosts_behind(self, *, window_end_before: datetime, limit: int) -> list[str]:
        query = (
            select(BusyCacheRow.host_id)
            .where(BusyCacheRow.window_end < utc(window_end_before, "before"))
            .order_by(BusyCacheRow.window_end)
            .limit(limit)
        )
        async with self._db.read() as s:
            return list((await s.scalars(query)).all())

    # ================================================================== work queue

    async def request_work(
        self,
        host_id: str,
        request: SyncRequest,
        *,
        due_at: datetime,
        now: datetime,
        dirty: bool = False,
        stale_reason: str | None = None,
    ) -> None:
        now, due_at = utc(now, "now"), utc(due_at, "due_at")
        w = SyncWorkRow
        make = pg_insert if self._db.is_postgres else sqlite_insert
        new = make(w).values(
            host_id=host_id,
            delta=request.delta,
            full_sync=request.full,
            subscribe=request.subscribe,
            recreate=request.recreate,
            reauthorize=request.reauthorize,
            removed_subscription_id=request.removed_subscription_id,
            generation=1,
            requested_at=now,
            due_at=due_at,
            leased_until=None,
            attempts=0,
            last_error="",
        )
        x = new.excluded
        upsert = new.on_conflict_do_update(
            index_elements=[w.host_id],
            set_={
                "delta": or_(w.delta, x.delta),
                "full_sync": or_(w.full_sync, x.full_sync),
                "subscribe": or_(w.subscribe, x.subscribe),
                "recreate": or_(w.recreate, x.recreate),
                "reauthorize": or_(w.reauthorize, x.reauthorize),
                "removed_subscription_id": func.coalesce(x.removed_subscription_id, w.removed_subscription_id),
                "generation": w.generation + 1,
                "requested_at": x.requested_at,
                "due_at": case((x.due_at < w.due_at, x.due_at), else_=w.due_at),
            },
        )
        async with self._db.write() as s:
            await s.execute(upsert)
            if dirty:
                await s.execute(
                    update(BusyCacheRow)
                    .where(BusyCacheRow.host_id == host_id, BusyCacheRow.dirty_since.is_(None))
                    .values(dirty_since=now),
                    execution_options=_BULK,
                )
            if stale_reason is not None:
                await s.execute(
                    update(BusyCacheRow)
                    .where(BusyCacheRow.host_id == host_id)
                    .values(stale_since=now, stale_reason=stale_reason[:MAX_ERROR_LENGTH]),
                    execution_options=_BULK,
                )

    async def lease_work(self, now: datetime, limit: int, lease_seconds: int) -> list[SyncWork]:
        if limit <= 0:
            return []
        _positive(lease_seconds)
        now = utc(now, "now")
        w = SyncWorkRow
        due = (
            select(w.host_id)
            .where(w.due_at <= now, or_(w.leased_until.is_(None), w.leased_until <= now))
            .order_by(w.due_at, w.host_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(w)
            .where(w.host_id.in_(due))
            .values(leased_until=now + timedelta(seconds=lease_seconds))
            .returning(
                w.host_id,
                w.delta,
                w.full_sync,
                w.subscribe,
                w.recreate,
                w.reauthorize,
                w.removed_subscription_id,
                w.generation,
                w.attempts,
                w.due_at,
            )
            .execution_options(synchronize_session=False)
        )
        async with self._db.write() as s:
            rows = (await s.execute(claim)).all()
        return [
            SyncWork(
                r.host_id,
                SyncRequest(
                    delta=bool(r.delta),
                    full=bool(r.full_sync),
                    subscribe=bool(r.subscribe),
                    recreate=bool(r.recreate),
                    reauthorize=bool(r.reauthorize),
                    removed_subscription_id=r.removed_subscription_id,
                ),
                r.generation,
                r.attempts,
            )
            for r in sorted(rows, key=lambda r: (r.due_at, r.host_id))
        ]

    async def finish_work(self, host_id: str, generation: int) -> None:
        w = SyncWorkRow
        async with self._db.write() as s:
            done = await s.execute(
                delete(w).where(w.host_id == host_id, w.generation == generation), execution_options=_BULK
            )
            if not done.rowcount:  # type: ignore[attr-defined]
                await s.execute(
                    update(w).where(w.host_id == host_id).values(leased_until=None, attempts=0, last_error=""),
                    execution_options=_BULK,
                )

    async def fail_work(self, host_id: str, error: str, retry_at: datetime) -> None:
        w = SyncWorkRow
        async with self._db.write() as s:
            await s.execute(
                update(w)
                .where(w.host_id == host_id)
                .values(
                    leased_until=None,
                    attempts=w.attempts + 1,
                    last_error=error[:MAX_ERROR_LENGTH],
                    due_at=utc(retry_at, "retry_at"),
                ),
                execution_options=_BULK,
            )

    async def forget_work(self, host_id: str) -> None:
        async with self._db.write() as s:
            await s.execute(delete(SyncWorkRow).where(SyncWorkRow.host_id == host_id), execution_options=_BULK)

    # ================================================================== bookings by their Outlook event

    async def confirmed_bookings_for_events(
        self, host_id: str, event_ids: Sequence[str], booking_ids: Sequence[str], *, unchanged_since: datetime
    ) -> list[Booking]:
        b = BookingRow
        found: dict[str, Booking] = {}
        mine = and_(
            b.organizer_id == host_id,
            b.status == BookingStatus.CONFIRMED.value,
            b.updated_at <= utc(unchanged_since, "unchanged_since"),
        )
        async with self._db.read() as s:
            for chunk in _chunks(list(dict.fromkeys(event_ids))):
                for row in await s.scalars(select(b).where(mine, b.graph_event_id.in_(chunk))):
                    found[row.id] = to_booking(row)
            for chunk in _chunks(list(dict.fromkeys(booking_ids))):
                for row in await s.scalars(select(b).where(mine, b.id.in_(chunk))):
                    found[row.id] = to_booking(row)
        return sorted(found.values(), key=lambda x: (x.start, x.id))

    async def confirmed_bookings_between(
        self, host_id: str, window: Interval, *, unchanged_since: datetime
    ) -> list[Booking]:
        b = BookingRow
        query = (
            select(b)
            .where(
                b.organizer_id == host_id,
                b.status == BookingStatus.CONFIRMED.value,
                b.graph_event_id.is_not(None),
                b.start_at < window.end,
                b.end_at > window.start,
                b.updated_at <= utc(unchanged_since, "unchanged_since"),
            )
            .order_by(b.start_at, b.id)
        )
        async with self._db.read() as s:
            return [to_booking(row) for row in (await s.scalars(query)).all()]
