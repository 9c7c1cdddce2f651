"""The host's reminder before a booked meeting (outbox kind ``booking.reminder``, ``scheduling.reminders``).

:func:`reminder_card` draws it from the item's payload (what ``scheduling.reminders.reminder_payload`` built:
the booking as the host notifications show it, plus ``reminderMinutes``): when it starts (in the host's zone,
and how soon from ``now``), who booked it with their notes and answers, where, and the Join button. Text typed
by people is escaped; a payload that lacks a field shows a dash rather than failing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from cards.bookings import JOIN_URL_MISSING
from cards.elements import Json, card, execute, facts, open_url, text, title, user_text
from cards.format import minutes_label, when_label
from scheduling.domain import Question
from scheduling.timezones import is_valid_zone


def _str(payload: Mapping[str, object], key: str) -> str:
    value = payload.get(key)
    return value if isinstance(value, str) else ""


def _instant(payload: Mapping[str, object], key: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(_str(payload, key))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def starts_in(start: datetime, now: datetime) -> str:
    """ "Starts in 15 min", "Starts in 1 h 5 min", "Starts now" (under a minute, or begun)."""
    minutes = int((start - now).total_seconds() // 60)
    return f"Starts in {minutes_label(minutes)}" if minutes >= 1 else "Starts now"


def reminder_card(
    payload: Mapping[str, object], host_time_zone: str, now: datetime, questions: Sequence[Question] = ()
) -> Json:
    """The reminder card for the host; ``questions`` turn answer ids into their labels."""
    zone = host_time_zone if is_valid_zone(host_time_zone) else "UTC"
    meeting = _str(payload, "title")
    invitee = _str(payload, "inviteeName") or "Someone"
    email = _str(payload, "inviteeEmail")
    start, end = _instant(payload, "start"), _instant(payload, "end")
    heading = f"{starts_in(start, now)}: your meeting with {user_text(invitee, 100)}" if start else "Meeting soon"
    pairs: list[tuple[str, str]] = [("Meeting", user_text(meeting, 200, empty="Untitled link"))]
    if start and end:
        pairs.append(("When", f"{when_label(start, end, zone)} ({user_text(zone, 60)})"))
    pairs.append(("Invitee", user_text(f"{invitee} <{email}>" if email else invitee, 300)))
    invitee_zone = _str(payload, "inviteeTimeZone")
    if start and end and invitee_zone and invitee_zone != zone and is_valid_zone(invitee_zone):
        pairs.append(("Their time", f"{when_label(start, end, invitee_zone)} ({user_text(invitee_zone, 60)})"))
    labels = {q.id: q.label for q in questions}
    answers = payload.get("answers")
    if isinstance(answers, Mapping):
        for key, value in answers.items():
            if isinstance(key, str) and isinstance(value, str) and value.strip():
                pairs.append((user_text(labels.get(key, key), 80), user_text(value, 500, multiline=True)))
    notes = _str(payload, "notes")
    if notes.strip():
        pairs.append(("Notes", user_text(notes, 1000, multiline=True)))
    body: list[Json] = [
        text("Reminder", weight="bolder", color="accent"),
        title(heading),
        facts(pairs),
    ]
    actions: list[Json] = []
    join_url = _str(payload, "joinUrl")
    if join_url.startswith(("https://", "http://")):
        actions.append(open_url("Join Teams meeting", join_url))
    elif payload.get("joinUrlMissing") is True:
        body.append(text(f"⚠ {JOIN_URL_MISSING} Send the invitee the meeting details yourself.", color="warning"))
    booking_id = _str(payload, "bookingId")
    if booking_id:
        actions.append(execute("Reschedule", "booking.reschedule", {"bookingId": booking_id, "tz": zone}))
    actions.append(execute("Upcoming", "bookings.upcoming"))
    lead = payload.get("reminderMinutes")
    footer = (
        f"You get this {minutes_label(lead)} before each meeting booked on this link; change it in the link's "
        "settings (Reminder)."
        if isinstance(lead, int) and not isinstance(lead, bool) and lead > 0
        else "Change reminders in the link's settings (Reminder)."
    )
    body.append(text(footer, subtle=True, size="small"))
    return card(body, actions, fallback_text=f"Reminder: {meeting or 'your meeting'} with {invitee}")
