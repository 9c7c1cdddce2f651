"""The people Slotwise knows: who a Teams identity is, where their personal chat is, their profile (time zone,
and which of their calendars count for conflicts and which one bookings are written to).

A person is (tenant id, Entra object id), as the channel vouched for it (a Teams activity), never an email
or a display name: both can be set by the person. The first contact creates the Slotwise user; their mailbox
address comes from what the channel says about them (the Teams roster), read only while it is unknown.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from scheduling.domain import User
from scheduling.errors import HostUnavailable, IntegrationError, SignInRequired, ValidationFailed
from scheduling.ports import CalendarInfo, CalendarPort
from scheduling.stores import OutboxStore, UserStore
from scheduling.timezones import is_valid_zone

DEFAULT_NAME = "Teams user"
#: Conflict calendars are read in one Graph ``$batch`` of up to 20 requests: the most a host may pick.
MAX_CONFLICT_CALENDARS = 20
CONFLICT_CALENDARS = "conflictCalendars"  # ValidationFailed keys of the calendar choice
WRITE_CALENDAR = "writeCalendar"
CALENDARS_UNREADABLE = "Your list of calendars can't be read from Outlook right now. Please try again in a minute."


@dataclass(frozen=True, slots=True)
class Profile:
    """What the channel's directory says about a person (the Teams roster): a name and a mailbox address."""

    name: str = ""
    email: str = ""


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class CalendarChoice:
    """Which calendars count for a host's conflicts and which one their bookings are written to, as chosen (ids
    from :meth:`PeopleService.calendar_options`; ``write_calendar_id`` None or "": the default calendar)."""

    conflict_calendar_ids: tuple[str, ...]
    write_calendar_id: str | None = None


@dataclass(frozen=True, slots=True)
class CalendarOptions:
    """A host's calendars (own and shared with them, default first, from Graph) and their current choice, as
    ids of those calendars: the default calendar stands for "free/busy of the mailbox" (no ids stored) and for
    "write to the default calendar" (None stored)."""

    calendars: tuple[CalendarInfo, ...]
    conflict_calendar_ids: tuple[str, ...]
    write_calendar_id: str
    mailbox: str = ""  # the host's own address: a calendar owned by anyone else is shared with them

    def shared(self, calendar: CalendarInfo) -> bool:
        return bool(calendar.owner_email) and calendar.owner_email.casefold() != self.mailbox.casefold()

    @property
    def default(self) -> CalendarInfo | None:
        return next((c for c in self.calendars if c.is_default), None)

    @property
    def writable(self) -> tuple[CalendarInfo, ...]:
        return tuple(c for c in self.calendars if c.can_edit)

    def named(self, calendar_id: str) -> CalendarInfo | None:
        return next((c for c in self.calendars if c.id == calendar_id), None)


def calendar_options(calendars: Sequence[CalendarInfo], user: User) -> CalendarOptions:
    """``user``'s current choice among ``calendars``: their conflict calendars (the default one when they chose
    none) and their write calendar (the default one when none)."""
    ordered = tuple(sorted(calendars, key=lambda c: not c.is_default))
    default_id = next((c.id for c in ordered if c.is_default), "")
    conflicts = user.conflict_calendar_ids or ((default_id,) if default_id else ())
    return CalendarOptions(ordered, tuple(conflicts), user.write_calendar_id or default_id, user.email)


