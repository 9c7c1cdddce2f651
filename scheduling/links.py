"""Use cases for a host's links: create (defaults from the host's Outlook mailbox settings), list,
find by name or slug, update (all-or-nothing validation) and delete.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from scheduling.delivery import WEBHOOK
from scheduling.domain import EventType, LinkKind, OutboxItem, User
from scheduling.errors import Conflict, IntegrationError, InvalidRule, NotFound, ValidationFailed
from scheduling.invitee import has_control
from scheduling.ports import CalendarPort, Location, LocationKind, MailboxDefaults
from scheduling.rules import Availability, BookingWindow, EventRules, LocalRange, duration_problem
from scheduling.stores import EventTypeStore

if TYPE_CHECKING:
    from scheduling.connect import CalendarSyncHooks

#: The longest title a link may have, in characters. The settings card's input, the chat parser and
#: :class:`LinkService` all use this one limit; a longer title is refused (:func:`title_problem`), never cut.
MAX_TITLE = 100
DEFAULT_WINDOW_DAYS = 60
DEFAULT_NOTICE_MINUTES = 4 * 60


@dataclass(frozen=True, slots=True)
class NewLink:
    """What a host asked for; None means 'use the default'."""

    duration: int = 30
    title: str = ""
    buffer_before: int | None = None
    buffer_after: int | None = None
    minimum_notice: int | None = None
    window_days: int | None = None
    single_use: bool = False


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:40].strip("-")


def title_problem(title: str) -> str | None:
    """What is wrong with ``title`` as a link's title (surrounding spaces aside), or None."""
    name = title.strip()
    if not name:
        return "Give the link a title."
    if len(name) > MAX_TITLE:
        return f"A title can be at most {MAX_TITLE} characters long (this one has {len(name)})."
    return None


#: The longest description and location details a link may have (the REST API; the settings card uses the same).
MAX_DESCRIPTION = 500
MAX_LOCATION = 200
LINK_CREATED = "link.created"  # the webhook event (scheduling.webhooks) of a new link


def link_created(host: User, link: EventType) -> OutboxItem:
    """The webhook event of a new link (fanned out to subscriptions by ``scheduling.webhooks``)."""
    return OutboxItem(
        LINK_CREATED,
        link.tenant_id,
        {"eventTypeId": link.id, "ownerId": host.id},
        f"webhook:{LINK_CREATED}:{link.id}",
        channel=WEBHOOK,
    )


def location_problem(location: Location) -> str | None:
    """What is wrong with a link's location, or None: Teams needs no details; the others need them (an address,
    a phone number, a description) of at most :data:`MAX_LOCATION` characters."""
    details = location.text.strip()
    if location.kind is LocationKind.TEAMS:
        return None
    if not details:
        return {
            LocationKind.IN_PERSON: "Give the address people should come to.",
            LocationKind.PHONE: "Give the phone number (or say who calls whom).",
        }.get(location.kind, "Describe where the meeting happens.")
    if len(details) > MAX_LOCATION:
        return f"Keep this under {MAX_LOCATION} characters."
    if has_control(details):
        return "This contains characters we can't use."
    return None


def link_problems(link: EventType) -> dict[str, str]:
    """Every problem of ``link`` at once, keyed by field (``title``, ``description``, ``location`` and the keys of
    :meth:`EventRules.problems`): the rules a link must meet, whoever edits it."""
    problems: dict[str, str] = {}
    if (title := title_problem(link.title)) is not None:
        problems["title"] = title
    if len(link.description) > MAX_DESCRIPTION:
        problems["description"] = f"A description can be at most {MAX_DESCRIPTION} characters long."
    elif has_control(link.description, allow_newlines=True):
        problems["description"] = "The description contains characters we can't use."
    if (where := location_problem(link.location)) is not None:
        problems["location"] = where
    problems.update(link.rules.problems())
    return problems


def _checked_title(title: str) -> str:
    problem = title_problem(title)
    if problem:
        raise InvalidRule("title", problem)
    return title.strip()


def default_title(duration: int) -> str:
    if duration % 60 == 0:
        hours = duration // 60
        return f"{hours}-hour meeting" if hours > 1 else "1-hour meeting"
    return f"{duration}-minute meeting"


def availability_from_mailbox(defaults: MailboxDefaults) -> Availability:
    if defaults.working_start < defaults.working_end:
        day = (LocalRange(defaults.working_start, defaults.working_end),)
    else:
        day = (LocalRange(9 * 60, 17 * 60),)
    days = set(defaults.working_days) or {0, 1, 2, 3, 4}
    weekly = tuple(day if d in days else () for d in range(7))
    return Availability(defaults.time_zone, weekly)  # type: ignore[arg-type]


