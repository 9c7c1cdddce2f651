"""Reconciliation: repair what a crash or an outage left half-done between the database and Outlook.

Run periodically by the background runner under a job lease (``JobLease``: one replica at a time, once per
interval across the fleet); every step is idempotent, so a pass cut off by a crash is simply run again:

* a PENDING booking past its deadline is CONFIRMED if its tagged Outlook event exists (the create
  went through before the crash) and RELEASED if not;
* a booking moved or cancelled in the database whose Outlook event was not yet updated is synced;
* an Outlook event tagged as a Slotwise booking whose booking was released, or does not exist, is
  cancelled (so an invitee who was told "not booked" never keeps an invitation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from scheduling.booking import BookingService
from scheduling.domain import Booking, BookingStatus
from scheduling.errors import IntegrationError, NotFound
from scheduling.intervals import Interval
from scheduling.ports import CalendarPort
from scheduling.stores import BookingStore, UserStore


@dataclass
class ReconcileReport:
    confirmed: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    synced: list[str] = field(default_factory=list)
    orphans_cancelled: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # could not reach the calendar; next run


class Reconciler:
    def __init__(
        self,
        service: BookingService,
        *,
        bookings: BookingStore,
        users: UserStore,
        calendar: CalendarPort,
        orphan_lookback: timedelta = timedelta(days=2),
    ) -> None:
        self.service = service
        self._bookings = bookings
        self._users = users
        self._calendar = calendar
        self.orphan_lookback = orphan_lookback

    async def run(self) -> ReconcileReport:
        report = ReconcileReport()
        now = self.service.clock.now()
        for booking in await self._bookings.pending_past_deadline(now):
            await self._settle_pending(booking, report)
        for booking in await self._bookings.out_of_sync():
            (report.synced if await self.service.sync_calendar(booking) else report.deferred).append(booking.id)
        for booking in await self._bookings.released_since(now - self.orphan_lookback):
            await self._cancel_orphans(booking, report)
        return report

    async def _tagged_events(self, booking: Booking) -> list[tuple[str, str | None]] | None:
        host = await self._users.get(booking.organizer_id)
        if host is None:
            return []
        window = Interval(booking.start - timedelta(days=1), booking.end + timedelta(days=1))
        try:
            events = await self._calendar.find_booking_events(host.calendar_for(booking), window)
        except IntegrationError:
            return None
        return [(e.event_id, e.booking_id) for e in events if e.booking_id == booking.id]

    async def _settle_pending(self, booking: Booking, report: ReconcileReport) -> None:
        svc = self.service
        found = await self._tagged_events(booking)
        if found is None:
            report.deferred.append(booking.id)
            return
        if not found:
            await self._bookings.release(booking.id, "no calendar event appeared before the deadline")
            report.released.append(booking.id)
            return
        try:
            link, host = await svc.booking_context(booking)
        except NotFound:
            report.deferred.append(booking.id)
            return
        try:
            event = await self._calendar.get_event(host.calendar_for(booking), found[0][0])
        except IntegrationError:
            report.deferred.append(booking.id)
            return
        if event is None:
            report.deferred.append(booking.id)
            return
        confirmed = await svc.confirm_with_event(link, host, booking, event)
        if confirmed.status is BookingStatus.CONFIRMED:
            report.confirmed.append(booking.id)

    async def _cancel_orphans(self, booking: Booking, report: ReconcileReport) -> None:
        found = await self._tagged_events(booking)
        host = await self._users.get(booking.organizer_id)
        if not found or host is None:
            return
        for event_id, _ in found:
            if await self.service.cancel_event_quietly(
                host, event_id, "This booking could not be completed.", booking=booking
            ):
                report.orphans_cancelled.append(event_id)
