"""The slot picker (days and times as buttons, paged by week) and the booking form.

Layout of :func:`slot_picker`: title and host, meeting length (switchable when the link offers
several), the viewer's zone (changeable through a ShowCard with a ChoiceSet and ``slots.timezone``),
one button per day of the week that has free times, then the times of the selected day (or the
first day with times) as buttons, at most :data:`TIMES_PER_PAGE` at once with Earlier / Later paging
(``slots.day`` with ``offset``, an index into the day's times), and Previous / Next week. A week
without free times says so and offers a button to the next free day instead of an empty card.

Size: with a 5-minute grid a day can hold hundreds of starts; paging keeps the card near 17 KB. To
guarantee :data:`SIZE_BUDGET` whatever the data (long ids, many meeting lengths, long zone lists), the
builder measures its own JSON and, when needed, falls back to smaller layouts (fewer times per page,
fewer zone choices, no description).

Buttons are laid out in rows of :data:`cards.elements.MAX_ACTIONS_PER_ROW` because Teams renders
only a handful of actions per action set.

Times are labelled in the viewer's zone. On a fall-back night two different instants share a wall
time; such labels get their UTC offset (``01:30 (UTC+01:00)`` / ``01:30 (UTC)``) so they stay
distinguishable.

Refresh: the picker carries ``refresh`` with ``slots.week`` and the shown week/day. By default
``userIds`` is omitted, so in chats of up to 60 people every viewer's client asks the bot for its
own view when the card is opened (and more than about a minute old): the bot answers each viewer in
their own time zone (from the invoke's ``localTimezone`` / clientInfo unless the viewer chose one)
with fresh availability, so a card shared yesterday never offers yesterday's taken times. Pass
``auto_refresh=False`` (``userIds: []``) where the bot must not be called per viewer; people then
get a manual "Refresh card" menu item.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Final

from cards.elements import (
    DataValue,
    Json,
    action_rows,
    action_set,
    card,
    choice_set,
    execute,
    facts,
    field_error,
    input_text,
    plain,
    refresh_action,
    show_card,
    text,
    title,
    user_text,
)
from cards.format import (
    DASH,
    date_label,
    durations_label,
    location_label,
    long_date_label,
    minutes_label,
    offset_label,
    time_label,
    utc_iso,
    when_label,
    zone_label,
)
from cards.verbs import TIME_ZONE_INPUT
from scheduling.domain import EventType, Question
from scheduling.invitee import MAX_EMAIL, MAX_NAME, MAX_NOTES
from scheduling.presentation import LocalDay, group_by_local_date
from scheduling.slots import Slot
from scheduling.timezones import is_valid_zone, zone

TIMES_PER_PAGE: Final = 24
MAX_ZONE_CHOICES: Final = 30
#: Bytes of ``json.dumps(card)``; Teams' hard limit for bot messages is far higher (teams-facts §2).
SIZE_BUDGET: Final = 27_000
#: (times per page, zone choices, show the description), tried in order until the card fits.
_LAYOUTS: Final = (
    (TIMES_PER_PAGE, MAX_ZONE_CHOICES, True),
    (TIMES_PER_PAGE, 12, True),
    (16, 8, False),
    (12, 6, False),
    (8, 3, False),
)
TITLE_LIMIT: Final = 200

#: A short, world-spanning default list for the zone picker (the viewer's and host's zones are added).
COMMON_TIME_ZONES: Final[tuple[str, ...]] = (
    "Pacific/Honolulu",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Athens",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)


def week_start_of(day: date) -> date:
    """The Monday of ``day``'s week (the convention for ``weekStart`` when the bot has none)."""
    return day - timedelta(days=day.weekday())


def _local_noon(day: date, time_zone: str) -> datetime:
    return datetime.combine(day, time(12), tzinfo=zone(time_zone))


def zone_choices(
    time_zones: Sequence[str], *extra: str, at: datetime, limit: int = MAX_ZONE_CHOICES
) -> list[tuple[str, str]]:
    """(label, value) pairs of valid zones, deduplicated, ordered by their UTC offset at ``at``.

    ``extra`` zones (the viewer's, the host's) always appear; ``time_zones`` fill up to ``limit``.
    """
    names: list[str] = []
    for name in (*extra, *time_zones):
        if len(names) >= max(limit, len(extra)):
            break
        if name and name not in names and is_valid_zone(name):
            names.append(name)
    offsets = {n: at.astimezone(zone(n)).utcoffset() or timedelta(0) for n in names}
    names.sort(key=lambda n: (offsets[n], n))
    return [(f"({offset_label(at, n)}) {n}", n) for n in names]


