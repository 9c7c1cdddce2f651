"""The link settings editor card and the pure parser of what it submits.

Flow: ``link.edit`` -> :func:`settings_editor` (inputs pre-filled from the link) -> the host presses
Save -> ``link.save`` arrives with every input value merged into ``data`` -> the bot calls
:func:`parse_settings`. It returns the new :class:`EventType` and no errors, or ``None`` and *every*
problem at once keyed by input id; the bot then re-renders ``settings_editor(link, errors, values)``
with the submitted values so nothing typed is lost, and saves nothing.

There is one parser per field (``parse_title``, ``parse_durations``, ``parse_window_days``...): each only
reads its input's text into a value; the rules that judge the values are the core's
(``EventRules.problems()``, ``title_problem``, ``calendar_date_problem``, ``has_control``), run once on
the whole result, so no rule is written here a second time.

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
from scheduling.invitee import has_control
from scheduling.links import MAX_LOCATION, MAX_TITLE, location_problem, title_problem
from scheduling.ports import Location, LocationKind
from scheduling.reach import calendar_date_problem
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
REMINDER: Final = "reminder"
FORM_ERROR: Final = "form"

SETTINGS_INPUT_IDS: Final[tuple[str, ...]] = (
    TITLE,
    DURATIONS,
    LOCATION_KIND,
    LOCATION_TEXT,
    TIME_ZONE,
    *WEEKLY_HOURS,
    DATE_OVERRIDES,
    SLOT_INTERVAL,
    BUFFER_BEFORE,
    BUFFER_AFTER,
    MINIMUM_NOTICE,
    WINDOW_KIND,
    WINDOW_DAYS,
    WINDOW_START,
    WINDOW_END,
    DAILY_CAP,
    WEEKLY_CAP,
    BLOCKING_STATUSES,
    REMINDER,
    SINGLE_USE,
    ACTIVE,
)

TITLE_MAX = MAX_TITLE  # the core's one limit (scheduling.links)
T = TypeVar("T")
LOCATION_MAX = MAX_LOCATION  # the core's limit, shown as the input's maxLength
ROLLING, DATE_RANGE = "rolling", "range"
#: Statuses a host can choose to block on ("free" never blocks).
CHOOSABLE_STATUSES: Final = (
    BusyStatus.BUSY,
    BusyStatus.TENTATIVE,
    BusyStatus.OOF,
    BusyStatus.WORKING_ELSEWHERE,
    BusyStatus.UNKNOWN,
)


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
            for day, ranges in sorted(r.availability.overrides.items())
        ),
        DAILY_CAP: "" if r.daily_cap is None else str(r.daily_cap),
        WEEKLY_CAP: "" if r.weekly_cap is None else str(r.weekly_cap),
        BLOCKING_STATUSES: ",".join(s.value for s in CHOOSABLE_STATUSES if s in r.blocking_statuses),
        TIME_ZONE: r.time_zone,
        LOCATION_KIND: link.location.kind.value,
        LOCATION_TEXT: link.location.text,
        SINGLE_USE: "true" if link.single_use else "false",
        ACTIVE: "true" if link.active else "false",
        REMINDER: REMINDER_OFF if r.reminder is None else minutes_value(r.reminder),
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


def settings_editor(
    link: EventType, errors: Mapping[str, str] | None = None, values: Mapping[str, object] | None = None
) -> Json:
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
    add(
        input_text(
            TITLE,
            "Title",
            v[TITLE],
            required=True,
            max_length=TITLE_MAX,
            error_message=f"Give the link a title (up to {TITLE_MAX} characters).",
        )
    )
    add(
        input_text(
            DURATIONS,
            "Meeting length(s) in minutes; several let the invitee choose",
            v[DURATIONS],
            placeholder="30  or  15, 30, 60",
            required=True,
            error_message="Give at least one meeting length, like 30.",
        )
    )
    add(
        choice_set(
            LOCATION_KIND, "Where", [(label, kind.value) for kind, label in LOCATION_LABELS.items()], v[LOCATION_KIND]
        )
    )
    add(
        input_text(
            LOCATION_TEXT,
            "Address, phone number or details (not needed for Teams)",
            v[LOCATION_TEXT],
            max_length=LOCATION_MAX,
        )
    )
    add(
        input_text(
            TIME_ZONE,
            "Time zone of these hours (IANA name)",
            v[TIME_ZONE],
            placeholder="Europe/London",
            required=True,
            error_message="Enter a time zone such as Europe/London.",
        )
    )

    section("Weekly hours")
    body.append(
        text(
            "Several ranges a day are fine, like 09:00-12:00, 13:00-17:00. Leave a day empty for a day off.",
            subtle=True,
            size="small",
            spacing="none",
        )
    )
    for day, input_id in enumerate(WEEKLY_HOURS):
        add(input_text(input_id, WEEKDAY_NAMES[day].capitalize(), v[input_id], placeholder="off"))
    add(
        input_text(
            DATE_OVERRIDES,
            "Date overrides, one per line",
            v[DATE_OVERRIDES],
            multiline=True,
            placeholder="2027-01-05: off\n2027-01-06: 10:00-14:00",
        )
    )

    section("Spacing")
    add(
        input_number(
            SLOT_INTERVAL,
            "Start times every (minutes; empty = automatic)",
            _number(v[SLOT_INTERVAL]),
            minimum=1,
            maximum=MINUTES_PER_DAY,
            placeholder="automatic",
            error_message="Use 1 to 1440 minutes.",
        )
    )
    add(
        input_number(
            BUFFER_BEFORE,
            "Buffer before (minutes)",
            _number(v[BUFFER_BEFORE]),
            minimum=0,
            maximum=MINUTES_PER_DAY,
            placeholder="0",
            error_message="Use 0 to 1440 minutes.",
        )
    )
    add(
        input_number(
            BUFFER_AFTER,
            "Buffer after (minutes)",
            _number(v[BUFFER_AFTER]),
            minimum=0,
            maximum=MINUTES_PER_DAY,
            placeholder="0",
            error_message="Use 0 to 1440 minutes.",
        )
    )
    add(input_text(MINIMUM_NOTICE, "Minimum notice (like 4h, 1d or 90m)", v[MINIMUM_NOTICE], placeholder="0"))

    section("Booking window")
    add(
        choice_set(
            WINDOW_KIND,
            "People can book",
            [("A rolling number of days ahead", ROLLING), ("Between two dates", DATE_RANGE)],
            v[WINDOW_KIND],
            expanded=True,
        )
    )
    add(
        input_number(
            WINDOW_DAYS,
            "Days ahead (rolling)",
            _number(v[WINDOW_DAYS]),
            minimum=1,
            maximum=MAX_WINDOW_DAYS,
            error_message=f"Use 1 to {MAX_WINDOW_DAYS} days.",
        )
    )
    add(input_date(WINDOW_START, "First date (date range)", _iso_date(v[WINDOW_START])))
    add(input_date(WINDOW_END, "Last date (date range)", _iso_date(v[WINDOW_END])))

    section("Limits")
    add(
        input_number(
            DAILY_CAP,
            "At most this many bookings a day (empty = no limit)",
            _number(v[DAILY_CAP]),
            minimum=1,
            error_message="Use a whole number of at least 1, or leave it empty.",
        )
    )
    add(
        input_number(
            WEEKLY_CAP,
            "At most this many bookings a week (empty = no limit)",
            _number(v[WEEKLY_CAP]),
            minimum=1,
            error_message="Use a whole number of at least 1, or leave it empty.",
        )
    )

    section("Calendar")
    add(
        choice_set(
            BLOCKING_STATUSES,
            "Outlook entries that make you unavailable",
            [(STATUS_LABELS[s], s.value) for s in CHOOSABLE_STATUSES],
            v[BLOCKING_STATUSES],
            multi=True,
            expanded=True,
        )
    )

    section("Reminder")
    add(
        input_text(
            REMINDER,
            "Remind me in Teams this long before each meeting (like 15m or 1h; off for none)",
            v[REMINDER],
            placeholder="15m",
        )
    )

    section("Link")
    add(toggle(SINGLE_USE, "Single use", "Stop working after one booking", v[SINGLE_USE].lower() == "true"))
    add(toggle(ACTIVE, "Active", "People can book this link", v[ACTIVE].lower() == "true"))

    actions = [
        execute("Save", "link.save", {"linkId": link.id, "version": link.version}),
        execute("Cancel", "link.view", {"linkId": link.id}, submit_inputs=False),
    ]
    return card([container(body)], actions, fallback_text="Edit your Slotwise link")


# --------------------------------------------------------------------------- parsing: one parser per field
#
# Each parser reads one input's text (as :func:`current_values` spells it) into its value, or raises
# ValueError with what to tell the host. Parsers only read; the rules are the core's and are not written
# here again: ``EventRules.problems()`` (lengths, spacing, notice, window, hours, overrides, caps, zone),
# ``title_problem``, the calendar a window's dates must lie in (``calendar_date_problem``) and what counts
# as an unusable character (``has_control``). :func:`parse_settings` runs every parser, then the core's
# rules on the result, and keys each problem by the input it belongs to.


def parse_title(value: str) -> str:
    """The title, spaces collapsed (kept as typed otherwise: ``<b>Q&A</b>`` is a title)."""
    title_value = " ".join(value.split())
    problem = title_problem(title_value)
    if problem is None and has_control(title_value):
        problem = "The title contains characters we can't use."
    if problem is not None:
        raise ValueError(problem)
    return title_value


def parse_durations(value: str) -> tuple[int, ...]:
    """ "15, 30 or 60" -> (15, 30, 60); the core judges each length (and repeats)."""
    pieces = [p.strip() for p in re.split(r"[,;/]|\bor\b", value) if p.strip()]
    if not pieces:
        raise ValueError("Give at least one meeting length, like 30.")
    return tuple(parse_minutes(p) for p in pieces)


def parse_optional_minutes(value: str) -> int | None:
    """A length in minutes, or None for "automatic" / empty (the slot interval)."""
    cleaned = value.strip()
    if not cleaned or cleaned.lower() in ("auto", "automatic", "none"):
        return None
    return parse_minutes(cleaned)


def parse_minutes_or_zero(value: str) -> int:
    """A length in minutes, 0 when empty (buffers, minimum notice)."""
    return parse_optional_minutes(value) or 0


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


def parse_cap(value: str) -> int | None:
    """A booking limit, None when empty (no limit); the core judges the number."""
    return _whole(value, "a number of bookings, or nothing")


def parse_window_days(value: str) -> int:
    """A rolling window's number of days ahead (required); the core judges the number."""
    days = _whole(value, "a number of days such as 60")
    if days is None:
        raise ValueError("Enter how many days ahead people can book, such as 60.")
    return days


