"""Typed wire models of the web adapter: what the JSON endpoints of a booking link accept and answer.

These are the public API's models (REST API v1 reuses them and generates its OpenAPI document from
``Model.model_json_schema(by_alias=True)``): fields are spelled as the API spells them (camelCase
aliases; Python code may use either name), each carries an example, and unknown request fields are
refused (a misspelt ``timezone`` is an error naming it, not a silent UTC).

What a model checks is the *shape* of a request: types, formats, required fields, and that every date
and instant lies within the reach of :mod:`scheduling.reach` (always inside the calendar Slotwise works
in; with ``context={"now": ...}`` also within the span around now a request may name). The *rules* (an
email's syntax, a name's length, which meeting lengths a link offers) stay in the core, which checks
them on every use case; a model only reuses the core's bounds and messages.

Reading a request into a model (the body's JSON, duplicate keys, nesting, content types) is
:mod:`web.wire`; turning a refusal into problem details is :mod:`web.problems`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from scheduling.assignment import MAX_WEIGHT, MIN_WEIGHT, AssignmentMode, PeriodUnit
from scheduling.booking import MAX_QUERY_DAYS
from scheduling.correlation import current_request_id
from scheduling.domain import BookingStatus, ConnectionStatus, LinkKind
from scheduling.invitee import InviteeForm
from scheduling.ports import LocationKind
from scheduling.reach import FIRST_DATE, LAST_DATE, instant_problem
from scheduling.rules import (
    DURATION_RULE,
    MAX_DURATION,
    MAX_WINDOW_DAYS,
    MIN_DURATION,
    MINUTES_PER_DAY,
    BusyStatus,
    duration_problem,
)
from scheduling.teams import MAX_MEMBERS
from scheduling.timezones import is_valid_zone

#: Everything a request may name lies in this calendar, whatever ``now`` is (no arithmetic overflows).
CALENDAR_START = datetime(FIRST_DATE.year, FIRST_DATE.month, FIRST_DATE.day, tzinfo=UTC)
CALENDAR_END = datetime(LAST_DATE.year, LAST_DATE.month, LAST_DATE.day, tzinfo=UTC) + timedelta(days=1)

INSTANT_EXAMPLE = "2026-12-01T14:00:00Z"
DATE_EXAMPLE = "2026-12-01"


def _alias(info: ValidationInfo) -> str:
    return to_camel(info.field_name or "value")


# ------------------------------------------------------------------------------------------ field types


def _instant(value: object, info: ValidationInfo) -> datetime:
    """An ISO 8601 instant with its offset ('Z' or '+02:00'), as an aware UTC datetime."""
    name = _alias(info)
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError(
            "instant", "Give the {name} as a UTC time like {example}.", {"name": name, "example": INSTANT_EXAMPLE}
        )
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise PydanticCustomError(
            "instant", "'{value}' is not a time like {example}.", {"value": text[:40], "example": INSTANT_EXAMPLE}
        ) from None
    if parsed.tzinfo is None:
        raise PydanticCustomError("instant_zone", "Include the time zone: end the time with Z for UTC.")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the calendar begins, 9999-12-31T23:00-02:00 after it
        raise _outside_calendar(name) from None


def _outside_calendar(name: str) -> PydanticCustomError:
    return PydanticCustomError(
        "instant_reach",
        "'{name}' must be a time between {first} and {last}.",
        {"name": name, "first": FIRST_DATE.isoformat(), "last": LAST_DATE.isoformat()},
    )


def _instant_in_reach(value: datetime, info: ValidationInfo) -> datetime:
    """Inside the calendar always; within the reach of ``context["now"]`` when the context gives it."""
    now = info.context.get("now") if isinstance(info.context, dict) else None
    name = _alias(info)
    if not CALENDAR_START <= value < CALENDAR_END:
        raise _outside_calendar(name)
    if isinstance(now, datetime) and (problem := instant_problem(value, now, f"'{name}'")) is not None:
        raise PydanticCustomError("instant_reach", problem)
    return value


def _local_date(value: object, info: ValidationInfo) -> date:
    """An ISO date ``YYYY-MM-DD`` inside the calendar (the reach around today needs the zone: see
    :func:`scheduling.reach.check_date`)."""
    name = _alias(info)
    if value is None or value == "":
        raise PydanticCustomError(
            "date_missing", "'{name}' is required, as a date like {example}.", {"name": name, "example": DATE_EXAMPLE}
        )
    if not isinstance(value, str):
        raise PydanticCustomError(
            "date", "'{name}' must be a date like {example}.", {"name": name, "example": DATE_EXAMPLE}
        )
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError(
            "date", "'{value}' is not a date like {example}.", {"value": value[:40], "example": DATE_EXAMPLE}
        ) from None
    if not FIRST_DATE <= day <= LAST_DATE:
        raise PydanticCustomError(
            "date_reach",
            "'{name}' must be a date between {first} and {last}.",
            {"name": name, "first": FIRST_DATE.isoformat(), "last": LAST_DATE.isoformat()},
        )
    return day


def _zone_name(value: object) -> str:
    if not isinstance(value, str) or not is_valid_zone(value):
        shown = value[:60] if isinstance(value, str) else type(value).__name__
        raise PydanticCustomError(
            "time_zone", "'{value}' is not an IANA time zone such as Europe/London.", {"value": shown}
        )
    return value


def _minutes(value: object) -> int:
    """A meeting length in whole minutes, within the core's bounds (a JSON number, never true/false)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError("minutes", "Duration must be a whole number of minutes.")
    if (problem := duration_problem(value)) is not None:
        raise PydanticCustomError("minutes", problem)
    return value


