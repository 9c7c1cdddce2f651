"""The settings editor and parse_settings: every rule editable, all problems at once, nothing lost."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cards.settings import (
    ACTIVE,
    BLOCKING_STATUSES,
    BUFFER_AFTER,
    BUFFER_BEFORE,
    DAILY_CAP,
    DATE_OVERRIDES,
    DURATIONS,
    FORM_ERROR,
    LOCATION_KIND,
    LOCATION_TEXT,
    MINIMUM_NOTICE,
    SETTINGS_INPUT_IDS,
    SINGLE_USE,
    SLOT_INTERVAL,
    TIME_ZONE,
    TITLE,
    WEEKLY_CAP,
    WEEKLY_HOURS,
    WINDOW_DAYS,
    WINDOW_END,
    WINDOW_KIND,
    WINDOW_START,
    current_values,
    parse_overrides,
    parse_settings,
    problem_input_id,
    settings_editor,
)
from scheduling.links import MAX_TITLE, title_problem
from scheduling.ports import Location, LocationKind
from scheduling.rules import DURATION_RULE, BookingWindow, BusyStatus, LocalRange
from tests.cards.checks import check_card, data_of, execute_by_title, input_by_id, inputs, texts
from tests.cards.data import link
from tests.cards.test_slots import _error_after
from tests.scheduling.strategies import props


def test_the_editor_has_an_input_for_every_rule() -> None:
    card = check_card(settings_editor(link()))
    assert [i["id"] for i in inputs(card)] == list(SETTINGS_INPUT_IDS)


def test_the_editor_is_prefilled_from_the_link() -> None:
    card = check_card(settings_editor(link()))
    expected: dict[str, Any] = {
        TITLE: "Intro call",
        DURATIONS: "30, 60",
        SLOT_INTERVAL: 15,
        BUFFER_BEFORE: 10,
        BUFFER_AFTER: 5,
        MINIMUM_NOTICE: "4h",
        WINDOW_KIND: "rolling",
        WINDOW_DAYS: 60,
        DAILY_CAP: 4,
        WEEKLY_CAP: 12,
        BLOCKING_STATUSES: "busy,tentative,oof",
        TIME_ZONE: "Europe/London",
        LOCATION_KIND: "teams",
        SINGLE_USE: "false",
        ACTIVE: "true",
        WEEKLY_HOURS[0]: "09:00-12:00, 13:00-17:00",
        WEEKLY_HOURS[4]: "09:00-16:00",
        DATE_OVERRIDES: "2026-12-24: off\n2026-12-27: 10:00-14:00",
    }
    for input_id, value in expected.items():
        assert input_by_id(card, input_id).get("value") == value, input_id
    assert "value" not in input_by_id(card, WEEKLY_HOURS[5])  # Saturday off
    assert "value" not in input_by_id(card, WINDOW_START)
    save = execute_by_title(card, "Save")
    assert data_of(save) == {"verb": "link.save", "linkId": "et_0001", "version": 3}
    cancel = execute_by_title(card, "Cancel")
    assert data_of(cancel) == {"verb": "link.view", "linkId": "et_0001"}
    assert cancel["associatedInputs"] == "none"


def test_saving_the_untouched_form_changes_nothing() -> None:
    original = link()
    assert parse_settings(current_values(original), original) == (original, {})
    assert parse_settings({}, original) == (original, {})  # missing keys keep the current values


def _valid_edit() -> dict[str, object]:
    return {
        TITLE: "  Demo   call ",
        DURATIONS: "15, 30 or 1h",
        SLOT_INTERVAL: "",
        BUFFER_BEFORE: "0",
        BUFFER_AFTER: 15,
        MINIMUM_NOTICE: "1d 2h",
        WINDOW_KIND: "range",
        WINDOW_DAYS: "",
        WINDOW_START: "2027-01-04",
        WINDOW_END: "2027-03-31",
        WEEKLY_HOURS[0]: "08:00\u201312:00, 13:00 to 18:00",
        WEEKLY_HOURS[5]: "10:00-12:00",
        WEEKLY_HOURS[4]: "off",
        DATE_OVERRIDES: "2027-01-05: off\n\n2027-01-06 10:00-14:00",
        DAILY_CAP: "",
        WEEKLY_CAP: "5",
        BLOCKING_STATUSES: "busy,workingElsewhere",
        TIME_ZONE: "Pacific Standard Time",
        LOCATION_KIND: "in_person",
        LOCATION_TEXT: "  Building 4,  room 2 ",
        SINGLE_USE: "true",
        ACTIVE: False,
    }


def test_a_valid_edit_produces_the_expected_link() -> None:
    original = link()
    edited, errors = parse_settings(_valid_edit(), original)
    assert errors == {}
    assert edited is not None
    r = edited.rules
    assert edited.title == "Demo call"
    assert r.durations == (15, 30, 60)
    assert r.slot_interval is None and r.interval == 15
    assert (r.buffer_before, r.buffer_after, r.minimum_notice) == (0, 15, 1560)
    assert r.window == BookingWindow(rolling_days=None, start_date=date(2027, 1, 4), end_date=date(2027, 3, 31))
    assert r.availability.weekly[0] == (LocalRange(480, 720), LocalRange(780, 1080))
    assert r.availability.weekly[4] == ()
    assert r.availability.weekly[5] == (LocalRange(600, 720),)
    assert r.availability.weekly[1] == original.rules.availability.weekly[1]  # untouched day kept
    assert r.availability.overrides == {date(2027, 1, 5): (), date(2027, 1, 6): (LocalRange(600, 840),)}
    assert (r.daily_cap, r.weekly_cap) == (None, 5)
    assert r.blocking_statuses == frozenset({BusyStatus.BUSY, BusyStatus.WORKING_ELSEWHERE})
    assert r.time_zone == "America/Los_Angeles"
    assert edited.location == Location(LocationKind.IN_PERSON, "Building 4, room 2")
    assert (edited.single_use, edited.active) == (True, False)
    # what the form does not edit stays as it was
    assert (edited.id, edited.slug, edited.questions, edited.description, edited.version) == (
        original.id,
        original.slug,
        original.questions,
        original.description,
        original.version,
    )
    assert r.problems() == {}


def test_switching_to_teams_clears_the_location_text() -> None:
    start = link(location=Location(LocationKind.PHONE, "+44 20 7946 0000"))
    edited, _ = parse_settings({LOCATION_KIND: "teams"}, start)
    assert edited is not None and edited.location == Location(LocationKind.TEAMS, "")


BAD_VALUES: dict[str, object] = {
    TITLE: "   ",
    DURATIONS: "abc, 30",
    SLOT_INTERVAL: "0",
    BUFFER_BEFORE: "-5",
    BUFFER_AFTER: "2000",
    MINIMUM_NOTICE: "soon",
    WINDOW_KIND: "rolling",
    WINDOW_DAYS: "0",
    WEEKLY_HOURS[0]: "17:00-09:00",
    WEEKLY_HOURS[1]: "9-5",
    WEEKLY_HOURS[2]: "09:00-12:00, 11:00-13:00",
    DATE_OVERRIDES: "2027-02-30: off\nnext tuesday\n2027-01-06: 14:00-10:00",
    DAILY_CAP: "0",
    WEEKLY_CAP: "2.5",
    BLOCKING_STATUSES: "",
    TIME_ZONE: "Mars/Olympus",
    LOCATION_KIND: "in_person",
    LOCATION_TEXT: "",
    SINGLE_USE: "maybe",
}


def test_every_problem_is_reported_at_once_keyed_by_input_id() -> None:
    edited, errors = parse_settings(BAD_VALUES, link())
    assert edited is None
    expected = set(BAD_VALUES) - {WINDOW_KIND, LOCATION_KIND}
    assert set(errors) == expected
    assert "2027-02-30" in errors[DATE_OVERRIDES] and "Line 2" in errors[DATE_OVERRIDES]
    assert "Mars/Olympus" in errors[TIME_ZONE]
    assert "overlap" in errors[WEEKLY_HOURS[2]]
    assert "ends before it starts" in errors[WEEKLY_HOURS[0]]
    assert "days" in errors[WINDOW_DAYS]


def test_the_editor_shows_each_error_under_its_input_and_keeps_what_was_typed() -> None:
    _, errors = parse_settings(BAD_VALUES, link())
    card = check_card(settings_editor(link(), errors, BAD_VALUES))
    for input_id in errors:
        assert _error_after(card, input_id) is not None, input_id
    assert _error_after(card, TITLE) is not None
    assert _error_after(card, ACTIVE) is None
    assert any(t.startswith("Nothing was saved yet") for t in texts(card))
    # typed text survives (number inputs hold numbers, so "2.5" comes back as 2.5)
    assert input_by_id(card, DURATIONS)["value"] == "abc, 30"
    assert input_by_id(card, TIME_ZONE)["value"] == "Mars/Olympus"
    assert input_by_id(card, WEEKLY_HOURS[1])["value"] == "9-5"
    assert input_by_id(card, DATE_OVERRIDES)["value"] == BAD_VALUES[DATE_OVERRIDES]
    assert input_by_id(card, WEEKLY_CAP)["value"] == 2.5
    assert input_by_id(card, BUFFER_BEFORE)["value"] == -5
    assert input_by_id(card, BLOCKING_STATUSES).get("value") is None


def test_a_form_level_error_is_shown_at_the_top() -> None:
    card = check_card(settings_editor(link(), {FORM_ERROR: "Someone else changed this link; reopen it."}))
    assert "Someone else changed this link; reopen it." in texts(card)
    assert "Nothing was saved yet: please fix the problem below." in texts(card)


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({WINDOW_KIND: "range", WINDOW_START: "2027-03-01", WINDOW_END: "2027-02-01"}, WINDOW_END, "before"),
        ({WINDOW_KIND: "range", WINDOW_START: "2027-01-01", WINDOW_END: "2028-06-01"}, WINDOW_END, "365"),
        ({WINDOW_KIND: "range", WINDOW_START: "", WINDOW_END: "2027-02-01"}, WINDOW_START, "first date"),
        ({WINDOW_KIND: "range", WINDOW_START: "2027-01-01", WINDOW_END: "someday"}, WINDOW_END, "not a date"),
        ({WINDOW_KIND: "rolling", WINDOW_DAYS: ""}, WINDOW_DAYS, "how many days"),
        ({WINDOW_KIND: "rolling", WINDOW_DAYS: "400"}, WINDOW_DAYS, "365"),
        ({WINDOW_KIND: "forever"}, WINDOW_KIND, "rolling"),
        ({DURATIONS: ""}, DURATIONS, "at least one"),
        ({DURATIONS: "30, 30"}, DURATIONS, "only once"),
        ({DURATIONS: "2d"}, DURATIONS, "24 hours"),
        ({TITLE: "x" * 101}, TITLE, "100"),
        ({TITLE: "bad\u202etitle"}, TITLE, "characters"),
        ({LOCATION_KIND: "carrier pigeon"}, LOCATION_KIND, "where"),
        ({LOCATION_KIND: "phone", LOCATION_TEXT: ""}, LOCATION_TEXT, "phone number"),
        ({LOCATION_KIND: "custom", LOCATION_TEXT: "x" * 201}, LOCATION_TEXT, "200"),
        ({BLOCKING_STATUSES: "busy,free"}, BLOCKING_STATUSES, "free"),
        ({DATE_OVERRIDES: "2027-01-05: off\n2027-01-05: 10:00-11:00"}, DATE_OVERRIDES, "twice"),
        ({DATE_OVERRIDES: "2027-01-06: 10:00-12:00, 11:00-13:00"}, DATE_OVERRIDES, "2027-01-06: "),
        ({MINIMUM_NOTICE: "400d"}, MINIMUM_NOTICE, "365"),
        ({ACTIVE: "yes"}, ACTIVE, "on or off"),
    ],
)
def test_each_kind_of_invalid_input(values: dict[str, object], field: str, words: str) -> None:
    edited, errors = parse_settings(values, link())
    assert edited is None
    assert set(errors) == {field}, errors
    assert words.lower() in errors[field].lower()


def test_problem_keys_map_to_inputs() -> None:
    assert problem_input_id("booking_window", "rolling") == WINDOW_DAYS
    assert problem_input_id("booking_window", "range") == WINDOW_END
    assert problem_input_id("date_overrides.2027-01-06", "rolling") == DATE_OVERRIDES
    assert problem_input_id("weekly_hours.friday", "rolling") == WEEKLY_HOURS[4]
    assert problem_input_id("weekly_hours", "rolling") == FORM_ERROR
    assert problem_input_id("durations", "rolling") == DURATIONS


def test_override_lines_parse() -> None:
    assert parse_overrides(" 2027-1-5 = off \n2027-01-06: 10:00-12:00, 13:00-14:00\r\n") == {
        date(2027, 1, 5): (),
        date(2027, 1, 6): (LocalRange(600, 720), LocalRange(780, 840)),
    }
    with pytest.raises(ValueError, match="Line 1"):
        parse_overrides("tomorrow: off")


# --------------------------------------------------------------------------- property: one bad field spoils all

_BAD = {
    TITLE: ["", " \t "],
    DURATIONS: ["0", "x", "30,,30"],
    SLOT_INTERVAL: ["-1", "2000", "fast"],
    BUFFER_BEFORE: ["-1", "1441"],
    BUFFER_AFTER: ["nope"],
    MINIMUM_NOTICE: ["-3h", "366d"],
    WINDOW_DAYS: ["0", "366", "many"],
    DAILY_CAP: ["0", "-2", "1.5"],
    WEEKLY_CAP: ["0", "lots"],
    BLOCKING_STATUSES: ["", "busy,sleepy"],
    TIME_ZONE: ["", "Nowhere/Land", "../etc/passwd"],
    WEEKLY_HOURS[3]: ["25:00-26:00", "12:00-11:00", "9 to 5"],
    DATE_OVERRIDES: ["2027-13-01: off", "x"],
    SINGLE_USE: ["1"],
    ACTIVE: ["on"],
}


@props(60)
@given(st.dictionaries(st.sampled_from(sorted(_BAD)), st.integers(min_value=0, max_value=2), min_size=1))
def test_nothing_is_produced_while_any_field_is_invalid(picks: dict[str, int]) -> None:
    original = link()
    values: dict[str, object] = dict(current_values(original))
    for field, index in picks.items():
        options = _BAD[field]
        values[field] = options[index % len(options)]
    edited, errors = parse_settings(values, original)
    assert edited is None
    assert set(picks) <= set(errors)
    assert set(errors) <= set(SETTINGS_INPUT_IDS) | {FORM_ERROR}


@props(60)
@given(
    durations=st.lists(st.integers(min_value=1, max_value=1440), min_size=1, max_size=4, unique=True),
    before=st.integers(min_value=0, max_value=1440),
    notice=st.integers(min_value=0, max_value=365 * 1440),
    daily=st.one_of(st.none(), st.integers(min_value=1, max_value=50)),
)
def test_current_values_round_trip(durations: list[int], before: int, notice: int, daily: int | None) -> None:
    base = link()
    start = replace(
        base,
        rules=replace(
            base.rules, durations=tuple(durations), buffer_before=before, minimum_notice=notice, daily_cap=daily
        ),
    )
    assert parse_settings(current_values(start), start) == (start, {})


# --------------------------------------------------------------------------- one title limit (issue 16)


def test_the_title_limit_is_the_cores_in_the_input_and_the_parser() -> None:
    card = check_card(settings_editor(link()))
    assert input_by_id(card, TITLE)["maxLength"] == MAX_TITLE
    assert str(MAX_TITLE) in input_by_id(card, TITLE)["errorMessage"]
    longest = "x" * MAX_TITLE
    edited, errors = parse_settings({TITLE: longest}, link())
    assert errors == {} and edited is not None and edited.title == longest
    too_long = "<b>Q&A</b>" + "y" * MAX_TITLE
    edited, errors = parse_settings({TITLE: too_long}, link())
    assert edited is None and errors == {TITLE: title_problem(too_long)}


def test_a_title_error_is_shown_next_to_the_title_field() -> None:
    too_long = "y" * (MAX_TITLE + 1)
    _, errors = parse_settings({TITLE: too_long}, link())
    card = check_card(settings_editor(link(), errors, {TITLE: too_long}))
    assert _error_after(card, TITLE) == title_problem(too_long)
    assert input_by_id(card, TITLE)["value"] == too_long  # nothing typed is lost


def test_a_typed_title_is_kept_as_typed() -> None:
    edited, errors = parse_settings({TITLE: "<b>Q&A</b>"}, link())
    assert errors == {} and edited is not None and edited.title == "<b>Q&A</b>"


@pytest.mark.parametrize(
    ("first", "last"), [("9999-12-01", "9999-12-31"), ("0001-01-01", "0001-01-31"), ("2027-01-01", "9999-12-31")]
)
def test_a_window_at_the_end_of_the_calendar_is_refused_under_its_input(first: str, last: str) -> None:
    """Saved, it would overflow every slot computation of the link (the slot engine adds a day to the last)."""
    edited, errors = parse_settings({WINDOW_KIND: "range", WINDOW_START: first, WINDOW_END: last}, link())
    assert edited is None
    wrong = {i for i, value in ((WINDOW_START, first), (WINDOW_END, last)) if not value.startswith("2027")}
    assert set(errors) == wrong and all("2000-01-01 and 2099-12-31" in errors[i] for i in wrong)


def test_each_field_has_its_own_parser_and_the_rules_stay_the_cores() -> None:
    from cards import settings

    assert settings.parse_durations("15, 30 or 60") == (15, 30, 60)
    assert settings.parse_durations("2d") == (2880,)  # read as typed; EventRules.problems() refuses the length
    edited, errors = parse_settings({DURATIONS: "2d"}, link())
    assert edited is None and errors[DURATIONS] == DURATION_RULE
    assert settings.parse_window_days("400") == 400  # the 365-day rule is the core's too
    assert settings.parse_flag(" TRUE ") is True
    with pytest.raises(ValueError, match="characters we can't use"):
        settings.parse_title("bad\u202etitle")


# --------------------------------------------------------------------------- property: any number in any field

_NUMERIC = [DURATIONS, SLOT_INTERVAL, BUFFER_BEFORE, BUFFER_AFTER, MINIMUM_NOTICE, WINDOW_DAYS, DAILY_CAP, WEEKLY_CAP]
_NUMBERS = st.one_of(
    st.integers(min_value=-(10**500), max_value=10**500).map(str),  # hundreds of digits, both signs
    st.from_regex(r"\A[0-9]{1,400}(\.[0-9]{1,50})?\s?(m|min|h|d|days)?\Z"),
    st.floats(allow_nan=True, allow_infinity=True).map(str),  # "inf", "nan", "1e+300"
)


@props(120)
@given(st.sampled_from(_NUMERIC), _NUMBERS)
def test_any_number_in_any_field_is_a_value_or_an_error_under_that_field(field: str, number: str) -> None:
    """A length or count of any size never escapes the parser (an OverflowError was once a 500): the card either
    saves a link within the rules or names that field."""
    original = link()
    values: dict[str, object] = dict(current_values(original))
    values[field] = number
    edited, errors = parse_settings(values, original)
    if edited is None:
        assert set(errors) == {field}, errors
    else:
        assert errors == {}