def calendar_problems(calendars: Sequence[CalendarInfo], choice: CalendarChoice) -> dict[str, str]:
    """Every problem with ``choice`` against the calendars the host can see now, keyed ``conflictCalendars`` /
    ``writeCalendar``: at least one and at most :data:`MAX_CONFLICT_CALENDARS` conflict calendars, each one the
    host can see; a write calendar the host can see and write to. A calendar id that is not among them (made
    up, someone else's, or no longer shared) is refused, never stored."""
    by_id = {c.id: c for c in calendars}
    problems: dict[str, str] = {}
    conflicts = list(dict.fromkeys(choice.conflict_calendar_ids))
    unknown = [i for i in conflicts if i not in by_id]
    if unknown:
        problems[CONFLICT_CALENDARS] = (
            "One of the chosen calendars isn't one you can see any more (it may have been removed or no longer "
            "shared with you). Choose from the list."
        )
    elif not conflicts:
        problems[CONFLICT_CALENDARS] = (
            "Choose at least one calendar (usually your own); otherwise people could book over anything."
        )
    elif len(conflicts) > MAX_CONFLICT_CALENDARS:
        problems[CONFLICT_CALENDARS] = f"Choose at most {MAX_CONFLICT_CALENDARS} calendars."
    if choice.write_calendar_id:
        chosen = by_id.get(choice.write_calendar_id)
        if chosen is None:
            problems[WRITE_CALENDAR] = (
                "That calendar isn't one you can see any more (it may have been removed or no longer shared "
                "with you). Choose from the list."
            )
        elif not chosen.can_edit:
            problems[WRITE_CALENDAR] = (
                f"You can't add meetings to “{chosen.name}” (it is shared with you read-only). Choose a "
                "calendar you can edit."
            )
    return problems


def stored_choice(calendars: Sequence[CalendarInfo], choice: CalendarChoice) -> tuple[tuple[str, ...], str | None]:
    """What a valid ``choice`` is stored as: no conflict ids when it is the default calendar alone (the mailbox's
    free/busy: one ``getSchedule`` read, and the busy cache that calendar sync keeps), no write id for the
    default calendar."""
    default_id = next((c.id for c in calendars if c.is_default), None)
    conflicts = tuple(dict.fromkeys(choice.conflict_calendar_ids))
    if default_id is not None and conflicts == (default_id,):
        conflicts = ()
    write = choice.write_calendar_id or None
    return conflicts, (None if write == default_id else write)


