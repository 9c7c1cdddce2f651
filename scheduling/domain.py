"""Domain records the use cases work with: users, links (event types), teams, bookings, outbox items.

Plain frozen dataclasses; storage maps them to rows, the bot and web render them. Every record is
scoped by ``tenant_id`` (the Entra tenant), and every lookup a user can trigger is scoped by tenant
and owner, so a user never sees another user's links or bookings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Literal

from scheduling.ports import HostCalendar, Location
from scheduling.rules import EventRules


class ConnectionStatus(StrEnum):
    NOT_CONNECTED = "not_connected"
    CONNECTED = "connected"
    BROKEN = "broken"  # refresh token revoked/expired, consent withdrawn...: the host must reconnect


#: The path segment of team pages (``/book/team/{team}/{slug}``): no person may have it as their handle, or
#: ``/book/team/{slug}/slots`` would be read as a team page.
TEAM_SEGMENT = "team"
RESERVED_HANDLES = frozenset({TEAM_SEGMENT})


@dataclass(frozen=True, slots=True)
class User:
    id: str  # Slotwise's own id
    tenant_id: str
    aad_object_id: str
    display_name: str
    email: str  # UPN / primary SMTP address: the mailbox Slotwise reads and writes
    time_zone: str = "UTC"
    handle: str = ""  # the {handle} of /book/{handle}/{slug}
    conversation_reference: Mapping[str, object] | None = None
    connection_status: ConnectionStatus = ConnectionStatus.NOT_CONNECTED
    connection_error: str = ""
    conflict_calendar_ids: tuple[str, ...] = ()
    write_calendar_id: str | None = None

    def host_calendar(self) -> HostCalendar:
        return HostCalendar(
            user_id=self.id,
            mailbox=self.email,
            time_zone=self.time_zone,
            conflict_calendar_ids=self.conflict_calendar_ids,
            write_calendar_id=self.write_calendar_id,
        )

    def calendar_for(self, booking: Booking) -> HostCalendar:
        """Where ``booking``'s Outlook event lives: this host's mailbox, through the calendar the event was
        written to (recorded on the booking), not the one they write to now. A host who later picks another
        calendar (or loses a shared one) never makes an existing booking's event unreachable, so
        reconciliation and sync never take "not found there" for "deleted"."""
        return replace(self.host_calendar(), write_calendar_id=booking.event_calendar_id)


class LinkKind(StrEnum):
    SINGLE_HOST = "single"
    ROUND_ROBIN = "round_robin"
    COLLECTIVE = "collective"


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    label: str
    required: bool = False
    multiline: bool = False
    max_length: int = 500


@dataclass(frozen=True, slots=True)
class EventType:
    """A booking link and its rules. ``owner_user_id`` for personal links, ``team_id`` for team links."""

    id: str
    tenant_id: str
    slug: str
    title: str
    rules: EventRules
    owner_user_id: str | None = None
    team_id: str | None = None
    kind: LinkKind = LinkKind.SINGLE_HOST
    location: Location = field(default_factory=Location)
    fallback_location: Location | None = None  # used when tenant policy drops the Teams meeting
    questions: tuple[Question, ...] = ()
    description: str = ""
    single_use: bool = False
    active: bool = True
    version: int = 1


class Priority(IntEnum):
    """A team member's tier in the rotation: a free member of a higher tier is always assigned first."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3


@dataclass(frozen=True, slots=True)
class TeamMember:
    """A member of a team's rotation (see :mod:`scheduling.assignment` for how these values are used).

    ``weight`` (1-100) is the member's share of the team's bookings relative to the others; ``daily_cap`` and
    ``weekly_cap`` limit the member's own bookings of a team link (None: no limit beyond the link's);
    ``joined_at`` is when they joined the rotation (None: before anything counted).
    """

    user_id: str
    priority: int = Priority.MEDIUM  # higher wins
    weight: int = 100
    active: bool = True
    daily_cap: int | None = None
    weekly_cap: int | None = None
    joined_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    tenant_id: str
    name: str
    slug: str
    members: tuple[TeamMember, ...] = ()
    conversation_reference: Mapping[str, object] | None = None
    external_id: str = ""  # the Teams team (or group chat) it is: unique per tenant, "" for none


@dataclass(frozen=True, slots=True)
class Invitee:
    name: str
    email: str
    time_zone: str = "UTC"
    notes: str = ""
    answers: Mapping[str, str] = field(default_factory=dict)


