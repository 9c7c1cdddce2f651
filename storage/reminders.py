"""SqlReminderStore: which booked meetings are due a reminder, and recording one as sent
(``scheduling.stores.ReminderStore``).

A booking is due when it is CONFIRMED, has not begun, its link's reminder (``event_types.reminder_minutes``)
is on and its time has come (``start - reminder <= now``), and it was not reminded for its current start
(``bookings.reminded_start``). The query is exact on both databases without date arithmetic in SQL: the
distinct reminder leads in use are few (whole minutes, one to a day), so the due condition is one
``reminder_minutes = m AND start_at <= now + m`` per lead, with the bound computed here. It reads the
``ix_bookings_status_start_at`` index.

:meth:`SqlReminderStore.mark_reminded` is the exactly-once step: one transaction sets ``reminded_start`` only
if the booking is still CONFIRMED at that start and not yet reminded for it, and only then writes the outbox
items (whose unique ``dedupe_key`` is a second guard). A cancel or a move that commits first makes it write
nothing; one that commits after it leaves items the Teams notifier finds obsolete.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update

from scheduling.domain import Booking, BookingStatus, OutboxItem
from storage._sql import Clock, enqueue, utc, utcnow
from storage.bookings import to_booking
from storage.db import Database
from storage.models import BookingRow, EventTypeRow

_BULK = {"synchronize_session": False}


class SqlReminderStore:
    """:class:`scheduling.stores.ReminderStore` on SQLite or PostgreSQL."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    async def due_reminders(self, now: datetime, *, limit: int) -> list[Booking]:
        now = utc(now, "now")
        b, et = BookingRow, EventTypeRow
        async with self._db.read() as s:
            leads = sorted(
                m
                for m in (
                    await s.scalars(select(et.reminder_minutes).where(et.reminder_minutes.is_not(None)).distinct())
                ).all()
                if m is not None and m > 0
            )
            if not leads or limit < 1:
                return []
            due = or_(*(and_(et.reminder_minutes == m, b.start_at <= now + timedelta(minutes=m)) for m in leads))
            query = (
                select(b)
                .join(et, et.id == b.event_type_id)
                .where(
                    b.status == BookingStatus.CONFIRMED.value,
                    b.start_at > now,
                    b.start_at <= now + timedelta(minutes=leads[-1]),
                    or_(b.reminded_start.is_(None), b.reminded_start != b.start_at),
                    due,
                )
                .order_by(b.start_at, b.id)
                .limit(limit)
            )
            return [to_booking(row) for row in (await s.scalars(query)).all()]

    async def mark_reminded(self, booking_id: str, start: datetime, outbox: Sequence[OutboxItem]) -> bool:
        start = utc(start, "start")
        b = BookingRow
        async with self._db.write() as s:
            result = await s.execute(
                update(b)
                .where(
                    b.id == booking_id,
                    b.status == BookingStatus.CONFIRMED.value,
                    b.start_at == start,
                    or_(b.reminded_start.is_(None), b.reminded_start != start),
                )
                .values(reminded_start=start),  # not updated_at: calendar sync reads it as "changed by Slotwise"
                execution_options=_BULK,
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return False
            await enqueue(s, outbox, self._clock())
            return True
