"""SqlBookingStore: bookings, holds and their per-host time claims (``scheduling.stores.BookingStore``).

How "no two holding entries of one host overlap" is guaranteed, per database:

* **SQLite** — every write transaction starts with ``BEGIN IMMEDIATE`` (see :mod:`storage.db`), which
  takes the database's single write lock before the first read. The overlap, cap and single-use checks
  and the inserts that follow them therefore run strictly one transaction at a time, across threads
  and processes; a second booker waits (busy timeout) and then sees the first one's reservation.
* **PostgreSQL** — the transaction locks the hosts' ``users`` rows (``SELECT ... FOR NO KEY UPDATE``,
  the FOR UPDATE variant that still lets other transactions insert rows referencing the user, taken in
  id order so two multi-host bookings cannot deadlock) and, when caps or single use are checked, the
  event type's row. Bookers of a common host queue on that lock; at READ COMMITTED each later statement
  sees what the previous holder committed, so the checks are exact. Independently of the locks, the
  exclusion constraint ``reservations_no_overlap`` (``EXCLUDE USING gist (host_id WITH =,
  tstzrange(blocked_from, blocked_until, '[)') WITH &&) WHERE (active)``) rejects any overlapping active
  claim, and the partial unique index ``uq_bookings_single_use_holding`` any second holding booking of a
  single-use link; those violations are reported as SlotUnavailable too.

Reservations are rows of ``reservations``: one per (booking, host) and per (hold, host), each holding
the padded interval ``[start - buffer_before, end + buffer_after)``. Cancelled and released bookings
keep their rows with ``active`` false; holds are deleted when consumed, released or expired.

``version`` changes when the booking's time or existence changes (move, cancel), which is what
``mark_synced`` compares; confirm and release leave it alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.domain import Booking, BookingStatus, CalendarSync, CapCheck, Invitee, OutboxItem
from scheduling.errors import Conflict, NotFound, SlotUnavailable, ValidationFailed
from scheduling.intervals import Interval
from scheduling.ports import BookedInterval
from storage._sql import Clock, enqueue, utc, utcnow, violation
from storage.db import Database
from storage.models import HOLDING_STATUSES, BookingRow, EventTypeRow, ReservationRow, TeamMemberRow, UserRow

TAKEN = "That time is no longer available. Please pick another one."
CAP_REACHED = "This link takes no more bookings in that period. Please pick another day."
SINGLE_USE_TAKEN = "This one-time link has already been used. Ask the host for a new link."
# Bulk UPDATE/DELETE: rows are never also loaded as objects in the same session, so skip syncing them.
_BULK = {"synchronize_session": False}


def to_booking(row: BookingRow) -> Booking:
    return Booking(
        id=row.id,
        tenant_id=row.tenant_id,
        event_type_id=row.event_type_id,
        host_ids=tuple(row.host_ids),
        start=row.start_at,
        end=row.end_at,
        buffer_before=row.buffer_before,
        buffer_after=row.buffer_after,
        invitee=Invitee(
            name=row.invitee_name,
            email=row.invitee_email,
            time_zone=row.invitee_time_zone,
            notes=row.invitee_notes,
            answers=dict(row.invitee_answers),
        ),
        status=BookingStatus(row.status),
        idempotency_key=row.idempotency_key,
        manage_token_hash=row.manage_token_hash or "",
        manage_token_nonce=row.manage_token_nonce,
        request_fingerprint=row.request_fingerprint,
        invitee_tenant_id=row.invitee_tenant_id,
        invitee_aad_object_id=row.invitee_aad_object_id,
        graph_event_id=row.graph_event_id,
        ical_uid=row.ical_uid,
        join_url=row.join_url,
        join_url_missing=row.join_url_missing,
        calendar_sync=CalendarSync(row.calendar_sync),
        cancel_reason=row.cancel_reason,
        created_at=row.created_at,
        pending_deadline=row.pending_deadline,
        version=row.version,
        event_calendar_id=row.event_calendar_id,
    )


def _padded(start: datetime, end: datetime, before: int, after: int) -> tuple[datetime, datetime]:
    return start - timedelta(minutes=before), end + timedelta(minutes=after)


def _hosts(host_ids: Sequence[str]) -> list[str]:
    """Distinct host ids in their given order; at least one."""
    hosts = list(dict.fromkeys(host_ids))
    if not hosts or not all(hosts):
        raise ValidationFailed({"host_ids": "at least one host is required"})
    return hosts


def _check_times(start: datetime, end: datetime, before: int, after: int) -> tuple[datetime, datetime]:
    start, end = utc(start, "start"), utc(end, "end")
    problems: dict[str, str] = {}
    if end < start:
        problems["end"] = "must not be before the start"
    if before < 0 or after < 0:
        problems["buffers"] = "must not be negative"
    if problems:
        raise ValidationFailed(problems)
    return start, end


class SqlBookingStore:
    """:class:`scheduling.stores.BookingStore` on SQLite or PostgreSQL.

    ``clock`` is only used to decide which holds have expired inside ``reserve``/``move``/``place_hold``
    and to stamp ``created_at``/``updated_at``; the core's own ``now`` arguments are used where given.
    """

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    # ------------------------------------------------------------------ reads

    async def get(self, booking_id: str) -> Booking | None:
        async with self._db.read() as s:
            row = await s.get(BookingRow, booking_id)
            return to_booking(row) if row else None

    async def get_by_idempotency_key(self, event_type_id: str, key: str) -> Booking | None:
        async with self._db.read() as s:
            return await self._by_key(s, event_type_id, key)

    async def get_by_manage_token_hash(self, token_hash: str) -> Booking | None:
        if not token_hash:
            return None
        async with self._db.read() as s:
            row = await s.scalar(select(BookingRow).where(BookingRow.manage_token_hash == token_hash))
            return to_booking(row) if row else None

    async def host_bookings(
        self,
        host_ids: Sequence[str],
        window: Interval,
        *,
        caps_event_type_id: str | None = None,
        exclude_booking_id: str | None = None,
    ) -> Mapping[str, list[BookedInterval]]:
        out: dict[str, list[BookedInterval]] = {h: [] for h in host_ids}
        if not out:
            return out
        r = ReservationRow
        query = (
            select(r)
            .where(
                r.host_id.in_(list(out)),
                r.active.is_(True),
                r.blocked_from < window.end,
                r.blocked_until > window.start,
            )
            .order_by(r.host_id, r.blocked_from, r.id)
        )
        if exclude_booking_id is not None:
            query = query.where(or_(r.booking_id.is_(None), r.booking_id != exclude_booking_id))
        async with self._db.read() as s:
            rows = (await s.scalars(query)).all()
        for row in rows:
            out[row.host_id].append(
                BookedInterval(
                    start=row.starts_at,
                    end=row.ends_at,
                    buffer_before=row.buffer_before,
                    buffer_after=row.buffer_after,
                    counts_toward_caps=(
                        row.booking_id is not None
                        and caps_event_type_id is not None
                        and row.event_type_id == caps_event_type_id
                    ),
                    expires_at=row.expires_at,
                )
            )
        return out

    async def pending_past_deadline(self, now: datetime) -> list[Booking]:
        b = BookingRow
        query = (
            select(b)
            .where(
                b.status == BookingStatus.PENDING.value,
                b.pending_deadline.is_not(None),
                b.pending_deadline <= utc(now, "now"),
            )
            .order_by(b.pending_deadline, b.id)
        )
        return await self._list(query)

    async def out_of_sync(self) -> list[Booking]:
        b = BookingRow
        query = select(b).where(b.calendar_sync != CalendarSync.IN_SYNC.value).order_by(b.updated_at, b.id)
        return await self._list(query)

    async def released_since(self, since: datetime) -> list[Booking]:
        b = BookingRow
        query = (
            select(b)
            .where(b.status == BookingStatus.RELEASED.value, b.updated_at >= utc(since, "since"))
            .order_by(b.updated_at, b.id)
        )
        return await self._list(query)

    async def upcoming_for_host(self, tenant_id: str, user_id: str, after: datetime, limit: int = 20) -> list[Booking]:
        b, r = BookingRow, ReservationRow
        hosted = select(r.booking_id).where(r.host_id == user_id, r.booking_id.is_not(None))
        query = (
            select(b)
            .where(
                b.tenant_id == tenant_id,
                b.status.in_(HOLDING_STATUSES),
                b.end_at > utc(after, "after"),
                b.id.in_(hosted),
            )
            .order_by(b.start_at, b.id)
            .limit(max(0, limit))
        )
        return await self._list(query)

    async def _list(self, query: Select[Any]) -> list[Booking]:
        async with self._db.read() as s:
            return [to_booking(row) for row in (await s.scalars(query)).all()]

    # ------------------------------------------------------------------ reserve

    async def reserve(
        self,
        booking: Booking,
        *,
        cap_checks: Sequence[CapCheck] = (),
        single_use: bool = False,
        hold_id: str | None = None,
    ) -> tuple[Booking, bool]:
        hosts = _hosts(booking.host_ids)
        start, end = _check_times(booking.start, booking.end, booking.buffer_before, booking.buffer_after)
        try:
            async with self._db.write() as s:
                return await self._reserve(s, booking, hosts, start, end, cap_checks, single_use, hold_id)
        except IntegrityError as exc:
            found = violation(exc)
            if found.kind == "unique" and booking.idempotency_key:
                # Lost the race against a request with the same key: hand back the winner.
                existing = await self.get_by_idempotency_key(booking.event_type_id, booking.idempotency_key)
                if existing is not None:
                    return existing, False
            if found.kind == "exclusion":
                raise SlotUnavailable(TAKEN) from None
            if found.name == "uq_bookings_single_use_holding":
                raise SlotUnavailable(SINGLE_USE_TAKEN) from None
            if found.name == "uq_bookings_manage_token_hash":
                raise Conflict("That manage token is already in use by another booking.") from None
            if found.name == "pk_bookings":
                raise Conflict(f"A booking with id {booking.id!r} already exists.") from None
            if found.kind == "foreign_key":
                raise NotFound("One of the booking's hosts is not a Slotwise user.") from None
            raise

    async def _reserve(
        self,
        s: AsyncSession,
        booking: Booking,
        hosts: list[str],
        start: datetime,
        end: datetime,
        cap_checks: Sequence[CapCheck],
        single_use: bool,
        hold_id: str | None,
    ) -> tuple[Booking, bool]:
        now = self._clock()
        await self._lock_hosts(s, hosts)
        if booking.idempotency_key:
            existing = await self._by_key(s, booking.event_type_id, booking.idempotency_key)
            if existing is not None:
                return existing, False
        if cap_checks or single_use:
            await self._lock_event_types(s, [booking.event_type_id, *(c.event_type_id for c in cap_checks)])
        await self._drop_expired_holds(s, hosts, now)
        if hold_id:
            await s.execute(delete(ReservationRow).where(ReservationRow.hold_id == hold_id), execution_options=_BULK)
        blocked_from, blocked_until = _padded(start, end, booking.buffer_before, booking.buffer_after)
        await self._check_free(s, hosts, blocked_from, blocked_until, now)
        await self._check_caps(s, cap_checks)
        if single_use and await s.scalar(
            select(BookingRow.id)
            .where(BookingRow.event_type_id == booking.event_type_id, BookingRow.status.in_(HOLDING_STATUSES))
            .limit(1)
        ):
            raise SlotUnavailable(SINGLE_USE_TAKEN)

        row = BookingRow(
            id=booking.id,
            tenant_id=booking.tenant_id,
            event_type_id=booking.event_type_id,
            organizer_id=hosts[0],
            host_ids=hosts,
            start_at=start,
            end_at=end,
            buffer_before=booking.buffer_before,
            buffer_after=booking.buffer_after,
            invitee_name=booking.invitee.name,
            invitee_email=booking.invitee.email,
            invitee_time_zone=booking.invitee.time_zone,
            invitee_notes=booking.invitee.notes,
            invitee_answers=dict(booking.invitee.answers),
            status=BookingStatus.PENDING.value,
            single_use=single_use,
            idempotency_key=booking.idempotency_key,
            manage_token_hash=booking.manage_token_hash or None,
            manage_token_nonce=booking.manage_token_nonce,
            request_fingerprint=booking.request_fingerprint,
            invitee_tenant_id=booking.invitee_tenant_id,
            invitee_aad_object_id=booking.invitee_aad_object_id,
            graph_event_id=booking.graph_event_id,
            ical_uid=booking.ical_uid,
            transaction_id=booking.transaction_id,
            join_url=booking.join_url,
            join_url_missing=booking.join_url_missing,
            calendar_sync=CalendarSync.IN_SYNC.value,
            cancel_reason="",
            created_at=utc(booking.created_at, "created_at") if booking.created_at else now,
            updated_at=now,
            pending_deadline=utc(booking.pending_deadline, "pending_deadline") if booking.pending_deadline else None,
            version=1,
            event_calendar_id=booking.event_calendar_id or None,
        )
        s.add(row)
        await s.flush()
        s.add_all(
            [
                ReservationRow(
                    host_id=host,
                    booking_id=booking.id,
                    hold_id=None,
                    event_type_id=booking.event_type_id,
                    blocked_from=blocked_from,
                    blocked_until=blocked_until,
                    starts_at=start,
                    ends_at=end,
                    buffer_before=booking.buffer_before,
                    buffer_after=booking.buffer_after,
                    expires_at=None,
                    active=True,
                )
                for host in hosts
            ]
        )
        await s.flush()
        # Round-robin fairness: remember when each member of the link's team was last booked.
        team_of_link = select(EventTypeRow.team_id).where(EventTypeRow.id == booking.event_type_id)
        await s.execute(
            update(TeamMemberRow)
            .where(TeamMemberRow.team_id == team_of_link.scalar_subquery(), TeamMemberRow.user_id.in_(hosts))
            .values(last_booked_at=now),
            execution_options=_BULK,
        )
        return to_booking(row), True

    # ------------------------------------------------------------------ lifecycle

    async def confirm(
        self,
        booking_id: str,
        *,
        graph_event_id: str,
        ical_uid: str | None,
        join_url: str | None,
        join_url_missing: bool,
        outbox: Sequence[OutboxItem] = (),
    ) -> Booking:
        async with self._db.write() as s:
            row = await self._row_for_update(s, booking_id)
            if row.status == BookingStatus.PENDING.value:
                now = self._clock()
                row.status = BookingStatus.CONFIRMED.value
                row.graph_event_id = graph_event_id
                row.ical_uid = ical_uid
                row.join_url = join_url
                row.join_url_missing = join_url_missing
                row.updated_at = now
                await s.flush()
                await enqueue(s, outbox, now)
            return to_booking(row)

    async def release(self, booking_id: str, reason: str) -> Booking:
        async with self._db.write() as s:
            row = await self._row_for_update(s, booking_id)
            if row.status == BookingStatus.PENDING.value:
                row.status = BookingStatus.RELEASED.value
                row.cancel_reason = reason
                row.updated_at = self._clock()
                await s.flush()
                await self._free(s, booking_id)
            return to_booking(row)

    async def move(
        self,
        booking_id: str,
        *,
        start: datetime,
        end: datetime,
        expected_version: int,
        cap_checks: Sequence[CapCheck] = (),
        outbox: Sequence[OutboxItem] = (),
    ) -> Booking:
        try:
            async with self._db.write() as s:
                row = await self._row_for_update(s, booking_id)
                if row.status != BookingStatus.CONFIRMED.value:
                    raise Conflict("Only a confirmed booking can be moved.")
                if row.version != expected_version:
                    raise Conflict("This booking was changed in the meantime. Reload it and try again.")
                start, end = _check_times(start, end, row.buffer_before, row.buffer_after)
                hosts = list(row.host_ids)
                now = self._clock()
                await self._lock_hosts(s, hosts)
                if cap_checks:
                    await self._lock_event_types(s, [c.event_type_id for c in cap_checks])
                await self._drop_expired_holds(s, hosts, now)
                blocked_from, blocked_until = _padded(start, end, row.buffer_before, row.buffer_after)
                await self._check_free(s, hosts, blocked_from, blocked_until, now, exclude_booking_id=booking_id)
                await self._check_caps(s, cap_checks, exclude_booking_id=booking_id)
                await s.execute(
                    update(ReservationRow)
                    .where(ReservationRow.booking_id == booking_id, ReservationRow.active.is_(True))
                    .values(blocked_from=blocked_from, blocked_until=blocked_until, starts_at=start, ends_at=end),
                    execution_options=_BULK,
                )
                row.start_at, row.end_at = start, end
                row.version += 1
                row.calendar_sync = CalendarSync.UPDATE_PENDING.value
                row.updated_at = now
                await s.flush()
                await enqueue(s, outbox, now)
                return to_booking(row)
        except IntegrityError as exc:
            if violation(exc).kind == "exclusion":
                raise SlotUnavailable(TAKEN) from None
            raise

    async def cancel(
        self, booking_id: str, *, reason: str, expected_version: int | None = None, outbox: Sequence[OutboxItem] = ()
    ) -> Booking:
        async with self._db.write() as s:
            row = await self._row_for_update(s, booking_id)
            if row.status not in HOLDING_STATUSES:
                raise Conflict("This booking is already cancelled.")
            if expected_version is not None and row.version != expected_version:
                raise Conflict("This booking was changed in the meantime. Reload it and try again.")
            now = self._clock()
            row.status = BookingStatus.CANCELLED.value
            row.cancel_reason = reason
            if row.graph_event_id:
                row.calendar_sync = CalendarSync.CANCEL_PENDING.value
            row.version += 1
            row.updated_at = now
            await s.flush()
            await self._free(s, booking_id)
            await enqueue(s, outbox, now)
            return to_booking(row)

    async def mark_synced(self, booking_id: str, version: int) -> None:
        async with self._db.write() as s:
            await s.execute(
                update(BookingRow)
                .where(BookingRow.id == booking_id, BookingRow.version == version)
                .values(calendar_sync=CalendarSync.IN_SYNC.value),
                execution_options=_BULK,
            )

    # ------------------------------------------------------------------ holds

    async def place_hold(
        self,
        hold_id: str,
        host_ids: Sequence[str],
        start: datetime,
        end: datetime,
        buffer_before: int,
        buffer_after: int,
        expires_at: datetime,
    ) -> None:
        if not hold_id:
            raise ValidationFailed({"hold_id": "a hold needs an id"})
        hosts = _hosts(host_ids)
        start, end = _check_times(start, end, buffer_before, buffer_after)
        expires = utc(expires_at, "expires_at")
        try:
            async with self._db.write() as s:
                now = self._clock()
                await self._lock_hosts(s, hosts)
                await self._drop_expired_holds(s, hosts, now)
                # Placing a hold again replaces it (e.g. the invitee picked another time).
                await s.execute(
                    delete(ReservationRow).where(ReservationRow.hold_id == hold_id), execution_options=_BULK
                )
                blocked_from, blocked_until = _padded(start, end, buffer_before, buffer_after)
                await self._check_free(s, hosts, blocked_from, blocked_until, now)
                s.add_all(
                    [
                        ReservationRow(
                            host_id=host,
                            booking_id=None,
                            hold_id=hold_id,
                            event_type_id=None,
                            blocked_from=blocked_from,
                            blocked_until=blocked_until,
                            starts_at=start,
                            ends_at=end,
                            buffer_before=buffer_before,
                            buffer_after=buffer_after,
                            expires_at=expires,
                            active=True,
                        )
                        for host in hosts
                    ]
                )
                await s.flush()
        except IntegrityError as exc:
            found = violation(exc)
            if found.kind == "exclusion":
                raise SlotUnavailable(TAKEN) from None
            if found.kind == "foreign_key":
                raise NotFound("One of the hosts is not a Slotwise user.") from None
            raise

    async def release_hold(self, hold_id: str) -> None:
        async with self._db.write() as s:
            await s.execute(delete(ReservationRow).where(ReservationRow.hold_id == hold_id), execution_options=_BULK)

    # ------------------------------------------------------------------ helpers

    async def _by_key(self, s: AsyncSession, event_type_id: str, key: str) -> Booking | None:
        row = await s.scalar(
            select(BookingRow).where(BookingRow.event_type_id == event_type_id, BookingRow.idempotency_key == key)
        )
        return to_booking(row) if row else None

    async def _row_for_update(self, s: AsyncSession, booking_id: str) -> BookingRow:
        row = await s.scalar(select(BookingRow).where(BookingRow.id == booking_id).with_for_update())
        if row is None:
            raise NotFound("No such booking.")
        return row

    async def _lock_hosts(self, s: AsyncSession, hosts: Sequence[str]) -> None:
        """Lock the hosts' user rows in id order (PostgreSQL; SQLite's write lock is already held) and
        check that every host exists."""
        found = (
            await s.scalars(
                select(UserRow.id).where(UserRow.id.in_(hosts)).order_by(UserRow.id).with_for_update(key_share=True)
            )
        ).all()
        missing = set(hosts) - set(found)
        if missing:
            raise NotFound(f"Unknown host {sorted(missing)[0]!r}: not a Slotwise user.")

    async def _lock_event_types(self, s: AsyncSession, event_type_ids: Sequence[str]) -> None:
        """Serialise cap and single-use checks per link, across hosts (PostgreSQL)."""
        if self._db.is_postgres:
            await s.execute(
                select(EventTypeRow.id)
                .where(EventTypeRow.id.in_(sorted(set(event_type_ids))))
                .order_by(EventTypeRow.id)
                .with_for_update(key_share=True)
            )

    async def _drop_expired_holds(self, s: AsyncSession, hosts: Sequence[str], now: datetime) -> None:
        r = ReservationRow
        await s.execute(
            delete(r).where(r.host_id.in_(hosts), r.hold_id.is_not(None), r.expires_at <= now), execution_options=_BULK
        )

    async def _check_free(
        self,
        s: AsyncSession,
        hosts: Sequence[str],
        blocked_from: datetime,
        blocked_until: datetime,
        now: datetime,
        *,
        exclude_booking_id: str | None = None,
    ) -> None:
        if blocked_from >= blocked_until:
            return  # an empty interval overlaps nothing
        r = ReservationRow
        query = select(r.id).where(
            r.host_id.in_(hosts),
            r.active.is_(True),
            r.blocked_from < blocked_until,
            r.blocked_until > blocked_from,
            or_(r.expires_at.is_(None), r.expires_at > now),
        )
        if exclude_booking_id is not None:
            query = query.where(or_(r.booking_id.is_(None), r.booking_id != exclude_booking_id))
        if await s.scalar(query.limit(1)) is not None:
            raise SlotUnavailable(TAKEN)

    async def _check_caps(
        self, s: AsyncSession, cap_checks: Sequence[CapCheck], *, exclude_booking_id: str | None = None
    ) -> None:
        b = BookingRow
        for check in cap_checks:
            query = (
                select(func.count())
                .select_from(b)
                .where(
                    b.event_type_id == check.event_type_id,
                    b.status.in_(HOLDING_STATUSES),
                    b.start_at >= utc(check.start, "cap_checks.start"),
                    b.start_at < utc(check.end, "cap_checks.end"),
                )
            )
            if exclude_booking_id is not None:
                query = query.where(b.id != exclude_booking_id)
            if check.host_id is not None:  # a team member's own cap: the bookings they hold time for
                r = ReservationRow
                query = query.where(b.id.in_(select(r.booking_id).where(r.host_id == check.host_id)))
            if (await s.scalar(query) or 0) >= check.limit:
                raise SlotUnavailable(CAP_REACHED)

    async def _free(self, s: AsyncSession, booking_id: str) -> None:
        await s.execute(
            update(ReservationRow).where(ReservationRow.booking_id == booking_id).values(active=False),
            execution_options=_BULK,
        )
