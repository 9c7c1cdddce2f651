"""Team links: round-robin and collective booking links of a Teams team (or group chat), as use cases.

The model:

* A **team** is the Teams team (or group chat) a team link was made in (``Team.external_id``: the Teams
  team id, or the group chat's conversation id, unique per tenant). Its **members** are the people in the
  rotation of *every* link the team has: **Join** adds the person who pressed it, **Leave** takes them out
  (their bookings stay theirs; their row is kept, so the span they were away is remembered when they come
  back and fair assignment calibrates them like someone back from out-of-office).
* A **team link** (an :class:`~scheduling.domain.EventType` with ``team_id`` and kind round-robin or
  collective) has its own rules (the personal link's rules, in the link's zone) and
  :class:`TeamLinkSettings`: who made it, the assignment mode and fairness period, whether bookings are
  announced in the channel, and where its card is (so announcements reply in its thread).
* **Who may change it**: :func:`may_manage`: the link's creator and the team's owners (the adapter reads the
  owner role from the Teams roster and passes ``owner``; None when the roster can't be read: then the
  creator alone). Anyone else gets :class:`NotAllowed` ("Only … can change this"). Away from Teams (the REST
  API) no roster can be read: a person manages the team links they made (:meth:`TeamLinkService.managed_by`),
  and their bookings whoever hosts them, and makes team links only in a team whose rotation they are in
  (:meth:`TeamLinkService.team_of_member`).

Availability (:meth:`TeamLinkService.slots`): every active member is computed with the link's rules and
their own caps (``scheduling.team``). Busy time comes from the database busy cache where it serves, and for
the rest from **one** ``busy_many`` (one Graph ``getSchedule`` of up to 20 members, made with the first
connected member's delegated token), kept for showing slots like a single host's view
(:class:`GroupBusyCache`). A member who is not connected, or whose schedule comes back with an error, is
left out (never free); the link's creator is told once a day which members could not be read
(``team.unreadable``). Collective links offer nothing while any member can't be read.

Booking (:meth:`TeamLinkService.book`), the same pipeline as a personal link's (``scheduling.booking``):

* round-robin: every member's free/busy for the padded slot is read fresh (one ``busy_many``, which also reaches
  back to the fairness period's first booking: the stretches a member was out of office in Outlook are time
  away, calibrated like time out of the rotation), the members free for the slot are ordered by
  :func:`~scheduling.assignment.assignment_order` (priority tier, fair share by weight over the period with
  calibration, least recently booked); the first candidate's calendar is read
  once more, live, and the slot is reserved for them in the database (the store refuses a member who is
  booked meanwhile, or over a cap); on any refusal the next candidate is tried;
* collective: every member must be free; one Outlook event in the organiser's calendar (the link's creator
  when a member, else the first member by priority) with every other member and the invitee as required
  attendees and one Teams meeting, reserved for every member in one transaction.

Rescheduling keeps the booking with its member (:func:`~scheduling.assignment.reschedule_order`): a time
their calendar or bookings rule out is refused with the times they are free. Announcements and the
members' notices are outbox items added to each booking change (:meth:`TeamLinkService.fan_out`).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from scheduling.assignment import (
    AssignmentMode,
    PastAssignment,
    PeriodUnit,
    assignment_order,
    calibration_start,
    member_problems,
    out_of_office,
    period_containing,
    reschedule_order,
)
from scheduling.booking import (
    MAX_QUERY_DAYS,
    VIEW_READ_SPAN,
    Actor,
    BookingOutcome,
    BookingService,
    booking_payload,
    check_replay,
    hash_token,
    padded,
    without_own_event,
)
from scheduling.connect import CalendarSyncHooks, ConnectionService
from scheduling.domain import (
    Booking,
    BookingStatus,
    Caller,
    CapCheck,
    ConnectionStatus,
    EventType,
    LinkKind,
    OutboxItem,
    Team,
    TeamMember,
    User,
)
from scheduling.errors import (
    Conflict,
    IntegrationError,
    InvalidQuery,
    InvalidRule,
    LinkInactive,
    NotFound,
    SchedulingError,
    SlotUnavailable,
    ValidationFailed,
)
from scheduling.intervals import Interval
from scheduling.invitee import InviteeForm
from scheduling.links import (
    DEFAULT_NOTICE_MINUTES,
    DEFAULT_WINDOW_DAYS,
    LinkService,
    NewLink,
    availability_from_mailbox,
    default_title,
    link_created,
    link_problems,
    slugify,
    title_problem,
)
from scheduling.localtime import from_epoch, wall_to_epoch
from scheduling.ports import Attendee, BusyResult, CalendarPort, Clock, EventDraft
from scheduling.reach import bounded_window
from scheduling.rules import BookingWindow, EventRules, duration_problem
from scheduling.slots import Slot, resolve_duration, tighter_cap
from scheduling.stores import BookingStore, EventTypeStore, OutboxStore, UserStore
from scheduling.team import TeamMember as MemberView
from scheduling.team import collective_slots, members_free_at, round_robin_slots
from scheduling.webhooks import announce

TEAM_KINDS = (LinkKind.ROUND_ROBIN, LinkKind.COLLECTIVE)
BOOKING_KINDS = frozenset({"booking.created", "booking.rescheduled", "booking.cancelled"})
ANNOUNCEMENT = "team.announcement"  # a booking change told in the channel, in the thread of the link's card
UNREADABLE = "team.unreadable"  # the link's creator is told which members could not be read (once a day)
MAX_TEAM_NAME = 100
#: The most people a team's rotation holds: everyone's free/busy in one Graph getSchedule (20 schedules).
MAX_MEMBERS = 20
ALTERNATIVES_HORIZON = timedelta(days=14)


class NotAllowed(SchedulingError):
    """The person may not change this team link (only its creator and the team's owners may)."""

    code = "not_allowed"


@dataclass(frozen=True, slots=True)
class TeamLinkSettings:
    """What a team link has besides its rules. ``thread``: the conversation reference of the channel thread (or
    group chat) its card was posted in, where announcements go; ``card_activity_id``: that card's message id."""

    event_type_id: str
    created_by: str | None = None
    mode: AssignmentMode = AssignmentMode.FAIR
    period: PeriodUnit = PeriodUnit.MONTH
    announce: bool = True
    thread: Mapping[str, object] | None = None
    card_activity_id: str = ""


@dataclass(frozen=True, slots=True)
class Member:
    """A member of the rotation: their rotation settings, who they are, and the spans they were away."""

    member: TeamMember
    user: User
    away: tuple[Interval, ...] = ()

    @property
    def user_id(self) -> str:
        return self.user.id

    @property
    def connected(self) -> bool:
        return self.user.connection_status is ConnectionStatus.CONNECTED


@dataclass(frozen=True, slots=True)
class TeamLinkView:
    """A team link as a card or page shows it: the link, its team and settings, the rotation, its creator."""

    link: EventType
    team: Team
    settings: TeamLinkSettings
    members: tuple[Member, ...]
    creator: User | None = None

    def member(self, user_id: str) -> Member | None:
        return next((m for m in self.members if m.user.id == user_id), None)

    @property
    def waiting(self) -> tuple[Member, ...]:
        """Members whose Outlook is not connected yet (left out of every view until they connect)."""
        return tuple(m for m in self.members if not m.connected)

    @property
    def managers_without_roster(self) -> tuple[User, ...]:
        """Who manages the link where no Teams roster can be read (the REST API, and so its webhooks):
        :func:`may_manage` with ``owner`` None, its creator while a person of the link's tenant."""
        creator = self.creator
        return (creator,) if creator is not None and may_manage(self, creator, owner=None) else ()


class TeamLinkStore(Protocol):
    """Teams, their rotation and their team links (``storage.teams.SqlTeamStore``)."""

    async def get(self, team_id: str) -> Team | None: ...

    async def get_by_slug(self, slug: str) -> Team | None: ...

    async def get_by_external(self, tenant_id: str, external_id: str) -> Team | None: ...

    async def create_team(self, team: Team) -> Team:
        """Insert a team without members; Conflict when its slug or its Teams team (in that tenant) is taken."""
        ...

    async def roster(self, team_id: str) -> list[Member]:
        """The active members in rotation order, with their users and the spans they were away."""
        ...

    async def join(self, team_id: str, user_id: str, at: datetime) -> bool:
        """Add (or bring back) a member at ``at``; False when they are in the rotation already."""
        ...

    async def leave(self, team_id: str, user_id: str, at: datetime) -> bool:
        """Take a member out at ``at`` (kept for when they come back); False when they were not in it."""
        ...

    async def update_members(self, team_id: str, members: Sequence[TeamMember]) -> None:
        """Save priority, weight and caps of these (active) members."""
        ...

    async def last_booked(self, team_id: str) -> Mapping[str, datetime | None]: ...

    async def create_link(
        self, link: EventType, settings: TeamLinkSettings, outbox: Sequence[OutboxItem] = ()
    ) -> EventType:
        """Insert a team link, its settings and ``outbox`` in one transaction; Conflict when the slug is taken in
        the team (nothing written)."""
        ...

    async def links_created_by(self, tenant_id: str, user_id: str) -> list[EventType]:
        """The team links ``user_id`` made in ``tenant_id``."""
        ...

    async def link_settings(self, event_type_id: str) -> TeamLinkSettings | None: ...

    async def link_view(
        self, event_type_id: str
    ) -> tuple[EventType | None, Team | None, TeamLinkSettings | None, list[Member]]:
        """A team link, its team, settings and rotation in one read; the link None when it is gone (or no team
        link), the team None when it is gone."""
        ...

    async def save_link_settings(self, settings: TeamLinkSettings) -> TeamLinkSettings: ...

    async def team_links(self, team_id: str) -> list[EventType]: ...

    async def assignments(
        self, team_id: str, period: Interval, exclude_booking_id: str | None = None
    ) -> list[PastAssignment]:
        """The team's round-robin bookings holding time that were made in ``period`` (host, creation time)."""
        ...

    async def people(self, user_ids: Sequence[str]) -> Mapping[str, User]: ...


def may_manage(view: TeamLinkView, user: User, *, owner: bool | None) -> bool:
    """The rule: a team link's settings, members and existence are changed by its creator and by the team's
    owners (``owner``: what the Teams roster says about ``user``; None when it can't be read, and then the
    creator alone), always within the link's tenant."""
    if user.tenant_id != view.link.tenant_id:
        return False
    return user.id == view.settings.created_by or owner is True


def team_link_problems(link: EventType, members: Sequence[TeamMember]) -> dict[str, str]:
    """Every problem of a team link and its rotation settings at once, keyed by field: a link's rules
    (:func:`~scheduling.links.link_problems`), its kind, and the members' priority, weight and caps
    (``members.<user id>.<field>``), whoever edits it (the settings card, the REST API)."""
    problems = link_problems(link)
    if link.kind not in TEAM_KINDS:
        problems["kind"] = "A team link is round-robin or collective."
    problems.update(member_problems(members))
    return problems


def _refusal(view: TeamLinkView, owner: bool | None) -> NotAllowed:
    creator = view.creator.display_name if view.creator is not None else ""
    if not creator:
        return NotAllowed("Only the team's owners can change this team link.")
    if owner is None:
        return NotAllowed(f"Only {creator}, who made this team link, can change it.")
    return NotAllowed(f"Only {creator} (who made this team link) or the team's owners can change this.")


def organiser_of(view: TeamLinkView) -> Member | None:
    """Whose calendar a collective booking's event goes in: the link's creator when a member, else the first
    member by priority (then rotation order)."""
    if not view.members:
        return None
    creator = view.member(view.settings.created_by or "")
    if creator is not None:
        return creator
    return sorted(view.members, key=lambda m: -m.member.priority)[0]


def member_cap_checks(rules: EventRules, event_type_id: str, start: datetime, member: TeamMember) -> list[CapCheck]:
    """The day and ISO-week windows (in the link's zone) a booking of ``member`` at ``start`` must fit in: the
    link's caps and the member's own, the stricter, counted over that member's bookings of the link (as the
    slot view counts them)."""
    tz = rules.availability.tz
    day = start.astimezone(tz).date()
    out = []
    daily, weekly = tighter_cap(rules.daily_cap, member.daily_cap), tighter_cap(rules.weekly_cap, member.weekly_cap)
    if daily is not None:
        first = from_epoch(_midnight(day, tz))
        out.append(
            CapCheck(event_type_id, first, from_epoch(_midnight(day + timedelta(days=1), tz)), daily, member.user_id)
        )
    if weekly is not None:
        monday = day - timedelta(days=day.weekday())
        out.append(
            CapCheck(
                event_type_id,
                from_epoch(_midnight(monday, tz)),
                from_epoch(_midnight(monday + timedelta(days=7), tz)),
                weekly,
                member.user_id,
            )
        )
    return out


def _midnight(day: date, tz: ZoneInfo) -> int:
    return wall_to_epoch(day, 0, tz)


# ------------------------------------------------------------------ reading a team's busy time for views


@dataclass(slots=True)
class _GroupRead:
    covered: Interval
    expires: datetime
    results: Mapping[str, BusyResult]


def _clip(results: Mapping[str, BusyResult], window: Interval) -> dict[str, BusyResult]:
    return {
        host: r if isinstance(r, IntegrationError) else [b for b in r if b.start < window.end and window.start < b.end]
        for host, r in results.items()
    }


_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _read_range(window: Interval, horizon: Interval | None) -> Interval:
    """What one read for ``window`` covers: the whole horizon when one call can (so other weeks and zones of
    the same link cost nothing), else ``window``'s whole UTC days."""
    low = _EPOCH + (window.start - _EPOCH) // _DAY * _DAY
    high = _EPOCH + -(-(window.end - _EPOCH) // _DAY) * _DAY
    if horizon is not None and horizon.duration <= VIEW_READ_SPAN:
        return Interval(min(window.start, horizon.start), max(window.end, horizon.end))
    return Interval(low, high)


class GroupBusyCache:
    """Busy time of a group of members read for *showing* slots: one ``busy_many`` per group and stretch of
    time, reused for ``ttl`` by every query inside what it covered, concurrent misses sharing one read (a
    failure reaches every waiter). ``forget`` drops every group holding one of the given members. Nothing is
    booked from it: booking re-reads fresh."""

    def __init__(
        self,
        read: Callable[[Sequence[User], Interval], Awaitable[Mapping[str, BusyResult]]],
        clock: Clock,
        ttl: timedelta,
        max_groups: int = 1024,
    ) -> None:
        self.ttl = ttl
        self._read = read
        self._clock = clock
        self._max = max_groups
        self._kept: dict[tuple[str, ...], _GroupRead] = {}
        self._flights: dict[tuple[str, ...], tuple[Interval, asyncio.Future[_GroupRead]]] = {}
        self._generation = 0

    async def busy(self, hosts: Sequence[User], window: Interval, horizon: Interval | None) -> dict[str, BusyResult]:
        if not hosts:
            return {}
        key = tuple(sorted(h.id for h in hosts))
        kept = self._kept.get(key)
        if kept is not None and kept.expires > self._clock.now() and kept.covered.contains(window):
            return _clip(kept.results, window)
        flight = self._flights.get(key)
        if flight is None or not flight[0].contains(window):
            flight = self._start(key, hosts, _read_range(window, horizon))
        read = await asyncio.shield(flight[1])
        return _clip(read.results, window)

    def _start(
        self, key: tuple[str, ...], hosts: Sequence[User], covered: Interval
    ) -> tuple[Interval, asyncio.Future[_GroupRead]]:
        generation = self._generation

        async def fly() -> _GroupRead:
            results = await self._read(hosts, covered)
            read = _GroupRead(covered, self._clock.now() + self.ttl, results)
            if generation == self._generation:
                if len(self._kept) >= self._max:
                    self._kept.clear()
                self._kept[key] = read
            return read

        future = asyncio.ensure_future(fly())
        entry = (covered, future)
        self._flights[key] = entry

        def landed(done: asyncio.Future[_GroupRead]) -> None:
            if self._flights.get(key) is entry:
                del self._flights[key]
            if not done.cancelled():
                done.exception()

        future.add_done_callback(landed)
        return entry

    def forget(self, host_ids: Iterable[str] | None = None) -> None:
        if host_ids is None:
            self._kept.clear()
        else:
            gone = set(host_ids)
            self._kept = {k: v for k, v in self._kept.items() if not gone.intersection(k)}
        self._flights.clear()
        self._generation += 1


# ------------------------------------------------------------------ the use cases


@dataclass(frozen=True, slots=True)
class _Views:
    """Every member as the availability computation sees them, who could not be read, and (a live read asked to
    look back) the stretches each member was out of office since then."""

    views: list[MemberView]
    unreadable: list[Member] = field(default_factory=list)
    out_of_office: dict[str, tuple[Interval, ...]] = field(default_factory=dict)

    def away(self, members: Iterable[Member]) -> dict[str, tuple[Interval, ...]]:
        """Each member's time away for calibration: out of the rotation (Leave to Join) and out of office."""
        out = {m.user_id: (*m.away, *self.out_of_office.get(m.user_id, ())) for m in members}
        return {user_id: spans for user_id, spans in out.items() if spans}


class TeamLinkService:
    """Team links: the channel's team, create / join / leave / settings / delete, and the booking use cases
    ``BookingService`` hands team links to (slots, book, reschedule). See the module docstring."""

    def __init__(
        self,
        *,
        teams: TeamLinkStore,
        event_types: EventTypeStore,
        bookings: BookingStore,
        users: UserStore,
        outbox: OutboxStore,
        calendar: CalendarPort,
        booking: BookingService,
        links: LinkService,
        clock: Clock,
        connections: ConnectionService | None = None,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        busy_ttl: timedelta = timedelta(seconds=30),
    ) -> None:
        self._teams = teams
        self._event_types = event_types
        self._bookings = bookings
        self._users = users
        self._outbox = outbox
        self._calendar = calendar
        self._booking = booking
        self._links = links
        self.clock = clock
        self._connections = connections
        self._new_id = new_id
        self._viewing = GroupBusyCache(self._read_group, clock, busy_ttl)
        self._told: dict[tuple[str, str], None] = {}

    # ------------------------------------------------------------------ the team of a channel

    async def team_for(
        self, tenant_id: str, external_id: str, name: str, reference: Mapping[str, object] | None = None
    ) -> Team:
        """The Slotwise team of a Teams team (or group chat), made on first use: its name, and a unique slug
        for its links' addresses (``/book/team/{slug}/...``)."""
        if not tenant_id or not external_id:
            raise InvalidRule("team", "Team links are made in a Teams channel or group chat.")
        found = await self._teams.get_by_external(tenant_id, external_id)
        if found is not None:
            return found
        title = " ".join(name.split())[:MAX_TEAM_NAME] or "Team"
        base = slugify(title) or "team"
        for attempt in range(50):
            slug = base if attempt == 0 else f"{base}-{attempt + 1}"
            team = Team(
                id=self._new_id(),
                tenant_id=tenant_id,
                name=title,
                slug=slug,
                conversation_reference=dict(reference) if reference is not None else None,
                external_id=external_id,
            )
            try:
                return await self._teams.create_team(team)
            except Conflict:
                again = await self._teams.get_by_external(tenant_id, external_id)
                if again is not None:  # made at the same moment by another message
                    return again
        raise Conflict("Too many teams have this name; please rename the team and try again.")

    async def links_of(self, tenant_id: str, external_id: str) -> tuple[Team | None, list[EventType]]:
        """The team of a Teams team (or group chat), if it has one, and its team links."""
        team = await self._teams.get_by_external(tenant_id, external_id)
        return team, await self._teams.team_links(team.id) if team is not None else []

    # ------------------------------------------------------------------ create, view, join, leave

    async def create_link(self, creator: User, team: Team, request: NewLink, kind: LinkKind) -> TeamLinkView:
        """A new team link of ``kind`` in ``team`` with the creator's Outlook zone and working hours as its hours;
        the creator joins its rotation."""
        if kind not in TEAM_KINDS:
            raise InvalidRule("kind", "A team link is round-robin or collective.")
        if team.tenant_id != creator.tenant_id:
            raise NotFound("No such team.")
        length_problem = duration_problem(request.duration)
        if length_problem:
            raise InvalidRule("durations", length_problem)
        title = request.title.strip() or default_title(request.duration)
        if (problem := title_problem(title)) is not None:
            raise InvalidRule("title", problem)
        creator = await self._connected(creator)
        defaults = await self._links.mailbox_defaults(creator)
        rules = EventRules(
            durations=(request.duration,),
            availability=availability_from_mailbox(defaults),
            buffer_before=request.buffer_before or 0,
            buffer_after=request.buffer_after or 0,
            minimum_notice=DEFAULT_NOTICE_MINUTES if request.minimum_notice is None else request.minimum_notice,
            window=BookingWindow(
                rolling_days=DEFAULT_WINDOW_DAYS if request.window_days is None else request.window_days
            ),
        ).validate()
        draft = EventType(
            id=self._new_id(), tenant_id=team.tenant_id, slug="", title=title, rules=rules, team_id=team.id, kind=kind
        )
        return await self.create_from(creator, team, draft)

    async def create_from(self, creator: User, team: Team, draft: EventType) -> TeamLinkView:
        """``draft`` (a whole team link of ``team``, e.g. from the REST API) as a new link made by ``creator``: every
        problem at once (ValidationFailed, :func:`team_link_problems`), its slug made from its title and unique in
        the team, announced to webhooks (``link.created``, written to the outbox in the link's own transaction);
        the creator joins its rotation."""
        if creator.tenant_id != team.tenant_id or draft.tenant_id != team.tenant_id or draft.team_id != team.id:
            raise NotFound("No such team.")
        problems = team_link_problems(draft, ())
        if problems:
            raise ValidationFailed(problems)
        creator = await self._connected(creator)
        base = slugify(draft.title) or "meeting"
        if draft.single_use:
            base = f"{base}-{self._new_id()[:8]}"
        for attempt in range(50):
            slug = base if attempt == 0 else f"{base}-{attempt + 1}"
            link = replace(draft, slug=slug, title=draft.title.strip(), owner_user_id=None)
            try:
                created = await self._teams.create_link(
                    link, TeamLinkSettings(link.id, created_by=creator.id), outbox=[link_created(creator, link)]
                )
            except Conflict:
                continue
            await self._teams.join(team.id, creator.id, self.clock.now())
            await self._became_bookable(creator)
            return await self.view(created.id)
        raise Conflict("This team already has many links with this name; please choose another name.")

    async def view(self, link_id: str) -> TeamLinkView:
        """A team link with its team, settings, rotation and creator (one read); NotFound when it is gone."""
        link, team, found, roster = await self._teams.link_view(link_id)
        if link is None or link.team_id is None:
            raise NotFound("This team link no longer exists.")
        if team is None:
            raise NotFound("This team link's team no longer exists.")
        settings = found or TeamLinkSettings(link.id)
        members = tuple(roster)
        creator = None
        if settings.created_by is not None:
            creator = next((m.user for m in members if m.user.id == settings.created_by), None)
            creator = creator or await self._users.get(settings.created_by)
        return TeamLinkView(link, team, settings, members, creator)

    async def view_for(self, link_id: str, user: User) -> TeamLinkView:
        """:meth:`view` for a person of the link's tenant (anyone else: NotFound, as for a link that isn't)."""
        view = await self.view(link_id)
        if view.link.tenant_id != user.tenant_id:
            raise NotFound("This team link no longer exists.")
        return view

    async def join(self, link_id: str, user: User, *, where: str | None = None) -> TeamLinkView:
        """Add ``user`` to the rotation of the link's team (connected silently when that needs nothing from them;
        otherwise they show as waiting to connect until they do). ``where``: the Teams team (or group chat) the
        Join was pressed in; a link id is no capability, so a card forwarded elsewhere can't add anyone: joining
        happens in the team's own conversation (None: not from Teams, e.g. set up by the app)."""
        view = await self.view_for(link_id, user)
        if where is not None and view.team.external_id and where != view.team.external_id:
            raise NotAllowed("Join this team link from its card in the team's channel or chat.")
        if view.member(user.id) is None and len(view.members) >= MAX_MEMBERS:
            raise Conflict(
                f"This team's rotation is full ({MAX_MEMBERS} people, whose calendars are read together). "
                "Someone has to leave before you can join."
            )
        joiner = await self._connected(user)
        await self._teams.join(view.team.id, user.id, self.clock.now())
        self.forget_busy([user.id])
        await self._became_bookable(joiner)
        return await self.view(link_id)

    def _sync_hooks(self) -> CalendarSyncHooks | None:
        """Calendar sync's hooks, reached through the connection service (None: sync is off)."""
        return self._connections.sync if self._connections is not None else None

    async def _became_bookable(self, user: User) -> None:
        """``user`` is now in a rotation: calendar sync queues their subscription if they have none."""
        if (sync := self._sync_hooks()) is not None:
            with contextlib.suppress(IntegrationError):  # (else the subscription job's next pass queues it)
                await sync.host_became_bookable(user)

    async def _connected(self, user: User) -> User:
        """``user``, connected silently when that needs nothing from them (always in sandbox mode)."""
        if user.connection_status is ConnectionStatus.CONNECTED or self._connections is None:
            return user
        return await self._connections.ensure_connected(user) or user

    async def leave(self, link_id: str, user: User) -> TeamLinkView:
        """Take ``user`` out of the rotation (their bookings stay theirs). Their Graph subscription and busy cache
        go too when nothing needs them any more (no active personal link, no other rotation: calendar sync's
        rule, ``scheduling.sync``)."""
        view = await self.view_for(link_id, user)
        left = await self._teams.leave(view.team.id, user.id, self.clock.now())
        self.forget_busy([user.id])
        if left and (sync := self._sync_hooks()) is not None:
            await sync.host_left_rotation(user)  # (a deletion Graph refuses: the subscription expires on its own)
        return await self.view(link_id)

    async def remember_card(self, link_id: str, thread: Mapping[str, object], activity_id: str) -> None:
        """Where the link's card was posted (the channel thread) and its message id."""
        view = await self.view(link_id)
        await self._teams.save_link_settings(replace(view.settings, thread=dict(thread), card_activity_id=activity_id))

    # ------------------------------------------------------------------ settings and deleting (creator and owners)

    def require_manager(self, view: TeamLinkView, user: User, *, owner: bool | None) -> None:
        if not may_manage(view, user, owner=owner):
            raise _refusal(view, owner)

    async def editable(self, link_id: str, user: User, *, owner: bool | None) -> TeamLinkView:
        """The link for its settings card: NotAllowed for anyone but its creator and the team's owners."""
        view = await self.view_for(link_id, user)
        self.require_manager(view, user, owner=owner)
        return view

    async def save_settings(
        self,
        link_id: str,
        user: User,
        *,
        owner: bool | None,
        version: int,
        edited: EventType,
        mode: AssignmentMode,
        period: PeriodUnit,
        announce: bool,
        members: Sequence[TeamMember],
        remove: Collection[str] = (),
    ) -> TeamLinkView:
        """Save a team link's rules, kind, assignment settings and its members' rotation settings, all checked
        at once (ValidationFailed naming every problem, nothing saved); Conflict when the link changed since
        ``version`` was read.

        ``remove``: members taken out of the team's rotation by whoever may change the link (its creator, the
        team's owners), exactly as when they press Leave themselves (:meth:`leave`: their bookings stay theirs,
        and their time out of the rotation is remembered); their other settings are not judged. An id that is
        no longer in the rotation is already out."""
        view = await self.editable(link_id, user, owner=owner)
        if view.link.version != version:
            raise Conflict("This team link was changed in the meantime. Reload it and try again.")
        leaving = [m for m in view.members if m.user_id in set(remove)]
        staying = {m.user_id for m in view.members} - {m.user_id for m in leaving}
        chosen = [m for m in members if m.user_id in staying]
        problems = team_link_problems(edited, chosen)
        if problems:
            raise ValidationFailed(problems)
        saved = await self._event_types.update(
            replace(
                view.link,
                title=edited.title.strip(),
                description=edited.description.strip(),
                rules=edited.rules,
                kind=edited.kind,
                location=edited.location,
                active=edited.active,
                single_use=edited.single_use,
            )
        )
        await self._teams.update_members(view.team.id, chosen)
        for m in leaving:
            await self.leave(view.link.id, m.user)
        await self._teams.save_link_settings(replace(view.settings, mode=mode, period=period, announce=announce))
        self.forget_busy([m.user_id for m in view.members])
        return await self.view(saved.id)

    async def delete(self, link_id: str, user: User, *, owner: bool | None) -> TeamLinkView:
        """Delete a team link (its bookings stay: they are meetings in people's calendars)."""
        view = await self.editable(link_id, user, owner=owner)
        await self._event_types.delete(view.link.tenant_id, view.link.id)
        return view

    # ------------------------------------------------------------------ away from Teams (the REST API)

    async def team_of_member(self, team_id: str, user: User) -> Team:
        """The team ``team_id`` when ``user`` is in its rotation (in its tenant), to make a team link in it away
        from its channel; NotFound otherwise, exactly as for a team that does not exist (a team id is no
        capability: someone who left, or never joined, joins from the team's own conversation)."""
        team = await self._teams.get(team_id)
        if (
            team is None
            or team.tenant_id != user.tenant_id
            or not any(m.user_id == user.id and m.active for m in team.members)
        ):
            raise NotFound("No such team.")
        return team

    async def managed_by(self, user: User, *, owner: bool | None = None) -> list[TeamLinkView]:
        """The team links ``user`` may manage (:func:`may_manage`) among those they made, oldest first; with
        ``owner`` None (no roster to ask, as away from Teams) that is every team link they made."""
        out = []
        for link in await self._teams.links_created_by(user.tenant_id, user.id):
            try:
                view = await self.view(link.id)
            except NotFound:  # deleted meanwhile
                continue
            if may_manage(view, user, owner=owner):
                out.append(view)
        return out

    async def managed_booking(self, booking_id: str, user: User, *, owner: bool | None) -> Booking:
        """A booking of a team link ``user`` may manage, whoever of its members hosts it: NotFound when there is
        no such booking in their tenant or its link is gone or not a team link; NotAllowed (as :meth:`editable`)
        when they may not manage its link."""
        booking = await self._bookings.get(booking_id)
        if booking is None or booking.tenant_id != user.tenant_id:
            raise NotFound("No such booking.")
        await self.editable(booking.event_type_id, user, owner=owner)
        return booking

    async def people(self, user_ids: Sequence[str]) -> Mapping[str, User]:
        """People by id, in one read (the hosts of team bookings)."""
        return await self._teams.people(list(dict.fromkeys(user_ids)))

    # ------------------------------------------------------------------ the booking page

    async def resolve(self, team_slug: str, slug: str) -> tuple[EventType, Team]:
        """The link at ``/book/team/{team}/{slug}``; NotFound, or LinkInactive when switched off or used."""
        team = await self._teams.get_by_slug(team_slug)
        link = await self._event_types.get_by_team_slug(team.id, slug) if team is not None else None
        if team is None or link is None:
            raise NotFound("There is no booking link at this address. Check it with the person who sent it.")
        if not link.active:
            raise LinkInactive(used=link.single_use)
        return link, team

    def face(self, team: Team, link: EventType) -> User:
        """Who a team link's pages and cards say the meeting is with: the team (its name; the link's zone). Not
        a person: it never hosts, owns or manages anything."""
        return User(
            id=f"team:{team.id}",
            tenant_id=team.tenant_id,
            aad_object_id="",
            display_name=team.name,
            email="",
            time_zone=link.rules.time_zone,
            handle=team.slug,
        )

    async def public_link(self, link: EventType) -> tuple[EventType, User]:
        if link.team_id is None:
            raise NotFound("This is not a team link.")
        team = await self._teams.get(link.team_id)
        if team is None:
            raise NotFound("This team link's team no longer exists.")
        return link, self.face(team, link)

    async def hosts(self, booking: Booking) -> list[User]:
        """The people hosting ``booking``: its organiser first, then the other members (collective)."""
        people = await self._teams.people(list(booking.host_ids))
        return [people[h] for h in booking.host_ids if h in people]

    # ------------------------------------------------------------------ availability

    async def _read_group(self, hosts: Sequence[User], window: Interval) -> Mapping[str, BusyResult]:
        try:
            return await self._calendar.busy_many([h.host_calendar() for h in hosts], window)
        except IntegrationError as exc:
            return {h.id: exc for h in hosts}

    async def _member_views(
        self,
        view: TeamLinkView,
        needed: Interval,
        reach: Interval,
        *,
        horizon: Interval | None,
        live: bool,
        since: datetime | None = None,
    ) -> _Views:
        """Each member with their busy time in ``needed`` (the database busy cache where it serves, the rest in
        one ``busy_many``: live for booking, through :class:`GroupBusyCache` for views), their bookings around
        ``reach`` and their caps; unconnected or unreadable members are ``readable=False``.

        ``since`` (live reads): the same ``busy_many`` reads from then (no earlier than one call's span before the
        end of ``needed``: still one Graph request) and each member's out-of-office stretches from then until now
        are returned for calibration; the views keep the busy time of ``needed`` alone."""
        members = view.members
        out = _Views([])
        read, past = needed, None
        if live and since is not None:
            now = self.clock.now()
            first = max(since, needed.end - VIEW_READ_SPAN)
            if first < min(now, needed.start):
                read, past = Interval(first, needed.end), Interval(first, now)
        connected = [m for m in members if m.connected]
        busy: dict[str, BusyResult] = {}
        rest: list[User] = []
        for m in connected:
            cached = None if live else await self._booking.cached_busy(m.user, needed)
            if cached is not None:
                busy[m.user_id] = cached
            else:
                rest.append(m.user)
        if rest and not needed.is_empty:
            if live:
                got = await self._read_group(rest, read)
                if past is not None:
                    for user_id, found in got.items():
                        spans = out_of_office(found, past) if isinstance(found, list) else ()
                        if spans:
                            out.out_of_office[user_id] = spans
                    got = _clip(got, needed)
                busy.update(got)
            else:
                busy.update(await self._viewing.busy(rest, needed, horizon))
        widened = Interval(reach.start - timedelta(days=8), reach.end + timedelta(days=8))
        booked = await self._bookings.host_bookings(
            [m.user_id for m in members], widened, caps_event_type_id=view.link.id
        )
        for m in members:
            result = busy.get(m.user_id, []) if m.connected else None
            readable = isinstance(result, list)
            if m.connected and not readable:
                out.unreadable.append(m)
            out.views.append(
                MemberView(
                    member_id=m.user_id,
                    busy=result if isinstance(result, list) else (),
                    bookings=booked.get(m.user_id, []),
                    daily_cap=m.member.daily_cap,
                    weekly_cap=m.member.weekly_cap,
                    readable=readable,
                )
            )
        return out

    async def _tell_unreadable(self, view: TeamLinkView, views: _Views) -> None:
        """The link's creator is told, once a day, which members could not be read (or are not connected)."""
        missing = [*views.unreadable, *view.waiting]
        creator = view.settings.created_by
        if not missing or creator is None:
            return
        day = self.clock.now().date().isoformat()
        if (view.link.id, day) in self._told:
            return
        if len(self._told) > 4096:
            self._told.clear()
        self._told[(view.link.id, day)] = None
        await self._outbox.enqueue(
            [
                OutboxItem(
                    UNREADABLE,
                    view.link.tenant_id,
                    {
                        "hostId": creator,
                        "eventTypeId": view.link.id,
                        "title": view.link.title,
                        "unreadable": [m.user.display_name for m in views.unreadable],
                        "notConnected": [m.user.display_name for m in view.waiting],
                    },
                    f"{UNREADABLE}:{view.link.id}:{day}",
                )
            ]
        )

    def _horizon(self, rules: EventRules) -> Interval:
        return self._booking.viewing_horizon(rules)

    async def slots(self, link: EventType, window: Interval, duration: int | None = None) -> list[Slot]:
        """Bookable slots of a team link starting in ``window`` (at most 62 days), the same shape as a personal
        link's: round-robin, where at least one member is free; collective, where every member is."""
        if window.duration > timedelta(days=MAX_QUERY_DAYS):
            raise InvalidQuery("end", f"Ask for at most {MAX_QUERY_DAYS} days of slots at a time.")
        now = self.clock.now()
        window = bounded_window(window, now)
        if not link.active:
            raise LinkInactive(used=link.single_use)
        view = await self.view(link.id)
        rules = link.rules.validate()
        minutes = resolve_duration(rules, duration)
        reach = Interval(
            window.start - timedelta(minutes=rules.buffer_before),
            window.end + timedelta(minutes=minutes + rules.buffer_after),
        )
        horizon = self._horizon(rules)
        low = max(reach.start, horizon.start)
        needed = Interval(low, max(low, min(reach.end, horizon.end)))
        views = await self._member_views(view, needed, reach, horizon=horizon, live=False)
        await self._tell_unreadable(view, views)
        if link.kind is LinkKind.COLLECTIVE:
            return collective_slots(rules, views.views, now=now, window=window, duration=minutes)
        return [
            Slot(s.start, s.end)
            for s in round_robin_slots(rules, views.views, now=now, window=window, duration=minutes)
        ]

    async def _alternatives(
        self, link: EventType, start: datetime, duration: int | None, only: str | None = None
    ) -> list[datetime]:
        now = self.clock.now()
        try:
            if only is None:
                slots = await self.slots(link, Interval(now, now + ALTERNATIVES_HORIZON), duration)
            else:
                slots = await self._member_slots(link, only, Interval(now, now + ALTERNATIVES_HORIZON), duration)
        except (IntegrationError, NotFound, SchedulingError):
            return []
        after = [s.start for s in slots if s.start > start]
        before = [s.start for s in reversed(slots) if s.start < start]
        return (after + before)[: self._booking.alternatives]

    async def _member_slots(self, link: EventType, user_id: str, window: Interval, duration: int | None) -> list[Slot]:
        """Slots of ``link`` where the member ``user_id`` is free (a booking that keeps its member)."""
        view = await self.view(link.id)
        rules = link.rules.validate()
        minutes = resolve_duration(rules, duration)
        reach = Interval(window.start, window.end + timedelta(minutes=minutes + rules.buffer_after))
        horizon = self._horizon(rules)
        views = await self._member_views(view, reach, reach, horizon=horizon, live=False)
        mine = [v for v in views.views if v.member_id == user_id]
        now = self.clock.now()
        return [Slot(s.start, s.end) for s in round_robin_slots(rules, mine, now=now, window=window, duration=minutes)]

    # ------------------------------------------------------------------ booking

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
    ) -> BookingOutcome:
        """Book ``start`` on a team link: ``BookingService.book``'s contract (validation, idempotency by the
        caller's namespace, manage tokens), with the member assigned as the module docstring says."""
        svc = self._booking
        admitted = await svc.admit(link, start, form, caller=caller, duration=duration, idempotency_key=idempotency_key)
        if admitted.earlier is not None:
            return await self._replay(admitted.earlier, admitted.fingerprint)
        invitee, minutes, fingerprint, key, rules = (
            admitted.invitee,
            admitted.minutes,
            admitted.fingerprint,
            admitted.key,
            admitted.rules,
        )
        now = self.clock.now()
        end = start + timedelta(minutes=minutes)
        if start.second or start.microsecond:
            raise SlotUnavailable(
                "That is not one of the offered times.", await self._alternatives(link, start, minutes)
            )
        view = await self.view(link.id)
        interval = padded(rules, start, end)
        settings = view.settings
        period = period_containing(now, rules.time_zone, settings.period)
        history: list[PastAssignment] = []
        since = None
        if link.kind is LinkKind.ROUND_ROBIN and settings.mode is AssignmentMode.FAIR:
            # who was out of office comes with the same read (calibration), from the period's first booking
            history = await self._teams.assignments(view.team.id, period)
            since = calibration_start(history, period)
        views = await self._member_views(view, interval, interval, horizon=None, live=True, since=since)
        free = members_free_at(rules, views.views, start, now=now, duration=minutes)

        def booking_for(host_ids: tuple[str, ...]) -> tuple[Booking, str]:
            nonce, token = svc.new_manage_token()
            organiser = next(m for m in view.members if m.user_id == host_ids[0])
            return (
                Booking(
                    id=self._new_id(),
                    tenant_id=link.tenant_id,
                    event_type_id=link.id,
                    host_ids=host_ids,
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
                    invitee_tenant_id=caller.tenant_id if caller.kind == "teams" else None,
                    invitee_aad_object_id=caller.subject if caller.kind == "teams" else None,
                    created_at=now,
                    pending_deadline=now + svc.pending_timeout,
                    event_calendar_id=organiser.user.write_calendar_id,
                ),
                token,
            )

        if link.kind is LinkKind.COLLECTIVE:
            organiser = organiser_of(view)
            everyone = {m.user_id for m in view.members}
            if organiser is None or set(free) != everyone or not all(v.readable for v in views.views):
                raise SlotUnavailable(alternatives=await self._alternatives(link, start, minutes))
            hosts = (organiser.user_id, *(m.user_id for m in view.members if m.user_id != organiser.user_id))
            booking, token = booking_for(hosts)
            checks = [c for m in view.members for c in member_cap_checks(rules, link.id, start, m.member)]
            try:
                stored, created = await self._bookings.reserve(
                    booking, cap_checks=checks, single_use=link.single_use, hold_id=hold_id
                )
            except SlotUnavailable as exc:
                raise SlotUnavailable(exc.message, await self._alternatives(link, start, minutes)) from exc
            if not created:
                return await self._replay(stored, fingerprint)
            outcome = await svc.write_event(link, organiser.user, stored, token, self.draft(link, view, stored))
            people = {m.user_id: m.user for m in view.members}
            return replace(outcome, hosts=tuple(people[h] for h in hosts))

        order = assignment_order(
            [m.member for m in view.members],
            free,
            history=history,
            period=period,
            last_booked=await self._teams.last_booked(view.team.id),
            mode=settings.mode,
            away=views.away(view.members),
        )
        refusal: SlotUnavailable | None = None
        for candidate in order:
            member = next(m for m in view.members if m.user_id == candidate)
            if not await self._still_free(link, rules, member, start, minutes, views):
                continue
            booking, token = booking_for((candidate,))
            try:
                stored, created = await self._bookings.reserve(
                    booking,
                    cap_checks=member_cap_checks(rules, link.id, start, member.member),
                    single_use=link.single_use,
                    hold_id=hold_id,
                )
            except SlotUnavailable as exc:  # booked (or capped) meanwhile: the next candidate
                refusal = exc
                continue
            if not created:
                return await self._replay(stored, fingerprint)
            return replace(await svc.write_event(link, member.user, stored, token), hosts=(member.user,))
        message = refusal.message if refusal is not None else SlotUnavailable().message
        raise SlotUnavailable(message, await self._alternatives(link, start, minutes))

    async def _still_free(
        self, link: EventType, rules: EventRules, member: Member, start: datetime, minutes: int, views: _Views
    ) -> bool:
        """The candidate's calendar read once more, live, for the padded slot (a failed read: not free)."""
        end = start + timedelta(minutes=minutes)
        try:
            busy = await self._booking.fresh_busy(member.user, padded(rules, start, end))
        except IntegrationError:
            return False
        mine = next(v for v in views.views if v.member_id == member.user_id)
        now = self.clock.now()
        again = replace(mine, busy=busy, readable=True)
        return member.user_id in members_free_at(rules, [again], start, now=now, duration=minutes)

    def draft(self, link: EventType, view: TeamLinkView, booking: Booking) -> EventDraft:
        """The Outlook event of a collective booking: in the organiser's calendar, with every other member and
        the invitee as required attendees (and one Teams meeting)."""
        organiser = next(m for m in view.members if m.user_id == booking.organizer_id)
        base = self._booking.draft_for(link, organiser.user, booking)
        others = tuple(
            Attendee(m.user.display_name, m.user.email) for m in view.members if m.user_id in booking.host_ids[1:]
        )
        return replace(base, attendees=(*others, *base.attendees))

    async def _replay(self, existing: Booking, fingerprint: str) -> BookingOutcome:
        """An idempotent retry of a team booking (see ``BookingService._replay``): finished with the same event
        when a crash left it PENDING; only an identical request gets it and its manage token back."""
        check_replay(existing, fingerprint)
        token = self._booking.token_of(existing)
        if existing.status is BookingStatus.PENDING:
            link = await self._booking.link_of(existing)
            view = await self.view(link.id)
            organiser = await self._users.get(existing.organizer_id)
            if organiser is None:
                raise NotFound("This booking's host no longer exists.")
            draft = (
                self.draft(link, view, existing) if len(existing.host_ids) > 1 and view.member(organiser.id) else None
            )
            outcome = await self._booking.write_event(link, organiser, existing, token, draft)
            return replace(outcome, replayed=True, hosts=tuple(await self.hosts(existing)))
        return BookingOutcome(existing, token, replayed=True, hosts=tuple(await self.hosts(existing)))

    # ------------------------------------------------------------------ rescheduling

    async def reschedule(self, booking: Booking, link: EventType, new_start: datetime, actor: Actor) -> Booking:
        """Move a team booking to ``new_start``, keeping its member (collective: every member) while free then:
        the members are read fresh (their own event left out), then the store moves the reservations."""
        svc = self._booking
        rules = link.rules.validate()
        minutes = int((booking.end - booking.start).total_seconds() // 60)
        new_end = new_start + timedelta(minutes=minutes)
        if new_start == booking.start:
            return booking
        now = self.clock.now()
        duration = minutes if minutes in rules.durations else rules.duration
        view = await self.view(link.id)
        interval = padded(rules, new_start, new_end)
        period = period_containing(now, rules.time_zone, view.settings.period)
        history: list[PastAssignment] = []
        since = None
        if link.kind is LinkKind.ROUND_ROBIN:
            history = await self._teams.assignments(view.team.id, period, exclude_booking_id=booking.id)
            if view.settings.mode is AssignmentMode.FAIR:
                since = calibration_start(history, period)
        views = await self._member_views(view, interval, interval, horizon=None, live=True, since=since)
        hosts = set(booking.host_ids)
        fixed: list[MemberView] = []
        for v in views.views:
            if v.member_id in hosts:
                own = [b for b in v.bookings if not (b.start == booking.start and b.end == booking.end)]
                v = replace(v, busy=without_own_event(v.busy, booking), bookings=own)
            fixed.append(v)
        # members who left keep their bookings: they are checked with the link's rules like the others
        for host in hosts - {v.member_id for v in fixed}:
            user = await self._users.get(host)
            if user is None:
                raise SlotUnavailable("This booking's host no longer exists.")
            try:
                busy = without_own_event(await svc.fresh_busy(user, interval), booking)
            except IntegrationError:
                busy = []
                readable = False
            else:
                readable = True
            booked = await self._bookings.host_bookings(
                [host], interval, caps_event_type_id=link.id, exclude_booking_id=booking.id
            )
            fixed.append(MemberView(host, busy, booked.get(host, []), readable=readable))
        free = members_free_at(rules, fixed, new_start, now=now, duration=duration)
        if link.kind is LinkKind.ROUND_ROBIN:
            order = reschedule_order(
                [m.member for m in view.members],
                booking.organizer_id,
                free,
                history=history,
                period=period,
                last_booked=await self._teams.last_booked(view.team.id),
                mode=view.settings.mode,
                away=views.away(view.members),
            )
            keeps = bool(order) and order[0] == booking.organizer_id
        else:
            keeps = hosts <= set(free)
        if not keeps:
            name = next((m.user.display_name for m in view.members if m.user_id == booking.organizer_id), "")
            message = (
                f"{name} isn't free then, so the meeting can't move there. Please pick another time."
                if name and link.kind is LinkKind.ROUND_ROBIN
                else "That time is no longer available. Please pick another one."
            )
            only = booking.organizer_id if link.kind is LinkKind.ROUND_ROBIN else None
            raise SlotUnavailable(message, await self._alternatives(link, new_start, duration, only))
        organiser = await self._users.get(booking.organizer_id)
        if organiser is None:
            raise NotFound("This booking's host no longer exists.")
        members = {m.user_id: m.member for m in view.members}
        checks = [
            c
            for h in booking.host_ids
            for c in member_cap_checks(rules, link.id, new_start, members.get(h, TeamMember(h)))
        ]
        moved_view = replace(booking, start=new_start, end=new_end)
        payload = booking_payload(link, moved_view, organiser) | {
            "previousStart": booking.start.isoformat().replace("+00:00", "Z"),
            "by": actor,
        }
        item = OutboxItem(
            "booking.rescheduled", link.tenant_id, payload, f"booking.rescheduled:{booking.id}:{booking.version + 1}"
        )
        moved = await self._bookings.move(
            booking.id,
            start=new_start,
            end=new_end,
            expected_version=booking.version,
            cap_checks=checks,
            outbox=await svc.outbox_for(announce(item), link, moved_view),  # the webhook event too, as personal
        )
        await svc.sync_calendar(moved)
        svc.forget_busy(moved.host_ids)
        return await self._bookings.get(moved.id) or moved

    # ------------------------------------------------------------------ what each booking change tells

    async def fan_out(self, items: Sequence[OutboxItem], link: EventType, booking: Booking) -> list[OutboxItem]:
        """The outbox items of a team booking's change (``BookingService.outbox_for``): the organiser's notice as
        written, one for every other member of a collective booking, and the announcement in the channel thread
        of the link's card when announcements are on."""
        out = list(items)
        if link.team_id is None:
            return out
        settings = await self._teams.link_settings(link.id)
        names: Mapping[str, User] | None = None
        for item in items:
            if item.channel != "teams" or item.kind not in BOOKING_KINDS:
                continue
            for host in booking.host_ids[1:]:
                out.append(
                    OutboxItem(item.kind, item.tenant_id, {**item.payload, "hostId": host}, f"{item.dedupe_key}:{host}")
                )
            if settings is None or not settings.announce or settings.thread is None:
                continue
            if names is None:
                names = await self._teams.people(list(booking.host_ids))
            out.append(
                OutboxItem(
                    ANNOUNCEMENT,
                    item.tenant_id,
                    {
                        "eventTypeId": link.id,
                        "change": item.kind,
                        "title": link.title,
                        "inviteeName": booking.invitee.name,
                        "hostNames": [names[h].display_name for h in booking.host_ids if h in names],
                        "start": booking.start.isoformat().replace("+00:00", "Z"),
                        "previousStart": item.payload.get("previousStart"),
                        "timeZone": link.rules.time_zone,
                        "by": item.payload.get("by"),
                    },
                    f"{ANNOUNCEMENT}:{item.dedupe_key}",
                )
            )
        return out

    async def thread_of(self, link_id: str) -> tuple[EventType, TeamLinkSettings] | None:
        """A team link and its settings (where its card and thread are), for delivering announcements."""
        link = await self._event_types.get(link_id)
        if link is None or link.team_id is None:
            return None
        settings = await self._teams.link_settings(link.id)
        return (link, settings) if settings is not None else None

    def forget_busy(self, host_ids: Iterable[str] | None = None) -> None:
        """Drop busy time read for showing these members' slots (every member when None)."""
        self._viewing.forget(host_ids)