CallerKind = Literal["web", "teams", "api"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a booking request, as the adapter that received it established it (never from the request's
    own content). It decides two things:

    * the namespace the request's idempotency key lives in: the key is stored as
      ``"<namespace>:<key>"``, so a key sent to the public endpoint can never reach a booking made from
      Teams or through the API, whatever its text;
    * (from Teams) who the invitee is: a booking made from Teams remembers the tenant and Entra object id
      that made it, and only that person is recognised as its invitee there (never by email).

    Kinds: ``web`` is anyone on the public booking page or JSON endpoint (one shared namespace; nothing is
    known about them); ``teams`` is a Teams user by tenant id + Entra object id from the activity; ``api``
    is a REST API client by the id of its API key (reserved for the API).
    """

    kind: CallerKind
    tenant_id: str = ""
    subject: str = ""  # teams: the Entra object id; api: the API key's id; web: empty

    def __post_init__(self) -> None:
        if self.kind == "web" and (self.tenant_id or self.subject):
            raise ValueError("A public (web) caller carries no identity.")
        if self.kind == "teams" and not (self.tenant_id and self.subject):
            raise ValueError("A Teams caller needs its tenant id and Entra object id.")
        if self.kind == "api" and not self.subject:
            raise ValueError("An API caller needs its API key id.")

    @classmethod
    def public(cls) -> Caller:
        return cls("web")

    @classmethod
    def teams(cls, tenant_id: str, aad_object_id: str) -> Caller:
        return cls("teams", tenant_id, aad_object_id)

    @classmethod
    def api(cls, key_id: str, tenant_id: str = "") -> Caller:
        return cls("api", tenant_id, key_id)

    @property
    def namespace(self) -> str:
        """``web``, or the kind and a digest of the identity (no ``:`` inside, so prefixes never overlap)."""
        if self.kind == "web":
            return "web"
        digest = hashlib.sha256(f"{self.tenant_id}\x00{self.subject}".encode()).hexdigest()[:32]
        return f"{self.kind}.{digest}"

    def scoped_key(self, key: str) -> str:
        """The idempotency key as stored: the caller's namespace, ``:``, the client's key."""
        return f"{self.namespace}:{key}"


class BookingStatus(StrEnum):
    PENDING = "pending"  # interval reserved, Outlook event not yet confirmed
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    RELEASED = "released"  # never confirmed (slot taken, calendar failure, reconciliation)

    @property
    def holds_time(self) -> bool:
        return self in (BookingStatus.PENDING, BookingStatus.CONFIRMED)


class CalendarSync(StrEnum):
    """Whether the Outlook event matches the booking row; reconciliation finishes what is pending."""

    IN_SYNC = "in_sync"
    UPDATE_PENDING = "update_pending"  # row moved, event not yet PATCHed
    CANCEL_PENDING = "cancel_pending"  # row cancelled, event not yet cancelled


@dataclass(frozen=True, slots=True)
class Booking:
    id: str
    tenant_id: str
    event_type_id: str
    host_ids: tuple[str, ...]
    start: datetime
    end: datetime
    buffer_before: int
    buffer_after: int
    invitee: Invitee
    status: BookingStatus = BookingStatus.PENDING
    idempotency_key: str | None = None  # as stored: namespaced by the caller (see Caller.scoped_key)
    manage_token_hash: str = ""
    manage_token_nonce: str | None = None  # the manage token is derived from it (BookingService.book)
    request_fingerprint: str | None = None  # what a replay of the idempotency key must match
    invitee_tenant_id: str | None = None  # booked from Teams: the invitee's tenant and Entra object id
    invitee_aad_object_id: str | None = None
    graph_event_id: str | None = None
    ical_uid: str | None = None
    join_url: str | None = None
    join_url_missing: bool = False
    calendar_sync: CalendarSync = CalendarSync.IN_SYNC
    cancel_reason: str = ""
    created_at: datetime | None = None
    pending_deadline: datetime | None = None
    version: int = 1
    event_calendar_id: str | None = None  # the calendar its event is written to (None: the default calendar)

    @property
    def transaction_id(self) -> str:
        """Graph transactionId of the booking's event: the booking id, so a retry never duplicates."""
        return self.id

    @property
    def organizer_id(self) -> str:
        return self.host_ids[0]


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A notification or webhook to deliver at least once, written in the same transaction as the change."""

    kind: str  # booking.created | booking.rescheduled | booking.cancelled | host.reconnect | ...
    tenant_id: str
    payload: Mapping[str, object]
    dedupe_key: str  # unique: the same change never enqueues twice
    channel: str = "teams"  # teams | webhook


@dataclass(frozen=True, slots=True)
class CapCheck:
    """Reserve only if fewer than ``limit`` bookings of ``event_type_id`` start in [start, end) (with ``host_id``:
    only those that host holds time for, a team member's own cap)."""

    event_type_id: str
    start: datetime
    end: datetime
    limit: int
    host_id: str | None = None
