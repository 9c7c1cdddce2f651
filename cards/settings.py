"""The link settings editor card and the pure parser of what it submits.

Flow: ``link.edit`` -> :func:`settings_editor` (inputs pre-filled from the link) -> the host presses
Save -> ``link.save`` arrives with every input value merged into ``data`` -> the bot calls
:func:`parse_settings`. It returns the new :class:`EventType` and no errors, or ``None`` and *every*
problem at once keyed by input id; the bot then re-renders ``settings_editor(link, errors, values)``
with the submitted values so nothing typed is lost, and saves nothing.

Input ids are stable (they are part of the bot contract) and, wherever a rule has one, equal to the
key :meth:`EventRules.problems` reports (``durations``, ``weekly_hours.monday``, ...). The exceptions are
mapped by :func:`problem_input_id`. An error that belongs to no single input is keyed ``FORM_ERROR``.

A key missing from the submitted values keeps the link's current value; a key present with an empty
value means "empty" (no cap, no buffer, a day off...).

The time zone is an ``Input.Text``, not a ChoiceSet: the ``filtered`` (type-ahead) ChoiceSet style that
Teams offers is not part of the official 1.5 schema our cards are validated against, and a compact
ChoiceSet with all ~600 IANA zones would blow the size budget. The parser accepts IANA names and the
Windows names Outlook shows ("W. Europe Standard Time").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date
from functools import partial
from typing import Final, TypeVar

from cards.elements import (
    Json,
    card,
    choice_set,
    container,
    execute,
    field_error,
    input_date,
    input_number,
    input_text,
    text,
    title,
    toggle,
    user_text,
)
from cards.format import (
    LOCATION_LABELS,
    STATUS_LABELS,
    minutes_value,
    parse_day_ranges,
    parse_minutes,
    ranges_value,
)
from scheduling.domain import EventType
from scheduling.errors import UnknownTimeZone
from scheduling.links import MAX_TITLE, title_problem
from scheduling.ports import Location, LocationKind
from scheduling.rules import (
    MAX_WINDOW_DAYS,
    MINUTES_PER_DAY,
    WEEKDAY_NAMES,
    Availability,
    BookingWindow,
    BusyStatus,
    DayRanges,
    EventRules,
)
from scheduling.timezones import windows_to_iana, zone

# --------------------------------------------------------------------------- input ids (bot contract)

TITLE: Final = "title"
DURATIONS: Final = "durations"
SLOT_INTERVAL: Final = "slot_interval"
BUFFER_BEFORE: Final = "buffer_before"
BUFFER_AFTER: Final = "buffer_after"
MINIMUM_NOTICE: Final = "minimum_notice"
WINDOW_KIND: Final = "window_kind"
WINDOW_DAYS: Final = "window_days"
WINDOW_START: Final = "window_start"
WINDOW_END: Final = "window_end"
WEEKLY_HOURS: Final = tuple(f"weekly_hours.{name}" for name in WEEKDAY_NAMES)
DATE_OVERRIDES: Final = "date_overrides"
DAILY_CAP: Final = "daily_cap"
WEEKLY_CAP: Final = "weekly_cap"
BLOCKING_STATUSES: Final = "blocking_statuses"
TIME_ZONE: Final = "time_zone"
LOCATION_KIND: Final = "location_kind"
LOCATION_TEXT: Final = "location_text"
SINGLE_USE: Final = "single_use"
ACTIVE: Final = "active"
FORM_ERROR: Final = "form"

SETTINGS_INPUT_IDS: Final[tuple[str, ...]] = (
    TITLE, DURATIONS, LOCATION_KIND, LOCATION_TEXT, TIME_ZONE, *WEEKLY_HOURS, DATE_OVERRIDES,
    SLOT_INTERVAL, BUFFER_BEFORE, BUFFER_AFTER, MINIMUM_NOTICE, WINDOW_KIND, WINDOW_DAYS, WINDOW_START,
    WINDOW_END, DAILY_CAP, WEEKLY_CAP, BLOCKING_STATUSES, SINGLE_USE, ACTIVE,
)

TITLE_MAX = MAX_TITLE  # the core's one limit (scheduling.links)
T = TypeVar("T")
LOCATION_MAX = 200
ROLLING, DATE_RANGE = "rolling", "range"
#: Statuses a host can choose to block on ("free" never blocks).
CHOOSABLE_STATUSES: Final = (BusyStatus.BUSY, BusyStatus.TENTATIVE, BusyStatus.OOF,
                             BusyStatus.WORKING_ELSEWHERE, BusyStatus.UNKNOWN)


# --------------------------------------------------------------------------- current values

def current_values(link: EventType) -> dict[str, str]:
    """The form's inputs as the link stands: exactly what Save would submit untouched."""
    r = link.rules
    w = r.window
    out = {
        TITLE: link.title,
        DURATIONS: ", ".join(str(d) for d in r.durations),
        SLOT_INTERVAL: "" if r.slot_interval is None else str(r.slot_interval),
        BUFFER_BEFORE: str(r.buffer_before),
        BUFFER_AFTER: str(r.buffer_after),
        MINIMUM_NOTICE: minutes_value(r.minimum_notice),
        WINDOW_KIND: ROLLING if w.rolling_days is not None else DATE_RANGE,
        WINDOW_DAYS: "" if w.rolling_days is None else str(w.rolling_days),
        WINDOW_START: w.start_date.isoformat() if w.start_date else "",
        WINDOW_END: w.end_date.isoformat() if w.end_date else "",
        DATE_OVERRIDES: "\n".join(
            f"{day.isoformat()}: {ranges_value(ranges) or 'off'}"
            for day, ranges in sorted(r.availability.overrides.items())),
        DAILY_CAP: "" if r.daily_cap is None else str(r.daily_cap),
        WEEKLY_CAP: "" if r.weekly_cap is None else str(r.weekly_cap),
        BLOCKING_STATUSES: ",".join(s.value for s in CHOOSABLE_STATUSES if s in r.blocking_statuses),
        TIME_ZONE: r.time_zone,
        LOCATION_KIND: link.location.kind.value,
        LOCATION_TEXT: link.location.text,
        SINGLE_USE: "true" if link.single_use else "false",
        ACTIVE: "true" if link.active else "false",
    }
    for input_id, ranges in zip(WEEKLY_HOURS, r.availability.weekly, strict=True):
        out[input_id] = ranges_value(ranges)
    return out