def _labels(day: LocalDay[Slot], time_zone: str) -> list[str]:
    """Wall-clock labels of a day's slots, with the offset added where a wall time repeats (DST fold)."""
    plain = [time_label(s.start, time_zone) for s in day.slots]
    repeated = {label for label in plain if plain.count(label) > 1}
    return [
        f"{label} ({offset_label(s.start, time_zone)})" if label in repeated else label
        for label, s in zip(plain, day.slots, strict=True)
    ]


def _clock_change(week_start: date, time_zone: str) -> str:
    """ " Clocks change on Sun 29 Mar." when the zone's offset changes during the week, else ""."""
    offsets = [_local_noon(week_start + timedelta(days=i), time_zone).utcoffset() for i in range(8)]
    for i in range(1, 8):
        if offsets[i] != offsets[i - 1]:
            changed = week_start + timedelta(days=i)
            before = offset_label(_local_noon(changed - timedelta(days=1), time_zone), time_zone)
            after = offset_label(_local_noon(changed, time_zone), time_zone)
            # Zones switch at night, so the switch lies between the two noons: on ``changed``.
            return f" Clocks change on {date_label(changed)} ({before} → {after})."
    return ""


def slot_picker(
    link: EventType,
    host_name: str,
    slots: Sequence[Slot],
    viewer_time_zone: str,
    week_start: date,
    next_free_day: date | None,
    *,
    selected_day: date | None = None,
    time_zones: Sequence[str] = COMMON_TIME_ZONES,
    duration: int | None = None,
    offset: int = 0,
    reschedule_booking_id: str | None = None,
    min_week_start: date | None = None,
    max_week_start: date | None = None,
    auto_refresh: bool = True,
) -> Json:
    """The Teams slot picker for one week (viewer-local ``[week_start, week_start + 7 days)``).

    ``slots``: the free slots of that week (slots outside it are ignored). ``next_free_day``: the first
    viewer-local date after this week with a free slot, for the empty-week state. ``duration``: the
    length the slots were computed for (default: the link's first). ``reschedule_booking_id``: the
    picker moves an existing booking (every action then carries ``bookingId``). ``min_week_start`` /
    ``max_week_start``: hide Previous / Next beyond the booking window. Raises UnknownTimeZone for an
    unknown ``viewer_time_zone``.
    """
    zone(viewer_time_zone)
    built: Json = {}
    for per_page, zones, describe in _LAYOUTS:
        built = _picker(
            link,
            host_name,
            slots,
            viewer_time_zone,
            week_start,
            next_free_day,
            selected_day,
            time_zones,
            duration,
            offset,
            reschedule_booking_id,
            min_week_start,
            max_week_start,
            auto_refresh,
            per_page=per_page,
            zone_limit=zones,
            describe=describe,
        )
        if len(json.dumps(built).encode("utf-8")) < SIZE_BUDGET:
            break
    return built


