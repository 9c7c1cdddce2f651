"""Realistic inputs for the card tests: links, slots computed by the real slot engine, bookings,
payloads built by the real ``booking_payload``, and hostile text."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from scheduling.booking import booking_payload
from scheduling.domain import Booking, BookingStatus, EventType, Invitee, Question, User
from scheduling.intervals import Interval
from scheduling.people import CalendarOptions, calendar_options
from scheduling.ports import BusyInterval, CalendarInfo, Location, LocationKind
from scheduling.rules import Availability, BookingWindow, BusyStatus, EventRules, LocalRange
from scheduling.slots import Slot, compute_slots

BASE_URL = "https://slotwise.example.com"
HOSTILE = (
    "<script>alert(1)</script>",
    "**bold**",
    "[link](javascript:alert(1))",
    "_x_ ~~y~~ `code` # heading",
    "{{DATE(2017-02-14T06:08:39Z, SHORT)}}",
    "- item\n1. one\n> quote",
    "\u202eevil\u202c",
)
HOSTILE_TEXT = " ".join(HOSTILE)
LONG_TEXT = "Quarterly planning sync about the roadmap, hiring and budget " * 12  # ~700 chars


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def rules(
    time_zone: str = "Europe/London",
    *,
    durations: tuple[int, ...] = (30,),
    interval: int | None = None,
    **kwargs: object,
) -> EventRules:
    availability = Availability(
        time_zone,
        ((LocalRange(540, 720), LocalRange(780, 1020)),) * 4 + ((LocalRange(540, 960),), (), ()),
        {date(2026, 12, 24): (), date(2026, 12, 27): (LocalRange(600, 840),)},
    )
    return EventRules(durations=durations, availability=availability, slot_interval=interval, **kwargs)  # type: ignore[arg-type]


def link(
    time_zone: str = "Europe/London",
    *,
    title: str = "Intro call",
    questions: tuple[Question, ...] = (),
    **kwargs: object,
) -> EventType:
    base = EventType(
        id="et_0001",
        tenant_id="tenant-1",
        slug="intro-call",
        title=title,
        rules=rules(
            time_zone,
            durations=(30, 60),
            interval=15,
            buffer_before=10,
            buffer_after=5,
            minimum_notice=240,
            window=BookingWindow(rolling_days=60),
            daily_cap=4,
            weekly_cap=12,
            blocking_statuses=frozenset({BusyStatus.BUSY, BusyStatus.OOF, BusyStatus.TENTATIVE}),
        ),
        owner_user_id="u_host",
        location=Location(LocationKind.TEAMS),
        questions=questions,
        description="A short first conversation.",
        version=3,
    )
    return replace(base, **kwargs)  # type: ignore[arg-type]


QUESTIONS = (
    Question(id="q_company", label="Company", required=True),
    Question(id="q_topic", label="What would you like to discuss?", multiline=True, max_length=1000),
)


def host(time_zone: str = "Europe/London") -> User:
    return User(
        id="u_host",
        tenant_id="tenant-1",
        aad_object_id="aad-host",
        display_name="Dana Host",
        email="dana@contoso.example",
        time_zone=time_zone,
        handle="dana",
    )


def week_slots(
    time_zone: str, week_start: date, *, interval: int = 5, duration: int = 30, busy: tuple[BusyInterval, ...] = ()
) -> list[Slot]:
    """Slots of one week from the real engine, on an ``interval``-minute grid (5 -> hundreds a day)."""
    r = replace(rules(time_zone, durations=(duration,), interval=interval), window=BookingWindow(rolling_days=365))
    start = datetime.combine(week_start, datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
    return compute_slots(r, now=start - timedelta(days=1), window=Interval(start, start + timedelta(days=9)), busy=busy)


def booking(
    *,
    status: BookingStatus = BookingStatus.CONFIRMED,
    join_url: str | None = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0",
    invitee_name: str = "Priya Patel",
    start: datetime | None = None,
    notes: str = "Looking forward!",
    booking_id: str = "bk_0001",
    event_type_id: str = "et_0001",
) -> Booking:
    begin = start or utc(2026, 12, 8, 14, 30)
    return Booking(
        id=booking_id,
        tenant_id="tenant-1",
        event_type_id=event_type_id,
        host_ids=("u_host",),
        start=begin,
        end=begin + timedelta(minutes=30),
        buffer_before=10,
        buffer_after=5,
        invitee=Invitee(
            name=invitee_name,
            email="priya@fabrikam.example",
            time_zone="Asia/Kolkata",
            notes=notes,
            answers={"q_company": "Fabrikam", "q_topic": "Pricing\nand rollout"},
        ),
        status=status,
        join_url=join_url,
        join_url_missing=join_url is None,
    )


def payload(kind: str = "booking.created", **booking_kwargs: object) -> dict[str, object]:
    b = booking(**booking_kwargs)  # type: ignore[arg-type]
    out = booking_payload(link(questions=QUESTIONS), b, host())
    if kind == "booking.rescheduled":
        out |= {"previousStart": "2026-12-07T10:00:00Z", "by": "invitee"}
    if kind == "booking.cancelled":
        out |= {"by": "invitee", "status": "cancelled", "cancelReason": "Something came up, **sorry**"}
    return out


def calendars(*, extra: int = 0, name: str = "Team rota") -> CalendarOptions:
    """Dana's calendars as Graph lists them (own default, own secondary, one shared with edit rights, one shared
    read-only, then ``extra`` more shared ones), with her current choice: the default and the rota for
    conflicts, bookings into the rota. Ids are as long as Graph's."""

    def cal_id(n: int) -> str:
        return f"AAMkAGI2TGuLAAA{n:04d}" + "x" * 120 + "="

    listed = [
        CalendarInfo(cal_id(0), "Calendar", "Dana Host", "dana@contoso.example", True, True),
        CalendarInfo(cal_id(1), "Interviews", "Dana Host", "dana@contoso.example", True, False),
        CalendarInfo(cal_id(2), name, "Megan Bowen", "megan@contoso.example", True, False),
        CalendarInfo(cal_id(3), "Holidays", "Megan Bowen", "megan@contoso.example", False, False),
        *(
            CalendarInfo(cal_id(10 + i), f"{name} {i}", "Alex Wilber", "alex@contoso.example", i % 2 == 0, False)
            for i in range(extra)
        ),
    ]
    dana = replace(host(), conflict_calendar_ids=(cal_id(0), cal_id(2)), write_calendar_id=cal_id(2))
    return calendar_options(listed, dana)
