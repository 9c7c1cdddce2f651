"""The REST API's use cases: what an API key may do, decided here for every endpoint (``web.api`` only reads
requests and writes answers).

Every method takes the :class:`~scheduling.api_keys.ApiPrincipal` acting and goes through the same use cases as the
bot and the booking pages: personal links through :class:`~scheduling.links.LinkService` (its owner check: a link
that is not the principal's is NotFound), team links through :class:`~scheduling.teams.TeamLinkService` (who may
manage one, :func:`~scheduling.teams.may_manage`: away from Teams no roster can be read, so its creator alone),
slots and bookings through :class:`~scheduling.booking.BookingService`, which hands team links to their own use
cases (a booking is the principal's when they host it, ``for_host``, or when it is on a team link they manage,
``TeamLinkService.managed_booking``; booking on a link needs the link to be theirs; idempotency keys live in the
API key's own namespace, ``Caller.api``), webhook subscriptions through :class:`~scheduling.webhooks.WebhookService`
(the subscription's owner). Anyone else's resource, a team link another member made included, is answered exactly
like one that does not exist.

Links: a change is checked whole (every problem at once: :func:`scheduling.links.link_problems`, the rules of the
settings card; for a team link :func:`scheduling.teams.team_link_problems`, those of the team settings card) before
anything is saved. A team link is made in a team whose rotation the principal is in, with them as its first
member. A link may have an expiry (``expires_at``, e.g. a single-use link that must be used by Friday): it is
switched off then by :meth:`ApiService.expire_due`, a background pass.
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
from scheduling.assignment import AssignmentMode, PeriodUnit
from scheduling.booking import BookingOutcome, BookingService, booking_payload
from scheduling.domain import Booking, BookingStatus, EventType, LinkKind, TeamMember, User
from scheduling.errors import Conflict, InvalidQuery, NotFound, ValidationFailed
from scheduling.intervals import Interval
from scheduling.invitee import InviteeForm
from scheduling.links import LinkService, availability_from_mailbox, default_title, link_problems
from scheduling.ports import Clock, Location
from scheduling.ratelimit import RateDecision, RateLimit, RateLimitService
from scheduling.reach import instant_problem
from scheduling.resources import booking_resource, link_resource, team_link_resource
from scheduling.rules import Availability, BookingWindow, BusyStatus, DayRanges, EventRules
from scheduling.slots import Slot
from scheduling.teams import NotAllowed, TeamLinkService, TeamLinkView, team_link_problems
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
    kind: LinkKind | None = None
    clear: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class MemberChanges:
    """What a request sets on one member of a team link's rotation; None keeps a value. ``clear`` names the caps
    set to "no limit" (``daily_cap``, ``weekly_cap``)."""

    user_id: str
    priority: int | None = None
    weight: int | None = None
    daily_cap: int | None = None
    weekly_cap: int | None = None
    clear: frozenset[str] = frozenset()
    remove: bool = False  # out of the team's rotation (as Leave): the other fields are not judged


@dataclass(frozen=True, slots=True)
class TeamChanges:
    """What a request sets in a team link's settings; None keeps a value. ``members``: only those listed change."""

    mode: AssignmentMode | None = None
    period: PeriodUnit | None = None
    announce: bool | None = None
    members: tuple[MemberChanges, ...] = ()


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
        kind=c.kind if c.kind is not None else current.kind,
    )


def _rotation(view: TeamLinkView, team: TeamChanges | None) -> tuple[list[TeamMember], dict[str, str]]:
    """The link's rotation with ``team``'s member changes applied, and what names no member of it (keyed by the
    request's list index, as a malformed entry is). The core judges the values (:func:`team_link_problems`)."""
    wanted = {c.user_id: (i, c) for i, c in enumerate(team.members)} if team is not None else {}
    problems: dict[str, str] = {}
    seen: set[str] = set()
    for i, c in enumerate(team.members if team is not None else ()):
        if c.user_id in seen:
            problems[f"team_settings.members.{i}.user_id"] = "This person is listed twice."
        elif view.member(c.user_id) is None:
            problems[f"team_settings.members.{i}.user_id"] = (
                "This person is not in the link's rotation (people join it from the team link's card in Teams)."
            )
        seen.add(c.user_id)
    members = []
    for m in view.members:
        found = wanted.get(m.user_id)
        if found is None:
            members.append(m.member)
            continue
        c = found[1]
        if c.remove:
            continue
        members.append(
            replace(
                m.member,
                priority=c.priority if c.priority is not None else m.member.priority,
                weight=c.weight if c.weight is not None else m.member.weight,
                daily_cap=_cap(c, "daily_cap", m.member.daily_cap),
                weekly_cap=_cap(c, "weekly_cap", m.member.weekly_cap),
            )
        )
    return members, problems