def parse_window_date(value: str, what: str) -> date:
    """One bound of a date-range window (required), in the calendar the core allows for a window."""
    raw = value.strip()
    if not raw:
        raise ValueError(f"Pick the {what} date people can book.")
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"'{raw}' is not a date like 2027-01-31.") from None
    if (outside := calendar_date_problem(day)) is not None:
        raise ValueError(outside)
    return day


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


def parse_zone(value: str) -> str:
    """An IANA zone name, or a Windows one as Outlook shows it ("W. Europe Standard Time") mapped to IANA."""
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


_STATUS_BY_NAME: Final = {s.value.lower(): s for s in CHOOSABLE_STATUSES}


def parse_statuses(value: str) -> frozenset[BusyStatus]:
    """The statuses that make the host unavailable ("busy,oof"); at least one (the form's safeguard: none
    would let people book over anything in the calendar)."""
    picked = [p.strip() for p in value.split(",") if p.strip()]
    unknown = [p for p in picked if p.lower() not in _STATUS_BY_NAME]
    if unknown:
        raise ValueError(f"Unknown status '{unknown[0]}'; choose from the list.")
    if not picked:
        raise ValueError(
            "Choose at least one status (usually Busy); otherwise people could book over anything in your calendar."
        )
    return frozenset(_STATUS_BY_NAME[p.lower()] for p in picked)