def _query_minutes(value: object) -> int:
    """:func:`_minutes` from a query string ("30")."""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 6:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError("minutes", "'duration' must be a whole number of minutes.")
    return _minutes(value)


Instant = Annotated[datetime, BeforeValidator(_instant), AfterValidator(_instant_in_reach)]
"""An instant on the wire: ISO 8601 with an offset, read as UTC, within reach."""
LocalDate = Annotated[date, BeforeValidator(_local_date)]
"""A calendar date on the wire (``YYYY-MM-DD``), in the time zone the request names."""
TimeZoneName = Annotated[str, BeforeValidator(_zone_name)]
"""An IANA time zone name (``Europe/London``); Windows names are not accepted on the wire."""
#: A meeting length in whole minutes (the core's bounds, published in the schema as minimum/maximum).
Minutes = Annotated[int, Field(ge=MIN_DURATION, le=MAX_DURATION), BeforeValidator(_minutes)]
QueryMinutes = Annotated[int, Field(ge=MIN_DURATION, le=MAX_DURATION), BeforeValidator(_query_minutes)]


class WireModel(BaseModel):
    """Base of every wire model: camelCase on the wire, immutable, unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")

    def wire(self) -> dict[str, Any]:
        """The model as it goes on the wire: JSON types, camelCase names."""
        return self.model_dump(mode="json", by_alias=True)


# ------------------------------------------------------------------------------------------ requests


class StartField(WireModel):
    """A ``start`` alone, as a page's query or form sends it (``?start=2026-12-01T14:00:00Z``)."""

    model_config = ConfigDict(extra="ignore")

    start: Instant = Field(examples=[INSTANT_EXAMPLE])


