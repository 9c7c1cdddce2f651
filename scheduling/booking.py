"""Use cases of a link: list its slots, book, reschedule and cancel, written against the ports.

The booking pipeline, in the order that makes every crash repairable (see ``scheduling.reconcile``):

1. validate the invitee and the requested start against the rules (nothing written yet);
2. read the host's free/busy for exactly the padded interval from Graph, fresh; a failed read is
   ``HostUnavailable``: never book blind;
3. reserve the padded interval in the database as a PENDING booking (the store enforces "no two
   holding entries of one host overlap", caps, single use and idempotency in one transaction);
4. create the Outlook event with ``transactionId`` = booking id and the Slotwise tag, so a retry or a
   replay returns the same event instead of a second one;
5. read the event back and check the Teams join URL (tenant policy may drop it silently);
6. confirm the booking and enqueue the notifications, in one transaction.

A crash after 3 leaves a PENDING booking: reconciliation confirms it if its tagged event exists and
releases it after ``pending_timeout`` if not. A crash after 4 leaves an event whose booking is PENDING:
confirmed by reconciliation. An event whose booking was released is cancelled by reconciliation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from scheduling.connect import ConnectionService
from scheduling.domain import (
    Booking,
    BookingStatus,
    CalendarSync,
    CapCheck,
    ConnectionStatus,
    EventType,
    Invitee,
    LinkKind,
    OutboxItem,
    User,
)
from scheduling.errors import (
    Conflict,
    HostUnavailable,
    IdempotencyKeyReused,
    IntegrationError,
    InvalidQuery,
    LinkInactive,
    NotFound,
    SlotUnavailable,
)
from scheduling.intervals import Interval
from scheduling.localtime import from_epoch, wall_to_epoch
from scheduling.ports import (
    Attendee,
    BookedInterval,
    BusyInterval,
    CalendarEvent,
    CalendarPort,
    Clock,
    EventDraft,
    HostCalendar,
    Location,
    LocationKind,
)
from scheduling.rules import EventRules
from scheduling.slots import Slot, compute_slots, is_bookable, resolve_duration
from scheduling.stores import BookingStore, EventTypeStore, UserStore

MAX_QUERY_DAYS = 62
Actor = Literal["invitee", "host"]


def hash_token(token: str) -> str:
    """What the store keeps of a manage token: its SHA-256 (hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class BookingOutcome:
    booking: Booking
    manage_token: str
    replayed: bool = False  # an idempotent retry: the booking already existed

    @property
    def confirmed(self) -> bool:
        return self.booking.status is BookingStatus.CONFIRMED


def cap_checks(rules: EventRules, event_type_id: str, start: datetime) -> list[CapCheck]:
    """The day and ISO-week windows (host-local) a new booking at ``start`` must fit in."""
    tz = rules.availability.tz
    day = start.astimezone(tz).date()
    checks = []
    if rules.daily_cap is not None:
        checks.append(CapCheck(event_type_id, _local_midnight(day, tz),
                               _local_midnight(day + timedelta(days=1), tz), rules.daily_cap))
    if rules.weekly_cap is not None:
        monday = day - timedelta(days=day.weekday())
        checks.append(CapCheck(event_type_id, _local_midnight(monday, tz),
                               _local_midnight(monday + timedelta(days=7), tz), rules.weekly_cap))
    return checks


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return from_epoch(wall_to_epoch(day, 0, tz))


def padded(rules: EventRules, start: datetime, end: datetime) -> Interval:
    return Interval(start - timedelta(minutes=rules.buffer_before), end + timedelta(minutes=rules.buffer_after))


def without_own_event(busy: Sequence[BusyInterval], booking: Booking) -> list[BusyInterval]:
    """Busy time minus one interval exactly matching the booking's own Outlook event."""
    out = list(busy)
    for i, b in enumerate(out):
        if b.start == booking.start and b.end == booking.end:
            del out[i]
            break
    return out


def booking_payload(link: EventType, booking: Booking, host: User) -> dict[str, object]:
    return {
        "bookingId": booking.id,
        "eventTypeId": link.id,
        "title": link.title,
        "hostId": host.id,
        "hostName": host.display_name,
        "hostTimeZone": host.time_zone,
        "start": booking.start.isoformat().replace("+00:00", "Z"),
        "end": booking.end.isoformat().replace("+00:00", "Z"),
        "inviteeName": booking.invitee.name,
        "inviteeEmail": booking.invitee.email,
        "inviteeTimeZone": booking.invitee.time_zone,
        "notes": booking.invitee.notes,
        "answers": dict(booking.invitee.answers),
        "joinUrl": booking.join_url,
        "joinUrlMissing": booking.join_url_missing,
        "status": booking.status.value,
        "cancelReason": booking.cancel_reason,
    }


class BookingService:
    """Slots, booking, rescheduling and cancelling for single-host links."""

    def __init__(self, *, calendar: CalendarPort, bookings: BookingStore, users: UserStore,
                 event_types: EventTypeStore, clock: Clock, token_secret: bytes,
                 connections: ConnectionService | None = None,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
                 pending_timeout: timedelta = timedelta(minutes=10), alternatives: int = 5,
                 alternatives_horizon: timedelta = timedelta(days=14),
                 busy_ttl: timedelta = timedelta(seconds=30)) -> None:
        self.calendar = calendar
        self.bookings = bookings
        self.connections = connections
        self.users = users
        self.event_types = event_types
        self.clock = clock
        self._token_secret = token_secret
        self._new_id = new_id
        self.pending_timeout = pending_timeout
        self.alternatives = alternatives
        self.alternatives_horizon = alternatives_horizon
        self.busy_ttl = busy_ttl
        self._busy_cache: dict[tuple[str, datetime, datetime], tuple[datetime, list[BusyInterval]]] = {}

    # ------------------------------------------------------------------ links, hosts and calendar reads

    async def resolve_link(self, handle: str, slug: str) -> tuple[EventType, User]:
        """The link at /book/{handle}/{slug} and its owner; LinkInactive when switched off or used."""
        owner = await self.users.get_by_handle(handle)
        link = await self.event_types.get_by_owner_slug(owner.id, slug) if owner else None
        if owner is None or link is None:
            raise NotFound("There is no booking link at this address. Check it with the person who sent it.")
        if not link.active:
            raise LinkInactive(used=link.single_use)
        return link, owner

    async def link_of(self, booking: Booking) -> EventType:
        link = await self.event_types.get(booking.event_type_id)
        if link is None:
            raise NotFound("This booking's link no longer exists.")
        return link

    async def host_of(self, link: EventType, owner: User | None = None) -> User:
        """The link's host, connected; raises HostUnavailable when their calendar can't be used."""
        if link.kind is not LinkKind.SINGLE_HOST or link.owner_user_id is None:
            raise NotFound("Team links can't be booked yet.")
        host = owner if owner is not None and owner.id == link.owner_user_id else \
            await self.users.get(link.owner_user_id)
        if host is None:
            raise NotFound("This link's host no longer exists.")
        if host.connection_status is not ConnectionStatus.CONNECTED and self.connections is not None:
            host = await self.connections.ensure_connected(host) or host
        if host.connection_status is not ConnectionStatus.CONNECTED:
            raise HostUnavailable(f"{host.display_name} can't take bookings right now: their calendar is "
                                  "not connected. Please try again later.",
                                  reconnect_required=True, host_id=host.id)
        return host

    async def fresh_busy(self, host: User, window: Interval) -> list[BusyInterval]:
        """Graph free/busy of ``host`` in ``window``; any failure is HostUnavailable (fail closed).

        When the failure says the host must sign in again, the connection is marked broken and one
        silent reconnect is tried (possible in sandbox mode, or when tokens were renewed elsewhere)."""
        try:
            return await self.calendar.busy(host.host_calendar(), window)
        except IntegrationError as exc:
            reconnect = bool(getattr(exc, "reconnect_required", False))
            if reconnect and self.connections is not None:
                await self.connections.mark_broken(host.id, exc.message)
                broken = replace(host, connection_status=ConnectionStatus.BROKEN)
                again = await self.connections.ensure_connected(broken)
                if again is not None:
                    try:
                        return await self.calendar.busy(again.host_calendar(), window)
                    except IntegrationError as retry_exc:
                        exc = retry_exc
            if isinstance(exc, HostUnavailable):
                raise exc from None
            raise HostUnavailable(
                f"{host.display_name}'s calendar can't be read right now, so no times can be offered. "
                "Please try again in a few minutes.", reconnect_required=reconnect, host_id=host.id,
            ) from exc

    async def viewing_busy(self, host: User, window: Interval) -> list[BusyInterval]:
        """Busy time for *showing* slots: Graph's answer is reused for ``busy_ttl`` (per process).

        Safe because nothing is booked from it: a booking re-reads Graph fresh for its exact interval,
        and Slotwise's own bookings always come from the database. A change made in Outlook shows up in
        slot views within ``busy_ttl``; this process's own bookings drop the host's entries at once."""
        key = (host.id, window.start, window.end)
        now = self.clock.now()
        hit = self._busy_cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        busy = await self.fresh_busy(host, window)
        if len(self._busy_cache) > 4096:
            self._busy_cache = {k: v for k, v in self._busy_cache.items() if v[0] > now}
        self._busy_cache[key] = (now + self.busy_ttl, busy)
        return busy

    def forget_busy(self, host_ids: Sequence[str] | None = None) -> None:
        """Drop cached busy time of these hosts (all hosts when None)."""
        hosts = set(host_ids or ())
        self._busy_cache = {} if host_ids is None else {
            k: v for k, v in self._busy_cache.items() if k[0] not in hosts}

    async def _booked(self, link: EventType, host: User, window: Interval,
                      exclude: str | None = None) -> list[BookedInterval]:
        widened = Interval(window.start - timedelta(days=8), window.end + timedelta(days=8))
        found = await self.bookings.host_bookings([host.id], widened, caps_event_type_id=link.id,
                                                  exclude_booking_id=exclude)
        return list(found.get(host.id, []))

    # ------------------------------------------------------------------ slots

    async def slots(self, link: EventType, window: Interval, duration: int | None = None,
                    owner: User | None = None) -> list[Slot]:
        """Bookable slots of ``link`` starting in ``window`` (at most 62 days). ``owner``: the link's owner
        when the caller already loaded it (``resolve_link``), saving a read."""
        if window.duration > timedelta(days=MAX_QUERY_DAYS):
            raise InvalidQuery("end", f"Ask for at most {MAX_QUERY_DAYS} days of slots at a time.")
        if not link.active:
            raise LinkInactive(used=link.single_use)
        host = await self.host_of(link, owner)
        rules = link.rules.validate()
        minutes = resolve_duration(rules, duration)
        reach = Interval(window.start - timedelta(minutes=rules.buffer_before),
                         window.end + timedelta(minutes=minutes + rules.buffer_after))
        busy = await self.viewing_busy(host, reach)
        booked = await self._booked(link, host, reach)
        return compute_slots(rules, now=self.clock.now(), window=window, busy=busy, bookings=booked,
                             duration=minutes)

    async def alternatives_to(self, link: EventType, start: datetime, duration: int | None) -> list[datetime]:
        """The next free starts after ``start`` (then before it), for a 'slot just taken' answer."""
        now = self.clock.now()
        window = Interval(now, now + self.alternatives_horizon)
        try:
            slots = await self.slots(link, window, duration)
        except (IntegrationError, NotFound):
            return []
        after = [s.start for s in slots if s.start > start]
        before = [s.start for s in reversed(slots) if s.start < start]
        return (after + before)[: self.alternatives]

    # ------------------------------------------------------------------ booking

    def manage_token_for(self, link: EventType, idempotency_key: str | None) -> str:
        """256-bit manage token: random, or (with an idempotency key) an HMAC of it under the server
        secret, so a retried request gets the same manage link back without the token being stored."""
        if idempotency_key is None:
            return secrets.token_urlsafe(32)
        digest = hmac.new(self._token_secret, f"{link.id}\x00{idempotency_key}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")

    async def book(self, link: EventType, start: datetime, invitee: Invitee, *,
                   duration: int | None = None, idempotency_key: str | None = None,
                   hold_id: str | None = None) -> BookingOutcome:
        """Book ``start`` on ``link`` for an already validated ``invitee`` (see scheduling.invitee)."""
        token = self.manage_token_for(link, idempotency_key)
        if idempotency_key is not None:
            existing = await self.bookings.get_by_idempotency_key(link.id, idempotency_key)
            if existing is not None:
                return await self._replay(existing, token, start, invitee)
        if not link.active:
            raise LinkInactive(used=link.single_use)
        rules = link.rules.validate()
        minutes = resolve_duration(rules, duration)
        host = await self.host_of(link)
        end = start + timedelta(minutes=minutes)
        now = self.clock.now()
        if start.second or start.microsecond:
            raise SlotUnavailable("That is not one of the offered times.",
                                  await self.alternatives_to(link, start, minutes))

        # The rules and Slotwise's own bookings first (no Graph call to refuse a slot that is taken),
        # then the host's Outlook calendar, fresh, for exactly the padded interval.
        booked = await self._booked(link, host, padded(rules, start, end))
        if not is_bookable(rules, start, now=now, bookings=booked, duration=minutes):
            raise SlotUnavailable(alternatives=await self.alternatives_to(link, start, minutes))
        busy = await self.fresh_busy(host, padded(rules, start, end))
        if not is_bookable(rules, start, now=now, busy=busy, bookings=booked, duration=minutes):
            raise SlotUnavailable(alternatives=await self.alternatives_to(link, start, minutes))

        booking = Booking(
            id=self._new_id(), tenant_id=link.tenant_id, event_type_id=link.id, host_ids=(host.id,),
            start=start, end=end, buffer_before=rules.buffer_before, buffer_after=rules.buffer_after,
            invitee=invitee, status=BookingStatus.PENDING, idempotency_key=idempotency_key,
            manage_token_hash=hash_token(token), created_at=now, pending_deadline=now + self.pending_timeout,
        )
        try:
            stored, created = await self.bookings.reserve(
                booking, cap_checks=cap_checks(rules, link.id, start), single_use=link.single_use,
                hold_id=hold_id)
        except SlotUnavailable as exc:
            raise SlotUnavailable(exc.message, await self.alternatives_to(link, start, minutes)) from exc
        if not created:
            return await self._replay(stored, token, start, invitee)
        return await self._write_event(link, host, stored, token)

    async def _replay(self, existing: Booking, token: str, start: datetime, invitee: Invitee) -> BookingOutcome:
        """An idempotent retry: the same booking, finished if a crash left it PENDING (the Outlook create
        reuses the booking's transactionId, so it returns the event a first attempt may have made).
        The same key with a different request is refused: never hand out another client's booking."""
        if existing.start != start or existing.invitee.email.casefold() != invitee.email.casefold():
            raise IdempotencyKeyReused()
        if existing.status is BookingStatus.RELEASED:
            raise SlotUnavailable("That booking attempt didn't go through; please pick a time again.")
        if hash_token(token) != existing.manage_token_hash:
            token = ""  # a key reused by someone else: never hand out another booking's manage link
        if existing.status is BookingStatus.PENDING:
            link = await self.link_of(existing)
            host = await self.host_of(link)
            outcome = await self._write_event(link, host, existing, token)
            return replace(outcome, replayed=True)
        return BookingOutcome(existing, token, replayed=True)

    def draft_for(self, link: EventType, host: User, booking: Booking,
                  location: Location | None = None) -> EventDraft:
        inv = booking.invitee
        lines = [f"Booked with Slotwise by {inv.name} ({inv.email}).", f"Invitee time zone: {inv.time_zone}."]
        for q in link.questions:
            if q.id in inv.answers:
                lines.append(f"{q.label}: {inv.answers[q.id]}")
        if inv.notes:
            lines.append(f"Notes: {inv.notes}")
        return EventDraft(
            subject=f"{link.title} with {inv.name}", body_text="\n".join(lines), start=booking.start,
            end=booking.end, time_zone=host.time_zone, attendees=(Attendee(inv.name, inv.email),),
            location=location or link.location, transaction_id=booking.transaction_id, booking_id=booking.id,
        )

    async def _write_event(self, link: EventType, host: User, booking: Booking, token: str) -> BookingOutcome:
        cal = host.host_calendar()
        try:
            created = await self.calendar.create_event(cal, self.draft_for(link, host, booking))
        except IntegrationError as exc:
            if exc.write_may_have_happened:
                # The event may exist: keep the reservation; reconciliation confirms or releases it.
                return BookingOutcome(booking, token)
            await self.bookings.release(booking.id, f"calendar refused the event: {exc.message}")
            raise HostUnavailable(
                f"{host.display_name}'s calendar refused the booking, so nothing was booked. "
                "Please try again later.", host_id=host.id) from exc
        event = await self._read_back(cal, created)
        return BookingOutcome(await self.confirm_with_event(link, host, booking, event), token)

    async def _read_back(self, cal: HostCalendar, created: CalendarEvent) -> CalendarEvent:
        try:
            found = await self.calendar.get_event(cal, created.event_id)
        except IntegrationError:
            return created
        return found or created

    async def confirm_with_event(self, link: EventType, host: User, booking: Booking, event: CalendarEvent) -> Booking:
        missing = link.location.kind is LocationKind.TEAMS and not event.join_url
        draft = replace(booking, join_url=event.join_url, join_url_missing=missing,
                        status=BookingStatus.CONFIRMED)
        outbox = [OutboxItem("booking.created", link.tenant_id, booking_payload(link, draft, host),
                             f"booking.created:{booking.id}")]
        confirmed = await self.bookings.confirm(
            booking.id, graph_event_id=event.event_id, ical_uid=event.ical_uid, join_url=event.join_url,
            join_url_missing=missing, outbox=outbox)
        self.forget_busy(booking.host_ids)
        if confirmed.status is not BookingStatus.CONFIRMED:
            # Reconciliation released it while Graph was slow: take the event back out.
            await self.cancel_event_quietly(host, event.event_id, "This booking could not be completed.")
            raise SlotUnavailable("That booking took too long to complete; please pick a time again.")
        if missing and link.fallback_location is not None:
            await self._apply_fallback_location(link, host, confirmed)
        if link.single_use:
            await self._retire_single_use(link)
        return confirmed

    async def _retire_single_use(self, link: EventType) -> None:
        """A one-time link stops being offered once booked (the store already refuses a second one)."""
        current = await self.event_types.get(link.id)
        if current is not None and current.active:
            try:
                await self.event_types.update(replace(current, active=False))
            except Conflict:
                return  # edited concurrently; the store's single-use check still holds

    async def _apply_fallback_location(self, link: EventType, host: User, booking: Booking) -> None:
        assert booking.graph_event_id is not None and link.fallback_location is not None
        try:
            await self.calendar.update_event(host.host_calendar(), booking.graph_event_id,
                                             self.draft_for(link, host, booking, link.fallback_location))
        except IntegrationError:
            return  # the host is told the Teams link is missing; the location is a nicety

    async def cancel_event_quietly(self, host: User, event_id: str, comment: str) -> bool:
        try:
            await self.calendar.cancel_event(host.host_calendar(), event_id, comment)
        except IntegrationError:
            return False
        return True

    # ------------------------------------------------------------------ manage: find, reschedule, cancel

    async def by_manage_token(self, token: str) -> Booking:
        booking = await self.bookings.get_by_manage_token_hash(hash_token(token)) if token else None
        if booking is None:
            raise NotFound("This manage link is not valid. Check that you copied the whole link.")
        return booking

    async def for_host(self, host_user_id: str, booking_id: str) -> Booking:
        booking = await self.bookings.get(booking_id)
        if booking is None or host_user_id not in booking.host_ids:
            raise NotFound("No such booking.")
        return booking

    async def reschedule(self, booking: Booking, new_start: datetime, actor: Actor) -> Booking:
        if booking.status is not BookingStatus.CONFIRMED:
            raise Conflict("Only a confirmed booking can be moved.")
        link = await self.event_types.get(booking.event_type_id)
        if link is None:
            raise NotFound("This booking's link no longer exists.")
        host = await self.host_of(link)
        rules = link.rules.validate()
        minutes = int((booking.end - booking.start).total_seconds() // 60)
        new_end = new_start + timedelta(minutes=minutes)
        if new_start == booking.start:
            return booking
        now = self.clock.now()
        busy = without_own_event(await self.fresh_busy(host, padded(rules, new_start, new_end)), booking)
        booked = await self._booked(link, host, padded(rules, new_start, new_end), exclude=booking.id)
        duration = minutes if minutes in rules.durations else rules.duration
        if not is_bookable(rules, new_start, now=now, busy=busy, bookings=booked, duration=duration):
            raise SlotUnavailable(alternatives=await self.alternatives_to(link, new_start, duration))
        moved_view = replace(booking, start=new_start, end=new_end)
        payload = booking_payload(link, moved_view, host) | {
            "previousStart": booking.start.isoformat().replace("+00:00", "Z"), "by": actor}
        moved = await self.bookings.move(
            booking.id, start=new_start, end=new_end, expected_version=booking.version,
            cap_checks=cap_checks(rules, link.id, new_start),
            outbox=[OutboxItem("booking.rescheduled", link.tenant_id, payload,
                               f"booking.rescheduled:{booking.id}:{booking.version + 1}")])
        await self.sync_calendar(moved)
        self.forget_busy(moved.host_ids)
        return await self.bookings.get(moved.id) or moved

    async def cancel(self, booking: Booking, reason: str, actor: Actor) -> Booking:
        if not booking.status.holds_time:
            raise Conflict("This booking is already cancelled.")
        link = await self.event_types.get(booking.event_type_id)
        host = await self.users.get(booking.organizer_id)
        if link is None or host is None:
            raise NotFound("This booking's link no longer exists.")
        payload = booking_payload(link, replace(booking, status=BookingStatus.CANCELLED,
                                                cancel_reason=reason), host) | {"by": actor}
        cancelled = await self.bookings.cancel(
            booking.id, reason=reason, expected_version=booking.version,
            outbox=[OutboxItem("booking.cancelled", link.tenant_id, payload, f"booking.cancelled:{booking.id}")])
        await self.sync_calendar(cancelled)
        self.forget_busy(cancelled.host_ids)
        return await self.bookings.get(cancelled.id) or cancelled

    async def sync_calendar(self, booking: Booking) -> bool:
        """Bring the Outlook event in line with a moved or cancelled booking. False: left for later."""
        if booking.calendar_sync is CalendarSync.IN_SYNC or booking.graph_event_id is None:
            return True
        link = await self.event_types.get(booking.event_type_id)
        host = await self.users.get(booking.organizer_id)
        if link is None or host is None:
            return False
        cal = host.host_calendar()
        try:
            if booking.calendar_sync is CalendarSync.UPDATE_PENDING:
                await self.calendar.update_event(cal, booking.graph_event_id, self.draft_for(link, host, booking))
            else:
                reason = booking.cancel_reason or "This meeting was cancelled."
                await self.calendar.cancel_event(cal, booking.graph_event_id, reason)
        except IntegrationError:
            return False
        await self.bookings.mark_synced(booking.id, booking.version)
        return True
