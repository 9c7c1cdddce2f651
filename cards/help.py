"""The help card (commands with example phrasings, "Did you mean ...?"), the first-run card and the
"connect Outlook" prompt.

:func:`first_run` is sent right after the host connects Outlook: it shows the time zone and working
hours Slotwise detected from the mailbox settings, an Adjust form (``profile.save``, parsed by
:func:`parse_profile`) and a "Make my first link" button. :func:`connect_prompt` is what a host who
never connected gets instead (a sign-in button; :func:`cards.errors.reconnect_required` is for a
connection that broke).
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
    open_url,
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
    (
        "Create a link",
        (
            "make a 30-min link",
            "new 45 minute interview link with 10 min buffer",
            "create a 1h link called Demo for the next 60 days",
        ),
    ),
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
        body.append(
            container(
                [
                    text(f"Did you mean **{user_text(suggestion, 200)}**?", weight="bolder"),
                    action_set([execute("Yes, do that", "command", {"text": suggestion.strip()[:200]})]),
                ],
                style="emphasis",
            )
        )
    body.append(title("What I can do"))
    body.append(
        text(
            "Type any of these in this chat. Sentences work too; I pick out the length, name, buffer "
            "and booking window.",
            subtle=True,
            spacing="none",
        )
    )
    body.append(facts([(what, "\n\n".join(f"“{example}”" for example in examples)) for what, examples in COMMANDS]))
    body.append(text("In a channel, @mention me first.", subtle=True, size="small"))
    actions = [
        execute("Make a 30-min link", "link.create", {"duration": 30}),
        execute("My links", "links.list"),
        execute("Upcoming", "bookings.upcoming"),
        execute("Connect Outlook", "connect"),
    ]
    return card(body, actions, fallback_text="Slotwise help: type 'make a 30-min link', 'my links' or 'upcoming'.")


def first_run(
    time_zone: str,
    working_hours: Availability | Weekly | str,
    *,
    errors: Mapping[str, str] | None = None,
    saved_links: int | None = None,
) -> Json:
    """Shown after connecting: the detected zone and hours, Adjust, and "Make my first link".

    ``working_hours`` is the mailbox's working hours (an Availability or the seven weekly day ranges)
    or an already formatted summary.

    The same card answers the Adjust form (``profile.save``): with ``errors`` (keyed by input id, from
    :func:`parse_profile`) it shows what to fix, with the submitted values kept and nothing saved;
    with ``saved_links`` it confirms the saved values and how many links now use them.
    """
    if isinstance(working_hours, str):
        summary = working_hours
    elif isinstance(working_hours, Availability):
        summary = weekly_summary(working_hours.weekly)
    else:
        summary = weekly_summary(working_hours)
    errs = dict(errors or {})
    if errs:
        body = [
            text("Nothing was saved yet", weight="bolder", color="attention"),
            title("Check your time zone and hours"),
            text("Please fix what is marked below, then select **Adjust** and **Save** again."),
        ]
        for input_id, label in ((PROFILE_TIME_ZONE, "Time zone"), (PROFILE_HOURS, "Working hours")):
            if input_id in errs:
                body.append(text(f"{label}: {user_text(errs[input_id], 300)}", color="attention", size="small"))
    elif saved_links is not None:
        links = f"{saved_links} link" + ("s" if saved_links != 1 else "")
        body = [
            text("Saved", weight="bolder", color="good"),
            title("Your time zone and hours"),
            text(
                f"Your {links} now use{'s' if saved_links == 1 else ''} these hours. New links start from "
                "your Outlook working hours; you can change any link later."
            ),
        ]
    else:
        body = [
            text("You're connected", weight="bolder", color="good"),
            title("Let's set you up"),
            text("I read these from your Outlook settings. New links use them; you can change any link later."),
        ]
    body.append(facts([("Time zone", user_text(time_zone, 80)), ("Working hours", user_text(summary, 300))]))
    adjust = show_card(
        "Adjust",
        [
            input_text(
                PROFILE_TIME_ZONE,
                "Time zone (IANA name, like Europe/London)",
                time_zone,
                required=True,
                error_message="Enter a time zone such as Europe/London.",
            ),
            input_text(
                PROFILE_HOURS,
                "Working hours, like Mon-Fri 09:00-17:00; Sat 10:00-12:00",
                summary,
                required=True,
                error_message="Enter your working hours, like Mon-Fri 09:00-17:00.",
            ),
        ],
        [execute("Save", "profile.save")],
    )
    actions = [execute("Make my first link", "link.create", {"duration": 30}), adjust]
    lead = "Please check" if errs else "Saved." if saved_links is not None else "Connected."
    return card(body, actions, fallback_text=f"{lead} Time zone {time_zone}, working hours {summary}.")


def connect_prompt(sign_in_url: str, *, admin_approved: bool = False) -> Json:
    """The host has never connected Outlook: why Slotwise needs it, a Connect button and a re-check.
    ``admin_approved``: sent when their IT admin has just approved Slotwise for the organisation."""
    approved = (
        [
            text("Your IT admin approved Slotwise", weight="bolder", color="good"),
            text("You can connect your calendar now.", spacing="none"),
        ]
        if admin_approved
        else []
    )
    return card(
        [
            *approved,
            text("Connect your Outlook calendar", weight="bolder", size="medium", color="accent"),
            text(
                "Slotwise reads your free/busy time to offer only times you're free, and adds booked meetings "
                "(with a Teams link) to your calendar. It never reads the content of your meetings."
            ),
            text(
                "Select **Connect Outlook**, sign in with your work account, then come back here and select "
                "**I've connected**.",
                spacing="small",
            ),
        ],
        [open_url("Connect Outlook", sign_in_url), execute("I've connected", "connect")],
        fallback_text="Connect your Outlook calendar to Slotwise.",
    )


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
            errors.setdefault(
                PROFILE_HOURS,
                message if not key.startswith("weekly_hours.") else f"{key.split('.', 1)[1].capitalize()}: {message}",
            )
        if not errors:
            return availability, {}
    return None, errors
