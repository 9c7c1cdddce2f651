"""The emulator's stored records: users (mailboxes), calendars, events, tokens, subscriptions.

These are plain mutable dataclasses owned by :class:`graph.sandbox.state.EmulatorState`. Graph JSON is
produced from them by ``events.py`` / ``resources.py``; nothing here knows HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from graph.sandbox.recurrence import Recurrence
from graph.sandbox.zones import lookup

WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(eq=False)
class EmUser:
    """A directory user with an Exchange Online mailbox.

    ``time_zone`` is ``mailboxSettings.timeZone`` exactly as Outlook stores it (Windows or IANA name, or
    ``""`` for a mailbox whose settings were never opened). ``working_time_zone`` is None (same as
    ``time_zone``), another zone name, or a ``customTimeZone`` dict. Flip ``mailbox_enabled`` to make
    every mailbox endpoint answer 404 MailboxNotEnabledForRESTAPI, and ``drop_online_meetings`` to emulate
    a tenant policy that silently drops Teams meetings from created events.
    """

    id: str
    upn: str
    display_name: str
    tenant_id: str
    time_zone: str
    working_days: tuple[str, ...]
    working_start: str
    working_end: str
    working_time_zone: dict[str, Any] | str | None = None
    mailbox_enabled: bool = True
    drop_online_meetings: bool = False
    job_title: str | None = None
    office_location: str | None = None
    preferred_language: str = "en-US"

    @property
    def mail(self) -> str:
        return self.upn

    @property
    def given_name(self) -> str:
        return self.display_name.split(" ")[0]

    @property
    def surname(self) -> str | None:
        parts = self.display_name.split(" ", 1)
        return parts[1] if len(parts) > 1 else None

    def email_address(self) -> dict[str, str]:
        return {"name": self.display_name, "address": self.upn}

    def mailbox_zone(self) -> ZoneInfo:
        """The mailbox's zone (UTC when the mailbox has none configured)."""
        return lookup(self.time_zone) or ZoneInfo("UTC")

    def __repr__(self) -> str:
        return f"EmUser({self.upn!r}, id={self.id!r})"


@dataclass(eq=False)
class Calendar:
    """A calendar folder in ``owner_id``'s mailbox; ``shares`` maps a sharee's user id to can-edit."""

    id: str
    owner_id: str
    name: str
    is_default: bool
    change_key: str
    color: str = "auto"
    hex_color: str = ""
    shares: dict[str, bool] = field(default_factory=dict)

    def visible_to(self, user_id: str) -> bool:
        return user_id == self.owner_id or user_id in self.shares

    def can_edit(self, user_id: str) -> bool:
        return user_id == self.owner_id or self.shares.get(user_id, False)


