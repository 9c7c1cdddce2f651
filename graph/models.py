"""Typed results of the Graph calendar operations, parsed from Graph's JSON at the edge.

Everything here is UTC and IANA: Windows zone names are mapped on the way in (``graph.timefmt``), so the
rest of Slotwise never sees Graph JSON. Each ``from_json`` keeps to the fields Slotwise uses and
tolerates the ones Graph leaves out (``null`` or absent).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from graph.customzone import match_custom_zone
from graph.errors import GraphError
from graph.timefmt import iana_zone_name, minutes_of_day, parse_dtz, parse_graph_datetime, wall_date
from scheduling.errors import UnknownTimeZone
from scheduling.ports import Attendee
from scheduling.rules import BusyStatus

log = logging.getLogger("slotwise.graph")

#: The Slotwise booking tag: a single-value extended property in Slotwise's own property-set GUID
#: (generated once with ``uuid.uuid4()``; never change it, or existing bookings stop being recognised).
SLOTWISE_PROPERTY_SET = "5b148de0-3563-4dd4-ba16-b9b13aface33"
BOOKING_ID_PROPERTY = f"String {{{SLOTWISE_PROPERTY_SET}}} Name SlotwiseBookingId"
#: The property-set GUID of Slotwise's first releases: the sample GUID of Microsoft's extended-property
#: docs, which any other app may use too. Events tagged with it are still read (never written).
LEGACY_PROPERTY_SET = "66f5a359-4659-4830-9070-00047ec6ac6e"
LEGACY_BOOKING_ID_PROPERTY = f"String {{{LEGACY_PROPERTY_SET}}} Name SlotwiseBookingId"
#: Every property id a booking tag is read from, the current one first.
BOOKING_ID_PROPERTIES = (BOOKING_ID_PROPERTY, LEGACY_BOOKING_ID_PROPERTY)
#: ``$expand`` that returns the booking tag (new or legacy) with an event.
BOOKING_EXPAND = (
    "singleValueExtendedProperties($filter=" + " or ".join(f"id eq '{prop}'" for prop in BOOKING_ID_PROPERTIES) + ")"
)

_DAY_INDEX = {
    name: i for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}

Json = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class GraphUser:
    """``GET /me``."""

    id: str
    display_name: str
    mail: str
    user_principal_name: str

    @classmethod
    def from_json(cls, data: Json) -> GraphUser:
        upn = str(data.get("userPrincipalName") or "")
        return cls(
            id=str(data.get("id") or ""),
            display_name=str(data.get("displayName") or ""),
            mail=str(data.get("mail") or upn),
            user_principal_name=upn,
        )


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """Working hours as Outlook stores them: weekdays (0 = Monday) and wall-clock minutes in ``time_zone``."""

    days: tuple[int, ...]
    start_minute: int
    end_minute: int
    time_zone: str


@dataclass(frozen=True, slots=True)
class MailboxSettings:
    """``GET /me/mailboxSettings``: the mailbox zone (IANA) and working hours.

    ``raw_time_zone`` is what Graph sent (Windows or IANA, possibly empty). ``time_zone_known`` is False
    when the mailbox has no usable zone and ``time_zone`` is only a fallback (working-hours zone or UTC).
    """

    time_zone: str
    raw_time_zone: str
    working_hours: WorkingHours | None
    time_zone_known: bool = True

    @classmethod
    def from_json(cls, data: Json, *, reference_year: int) -> MailboxSettings:
        raw = str(data.get("timeZone") or "")
        mailbox_zone: str | None = None
        if raw.strip():
            try:
                mailbox_zone = iana_zone_name(raw)
            except UnknownTimeZone:
                log.warning("mailbox time zone %r has no IANA equivalent", raw)
        hours = _working_hours(data.get("workingHours"), mailbox_zone, reference_year)
        if mailbox_zone:
            return cls(mailbox_zone, raw, hours)
        fallback = hours.time_zone if hours else "UTC"
        return cls(fallback, raw, hours, time_zone_known=False)


def _working_hours(data: object, mailbox_zone: str | None, year: int) -> WorkingHours | None:
    """Working hours, with the zone resolved: a named zone via CLDR, a ``customTimeZone`` by matching its
    bias and transition rules (``graph.customzone``); if neither works, the mailbox zone (then UTC)."""
    if not isinstance(data, Mapping):
        return None
    days = tuple(
        sorted(
            {
                _DAY_INDEX[d.lower()]
                for d in data.get("daysOfWeek") or ()
                if isinstance(d, str) and d.lower() in _DAY_INDEX
            }
        )
    )
    try:
        start = minutes_of_day(str(data.get("startTime") or "09:00:00"))
        end = minutes_of_day(str(data.get("endTime") or "17:00:00"))
    except ValueError:
        return None
    if end == 0 and start > 0:
        end = 24 * 60
    tz_data = data.get("timeZone") or {}
    zone_name: str | None = None
    if isinstance(tz_data, Mapping):
        is_custom = "bias" in tz_data or "customTimeZone" in str(tz_data.get("@odata.type", ""))
        if is_custom:
            zone_name = match_custom_zone(tz_data, year, prefer=(mailbox_zone,) if mailbox_zone else ())
            if zone_name is None:
                log.info("custom working-hours zone %r matched no IANA zone; using the mailbox zone", tz_data)
        elif tz_data.get("name"):
            try:
                zone_name = iana_zone_name(str(tz_data["name"]))
            except UnknownTimeZone:
                log.warning("working-hours zone %r has no IANA equivalent", tz_data.get("name"))
    return WorkingHours(days, start, end, zone_name or mailbox_zone or "UTC")


@dataclass(frozen=True, slots=True)
class GraphCalendarInfo:
    """One of ``GET /me/calendars``; ``owner_address`` is the sharer for a shared calendar."""

    id: str
    name: str
    can_edit: bool
    is_default: bool
    allowed_online_meeting_providers: tuple[str, ...]
    default_online_meeting_provider: str
    owner_name: str
    owner_address: str

    @classmethod
    def from_json(cls, data: Json) -> GraphCalendarInfo:
        owner = data.get("owner") or {}
        return cls(
            id=str(data.get("id") or ""),
            name=str(data.get("name") or ""),
            can_edit=bool(data.get("canEdit")),
            is_default=bool(data.get("isDefaultCalendar")),
            allowed_online_meeting_providers=tuple(data.get("allowedOnlineMeetingProviders") or ()),
            default_online_meeting_provider=str(data.get("defaultOnlineMeetingProvider") or ""),
            owner_name=str(owner.get("name") or ""),
            owner_address=str(owner.get("address") or ""),
        )

    @property
    def supports_teams(self) -> bool:
        return "teamsForBusiness" in self.allowed_online_meeting_providers


@dataclass(frozen=True, slots=True)
class ScheduleItem:
    start: datetime
    end: datetime
    status: BusyStatus


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    """Free/busy of one schedule from ``getSchedule``: either ``items`` or an ``error`` (never both).

    An errored schedule is an error value, not empty busy time, so callers must fail closed on it.
    """

    schedule_id: str
    items: tuple[ScheduleItem, ...] = ()
    error: GraphError | None = None
    working_hours: WorkingHours | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class GraphEvent:
    """An Outlook event, parsed. ``start``/``end`` are UTC instants; for an all-day event they are the
    values Graph sent (interpret ``all_day_dates`` in the host's zone instead)."""

    id: str
    subject: str
    start: datetime
    end: datetime
    is_all_day: bool = False
    all_day_dates: tuple[date, date] | None = None
    show_as: BusyStatus = BusyStatus.BUSY
    is_cancelled: bool = False
    is_online_meeting: bool = False
    online_meeting_provider: str = ""
    join_url: str | None = None
    ical_uid: str | None = None
    transaction_id: str | None = None
    booking_id: str | None = None
    attendees: tuple[Attendee, ...] = ()
    type: str = "singleInstance"
    series_master_id: str | None = None
    is_organizer: bool = True
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Json) -> GraphEvent:
        start_obj, end_obj = data.get("start") or {}, data.get("end") or {}
        is_all_day = bool(data.get("isAllDay"))
        online = data.get("onlineMeeting") or {}
        join_url = online.get("joinUrl") if isinstance(online, Mapping) else None
        attendees = tuple(
            Attendee(
                name=str((a.get("emailAddress") or {}).get("name") or ""),
                email=str((a.get("emailAddress") or {}).get("address") or ""),
            )
            for a in data.get("attendees") or ()
            if isinstance(a, Mapping)
        )
        return cls(
            id=str(data.get("id") or ""),
            subject=str(data.get("subject") or ""),
            start=parse_dtz(start_obj),
            end=parse_dtz(end_obj),
            is_all_day=is_all_day,
            all_day_dates=(wall_date(start_obj), wall_date(end_obj)) if is_all_day else None,
            show_as=BusyStatus.parse(str(data.get("showAs") or "busy")),
            is_cancelled=bool(data.get("isCancelled")),
            is_online_meeting=bool(data.get("isOnlineMeeting")),
            online_meeting_provider=str(data.get("onlineMeetingProvider") or ""),
            join_url=str(join_url) if join_url else None,
            ical_uid=data.get("iCalUId"),
            transaction_id=data.get("transactionId"),
            booking_id=booking_id_of(data),
            attendees=attendees,
            type=str(data.get("type") or "singleInstance"),
            series_master_id=data.get("seriesMasterId"),
            is_organizer=bool(data.get("isOrganizer", True)),
            raw=data,
        )