class SlotsQuery(WireModel):
    """``GET /book/{handle}/{slug}/slots``: the slots whose start falls on ``start`` .. ``end`` (inclusive
    dates in ``timeZone``), at most 62 days."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"start": "2026-12-01", "end": "2026-12-07", "timeZone": "Europe/Paris", "duration": 30}]
        }
    )

    start: LocalDate = Field(description="The first day, in timeZone.", examples=[DATE_EXAMPLE])
    end: LocalDate = Field(description="The last day (included), in timeZone.", examples=["2026-12-07"])
    time_zone: TimeZoneName = Field("UTC", description="The IANA zone the days are in.", examples=["Europe/Paris"])
    duration: QueryMinutes | None = Field(
        None, description="A meeting length the link offers; its first one when absent.", examples=[30]
    )

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: date, info: ValidationInfo) -> date:
        start = info.data.get("start")
        if isinstance(start, date):
            if end < start:
                raise PydanticCustomError("range", "'end' is before 'start'.")
            if (end - start).days + 1 > MAX_QUERY_DAYS:
                raise PydanticCustomError("range", "Ask for at most {days} days at a time.", {"days": MAX_QUERY_DAYS})
        return end


class BookingRequest(WireModel):
    """``POST /book/{handle}/{slug}`` (JSON): book ``start`` for the invitee. ``duration`` picks one of the
    link's lengths (its first one when absent); ``end``, when sent, must be ``start`` + that length (or,
    without ``duration``, picks the length itself). The invitee's fields are checked by the core's rules;
    the answer to each of the link's questions goes in ``answers`` under the question's id."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "start": INSTANT_EXAMPLE,
                    "duration": 30,
                    "name": "Ivy Invitee",
                    "email": "ivy@example.org",
                    "timeZone": "Europe/Paris",
                    "notes": "About the renewal.",
                    "answers": {"company": "Contoso"},
                }
            ]
        }
    )

    start: Instant = Field(description="The slot's start (one of the offered times).", examples=[INSTANT_EXAMPLE])
    duration: Minutes | None = Field(None, description="Meeting length in minutes.", examples=[30])
    end: Instant | None = Field(
        None, description="The slot's end: start + duration.", examples=["2026-12-01T14:30:00Z"]
    )
    name: str = Field("", description="The invitee's name.", examples=["Ivy Invitee"])
    email: str = Field("", description="Where the invitation goes.", examples=["ivy@example.org"])
    time_zone: str = Field("UTC", description="The invitee's IANA time zone.", examples=["Europe/Paris"])
    notes: str = Field("", description="Anything the host should know.", examples=["About the renewal."])
    answers: dict[str, str] | None = Field(
        None, description="Answers by question id (null: none).", examples=[{"company": "Contoso"}]
    )

    @field_validator("end")
    @classmethod
    def _end_matches_duration(cls, end: datetime | None, info: ValidationInfo) -> datetime | None:
        start, duration = info.data.get("start"), info.data.get("duration")
        if end is None or not isinstance(start, datetime):
            return end
        seconds = (end - start).total_seconds()
        minutes = int(seconds // 60)
        if duration is not None:
            if end - start != timedelta(minutes=duration):
                raise PydanticCustomError(
                    "end",
                    "'end' is not 'start' + 'duration' ({duration} minutes): send one of them, or make them agree.",
                    {"duration": duration},
                )
        elif seconds <= 0 or seconds % 60 or duration_problem(minutes) is not None:
            raise PydanticCustomError(
                "end", "'end' must be a whole number of minutes after 'start'. {rule}", {"rule": DURATION_RULE}
            )
        return end

    def length(self) -> int | None:
        """The meeting length asked for: ``duration``, else what ``end`` implies, else None (the link's first)."""
        if self.duration is not None or self.end is None:
            return self.duration
        return int((self.end - self.start).total_seconds() // 60)

    def invitee(self) -> InviteeForm:
        """What the invitee entered, for the core to validate."""
        return InviteeForm(self.name, self.email, self.time_zone, self.notes, dict(self.answers or {}))


# ------------------------------------------------------------------------------------------ responses


class SlotOut(WireModel):
    """A bookable time: ``[start, end)`` in UTC."""

    start: datetime = Field(examples=[INSTANT_EXAMPLE])
    end: datetime = Field(examples=["2026-12-01T14:30:00Z"])


class SlotsResponse(WireModel):
    """The answer of ``GET .../slots``: sorted UTC instants."""

    time_zone: str = Field(description="The zone the days were read in.", examples=["Europe/Paris"])
    duration: int = Field(description="The meeting length of these slots, in minutes.", examples=[30])
    slots: list[SlotOut]


class BookingResponse(WireModel):
    """A booking as the booking endpoint answers it: 201 created (confirmed), 200 an idempotent replay,
    202 accepted (still being written to the host's calendar; it settles by itself)."""

    id: str = Field(examples=["0f8e6b1c2d3a4e5f9a8b7c6d5e4f3a2b"])
    status: BookingStatus = Field(examples=[BookingStatus.CONFIRMED])
    start: datetime = Field(examples=[INSTANT_EXAMPLE])
    end: datetime = Field(examples=["2026-12-01T14:30:00Z"])
    join_url: str | None = Field(
        description="The Teams meeting's join link, when it has one.",
        examples=["https://teams.microsoft.com/l/meetup-join/..."],
    )
    manage_url: str | None = Field(
        description="The invitee's secret link to reschedule or cancel; only on "
        "the answer that created the booking and its replays.",
        examples=["https://slotwise.example.com/manage/..."],
    )


class Problem(BaseModel):
    """RFC 9457 problem details, as every refusal is answered (``application/problem+json``)."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:slotwise:problem:invalid_query",
                    "title": "Invalid request",
                    "status": 400,
                    "detail": "'end' is before 'start'.",
                    "code": "invalid_query",
                    "parameter": "end",
                }
            ]
        },
    )

    type: str = Field(examples=["urn:slotwise:problem:validation_failed"])
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    code: str = Field(description="The machine-readable reason (the last part of type).")
    parameter: str | None = Field(None, description="The query parameter, header or field at fault.")
    errors: dict[str, str] | None = Field(None, description="Every wrong field and what to do about it.")
    alternatives: list[datetime] | None = Field(None, description="Free starts near a time just taken.")
    requestId: str | None = Field(  # the wire name
        default_factory=current_request_id,
        description="The id of the request this answers (also its X-Request-Id header): quote it to support.",
    )

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


# ------------------------------------------------------------------------------------------ REST API v1
#
# The models of /api/v1 (web.api): requests are read with them (unknown fields refused, every shape problem at
# once), answers are written through them, and the OpenAPI document at /api/v1/openapi.json is generated from
# them (web.api.openapi). The rules behind the shapes stay in the core (scheduling.links.link_problems,
# scheduling.webhooks); the bounds a shape publishes are the core's own constants.

HHMM = Annotated[str, Field(pattern=r"^(?:[01][0-9]|2[0-4]):[0-5][0-9]$", examples=["09:00"])]
TimeRange = Annotated[list[HHMM], Field(min_length=2, max_length=2, examples=[["09:00", "17:00"]])]
DayHours = Annotated[list[TimeRange], Field(max_length=12)]
DateKey = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
ResourceId = Annotated[str, Field(min_length=1, max_length=200, examples=["0f8e6b1c2d3a4e5f9a8b7c6d5e4f3a2b"])]
LINK_EXAMPLE = "3c1d5e7f9a0b2c4d6e8f0a1b3c5d7e9f"
BOOKING_EXAMPLE = "0f8e6b1c2d3a4e5f9a8b7c6d5e4f3a2b"
WEBHOOK_EXAMPLE = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
WebhookEvent = Literal["booking.created", "booking.rescheduled", "booking.cancelled", "link.created"]
#: A team member's priority tier (``scheduling.domain.Priority``) as the API spells it.
PriorityName = Literal["high", "medium", "low"]
TEAM_EXAMPLE = "7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"
USER_EXAMPLE = "5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a"


class WeeklyHours(WireModel):
    """Working hours per weekday as ``[start, end]`` pairs (``24:00`` is midnight at the end of the day); a day
    left out (or empty) is a day off."""

    monday: DayHours = Field(default_factory=list, examples=[[["09:00", "12:00"], ["13:00", "17:00"]]])
    tuesday: DayHours = Field(default_factory=list)
    wednesday: DayHours = Field(default_factory=list)
    thursday: DayHours = Field(default_factory=list)
    friday: DayHours = Field(default_factory=list)
    saturday: DayHours = Field(default_factory=list)
    sunday: DayHours = Field(default_factory=list)


class BookingWindowModel(WireModel):
    """How far ahead people can book: ``rollingDays`` (today and the days after it), or ``startDate`` to
    ``endDate`` (both included)."""

    rolling_days: int | None = Field(None, ge=1, le=MAX_WINDOW_DAYS, examples=[60])
    start_date: LocalDate | None = Field(None, examples=[DATE_EXAMPLE])
    end_date: LocalDate | None = Field(None, examples=["2027-03-31"])


class LocationModel(WireModel):
    """Where the meeting happens: a Teams meeting (no details needed), in person (an address), by phone (a
    number) or custom (a description)."""

    kind: LocationKind = Field(examples=[LocationKind.TEAMS])
    text: str = Field("", max_length=1000, examples=[""])


class EventTypeFields(WireModel):
    """The fields of an event type that creating and changing one set alike."""

    title: str | None = Field(None, max_length=1000, description="Shown on the booking page.", examples=["Intro call"])
    description: str | None = Field(None, max_length=5000, examples=["A first conversation."])
    durations: list[Minutes] | None = Field(
        None, min_length=1, max_length=10, description="The lengths offered; the first is the default.", examples=[[30]]
    )
    time_zone: TimeZoneName | None = Field(
        None, description="The zone of the working hours.", examples=["Europe/London"]
    )
    weekly_hours: WeeklyHours | None = None
    date_overrides: dict[DateKey, DayHours] | None = Field(
        None,
        max_length=400,
        description="Hours that replace the weekly ones on a date ([] for a day off).",
        examples=[{"2027-01-05": [], "2027-01-06": [["10:00", "14:00"]]}],
    )
    slot_interval: int | None = Field(
        None, ge=1, le=MINUTES_PER_DAY, description="Minutes between start times (null: automatic).", examples=[30]
    )
    buffer_before: int | None = Field(None, ge=0, le=MINUTES_PER_DAY, examples=[0])
    buffer_after: int | None = Field(None, ge=0, le=MINUTES_PER_DAY, examples=[10])
    minimum_notice: int | None = Field(
        None, ge=0, le=MAX_WINDOW_DAYS * MINUTES_PER_DAY, description="Minutes.", examples=[240]
    )
    booking_window: BookingWindowModel | None = None
    daily_cap: int | None = Field(None, ge=1, le=10_000, description="null: no limit.", examples=[4])
    weekly_cap: int | None = Field(None, ge=1, le=10_000, description="null: no limit.", examples=[None])
    blocking_statuses: list[BusyStatus] | None = Field(
        None, min_length=1, max_length=6, description="Outlook statuses that make the host unavailable."
    )
    location: LocationModel | None = None
    single_use: bool | None = Field(None, description="Stop taking bookings after one.", examples=[False])
    active: bool | None = Field(None, examples=[True])
    expires_at: Instant | None = Field(
        None, description="When the link stops taking bookings (null: never).", examples=["2027-01-31T17:00:00Z"]
    )
    kind: LinkKind | None = Field(
        None,
        description="single (a personal link), or round_robin / collective (a team link: one member, or every "
        "member, hosts each booking).",
        examples=[LinkKind.SINGLE_HOST],
    )


class EventTypeChanges(EventTypeFields):
    """The fields of a new event type; what is left out takes the defaults a link made in chat gets (the host's
    Outlook zone and working hours, 30 minutes, 4 hours' notice, 60 days ahead). With ``teamId`` it is a team link
    of that team (``kind`` round_robin, the default, or collective), made with you as its first member: the team
    must be one whose rotation you are in (404 otherwise)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Intro call",
                    "durations": [30, 60],
                    "timeZone": "Europe/London",
                    "weeklyHours": {"monday": [["09:00", "17:00"]], "tuesday": [["09:00", "17:00"]]},
                    "bufferAfter": 10,
                    "minimumNotice": 240,
                    "bookingWindow": {"rollingDays": 30},
                    "location": {"kind": "teams", "text": ""},
                    "singleUse": False,
                }
            ]
        }
    )

    team_id: ResourceId | None = Field(
        None, description="Make a team link of this team (its id, as event types show it).", examples=[TEAM_EXAMPLE]
    )