def _cap(c: MemberChanges, name: str, current: int | None) -> int | None:
    if name in c.clear:
        return None
    value: int | None = getattr(c, name)
    return current if value is None else value


def _member_keys(problems: Mapping[str, str], team: TeamChanges | None) -> dict[str, str]:
    """The core's verdict on a rotation (``members.<user id>.<field>``) keyed as the request named the member
    (``team_settings.members.<index>.<field>``); about a member the request did not name, ``team_settings.members``."""
    index = {c.user_id: i for i, c in enumerate(team.members)} if team is not None else {}
    out: dict[str, str] = {}
    for key, message in problems.items():
        parts = key.split(".")
        if parts[0] != "members":
            out[key] = message
        elif len(parts) == 3 and parts[1] in index:
            out[f"team_settings.members.{index[parts[1]]}.{parts[2]}"] = message
        else:
            out.setdefault("team_settings.members", message)
    return out


NO_LINK = "No such link."
NO_BOOKING = "No such booking."


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
        teams: TeamLinkService | None = None,
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
        self._teams = teams
        self._queries = queries
        self._expiries = expiries
        self._event_types = event_types
        self._new_id = new_id

    async def principal(self, token: str) -> tuple[ApiPrincipal, RateDecision]:
        """Who is acting with this key (InvalidApiKey), counted against the key's rate limit (RateLimited)."""
        principal = await self.keys.authenticate(token)
        decision = await self._limits.check(self.rate, principal.key_id)
        return principal, decision

    # -------------------------------------------------------------- whose links

    async def _managed(self, p: ApiPrincipal, link_id: str) -> TeamLinkView:
        """A team link the principal may manage (the one they made; no roster is read away from Teams); any other
        link is NotFound, worded as for a link that does not exist."""
        if self._teams is None:
            raise NotFound(NO_LINK)
        try:
            return await self._teams.editable(link_id, p.user, owner=None)
        except (NotFound, NotAllowed):
            raise NotFound(NO_LINK) from None

    async def _owned(self, p: ApiPrincipal, link_id: str) -> EventType | TeamLinkView:
        """One of the principal's personal links, or a team link they manage (as its view); NotFound otherwise."""
        try:
            return await self._links.get(p.user, link_id)
        except NotFound:
            return await self._managed(p, link_id)

    async def _link(self, p: ApiPrincipal, link_id: str) -> EventType:
        owned = await self._owned(p, link_id)
        return owned.link if isinstance(owned, TeamLinkView) else owned

    def _resource(self, owned: EventType | TeamLinkView, user: User, expires_at: datetime | None) -> dict[str, Any]:
        if isinstance(owned, TeamLinkView):
            return team_link_resource(owned, self.base_url, expires_at)
        return link_resource(owned, user, self.base_url, expires_at)

    # -------------------------------------------------------------- event types

    async def event_types(self, p: ApiPrincipal) -> list[dict[str, Any]]:
        """The principal's personal links, then the team links they manage."""
        owned: list[EventType | TeamLinkView] = [*await self._links.list(p.user)]
        if self._teams is not None:
            owned += await self._teams.managed_by(p.user)
        ids = [o.link.id if isinstance(o, TeamLinkView) else o.id for o in owned]
        expiries = await self._expiries.expiries(ids)
        return [self._resource(o, p.user, expiries.get(i)) for o, i in zip(owned, ids, strict=True)]

    async def event_type(self, p: ApiPrincipal, link_id: str) -> dict[str, Any]:
        owned = await self._owned(p, link_id)
        link = owned.link if isinstance(owned, TeamLinkView) else owned
        return self._resource(owned, p.user, (await self._expiries.expiries([link.id])).get(link.id))

    def _expiry_problem(self, c: LinkChanges) -> dict[str, str]:
        if c.expires_at is None or "expires_at" in c.clear:
            return {}
        now = self.clock.now()
        if c.expires_at <= now:
            return {"expires_at": "The expiry must be in the future."}
        problem = instant_problem(c.expires_at, now, "The expiry")
        return {"expires_at": problem} if problem else {}

    async def create_event_type(
        self, p: ApiPrincipal, c: LinkChanges, problems: Mapping[str, str], team_id: str | None = None
    ) -> dict[str, Any]:
        """A new link from ``c`` over the defaults a link made in chat gets (the host's Outlook zone and hours, 30
        minutes, 4 hours' notice, 60 days ahead): a personal link, or with ``team_id`` a team link of that team
        (round-robin unless ``c.kind`` says collective) with the principal as its first member; a team whose
        rotation they are not in is NotFound, as one that does not exist. ``problems``: what the adapter already
        found wrong with the request's shape (reported with the rules' verdict, all at once)."""
        user = p.user
        team = None
        if team_id is not None:
            if self._teams is None:
                raise NotFound("No such team.")
            team = await self._teams.team_of_member(team_id, user)
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
            owner_user_id=user.id if team is None else None,
            team_id=team.id if team is not None else None,
            kind=LinkKind.SINGLE_HOST if team is None else LinkKind.ROUND_ROBIN,
        )
        draft = _applied(base, c)
        if team is None:
            found = link_problems(draft)
            if draft.kind is not LinkKind.SINGLE_HOST:
                found["kind"] = "A personal link is single-host: give a teamId for a round-robin or collective link."
        else:
            found = team_link_problems(draft, ())
        found = {**found, **self._expiry_problem(c), **problems}
        if found:
            raise ValidationFailed(found)
        if c.expires_at is not None:
            await self._expiries.set_expiry(draft.id, c.expires_at)  # before the link: it never lives without it
        if team is not None and self._teams is not None:
            view = await self._teams.create_from(user, team, draft)
            return team_link_resource(view, self.base_url, c.expires_at)
        created = await self._links.create_from(user, draft)
        return link_resource(created, user, self.base_url, c.expires_at)

    async def update_event_type(
        self,
        p: ApiPrincipal,
        link_id: str,
        c: LinkChanges,
        problems: Mapping[str, str],
        expected_version: int | None = None,
        team: TeamChanges | None = None,
    ) -> dict[str, Any]:
        """Change what ``c`` (and for a team link ``team``) sets on one of the principal's links: every problem at
        once, nothing saved unless the whole result is fine; Conflict when ``expected_version`` is given and the
        link changed since."""
        owned = await self._owned(p, link_id)
        view = owned if isinstance(owned, TeamLinkView) else None
        current = owned.link if isinstance(owned, TeamLinkView) else owned
        if expected_version is not None and expected_version != current.version:
            raise Conflict("This link was changed since you read it (its version differs). Read it again.")
        edited = _applied(current, c)
        expiry = (await self._expiries.expiries([current.id])).get(current.id)
        new_expiry = None if "expires_at" in c.clear else c.expires_at or expiry
        members: list[TeamMember] = []
        if view is None:
            found = link_problems(edited)
            if edited.kind is not LinkKind.SINGLE_HOST:
                found["kind"] = "A personal link stays single-host (team links are made in a team)."
            if team is not None:
                found["team_settings"] = "Only team links have team settings."
        else:
            members, unknown = _rotation(view, team)
            found = {**_member_keys(team_link_problems(edited, members), team), **unknown}
        found = {**found, **self._expiry_problem(c), **problems}
        if edited.active and new_expiry is not None and new_expiry <= self.clock.now() and "expires_at" not in found:
            found["active"] = "This link has expired; set a later expiresAt (or none) to switch it on again."
        if found:
            raise ValidationFailed(found)
        if view is None:
            saved = await self._links.update(p.user, edited) if edited != current else current
            resource = link_resource(saved, p.user, self.base_url, new_expiry)
        else:
            saved_view = await self._save_team(p, view, edited, members, team)
            resource = team_link_resource(saved_view, self.base_url, new_expiry)
        if new_expiry != expiry:
            await self._expiries.set_expiry(current.id, new_expiry)
        return resource

    async def _save_team(
        self,
        p: ApiPrincipal,
        view: TeamLinkView,
        edited: EventType,
        members: list[TeamMember],
        team: TeamChanges | None,
    ) -> TeamLinkView:
        """Save a team link's checked changes through the team settings' use case (nothing when nothing changes)."""
        settings = view.settings
        mode = team.mode if team is not None and team.mode is not None else settings.mode
        period = team.period if team is not None and team.period is not None else settings.period
        announce = team.announce if team is not None and team.announce is not None else settings.announce
        remove = {c.user_id for c in team.members if c.remove} if team is not None else set()
        unchanged = (
            edited == view.link
            and (mode, period, announce) == (settings.mode, settings.period, settings.announce)
            and members == [m.member for m in view.members]
            and not remove
        )
        if unchanged or self._teams is None:
            return view
        try:
            return await self._teams.save_settings(
                view.link.id,
                p.user,
                owner=None,
                version=view.link.version,
                edited=edited,
                mode=mode,
                period=period,
                announce=announce,
                members=members,
                remove=remove,
            )
        except NotAllowed:
            raise NotFound(NO_LINK) from None

    async def delete_event_type(self, p: ApiPrincipal, link_id: str) -> None:
        owned = await self._owned(p, link_id)
        if isinstance(owned, TeamLinkView):
            if self._teams is None:
                raise NotFound(NO_LINK)
            try:
                await self._teams.delete(owned.link.id, p.user, owner=None)
            except NotAllowed:
                raise NotFound(NO_LINK) from None
        else:
            await self._links.delete(p.user, link_id)
        await self._expiries.set_expiry(link_id, None)

    async def slots(
        self, p: ApiPrincipal, link_id: str, window: Interval, duration: int | None
    ) -> tuple[int, list[Slot]]:
        """The link's bookable slots in ``window`` (the length they have, and the slots), as the booking page
        offers them (a team link's: where its rotation is free)."""
        link = await self._link(p, link_id)
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

    async def _booking_resources(self, bookings: list[Booking], user: User) -> list[dict[str, Any]]:
        """The bookings as the API shows them: each (link, host) read once for them all, and the other hosts of
        collective bookings in one read."""
        contexts: dict[tuple[str, str], Context | None] = {}
        for booking in bookings:
            key = (booking.event_type_id, booking.organizer_id)
            if key not in contexts:
                try:
                    contexts[key] = await self._booking.booking_context(booking)
                except NotFound:
                    contexts[key] = None  # its link was deleted; the booking stays, with what it says itself
        others = [h for b in bookings for h in b.host_ids[1:]]
        people = dict(await self._teams.people(others)) if others and self._teams is not None else {}
        out = []
        for booking in bookings:
            context = contexts[(booking.event_type_id, booking.organizer_id)]
            link, host = context if context is not None else (None, user if user.id == booking.organizer_id else None)
            if host is not None:
                people[host.id] = host
            hosts = [people[h] for h in booking.host_ids if h in people]
            out.append(booking_resource(booking_payload(link, booking, host), hosts))
        return out

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
        """Book on one of the principal's links, or a team link they manage (BookingService.book, which hands a
        team link to its own use case, with the key in this API key's namespace). The answer needs no read after
        the booking: its hosts are the ones the use case assigned."""
        link = await self._link(p, link_id)
        outcome = await self._booking.book(
            link, start, form, caller=p.caller, duration=duration, idempotency_key=idempotency_key
        )
        hosts = list(outcome.hosts) if outcome.hosts else [p.user] if link.owner_user_id == p.user.id else []
        organiser = hosts[0] if hosts and hosts[0].id == outcome.booking.organizer_id else None
        return outcome, booking_resource(booking_payload(link, outcome.booking, organiser), hosts)

    async def booking_link(self, p: ApiPrincipal, link_id: str) -> EventType:
        """One of the principal's links, or a team link they manage (to read a booking request against its questions
        and lengths)."""
        return await self._link(p, link_id)

    async def _booking_of(self, p: ApiPrincipal, booking_id: str) -> Booking:
        """A booking the principal hosts, or one on a team link they manage (whoever hosts it); NotFound otherwise."""
        try:
            return await self._booking.for_host(p.user.id, booking_id)
        except NotFound:
            teams = self._teams
        try:
            if teams is None:
                raise NotFound(NO_BOOKING)
            return await teams.managed_booking(booking_id, p.user, owner=None)
        except (NotFound, NotAllowed):
            raise NotFound(NO_BOOKING) from None

    async def booking(self, p: ApiPrincipal, booking_id: str) -> dict[str, Any]:
        booking = await self._booking_of(p, booking_id)
        return (await self._booking_resources([booking], p.user))[0]

    async def bookings(
        self, p: ApiPrincipal, wanted: BookingFilter, cursor: str | None, limit: int = DEFAULT_PAGE
    ) -> Page:
        """The bookings the principal hosts and those of the team links they manage, by start (then id), ``limit``
        at a time; ``cursor`` continues a previous page."""
        limit = max(1, min(limit, MAX_PAGE))
        after = decode_cursor(cursor) if cursor else None
        if wanted.event_type_id is not None:
            await self._owned(p, wanted.event_type_id)  # someone else's link: NotFound, like a missing one
        managed = await self._teams.managed_by(p.user) if self._teams is not None else []
        found = await self._queries.hosted_page(
            p.user.id,
            event_type_id=wanted.event_type_id,
            statuses=[s.value for s in wanted.statuses],
            start_from=wanted.start_from,
            start_before=wanted.start_before,
            after=after,
            limit=limit + 1,
            event_type_ids=[v.link.id for v in managed],
        )
        page, more = found[:limit], len(found) > limit
        items = await self._booking_resources(page, p.user)  # a page's bookings share a few links and hosts
        return Page(items, encode_cursor(page[-1].start, page[-1].id) if more and page else None)

    async def reschedule(self, p: ApiPrincipal, booking_id: str, start: datetime) -> dict[str, Any]:
        """Move the booking (BookingService.reschedule: a team booking keeps its member, as on the manage page)."""
        booking = await self._booking_of(p, booking_id)
        moved = await self._booking.reschedule(booking, start, "host")
        return (await self._booking_resources([moved], p.user))[0]

    async def cancel(self, p: ApiPrincipal, booking_id: str, reason: str) -> dict[str, Any]:
        booking = await self._booking_of(p, booking_id)
        cancelled = await self._booking.cancel(booking, reason, "host")
        return (await self._booking_resources([cancelled], p.user))[0]
