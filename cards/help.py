"""The help card (commands with example phrasings, "Did you mean ...?") and the first-run card.

:func:`first_run` is sent right after the host connects Outlook: it shows the time zone and working
hours Slotwise detected from the mailbox settings, an Adjust form (``profile.save``, parsed by
:func:`parse_profile`) and a "Make my first link" button.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from cards.elements import (
    Json,
    action_set,
    card,
    container,
    execute,
    facts,
    input_text,
    show_card,
    text,
    title,
    user_text,
)
from cards.format import Weekly, parse_weekly_hours, weekly_summary
from scheduling.errors import UnknownTimeZone
from scheduling.rules import Availability
from scheduling.timezones import windows_to_iana, zone

PROFILE_TIME_ZONE: Final = "profile.time_zone"
PROFILE_HOURS: Final = "profile.hours"

#: (what it does, example phrasings); the bot's parser must accept every example.
COMMANDS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("Create a link", ("make a 30-min link", "new 45 minute interview link with 10 min buffer",
                       "create a 1h link called Demo for the next 60 days")),
    ("See and edit your links", ("my links",)),
    ("See who booked you", ("upcoming",)),
    ("Connect your Outlook calendar", ("connect",)),
    ("Remove Slotwise's access to your calendar", ("disconnect",)),
    ("Show this help", ("help",)),
)


def help_card(suggestion: str | None = None) -> Json:
    """What Slotwise understands, with examples; "Did you mean ...?" first when ``suggestion`` is given."""
    body: list[Json] = []
    if suggestion and suggestion.strip():
        body.append(container([
            text(f"Did you mean **{user_text(suggestion, 200)}**?", weight="bolder"),
            action_set([execute("Yes, do that", "command", {"text": suggestion.strip()[:200]})]),
        ], style="emphasis"))
    body.append(title("What I can do"))
    body.append(text("Type any of these in this chat. Sentences work too; I pick out the length, name, buffer "
                     "and booking window.", subtle=True, spacing="none"))
    body.append(facts([(what, "\n\n".join(f"“{example}”" for example in examples)) for what, examples in COMMANDS]))
    body.append(text("In a channel, @mention me first.", subtle=True, size="small"))
    actions = [
        execute("Make a 30-min link", "link.create", {"duration": 30}),
        execute("My links", "links.list"),
        execute("Upcoming", "bookings.upcoming"),
        execute("Connect Outlook", "connect"),
    ]
    return card(body, actions, fallback_text="Slotwise help: type 'make a 30-min link', 'my links' or 'upcoming'.")


def first_run(time_zone: str, working_hours: Availability | Weekly | str) -> Json:
    """Shown after connecting: the detected zone and hours, Adjust, and "Make my first link".

    ``working_hours`` is the mailbox's working hours (an Availability or the seven weekly day ranges)
    or an already formatted summary.
    """
    if isinstance(working_hours, str):
        summary = working_hours
    elif isinstance(working_hours, Availability):
        summary = weekly_summary(working_hours.weekly)
    else:
        summary = weekly_summary(working_hours)
    body = [
        text("You're connected", weight="bolder", color="good"),
        title("Let's set you up"),
        text("I read these from your Outlook settings. New links use them; you can change any link later."),
        facts([("Time zone", user_text(time_zone, 80)), ("Working hours", user_text(summary, 300))]),
    ]
    adjust = show_card("Adjust", [
        input_text(PROFILE_TIME_ZONE, "Time zone (IANA name, like Europe/London)", time_zone, required=True,
                   error_message="Enter a time zone such as Europe/London."),
        input_text(PROFILE_HOURS, "Working hours, like Mon-Fri 09:00-17:00; Sat 10:00-12:00", summary,
                   required=True, error_message="Enter your working hours, like Mon-Fri 09:00-17:00."),
    ], [execute("Save", "profile.save")])
    actions = [execute("Make my first link", "link.create", {"duration": 30}), adjust]
    return card(body, actions, fallback_text=f"Connected. Time zone {time_zone}, working hours {summary}.")


def parse_profile(values: Mapping[str, object]) -> tuple[Availability | None, dict[str, str]]:
    """The Adjust form -> (Availability in the chosen zone, {}) or (None, errors keyed by input id)."""
    errors: dict[str, str] = {}
    raw_zone = values.get(PROFILE_TIME_ZONE)
    raw_hours = values.get(PROFILE_HOURS)
    tz_name = raw_zone.strip() if isinstance(raw_zone, str) else ""
    try:
        zone(tz_name)
    except UnknownTimeZone:
        try:
            tz_name = windows_to_iana(tz_name)
        except UnknownTimeZone as exc:
            errors[PROFILE_TIME_ZONE] = exc.message
    weekly: Weekly | None = None
    try:
        weekly = parse_weekly_hours(raw_hours if isinstance(raw_hours, str) else "")
    except ValueError as exc:
        errors[PROFILE_HOURS] = str(exc)
    if weekly is not None and PROFILE_TIME_ZONE not in errors:
        availability = Availability(tz_name, weekly)
        for key, message in availability.problems().items():
            errors.setdefault(PROFILE_HOURS, message if not key.startswith("weekly_hours.")
                              else f"{key.split('.', 1)[1].capitalize()}: {message}")
        if not errors:
            return availability, {}
    return None, errors