class TeamMemberChanges(WireModel):
    """One member of a team link's rotation, by ``userId``: what changes (a field left out keeps its value). The
    rotation is the team's: a member's priority, weight and limits hold for every link of the team."""

    user_id: ResourceId = Field(examples=[USER_EXAMPLE])
    priority: PriorityName | None = Field(
        None, description="A free member of a higher tier is always assigned first.", examples=["high"]
    )
    weight: int | None = Field(
        None,
        ge=MIN_WEIGHT,
        le=MAX_WEIGHT,
        description="Their share of the bookings, relative to the others.",
        examples=[100],
    )
    daily_cap: int | None = Field(None, ge=1, le=10_000, description="Their own limit (null: none).", examples=[3])
    weekly_cap: int | None = Field(None, ge=1, le=10_000, description="Their own limit (null: none).", examples=[None])
    remove: bool = Field(
        False,
        description="true takes them out of the team's rotation, as Leave in Teams does (their bookings stay "
        "theirs); their other fields are then ignored.",
        examples=[False],
    )


class TeamSettingsChanges(WireModel):
    """A team link's settings: how round-robin bookings are shared out, whether bookings are announced in the
    channel, and the members' rotation settings (only the members listed change)."""

    assignment_mode: AssignmentMode | None = Field(
        None, description="fair: by weight over the period; availability: any free member.", examples=["fair"]
    )
    fairness_period: PeriodUnit | None = Field(None, description="How often fairness starts over.", examples=["month"])
    announce: bool | None = Field(None, description="Announce bookings in the link's channel thread.", examples=[True])
    members: list[TeamMemberChanges] | None = Field(None, max_length=MAX_MEMBERS)