def _property_key(prop_id: str) -> str:
    return " ".join(prop_id.lower().split())


_BOOKING_KEYS = tuple(_property_key(p) for p in BOOKING_ID_PROPERTIES)


def booking_id_of(data: Json) -> str | None:
    """The Slotwise booking id from an event's expanded ``singleValueExtendedProperties``, if tagged
    (with the current tag or the legacy one; the current one wins if an event somehow has both)."""
    found: dict[str, str] = {}
    for prop in data.get("singleValueExtendedProperties") or ():
        if not isinstance(prop, Mapping):
            continue
        key = _property_key(str(prop.get("id", "")))
        value = prop.get("value")
        if key in _BOOKING_KEYS and value and key not in found:
            found[key] = str(value)
    return next((found[k] for k in _BOOKING_KEYS if k in found), None)


@dataclass(frozen=True, slots=True)
class Subscription:
    """A Graph change-notification subscription."""

    id: str
    resource: str
    change_type: str
    notification_url: str
    expiration: datetime
    client_state: str | None = None
    lifecycle_notification_url: str | None = None

    @classmethod
    def from_json(cls, data: Json) -> Subscription:
        return cls(
            id=str(data.get("id") or ""),
            resource=str(data.get("resource") or ""),
            change_type=str(data.get("changeType") or ""),
            notification_url=str(data.get("notificationUrl") or ""),
            expiration=parse_graph_datetime(str(data.get("expirationDateTime") or "")),
            client_state=data.get("clientState"),
            lifecycle_notification_url=data.get("lifecycleNotificationUrl"),
        )


@dataclass(frozen=True, slots=True)
class DeltaResult:
    """One complete delta round: changed events, removed ids, and the delta link for next time."""

    changes: tuple[GraphEvent, ...]
    removed_ids: tuple[str, ...]
    delta_link: str


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One request inside ``POST /$batch``; ``url`` is relative to the version root (``/me/...``)."""

    id: str
    method: str
    url: str
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "method": self.method.upper(), "url": self.url}
        headers = dict(self.headers or {})
        if self.body is not None:
            headers.setdefault("Content-Type", "application/json")
            out["body"] = self.body
        if headers:
            out["headers"] = headers
        return out


@dataclass(frozen=True, slots=True)
class BatchResponse:
    """One inner answer of ``$batch``, matched to its request by ``id``."""

    id: str
    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def parse_schedule_items(items: Sequence[Json] | None) -> tuple[ScheduleItem, ...]:
    out: list[ScheduleItem] = []
    for item in items or ():
        out.append(
            ScheduleItem(
                parse_dtz(item.get("start")),
                parse_dtz(item.get("end")),
                BusyStatus.parse(str(item.get("status") or "busy")),
            )
        )
    return tuple(out)