def _picker(
    link: EventType,
    host_name: str,
    slots: Sequence[Slot],
    viewer_time_zone: str,
    week_start: date,
    next_free_day: date | None,
    selected_day: date | None,
    time_zones: Sequence[str],
    duration: int | None,
    offset: int,
    reschedule_booking_id: str | None,
    min_week_start: date | None,
    max_week_start: date | None,
    auto_refresh: bool,
    *,
    per_page: int,
    zone_limit: int,
    describe: bool,
) -> Json:
    minutes = duration if duration is not None else link.rules.duration
    week_end = week_start + timedelta(days=7)
    days = [d for d in group_by_local_date(slots, viewer_time_zone) if week_start <= d.day < week_end]
    shown = next((d for d in days if d.day == selected_day), days[0] if days else None)

    base: dict[str, DataValue] = {
        "linkId": link.id,
        "tz": viewer_time_zone,
        "weekStart": week_start.isoformat(),
        "duration": minutes,
        "bookingId": reschedule_booking_id,
    }
    heading = "Pick a new time" if reschedule_booking_id else "Pick a time"
    at = _local_noon(week_start, viewer_time_zone)
    body: list[Json] = [
        text(heading, weight="bolder", color="accent"),
        title(user_text(link.title, TITLE_LIMIT, empty="Untitled link")),
        text(
            f"with {user_text(host_name, 100)} · {minutes_label(minutes)} · "
            f"{user_text(location_label(link.location), 120)}",
            subtle=True,
            spacing="none",
        ),
    ]
    if describe and link.description.strip():
        body.append(text(user_text(link.description, 300, multiline=True), size="small"))
    body.append(
        text(
            f"Times in {user_text(zone_label(viewer_time_zone, at), 100)}."
            f"{_clock_change(week_start, viewer_time_zone)}",
            size="small",
            subtle=True,
        )
    )

    if len(link.rules.durations) > 1 and not reschedule_booking_id:
        body.append(text(f"Length: {durations_label(link.rules.durations)}", size="small", spacing="small"))
        body.extend(
            action_rows(
                [
                    execute(
                        ("✓ " if d == minutes else "") + minutes_label(d),
                        "slots.week",
                        {**base, "duration": d, "day": shown.day.isoformat() if shown else None},
                    )
                    for d in link.rules.durations
                ]
            )
        )

    last_day = week_end - timedelta(days=1)
    body.append(
        text(
            f"{date_label(week_start)} {DASH} {date_label(last_day, year=True)}",
            weight="bolder",
            separator=True,
            spacing="medium",
        )
    )
    if shown is None:
        body.extend(_empty_week(base, week_start, next_free_day))
    else:
        body.extend(
            action_rows(
                [
                    execute(
                        ("✓ " if d is shown else "") + f"{date_label(d.day)} · {len(d.slots)}",
                        "slots.day",
                        {**base, "day": d.day.isoformat()},
                    )
                    for d in days
                ]
            )
        )
        body.extend(_times(shown, base, viewer_time_zone, minutes, offset, per_page))

    actions: list[Json] = []
    if min_week_start is None or week_start > min_week_start:
        actions.append(
            execute(
                "◀ Previous week", "slots.week", {**base, "weekStart": (week_start - timedelta(days=7)).isoformat()}
            )
        )
    if max_week_start is None or week_start < max_week_start:
        actions.append(execute("Next week ▶", "slots.week", {**base, "weekStart": week_end.isoformat()}))
    actions.append(
        show_card(
            "Change time zone",
            [
                choice_set(
                    TIME_ZONE_INPUT,
                    "Show times in",
                    zone_choices(time_zones, viewer_time_zone, link.rules.time_zone, at=at, limit=zone_limit),
                    viewer_time_zone,
                ),
            ],
            [
                execute(
                    "Show times",
                    "slots.timezone",
                    {k: v for k, v in base.items() if k != "tz"} | {"day": shown.day.isoformat() if shown else None},
                )
            ],
        )
    )

    refresh = refresh_action(
        "slots.week",
        {**base, "day": shown.day.isoformat() if shown else None, "offset": offset or None},
        automatic=auto_refresh,
    )
    return card(body, actions, refresh=refresh, fallback_text=f"Pick a time with {host_name}: {link.title}")