class EventTypeUpdate(EventTypeFields):
    """``PATCH``: only the fields given change. ``version``, when sent, must be the link's current one (409
    otherwise), so two editors can't overwrite each other. A team link takes ``teamSettings`` too, and its
    ``kind`` may switch between round_robin and collective; a personal link stays single."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Sales demo",
                    "kind": "round_robin",
                    "teamSettings": {
                        "assignmentMode": "fair",
                        "announce": False,
                        "members": [{"userId": USER_EXAMPLE, "priority": "high", "weight": 50, "dailyCap": 3}],
                    },
                    "version": 3,
                }
            ]
        }
    )

    version: int | None = Field(None, ge=1, le=10**9, examples=[3])
    team_settings: TeamSettingsChanges | None = Field(None, description="Team links only.")


class WeeklyHoursOut(WireModel):
    monday: list[list[str]]
    tuesday: list[list[str]]
    wednesday: list[list[str]]
    thursday: list[list[str]]
    friday: list[list[str]]
    saturday: list[list[str]]
    sunday: list[list[str]]


class BookingWindowOut(WireModel):
    rolling_days: int | None
    start_date: date | None
    end_date: date | None


class LocationOut(WireModel):
    kind: LocationKind
    text: str


class TeamOut(WireModel):
    """The team a team link belongs to (a Teams team or group chat)."""

    id: str = Field(examples=[TEAM_EXAMPLE])
    name: str = Field(examples=["Sales"])
    slug: str = Field(description="Its part of the links' addresses.", examples=["sales"])


class TeamMemberOut(WireModel):
    """A member of the rotation: their settings, and whether Slotwise can read their calendar (a member who is not
    connected is never offered or assigned)."""

    user_id: str = Field(examples=[USER_EXAMPLE])
    name: str = Field(examples=["Megan Bowen"])
    priority: PriorityName = Field(examples=["medium"])
    weight: int = Field(examples=[100])
    daily_cap: int | None = Field(examples=[None])
    weekly_cap: int | None = Field(examples=[None])
    connection: ConnectionStatus = Field(examples=[ConnectionStatus.CONNECTED])


class TeamSettingsOut(WireModel):
    created_by: str | None = Field(description="Who made the link (who may change it here).", examples=[USER_EXAMPLE])
    assignment_mode: AssignmentMode = Field(examples=[AssignmentMode.FAIR])
    fairness_period: PeriodUnit = Field(examples=[PeriodUnit.MONTH])
    announce: bool
    members: list[TeamMemberOut]


class EventType(WireModel):
    """An event type (a booking link) as the API returns it; ``link.created`` webhooks carry the same. A team link
    has its ``team`` and ``teamSettings`` (null for a personal link)."""

    id: str = Field(examples=[LINK_EXAMPLE])
    slug: str = Field(examples=["intro-call"])
    title: str = Field(examples=["Intro call"])
    description: str
    kind: LinkKind = Field(examples=[LinkKind.SINGLE_HOST])
    booking_url: str | None = Field(examples=["https://slotwise.example.com/book/adele/intro-call"])
    durations: list[int] = Field(examples=[[30]])
    time_zone: str = Field(examples=["Europe/London"])
    weekly_hours: WeeklyHoursOut
    date_overrides: dict[str, list[list[str]]]
    slot_interval: int | None
    buffer_before: int
    buffer_after: int
    minimum_notice: int
    booking_window: BookingWindowOut
    daily_cap: int | None
    weekly_cap: int | None
    blocking_statuses: list[str]
    location: LocationOut
    single_use: bool
    active: bool
    expires_at: datetime | None = Field(examples=[None])
    version: int = Field(examples=[1])
    team: TeamOut | None = Field(examples=[None])
    team_settings: TeamSettingsOut | None = Field(examples=[None])


class EventTypeList(WireModel):
    data: list[EventType]


class BookingHost(WireModel):
    """Someone hosting a booking: the link's owner, or the team member(s) assigned."""

    id: str = Field(examples=[USER_EXAMPLE])
    name: str = Field(examples=["Adele Vance"])
    email: str = Field(examples=["adele@contoso.example"])


