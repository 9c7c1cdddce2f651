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

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from scheduling.connect import ConnectionService
from scheduling.domain import (
    Booking,
    BookingStatus,
    CalendarSync,
    Caller,
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
    SchedulingError,
    SlotUnavailable,
)
from scheduling.intervals import Interval, subtract
from scheduling.invitee import InviteeForm, validate_form
from scheduling.localtime import from_epoch, to_epoch, wall_to_epoch
from scheduling.observe import NO_EVENTS, BookingEvents, observed
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
from scheduling.reach import bounded_window, check_instant
from scheduling.resources import iso_z
from scheduling.rules import EventRules
from scheduling.slots import Slot, booking_window_bounds, compute_slots, is_bookable, resolve_duration
from scheduling.stores import BookingStore, BusyCacheStore, EventTypeStore, UserStore
from scheduling.sync import CachedBusy
from scheduling.webhooks import announce

MAX_QUERY_DAYS = 62
MAX_REBOOKS = 20  # how often one Teams user may book, cancel and book the same time again
MAX_CANCEL_REASON = 500
#: The host's chat notice that a move made in Outlook could not be applied (it overlaps another booking).
OUTLOOK_MOVE_REFUSED = "booking.outlook_move_refused"
Actor = Literal["invitee", "host"]
PUBLIC = Caller.public()
_MANAGE_TOKEN_CONTEXT = b"slotwise/manage-token/v1\x00"


