"""The REST API's use cases: what an API key may do, decided here for every endpoint (``web.api`` only reads
requests and writes answers).

Every method takes the :class:`~scheduling.api_keys.ApiPrincipal` acting and goes through the same use cases as the
bot and the booking pages: links through :class:`~scheduling.links.LinkService` (its owner check: a link that is
not the principal's is NotFound), slots and bookings through :class:`~scheduling.booking.BookingService` (a booking
is the principal's when they host it: ``for_host``; booking on a link needs the link to be theirs; idempotency keys
live in the API key's own namespace, ``Caller.api``), webhook subscriptions through
:class:`~scheduling.webhooks.WebhookService` (the subscription's owner). Anyone else's resource is answered exactly
like one that does not exist.

Links: a change is checked whole (every problem at once, :func:`scheduling.links.link_problems`, the rules of the
settings card) before anything is saved. A link may have an expiry (``expires_at``, e.g. a single-use link that
must be used by Friday): it is switched off then by :meth:`ApiService.expire_due`, a background pass.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from scheduling.api_keys import ApiKeyService, ApiPrincipal
from scheduling.booking import BookingOutcome, BookingService, booking_payload
from scheduling.domain import Booking, BookingStatus, EventType, LinkKind, User
from scheduling.errors import Conflict, InvalidQuery, NotFound, ValidationFailed
from scheduling.intervals import Interval
from scheduling.invitee import InviteeForm
from scheduling.links import LinkService, availability_from_mailbox, default_title, link_problems
from scheduling.ports import Clock, Location
from scheduling.ratelimit import RateDecision, RateLimit, RateLimitService
from scheduling.reach import instant_problem
from scheduling.resources import booking_resource, link_resource
from scheduling.rules import Availability, BookingWindow, BusyStatus, DayRanges, EventRules
from scheduling.slots import Slot
from scheduling.webhooks import WebhookService

if TYPE_CHECKING:
    from scheduling.stores import BookingQueries, EventTypeStore, LinkExpiryStore

MAX_PAGE = 100
Context = tuple[EventType, User]  # a booking's link and host (BookingService.booking_context)
DEFAULT_PAGE = 25
DEFAULT_DURATION = 30
DEFAULT_NOTICE = 4 * 60
DEFAULT_WINDOW_DAYS = 60
EXPIRIES_PER_PASS = 100


@dataclass(frozen=True, slots=True)
class LinkChanges:
    """What an API request sets on a link; a field left None keeps its value (or takes the default on create).
    ``clear`` names the fields set to "nothing" (``slot_interval``: automatic; ``daily_cap``/``weekly_cap``: no
    limit; ``expires_at``: no expiry)."""

    title: str | None = None
    description: str | None = None
    durations: tuple[int, ...] | None = None
    time_zone: str | None = None
    weekly_hours: Mapping[int, DayRanges] | None = None  # by weekday (0 = Monday); a day not given is off
    date_overrides: Mapping[Any, DayRanges] | None = None  # by date
    slot_interval: int | None = None
    buffer_before: int | None = None
    buffer_after: int | None = None
    minimum_notice: int | None = None
    booking_window: BookingWindow | None = None
    daily_cap: int | None = None
    weekly_cap: int | None = None
    blocking_statuses: frozenset[BusyStatus] | None = None
    location: Location | None = None
    single_use: bool | None = None
    active: bool | None = None
    expires_at: datetime | None = None
    clear: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class BookingFilter:
    event_type_id: str | None = None
    statuses: tuple[BookingStatus, ...] = ()
    start_from: datetime | None = None
    start_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(start: datetime, booking_id: str) -> str:
    return base64.urlsafe_b64encode(f"{start.isoformat()}|{booking_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """A cursor of :func:`encode_cursor`; InvalidQuery naming ``cursor`` when it is not one."""
    problem = InvalidQuery("cursor", "This cursor is not one this API gave out; start again without it.")
    if len(cursor) > 300:
        raise problem
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        start_text, booking_id = text.split("|", 1)
        start = datetime.fromisoformat(start_text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise problem from None
    if start.tzinfo is None or not booking_id or len(booking_id) > 100:
        raise problem
    return start, booking_id


def _rules(current: EventRules, c: LinkChanges) -> EventRules:
    availability = current.availability
    if c.time_zone is not None or c.weekly_hours is not None or c.date_overrides is not None:
        weekly = (
            tuple(c.weekly_hours.get(day, ()) for day in range(7))
            if c.weekly_hours is not None
            else availability.weekly
        )
        availability = Availability(
            c.time_zone if c.time_zone is not None else availability.time_zone,
            weekly,  # type: ignore[arg-type]
            dict(c.date_overrides) if c.date_overrides is not None else availability.overrides,
        )

    def pick(name: str, value: Any) -> Any:
        if name in c.clear:
            return None
        return getattr(current, name) if value is None else value

    return replace(
        current,
        durations=c.durations if c.durations is not None else current.durations,
        availability=availability,
        slot_interval=pick("slot_interval", c.slot_interval),
        buffer_before=pick("buffer_before", c.buffer_before),
        buffer_after=pick("buffer_after", c.buffer_after),
        minimum_notice=pick("minimum_notice", c.minimum_notice),
        window=c.booking_window if c.booking_window is not None else current.window,
        daily_cap=pick("daily_cap", c.daily_cap),
        weekly_cap=pick("weekly_cap", c.weekly_cap),
        blocking_statuses=c.blocking_statuses if c.blocking_statuses is not None else current.blocking_statuses,
    )


def _applied(current: EventType, c: LinkChanges) -> EventType:
    return replace(
        current,
        title=" ".join(c.title.split()) if c.title is not None else current.title,
        description=c.description.strip() if c.description is not None else current.description,
        rules=_rules(current.rules, c),
        location=c.location if c.location is not None else current.location,
        single_use=c.single_use if c.single_use is not None else current.single_use,
        active=c.active if c.active is not None else current.active,
    )


class ApiService:
    def __init__(
        self,
        *,
        keys: ApiKeyService,
        limits: RateLimitService,
        rate: RateLimit,
        links: LinkService,
        booking: BookingService,
        webhooks: WebhookService,
        queries: BookingQueries,
        expiries: LinkExpiryStore,
        event_types: EventTypeStore,
        clock: Clock,
        base_url: str,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.keys = keys
        self.webhooks = webhooks
        self.rate = rate
        self.clock = clock
        self.base_url = base_url
        self._limits = limits
        self._links = links
        self._booking = booking
        self._queries = queries
        self._expiries = expiries
        self._event_types = event_types
        self._new_id = new_id

    async def principal(self, token: str) -> tuple[ApiPrincipal, RateDecision]:
        """Who is acting with this key (InvalidApiKey), counted against the key's rate limit (RateLimited)."""
        principal = await self.keys.authenticate(token)
        decision = await self._limits.check(self.rate, principal.key_id)
        return principal, decision

    # -------------------------------------------------------------- event types

    async def event_types(self, p: ApiPrincipal) -> list[dict[str, Any]]:
        links = await self._links.list(p.user)
        expiries = await self._expiries.expiries([link.id for link in links])
        return [link_resource(link, p.user, self.base_url, expiries.get(link.id)) for link in links]

    async def event_type(self, p: ApiPrincipal, link_id: str) -> dict[str, Any]:
        link = await self._links.get(p.user, link_id)
        return link_resource(link, p.user, self.base_url, (await self._expiries.expiries([link.id])).get(link.id))

    def _expiry_problem(self, c: LinkChanges) -> dict[str, str]:
        if c.expires_at is None or "expires_at" in c.clear:
            return {}
        now = self.clock.now()
        if c.expires_at <= now:
            return {"expires_at": "The expiry must be in the future."}
        problem = instant_problem(c.expires_at, now, "The expiry")
        return {"expires_at": problem} if problem else {}

    async def create_event_type(self, p: ApiPrincipal, c: LinkChanges, problems: Mapping[str, str]) -> dict[str, Any]:
        """A new personal link from ``c`` over the defaults a link made in chat gets (the host's Outlook zone and
        hours, 30 minutes, 4 hours' notice, 60 days ahead). ``problems``: what the adapter already found wrong with
        the request's shape (reported with the rules' verdict, all at once)."""
        user = p.user
        defaults = await self._links.mailbox_defaults(user)
        duration = c.durations[0] if c.durations else DEFAULT_DURATION
        base = EventType(
            id=self._new_id(),
            tenant_id=user.tenant_id,
            slug="",
            title=default_title(duration) if not (c.title or "").strip() else "",
            rules=EventRules(
                durations=(duration,),
                availability=availability_from_mailbox(defaults),
                minimum_notice=DEFAULT_NOTICE,
                window=BookingWindow(rolling_days=DEFAULT_WINDOW_DAYS),
            ),
            owner_user_id=user.id,
            kind=LinkKind.SINGLE_HOST,
        )
        draft = _applied(base, c)
        found = {**link_problems(draft), **self._expiry_problem(c), **problems}
        if found:
            raise ValidationFailed(found)
        if c.expires_at is not None:
            await self._expiries.set_expiry(draft.id, c.expires_at)  # before the link: it never lives without it
        created = await self._links.create_from(user, draft)
        return link_resource(created, user, self.base_url, c.expires_at)

    async def update_event_type(
        self,
        p: ApiPrincipal,
        link_id: str,
        c: LinkChanges,
        problems: Mapping[str, str],
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        """Change what ``c`` sets on one of the principal's links: every problem at once, nothing saved unless the
        whole result is fine; Conflict when ``expected_version`` is given and the link changed since."""
        current = await self._links.get(p.user, link_id)
        if expected_version is not None and expected_version != current.version:
            raise Conflict("This link was changed since you read it (its version differs). Read it again.")
        edited = _applied(current, c)
        expiry = (await self._expiries.expiries([current.id])).get(current.id)
        new_expiry = None if "expires_at" in c.clear else c.expires_at or expiry
        found = {**link_problems(edited), **self._expiry_problem(c), **problems}
        if edited.active and new_expiry is not None and new_expiry <= self.clock.now() and "expires_at" not in found:
            found["active"] = "This link has expired; set a later expiresAt (or none) to switch it on again."
        if found:
            raise ValidationFailed(found)
        saved = await self._links.update(p.user, edited) if edited != current else current
        if new_expiry != expiry:
            await self._expiries.set_expiry(saved.id, new_expiry)
        return link_resource(saved, p.user, self.base_url, new_expiry)

    async def delete_event_type(self, p: ApiPrincipal, link_id: str) -> None:
        await self._links.delete(p.user, link_id)
        await self._expiries.set_expiry(link_id, None)

    async def slots(
        self, p: ApiPrincipal, link_id: str, window: Interval, duration: int | None
    ) -> tuple[int, list[Slot]]:
        """The link's bookable slots in ``window`` (the length they have, and the slots), as the booking page
        offers them."""
        link = await self._links.get(p.user, link_id)
        found = await self._booking.slots(link, window, duration, owner=p.user)
        return duration or link.rules.duration, found

    async def expire_due(self) -> int:
        """Switch off the links whose expiry has passed (a background pass); how many were switched off."""
        now = self.clock.now()
        done = 0
        for link_id in await self._expiries.due_expiries(now, EXPIRIES_PER_PASS):
            link = await self._event_types.get(link_id)
            if link is not None and link.active:
                try:
                    await self._event_types.update(replace(link, active=False))
                except Conflict:
                    continue  # edited at this moment: the next pass switches it off
                done += 1
            await self._expiries.expired(link_id, now)
        return done

    # -------------------------------------------------------------- bookings

    async def _booking_resource(
        self, booking: Booking, user: User, contexts: dict[tuple[str, str], Context | None] | None = None
    ) -> dict[str, Any]:
        """The booking as the API shows it; ``contexts`` remembers each (link, host) already read for a page."""
        contexts = {} if contexts is None else contexts
        key = (booking.event_type_id, booking.organizer_id)
        if key not in contexts:
            try:
                contexts[key] = await self._booking.booking_context(booking)
            except NotFound:
                contexts[key] = None
        context = contexts[key]  # None: its link was deleted; the booking stays, with what it says itself
        link, host = context if context is not None else (None, user if user.id == booking.organizer_id else None)
        return booking_resource(booking_payload(link, booking, host))

    async def book(
        self,
        p: ApiPrincipal,
        link_id: str,
        start: datetime,
        form: InviteeForm,
        *,
        duration: int | None,
        idempotency_key: str,
    ) -> tuple[BookingOutcome, dict[str, Any]]:
        """Book on one of the principal's links (BookingService.book, with the key in this API key's namespace)."""
        link = await self._links.get(p.user, link_id)
        outcome = await self._booking.book(
            link, start, form, caller=p.caller, duration=duration, idempotency_key=idempotency_key
        )
        return outcome, await self._booking_resource(outcome.booking, p.user)

    async def booking_link(self, p: ApiPrincipal, link_id: str) -> EventType:
        """One of the principal's links (to read a booking request against its questions and lengths)."""
        return await self._links.get(p.user, link_id)

    async def booking(self, p: ApiPrincipal, booking_id: str) -> dict[str, Any]:
        booking = await self._booking.for_host(p.user.id, booking_id)
        return await self._booking_resource(booking, p.user)

    async def bookings(
        self, p: ApiPrincipal, wanted: BookingFilter, cursor: str | None, limit: int = DEFAULT_PAGE
    ) -> Page:
        """The bookings the principal hosts, by start (then id), ``limit`` at a time; ``cursor`` continues a
        previous page."""
        limit = max(1, min(limit, MAX_PAGE))
        after = decode_cursor(cursor) if cursor else None
        if wanted.event_type_id is not None:
            await self._links.get(p.user, wanted.event_type_id)  # someone else's link: NotFound, like a missing one
        found = await self._queries.hosted_page(
            p.user.id,
            event_type_id=wanted.event_type_id,
            statuses=[s.value for s in wanted.statuses],
            start_from=wanted.start_from,
            start_before=wanted.start_before,
            after=after,
            limit=limit + 1,
        )
        page, more = found[:limit], len(found) > limit
        contexts: dict[tuple[str, str], Context | None] = {}  # a page's bookings share a few links and hosts
        items = [await self._booking_resource(b, p.user, contexts) for b in page]
        return Page(items, encode_cursor(page[-1].start, page[-1].id) if more and page else None)

    async def reschedule(self, p: ApiPrincipal, booking_id: str, start: datetime) -> dict[str, Any]:
        booking = await self._booking.for_host(p.user.id, booking_id)
        moved = await self._booking.reschedule(booking, start, "host")
        return await self._booking_resource(moved, p.user)

    async def cancel(self, p: ApiPrincipal, booking_id: str, reason: str) -> dict[str, Any]:
        booking = await self._booking.for_host(p.user.id, booking_id)
        cancelled = await self._booking.cancel(booking, reason, "host")
        return await self._booking_resource(cancelled, p.user)
