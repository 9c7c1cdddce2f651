"""Picking a time inside Teams, and managing a booking from Teams.

Invitees: the slot picker (a week at a time, in the viewer's zone) -> a time -> the booking form
(prefilled from Teams) -> ``BookingService.book`` (which validates the form) -> the "you're booked" card
with the Teams join URL, the calendar file and the manage link. Hosts (and the Teams user who booked)
reschedule or cancel.

Every rule is the core's: a link id in card data is public, like the booking page
(``BookingService.public_link``); a booking id is not a capability: only the booking's host, or the Teams
user who made it (tenant + Entra object id, never an email), may move or cancel it from Teams
(``BookingService.for_actor``); everyone else uses the manage link.

Booking from Teams is idempotent per Teams user and request (the core derives the key and namespaces it by
tenant + Entra object id): a retried or double-clicked Confirm returns the same booking, with the manage
link, instead of a "slot taken". The manage link is shown only on that answer; later cards of the booking
(moved, cancelled) carry none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from bot.context import Turn
from bot.reply import Json, Reply
from cards import (
    booked,
    booking_url,
    cancel_reason_input_id,
    confirm_booking,
    confirm_reschedule,
    host_notification,
    slot_picker,
    utc_iso,
    week_start_of,
)
from scheduling.booking import booking_payload
from scheduling.domain import Booking, BookingStatus, Caller, EventType, User
from scheduling.errors import Conflict, InvalidQuery
from scheduling.intervals import Interval
from scheduling.invitee import InviteeForm
from scheduling.localtime import from_epoch, to_epoch, wall_to_epoch
from scheduling.slots import Slot, booking_window_bounds, resolve_duration
from scheduling.timezones import zone

WEEKS_FETCHED = 8  # one calendar read covers the week shown and the next free day after it
Role = Literal["host", "invitee"]


@dataclass(frozen=True, slots=True)
class PickerView:
    tz: str
    week_start: date | None = None
    day: date | None = None
    offset: int = 0
    duration: int | None = None
    booking_id: str | None = None  # set when the picker moves an existing booking


def _midnight(day: date, tz_name: str) -> datetime:
    return from_epoch(wall_to_epoch(day, 0, zone(tz_name)))


def _local_day(instant: datetime, tz_name: str) -> date:
    return instant.astimezone(zone(tz_name)).date()


async def public_link(turn: Turn, link_id: str) -> tuple[EventType, User]:
    """A bookable link and its host (links are public, like their booking page)."""
    link, host = await turn.deps.booking.public_link(link_id)
    turn.scope.link = link
    return link, host


async def picker(turn: Turn, link: EventType, host: User, view: PickerView) -> Reply:
    """The slot picker for one week (the first week with free times when none was asked for)."""
    tz = view.tz
    zone(tz)
    turn.scope.link, turn.scope.viewer_tz = link, tz
    turn.scope.duration, turn.scope.booking_id = view.duration, view.booking_id
    now = turn.now()
    today = _local_day(now, tz)
    first_week = week_start_of(today)
    earliest, latest = booking_window_bounds(link.rules.window, now, link.rules.availability.tz)
    first_day = _local_day(from_epoch(earliest), tz) if earliest > to_epoch(now) else today
    max_week = max(first_week, week_start_of(_local_day(from_epoch(latest - 1), tz)))
    wanted = view.week_start or (week_start_of(view.day) if view.day else week_start_of(first_day))
    week = min(max(wanted, first_week), max_week)

    start, end = max(_midnight(week, tz), now), _midnight(week + timedelta(weeks=WEEKS_FETCHED), tz)
    slots = await turn.deps.booking.slots(link, Interval(start, end), view.duration) if start < end else []
    in_week = [s for s in slots if _local_day(s.start, tz) < week + timedelta(days=7)]
    if not in_week and slots and view.week_start is None and view.day is None:
        week = week_start_of(_local_day(slots[0].start, tz))
    week_end = week + timedelta(days=7)
    next_free = next((d for d in (_local_day(s.start, tz) for s in slots) if d >= week_end), None)
    card = slot_picker(
        link,
        host.display_name,
        slots,
        tz,
        week,
        next_free,
        selected_day=view.day,
        duration=view.duration,
        offset=view.offset,
        reschedule_booking_id=view.booking_id,
        min_week_start=first_week,
        max_week_start=max_week,
    )
    return Reply(card=card)


async def pick(
    turn: Turn, link_id: str, start: datetime, tz: str, duration: int | None, booking_id: str | None
) -> Reply:
    """A time was chosen: the booking form, or (moving a booking) "move your meeting?"."""
    link, host = await public_link(turn, link_id)
    turn.scope.viewer_tz, turn.scope.booking_id = tz, booking_id
    minutes = resolve_duration(link.rules, duration)
    turn.scope.duration = minutes
    slot = Slot(start, start + timedelta(minutes=minutes))
    if booking_id:
        booking, _role, _user = await manageable(turn, booking_id)
        return Reply(card=confirm_reschedule(booking, link, host.display_name, slot, tz))
    user = await turn.actor()
    return Reply(
        card=confirm_booking(
            link, host.display_name, slot, tz, link.questions, values={"name": user.display_name, "email": user.email}
        )
    )


def _form_values(data: Mapping[str, object]) -> dict[str, str]:
    return {
        k: v
        for k, v in data.items()
        if isinstance(v, str) and (k in ("name", "email", "notes") or k.startswith("answers."))
    }


async def confirm(
    turn: Turn, link_id: str, start: datetime, tz: str, duration: int | None, data: Mapping[str, object]
) -> Reply:
    """Validate the form, book, and answer with the confirmation (or the form with every error)."""
    link, host = await public_link(turn, link_id)
    turn.scope.viewer_tz = tz
    minutes = resolve_duration(link.rules, duration)
    turn.scope.duration = minutes
    slot = Slot(start, start + timedelta(minutes=minutes))
    values = _form_values(data)
    turn.scope.form = lambda errors: confirm_booking(
        link, host.display_name, slot, tz, link.questions, errors=errors, values=values
    )
    answers = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("answers.")}
    form = InviteeForm(values.get("name", ""), values.get("email", ""), tz, values.get("notes", ""), answers)
    user = await turn.actor()
    caller = Caller.teams(user.tenant_id, user.aad_object_id)
    outcome = await turn.deps.booking.book(link, start, form, caller=caller, duration=minutes)
    return Reply(card=booked_card(turn, outcome.booking, link, host, tz, outcome.manage_token))


def booked_card(turn: Turn, booking: Booking, link: EventType, host: User, tz: str, token: str) -> Json:
    """The invitee's card; ``token`` is the manage token when this answer may carry it (the booking request
    itself, or its replay), else "": the card then links to the booking page instead."""
    if token:
        manage_url, ics_url = turn.deps.url(f"/manage/{token}"), turn.deps.url(f"/manage/{token}/invite.ics")
    else:  # the manage link was shown once, when booking; it is never handed out again
        manage_url = ics_url = booking_url(turn.deps.base_url, host.handle, link.slug)
    return booked(booking, link, host.display_name, host.time_zone, tz, manage_url, ics_url)


# ------------------------------------------------------------------------------ managing a booking


async def manageable(turn: Turn, booking_id: str) -> tuple[Booking, Role, User]:
    """The booking, if the acting user is its host or the Teams user who made it (the core decides)."""
    user = await turn.actor()
    booking, role = await turn.deps.booking.for_actor(booking_id, user)
    return booking, role, user


async def _booking_context(turn: Turn, booking: Booking) -> tuple[EventType, User]:
    link, host = await turn.deps.booking.booking_context(booking)
    turn.scope.link, turn.scope.booking_id = link, booking.id
    return link, host


async def reschedule(turn: Turn, booking_id: str, tz: str | None) -> Reply:
    """The picker, in "move this booking" mode."""
    booking, _role, _user = await manageable(turn, booking_id)
    if booking.status is not BookingStatus.CONFIRMED:
        raise Conflict("Only a confirmed booking can be moved.")
    link, host = await _booking_context(turn, booking)
    minutes = int((booking.end - booking.start).total_seconds() // 60)
    duration = minutes if minutes in link.rules.durations else None
    view_tz = tz or await turn.viewer_zone(host)
    return await picker(turn, link, host, PickerView(tz=view_tz, duration=duration, booking_id=booking.id))


async def move(turn: Turn, booking_id: str, start: datetime, tz: str) -> Reply:
    booking, role, _user = await manageable(turn, booking_id)
    link, host = await _booking_context(turn, booking)
    turn.scope.viewer_tz = tz
    minutes = int((booking.end - booking.start).total_seconds() // 60)
    turn.scope.duration = minutes if minutes in link.rules.durations else None
    moved = await turn.deps.booking.reschedule(booking, start, role)
    if role == "invitee":
        return Reply(card=booked_card(turn, moved, link, host, tz, ""))
    payload = booking_payload(link, moved, host) | {"previousStart": utc_iso(booking.start), "by": "host"}
    return Reply(card=host_notification("booking.rescheduled", payload, host.time_zone, link.questions))


async def cancel(turn: Turn, booking_id: str, reason_input_id: str, data: Mapping[str, object]) -> Reply:
    if reason_input_id != cancel_reason_input_id(booking_id):
        raise InvalidQuery("reasonInputId", "This Cancel button doesn't belong to this booking.")
    raw_reason = data.get(reason_input_id)
    reason = raw_reason if isinstance(raw_reason, str) else ""
    booking, role, _user = await manageable(turn, booking_id)
    link, host = await _booking_context(turn, booking)
    cancelled = await turn.deps.booking.cancel(booking, reason, role)
    if role == "invitee":
        tz = await turn.viewer_zone(host)
        return Reply(card=booked_card(turn, cancelled, link, host, tz, ""))
    payload = booking_payload(link, cancelled, host) | {"by": "host"}
    return Reply(card=host_notification("booking.cancelled", payload, host.time_zone, link.questions))