def hash_token(token: str) -> str:
    """What the store keeps of a manage token: its SHA-256 (hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def request_fingerprint(start: datetime, minutes: int, invitee: Invitee) -> str:
    """What makes two booking requests "the same request" for idempotency: the start, the length and
    everything the invitee entered (the email compared case-insensitively). SHA-256 hex of a canonical
    JSON document, so it can be stored and compared without keeping a second copy of the data."""
    document = {
        "start": start.astimezone(UTC).isoformat(),
        "minutes": minutes,
        "name": invitee.name,
        "email": invitee.email.casefold(),
        "timeZone": invitee.time_zone,
        "notes": invitee.notes,
        "answers": {k: invitee.answers[k] for k in sorted(invitee.answers)},
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class BookingOutcome:
    booking: Booking
    manage_token: str  # "" when this answer may not carry it (see BookingService.book)
    replayed: bool = False  # an idempotent retry: the booking already existed
    # Who hosts it, organiser first, where the use case knows them without another read (team bookings); a
    # created booking's answer must not depend on a read that can fail after the booking is made.
    hosts: tuple[User, ...] = ()

    @property
    def confirmed(self) -> bool:
        return self.booking.status is BookingStatus.CONFIRMED


@dataclass(frozen=True, slots=True)
class Admission:
    """A booking request that passed :meth:`BookingService.admit`: the invitee, the length, the request's
    fingerprint and scoped idempotency key, and either the link's validated rules or the ``earlier`` booking made
    with the same key."""

    invitee: Invitee
    minutes: int
    fingerprint: str
    key: str | None
    rules: EventRules
    earlier: Booking | None


def check_replay(existing: Booking, fingerprint: str) -> None:
    """May a request with this ``fingerprint`` have ``existing`` (the booking made with its idempotency key)? Only an
    identical request gets the booking and its manage token back (IdempotencyKeyReused otherwise: never hand out
    another client's booking); an attempt that was released is over."""
    if existing.request_fingerprint is None or not hmac.compare_digest(existing.request_fingerprint, fingerprint):
        raise IdempotencyKeyReused()
    if existing.status is BookingStatus.RELEASED:
        raise SlotUnavailable("That booking attempt didn't go through; please pick a time again.")


def cap_checks(rules: EventRules, event_type_id: str, start: datetime) -> list[CapCheck]:
    """The day and ISO-week windows (host-local) a new booking at ``start`` must fit in."""
    tz = rules.availability.tz
    day = start.astimezone(tz).date()
    checks = []
    if rules.daily_cap is not None:
        checks.append(
            CapCheck(
                event_type_id, _local_midnight(day, tz), _local_midnight(day + timedelta(days=1), tz), rules.daily_cap
            )
        )
    if rules.weekly_cap is not None:
        monday = day - timedelta(days=day.weekday())
        checks.append(
            CapCheck(
                event_type_id,
                _local_midnight(monday, tz),
                _local_midnight(monday + timedelta(days=7), tz),
                rules.weekly_cap,
            )
        )
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


def booking_payload(link: EventType | None, booking: Booking, host: User | None) -> dict[str, object]:
    """What notices, webhooks and the API say of a booking; with no ``link`` (deleted) or ``host`` (unknown), what
    the booking says of itself. ``hostId`` is its organiser (``host``), ``hostIds`` every host, organiser first
    (every member of a collective booking): whose webhooks it goes to, and whom its ``hosts`` name."""
    return {
        "bookingId": booking.id,
        "eventTypeId": link.id if link is not None else booking.event_type_id,
        "title": link.title if link is not None else "",
        "hostId": host.id if host is not None else booking.organizer_id,
        "hostIds": list(booking.host_ids),
        "hostName": host.display_name if host is not None else "",
        "hostTimeZone": host.time_zone if host is not None else "UTC",
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


def _open(link: EventType) -> EventType:
    """``link`` when it takes bookings; LinkInactive when it was switched off or (one-time) used."""
    if not link.active:
        raise LinkInactive(used=link.single_use)
    return link


VIEW_READ_SPAN = timedelta(days=61)  # what one getSchedule call may cover (Graph: under 62 days)
_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _day_floor(instant: datetime) -> datetime:
    return _EPOCH + (instant - _EPOCH) // _DAY * _DAY


def _day_ceil(instant: datetime) -> datetime:
    floor = _day_floor(instant)
    return floor if floor == instant else floor + _DAY


@dataclass(frozen=True, slots=True)
class _Segment:
    """One Graph read: the stretch it covered, until when it may be reused, and what it found."""

    covered: Interval
    expires: datetime
    busy: tuple[BusyInterval, ...]


class ViewingBusyCache:
    """Busy time read for *showing* slots, kept per host by the stretch of time each Graph read covered
    (not per query), and shared by every link, zone and window of that host.

    A miss reads whole UTC days around what is missing and, when the caller names a ``horizon`` (the part
    of time that can matter, e.g. a link's booking window), widens the read over as much of it as one
    Graph call may cover (:data:`VIEW_READ_SPAN`). Any later query inside what was read — another week,
    another zone, another range of days — is answered from memory until the read is ``ttl`` old. Busy time
    is therefore read per host per day range, so varying the query cannot multiply calendar calls.

    Concurrent misses of one host join the read in flight that covers them (a burst costs one call, and a
    failure reaches every waiter: reads fail closed). ``forget`` drops a host's reads; a read in flight
    at that moment is not kept when it lands.
    """

    def __init__(
        self,
        read: Callable[[User, Interval], Awaitable[list[BusyInterval]]],
        clock: Clock,
        ttl: timedelta,
        max_hosts: int = 4096,
    ) -> None:
        self.ttl = ttl
        self._read = read
        self._clock = clock
        self._max_hosts = max_hosts
        self._segments: dict[str, list[_Segment]] = {}
        self._flights: dict[str, list[tuple[Interval, asyncio.Future[_Segment]]]] = {}
        self._generation: dict[str, int] = {}

    def read_range(self, missing: Interval, horizon: Interval | None) -> Interval:
        """What to read for ``missing``: its whole UTC days, inside ``horizon`` widened up to one call's span."""
        low, high = _day_floor(missing.start), _day_ceil(missing.end)
        if horizon is None:
            return Interval(low, high)
        low = min(missing.start, max(low, horizon.start))
        high = max(missing.end, min(high, horizon.end))
        room = VIEW_READ_SPAN - (high - low)
        if room > timedelta(0):
            wider = max(high, min(horizon.end, high + room))
            room -= wider - high
            high = wider
            low = min(low, max(horizon.start, low - room))
        return Interval(low, high)

    async def busy(self, host: User, window: Interval, horizon: Interval | None = None) -> list[BusyInterval]:
        if window.is_empty:
            return []
        now = self._clock.now()
        fresh = [s for s in self._segments.get(host.id, ()) if s.expires > now]
        if fresh:
            self._segments[host.id] = fresh
        else:
            self._segments.pop(host.id, None)
        flights = self._flights.get(host.id, [])
        waits: list[asyncio.Future[_Segment]] = []
        planned: list[Interval] = []
        for gap in subtract([window], [s.covered for s in fresh]):
            waits += [f for covered, f in flights if covered.overlaps(gap) and f not in waits]
            for missing in subtract([gap], [covered for covered, _ in flights] + planned):
                read = self.read_range(missing, horizon)
                planned.append(read)
                waits.append(self._start(host, read))
        found = [*fresh, *[await asyncio.shield(f) for f in waits]]
        busy = {
            b: None
            for s in found
            if s.covered.overlaps(window)
            for b in s.busy
            if b.start < window.end and window.start < b.end
        }
        return sorted(busy, key=lambda b: (b.start, b.end))

    def _start(self, host: User, read: Interval) -> asyncio.Future[_Segment]:
        generation = self._generation.get(host.id, 0)

        async def fly() -> _Segment:
            busy = await self._read(host, read)
            segment = _Segment(read, self._clock.now() + self.ttl, tuple(busy))
            if self._generation.get(host.id, 0) == generation:
                self._keep(host.id, segment)
            return segment

        future = asyncio.ensure_future(fly())
        flights = self._flights.setdefault(host.id, [])
        entry = (read, future)
        flights.append(entry)

        def landed(done: asyncio.Future[_Segment]) -> None:
            if entry in flights:
                flights.remove(entry)
            if not flights and self._flights.get(host.id) is flights:
                del self._flights[host.id]
            if not done.cancelled():
                done.exception()  # retrieved: a failure nobody awaits anymore is not logged as lost

        future.add_done_callback(landed)
        return future

    def _keep(self, host_id: str, segment: _Segment) -> None:
        if host_id not in self._segments and len(self._segments) >= self._max_hosts:
            now = self._clock.now()
            self._segments = {
                h: kept for h, segs in self._segments.items() if (kept := [s for s in segs if s.expires > now])
            }
        self._segments.setdefault(host_id, []).append(segment)

    def forget(self, host_ids: Sequence[str] | None = None) -> None:
        hosts = list(self._segments) + list(self._flights) if host_ids is None else list(host_ids)
        for host_id in hosts:
            self._segments.pop(host_id, None)
            self._flights.pop(host_id, None)
            self._generation[host_id] = self._generation.get(host_id, 0) + 1
        if len(self._generation) > 4 * self._max_hosts:
            self._generation = {h: g for h, g in self._generation.items() if h in self._flights}


_ALL_TIME = Interval(datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


class BusyCacheMemo:
    """The database busy cache (kept by calendar sync) as slot views read it: each host's whole cached window
    is read at most once per ``ttl`` per process (concurrent readers share one read), and every view, week and
    zone is answered from that copy. ``forget`` drops hosts (this process changed their cache or bookings).

    The copy is a read-through cache of the shared one, so another replica's update shows here within
    ``ttl``; whether the cache may answer at all is still decided per view, at that moment
    (:meth:`scheduling.sync.CachedBusy.serves`)."""

    def __init__(self, store: BusyCacheStore, clock: Clock, ttl: timedelta) -> None:
        self.ttl = ttl
        self._store = store
        self._clock = clock
        self._kept: dict[str, tuple[datetime, CachedBusy | None]] = {}
        self._flights: dict[str, asyncio.Future[CachedBusy | None]] = {}
        self._generation: dict[str, int] = {}

    async def get(self, host_id: str) -> CachedBusy | None:
        kept = self._kept.get(host_id)
        if kept is not None and kept[0] > self._clock.now():
            return kept[1]
        flight = self._flights.get(host_id)
        if flight is None:
            flight = asyncio.ensure_future(self._read(host_id, self._generation.get(host_id, 0)))
            self._flights[host_id] = flight
            flight.add_done_callback(lambda done: self._landed(host_id, done))
        return await asyncio.shield(flight)

    async def _read(self, host_id: str, generation: int) -> CachedBusy | None:
        cached = await self._store.cached_busy(host_id, _ALL_TIME)
        if self._generation.get(host_id, 0) == generation:
            if len(self._kept) > 4096:
                self._kept.clear()
            self._kept[host_id] = (self._clock.now() + self.ttl, cached)
        return cached

    def _landed(self, host_id: str, done: asyncio.Future[CachedBusy | None]) -> None:
        if self._flights.get(host_id) is done:
            del self._flights[host_id]
        if not done.cancelled():
            done.exception()  # retrieved: a failure nobody awaits anymore is not logged as lost

    def forget(self, host_ids: Sequence[str] | None = None) -> None:
        hosts = list(self._kept) + list(self._flights) if host_ids is None else list(host_ids)
        for host_id in hosts:
            self._kept.pop(host_id, None)
            self._flights.pop(host_id, None)
            self._generation[host_id] = self._generation.get(host_id, 0) + 1


class TeamBookings(Protocol):
    """What :class:`BookingService` hands a team link to (``scheduling.teams.TeamLinkService``): a link with a
    ``team_id`` is never shown, booked or moved as a personal one."""

    async def public_link(self, link: EventType) -> tuple[EventType, User]: ...

    async def slots(self, link: EventType, window: Interval, duration: int | None = None) -> list[Slot]: ...

    async def book(
        self,
        link: EventType,
        start: datetime,
        form: InviteeForm,
        *,
        caller: Caller,
        duration: int | None = None,
        idempotency_key: str | None = None,
        hold_id: str | None = None,
    ) -> BookingOutcome: ...

    async def reschedule(self, booking: Booking, link: EventType, new_start: datetime, actor: Actor) -> Booking: ...

    def forget_busy(self, host_ids: Sequence[str] | None = None) -> None: ...


#: More outbox items for a booking change (team links: every member's notice, the channel's announcement).
OutboxFanOut = Callable[[Sequence[OutboxItem], EventType, Booking], Awaitable[list[OutboxItem]]]


class BookingService:
    """Slots, booking, rescheduling and cancelling for single-host links; team links are handed to ``teams``."""

    def __init__(
        self,
        *,
        calendar: CalendarPort,
        bookings: BookingStore,
        users: UserStore,
        event_types: EventTypeStore,
        clock: Clock,
        token_secret: bytes,
        connections: ConnectionService | None = None,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        pending_timeout: timedelta = timedelta(minutes=10),
        alternatives: int = 5,
        alternatives_horizon: timedelta = timedelta(days=14),
        busy_ttl: timedelta = timedelta(seconds=30),
        busy_cache: BusyCacheStore | None = None,
        cache_max_lag: timedelta = timedelta(seconds=30),
        cache_memo_ttl: timedelta = timedelta(seconds=1),
        events: BookingEvents = NO_EVENTS,
    ) -> None:
        self._calendar = calendar  # the ports and stores are the service's own: adapters only call its use cases
        self._bookings = bookings
        self._users = users
        self._event_types = event_types
        self._connections = connections
        self.clock = clock
        self._token_secret = token_secret
        self._new_id = new_id
        self.pending_timeout = pending_timeout
        self.alternatives = alternatives
        self.alternatives_horizon = alternatives_horizon
        self._viewing = ViewingBusyCache(self.fresh_busy, clock, busy_ttl)
        # the database busy cache kept by calendar sync (scheduling.sync), read through a short in-process copy
        self._busy_cache = BusyCacheMemo(busy_cache, clock, cache_memo_ttl) if busy_cache is not None else None
        self.cache_max_lag = cache_max_lag
        self.events = events  # told the outcome of each book, reschedule and cancel (scheduling.observe)
        self.teams: TeamBookings | None = None  # team links (scheduling.teams), set once built: it needs this service
        self.fan_outs: list[OutboxFanOut] = []  # what else a booking change enqueues (see outbox_for)

    @property
    def busy_ttl(self) -> timedelta:
        """How long busy time read for showing slots is reused."""
        return self._viewing.ttl

    @busy_ttl.setter
    def busy_ttl(self, ttl: timedelta) -> None:
        self._viewing.ttl = ttl

    # ------------------------------------------------------------------ links, hosts and calendar reads

    async def resolve_link(self, handle: str, slug: str) -> tuple[EventType, User]:
        """The link at /book/{handle}/{slug} and its owner; LinkInactive when switched off or used."""
        found = await self._event_types.get_by_handle_slug(handle, slug)
        if found is None:
            raise NotFound("There is no booking link at this address. Check it with the person who sent it.")
        link, owner = found
        return _open(link), owner

    async def public_link(self, link_id: str) -> tuple[EventType, User]:
        """A bookable link by its id, and its host: a link id is public, like the booking page it names (a
        card carries it), so the same rules as :meth:`resolve_link`. NotFound when it does not exist or its
        host is gone, LinkInactive when switched off or used."""
        link = await self._event_types.get(link_id)
        if link is None:
            raise NotFound("This booking link no longer exists. Ask the host for a current link.")
        _open(link)
        if (team := self._team(link)) is not None:
            return await team.public_link(link)
        owner = await self._users.get(link.owner_user_id) if link.owner_user_id else None
        if owner is None:
            raise NotFound(
                "Team links can't be booked yet."
                if link.owner_user_id is None
                else "This link's host no longer exists."
            )
        return link, owner

    def _team(self, link: EventType) -> TeamBookings | None:
        """Who handles a team link (None for a personal one); NotFound when team links are not set up."""
        if link.team_id is None:
            return None
        if self.teams is None:
            raise NotFound("Team links can't be booked yet.")
        return self.teams

    async def link_of(self, booking: Booking) -> EventType:
        link = await self._event_types.get(booking.event_type_id)
        if link is None:
            raise NotFound("This booking's link no longer exists.")
        return link

    async def booking_context(self, booking: Booking) -> tuple[EventType, User]:
        """The link a booking was made on and the host who organises it (whose calendar holds the event);
        NotFound when either is gone."""
        link = await self.link_of(booking)
        host = await self._users.get(booking.organizer_id)
        if host is None:
            raise NotFound("This booking's host no longer exists.")
        return link, host

    async def link_in_tenant(self, tenant_id: str, link_id: str) -> EventType | None:
        """A link by id when it belongs to ``tenant_id`` (e.g. to show its questions to the host of a booking
        made on it); None otherwise."""
        link = await self._event_types.get(link_id)
        return link if link is not None and link.tenant_id == tenant_id else None

    async def upcoming(self, host: User, limit: int = 20) -> tuple[list[Booking], dict[str, EventType]]:
        """The host's bookings that have not ended yet, soonest first, and the links they were made on (by
        id; links of another tenant are left out)."""
        bookings = await self._bookings.upcoming_for_host(host.tenant_id, host.id, self.clock.now(), limit=limit)
        links: dict[str, EventType] = {}
        for event_type_id in dict.fromkeys(b.event_type_id for b in bookings):
            link = await self.link_in_tenant(host.tenant_id, event_type_id)
            if link is not None:
                links[event_type_id] = link
        return bookings, links

    async def host_of(self, link: EventType, owner: User | None = None) -> User:
        """The link's host, connected; raises HostUnavailable when their calendar can't be used."""
        if link.kind is not LinkKind.SINGLE_HOST or link.owner_user_id is None:
            raise NotFound("Team links can't be booked yet.")
        host = (
            owner if owner is not None and owner.id == link.owner_user_id else await self._users.get(link.owner_user_id)
        )
        if host is None:
            raise NotFound("This link's host no longer exists.")
        if host.connection_status is not ConnectionStatus.CONNECTED and self._connections is not None:
            host = await self._connections.ensure_connected(host) or host
        if host.connection_status is not ConnectionStatus.CONNECTED:
            raise HostUnavailable(
                f"{host.display_name} can't take bookings right now: their calendar is "
                "not connected. Please try again later.",
                reconnect_required=True,
                host_id=host.id,
            )
        return host

    async def fresh_busy(self, host: User, window: Interval) -> list[BusyInterval]:
        """Graph free/busy of ``host`` in ``window``; any failure is HostUnavailable (fail closed).

        When the failure says the host must sign in again, the connection is marked broken and one
        silent reconnect is tried (possible in sandbox mode, or when tokens were renewed elsewhere)."""
        try:
            return await self._calendar.busy(host.host_calendar(), window)
        except IntegrationError as exc:
            reconnect = bool(getattr(exc, "reconnect_required", False))
            if reconnect and self._connections is not None:
                await self._connections.mark_broken(host.id, exc.message)
                broken = replace(host, connection_status=ConnectionStatus.BROKEN)
                again = await self._connections.ensure_connected(broken)
                if again is not None:
                    try:
                        return await self._calendar.busy(again.host_calendar(), window)
                    except IntegrationError as retry_exc:
                        exc = retry_exc
            if isinstance(exc, HostUnavailable):
                raise exc from None
            raise HostUnavailable(
                f"{host.display_name}'s calendar can't be read right now, so no times can be offered. "
                "Please try again in a few minutes.",
                reconnect_required=reconnect,
                host_id=host.id,
            ) from exc

    async def viewing_busy(self, host: User, window: Interval, horizon: Interval | None = None) -> list[BusyInterval]:
        """Busy time for *showing* slots.

        First the busy cache kept by calendar sync (in the database, shared by every replica, updated from
        Graph's change notifications through delta): when it serves ``window`` (see
        :meth:`scheduling.sync.CachedBusy.serves`) no Graph call is made at all. It holds the host's primary
        calendar, so a host who picked other or shared calendars for conflicts is always read live.

        Otherwise the live read, through the per-host in-process cache (see :class:`ViewingBusyCache`):
        Graph's answer is reused for ``busy_ttl`` for every query inside the stretch it covered.
        ``horizon``: the most a read may usefully cover (a link's booking window); a miss reads as much of
        it as one Graph call can, so later queries for other days or zones cost nothing.

        Safe because nothing is booked from it: a booking re-reads Graph fresh for its exact interval,
        and Slotwise's own bookings always come from the database."""
        cached = await self.cached_busy(host, window)
        if cached is not None:
            return cached
        return await self._viewing.busy(host, window, horizon)

    async def cached_busy(self, host: User, window: Interval) -> list[BusyInterval] | None:
        """The host's busy time in ``window`` from the database busy cache when it serves ``window`` now (see
        :meth:`viewing_busy`); None when it doesn't (read the calendar instead)."""
        if self._busy_cache is not None and not host.conflict_calendar_ids and not window.is_empty:
            cached = await self._busy_cache.get(host.id)
            if cached is not None and cached.serves(window, self.clock.now(), self.cache_max_lag):
                return [b for b in cached.busy if b.start < window.end and window.start < b.end]
        return None

    def forget_busy(self, host_ids: Sequence[str] | None = None) -> None:
        """Drop busy time kept in this process for these hosts (all hosts when None): the live reads and the
        copy of the database busy cache."""
        self._viewing.forget(host_ids)
        if self._busy_cache is not None:
            self._busy_cache.forget(host_ids)
        if self.teams is not None:
            self.teams.forget_busy(host_ids)

    def viewing_horizon(self, rules: EventRules) -> Interval:
        """Where busy time can matter to the slots of a link with ``rules`` right now: from the earliest
        start (now + notice, or the fixed window's first day) less the buffer before, to the window's end
        plus the buffer after. Empty when the window is over. Busy time outside it never changes a slot."""
        now = self.clock.now()
        earliest, latest = booking_window_bounds(rules.window, now, rules.availability.tz)
        first = max(to_epoch(now) + rules.minimum_notice * 60, earliest)
        start = from_epoch(first) - timedelta(minutes=rules.buffer_before)
        end = from_epoch(latest) + timedelta(minutes=rules.buffer_after)
        return Interval(start, max(start, end))

    async def _booked(
        self, link: EventType, host: User, window: Interval, exclude: str | None = None
    ) -> list[BookedInterval]:
        widened = Interval(window.start - timedelta(days=8), window.end + timedelta(days=8))
        found = await self._bookings.host_bookings(
            [host.id], widened, caps_event_type_id=link.id, exclude_booking_id=exclude
        )
        return list(found.get(host.id, []))

    # ------------------------------------------------------------------ slots

    async def slots(
        self, link: EventType, window: Interval, duration: int | None = None, owner: User | None = None
    ) -> list[Slot]:
        """Bookable slots of ``link`` starting in ``window`` (at most 62 days). ``owner``: the link's owner
        when the caller already loaded it (``resolve_link``), saving a read."""
        if (team := self._team(link)) is not None:
            return await team.slots(link, window, duration)
        if window.duration > timedelta(days=MAX_QUERY_DAYS):
            raise InvalidQuery("end", f"Ask for at most {MAX_QUERY_DAYS} days of slots at a time.")
        window = bounded_window(window, self.clock.now())  # no adapter can walk the arithmetic off the calendar
        if not link.active:
            raise LinkInactive(used=link.single_use)
        host = await self.host_of(link, owner)
        rules = link.rules.validate()
        minutes = resolve_duration(rules, duration)
        reach = Interval(
            window.start - timedelta(minutes=rules.buffer_before),
            window.end + timedelta(minutes=minutes + rules.buffer_after),
        )
        horizon = self.viewing_horizon(rules)
        low = max(reach.start, horizon.start)
        needed = Interval(low, max(low, min(reach.end, horizon.end)))  # busy time elsewhere changes no slot
        busy = await self.viewing_busy(host, needed, horizon)
        booked = await self._booked(link, host, reach)
        return compute_slots(rules, now=self.clock.now(), window=window, busy=busy, bookings=booked, duration=minutes)

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

    def _manage_token(self, nonce: str) -> str:
        """The manage token of the booking whose stored nonce is ``nonce``.

        A manage token is a 256-bit secret: HMAC-SHA256 under the server's manage key of a random 256-bit
        nonce drawn for each booking. The store keeps the token's SHA-256 (to find the booking from a
        link) and the nonce, never the token: the database alone (a backup, a leak) yields no working
        link, while this service can give a legitimate replay (same key, same caller, same request)
        the very token the first request got, without keeping it in clear. Bookings made before tokens
        were derived this way have no nonce: their stored hash still opens them, and a replay of them
        never gets a token back."""
        digest = hmac.new(self._token_secret, _MANAGE_TOKEN_CONTEXT + nonce.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def _token_of(self, booking: Booking) -> str:
        """The booking's manage token if it can be derived and still matches the stored hash, else ""."""
        if not booking.manage_token_nonce:
            return ""
        token = self._manage_token(booking.manage_token_nonce)
        return token if hmac.compare_digest(hash_token(token), booking.manage_token_hash) else ""

    def new_manage_token(self) -> tuple[str, str]:
        """(nonce, manage token) for a new booking (see :meth:`_manage_token`; the store keeps the nonce and
        the token's hash). For the other booking pipelines (team links)."""
        nonce = secrets.token_urlsafe(32)
        return nonce, self._manage_token(nonce)

    def token_of(self, booking: Booking) -> str:
        """:meth:`_token_of`, for the other booking pipelines' replays (team links)."""
        return self._token_of(booking)

    async def attempt_key(
        self, link: EventType, caller: Caller, start: datetime, form: InviteeForm, duration: int | None = None
    ) -> str:
        """The idempotency key :meth:`book` derives for a Teams request (which carries no key of its own) for
        this exact request; ValidationFailed when ``form`` is not valid."""
        invitee = validate_form(form, link.questions)
        return await self._attempt_key(link, caller, start, invitee, resolve_duration(link.rules, duration))

    async def _attempt_key(
        self, link: EventType, caller: Caller, start: datetime, invitee: Invitee, minutes: int
    ) -> str:
        """An idempotency key for a client that sends none of its own but whose identical retries must book
        once (Teams' Confirm button clicked twice, or an invoke retried by the client): derived from the
        request itself, looked up inside ``caller``'s namespace. When the booking made under it has ended
        (cancelled or released), the next unused variant, so the same person can book the same time again."""
        base = "attempt-" + request_fingerprint(start, minutes, invitee)[:40]
        key = base
        for n in range(2, MAX_REBOOKS + 2):
            existing = await self._bookings.get_by_idempotency_key(link.id, caller.scoped_key(key))
            if existing is None or existing.status.holds_time:
                return key
            key = f"{base}:{n}"
        raise Conflict("You have booked and cancelled this time too often; please pick another time.")

    async def admit(
        self,
        link: EventType,
        start: datetime,
        form: InviteeForm,
        *,
        caller: Caller,
        duration: int | None,
        idempotency_key: str | None,
    ) -> Admission:
        """What every booking request goes through first, on a personal or a team link: the start within reach,
        the invitee valid, the length one the link offers, the idempotency key in the caller's namespace (derived
        for Teams), and then either the earlier booking made with that key (for the caller to replay, or refuse,
        :func:`check_replay`) or an active link and its validated rules."""
        check_instant(start, self.clock.now(), "start")
        invitee = validate_form(form, link.questions)
        minutes = resolve_duration(link.rules, duration)
        fingerprint = request_fingerprint(start, minutes, invitee)
        if idempotency_key is None and caller.kind == "teams":
            idempotency_key = await self._attempt_key(link, caller, start, invitee, minutes)
        key = caller.scoped_key(idempotency_key) if idempotency_key is not None else None
        earlier = await self._bookings.get_by_idempotency_key(link.id, key) if key is not None else None
        if earlier is not None:
            return Admission(invitee, minutes, fingerprint, key, link.rules, earlier)
        if not link.active:
            raise LinkInactive(used=link.single_use)
        return Admission(invitee, minutes, fingerprint, key, link.rules.validate(), None)

    @observed("book")
    async def book(
        self,
        link: EventType,
        start: datetime,
        form: InviteeForm,
        *,
        caller: Caller = PUBLIC,
        duration: int | None = None,
        idempotency_key: str | None = None,
        hold_id: str | None = None,
    ) -> BookingOutcome:
        """Book ``start`` on ``link`` for the invitee described by ``form``, exactly as the adapter received it:
        it is validated here, before anything else (ValidationFailed naming every wrong field; see
        scheduling.invitee), so no caller has to be trusted to have done it.

        ``caller`` is who sent the request, as the adapter established it: its idempotency key is looked up
        and stored inside the caller's namespace (see :class:`~scheduling.domain.Caller`), and a booking
        made from Teams records the invitee's tenant and Entra object id. A Teams request carries no key of
        its own: one is derived from the request (:meth:`attempt_key`), so a double-clicked or retried
        Confirm books once. The outcome carries the manage token for the request that created the booking
        and for a replay of the same key by the same caller with an identical request; any other request
        with that key is IdempotencyKeyReused."""
        if (team := self._team(link)) is not None:
            return await team.book(
                link, start, form, caller=caller, duration=duration, idempotency_key=idempotency_key, hold_id=hold_id
            )
        admitted = await self.admit(
            link, start, form, caller=caller, duration=duration, idempotency_key=idempotency_key
        )
        if admitted.earlier is not None:
            return await self._replay(admitted.earlier, admitted.fingerprint)
        invitee, minutes, fingerprint, key, rules = (
            admitted.invitee,
            admitted.minutes,
            admitted.fingerprint,
            admitted.key,
            admitted.rules,
        )
        host = await self.host_of(link)
        end = start + timedelta(minutes=minutes)
        now = self.clock.now()
        if start.second or start.microsecond:
            raise SlotUnavailable(
                "That is not one of the offered times.", await self.alternatives_to(link, start, minutes)
            )

        # The rules and Slotwise's own bookings first (no Graph call to refuse a slot that is taken),
        # then the host's Outlook calendar, fresh, for exactly the padded interval.
        booked = await self._booked(link, host, padded(rules, start, end))
        if not is_bookable(rules, start, now=now, bookings=booked, duration=minutes):
            raise SlotUnavailable(alternatives=await self.alternatives_to(link, start, minutes))
        busy = await self.fresh_busy(host, padded(rules, start, end))
        if not is_bookable(rules, start, now=now, busy=busy, bookings=booked, duration=minutes):
            raise SlotUnavailable(alternatives=await self.alternatives_to(link, start, minutes))

        nonce = secrets.token_urlsafe(32)
        token = self._manage_token(nonce)
        from_teams = caller.kind == "teams"
        booking = Booking(
            id=self._new_id(),
            tenant_id=link.tenant_id,
            event_type_id=link.id,
            host_ids=(host.id,),
            start=start,
            end=end,
            buffer_before=rules.buffer_before,
            buffer_after=rules.buffer_after,
            invitee=invitee,
            status=BookingStatus.PENDING,
            idempotency_key=key,
            manage_token_hash=hash_token(token),
            manage_token_nonce=nonce,
            request_fingerprint=fingerprint,
            invitee_tenant_id=caller.tenant_id if from_teams else None,
            invitee_aad_object_id=caller.subject if from_teams else None,
            created_at=now,
            pending_deadline=now + self.pending_timeout,
            event_calendar_id=host.write_calendar_id,  # where its event goes, and is looked for ever after
        )
        try:
            stored, created = await self._bookings.reserve(
                booking, cap_checks=cap_checks(rules, link.id, start), single_use=link.single_use, hold_id=hold_id
            )
        except SlotUnavailable as exc:
            raise SlotUnavailable(exc.message, await self.alternatives_to(link, start, minutes)) from exc
        if not created:
            return await self._replay(stored, fingerprint)
        return await self._write_event(link, host, stored, token)

    async def _replay(self, existing: Booking, fingerprint: str) -> BookingOutcome:
        """An idempotent retry: the same booking, finished if a crash left it PENDING (the Outlook create
        reuses the booking's transactionId, so it returns the event a first attempt may have made).
        Only an identical request gets the booking and its manage token back; the same key with any other
        request is refused: never hand out another client's booking."""
        check_replay(existing, fingerprint)
        token = self._token_of(existing)
        if existing.status is BookingStatus.PENDING:
            link = await self.link_of(existing)
            host = await self.host_of(link)
            outcome = await self._write_event(link, host, existing, token)
            return replace(outcome, replayed=True)
        return BookingOutcome(existing, token, replayed=True)

    def draft_for(self, link: EventType, host: User, booking: Booking, location: Location | None = None) -> EventDraft:
        inv = booking.invitee
        lines = [f"Booked with Slotwise by {inv.name} ({inv.email}).", f"Invitee time zone: {inv.time_zone}."]
        for q in link.questions:
            if q.id in inv.answers:
                lines.append(f"{q.label}: {inv.answers[q.id]}")
        if inv.notes:
            lines.append(f"Notes: {inv.notes}")
        return EventDraft(
            subject=f"{link.title} with {inv.name}",
            body_text="\n".join(lines),
            start=booking.start,
            end=booking.end,
            time_zone=host.time_zone,
            attendees=(Attendee(inv.name, inv.email),),
            location=location or link.location,
            transaction_id=booking.transaction_id,
            booking_id=booking.id,
        )

    async def write_event(
        self, link: EventType, host: User, booking: Booking, token: str, draft: EventDraft | None = None
    ) -> BookingOutcome:
        """Steps 4 to 6 of the pipeline for a reserved (PENDING) booking: create its Outlook event (``draft``, or
        :meth:`draft_for`), read it back, confirm. For the other booking pipelines (team links)."""
        return await self._write_event(link, host, booking, token, draft)

    async def _write_event(
        self, link: EventType, host: User, booking: Booking, token: str, draft: EventDraft | None = None
    ) -> BookingOutcome:
        cal = host.calendar_for(booking)  # the calendar recorded at reserve: a replay writes to the same one
        try:
            created = await self._calendar.create_event(cal, draft or self.draft_for(link, host, booking))
        except IntegrationError as exc:
            if exc.write_may_have_happened:
                # The event may exist: keep the reservation; reconciliation confirms or releases it.
                return BookingOutcome(booking, token)
            await self._bookings.release(booking.id, f"calendar refused the event: {exc.message}")
            raise HostUnavailable(
                f"{host.display_name}'s calendar refused the booking, so nothing was booked. Please try again later.",
                host_id=host.id,
            ) from exc
        event = await self._read_back(cal, created)
        return BookingOutcome(await self.confirm_with_event(link, host, booking, event), token)

    async def _read_back(self, cal: HostCalendar, created: CalendarEvent) -> CalendarEvent:
        try:
            found = await self._calendar.get_event(cal, created.event_id)
        except IntegrationError:
            return created
        return found or created

    async def confirm_with_event(self, link: EventType, host: User, booking: Booking, event: CalendarEvent) -> Booking:
        missing = link.location.kind is LocationKind.TEAMS and not event.join_url
        draft = replace(booking, join_url=event.join_url, join_url_missing=missing, status=BookingStatus.CONFIRMED)
        outbox = announce(  # the host's Teams notice, and the webhook event (scheduling.webhooks)
            OutboxItem(
                "booking.created", link.tenant_id, booking_payload(link, draft, host), f"booking.created:{booking.id}"
            )
        )
        confirmed = await self._bookings.confirm(
            booking.id,
            graph_event_id=event.event_id,
            ical_uid=event.ical_uid,
            join_url=event.join_url,
            join_url_missing=missing,
            outbox=await self.outbox_for(outbox, link, draft),
        )
        self.forget_busy(booking.host_ids)
        if confirmed.status is not BookingStatus.CONFIRMED:
            # Reconciliation released it while Graph was slow: take the event back out.
            await self.cancel_event_quietly(
                host, event.event_id, "This booking could not be completed.", booking=booking
            )
            raise SlotUnavailable("That booking took too long to complete; please pick a time again.")
        if missing and link.fallback_location is not None:
            await self._apply_fallback_location(link, host, confirmed)
        if link.single_use:
            await self._retire_single_use(link)
        return confirmed

    async def _retire_single_use(self, link: EventType) -> None:
        """A one-time link stops being offered once booked (the store already refuses a second one)."""
        current = await self._event_types.get(link.id)
        if current is not None and current.active:
            try:
                await self._event_types.update(replace(current, active=False))
            except Conflict:
                return  # edited concurrently; the store's single-use check still holds

    async def _apply_fallback_location(self, link: EventType, host: User, booking: Booking) -> None:
        assert booking.graph_event_id is not None and link.fallback_location is not None
        try:
            await self._calendar.set_event_location(
                host.calendar_for(booking), booking.graph_event_id, link.fallback_location
            )
        except IntegrationError:
            return  # the host is told the Teams link is missing; the location is a nicety

    async def cancel_event_quietly(
        self, host: User, event_id: str, comment: str, *, booking: Booking | None = None
    ) -> bool:
        """Cancel an event of ``host``'s, in the calendar ``booking``'s event was written to when given."""
        cal = host.calendar_for(booking) if booking is not None else host.host_calendar()
        try:
            await self._calendar.cancel_event(cal, event_id, comment)
        except IntegrationError:
            return False
        return True

    async def outbox_for(self, items: Sequence[OutboxItem], link: EventType, booking: Booking) -> list[OutboxItem]:
        """Everything a change of ``booking`` (as it stands after the change) enqueues: ``items`` and what each of
        :attr:`fan_outs` adds (a team link's members and channel, ``scheduling.teams``), written together."""
        out = list(items)
        for fan_out in self.fan_outs:
            out = await fan_out(out, link, booking)
        return out

    # ------------------------------------------------------------------ manage: find, reschedule, cancel

    async def by_manage_token(self, token: str) -> Booking:
        booking = await self._bookings.get_by_manage_token_hash(hash_token(token)) if token else None
        if booking is None:
            raise NotFound("This manage link is not valid. Check that you copied the whole link.")
        return booking

    async def for_actor(self, booking_id: str, user: User) -> tuple[Booking, Actor]:
        """The booking and the role in which ``user`` (known by tenant id + Entra object id, e.g. from a Teams
        activity) may manage it: ``host`` when they host it in the booking's tenant, ``invitee`` when they
        made it from Teams (the stored tenant + object id; never an email, which people can set). Anyone
        else (an invitee who booked on the web included) uses the manage link: NotFound, the same answer as
        for a booking that does not exist."""
        booking = await self._bookings.get(booking_id)
        if booking is not None:
            if user.id in booking.host_ids and booking.tenant_id == user.tenant_id:
                return booking, "host"
            if (
                booking.invitee_tenant_id
                and booking.invitee_aad_object_id
                and booking.invitee_tenant_id == user.tenant_id
                and booking.invitee_aad_object_id == user.aad_object_id
            ):
                return booking, "invitee"
        raise NotFound("No such booking, or it isn't yours to change.")

    async def for_host(self, host_user_id: str, booking_id: str) -> Booking:
        booking = await self._bookings.get(booking_id)
        if booking is None or host_user_id not in booking.host_ids:
            raise NotFound("No such booking.")
        return booking

    @observed("reschedule")
    async def reschedule(self, booking: Booking, new_start: datetime, actor: Actor) -> Booking:
        if booking.status is not BookingStatus.CONFIRMED:
            raise Conflict("Only a confirmed booking can be moved.")
        check_instant(new_start, self.clock.now(), "start")
        link, organizer = await self.booking_context(booking)
        if (team := self._team(link)) is not None:
            return await team.reschedule(booking, link, new_start, actor)
        host = await self.host_of(link, organizer)
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
            "previousStart": booking.start.isoformat().replace("+00:00", "Z"),
            "by": actor,
        }
        moved = await self._bookings.move(
            booking.id,
            start=new_start,
            end=new_end,
            expected_version=booking.version,
            cap_checks=cap_checks(rules, link.id, new_start),
            outbox=await self.outbox_for(
                announce(
                    OutboxItem(
                        "booking.rescheduled",
                        link.tenant_id,
                        payload,
                        f"booking.rescheduled:{booking.id}:{booking.version + 1}",
                    )
                ),
                link,
                moved_view,
            ),
        )
        await self.sync_calendar(moved)
        self.forget_busy(moved.host_ids)
        return await self._bookings.get(moved.id) or moved

    @observed("cancel")
    async def cancel(self, booking: Booking, reason: str, actor: Actor) -> Booking:
        """Cancel ``booking`` with ``reason`` (trimmed to :data:`MAX_CANCEL_REASON` characters), as ``actor``."""
        if not booking.status.holds_time:
            raise Conflict("This booking is already cancelled.")
        reason = reason.strip()[:MAX_CANCEL_REASON]
        link, host = await self.booking_context(booking)
        payload = booking_payload(
            link, replace(booking, status=BookingStatus.CANCELLED, cancel_reason=reason), host
        ) | {"by": actor}
        cancelled = await self._bookings.cancel(
            booking.id,
            reason=reason,
            expected_version=booking.version,
            outbox=await self.outbox_for(
                announce(OutboxItem("booking.cancelled", link.tenant_id, payload, f"booking.cancelled:{booking.id}")),
                link,
                booking,
            ),
        )
        await self.sync_calendar(cancelled)
        self.forget_busy(cancelled.host_ids)
        return await self._bookings.get(cancelled.id) or cancelled

    # ------------------------------------------------------------------ changes made in Outlook

    async def cancelled_in_outlook(self, booking: Booking) -> Booking | None:
        """The host deleted or cancelled the booking's event in Outlook: cancel the booking (freeing its time)
        and tell the host (outbox ``booking.cancelled`` with ``"by"``/``"source": "outlook"``, once per
        booking). Outlook already says so, so the booking is in sync at once (no cancellation is sent back).

        Only a CONFIRMED booking in sync with its event: anything else is Slotwise's own change on its way to
        Outlook, or over. None when nothing was changed (also when the booking changed meanwhile)."""
        if booking.status is not BookingStatus.CONFIRMED or booking.calendar_sync is not CalendarSync.IN_SYNC:
            return None
        link, host = await self.booking_context(booking)
        reason = f"{host.display_name} cancelled this meeting in Outlook."
        view = replace(booking, status=BookingStatus.CANCELLED, cancel_reason=reason)
        payload = booking_payload(link, view, host) | {"by": "outlook", "source": "outlook"}
        try:
            cancelled = await self._bookings.cancel(
                booking.id,
                reason=reason,
                expected_version=booking.version,
                outbox=await self.outbox_for(
                    announce(
                        OutboxItem("booking.cancelled", link.tenant_id, payload, f"booking.cancelled:{booking.id}")
                    ),
                    link,
                    view,
                ),
            )
        except Conflict:
            return None
        await self._bookings.mark_synced(cancelled.id, cancelled.version)
        self.forget_busy(cancelled.host_ids)
        return await self._bookings.get(cancelled.id) or cancelled

    def fits_rules(self, link: EventType, start: datetime, end: datetime, booked: Sequence[BookedInterval]) -> bool:
        """Whether ``start``-``end`` is a time the link would offer now (duration, hours, window, notice,
        caps, the host's other bookings); Outlook busy time is not considered."""
        minutes = (end - start).total_seconds() / 60
        if minutes != int(minutes) or start.second or start.microsecond:
            return False
        try:
            rules = link.rules.validate()
            return int(minutes) in rules.durations and is_bookable(
                rules, start, now=self.clock.now(), bookings=booked, duration=int(minutes)
            )
        except SchedulingError:
            return False

    async def moved_in_outlook(self, booking: Booking, start: datetime, end: datetime) -> Booking | None:
        """The host moved the booking's event in Outlook: reschedule the booking to ``start``-``end`` and tell
        the host (outbox ``booking.rescheduled``, ``"by"``/``"source": "outlook"``). A time the link would not
        offer is still recorded (the host chose it), with ``"outsideRules": true`` so the host is told.
        Outlook already has the time, so nothing is sent back.

        None when nothing was changed: the booking is not CONFIRMED and in sync, already has these times, or
        changed meanwhile. SlotUnavailable when the new time (with the link's buffers) overlaps another Slotwise
        booking or hold of a host: the database never holds two overlapping reservations of one host, so the
        booking keeps its old time (the caller tells the host: :meth:`outlook_move_refused`)."""
        if (
            booking.status is not BookingStatus.CONFIRMED
            or booking.calendar_sync is not CalendarSync.IN_SYNC
            or (start, end) == (booking.start, booking.end)
            or end <= start
        ):
            return None
        link, host = await self.booking_context(booking)
        booked = await self._booked(link, host, padded(link.rules, start, end), exclude=booking.id)
        fits = self.fits_rules(link, start, end, booked)
        payload = booking_payload(link, replace(booking, start=start, end=end), host) | {
            "previousStart": booking.start.isoformat().replace("+00:00", "Z"),
            "previousEnd": booking.end.isoformat().replace("+00:00", "Z"),
            "by": "outlook",
            "source": "outlook",
            "outsideRules": not fits,
        }
        try:
            moved = await self._bookings.move(
                booking.id,
                start=start,
                end=end,
                expected_version=booking.version,
                outbox=await self.outbox_for(
                    announce(
                        OutboxItem(
                            "booking.rescheduled",
                            link.tenant_id,
                            payload,
                            f"booking.rescheduled:{booking.id}:{booking.version + 1}",
                        )
                    ),
                    link,
                    replace(booking, start=start, end=end),
                ),
            )
        except Conflict:
            return None
        await self._bookings.mark_synced(moved.id, moved.version)
        self.forget_busy(moved.host_ids)
        return await self._bookings.get(moved.id) or moved

    async def outlook_move_refused(self, booking: Booking, start: datetime, end: datetime) -> OutboxItem:
        """The organiser's chat notice that their Outlook move of ``booking`` to ``start``-``end`` was not applied
        (:meth:`moved_in_outlook` raised SlotUnavailable): the time Outlook shows, the booking it overlaps (when
        one is found; its title and invitee only when the organiser hosts it too), and that Slotwise still holds
        the old time. Its dedupe key names the booking, its version and the new time: told once per such move,
        however many delta rounds see it again."""
        link, host = await self.booking_context(booking)
        wanted = padded(link.rules, start, end)
        other = await self._overlapping(booking, wanted)
        conflict: dict[str, object] = {}
        if other is not None:
            found, other_link, holder = other
            mine = booking.organizer_id in found.host_ids
            conflict = {
                "bookingId": found.id if mine else "",
                "title": other_link.title if mine and other_link is not None else "",
                "inviteeName": found.invitee.name if mine else "",
                "hostName": holder.display_name if holder is not None and not mine else "",
                "start": iso_z(found.start),
                "end": iso_z(found.end),
            }
        payload = booking_payload(link, booking, host) | {
            "by": "outlook",
            "source": "outlook",
            "version": booking.version,
            "requestedStart": iso_z(start),
            "requestedEnd": iso_z(end),
            "conflict": conflict,
        }
        key = f"{OUTLOOK_MOVE_REFUSED}:{booking.id}:{booking.version}:{iso_z(start)}:{iso_z(end)}"
        return OutboxItem(OUTLOOK_MOVE_REFUSED, link.tenant_id, payload, key)

    async def _overlapping(
        self, booking: Booking, wanted: Interval
    ) -> tuple[Booking, EventType | None, User | None] | None:
        """Another booking of one of ``booking``'s hosts whose padded interval overlaps ``wanted``, its link and
        that host (None: only a hold, or nothing found)."""
        links: dict[str, EventType | None] = {}
        for host_id in booking.host_ids:
            candidates = await self._bookings.upcoming_for_host(
                booking.tenant_id, host_id, wanted.start - _DAY, limit=50
            )
            for other in candidates:
                if other.id == booking.id or other.start >= wanted.end + _DAY:
                    continue
                if other.event_type_id not in links:
                    links[other.event_type_id] = await self._event_types.get(other.event_type_id)
                other_link = links[other.event_type_id]
                around = (
                    padded(other_link.rules, other.start, other.end)
                    if other_link is not None
                    else Interval(other.start, other.end)
                )
                if around.overlaps(wanted):
                    return other, other_link, await self._users.get(host_id)
        return None

    async def sync_calendar(self, booking: Booking) -> bool:
        """Bring the Outlook event in line with a moved or cancelled booking. False: left for later."""
        if booking.calendar_sync is CalendarSync.IN_SYNC or booking.graph_event_id is None:
            return True
        try:
            _link, host = await self.booking_context(booking)
        except NotFound:
            return False
        cal = host.calendar_for(booking)  # where the event was written, whatever the host writes to now
        try:
            if booking.calendar_sync is CalendarSync.UPDATE_PENDING:
                await self._calendar.move_event(cal, booking.graph_event_id, booking.start, booking.end, host.time_zone)
            else:
                reason = booking.cancel_reason or "This meeting was cancelled."
                await self._calendar.cancel_event(cal, booking.graph_event_id, reason)
        except IntegrationError:
            return False
        await self._bookings.mark_synced(booking.id, booking.version)
        return True
