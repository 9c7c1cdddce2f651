"""The help card (commands with example phrasings, "Did you mean ...?"), the first-run (profile) card and the
"connect Outlook" prompt.

:func:`first_run` is the host's profile card, sent right after the host connects Outlook and on "connect": it
shows the time zone and working hours Slotwise detected from the mailbox settings and which calendars count
(busy time read from them) and which one new bookings go into, an Adjust form (``profile.save``: zone and
hours parsed by :func:`parse_profile`, the calendar choice by :func:`parse_calendar_choice` and judged by the
core, ``scheduling.people.calendar_problems``) and a "Make my first link" button. The calendars are the
host's own and those shared with them, listed from Graph: a multi-select for conflicts (the main calendar
alone means the mailbox's free/busy as a whole) and a single choice, among calendars they can edit, for
bookings. :func:`connect_prompt` is what a host who never connected gets instead (a sign-in button;
:func:`cards.errors.reconnect_required` is for a connection that broke).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from cards.elements import (
    Json,
    action_set,
    card,
    choice_set,
    container,
    execute,
    facts,
    input_text,
    open_url,
    plain,
    show_card,
    text,
    title,
    user_text,
)
from cards.format import Weekly, parse_weekly_hours, weekly_summary
from scheduling.errors import UnknownTimeZone
from scheduling.people import CONFLICT_CALENDARS, WRITE_CALENDAR, CalendarChoice, CalendarOptions
from scheduling.ports import CalendarInfo
from scheduling.rules import Availability
from scheduling.timezones import windows_to_iana, zone

PROFILE_TIME_ZONE: Final = "profile.time_zone"
PROFILE_HOURS: Final = "profile.hours"
PROFILE_CONFLICTS: Final = "profile.conflict_calendars"  # multi-select: comma-separated calendar ids
PROFILE_WRITE: Final = "profile.write_calendar"  # one calendar id
#: The core's problem keys (scheduling.people) -> the input that shows them.
CALENDAR_INPUTS: Final = {CONFLICT_CALENDARS: PROFILE_CONFLICTS, WRITE_CALENDAR: PROFILE_WRITE}
MAX_CALENDARS_SHOWN = 25  # per list: keeps the card well inside Teams' size limit (ids are long)
MAX_CHOICE_TEXT = 20_000  # characters of a submitted calendar choice read at all
LIVE_CALENDARS_NOTE = (
    "Changes in calendars other than your main one show up on your booking pages within about 30 seconds."
)

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
    ("Set up a team link (in a channel)", ("make a 30-min round-robin link", "collective 1h link", "team links")),
    ("Let other software book for you (REST API)", ("api key", "api keys")),
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


def calendar_title(calendar: CalendarInfo, options: CalendarOptions) -> str:
    """A calendar as the host knows it (plain text, for choice titles and facts): its name, "main" for the
    default one, and whose it is when it is shared with them."""
    name = plain(calendar.name, 80) or "Calendar"
    if calendar.is_default:
        return f"{name} (main)"
    if options.shared(calendar):
        owner = plain(calendar.owner_name or calendar.owner_email, 80) or "someone"
        return f"{name} (shared by {owner}{'' if calendar.can_edit else ', read-only'})"
    return name


def _shown(calendars: Sequence[CalendarInfo], chosen: Sequence[str]) -> tuple[list[CalendarInfo], int]:
    """At most :data:`MAX_CALENDARS_SHOWN` of ``calendars`` (the chosen ones always, then in order; ids with a
    comma can't be a choice value and are left out), and how many were left out."""
    usable = [c for c in calendars if c.id and "," not in c.id]
    keep = {c.id for c in usable if c.id in chosen}
    for c in usable:
        if len(keep) >= MAX_CALENDARS_SHOWN:
            break
        keep.add(c.id)
    return [c for c in usable if c.id in keep], len(usable) - len(keep)


def _submitted(values: Mapping[str, object] | None, input_id: str) -> str | None:
    value = (values or {}).get(input_id)
    return value[:MAX_CHOICE_TEXT] if isinstance(value, str) else None


def _calendar_facts(options: CalendarOptions) -> list[tuple[str, str]]:
    conflicts = [c for c in options.calendars if c.id in options.conflict_calendar_ids]
    write = options.named(options.write_calendar_id)
    return [
        ("Busy time from", user_text(", ".join(calendar_title(c, options) for c in conflicts), 400)),
        ("New bookings go to", user_text(calendar_title(write, options) if write else "Your main calendar", 160)),
    ]


def _calendar_inputs(options: CalendarOptions, values: Mapping[str, object] | None) -> list[Json]:
    conflicts = _submitted(values, PROFILE_CONFLICTS)
    write = _submitted(values, PROFILE_WRITE)
    conflict_value = conflicts if conflicts is not None else ",".join(options.conflict_calendar_ids)
    write_value = write if write is not None else options.write_calendar_id
    chosen = [i.strip() for i in conflict_value.split(",")] + [write_value]
    readable, left_out = _shown(options.calendars, chosen)
    writable, _ = _shown(options.writable, chosen)
    out: list[Json] = [
        text("Calendars", weight="bolder", separator=True, spacing="medium"),
        choice_set(
            PROFILE_CONFLICTS,
            "Your busy time comes from these calendars",
            [(calendar_title(c, options), c.id) for c in readable],
            ",".join(i for i in conflict_value.split(",") if i.strip() in {c.id for c in readable}),
            multi=True,
            expanded=True,
            required=True,
            error_message="Choose at least one calendar.",
        ),
        choice_set(
            PROFILE_WRITE,
            "New bookings go into",
            [(calendar_title(c, options), c.id) for c in writable],
            write_value if write_value in {c.id for c in writable} else "",
            required=True,
            error_message="Choose the calendar new bookings go into.",
        ),
        text(LIVE_CALENDARS_NOTE, subtle=True, size="small", spacing="small"),
    ]
    if left_out:
        out.append(text(f"{left_out} more calendars are not listed here.", subtle=True, size="small", spacing="none"))
    return out


def first_run(
    time_zone: str,
    working_hours: Availability | Weekly | str,
    *,
    errors: Mapping[str, str] | None = None,
    saved_links: int | None = None,
    calendars: CalendarOptions | None = None,
    values: Mapping[str, object] | None = None,
    calendars_unreadable: bool = False,
) -> Json:
    """The host's profile card: the detected (or saved) zone and hours, the calendars that count and the one
    bookings go into, Adjust, and "Make my first link".

    ``working_hours`` is the mailbox's working hours (an Availability or the seven weekly day ranges)
    or an already formatted summary. ``calendars``: the host's calendars and current choice (from
    ``PeopleService.calendar_options``); None leaves the calendars out (``calendars_unreadable`` says the
    list couldn't be read just now).

    The same card answers the Adjust form (``profile.save``): with ``errors`` (keyed by input id, from
    :func:`parse_profile` and the core's calendar problems mapped by :data:`CALENDAR_INPUTS`) it shows what to
    fix, with the submitted ``values`` kept and nothing saved; with ``saved_links`` it confirms the saved
    values and how many links now use them.
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
            title("Check your settings"),
            text("Please fix what is marked below, then select **Adjust** and **Save** again."),
        ]
        labels = (
            (PROFILE_TIME_ZONE, "Time zone"),
            (PROFILE_HOURS, "Working hours"),
            (PROFILE_CONFLICTS, "Busy-time calendars"),
            (PROFILE_WRITE, "Calendar for new bookings"),
        )
        for input_id, label in labels:
            if input_id in errs:
                body.append(text(f"{label}: {user_text(errs[input_id], 300)}", color="attention", size="small"))
    elif saved_links is not None:
        links = f"{saved_links} link" + ("s" if saved_links != 1 else "")
        body = [
            text("Saved", weight="bolder", color="good"),
            title("Your time zone, hours and calendars"),
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
    pairs = [("Time zone", user_text(time_zone, 80)), ("Working hours", user_text(summary, 300))]
    if calendars is not None:
        pairs += _calendar_facts(calendars)
    body.append(facts(pairs))
    if calendars is None and calendars_unreadable:
        body.append(
            text(
                "I couldn't list your calendars just now, so they aren't shown; type **connect** later to choose "
                "which calendars count.",
                subtle=True,
                size="small",
            )
        )
    adjust_inputs: list[Json] = [
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
    ]
    if calendars is not None:
        adjust_inputs += _calendar_inputs(calendars, values)
    adjust = show_card("Adjust", adjust_inputs, [execute("Save", "profile.save")])
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


def _ids(value: object) -> tuple[str, ...] | None:
    """A submitted calendar choice (Teams sends a multi-select as "id1,id2") as ids; None when not text."""
    if isinstance(value, str):
        pieces = value[:MAX_CHOICE_TEXT].split(",")
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        pieces = [str(v) for v in value]
    else:
        return None
    return tuple(dict.fromkeys(p.strip() for p in pieces if p.strip()))


def parse_calendar_choice(
    values: Mapping[str, object], current: CalendarOptions | None
) -> tuple[CalendarChoice | None, dict[str, str]]:
    """The Adjust form's calendar inputs -> (the choice, {}), or (None, {}) when the form had none of them (the
    calendars stay as they are), or (None, errors keyed by input id) when one can't be read. A missing input
    keeps its ``current`` value. Only reads: which ids are acceptable is the core's rule."""
    if PROFILE_CONFLICTS not in values and PROFILE_WRITE not in values:
        return None, {}
    errors: dict[str, str] = {}
    conflicts: tuple[str, ...] | None = current.conflict_calendar_ids if current is not None else None
    write: str | None = current.write_calendar_id if current is not None else None
    if PROFILE_CONFLICTS in values:
        conflicts = _ids(values[PROFILE_CONFLICTS])
        if conflicts is None:
            errors[PROFILE_CONFLICTS] = "Choose your calendars from the list."
    if PROFILE_WRITE in values:
        raw = values[PROFILE_WRITE]
        write = raw.strip()[:MAX_CHOICE_TEXT] if isinstance(raw, str) else None
        if write is None:
            errors[PROFILE_WRITE] = "Choose a calendar from the list."
    if errors or conflicts is None:
        return None, errors
    return CalendarChoice(conflicts, write or None), {}