def parse_location_kind(value: str) -> LocationKind:
    kinds = {k.value: k for k in LocationKind}
    kind = kinds.get(value.strip())
    if kind is None:
        raise ValueError("Choose where the meeting happens.")
    return kind


def parse_location_text(value: str, kind: LocationKind) -> str:
    """The address, phone number or details ("" for Teams, which needs none); the core says what is wrong with
    them (``scheduling.links.location_problem``), so the card and the API refuse the same things."""
    details = "" if kind is LocationKind.TEAMS else " ".join(value.split())
    if (problem := location_problem(Location(kind, details))) is not None:
        raise ValueError(problem)
    return details


REMINDER_OFF: Final = "off"
_OFF_WORDS: Final = frozenset({"", "off", "none", "no", "never"})


def parse_reminder(value: str) -> int | None:
    """How long before each meeting the host is reminded ("15", "15m", "1h"), None for "off" or empty; the
    core judges the length (``EventRules.problems()``: 1 minute to 24 hours)."""
    cleaned = value.strip().lower()
    if cleaned in _OFF_WORDS:
        return None
    try:
        return parse_minutes(cleaned)
    except OverflowError:  # hundreds of digits: no length at all
        raise ValueError(f"'{value.strip()[:40]}' is not a length of time like 15m or 1h.") from None


def parse_flag(value: str) -> bool:
    raw = value.strip().lower()
    if raw not in ("true", "false"):
        raise ValueError("Switch this on or off.")
    return raw == "true"


