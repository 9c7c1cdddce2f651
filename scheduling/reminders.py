"""Reminders: before each booked meeting its host gets a reminder in their chat with Slotwise (the invitee,
their notes and answers, the Join button).

The rule is the link's: ``EventRules.reminder`` minutes before the start (default 15, 1 minute to 24 hours,
None: off), edited with the link's other settings and judged by ``EventRules.problems()``.

The job is :meth:`ReminderService.run`, a periodic pass that ``app.py`` registers as an *exclusive* job (one
replica at a time, under a job lease in the database). Each pass asks the store for the confirmed bookings
whose reminder time has come (:meth:`~scheduling.stores.ReminderStore.due_reminders`), checks each against the
rule here (:func:`reminder_due`) and enqueues one outbox item of kind ``booking.reminder`` per host, on the
Teams channel, in the same transaction that records the booking as reminded for its start
(:meth:`~scheduling.stores.ReminderStore.mark_reminded`). That gives:

* **exactly once per booking and start**, even with several replicas: the job lease keeps a second replica
  from running a pass meanwhile; if one did anyway (a lease that ran out mid-pass), the conditional marker
  and the outbox's unique dedupe key (:func:`reminder_key`: booking, start and host) still let only one item
  per host through, and delivery is the outbox's (at least once, one item id);
* **re-planned on reschedule**: the marker and the key carry the start, so a moved booking is due again for
  its new time, and an item already enqueued for the old time is obsolete when it is delivered;
* **dropped on cancel**: only confirmed bookings are due, and an item enqueued before a cancel is obsolete
  when it is delivered (the Teams notifier asks :func:`reminder_obsolete`, with the booking read then);
* **off means nothing**: a link whose reminder is off has no due bookings;
* **team links**: one item per host in ``Booking.host_ids`` (the assigned member, or every member of a
  collective meeting), each to that host's own chat.

A meeting that has begun is never reminded (a pass that comes late skips it), nor is one already over when
its reminder is finally delivered (a host who first chats with Slotwise afterwards).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scheduling.booking import booking_payload
from scheduling.domain import Booking, BookingStatus, EventType, OutboxItem, User
from scheduling.ports import Clock
from scheduling.stores import EventTypeStore, ReminderStore, UserStore

REMINDER_KIND = "booking.reminder"
CHANNEL = "teams"


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def reminder_key(booking_id: str, start: datetime, host_id: str) -> str:
    """The outbox dedupe key of one host's reminder of one booking at one start: a moved booking gets new keys."""
    return f"{REMINDER_KIND}:{booking_id}:{_iso(start)}:{host_id}"


def reminder_time(start: datetime, minutes: int) -> datetime:
    return start - timedelta(minutes=minutes)


def reminder_due(booking: Booking, minutes: int | None, now: datetime) -> bool:
    """Whether ``booking``'s reminder (``minutes`` before it; None: off) is due at ``now``: confirmed, not begun,
    and its reminder time reached."""
    return (
        minutes is not None
        and minutes > 0
        and booking.status is BookingStatus.CONFIRMED
        and reminder_time(booking.start, minutes) <= now < booking.start
    )


def reminder_obsolete(booking: Booking | None, payload: Mapping[str, object], now: datetime) -> str | None:
    """Why a reminder enqueued with ``payload`` needs no saying any more at ``now`` (None: it does): ``booking``
    is the booking as it stands (None when it is gone or no longer the host's)."""
    if booking is None:
        return "the booking no longer exists"
    if booking.status is not BookingStatus.CONFIRMED:
        return "the booking was cancelled"
    if payload.get("start") != _iso(booking.start):
        return "the booking was moved (its new time gets its own reminder)"
    if now >= booking.end:
        return "the meeting is over"
    return None


def reminder_payload(link: EventType, booking: Booking, host: User, minutes: int) -> dict[str, object]:
    """What the reminder item carries: the booking as notifications show it, for ``host``, and the lead."""
    return booking_payload(link, booking, host) | {"reminderMinutes": minutes}


@dataclass
class ReminderReport:
    enqueued: list[str] = field(default_factory=list)  # booking ids reminded in this pass
    skipped: list[str] = field(default_factory=list)  # due by the store, not by the rule (changed meanwhile)
    lost: list[str] = field(default_factory=list)  # cancelled or moved between the query and the marker
    more: bool = False  # a full batch made progress: more may be due right now


class ReminderService:
    """The reminder job's use case; see the module docstring."""

    def __init__(
        self,
        *,
        reminders: ReminderStore,
        event_types: EventTypeStore,
        users: UserStore,
        clock: Clock,
        batch: int = 100,
    ) -> None:
        if batch < 1:
            raise ValueError("a pass looks at one booking at least")
        self._reminders = reminders
        self._event_types = event_types
        self._users = users
        self.clock = clock
        self.batch = batch

    async def run(self) -> ReminderReport:
        """One pass: enqueue the reminders that are due now."""
        now = self.clock.now()
        report = ReminderReport()
        due = await self._reminders.due_reminders(now, limit=self.batch)
        links: dict[str, EventType | None] = {}
        for booking in due:
            if booking.event_type_id not in links:
                links[booking.event_type_id] = await self._event_types.get(booking.event_type_id)
            link = links[booking.event_type_id]
            minutes = link.rules.reminder if link is not None else None
            if link is None or minutes is None or not reminder_due(booking, minutes, now):
                report.skipped.append(booking.id)
                continue
            items = []
            for host_id in dict.fromkeys(booking.host_ids):
                host = await self._users.get(host_id)
                if host is None or host.tenant_id != booking.tenant_id:
                    continue  # a host who is gone has no chat to remind (the marker below still settles it)
                items.append(
                    OutboxItem(
                        REMINDER_KIND,
                        booking.tenant_id,
                        reminder_payload(link, booking, host, minutes),
                        reminder_key(booking.id, booking.start, host.id),
                        CHANNEL,
                    )
                )
            if await self._reminders.mark_reminded(booking.id, booking.start, items):
                report.enqueued.append(booking.id)
            else:
                report.lost.append(booking.id)
        report.more = len(due) >= self.batch and bool(report.enqueued or report.lost)
        return report
