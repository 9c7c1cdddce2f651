"""The ports the core needs from the outside world, and the value types that cross them.

Adapters implement these Protocols: ``graph/`` the :class:`CalendarPort` and uses the
:class:`TokenCacheStore`; ``storage/`` the stores; ``bot/`` (Teams chat) and each other delivery channel a
:class:`Notifier`; ``app.py`` a real :class:`Clock`. The core only ever sees these types, never Graph JSON or SQL rows.

All datetimes are timezone-aware UTC; durations are minutes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from scheduling.errors import IntegrationError
from scheduling.intervals import Interval
from scheduling.rules import BusyStatus

if TYPE_CHECKING:  # scheduling.domain imports this module
    from scheduling.domain import OutboxItem


@dataclass(frozen=True, slots=True)
class BusyInterval:
    """A stretch of a host's calendar with its free/busy status (from Graph)."""

    start: datetime
    end: datetime
    status: BusyStatus = BusyStatus.BUSY


@dataclass(frozen=True, slots=True)
class BookedInterval:
    """An existing Slotwise booking or hold of the host; blocks with its own buffers.

    ``counts_toward_caps`` is true for bookings of the event type whose caps are being checked.
    A hold with ``expires_at`` at or before ``now`` is ignored.
    """

    start: datetime
    end: datetime
    buffer_before: int = 0
    buffer_after: int = 0
    counts_toward_caps: bool = True
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class HostCalendar:
    """Which mailbox to read and write for one host.

    ``conflict_calendar_ids`` empty means the mailbox's free/busy as a whole (getSchedule);
    ``write_calendar_id`` None means the default calendar.
    """

    user_id: str
    mailbox: str
    time_zone: str = "UTC"
    conflict_calendar_ids: tuple[str, ...] = ()
    write_calendar_id: str | None = None


@dataclass(frozen=True, slots=True)
class Attendee:
    name: str
    email: str


class LocationKind(StrEnum):
    TEAMS = "teams"
    IN_PERSON = "in_person"
    PHONE = "phone"
    CUSTOM = "custom"


@dataclass(frozen=True, slots=True)
class Location:
    kind: LocationKind = LocationKind.TEAMS
    text: str = ""


@dataclass(frozen=True, slots=True)
class EventDraft:
    """What Slotwise writes into the host's Outlook calendar for one booking.

    ``time_zone`` is the host's IANA zone, sent to Graph explicitly with start and end.
    ``transaction_id`` makes a retried create return the same event; ``booking_id`` tags the event as
    ours so reconciliation can find it.
    """

    subject: str
    body_text: str
    start: datetime
    end: datetime
    time_zone: str
    attendees: tuple[Attendee, ...]
    location: Location
    transaction_id: str
    booking_id: str


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """An event as read back from the calendar."""

    event_id: str
    start: datetime
    end: datetime
    ical_uid: str | None = None
    join_url: str | None = None
    is_online_meeting: bool = False
    booking_id: str | None = None
    transaction_id: str | None = None
    is_cancelled: bool = False
    attendees: tuple[Attendee, ...] = ()
    subject: str = ""


@dataclass(frozen=True, slots=True)
class MailboxDefaults:
    """What a host's mailbox says about them: used for the defaults of a new link."""

    time_zone: str
    working_days: tuple[int, ...] = (0, 1, 2, 3, 4)
    working_start: int = 9 * 60
    working_end: int = 17 * 60
    display_name: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class CalendarInfo:
    """One calendar a host can pick for conflicts or bookings: their own, or one shared with them
    (``owner_email`` is then the sharer's address). ``can_edit`` says whether events can be written to it."""

    id: str
    name: str
    owner_name: str
    owner_email: str
    can_edit: bool
    is_default: bool


BusyResult = list[BusyInterval] | IntegrationError


class CalendarPort(Protocol):
    """A host's calendar. Every read either returns the truth or raises: a failed read is never
    'no busy time' (callers fail closed)."""

    async def busy(self, host: HostCalendar, window: Interval) -> list[BusyInterval]:
        """Busy time of one host in ``window``; raises IntegrationError (e.g. HostUnavailable)."""
        ...

    async def busy_many(self, hosts: Sequence[HostCalendar], window: Interval) -> Mapping[str, BusyResult]:
        """Busy time of several hosts keyed by ``user_id``; a host whose read failed maps to its error."""
        ...

    async def create_event(self, host: HostCalendar, draft: EventDraft) -> CalendarEvent: ...

    async def get_event(self, host: HostCalendar, event_id: str) -> CalendarEvent | None: ...

    async def move_event(
        self, host: HostCalendar, event_id: str, start: datetime, end: datetime, time_zone: str
    ) -> CalendarEvent:
        """Move the event to ``start``-``end`` (sent with the explicit IANA ``time_zone``) and change
        nothing else: not the subject, not the attendees (the host may have added people in Outlook),
        not the body (it holds the Teams meeting)."""
        ...

    async def set_event_location(self, host: HostCalendar, event_id: str, location: Location) -> CalendarEvent:
        """Set the event's location and change nothing else (used for the fallback location when the
        Teams meeting was dropped)."""
        ...

    async def cancel_event(self, host: HostCalendar, event_id: str, comment: str) -> None:
        """Cancel (organizer) with a message to attendees; an event that no longer exists is not an
        error (it is already gone)."""
        ...

    async def find_booking_events(self, host: HostCalendar, window: Interval) -> list[CalendarEvent]:
        """Events in ``window`` that carry the Slotwise booking tag (for reconciliation)."""
        ...

    async def mailbox_defaults(self, host: HostCalendar) -> MailboxDefaults: ...

    async def list_calendars(self, host: HostCalendar) -> list[CalendarInfo]:
        """The host's calendars, default first, then the rest including calendars shared with them
        (candidates for ``conflict_calendar_ids`` and, when ``can_edit``, ``write_calendar_id``)."""
        ...