def problem_input_id(key: str, window_kind: str) -> str:
    """Which input shows an :meth:`EventRules.problems` key."""
    if key == "booking_window":
        return WINDOW_DAYS if window_kind == ROLLING else WINDOW_END
    if key.startswith("date_overrides"):
        return DATE_OVERRIDES
    if key in SETTINGS_INPUT_IDS:
        return key
    return FORM_ERROR


class _Form:
    """The submitted values (merged over the link's own) and every problem found in them so far."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.errors: dict[str, str] = {}

    def read(self, input_id: str, parse: Callable[[str], T], fallback: T) -> T:
        """``parse`` of the input's text, or ``fallback`` (the link's current value) with the problem noted:
        the other fields are still read and judged, so every problem is reported at once."""
        try:
            return parse(self.values[input_id])
        except ValueError as exc:
            self.errors[input_id] = str(exc)
            return fallback

    def window(self) -> BookingWindow | None:
        """The booking window from its inputs; None (problems noted) when they can't be read."""
        kind = self.values[WINDOW_KIND].strip().lower()
        if kind == ROLLING:
            days = self.read(WINDOW_DAYS, parse_window_days, None)
            return None if days is None else BookingWindow(rolling_days=days)
        if kind == DATE_RANGE:
            first = self.read(WINDOW_START, partial(parse_window_date, what="first"), None)
            last = self.read(WINDOW_END, partial(parse_window_date, what="last"), None)
            return None if first is None or last is None else BookingWindow.fixed(first, last)
        self.errors[WINDOW_KIND] = "Choose a rolling number of days or a date range."
        return None

    def location(self, current: Location) -> Location:
        kind = self.read(LOCATION_KIND, parse_location_kind, None)
        if kind is None:
            return current
        details = self.read(LOCATION_TEXT, partial(parse_location_text, kind=kind), None)
        return current if details is None else Location(kind, details)

    def judge(self, rules: EventRules, window_read: bool) -> None:
        """The core's verdict on the rules, each problem under its input (one the parsers already reported
        for that input is kept: it says what was wrong with the text itself)."""
        kind = self.values[WINDOW_KIND].strip().lower()
        override_problems: list[str] = []
        for key, message in rules.problems().items():
            if key == "booking_window" and not window_read:
                continue
            if key.startswith("date_overrides."):
                override_problems.append(f"{key.split('.', 1)[1]}: {message}")
                continue
            self.errors.setdefault(problem_input_id(key, kind), message)
        if override_problems:
            self.errors.setdefault(DATE_OVERRIDES, " ".join(sorted(override_problems)))


def parse_settings(values: Mapping[str, object], current: EventType) -> tuple[EventType | None, dict[str, str]]:
    """Submitted settings -> (the edited link, {}) or (None, every problem keyed by input id).

    Pure: nothing is saved here, and nothing should be saved unless the returned link is not None.
    Fields the form does not edit (questions, description, kind, slug, version...) are kept as they are.
    """
    form = _Form(_merged(current, values))
    r = current.rules
    title_value = form.read(TITLE, parse_title, current.title)
    window = form.window()
    rules = EventRules(
        durations=form.read(DURATIONS, parse_durations, r.durations),
        availability=Availability(
            form.read(TIME_ZONE, parse_zone, r.time_zone),
            tuple(
                form.read(input_id, parse_day_ranges, r.availability.weekly[day])  # type: ignore[arg-type]
                for day, input_id in enumerate(WEEKLY_HOURS)
            ),
            form.read(DATE_OVERRIDES, parse_overrides, dict(r.availability.overrides)),
        ),
        slot_interval=form.read(SLOT_INTERVAL, parse_optional_minutes, r.slot_interval),
        buffer_before=form.read(BUFFER_BEFORE, parse_minutes_or_zero, r.buffer_before),
        buffer_after=form.read(BUFFER_AFTER, parse_minutes_or_zero, r.buffer_after),
        minimum_notice=form.read(MINIMUM_NOTICE, parse_minutes_or_zero, r.minimum_notice),
        window=window or r.window,
        daily_cap=form.read(DAILY_CAP, parse_cap, r.daily_cap),
        weekly_cap=form.read(WEEKLY_CAP, parse_cap, r.weekly_cap),
        blocking_statuses=form.read(BLOCKING_STATUSES, parse_statuses, r.blocking_statuses),
        reminder=form.read(REMINDER, parse_reminder, r.reminder),
    )
    location = form.location(current.location)
    single_use = form.read(SINGLE_USE, parse_flag, current.single_use)
    active = form.read(ACTIVE, parse_flag, current.active)
    form.judge(rules, window_read=window is not None)
    if form.errors:
        return None, form.errors
    return replace(current, title=title_value, rules=rules, location=location, single_use=single_use, active=active), {}