def _as_text(value: object) -> str:
    """A submitted input value as text (Teams sends strings; be lenient with numbers and booleans)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return value if isinstance(value, str) else str(value)


def _merged(link: EventType, values: Mapping[str, object] | None) -> dict[str, str]:
    out = current_values(link)
    for key, value in (values or {}).items():
        if key in out:
            out[key] = _as_text(value)
    return out


# --------------------------------------------------------------------------- the card

def _number(value: str) -> float | None:
    try:
        n = float(value)
    except ValueError:
        return None
    return int(n) if n.is_integer() else n


def _iso_date(value: str) -> str:
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        return ""


def settings_editor(link: EventType, errors: Mapping[str, str] | None = None,
                    values: Mapping[str, object] | None = None) -> Json:
    """Inputs for every rule of ``link``; ``errors`` shown under their inputs, ``values`` pre-filled."""
    errs = dict(errors or {})
    v = _merged(link, values)
    body: list[Json] = [
        text("Edit link", weight="bolder", color="accent"),
        title(user_text(link.title, 200, empty="Untitled link")),
    ]
    if errs:
        count = len([k for k in errs if k != FORM_ERROR])
        what = f"{count} field" + ("s" if count != 1 else "") + " marked below" if count else "the problem below"
        body.append(text(f"Nothing was saved yet: please fix {what}.", color="attention", weight="bolder"))
        if FORM_ERROR in errs:
            body.append(field_error(errs[FORM_ERROR]))

    def add(element: Json) -> None:
        body.append(element)
        input_id = element.get("id")
        if isinstance(input_id, str) and input_id in errs:
            body.append(field_error(errs[input_id]))

    def section(heading: str) -> None:
        body.append(text(heading, weight="bolder", size="medium", separator=True, spacing="large"))

    section("Basics")
    add(input_text(TITLE, "Title", v[TITLE], required=True, max_length=TITLE_MAX,
                   error_message=f"Give the link a title (up to {TITLE_MAX} characters)."))
    add(input_text(DURATIONS, "Meeting length(s) in minutes; several let the invitee choose", v[DURATIONS],
                   placeholder="30  or  15, 30, 60", required=True,
                   error_message="Give at least one meeting length, like 30."))
    add(choice_set(LOCATION_KIND, "Where", [(label, kind.value) for kind, label in LOCATION_LABELS.items()],
                   v[LOCATION_KIND]))
    add(input_text(LOCATION_TEXT, "Address, phone number or details (not needed for Teams)",
                   v[LOCATION_TEXT], max_length=LOCATION_MAX))
    add(input_text(TIME_ZONE, "Time zone of these hours (IANA name)", v[TIME_ZONE],
                   placeholder="Europe/London", required=True,
                   error_message="Enter a time zone such as Europe/London."))

    section("Weekly hours")
    body.append(text("Several ranges a day are fine, like 09:00-12:00, 13:00-17:00. Leave a day empty for a "
                     "day off.", subtle=True, size="small", spacing="none"))
    for day, input_id in enumerate(WEEKLY_HOURS):
        add(input_text(input_id, WEEKDAY_NAMES[day].capitalize(), v[input_id], placeholder="off"))
    add(input_text(DATE_OVERRIDES, "Date overrides, one per line", v[DATE_OVERRIDES], multiline=True,
                   placeholder="2027-01-05: off\n2027-01-06: 10:00-14:00"))

    section("Spacing")
    add(input_number(SLOT_INTERVAL, "Start times every (minutes; empty = automatic)", _number(v[SLOT_INTERVAL]),
                     minimum=1, maximum=MINUTES_PER_DAY, placeholder="automatic",
                     error_message="Use 1 to 1440 minutes."))
    add(input_number(BUFFER_BEFORE, "Buffer before (minutes)", _number(v[BUFFER_BEFORE]), minimum=0,
                     maximum=MINUTES_PER_DAY, placeholder="0", error_message="Use 0 to 1440 minutes."))
    add(input_number(BUFFER_AFTER, "Buffer after (minutes)", _number(v[BUFFER_AFTER]), minimum=0,
                     maximum=MINUTES_PER_DAY, placeholder="0", error_message="Use 0 to 1440 minutes."))
    add(input_text(MINIMUM_NOTICE, "Minimum notice (like 4h, 1d or 90m)", v[MINIMUM_NOTICE], placeholder="0"))

    section("Booking window")
    add(choice_set(WINDOW_KIND, "People can book", [("A rolling number of days ahead", ROLLING),
                                                   ("Between two dates", DATE_RANGE)], v[WINDOW_KIND],
                   expanded=True))
    add(input_number(WINDOW_DAYS, "Days ahead (rolling)", _number(v[WINDOW_DAYS]), minimum=1,
                     maximum=MAX_WINDOW_DAYS, error_message=f"Use 1 to {MAX_WINDOW_DAYS} days."))
    add(input_date(WINDOW_START, "First date (date range)", _iso_date(v[WINDOW_START])))
    add(input_date(WINDOW_END, "Last date (date range)", _iso_date(v[WINDOW_END])))

    section("Limits")
    add(input_number(DAILY_CAP, "At most this many bookings a day (empty = no limit)", _number(v[DAILY_CAP]),
                     minimum=1, error_message="Use a whole number of at least 1, or leave it empty."))
    add(input_number(WEEKLY_CAP, "At most this many bookings a week (empty = no limit)",
                     _number(v[WEEKLY_CAP]), minimum=1,
                     error_message="Use a whole number of at least 1, or leave it empty."))

    section("Calendar")
    add(choice_set(BLOCKING_STATUSES, "Outlook entries that make you unavailable",
                   [(STATUS_LABELS[s], s.value) for s in CHOOSABLE_STATUSES], v[BLOCKING_STATUSES],
                   multi=True, expanded=True))

    section("Link")
    add(toggle(SINGLE_USE, "Single use", "Stop working after one booking", v[SINGLE_USE].lower() == "true"))
    add(toggle(ACTIVE, "Active", "People can book this link", v[ACTIVE].lower() == "true"))

    actions = [
        execute("Save", "link.save", {"linkId": link.id, "version": link.version}),
        execute("Cancel", "link.view", {"linkId": link.id}, submit_inputs=False),
    ]
    return card([container(body)], actions, fallback_text="Edit your Slotwise link")


# --------------------------------------------------------------------------- parsing

def _has_control(value: str, *, newlines: bool = False) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf") and not (newlines and ch in "\n\r\t") and ch != "\u200d"
               for ch in value)


def _optional_minutes(value: str) -> int | None:
    cleaned = value.strip()
    if not cleaned or cleaned.lower() in ("auto", "automatic", "none"):
        return None
    return parse_minutes(cleaned)


def _minutes_or_zero(value: str) -> int:
    return _optional_minutes(value) or 0


def _whole(value: str, what: str) -> int | None:
    cleaned = value.strip()
    if not cleaned or cleaned.lower() in ("none", "no limit", "unlimited"):
        return None
    try:
        n = float(cleaned)
    except ValueError:
        raise ValueError(f"'{cleaned}' is not a number; enter {what}.") from None
    if not n.is_integer():
        raise ValueError(f"'{cleaned}' is not a whole number; enter {what}.")
    return int(n)


_OVERRIDE_LINE = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})\s*[:=]?\s*(.*)$")


def parse_overrides(text_value: str) -> dict[date, DayRanges]:
    """Lines like "2027-01-05: off" / "2027-01-06: 10:00-14:00, 15:00-16:00"; every bad line is reported."""
    out: dict[date, DayRanges] = {}
    problems = []
    for n, raw in enumerate(text_value.replace("\r", "\n").split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        m = _OVERRIDE_LINE.match(line)
        if not m:
            problems.append(f"Line {n} ('{line}') should look like '2027-01-05: off' or '2027-01-06: 10:00-14:00'.")
            continue
        try:
            y, mo, d = (int(p) for p in m.group(1).split("-"))
            day = date(y, mo, d)
        except ValueError:
            problems.append(f"Line {n}: '{m.group(1)}' is not a real date.")
            continue
        if day in out:
            problems.append(f"Line {n}: {day.isoformat()} is listed twice.")
            continue
        try:
            out[day] = parse_day_ranges(m.group(2))
        except ValueError as exc:
            problems.append(f"Line {n}: {exc}")
    if problems:
        raise ValueError(" ".join(problems))
    return out


def _zone_name(value: str) -> str:
    cleaned = value.strip()
    try:
        zone(cleaned)
        return cleaned
    except UnknownTimeZone:
        pass
    try:
        return windows_to_iana(cleaned)
    except UnknownTimeZone:
        raise ValueError(UnknownTimeZone(cleaned or "(empty)").message) from None


def problem_input_id(key: str, window_kind: str) -> str:
    """Which input shows an :meth:`EventRules.problems` key."""
    if key == "booking_window":
        return WINDOW_DAYS if window_kind == ROLLING else WINDOW_END
    if key.startswith("date_overrides"):
        return DATE_OVERRIDES
    if key in SETTINGS_INPUT_IDS:
        return key
    return FORM_ERROR


def parse_settings(values: Mapping[str, object], current: EventType) -> tuple[EventType | None, dict[str, str]]:
    """Submitted settings -> (the edited link, {}) or (None, every problem keyed by input id).

    Pure: nothing is saved here, and nothing should be saved unless the returned link is not None.
    Fields the form does not edit (questions, description, kind, slug, version...) are kept as they are.
    """
    v = _merged(current, values)
    errors: dict[str, str] = {}
    r = current.rules

    def attempt(input_id: str, parse: Callable[[], T], fallback: T) -> T:
        try:
            return parse()
        except ValueError as exc:
            errors[input_id] = str(exc)
            return fallback

    # title
    title_value = " ".join(v[TITLE].split())
    if (title_error := title_problem(title_value)) is not None:
        errors[TITLE] = title_error
    elif _has_control(title_value):
        errors[TITLE] = "The title contains characters we can't use."

    def durations() -> tuple[int, ...]:
        pieces = [p.strip() for p in re.split(r"[,;/]|\bor\b", v[DURATIONS]) if p.strip()]
        if not pieces:
            raise ValueError("Give at least one meeting length, like 30.")
        return tuple(parse_minutes(p) for p in pieces)

    duration_values = attempt(DURATIONS, durations, r.durations)
    interval = attempt(SLOT_INTERVAL, partial(_optional_minutes, v[SLOT_INTERVAL]), r.slot_interval)
    before = attempt(BUFFER_BEFORE, partial(_minutes_or_zero, v[BUFFER_BEFORE]), r.buffer_before)
    after = attempt(BUFFER_AFTER, partial(_minutes_or_zero, v[BUFFER_AFTER]), r.buffer_after)
    notice = attempt(MINIMUM_NOTICE, partial(_minutes_or_zero, v[MINIMUM_NOTICE]), r.minimum_notice)

    # booking window
    kind = v[WINDOW_KIND].strip().lower()
    window = r.window
    window_failed = False
    if kind == ROLLING:
        days = attempt(WINDOW_DAYS, lambda: _whole(v[WINDOW_DAYS], "a number of days such as 60"), None)
        if WINDOW_DAYS in errors:
            window_failed = True
        elif days is None:
            errors[WINDOW_DAYS] = "Enter how many days ahead people can book, such as 60."
            window_failed = True
        else:
            window = BookingWindow(rolling_days=days)
    elif kind == DATE_RANGE:
        bounds: list[date | None] = []
        for input_id in (WINDOW_START, WINDOW_END):
            raw = v[input_id].strip()
            try:
                bounds.append(date.fromisoformat(raw) if raw else None)
            except ValueError:
                errors[input_id] = f"'{raw}' is not a date like 2027-01-31."
                bounds.append(None)
                window_failed = True
        if not window_failed:
            if bounds[0] is None:
                errors[WINDOW_START] = "Pick the first date people can book."
                window_failed = True
            if bounds[1] is None:
                errors[WINDOW_END] = "Pick the last date people can book."
                window_failed = True
        if not window_failed:
            window = BookingWindow(rolling_days=None, start_date=bounds[0], end_date=bounds[1])
    else:
        errors[WINDOW_KIND] = "Choose a rolling number of days or a date range."
        window_failed = True

    # hours
    weekly = tuple(attempt(input_id, partial(parse_day_ranges, v[input_id]), r.availability.weekly[day])
                   for day, input_id in enumerate(WEEKLY_HOURS))
    overrides = attempt(DATE_OVERRIDES, lambda: parse_overrides(v[DATE_OVERRIDES]), dict(r.availability.overrides))
    tz_name = attempt(TIME_ZONE, lambda: _zone_name(v[TIME_ZONE]), r.time_zone)

    # caps
    daily = attempt(DAILY_CAP, lambda: _whole(v[DAILY_CAP], "a number of bookings, or nothing"), r.daily_cap)
    weekly_cap = attempt(WEEKLY_CAP, lambda: _whole(v[WEEKLY_CAP], "a number of bookings, or nothing"),
                         r.weekly_cap)

    # blocking statuses
    known = {s.value.lower(): s for s in CHOOSABLE_STATUSES}
    picked = [p.strip() for p in v[BLOCKING_STATUSES].split(",") if p.strip()]
    unknown = [p for p in picked if p.lower() not in known]
    blocking = r.blocking_statuses
    if unknown:
        errors[BLOCKING_STATUSES] = f"Unknown status '{unknown[0]}'; choose from the list."
    elif not picked:
        errors[BLOCKING_STATUSES] = ("Choose at least one status (usually Busy); otherwise people could book over "
                                     "anything in your calendar.")
    else:
        blocking = frozenset(known[p.lower()] for p in picked)

    # location
    location = current.location
    kinds = {k.value: k for k in LocationKind}
    location_kind = kinds.get(v[LOCATION_KIND].strip())
    location_text = " ".join(v[LOCATION_TEXT].split())
    if location_kind is None:
        errors[LOCATION_KIND] = "Choose where the meeting happens."
    elif location_kind is not LocationKind.TEAMS and not location_text:
        errors[LOCATION_TEXT] = {
            LocationKind.IN_PERSON: "Give the address people should come to.",
            LocationKind.PHONE: "Give the phone number (or say who calls whom).",
        }.get(location_kind, "Describe where the meeting happens.")
    elif len(location_text) > LOCATION_MAX:
        errors[LOCATION_TEXT] = f"Keep this under {LOCATION_MAX} characters."
    elif _has_control(location_text):
        errors[LOCATION_TEXT] = "This contains characters we can't use."
    else:
        location = Location(location_kind, "" if location_kind is LocationKind.TEAMS else location_text)

    # toggles
    flags: dict[str, bool] = {}
    for input_id, now in ((SINGLE_USE, current.single_use), (ACTIVE, current.active)):
        raw = v[input_id].strip().lower()
        if raw not in ("true", "false"):
            errors[input_id] = "Switch this on or off."
            flags[input_id] = now
        else:
            flags[input_id] = raw == "true"

    rules = EventRules(
        durations=duration_values,
        availability=Availability(tz_name, weekly, overrides),  # type: ignore[arg-type]
        slot_interval=interval,
        buffer_before=before,
        buffer_after=after,
        minimum_notice=notice,
        window=window,
        daily_cap=daily,
        weekly_cap=weekly_cap,
        blocking_statuses=blocking,
    )
    override_problems: list[str] = []
    for key, message in rules.problems().items():
        if key == "booking_window" and window_failed:
            continue
        if key.startswith("date_overrides."):
            override_problems.append(f"{key.split('.', 1)[1]}: {message}")
            continue
        errors.setdefault(problem_input_id(key, kind), message)
    if override_problems and DATE_OVERRIDES not in errors:
        errors[DATE_OVERRIDES] = " ".join(sorted(override_problems))

    if errors:
        return None, errors
    edited = replace(current, title=title_value, rules=rules, location=location,
                     single_use=flags[SINGLE_USE], active=flags[ACTIVE])
    return edited, {}

