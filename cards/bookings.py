"""Cards about bookings: the invitee's confirmation, the host's notification, the upcoming list,
and the "move your meeting?" confirmation of a reschedule.

Cancel buttons open a ShowCard with an optional reason (input ``cancelReason.<bookingId>``, named in
the action's ``reasonInputId``) and a ``booking.cancel`` action. A booking id in card data is not a
capability: the bot checks that the clicking user is the booking's host (or the Teams user who booked).

The manage URL (which holds the invitee's secret token) appears only in an ``Action.OpenUrl`` of the
card returned to the invitee who booked, never in action data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal

from cards.elements import (
    Color,
    Json,
    action_set,
    card,
    container,
    execute,
    facts,
    input_text,
    open_url,
    show_card,
    text,
    title,
    user_text,
)
from cards.format import location_label, minutes_label, utc_iso, when_label, zone_label
from cards.verbs import cancel_reason_input_id
from scheduling.domain import Booking, BookingStatus, EventType, Question
from scheduling.ports import LocationKind
from scheduling.slots import Slot
from scheduling.timezones import is_valid_zone

BOOKINGS_PER_PAGE = 8
NotificationKind = Literal["booking.created", "booking.rescheduled", "booking.cancelled"]
JOIN_URL_MISSING = "Teams didn't add a meeting link — your tenant's policy may block it."


def cancel_action(booking_id: str, *, label: str = "Cancel", who: Literal["host", "invitee"] = "invitee") -> Json:
    """A ShowCard asking for an optional reason, then ``booking.cancel``."""
    reason_id = cancel_reason_input_id(booking_id)
    prompt = (
        "Tell the invitee why (optional); they get the cancellation by email."
        if who == "host"
        else "Let the host know why (optional)."
    )
    return show_card(
        label,
        [
            input_text(reason_id, prompt, multiline=True, max_length=500, placeholder="Reason"),
        ],
        [
            execute(
                "Cancel the meeting",
                "booking.cancel",
                {"bookingId": booking_id, "reasonInputId": reason_id},
                style="destructive",
            )
        ],
    )


def _times(start: datetime, end: datetime, primary_tz: str, other_tz: str) -> list[tuple[str, str]]:
    out = [("When", f"{when_label(start, end, primary_tz)} ({user_text(primary_tz, 60)})")]
    if other_tz and other_tz != primary_tz and is_valid_zone(other_tz):
        out.append(("Invitee's time", f"{when_label(start, end, other_tz)} ({user_text(other_tz, 60)})"))
    return out


def booked(
    booking: Booking,
    link: EventType,
    host_name: str,
    host_time_zone: str,
    viewer_time_zone: str,
    manage_url: str,
    ics_url: str,
) -> Json:
    """The invitee's confirmation: times in both zones, Join / Add to calendar / Reschedule / Cancel."""
    status = booking.status
    heading, color = dict[BookingStatus, tuple[str, Color]](
        {
            BookingStatus.CONFIRMED: ("You're booked", "good"),
            BookingStatus.PENDING: ("Your time is held", "warning"),
            BookingStatus.CANCELLED: ("This booking was cancelled", "attention"),
            BookingStatus.RELEASED: ("This booking didn't go through", "attention"),
        }
    )[status]
    minutes = int((booking.end - booking.start).total_seconds() // 60)
    pairs = [
        ("When", f"{when_label(booking.start, booking.end, viewer_time_zone)} ({user_text(viewer_time_zone, 60)})")
    ]
    if host_time_zone != viewer_time_zone and is_valid_zone(host_time_zone):
        pairs.append(
            (
                f"{user_text(host_name, 60)}'s time",
                f"{when_label(booking.start, booking.end, host_time_zone)} ({user_text(host_time_zone, 60)})",
            )
        )
    pairs += [
        ("With", user_text(host_name, 100)),
        ("Length", minutes_label(minutes)),
        ("Where", user_text(location_label(link.location), 200)),
    ]
    body: list[Json] = [
        text(heading, weight="bolder", color=color),
        title(user_text(link.title, 200, empty="Untitled link")),
        facts(pairs),
    ]
    actions: list[Json] = []
    if status is BookingStatus.PENDING:
        body.append(
            text(
                f"We're still adding it to {user_text(host_name, 100)}'s calendar. If no invitation "
                "reaches you within a few minutes, use Manage booking to check it.",
                wrap=True,
            )
        )
    elif status is BookingStatus.CANCELLED:
        if booking.cancel_reason.strip():
            body.append(text(f"Reason: {user_text(booking.cancel_reason, 500, multiline=True)}"))
        body.append(text("Pick a new time from the host's link if you still want to meet."))
    elif status is BookingStatus.RELEASED:
        body.append(text("Nothing was booked. Please pick a time again from the host's link."))
    if status.holds_time:
        if booking.join_url:
            actions.append(open_url("Join Teams meeting", booking.join_url))
        elif link.location.kind is LocationKind.TEAMS:
            body.append(text(f"{user_text(host_name, 100)} will send the meeting details.", subtle=True))
        actions += [
            open_url("Add to calendar", ics_url),
            execute("Reschedule", "booking.reschedule", {"bookingId": booking.id, "tz": viewer_time_zone}),
            cancel_action(booking.id),
            open_url("Manage booking", manage_url),
        ]
    return card(body, actions, fallback_text=f"{heading}: {link.title}")


def confirm_reschedule(booking: Booking, link: EventType, host_name: str, slot: Slot, viewer_time_zone: str) -> Json:
    """ "Move your meeting?" from the booking's time to ``slot``: Move it (``booking.move``) or pick again."""
    body: list[Json] = [
        text("Move your meeting?", weight="bolder", color="accent"),
        title(user_text(link.title, 200, empty="Untitled link")),
        facts(
            [
                ("From", when_label(booking.start, booking.end, viewer_time_zone)),
                ("To", f"**{when_label(slot.start, slot.end, viewer_time_zone)}**"),
                ("Time zone", user_text(zone_label(viewer_time_zone, slot.start), 100)),
                ("With", user_text(host_name, 100)),
            ]
        ),
        text("The meeting keeps its Teams link; everyone gets the updated invitation.", subtle=True, size="small"),
    ]
    actions = [
        execute(
            "Move it", "booking.move", {"bookingId": booking.id, "start": utc_iso(slot.start), "tz": viewer_time_zone}
        ),
        execute("Pick another time", "booking.reschedule", {"bookingId": booking.id, "tz": viewer_time_zone}),
    ]
    return card(body, actions, fallback_text=f"Move your meeting: {link.title}")


# --------------------------------------------------------------------------- host notification


def _str(payload: Mapping[str, object], key: str) -> str:
    value = payload.get(key)
    return value if isinstance(value, str) else ""


def _instant(payload: Mapping[str, object], key: str) -> datetime | None:
    raw = _str(payload, key)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def host_notification(
    kind: NotificationKind, payload: Mapping[str, object], host_time_zone: str, questions: Sequence[Question] = ()
) -> Json:
    """The proactive message to the host for a created / rescheduled / cancelled booking.

    ``payload`` is what :func:`scheduling.booking.booking_payload` built (plus ``previousStart`` and
    ``by`` for reschedules and cancellations; ``by`` is ``outlook`` when the host moved or deleted the event
    in Outlook, with ``outsideRules`` when the new time is one the link would not offer). ``questions``
    turns answer ids into their labels.
    """
    if kind not in ("booking.created", "booking.rescheduled", "booking.cancelled"):
        raise ValueError(f"No host notification for {kind!r}.")
    title_text = _str(payload, "title") or "Meeting"
    invitee = _str(payload, "inviteeName") or "Someone"
    email = _str(payload, "inviteeEmail")
    booking_id = _str(payload, "bookingId")
    start, end = _instant(payload, "start"), _instant(payload, "end")
    by = _str(payload, "by")
    in_outlook = {
        "booking.rescheduled": f"The meeting with {user_text(invitee, 100)} was moved in Outlook",
        "booking.cancelled": f"The meeting with {user_text(invitee, 100)} was cancelled in Outlook",
    }
    heading, color = dict[str, tuple[str, Color]](
        {
            "booking.created": (f"New booking from {user_text(invitee, 100)}", "good"),
            "booking.rescheduled": (
                f"{user_text(invitee, 100)}'s meeting was moved"
                if by != "host"
                else f"You moved the meeting with {user_text(invitee, 100)}",
                "warning",
            ),
            "booking.cancelled": (
                f"{user_text(invitee, 100)} cancelled"
                if by != "host"
                else f"You cancelled the meeting with {user_text(invitee, 100)}",
                "attention",
            ),
        }
    )[kind]
    if by == "outlook" and kind in in_outlook:
        heading = in_outlook[kind]
    pairs: list[tuple[str, str]] = [("Meeting", user_text(title_text, 200, empty="Untitled link"))]
    if start and end:
        pairs += _times(start, end, host_time_zone, _str(payload, "inviteeTimeZone"))
    previous = _instant(payload, "previousStart")
    if kind == "booking.rescheduled" and previous and start and end:
        pairs.append(("Was", when_label(previous, previous + (end - start), host_time_zone)))
    pairs.append(("Invitee", user_text(f"{invitee} <{email}>" if email else invitee, 300)))
    labels = {q.id: q.label for q in questions}
    answers = payload.get("answers")
    if isinstance(answers, Mapping):
        for key, value in answers.items():
            if isinstance(key, str) and isinstance(value, str) and value.strip():
                pairs.append((user_text(labels.get(key, key), 80), user_text(value, 500, multiline=True)))
    notes = _str(payload, "notes")
    if notes.strip():
        pairs.append(("Notes", user_text(notes, 1000, multiline=True)))
    reason = _str(payload, "cancelReason")
    if kind == "booking.cancelled" and reason.strip():
        pairs.append(("Reason", user_text(reason, 500, multiline=True)))

    body: list[Json] = [text(heading, weight="bolder", size="medium", color=color), facts(pairs)]
    if kind == "booking.rescheduled" and payload.get("outsideRules") is True:
        body.append(
            text(
                "⚠ The new time is outside this link's rules (hours, notice, window or length); the "
                "booking keeps it because you chose it.",
                color="warning",
                wrap=True,
            )
        )
    join_url = _str(payload, "joinUrl")
    actions: list[Json] = []
    if kind != "booking.cancelled":
        if join_url:
            actions.append(open_url("Join Teams meeting", join_url))
        elif payload.get("joinUrlMissing") is True:
            body.append(
                text(
                    f"⚠ {JOIN_URL_MISSING} Send the invitee the meeting details yourself, or set a "
                    "fallback location on the link.",
                    color="warning",
                    wrap=True,
                )
            )
        if booking_id:
            actions += [
                execute("Reschedule", "booking.reschedule", {"bookingId": booking_id, "tz": host_time_zone}),
                cancel_action(booking_id, who="host"),
            ]
    actions.append(execute("Upcoming", "bookings.upcoming"))
    return card(body, actions, fallback_text=heading)


def outlook_move_refused(payload: Mapping[str, object], host_time_zone: str) -> Json:
    """The host's notice that a meeting they moved in Outlook could not be moved in Slotwise: the new time
    overlaps another Slotwise booking (or its buffers), and the database never holds two overlapping bookings
    of one host. ``payload`` is what :meth:`scheduling.booking.BookingService.outlook_move_refused` wrote: the
    booking as Slotwise holds it, ``requestedStart``/``requestedEnd`` (the time in Outlook) and ``conflict``
    (the booking it overlaps; empty when none was found, e.g. a booking being made right then)."""
    invitee = _str(payload, "inviteeName") or "Someone"
    booking_id = _str(payload, "bookingId")
    start, end = _instant(payload, "start"), _instant(payload, "end")
    wanted, wanted_end = _instant(payload, "requestedStart"), _instant(payload, "requestedEnd")
    heading = f"The meeting with {user_text(invitee, 100)} was moved in Outlook, but not in Slotwise"
    pairs: list[tuple[str, str]] = [
        ("Meeting", user_text(_str(payload, "title"), 200, empty="Untitled link")),
    ]
    if wanted and wanted_end:
        pairs.append(("Moved in Outlook to", when_label(wanted, wanted_end, host_time_zone)))
    raw = payload.get("conflict")
    conflict: Mapping[str, object] = raw if isinstance(raw, Mapping) else {}
    other_start, other_end = _instant(conflict, "start"), _instant(conflict, "end")
    other_title, other_invitee, other_host = (
        _str(conflict, "title"),
        _str(conflict, "inviteeName"),
        _str(conflict, "hostName"),
    )
    if other_invitee:
        other = f"{user_text(other_title, 200, empty='Untitled link')} with {user_text(other_invitee, 100)}"
    elif other_host:
        other = f"a Slotwise meeting of {user_text(other_host, 100)}"
    else:
        other = "another Slotwise booking"
    if other_start and other_end:
        other = f"{other}, {when_label(other_start, other_end, host_time_zone)}"
    pairs.append(("Overlaps", other))
    if start and end:
        pairs.append(
            ("Slotwise still holds", f"{when_label(start, end, host_time_zone)} ({user_text(host_time_zone, 60)})")
        )
    body: list[Json] = [
        text(heading, weight="bolder", size="medium", color="attention", wrap=True),
        facts(pairs),
        text(
            "The new time overlaps another booking (or the buffer around it), so Slotwise kept the old time for "
            "this meeting: it is still blocked there, and your Outlook calendar now disagrees with it. Move one of "
            "them: move this meeting back in Outlook or to a free time (Reschedule), or move or cancel the other "
            "booking and then move this one again in Outlook.",
            wrap=True,
        ),
    ]
    actions: list[Json] = []
    if booking_id:
        actions.append(execute("Reschedule", "booking.reschedule", {"bookingId": booking_id, "tz": host_time_zone}))
    actions.append(execute("Upcoming", "bookings.upcoming"))
    return card(body, actions, fallback_text=heading)


# --------------------------------------------------------------------------- upcoming list


def upcoming_bookings(
    bookings: Sequence[Booking], links: Mapping[str, EventType], viewer_time_zone: str, *, page: int = 0
) -> Json:
    """The host's upcoming bookings, soonest first, ``BOOKINGS_PER_PAGE`` at a time, each with Cancel."""
    ordered = sorted(bookings, key=lambda b: (b.start, b.id))
    pages = max(1, -(-len(ordered) // BOOKINGS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    shown = ordered[page * BOOKINGS_PER_PAGE : (page + 1) * BOOKINGS_PER_PAGE]
    body: list[Json] = [title("Upcoming meetings")]
    if not ordered:
        body.append(text("Nothing booked yet. Share one of your links to get bookings: type **my links**."))
    else:
        body.append(
            text(
                f"Times in {user_text(viewer_time_zone, 60)}." + (f" Page {page + 1} of {pages}." if pages > 1 else ""),
                subtle=True,
                spacing="none",
            )
        )
    for b in shown:
        link = links.get(b.event_type_id)
        link_title = link.title if link else "A deleted link"
        items = [
            text(when_label(b.start, b.end, viewer_time_zone), weight="bolder"),
            text(
                f"{user_text(link_title, 200, empty='Untitled link')} with {user_text(b.invitee.name, 100)} "
                f"({user_text(b.invitee.email, 254)})",
                spacing="none",
            ),
        ]
        if b.status is BookingStatus.PENDING:
            items.append(text("Still being written to your calendar.", size="small", color="warning", spacing="none"))
        if b.join_url_missing:
            items.append(text(JOIN_URL_MISSING, size="small", color="warning", spacing="none"))
        row: list[Json] = []
        if b.join_url:
            row.append(open_url("Join", b.join_url))
        row += [
            execute("Reschedule", "booking.reschedule", {"bookingId": b.id, "tz": viewer_time_zone}),
            cancel_action(b.id, who="host"),
        ]
        items.append(action_set(row))
        body.append(container(items, separator=True, spacing="medium"))
    actions: list[Json] = []
    if page > 0:
        actions.append(execute("Earlier page", "bookings.upcoming", {"page": page - 1}))
    if page < pages - 1:
        actions.append(execute("Later page", "bookings.upcoming", {"page": page + 1}))
    actions.append(execute("My links", "links.list"))
    return card(body, actions, fallback_text="Your upcoming Slotwise meetings")