@dataclass(frozen=True, slots=True)
class EventSubscription:
    """A change-notification subscription on a host's events (``id`` is the calendar service's)."""

    id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class BusyChanges:
    """One round of change tracking of a host's primary calendar over ``window``.

    ``full`` means: this is everything in the window, replace what you kept (the first round, or a
    ``cursor`` the calendar service had forgotten, then ``resynced`` is true). Otherwise apply it: set
    ``blocking`` (event id -> busy interval of a new or changed event that blocks time in the window) and
    drop every id in ``cleared_ids`` (deleted, cancelled, now free, or moved out of the window).
    ``changed`` are the new or changed events as read (moves and cancellations of booked events);
    ``removed_ids`` the ones that were deleted or left the window. Pass ``cursor`` to the next round, with
    the same window.
    """

    window: Interval
    full: bool
    blocking: Mapping[str, BusyInterval]
    cleared_ids: tuple[str, ...]
    changed: tuple[CalendarEvent, ...]
    removed_ids: tuple[str, ...]
    cursor: str
    resynced: bool = False


class CalendarSyncPort(Protocol):
    """Outlook -> Slotwise change tracking: subscriptions on a host's events, and the busy-time changes
    since the last round. Errors are IntegrationError, like the CalendarPort's."""

    async def subscribe(self, host: HostCalendar, *, client_state: str, expires_at: datetime) -> EventSubscription:
        """Subscribe to created/updated/deleted events of the host's mailbox; the calendar service may
        shorten or lengthen ``expires_at`` (use the returned one)."""
        ...

    async def renew_subscription(
        self, host: HostCalendar, subscription_id: str, expires_at: datetime
    ) -> EventSubscription | None:
        """Extend (and reauthorize) a subscription; None if it no longer exists (subscribe again)."""
        ...

    async def reauthorize_subscription(self, host: HostCalendar, subscription_id: str) -> bool:
        """Answer a reauthorization challenge; False if the subscription no longer exists."""
        ...

    async def unsubscribe(self, host: HostCalendar, subscription_id: str) -> None:
        """Delete a subscription; one that is already gone is not an error."""
        ...

    async def busy_changes(self, host: HostCalendar, window: Interval, cursor: str | None = None) -> BusyChanges:
        """Busy-time changes in ``window`` since ``cursor`` (None: a full round)."""
        ...


class TokenCacheStore(Protocol):
    """Persists one (already encrypted) MSAL token-cache blob per user."""

    async def load_token_cache(self, user_id: str) -> bytes | None: ...

    async def save_token_cache(self, user_id: str, blob: bytes) -> None: ...

    async def delete_token_cache(self, user_id: str) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


# ------------------------------------------------------------------ delivery (the outbox, one Notifier per channel)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt to deliver an outbox item on its channel (Teams chat, a webhook).

    ``id`` is the outbox item's id: the same on every attempt of one item, so a receiver can drop a repeat
    (a webhook's ``webhook-id``, its idempotency key). ``attempt`` counts from 1 (this one included);
    ``enqueued_at`` is when the item was written (the event's time, for a receiver that wants it).
    """

    id: str
    item: OutboxItem
    attempt: int
    enqueued_at: datetime


class DeliveryError(IntegrationError):
    """A delivery attempt did not deliver; the subclass tells the delivery use case what to do next.
    Any other exception a :class:`Notifier` raises is a failed attempt, retried by the channel's policy."""

    code = "delivery_error"


class RetryLater(DeliveryError):
    """A failed attempt to try again by the channel's retry policy, but not before ``retry_after``
    (e.g. a receiver's HTTP 429 or 503 with ``Retry-After``)."""

    code = "delivery_retry_later"

    def __init__(self, message: str, *, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Undeliverable(DeliveryError):
    """This item can never be delivered (unknown kind, recipient gone, HTTP 410): retrying is pointless.
    It becomes a dead letter, kept for inspection."""

    code = "undeliverable"


class Obsolete(DeliveryError):
    """This item no longer needs saying (a "reconnect" notice after the host reconnected): it counts as done."""

    code = "delivery_obsolete"


class NotReachable(DeliveryError):
    """The recipient can't be reached yet (a host with no chat with Slotwise): the item is held, not retried,
    until ``recipient_id`` becomes reachable and its held items are released (``OutboxStore.release_held``)."""

    code = "recipient_not_reachable"

    def __init__(self, recipient_id: str, message: str) -> None:
        super().__init__(message)
        self.recipient_id = recipient_id


class Notifier(Protocol):
    """Delivers the outbox items of one channel: the Teams chat today (``bot.notifications.TeamsNotifier``),
    webhooks next. ``scheduling.delivery.DeliveryService`` leases the channel's due items, calls
    :meth:`deliver` for each one (bounded by a timeout well inside the item's lease) and records the outcome.

    :meth:`deliver` returns once the item was delivered, or raises a :class:`DeliveryError` (or anything
    else: a failed attempt). Delivery is at least once: a crash between sending and recording repeats the
    attempt with the same ``Delivery.id``, so a notifier must be safe to call again for the same item."""

    async def deliver(self, delivery: Delivery) -> None: ...