def _times(
    day: LocalDay[Slot], base: Mapping[str, DataValue], time_zone: str, minutes: int, offset: int, per_page: int
) -> list[Json]:
    count = len(day.slots)
    offset = min(max(offset, 0), ((count - 1) // per_page) * per_page)
    labels = _labels(day, time_zone)
    page = range(offset, min(offset + per_page, count))
    out = [text(long_date_label(day.day), weight="bolder", spacing="medium")]
    if count > per_page:
        out.append(
            text(f"Times {offset + 1}{DASH}{page[-1] + 1} of {count}", size="small", subtle=True, spacing="none")
        )
    pick_base = {"linkId": base["linkId"], "tz": time_zone, "duration": minutes, "bookingId": base.get("bookingId")}
    out.extend(
        action_rows(
            [execute(labels[i], "slots.pick", {**pick_base, "start": utc_iso(day.slots[i].start)}) for i in page]
        )
    )
    paging = []
    if offset > 0:
        paging.append(
            execute(
                f"Earlier than {labels[offset]}",
                "slots.day",
                {**base, "day": day.day.isoformat(), "offset": max(offset - per_page, 0)},
            )
        )
    if page[-1] + 1 < count:
        paging.append(
            execute(
                f"Later: from {labels[page[-1] + 1]}",
                "slots.day",
                {**base, "day": day.day.isoformat(), "offset": page[-1] + 1},
            )
        )
    if paging:
        out.append(action_set(paging, spacing="small"))
    return out


def _empty_week(base: Mapping[str, DataValue], week_start: date, next_free_day: date | None) -> list[Json]:
    if next_free_day is None:
        return [
            text(
                "Nothing free this week, and nothing later within the booking window. Please try again "
                "later, or ask the host for another time.",
                wrap=True,
            )
        ]
    weeks_ahead = max((next_free_day - week_start).days // 7, 0)
    target_week = week_start + timedelta(days=7 * weeks_ahead)
    return [
        text(f"Nothing free this week — next free day is {date_label(next_free_day)}.", wrap=True),
        action_set(
            [
                execute(
                    f"Show {date_label(next_free_day)}",
                    "slots.day",
                    {**base, "weekStart": target_week.isoformat(), "day": next_free_day.isoformat()},
                )
            ]
        ),
    ]


# --------------------------------------------------------------------------- the booking form


def answer_input_id(question: Question) -> str:
    """Input id of a question's answer: the key validate_invitee reports its error under."""
    return f"answers.{question.id}"


def confirm_booking(
    link: EventType,
    host_name: str,
    slot: Slot,
    viewer_time_zone: str,
    questions: Sequence[Question] | None = None,
    *,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
) -> Json:
    """Name, email, the link's questions and notes for ``slot``; Confirm (``booking.confirm``) and Back.

    Input ids are ``name``, ``email``, ``notes`` and ``answers.<question id>``: exactly the keys of
    :class:`~scheduling.errors.ValidationFailed` from ``validate_invitee``, so the bot can pass
    ``exc.fields`` as ``errors`` and the submitted data as ``values``. ``values`` also pre-fills the
    name and email the bot knows from Teams. A ``timeZone`` error is shown at the top.
    """
    errs = dict(errors or {})
    vals = dict(values or {})
    qs = link.questions if questions is None else questions
    minutes = int((slot.end - slot.start).total_seconds() // 60)
    body: list[Json] = [
        text("Confirm your booking", weight="bolder", color="accent"),
        title(user_text(link.title, TITLE_LIMIT, empty="Untitled link")),
        facts(
            [
                ("When", when_label(slot.start, slot.end, viewer_time_zone)),
                ("Time zone", user_text(zone_label(viewer_time_zone, slot.start), 100)),
                ("With", user_text(host_name, 100)),
                ("Length", minutes_label(minutes)),
                ("Where", user_text(location_label(link.location), 200)),
            ]
        ),
    ]
    if errs:
        body.append(text("Please check the fields marked below.", color="attention", weight="bolder"))
    if "timeZone" in errs:
        body.append(field_error(errs["timeZone"]))

    def add(element: Json) -> None:
        body.append(element)
        if element["id"] in errs:
            body.append(field_error(errs[element["id"]]))

    add(
        input_text(
            "name",
            "Your name",
            vals.get("name", ""),
            required=True,
            max_length=MAX_NAME,
            error_message="Please enter your name.",
        )
    )
    add(
        input_text(
            "email",
            "Your email",
            vals.get("email", ""),
            required=True,
            max_length=MAX_EMAIL,
            style="email",
            regex=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
            error_message="Please enter an email address like name@example.com.",
        )
    )
    for q in qs:
        label = plain(q.label, 200) or "Question"
        add(
            input_text(
                answer_input_id(q),
                label,
                vals.get(answer_input_id(q), ""),
                required=q.required,
                multiline=q.multiline,
                max_length=q.max_length,
                error_message=f"Please answer: {label}" if q.required else "",
            )
        )
    add(
        input_text(
            "notes",
            "Anything you'd like to share beforehand? (optional)",
            vals.get("notes", ""),
            multiline=True,
            max_length=MAX_NOTES,
        )
    )

    data: dict[str, DataValue] = {
        "linkId": link.id,
        "start": utc_iso(slot.start),
        "tz": viewer_time_zone,
        "duration": minutes,
    }
    local_day = slot.start.astimezone(zone(viewer_time_zone)).date()
    actions = [
        execute("Confirm booking", "booking.confirm", data),
        execute(
            "Back",
            "slots.day",
            {
                "linkId": link.id,
                "tz": viewer_time_zone,
                "duration": minutes,
                "weekStart": week_start_of(local_day).isoformat(),
                "day": local_day.isoformat(),
            },
            submit_inputs=False,
        ),
    ]
    return card(body, actions, fallback_text=f"Confirm your booking: {link.title}")