class LinkService:
    def __init__(
        self,
        *,
        event_types: EventTypeStore,
        calendar: CalendarPort,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._event_types = event_types
        self._calendar = calendar
        self._new_id = new_id
        self.sync: CalendarSyncHooks | None = None  # set once calendar sync is built (app.py)

    async def mailbox_defaults(self, host: User) -> MailboxDefaults:
        """The host's Outlook time zone and working hours; their stored zone and 9-5 if unreadable."""
        try:
            return await self._calendar.mailbox_defaults(host.host_calendar())
        except IntegrationError:
            return MailboxDefaults(time_zone=host.time_zone or "UTC")

    async def create(self, host: User, request: NewLink) -> EventType:
        length_problem = duration_problem(request.duration)
        if length_problem:  # before the default title, which would name the absurd length
            raise InvalidRule("durations", length_problem)
        title = _checked_title(request.title if request.title.strip() else default_title(request.duration))
        defaults = await self.mailbox_defaults(host)
        rules = EventRules(
            durations=(request.duration,),
            availability=availability_from_mailbox(defaults),
            buffer_before=0 if request.buffer_before is None else request.buffer_before,
            buffer_after=0 if request.buffer_after is None else request.buffer_after,
            minimum_notice=DEFAULT_NOTICE_MINUTES if request.minimum_notice is None else request.minimum_notice,
            window=BookingWindow(
                rolling_days=DEFAULT_WINDOW_DAYS if request.window_days is None else request.window_days
            ),
        )
        rules.validate()
        link = EventType(
            id=self._new_id(),
            tenant_id=host.tenant_id,
            slug="",
            title=title,
            rules=rules,
            owner_user_id=host.id,
            kind=LinkKind.SINGLE_HOST,
            location=Location(),
            single_use=request.single_use,
        )
        return await self.create_from(host, link)

    async def create_from(self, host: User, draft: EventType) -> EventType:
        """``draft`` (a whole link of ``host``, e.g. from the REST API) as a new link: every problem at once
        (ValidationFailed, :func:`link_problems`), its slug made from its title and unique among the host's links,
        then announced to webhooks (``link.created``, written to the outbox in the link's own transaction)."""
        if draft.owner_user_id != host.id or draft.tenant_id != host.tenant_id:
            raise NotFound("No such link.")
        problems = link_problems(draft)
        if problems:
            raise ValidationFailed(problems)
        base = slugify(draft.title) or "meeting"
        if draft.single_use:
            base = f"{base}-{self._new_id()[:8]}"
        for attempt in range(50):
            slug = base if attempt == 0 else f"{base}-{attempt + 1}"
            try:
                created = await self._event_types.create(
                    replace(draft, slug=slug, title=draft.title.strip()), outbox=[link_created(host, draft)]
                )
            except Conflict:
                continue
            if self.sync is not None:
                with contextlib.suppress(IntegrationError):  # (else the subscription job's next pass queues it)
                    await self.sync.host_became_bookable(host)
            return created
        raise Conflict("You already have many links with this name; please choose another name.")

    async def list(self, host: User) -> list[EventType]:
        return await self._event_types.list_for_owner(host.tenant_id, host.id)

    async def get(self, host: User, link_id: str) -> EventType:
        link = await self._event_types.get(link_id)
        if link is None or link.owner_user_id != host.id or link.tenant_id != host.tenant_id:
            raise NotFound("No such link.")
        return link

    async def find(self, host: User, name: str) -> EventType:
        """A link of this host by slug, title or list number (1-based), case-insensitively."""
        links = await self.list(host)
        wanted = name.strip().lower()
        if wanted.isdigit() and 1 <= int(wanted) <= len(links):
            return links[int(wanted) - 1]
        for link in links:
            if wanted in (link.slug.lower(), link.title.lower(), slugify(wanted)):
                return link
        matches = [link for link in links if wanted and wanted in link.title.lower()]
        if len(matches) == 1:
            return matches[0]
        raise NotFound(f"You have no link called '{name}'. Type 'my links' to see them.")

    async def update(self, host: User, link: EventType) -> EventType:
        if link.owner_user_id != host.id or link.tenant_id != host.tenant_id:
            raise NotFound("No such link.")
        title = _checked_title(link.title)
        link.rules.validate()
        return await self._event_types.update(replace(link, title=title))

    async def delete(self, host: User, link_id: str) -> None:
        link = await self.get(host, link_id)
        await self._event_types.delete(host.tenant_id, link.id)