class PeopleService:
    """``reachable`` is called after messages held for a person were released (they can be reached now): the
    app wakes the delivery runner with it, so those messages go out at once."""

    def __init__(
        self,
        *,
        users: UserStore,
        outbox: OutboxStore,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        reachable: Callable[[], None] = _nothing,
        calendar: CalendarPort | None = None,
    ) -> None:
        self._users = users
        self._outbox = outbox
        self._calendar = calendar  # the hosts' calendar lists (profile); None: calendars can't be chosen
        self._new_id = new_id
        self._reachable = reachable

    async def teams_user(
        self,
        tenant_id: str,
        aad_object_id: str,
        name: str,
        profile: Callable[[], Awaitable[Profile | None]],
        *,
        time_zone: str | None = None,
        invent_email: Callable[[str], str] | None = None,
    ) -> User:
        """The Slotwise user behind a Teams identity, created on first contact.

        ``name`` is the display name the activity carries (kept up to date). ``profile`` is asked, only while
        the user has no mailbox address yet, for what the directory says (None when it can't be read);
        ``invent_email`` (sandbox mode) makes up an address from a name when nobody knows one. A new user's
        time zone is ``time_zone`` (the client's) or UTC."""
        if not tenant_id or not aad_object_id:
            raise ValidationFailed({"from": "A Teams user needs a tenant id and an Entra object id."})
        name = name.strip()
        user = await self._users.get_by_aad(tenant_id, aad_object_id)
        if user is not None and user.email:
            if name and name != user.display_name:
                return await self._users.upsert(replace(user, display_name=name))
            return user
        found = await profile()
        email = (found.email if found else "") or (user.email if user else "")
        if not email and invent_email is not None:
            email = invent_email(name or (found.name if found else ""))
        display = (found.name if found else "") or name or email or DEFAULT_NAME
        if user is None:
            user = User(
                id=self._new_id(),
                tenant_id=tenant_id,
                aad_object_id=aad_object_id,
                display_name=display,
                email=email,
                time_zone=time_zone if time_zone and is_valid_zone(time_zone) else "UTC",
            )
        else:
            user = replace(user, display_name=display, email=email)
        return await self._users.upsert(user)

    async def current(self, user: User) -> User:
        """The stored copy of ``user`` (their connection may have changed meanwhile), or ``user`` if gone."""
        return await self._users.get(user.id) or user

    async def member(self, tenant_id: str, user_id: str) -> User | None:
        """The user ``user_id`` when they belong to ``tenant_id``; None otherwise."""
        user = await self._users.get(user_id)
        return user if user is not None and user.tenant_id == tenant_id else None

    async def remember_conversation(self, user: User, reference: Mapping[str, object]) -> User:
        """Keep where ``user``'s personal chat with Slotwise is (written only when it changed), and release the
        messages held until they could be reached (``scheduling.delivery``)."""
        if user.conversation_reference == reference:
            return user
        await self._users.set_conversation_reference(user.id, reference)
        if reference and await self._outbox.release_held(user.id):
            self._reachable()
        return replace(user, conversation_reference=dict(reference))

    async def forget_conversation(self, tenant_id: str, aad_object_id: str) -> None:
        """The Teams identity removed Slotwise from their personal scope: no more messages to that chat."""
        user = await self._users.get_by_aad(tenant_id, aad_object_id) if tenant_id and aad_object_id else None
        if user is not None and user.conversation_reference:
            await self._users.set_conversation_reference(user.id, {})

    async def calendar_options(self, user: User) -> CalendarOptions:
        """``user``'s calendars from Graph (their own and those shared with them) and their current choice.
        Raises HostUnavailable when the list can't be read (the profile then offers no calendar choice)."""
        if self._calendar is None:
            raise HostUnavailable(CALENDARS_UNREADABLE, host_id=user.id)
        try:
            listed = await self._calendar.list_calendars(user.host_calendar())
        except SignInRequired:
            raise
        except IntegrationError as exc:
            reconnect = bool(getattr(exc, "reconnect_required", False))
            raise HostUnavailable(CALENDARS_UNREADABLE, reconnect_required=reconnect, host_id=user.id) from exc
        return calendar_options(listed, user)

    async def save_profile(self, user: User, *, time_zone: str, calendars: CalendarChoice | None = None) -> User:
        """Save ``user``'s time zone and (when given) calendar choice, all or nothing: the zone must be known and
        the calendars ones the host can see now, read from Graph here (:func:`calendar_problems`); otherwise
        ValidationFailed with every problem and nothing saved. A calendar list that can't be read is
        HostUnavailable (nothing saved). Changes to other calendars than the default one are read live, so
        slot views show them within the live-read cache's 30 seconds."""
        problems: dict[str, str] = {}
        if not is_valid_zone(time_zone):
            problems["timeZone"] = f"'{time_zone}' is not a time zone we know; pick one from the list."
        stored: tuple[tuple[str, ...], str | None] | None = None
        if calendars is not None:
            options = await self.calendar_options(user)
            problems |= calendar_problems(options.calendars, calendars)
            stored = stored_choice(options.calendars, calendars)
        if problems:
            raise ValidationFailed(problems)
        current = await self._users.get(user.id) or user  # fresh: a concurrent change to other fields survives
        saved = replace(current, time_zone=time_zone)
        if stored is not None:
            saved = replace(saved, conflict_calendar_ids=stored[0], write_calendar_id=stored[1])
        return await self._users.upsert(saved)

    async def set_time_zone(self, user: User, time_zone: str) -> User:
        """Save ``user``'s own time zone (an IANA name)."""
        if not is_valid_zone(time_zone):
            raise ValidationFailed({"timeZone": f"'{time_zone}' is not a time zone we know; pick one from the list."})
        return await self._users.upsert(replace(user, time_zone=time_zone))
