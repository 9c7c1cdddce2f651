"""The emulator's in-memory world: tenants, users and mailboxes, calendars, events, tokens, faults.

Everything the HTTP layer does goes through the operations here, and tests drive the same operations
directly (``add_user``, ``add_event``, ``add_calendar``, ``issue_token``...). Changes to events are
published to listeners (the change-notification sender of a running Graph app).

The state may read the wall clock (it is an adapter), but a ``clock`` callable can be injected so
tests control time: token expiry, subscription expiry and timestamps all use :meth:`EmulatorState.now`.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from graph.sandbox.errors import GraphError, id_malformed, item_not_found
from graph.sandbox.events import (
    Expand,
    apply_body,
    instances,
    make_exception,
    new_event,
    occurrence_on,
    render_event,
)
from graph.sandbox.faults import Faults
from graph.sandbox.ids import IdFactory, decode_event_id
from graph.sandbox.model import (
    WEEKDAY_NAMES,
    AccessToken,
    AuthCode,
    Calendar,
    Change,
    ChangeTracking,
    DeltaPage,
    DeltaSync,
    EmUser,
    NotificationRecord,
    RefreshToken,
    RequestRecord,
    StoredEvent,
    Subscription,
    TokenRequest,
)
from graph.sandbox.resources import render_calendar
from graph.sandbox.timefmt import fmt_wall, resolve_zone
from graph.sandbox.tokens import encode_jwt

log = logging.getLogger("graph.sandbox")

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
SANDBOX_APP_ID = "5a1d0b0c-5a1d-4b0c-8a1d-5a1d0b0c5a1d"
DEFAULT_SCOPES = ("Calendars.ReadWrite", "MailboxSettings.Read", "User.Read")
TOKEN_ERROR_KINDS = ("invalid_grant", "consent_required", "mfa_required", "interaction_required")
WORKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
LOG_LIMIT = 20_000  # request and notification log entries kept (a sandbox may run for days)
TOKEN_STATE_LIMIT = 5_000  # delta rounds and pages kept


def trim(log: list[Any], limit: int = LOG_LIMIT) -> None:
    """Drop the oldest half of a log once it passes ``limit``."""
    if len(log) > limit:
        del log[: len(log) // 2]


def cap(store: dict[str, Any], limit: int = TOKEN_STATE_LIMIT) -> None:
    """Forget the oldest entries of an insertion-ordered store beyond ``limit``."""
    while len(store) > limit:
        del store[next(iter(store))]


def _hhmmss(text: str) -> str:
    parts = text.split(".")[0].split(":")
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"'{text}' is not a time of day like 08:00:00")
    h, m, s = (int(p) for p in [*parts, "0"][:3])
    if h > 23 or m > 59 or s > 59:
        raise ValueError(f"'{text}' is not a time of day like 08:00:00")
    return f"{h:02d}:{m:02d}:{s:02d}"


class EmulatorState:
    """In-memory Microsoft Graph world. No users until ``add_user`` / ``seed_demo``."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        seed: int | str | None = None,
        tenant_id: str | None = None,
        subscription_max_minutes: int = 10080,
    ) -> None:
        self.ids = IdFactory(seed)
        self._clock = clock
        self.default_tenant_id = tenant_id or self.ids.guid()
        self.users: dict[str, EmUser] = {}
        self._by_upn: dict[str, str] = {}
        self.calendars: dict[str, Calendar] = {}
        self._events: dict[str, StoredEvent] = {}
        self._by_key: dict[bytes, str] = {}
        self._transactions: dict[tuple[str, str], str] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.auth_codes: dict[str, AuthCode] = {}
        self.token_errors: dict[str, str] = {}
        self.consented_tenants: set[str] = set()
        self.app_id_uris: dict[str, tuple[str, ...]] = {}  # client id -> Application ID URIs (register_app)
        self.token_requests: list[TokenRequest] = []
        self.directory: dict[tuple[str, str], str] = {}  # (tenant, Teams user's object id) -> mailbox id
        self.subscriptions: dict[str, Subscription] = {}
        self.subscription_max_minutes = subscription_max_minutes  # Outlook events: 10,080 (under 7 days)
        self.change_tracking = ChangeTracking()  # token ages, delivery retries, lifecycle timing
        self.delta_syncs: dict[str, DeltaSync] = {}
        self.delta_pages: dict[str, DeltaPage] = {}
        self.request_log: list[RequestRecord] = []
        self.notification_log: list[NotificationRecord] = []
        self.cancellations: list[dict[str, Any]] = []
        self.body_blob_lost: list[str] = []
        self.faults = Faults()
        self.access_token_lifetime = 3600
        self.inflight: dict[str, int] = defaultdict(int)
        self._listeners: list[Callable[[Change], None]] = []
        self.notifier: Any = None  # the running Graph app's Notifier (handshakes, lifecycle events)
        self.allow_insecure_notification_urls = False
        self.validation_timeout = 10.0  # seconds Graph waits for the subscription validation echo
        self.revision = 0  # bumped by :meth:`touch` on every change (a saver writes the state out when it moves)

    def touch(self) -> None:
        """Note that the world may have changed (the Graph and login apps call it after each request)."""
        self.revision += 1

    # ------------------------------------------------------------------------------------ clock

    def now(self) -> datetime:
        current = self._clock() if self._clock else datetime.now(UTC)
        if current.tzinfo is None:
            raise ValueError("the emulator clock must return aware datetimes")
        return current.astimezone(UTC)

    # ------------------------------------------------------------------------------------ users

    def add_user(
        self,
        upn: str,
        display_name: str,
        time_zone: str = "UTC",
        working_days: Sequence[str] = WORKDAYS,
        working_start: str = "08:00:00",
        working_end: str = "17:00:00",
        working_time_zone: Mapping[str, Any] | str | None = None,
        user_id: str | None = None,
        tenant_id: str | None = None,
    ) -> EmUser:
        """Create a user with a mailbox and a default calendar named "Calendar"."""
        if upn.lower() in self._by_upn:
            raise ValueError(f"user {upn} already exists")
        for name in (time_zone, working_time_zone):
            if isinstance(name, str) and name.strip():
                try:
                    resolve_zone(name)
                except GraphError as exc:
                    raise ValueError(f"unknown time zone {name!r}") from exc
        days = tuple(d.lower() for d in working_days)
        unknown = [d for d in days if d not in WEEKDAY_NAMES]
        if unknown:
            raise ValueError(f"unknown working days {unknown}")
        user = EmUser(
            id=user_id or self.ids.guid(),
            upn=upn,
            display_name=display_name,
            tenant_id=tenant_id or self.default_tenant_id,
            time_zone=time_zone,
            working_days=days,
            working_start=_hhmmss(working_start),
            working_end=_hhmmss(working_end),
            working_time_zone=dict(working_time_zone) if isinstance(working_time_zone, Mapping) else working_time_zone,
        )
        if user.id in self.users:
            raise ValueError(f"user id {user.id} already exists")
        self.users[user.id] = user
        self._by_upn[upn.lower()] = user.id
        cal = Calendar(
            id=self.ids.calendar_id(),
            owner_id=user.id,
            name="Calendar",
            is_default=True,
            change_key=self.ids.change_key(),
        )
        self.calendars[cal.id] = cal
        self.touch()
        return user

    def load(
        self,
        *,
        users: Iterable[EmUser],
        calendars: Iterable[Calendar],
        events: Iterable[StoredEvent],
        transactions: Mapping[tuple[str, str], str],
    ) -> None:
        """Replace the mailboxes, calendars and events at once (``graph.sandbox.persist`` restoring a saved
        world); ``events`` are single instances and series masters, exceptions inside their masters."""
        users, calendars, events = list(users), list(calendars), list(events)
        self.users = {u.id: u for u in users}
        self._by_upn = {u.upn.lower(): u.id for u in users}
        self.calendars = {c.id: c for c in calendars}
        self._events = {e.id: e for e in events}
        self._by_key = {e.key: e.id for e in events}
        self._transactions = dict(transactions)
        self.touch()

    def all_stored_events(self) -> list[StoredEvent]:
        """Every single instance and series master of every mailbox, oldest first."""
        return list(self._events.values())

    def transaction_ids(self) -> dict[tuple[str, str], str]:
        """(mailbox id, transactionId) -> event id, for the events that still exist."""
        return {k: v for k, v in self._transactions.items() if v in self._events}

    def directory_user(self, tenant_id: str, object_id: str) -> EmUser | None:
        """The mailbox of the person (tenant, object id): linked by the sandbox connector, or created with
        that object id in that tenant."""
        user_id = self.directory.get((tenant_id, object_id))
        if user_id is not None:
            return self.users.get(user_id)
        user = self.users.get(object_id)
        return user if user is not None and user.tenant_id == tenant_id else None

    def directory_owner(self, mailbox: EmUser) -> tuple[str, str] | None:
        """The (tenant, object id) a mailbox was linked to, if any."""
        return next((key for key, user_id in self.directory.items() if user_id == mailbox.id), None)

    def link_directory(self, tenant_id: str, object_id: str, mailbox: EmUser) -> None:
        self.directory[(tenant_id, object_id)] = mailbox.id
        self.touch()

    def get_user(self, id_or_upn: str) -> EmUser | None:
        """A user by object id or UPN/mail (case-insensitive)."""
        if not id_or_upn:
            return None
        key = id_or_upn.strip().lower()
        user_id = self._by_upn.get(key)
        if user_id:
            return self.users[user_id]
        return next((u for u in self.users.values() if u.id.lower() == key), None)

    def user(self, id_or_upn: str | EmUser) -> EmUser:
        if isinstance(id_or_upn, EmUser):
            return id_or_upn
        found = self.get_user(id_or_upn)
        if found is None:
            raise KeyError(f"no emulator user {id_or_upn!r}")
        return found

    def ensure_user(
        self,
        upn: str,
        display_name: str,
        time_zone: str = "UTC",
        tenant_id: str | None = None,
        now: datetime | None = None,
        *,
        seed_weeks: int = 4,
        user_id: str | None = None,
    ) -> EmUser:
        """The user with this UPN, created (with object id ``user_id`` when given, and a few weeks of
        meetings) if missing."""
        existing = self.get_user(upn)
        if existing is not None:
            return existing
        from graph.sandbox.seed import seed_mailbox  # seed builds on this module: import when used

        user = self.add_user(upn, display_name, time_zone or "UTC", tenant_id=tenant_id, user_id=user_id)
        seed_mailbox(self, user, now or self.now(), weeks=seed_weeks)
        return user

    # -------------------------------------------------------------------------------- calendars

    def default_calendar(self, user: EmUser | str) -> Calendar:
        owner = self.user(user)
        return next(c for c in self.calendars.values() if c.owner_id == owner.id and c.is_default)

    def visible_calendars(self, user: EmUser | str) -> list[Calendar]:
        """The user's own calendars (default first) followed by calendars shared with them."""
        viewer = self.user(user)
        own = sorted((c for c in self.calendars.values() if c.owner_id == viewer.id), key=lambda c: not c.is_default)
        shared = [c for c in self.calendars.values() if viewer.id in c.shares]
        return own + shared

    def add_calendar(
        self, id_or_upn: str, name: str, can_edit: bool = True, owner_upn: str | None = None
    ) -> dict[str, Any]:
        """A new secondary calendar, or (``owner_upn`` another user) that user's calendar ``name``
        (created if needed) shared with this user. Returns the calendar as this user sees it."""
        user = self.user(id_or_upn)
        owner = self.user(owner_upn) if owner_upn else user
        cal = None
        if owner.id != user.id:
            cal = next(
                (c for c in self.calendars.values() if c.owner_id == owner.id and c.name.lower() == name.lower()), None
            )
        if cal is None:
            cal = Calendar(
                id=self.ids.calendar_id(),
                owner_id=owner.id,
                name=name,
                is_default=False,
                change_key=self.ids.change_key(),
            )
            self.calendars[cal.id] = cal
        if owner.id != user.id:
            cal.shares[user.id] = can_edit
        self.touch()
        return render_calendar(self, cal, user)

    # ----------------------------------------------------------------------------------- events

    def add_listener(self, listener: Callable[[Change], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Change], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, ev: StoredEvent, change_type: str) -> None:
        self.touch()
        change = Change(ev.owner_id, ev.id, change_type, ev.change_key)
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:  # a listener must never break the request that made the change
                log.exception("change listener failed")

    def create_event(
        self, mailbox: EmUser, calendar: Calendar, payload: Any, *, organizer: EmUser | None = None
    ) -> tuple[StoredEvent, bool]:
        """Create an event (or, for a repeated ``transactionId`` in this mailbox, return the first one).

        Returns ``(event, created)``; raises GraphError for an invalid body."""
        tx = None
        if isinstance(payload, Mapping):
            tx = next((v for k, v in payload.items() if k.lower() == "transactionid"), None)
        if tx is not None:
            existing_id = self._transactions.get((mailbox.id, str(tx)))
            if existing_id and existing_id in self._events:
                return self._events[existing_id], False
        owner = self.users[calendar.owner_id]
        ev = new_event(payload, owner=owner, calendar_id=calendar.id, ids=self.ids, now=self.now(), organizer=organizer)
        self._events[ev.id] = ev
        self._by_key[ev.key] = ev.id
        if ev.transaction_id is not None:
            self._transactions[(mailbox.id, ev.transaction_id)] = ev.id
        self._emit(ev, "created")
        return ev, True

    def _master_of(self, inst: StoredEvent) -> StoredEvent:
        assert inst.series_master_id is not None
        return self._events[inst.series_master_id]

    def find_event(self, mailbox: EmUser, event_id: str, calendar_id: str | None = None) -> StoredEvent:
        """The event, occurrence or exception with this id in ``mailbox`` (400 malformed, 404 unknown)."""
        try:
            kind, key, day = decode_event_id(event_id)
        except ValueError as exc:
            raise id_malformed() from exc
        if kind == "event":
            ev = self._events.get(event_id)
        else:
            master = self._events.get(self._by_key.get(key, ""))
            ev = occurrence_on(master, day) if master is not None and day is not None else None
        if ev is None or ev.owner_id != mailbox.id or (calendar_id is not None and ev.calendar_id != calendar_id):
            raise item_not_found()
        return ev

    def update_event(self, mailbox: EmUser, event_id: str, payload: Any, calendar_id: str | None = None) -> StoredEvent:
        target = self.find_event(mailbox, event_id, calendar_id)
        owner = self.users[target.owner_id]
        if target.type in ("occurrence", "exception"):
            if isinstance(payload, Mapping) and any(k.lower() == "recurrence" for k in payload):
                raise GraphError(
                    400, "ErrorInvalidRequest", "An occurrence of a recurring series can't have its own recurrence."
                )
            assert target.original_date is not None
            target = make_exception(self._master_of(target), target.original_date)
        old_start_date = self._series_local_date(target)
        result = apply_body(target, payload, owner=owner, ids=self.ids, now=self.now(), creating=False)
        if target.recurrence is not None and not any(k.lower() == "recurrence" for k in payload):
            new_start_date = self._series_local_date(target)
            if new_start_date != old_start_date and new_start_date is not None and old_start_date is not None:
                shift = new_start_date - old_start_date
                target.recurrence = replace(target.recurrence, start_date=target.recurrence.start_date + shift)
        if (
            result.body_replaced
            and target.is_online_meeting
            and target.online_meeting
            and str(target.online_meeting["joinUrl"]) not in target.body_content
        ):
            self.body_blob_lost.append(target.id)
            log.warning("event %s: PATCHed body dropped the Teams join blob", target.id)
        self._emit(target, "updated")
        return target

    @staticmethod
    def _series_local_date(ev: StoredEvent) -> date | None:
        if ev.recurrence is None:
            return None
        if ev.is_all_day:
            return ev.all_day_start
        return ev.start.astimezone(resolve_zone(ev.start_tz)).date()

    def delete_event(self, mailbox: EmUser, event_id: str, calendar_id: str | None = None) -> StoredEvent:
        target = self.find_event(mailbox, event_id, calendar_id)
        if target.type in ("occurrence", "exception"):
            master = self._master_of(target)
            assert target.original_date is not None
            master.exceptions.pop(target.original_date, None)
            master.deleted_dates.add(target.original_date)
            master.change_key = self.ids.change_key()
            master.modified = self.now()
        else:
            self._events.pop(target.id, None)
        self._emit(target, "deleted")
        return target

    def cancel_event(
        self, mailbox: EmUser, event_id: str, comment: str = "", calendar_id: str | None = None
    ) -> StoredEvent:
        """Organizer-only: send a cancellation and move the event (or occurrence) to Deleted Items."""
        target = self.find_event(mailbox, event_id, calendar_id)
        if not target.is_organizer:
            raise GraphError(
                400,
                "ErrorInvalidRequest",
                "Your request can't be completed. You need to be an organizer to cancel a meeting.",
            )
        target.is_cancelled = True
        self.cancellations.append(
            {
                "mailbox": mailbox.upn,
                "eventId": target.id,
                "comment": comment,
                "attendees": [a["emailAddress"]["address"] for a in target.attendees],
            }
        )
        self.delete_event(mailbox, target.id, calendar_id)
        return target

    def stored_events(self, user: EmUser | str, calendar_id: str | None = None) -> list[StoredEvent]:
        """Single instances and series masters (unexpanded) of the user's mailbox or one calendar."""
        owner = self.user(user)
        return [
            e
            for e in self._events.values()
            if e.owner_id == owner.id and (calendar_id is None or e.calendar_id == calendar_id)
        ]

    def view(self, calendar: Calendar, start: datetime, end: datetime) -> list[StoredEvent]:
        """Expanded instances of one calendar overlapping ``[start, end)``."""
        out: list[StoredEvent] = []
        for ev in self._events.values():
            if ev.calendar_id == calendar.id:
                out.extend(instances(ev, start, end))
        return out

    # ------------------------------------------------------------------ Python-side conveniences

    def add_event(
        self,
        id_or_upn: str,
        subject: str,
        start: datetime | date,
        end: datetime | date,
        show_as: str = "busy",
        is_all_day: bool = False,
        time_zone: str = "UTC",
        recurrence: Mapping[str, Any] | None = None,
        calendar_id: str | None = None,
        sensitivity: str = "normal",
        is_online_meeting: bool = False,
        *,
        body: str | None = None,
        location: str | None = None,
        attendees: Iterable[str | tuple[str, str] | Mapping[str, Any]] = (),
        organizer: str | None = None,
        categories: Iterable[str] = (),
        transaction_id: str | None = None,
        importance: str = "normal",
        single_value_extended_properties: Iterable[Mapping[str, str]] | None = None,
    ) -> dict[str, Any]:
        """Put an event in a user's calendar (validated exactly like ``POST /events``).

        ``start``/``end`` are aware datetimes (or dates for all-day events), written as wall time in
        ``time_zone``. ``organizer`` (another user's UPN) makes this an invitation the user received:
        ``isOrganizer`` false. Returns the event resource as the create response would."""
        user = self.user(id_or_upn)
        zone_ = resolve_zone(time_zone)

        def wall(value: datetime | date) -> str:
            if isinstance(value, datetime):
                if value.tzinfo is None:
                    raise ValueError("add_event needs aware datetimes (or dates for all-day events)")
                return fmt_wall(value.astimezone(zone_).replace(tzinfo=None))
            return fmt_wall(datetime.combine(value, time()))

        payload: dict[str, Any] = {
            "subject": subject,
            "showAs": show_as,
            "isAllDay": is_all_day,
            "sensitivity": sensitivity,
            "importance": importance,
            "start": {"dateTime": wall(start), "timeZone": time_zone},
            "end": {"dateTime": wall(end), "timeZone": time_zone},
            "categories": list(categories),
            "attendees": [_attendee(a) for a in attendees],
        }
        if body is not None:
            payload["body"] = {"contentType": "text", "content": body}
        if location is not None:
            payload["location"] = {"displayName": location}
        if recurrence is not None:
            payload["recurrence"] = dict(recurrence)
        if is_online_meeting:
            payload.update(isOnlineMeeting=True, onlineMeetingProvider="teamsForBusiness")
        if transaction_id is not None:
            payload["transactionId"] = transaction_id
        if single_value_extended_properties is not None:
            payload["singleValueExtendedProperties"] = [dict(p) for p in single_value_extended_properties]
        calendar = self.calendars[calendar_id] if calendar_id else self.default_calendar(user)
        if not calendar.can_edit(user.id):
            raise PermissionError(f"{user.upn} cannot write to calendar {calendar.name!r}")
        org = self.user(organizer) if organizer else None
        ev, _ = self.create_event(user, calendar, payload, organizer=org)
        return render_event(ev, echo_zones=True)

    def events(self, id_or_upn: str, calendar_id: str | None = None) -> list[dict[str, Any]]:
        """Stored (unexpanded) events as Graph would return them from ``/events`` in UTC, with every
        single-value extended property and open extension expanded (for assertions)."""
        everything = Expand(ext_props=frozenset(), extensions=frozenset())
        return [
            render_event(e, expand=everything)
            for e in sorted(self.stored_events(id_or_upn, calendar_id), key=lambda e: e.created)
        ]

    def get_event(self, id_or_upn: str, event_id: str) -> dict[str, Any] | None:
        try:
            ev = self.find_event(self.user(id_or_upn), event_id)
        except GraphError:
            return None
        return render_event(ev, expand=Expand(ext_props=frozenset(), extensions=frozenset()))

    def patch_event(self, id_or_upn: str, event_id: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        """Change an event as the mailbox owner would in Outlook (notifications and delta see it)."""
        return render_event(self.update_event(self.user(id_or_upn), event_id, dict(patch)), echo_zones=True)

    def remove_event(self, id_or_upn: str, event_id: str) -> None:
        """Delete an event as the mailbox owner would in Outlook."""
        self.delete_event(self.user(id_or_upn), event_id)

    # ----------------------------------------------------------------------------------- tokens

    def issue_token(
        self,
        id_or_upn: str,
        expires_in: int = 3600,
        *,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        app_id: str = SANDBOX_APP_ID,
    ) -> str:
        """A bearer token the Graph app accepts for this user (JWT-shaped, looked up, never verified)."""
        user = self.user(id_or_upn)
        now = self.now()
        expires = now + timedelta(seconds=expires_in)
        token = encode_jwt(
            {
                "aud": GRAPH_APP_ID,
                "iss": f"https://sts.windows.net/{user.tenant_id}/",
                "iat": int(now.timestamp()),
                "nbf": int(now.timestamp()),
                "exp": int(expires.timestamp()),
                "appid": app_id,
                "name": user.display_name,
                "oid": user.id,
                "scp": " ".join(scopes),
                "tid": user.tenant_id,
                "upn": user.upn,
                "unique_name": user.upn,
                "uti": secrets.token_urlsafe(16),
                "ver": "1.0",
            },
            signature=secrets.token_urlsafe(32),
        )
        self.access_tokens[token] = AccessToken(user.id, expires, app_id, tuple(scopes))
        self.touch()
        return token

    def authenticate(self, token: str) -> AccessToken | None:
        """The live access token record, or None (unknown or expired)."""
        record = self.access_tokens.get(token)
        if record is None or record.expires_at <= self.now() or record.user_id not in self.users:
            return None
        return record

    def expire_tokens(self, id_or_upn: str) -> None:
        """Every access token of the user is expired from now on (the next Graph call gets 401)."""
        user = self.user(id_or_upn)
        past = self.now() - timedelta(seconds=1)
        for record in self.access_tokens.values():
            if record.user_id == user.id:
                record.expires_at = past
        self.touch()

    def revoke_refresh_tokens(self, id_or_upn: str) -> None:
        """Refresh tokens of the user stop working (invalid_grant on the next refresh)."""
        user = self.user(id_or_upn)
        for record in self.refresh_tokens.values():
            if record.user_id == user.id:
                record.revoked = True
        self.touch()

    def set_token_error(self, id_or_upn: str, kind: str | None) -> None:
        """Make the login app's token endpoint fail this user's grants with a real AADSTS error shape."""
        user = self.user(id_or_upn)
        if kind is None:
            self.token_errors.pop(user.id, None)
            return
        if kind not in TOKEN_ERROR_KINDS:
            raise ValueError(f"kind must be one of {TOKEN_ERROR_KINDS} or None")
        self.token_errors[user.id] = kind

    def register_app(self, client_id: str, *identifier_uris: str) -> None:
        """Set the Application ID URIs of app ``client_id`` (its ``identifierUris`` in Entra ID): an
        on-behalf-of assertion must be issued to the client id or to one of them (else AADSTS500131).
        Unregistered apps have Teams' default, ``api://botid-{client id}``."""
        self.app_id_uris[client_id.lower()] = tuple(identifier_uris)
        self.touch()

    def accepted_audiences(self, client_id: str) -> tuple[str, ...]:
        uris = self.app_id_uris.get(client_id.lower(), (f"api://botid-{client_id}",))
        return (client_id, *uris)

    def issue_refresh_token(self, user: EmUser, client_id: str, scope: str) -> str:
        token = "0.A" + secrets.token_urlsafe(48)
        self.refresh_tokens[token] = RefreshToken(user.id, client_id, scope)
        self.touch()
        return token

    def expire_delta_tokens(self, id_or_upn: str) -> None:
        """Delta links of this user's mailbox stop working (410 Gone: resync)."""
        user = self.user(id_or_upn)
        for sync in self.delta_syncs.values():
            if sync.user_id == user.id:
                sync.expired = True
        self.touch()


def _attendee(value: str | tuple[str, str] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        name, address = value
        return {"emailAddress": {"name": name, "address": address}, "type": "required"}
    return {"emailAddress": {"address": value}, "type": "required"}
