"""Issue 16 §4 cards: the profile card's calendar lists and their parser, the reminder field of the link settings
(read here, judged by the core), and the host's reminder card. Every card goes through ``check_card`` (the
official Adaptive Card 1.5 schema and the house rules)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from cards.help import PROFILE_CONFLICTS, PROFILE_WRITE, first_run, parse_calendar_choice
from cards.reminders import reminder_card, starts_in
from cards.settings import REMINDER, current_values, parse_reminder, parse_settings, settings_editor
from scheduling.people import CalendarChoice
from scheduling.rules import REMINDER_RULE, Availability
from tests.cards.checks import check_card, input_by_id, nodes, texts
from tests.cards.data import QUESTIONS, calendars, link, payload, utc

HOURS = Availability.business_hours("Europe/London")


def facts_of(card: dict[str, object]) -> dict[str, str]:
    return {f["title"]: f["value"] for fs in nodes(card, "FactSet") for f in fs["facts"]}


def adjust(card: dict[str, object]) -> dict[str, object]:
    return next(a for a in card["actions"] if a.get("title") == "Adjust")["card"]  # type: ignore[attr-defined,no-any-return]


# --------------------------------------------------------------------------- the profile card


def test_the_profile_card_shows_and_offers_the_calendars() -> None:
    options = calendars()
    card = check_card(first_run("Europe/London", HOURS, calendars=options))
    facts = facts_of(card)
    assert facts["Busy time from"] == "Calendar (main), Team rota (shared by Megan Bowen)"
    assert facts["New bookings go to"] == "Team rota (shared by Megan Bowen)"
    form = adjust(card)
    conflicts, write = input_by_id(form, PROFILE_CONFLICTS), input_by_id(form, PROFILE_WRITE)
    assert conflicts["isMultiSelect"] is True and conflicts["style"] == "expanded"
    assert [c["title"] for c in conflicts["choices"]] == [
        "Calendar (main)",
        "Interviews",
        "Team rota (shared by Megan Bowen)",
        "Holidays (shared by Megan Bowen, read-only)",
    ]
    assert conflicts["value"] == ",".join(options.conflict_calendar_ids)
    assert [c["title"] for c in write["choices"]] == [
        "Calendar (main)",
        "Interviews",
        "Team rota (shared by Megan Bowen)",
    ]
    assert write["value"] == options.write_calendar_id and "isMultiSelect" not in write
    assert any("within about 30 seconds" in t for t in texts(form))


def test_a_long_list_is_cut_to_fit_but_keeps_what_is_chosen() -> None:
    options = calendars(extra=60)
    card = check_card(first_run("UTC", HOURS, calendars=options))  # within the size budget
    form = adjust(card)
    shown = [c["value"] for c in input_by_id(form, PROFILE_CONFLICTS)["choices"]]
    assert len(shown) == 25 and set(options.conflict_calendar_ids) <= set(shown)
    assert any(t == "39 more calendars are not listed here." for t in texts(form))


def test_the_profile_card_without_calendars_says_why() -> None:
    card = check_card(first_run("UTC", HOURS, calendars_unreadable=True))
    assert "Busy time from" not in facts_of(card)
    assert any("couldn't list your calendars" in t for t in texts(card))
    assert PROFILE_CONFLICTS not in str(card)


def test_errors_are_shown_and_what_was_chosen_is_kept() -> None:
    options = calendars()
    main, side = options.calendars[0].id, options.calendars[1].id
    card = check_card(
        first_run(
            "Europe/London",
            "Mon 09:00-17:00",
            calendars=options,
            errors={PROFILE_WRITE: "You can't add meetings to “Holidays”."},
            values={PROFILE_CONFLICTS: f"{side},made-up-id", PROFILE_WRITE: main},
        )
    )
    assert texts(card)[0] == "Nothing was saved yet"
    assert "Calendar for new bookings: You can't add meetings to “Holidays”." in texts(card)
    form = adjust(card)
    assert input_by_id(form, PROFILE_CONFLICTS)["value"] == side  # an id not listed is not offered back
    assert input_by_id(form, PROFILE_WRITE)["value"] == main


def test_the_calendar_inputs_are_read_not_judged() -> None:
    options = calendars()
    assert parse_calendar_choice({"profile.time_zone": "UTC"}, options) == (None, {})  # none: keep them
    choice, errors = parse_calendar_choice({PROFILE_CONFLICTS: " a , b,,a ", PROFILE_WRITE: " w "}, options)
    assert errors == {} and choice == CalendarChoice(("a", "b"), "w")  # unknown ids: the core refuses them
    only_write, _ = parse_calendar_choice({PROFILE_WRITE: ""}, options)
    assert only_write == CalendarChoice(options.conflict_calendar_ids, None)  # missing input: current value
    empty, _ = parse_calendar_choice({PROFILE_CONFLICTS: ""}, options)
    assert empty is not None and empty.conflict_calendar_ids == ()  # the core says "choose at least one"
    _, bad = parse_calendar_choice({PROFILE_CONFLICTS: 5, PROFILE_WRITE: ["x"]}, options)
    assert set(bad) == {PROFILE_CONFLICTS, PROFILE_WRITE}
    huge, _ = parse_calendar_choice({PROFILE_CONFLICTS: "x," * 100_000}, options)
    assert huge is not None and huge.conflict_calendar_ids == ("x",)


# --------------------------------------------------------------------------- the reminder field


def test_the_link_settings_have_a_reminder_field_prefilled_from_the_link() -> None:
    card = check_card(settings_editor(link()))
    assert input_by_id(card, REMINDER)["value"] == "15m"
    off = check_card(settings_editor(link(rules=replace(link().rules, reminder=None))))
    assert input_by_id(off, REMINDER)["value"] == "off"
    for reminder in (None, 1, 45, 24 * 60):
        edited = link(rules=replace(link().rules, reminder=reminder))
        assert parse_settings(current_values(edited), edited) == (edited, {})  # round trip


@pytest.mark.parametrize(
    ("typed", "minutes"), [("off", None), ("", None), (" None ", None), ("1h", 60), ("90", 90), ("1d", 1440)]
)
def test_a_reminder_is_read_as_typed(typed: str, minutes: int | None) -> None:
    assert parse_reminder(typed) == minutes
    edited, errors = parse_settings({REMINDER: typed}, link())
    assert errors == {} and edited is not None and edited.rules.reminder == minutes


@pytest.mark.parametrize("typed", ["0", "2d", "25h", "9" * 400, "soon", "-5"])
def test_a_reminder_outside_the_rule_is_refused_under_its_field_and_nothing_changes(typed: str) -> None:
    edited, errors = parse_settings({REMINDER: typed, "title": "Renamed"}, link())
    assert edited is None and set(errors) == {REMINDER}
    if typed in ("0", "2d", "25h"):
        assert errors[REMINDER] == REMINDER_RULE  # the core's rule, once


# --------------------------------------------------------------------------- the reminder card


def test_the_reminder_card_has_the_invitee_notes_answers_and_join() -> None:
    data = payload() | {"reminderMinutes": 15}
    card = check_card(reminder_card(data, "Europe/London", utc(2026, 12, 8, 14, 15), QUESTIONS))
    assert texts(card)[:2] == ["Reminder", "Starts in 15 min: your meeting with Priya Patel"]
    facts = facts_of(card)
    assert facts["Meeting"] == "Intro call"
    assert facts["Invitee"] == r"Priya Patel \<priya@fabrikam.example>"
    assert facts["Company"] == "Fabrikam" and facts["Notes"] == "Looking forward!"
    assert facts["When"].endswith("(Europe/London)") and facts["Their time"].endswith("(Asia/Kolkata)")
    [join] = [a for a in card["actions"] if a["type"] == "Action.OpenUrl"]
    assert join["title"] == "Join Teams meeting" and join["url"] == data["joinUrl"]
    assert any("15 min before each meeting" in t for t in texts(card))


def test_a_reminder_without_a_teams_link_says_so() -> None:
    card = check_card(reminder_card(payload(join_url=None), "Asia/Kolkata", utc(2026, 12, 8, 14, 0)))
    assert not [a for a in card["actions"] if a["type"] == "Action.OpenUrl"]
    assert any("Teams didn't add a meeting link" in t for t in texts(card))


def test_starts_in_counts_down_to_now() -> None:
    start = utc(2027, 3, 1, 10)
    assert starts_in(start, start - timedelta(minutes=90)) == "Starts in 1 h 30 min"
    assert starts_in(start, start - timedelta(seconds=59)) == "Starts now"
    assert starts_in(start, start + timedelta(minutes=3)) == "Starts now"