class Booking(WireModel):
    """A booking as the API returns it; booking webhooks carry the same, ``hosts`` included (plus what the change
    adds)."""

    id: str = Field(examples=[BOOKING_EXAMPLE])
    event_type_id: str = Field(examples=[LINK_EXAMPLE])
    title: str = Field(examples=["Intro call"])
    status: BookingStatus = Field(examples=[BookingStatus.CONFIRMED])
    start: datetime = Field(examples=[INSTANT_EXAMPLE])
    end: datetime = Field(examples=["2026-12-01T14:30:00Z"])
    host_id: str
    host_name: str = Field(examples=["Adele Vance"])
    host_time_zone: str = Field(examples=["Europe/London"])
    invitee_name: str = Field(examples=["Ivy Invitee"])
    invitee_email: str = Field(examples=["ivy@example.org"])
    invitee_time_zone: str = Field(examples=["Europe/Paris"])
    notes: str
    answers: dict[str, str]
    join_url: str | None = Field(examples=["https://teams.microsoft.com/l/meetup-join/..."])
    join_url_missing: bool
    cancel_reason: str
    hosts: list[BookingHost] = Field(
        description="Who hosts it, organiser first: the link's owner, the member a round-robin link assigned, or "
        "every member of a collective one (those still Slotwise users)."
    )