@dataclass(eq=False)
class StoredEvent:
    """One event: a single instance, a series master, or (transiently) an occurrence or exception.

    Instants are aware UTC. All-day events are floating dates (``all_day_start`` inclusive,
    ``all_day_end`` exclusive); their ``start``/``end`` hold those dates at UTC midnight, which is how
    calendarView matches them to a window.
    """

    id: str
    key: bytes
    owner_id: str
    calendar_id: str
    ical_uid: str
    change_key: str
    created: datetime
    modified: datetime
    start: datetime
    end: datetime
    start_tz: str
    end_tz: str
    subject: str = ""
    body_type: str = "html"
    body_content: str = ""
    importance: str = "normal"
    sensitivity: str = "normal"
    show_as: str = "busy"
    categories: list[str] = field(default_factory=list)
    is_all_day: bool = False
    all_day_start: date | None = None
    all_day_end: date | None = None
    location: dict[str, Any] = field(default_factory=dict)
    locations: list[dict[str, Any]] = field(default_factory=list)
    attendees: list[dict[str, Any]] = field(default_factory=list)
    organizer: dict[str, Any] = field(default_factory=dict)
    is_organizer: bool = True
    response_status: dict[str, str] = field(default_factory=dict)
    is_online_meeting: bool = False
    online_meeting_provider: str = "unknown"
    online_meeting: dict[str, Any] | None = None
    recurrence: Recurrence | None = None
    exceptions: dict[date, StoredEvent] = field(default_factory=dict)
    deleted_dates: set[date] = field(default_factory=set)
    type: str = "singleInstance"
    series_master_id: str | None = None
    original_start: datetime | None = None
    original_date: date | None = None
    transaction_id: str | None = None
    ext_props: dict[str, tuple[str, str]] = field(default_factory=dict)
    extensions: list[dict[str, Any]] = field(default_factory=list)
    is_reminder_on: bool = True
    reminder_minutes: int = 15
    response_requested: bool = True
    allow_new_time_proposals: bool = True
    hide_attendees: bool = False
    is_cancelled: bool = False


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One HTTP request the Graph app served (``$batch`` inner requests have ``path`` ``"$batch:/..."``).

    ``path`` is relative to the version root (``/me/calendarView``), without the query string, which is
    in ``query``; ``user_id`` is the authenticated caller (None when authentication failed).
    """

    method: str
    path: str
    user_id: str | None
    status: int
    query: str = ""
    mailbox_id: str | None = None


@dataclass(eq=False)
class AccessToken:
    user_id: str
    expires_at: datetime
    app_id: str
    scopes: tuple[str, ...]


@dataclass(eq=False)
class RefreshToken:
    user_id: str
    client_id: str
    scope: str
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """One call to the login app's token endpoint: the tenant path segment it was sent to (the authority
    MSAL used), the grant type and the client id."""

    tenant: str
    grant_type: str
    client_id: str


@dataclass(eq=False)
class AuthCode:
    user_id: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str
    nonce: str | None
    expires_at: datetime
    used: bool = False


@dataclass(eq=False)
class Subscription:
    """A change-notification subscription. ``challenged_at`` is when the last ``reauthorizationRequired``
    was sent; ``challenge_pending_since`` is when the oldest unanswered one was, until the app reauthorizes
    or renews (an unanswered challenge eventually pauses delivery, see :class:`ChangeTracking`)."""

    id: str
    user_id: str
    resource: str
    change_types: tuple[str, ...]
    notification_url: str
    lifecycle_notification_url: str | None
    expiration: datetime
    client_state: str | None
    application_id: str
    creator_id: str
    tenant_id: str
    latest_tls: str = "v1_2"
    challenged_at: datetime | None = None
    challenge_pending_since: datetime | None = None


def retry_schedule(first: float = 15.0, cap: float = 3600.0, total: float = 4 * 3600.0) -> tuple[float, ...]:
    """Waits (seconds) between delivery attempts: doubling from ``first``, at most ``cap`` each, adding up
    to ``total`` (Graph keeps retrying a notification for up to 4 hours, then drops it)."""
    delays: list[float] = []
    wait, spent = first, 0.0
    while spent < total:
        step = min(wait, cap, total - spent)
        delays.append(step)
        spent += step
        wait *= 2
    return tuple(delays)


@dataclass
class ChangeTracking:
    """How Graph's change tracking behaves over time; tests shorten these.

    * ``delta_token_max_age``: a delta or skip token older than this is gone (410 ``syncStateNotFound``,
      with a ``Location`` that starts a full sync). Outlook's real lifetime is not fixed (a cache decides);
      None never expires tokens on their own.
    * ``delivery_timeout``: Graph waits this long (3 s) for a 2xx from a notification URL; anything else is a
      failed attempt, retried after each of ``retry_delays`` (about 4 hours in all), then dropped with a
      ``missed`` lifecycle notification to subscriptions that have a ``lifecycleNotificationUrl``.
    * ``reauthorization_lead``/``reauthorization_repeat``: ``reauthorizationRequired`` is sent once a
      subscription is this close to expiry, and again every ``repeat`` until it is renewed; an unanswered
      challenge older than ``reauthorization_grace`` pauses delivery (the changes meanwhile are lost, as
      with Graph: catch up with delta).
    * ``min_lifetime_minutes``: a requested expiry sooner than this is raised to it (Graph: 45 minutes).
    * ``tick_interval``: seconds between the running notifier's expiry and challenge checks.
    """

    delta_token_max_age: timedelta | None = timedelta(days=7)
    delivery_timeout: float = 3.0
    retry_delays: tuple[float, ...] = field(default_factory=retry_schedule)
    reauthorization_lead: timedelta = timedelta(hours=1)
    reauthorization_repeat: timedelta = timedelta(minutes=15)
    reauthorization_grace: timedelta | None = timedelta(minutes=30)
    min_lifetime_minutes: int = 45
    tick_interval: float = 1.0


@dataclass(eq=False)
class DeltaSync:
    """A delta round's saved state: the window, and the instances (id -> changeKey) the client has seen."""

    user_id: str
    calendar_id: str
    start: datetime
    end: datetime
    seen: dict[str, str]
    expired: bool = False
    issued: datetime | None = None  # when its deltaLink was handed out (tokens age from then)


@dataclass(eq=False)
class DeltaPage:
    """The rest of a delta response still to be paged out (``$skiptoken``)."""

    user_id: str
    items: list[dict[str, Any]]
    sync: DeltaSync
    issued: datetime | None = None  # when its nextLink was handed out


@dataclass(frozen=True, slots=True)
class Change:
    """A change to a mailbox's events, as change notifications report it."""

    user_id: str
    event_id: str
    change_type: str
    change_key: str


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """One POST the emulator made to a notification URL, or a delivery it gave up on.

    ``kind``: ``validation`` (handshake), ``notification`` / ``lifecycle`` (one record per attempt, with
    ``attempt`` counting Graph's retries), ``dropped`` (retries exhausted; ``payload`` is what was lost) and
    ``paused`` (not sent: the subscription has an unanswered ``reauthorizationRequired``)."""

    url: str
    kind: str
    payload: Any
    status: int | None
    error: str | None = None
    attempt: int = 1  # 1 for the first delivery, 2... for Graph's retries; "dropped" records have the last