class BookingList(WireModel):
    data: list[Booking]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class ApiBookingRequest(BookingRequest):
    """``POST /api/v1/bookings``: book one of your event types (the fields of the public booking endpoint, and the
    event type). An ``Idempotency-Key`` header is required: a retry with the same key and body gets the same
    booking; the same key with another body is 422."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "eventTypeId": LINK_EXAMPLE,
                    "start": INSTANT_EXAMPLE,
                    "duration": 30,
                    "name": "Ivy Invitee",
                    "email": "ivy@example.org",
                    "timeZone": "Europe/Paris",
                }
            ]
        }
    )

    event_type_id: ResourceId


class BookingsQuery(WireModel):
    """``GET /api/v1/bookings``: your bookings by start time, filtered, a page at a time."""

    event_type_id: ResourceId | None = Field(None, description="Only this event type's.")
    status: BookingStatus | None = Field(None, description="Only bookings in this status.")
    start_from: Instant | None = Field(None, description="Only those starting at or after this.")
    start_to: Instant | None = Field(None, description="Only those starting before this.")
    cursor: str | None = Field(None, max_length=300, description="From `nextCursor` of the previous page.")
    limit: int = Field(25, ge=1, le=100)


class RescheduleRequest(WireModel):
    start: Instant = Field(description="The new start (one of the offered times).", examples=[INSTANT_EXAMPLE])


class CancelRequest(WireModel):
    reason: str = Field("", max_length=2000, description="Told to the invitee.", examples=["The host is ill."])


class WebhookCreate(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://hooks.example.com/slotwise",
                    "events": ["booking.created", "booking.cancelled"],
                    "description": "CRM sync",
                }
            ]
        }
    )

    url: str = Field(max_length=4096, description="An https:// address that answers 2xx within 10 s.")
    events: list[WebhookEvent] = Field(min_length=1, max_length=8)
    description: str = Field("", max_length=1000)


class WebhookUpdate(WireModel):
    url: str | None = Field(None, max_length=4096)
    events: list[WebhookEvent] | None = Field(None, min_length=1, max_length=8)
    description: str | None = Field(None, max_length=1000)
    enabled: bool | None = Field(None, description="Switch deliveries on or off (on again after a disable).")


class Webhook(WireModel):
    """A webhook subscription (its secret is only ever shown when it is made or rotated)."""

    id: str = Field(examples=[WEBHOOK_EXAMPLE])
    url: str = Field(examples=["https://hooks.example.com/slotwise"])
    events: list[str] = Field(examples=[["booking.created"]])
    description: str
    enabled: bool
    disabled_reason: str = Field(description="Why it was disabled ('' when enabled).")
    disabled_at: datetime | None
    last_success_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the secret replaced by the last rotation still signs too."
    )
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(Webhook):
    secret: str = Field(
        description="The signing secret (Standard Webhooks): shown once, keep it safe.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class WebhookList(WireModel):
    data: list[Webhook]


class SecretRotation(WireModel):
    secret: str = Field(description="The new signing secret: shown once.", examples=["whsec_MfKQ9r8GKYqrTwjUPD8I"])
    previous_secret_expires_at: datetime = Field(description="The old secret signs too until then (24 h).")


class WebhookDelivery(WireModel):
    id: str = Field(description="The delivery's webhook-id (the same on every attempt).", examples=["msg_0f8e6b1c"])
    event: str = Field(examples=["booking.created"])
    status: Literal["pending", "retrying", "succeeded", "failed", "skipped"]
    attempts: int
    response_code: int | None
    error: str
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None


class WebhookDeliveryList(WireModel):
    data: list[WebhookDelivery]
