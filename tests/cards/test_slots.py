"""The slot picker and the booking form: what people see and what the bot gets back."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cards.slots import TIMES_PER_PAGE, answer_input_id, confirm_booking, slot_picker, zone_choices
from cards.verbs import TIME_ZONE_INPUT
from scheduling.errors import UnknownTimeZone, ValidationFailed
from scheduling.invitee import validate_invitee
from scheduling.slots import Slot
from tests.cards.checks import (
    check_card,
    data_of,
    execute_by_title,
    executes,
    input_by_id,
    nodes,
    texts,
    walk,
)
from tests.cards.data import QUESTIONS, link, utc, week_slots
from tests.scheduling.strategies import props

WEEK = date(2026, 12, 7)  # a Monday
DST_WEEK = date(2026, 10, 19)


def _slot(start: datetime, minutes: int = 30) -> Slot:
    return Slot(start, start + timedelta(minutes=minutes))


def _titles(actions: list[dict[str, Any]]) -> list[str]:
    return [a["title"] for a in actions]


def _buttons(card: dict[str, Any], verb: str) -> list[dict[str, Any]]:
    return [a for a in executes(card) if a.get("verb") == verb and "title" in a]


def _flat(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Body elements in reading order (containers opened)."""
    out: list[dict[str, Any]] = []

    def add(items: list[dict[str, Any]]) -> None:
        for item in items:
            out.append(item)
            if item.get("type") == "Container":
                add(item["items"])

    add(card["body"])
    return out


def _error_after(card: dict[str, Any], input_id: str) -> str | None:
    flat = _flat(card)
    for i, element in enumerate(flat):
        if element.get("id") == input_id:
            follower = flat[i + 1] if i + 1 < len(flat) else {}
            if follower.get("type") == "TextBlock" and follower.get("color") == "attention":
                return str(follower["text"])
            return None
    raise AssertionError(f"no input {input_id}")


# --------------------------------------------------------------------------- days and times


def test_one_button_per_day_with_free_times_and_times_of_the_first_day() -> None:
    slots = week_slots("Europe/London", WEEK, interval=30)
    card = check_card(slot_picker(link(), "Dana Host", slots, "Europe/London", WEEK, None))
    days = _buttons(card, "slots.day")
    assert [d["title"].lstrip("✓ ").split(" · ")[0] for d in days] == [
        "Mon 7 Dec",
        "Tue 8 Dec",
        "Wed 9 Dec",
        "Thu 10 Dec",
        "Fri 11 Dec",
    ]
    assert days[0]["title"].startswith("✓ ")  # the first day is selected
    assert data_of(days[1]) == {
        "verb": "slots.day",
        "linkId": "et_0001",
        "tz": "Europe/London",
        "weekStart": "2026-12-07",
        "duration": 30,
        "day": "2026-12-08",
    }
    times = _buttons(card, "slots.pick")
    assert _titles(times)[:3] == ["09:00", "09:30", "10:00"]
    assert data_of(times[0]) == {
        "verb": "slots.pick",
        "linkId": "et_0001",
        "tz": "Europe/London",
        "duration": 30,
        "start": "2026-12-07T09:00:00Z",
    }
    assert "Monday 7 December 2026" in texts(card)


def test_selected_day_and_viewer_zone_shape_the_labels() -> None:
    slots = week_slots("Europe/London", WEEK, interval=30)
    card = check_card(slot_picker(link(), "Dana", slots, "Asia/Kolkata", WEEK, None, selected_day=date(2026, 12, 9)))
    times = _buttons(card, "slots.pick")
    # London 09:00 GMT is 14:30 in Kolkata; the data keeps the UTC instant.
    assert times[0]["title"] == "14:30"
    assert data_of(times[0])["start"] == "2026-12-09T09:00:00Z"
    assert data_of(times[0])["tz"] == "Asia/Kolkata"
    assert any("Asia/Kolkata (UTC+05:30)" in t for t in texts(card))


def test_a_selected_day_without_times_falls_back_to_the_first_day() -> None:
    slots = week_slots("Europe/London", WEEK, interval=30)
    card = check_card(slot_picker(link(), "Dana", slots, "Europe/London", WEEK, None, selected_day=date(2026, 12, 12)))
    assert "Monday 7 December 2026" in texts(card)


def test_slots_outside_the_week_are_ignored() -> None:
    inside, outside = _slot(utc(2026, 12, 8, 10)), _slot(utc(2026, 12, 15, 10))
    card = check_card(slot_picker(link(), "Dana", [outside, inside], "UTC", WEEK, None))
    assert [data_of(a)["start"] for a in _buttons(card, "slots.pick")] == ["2026-12-08T10:00:00Z"]
    assert len(_buttons(card, "slots.day")) == 1


def test_a_five_minute_grid_pages_within_the_day() -> None:
    slots = week_slots("Europe/London", WEEK, interval=5)  # Monday: 31 + 43 = 74 starts
    first = check_card(slot_picker(link(), "Dana", slots, "Europe/London", WEEK, None))
    assert len(_buttons(first, "slots.pick")) == TIMES_PER_PAGE
    assert "Times 1\u201324 of 74" in texts(first)
    later = execute_by_title(first, "Later: from 11:00")
    assert data_of(later)["offset"] == 24 and data_of(later)["day"] == "2026-12-07"

    middle = check_card(slot_picker(link(), "Dana", slots, "Europe/London", WEEK, None, offset=24))
    assert _titles(_buttons(middle, "slots.pick"))[0] == "11:00"
    assert data_of(execute_by_title(middle, "Earlier than 11:00"))["offset"] == 0

    last = check_card(slot_picker(link(), "Dana", slots, "Europe/London", WEEK, None, offset=72))
    assert _titles(_buttons(last, "slots.pick")) == ["16:25", "16:30"]
    assert not [a for a in executes(last) if a.get("title", "").startswith("Later")]
    # an offset past the end shows the last page instead of nothing
    beyond = check_card(slot_picker(link(), "Dana", slots, "Europe/London", WEEK, None, offset=500))
    assert _titles(_buttons(beyond, "slots.pick")) == ["16:25", "16:30"]


def test_buttons_come_in_rows_teams_can_show() -> None:
    slots = week_slots("Europe/London", WEEK, interval=5)
    card = check_card(slot_picker(link(), "Dana", slots, "Europe/London", WEEK, None))
    assert all(len(s["actions"]) <= 4 for s in nodes(card, "ActionSet"))


def test_an_empty_week_points_to_the_next_free_day() -> None:
    card = check_card(slot_picker(link(), "Dana", [], "Europe/London", WEEK, date(2026, 12, 22)))
    assert "Nothing free this week — next free day is Tue 22 Dec." in texts(card)
    jump = execute_by_title(card, "Show Tue 22 Dec")
    assert data_of(jump) | {} == {
        "verb": "slots.day",
        "linkId": "et_0001",
        "tz": "Europe/London",
        "weekStart": "2026-12-21",
        "duration": 30,
        "day": "2026-12-22",
    }
    assert not _buttons(card, "slots.pick")


def test_an_empty_week_keeps_the_callers_week_alignment() -> None:
    sunday_week = date(2026, 12, 6)
    card = check_card(slot_picker(link(), "Dana", [], "UTC", sunday_week, date(2026, 12, 22)))
    assert data_of(execute_by_title(card, "Show Tue 22 Dec"))["weekStart"] == "2026-12-20"


def test_an_empty_week_with_nothing_later_says_so() -> None:
    card = check_card(slot_picker(link(), "Dana", [], "UTC", WEEK, None))
    assert any("nothing later within the booking window" in t for t in texts(card))


def test_week_paging_respects_the_bounds() -> None:
    slots = week_slots("UTC", WEEK)
    free = check_card(slot_picker(link(), "Dana", slots, "UTC", WEEK, None))
    assert data_of(execute_by_title(free, "◀ Previous week"))["weekStart"] == "2026-11-30"
    assert data_of(execute_by_title(free, "Next week ▶"))["weekStart"] == "2026-12-14"
    bounded = check_card(
        slot_picker(link(), "Dana", slots, "UTC", WEEK, None, min_week_start=WEEK, max_week_start=WEEK)
    )
    assert not [a for a in executes(bounded) if "week" in a.get("title", "")]


def test_daylight_saving_fold_keeps_repeated_wall_times_apart() -> None:
    # New York falls back on Sun 1 Nov 2026: 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
    slots = [_slot(utc(2026, 11, 1, 5, 30)), _slot(utc(2026, 11, 1, 6, 0)), _slot(utc(2026, 11, 1, 6, 30))]
    card = check_card(slot_picker(link(), "Dana", slots, "America/New_York", date(2026, 10, 26), None))
    assert _titles(_buttons(card, "slots.pick")) == ["01:30 (UTC-04:00)", "01:00", "01:30 (UTC-05:00)"]
    assert any("Clocks change on Sun 1 Nov (UTC-04:00 → UTC-05:00)" in t for t in texts(card))


def test_the_clock_change_note_appears_only_in_a_dst_week() -> None:
    dst = check_card(
        slot_picker(link(), "Dana", week_slots("Europe/London", DST_WEEK), "Europe/London", DST_WEEK, None)
    )
    assert any("Clocks change on Sun 25 Oct (UTC+01:00 → UTC)" in t for t in texts(dst))
    kolkata = check_card(
        slot_picker(link(), "Dana", week_slots("Europe/London", DST_WEEK), "Asia/Kolkata", DST_WEEK, None)
    )
    assert not any("Clocks change" in t for t in texts(kolkata))


def test_time_zone_can_be_changed() -> None:
    card = check_card(
        slot_picker(
            link("America/New_York"),
            "Dana",
            [],
            "Asia/Kolkata",
            WEEK,
            None,
            time_zones=("Europe/London", "Not/AZone", "Asia/Kolkata"),
        )
    )
    choice = input_by_id(card, TIME_ZONE_INPUT)
    assert choice["value"] == "Asia/Kolkata"
    assert [c["value"] for c in choice["choices"]] == ["America/New_York", "Europe/London", "Asia/Kolkata"]
    assert choice["choices"][2]["title"] == "(UTC+05:30) Asia/Kolkata"
    apply = execute_by_title(card, "Show times")
    assert "tz" not in data_of(apply)  # the zone comes from the input
    assert data_of(apply)["linkId"] == "et_0001"


def test_zone_choices_sort_by_offset_and_drop_unknown_names() -> None:
    at = utc(2026, 7, 1, 12)
    assert zone_choices(["Asia/Tokyo", "UTC", "bogus", "America/Los_Angeles", "UTC"], at=at) == [
        ("(UTC-07:00) America/Los_Angeles", "America/Los_Angeles"),
        ("(UTC) UTC", "UTC"),
        ("(UTC+09:00) Asia/Tokyo", "Asia/Tokyo"),
    ]


def test_refresh_is_automatic_unless_turned_off() -> None:
    slots = week_slots("UTC", WEEK)
    auto = check_card(slot_picker(link(), "Dana", slots, "UTC", WEEK, None, selected_day=date(2026, 12, 9)))
    assert "userIds" not in auto["refresh"]
    assert data_of(auto["refresh"]["action"]) == {
        "verb": "slots.week",
        "linkId": "et_0001",
        "tz": "UTC",
        "weekStart": "2026-12-07",
        "duration": 30,
        "day": "2026-12-09",
    }
    manual = check_card(slot_picker(link(), "Dana", slots, "UTC", WEEK, None, auto_refresh=False))
    assert manual["refresh"]["userIds"] == []


def test_links_with_several_lengths_offer_a_switch() -> None:
    card = check_card(slot_picker(link(), "Dana", week_slots("UTC", WEEK), "UTC", WEEK, None, duration=60))
    switch = _buttons(card, "slots.week")
    assert [a["title"] for a in switch if "min" in a["title"] or " h" in a["title"]] == ["30 min", "✓ 1 h"]
    assert data_of(execute_by_title(card, "30 min"))["duration"] == 30


def test_reschedule_mode_carries_the_booking_everywhere() -> None:
    card = check_card(
        slot_picker(link(), "Dana", week_slots("UTC", WEEK), "UTC", WEEK, None, reschedule_booking_id="bk_9")
    )
    assert "Pick a new time" in texts(card)
    assert all(data_of(a).get("bookingId") == "bk_9" for a in executes(card))
    assert not [a for a in executes(card) if a.get("title") in ("30 min", "1 h")]


def test_an_unknown_viewer_zone_is_an_explicit_error() -> None:
    with pytest.raises(UnknownTimeZone):
        slot_picker(link(), "Dana", [], "Mars/Olympus", WEEK, None)


# --------------------------------------------------------------------------- property: any slot set

_ZONES = ("UTC", "Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham")


@props(60)
@given(
    minutes=st.lists(st.integers(min_value=-24 * 12, max_value=8 * 24 * 12), max_size=2500, unique=True),
    duration=st.sampled_from([5, 15, 30, 45, 60, 90, 240]),
    zone_name=st.sampled_from(_ZONES),
    week_start=st.sampled_from([DST_WEEK, date(2027, 3, 8), date(2027, 3, 29), WEEK]),
    selected=st.integers(min_value=-1, max_value=8),
    offset=st.integers(min_value=0, max_value=3000),
    title=st.text(max_size=300),
    id_length=st.integers(min_value=1, max_value=64),
    lengths=st.integers(min_value=1, max_value=12),
    rescheduling=st.booleans(),
)
def test_any_slot_set_gives_a_valid_small_card(
    minutes: list[int],
    duration: int,
    zone_name: str,
    week_start: date,
    selected: int,
    offset: int,
    title: str,
    id_length: int,
    lengths: int,
    rescheduling: bool,
) -> None:
    origin = datetime(week_start.year, week_start.month, week_start.day, tzinfo=utc(2000, 1, 1).tzinfo)
    slots = [_slot(origin + timedelta(minutes=5 * m), duration) for m in minutes]
    base = link(title=title or "x", id="L" * id_length, description=title * 3)
    base = replace(base, rules=replace(base.rules, durations=(duration, *range(1000, 1000 + lengths - 1))))
    card = check_card(
        slot_picker(
            base,
            "Dana " + title,
            slots,
            zone_name,
            week_start,
            week_start + timedelta(days=9),
            selected_day=week_start + timedelta(days=selected),
            offset=offset,
            duration=duration,
            reschedule_booking_id="B" * id_length if rescheduling else None,
            time_zones=_ZONES * 10,
        )
    )
    picks = _buttons(card, "slots.pick")
    assert len(picks) <= TIMES_PER_PAGE
    starts = [data_of(a)["start"] for a in picks]
    assert starts == sorted(starts)
    offered = {s.start.strftime("%Y-%m-%dT%H:%M:%SZ") for s in slots}
    assert set(starts) <= offered
    in_week = [
        s for s in slots if week_start <= s.start.astimezone(_tz(zone_name)).date() < week_start + timedelta(days=7)
    ]
    assert bool(picks) == bool(in_week)
    assert len({a["title"] for a in picks}) == len(picks)  # labels stay distinct, DST folds included


def _tz(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


# --------------------------------------------------------------------------- booking form


def test_the_booking_form_asks_for_name_email_answers_and_notes() -> None:
    slot = _slot(utc(2026, 12, 8, 9, 30))
    card = check_card(confirm_booking(link(questions=QUESTIONS), "Dana", slot, "Asia/Kolkata"))
    ids = [n["id"] for n in walk(card) if str(n.get("type", "")).startswith("Input.")]
    assert ids == ["name", "email", "answers.q_company", "answers.q_topic", "notes"]
    company = input_by_id(card, "answers.q_company")
    assert company["isRequired"] and company["errorMessage"] == "Please answer: Company"
    assert "isRequired" not in input_by_id(card, "answers.q_topic")
    assert input_by_id(card, "answers.q_topic")["isMultiline"]
    assert input_by_id(card, "email")["style"] == "email"
    confirm = execute_by_title(card, "Confirm booking")
    assert data_of(confirm) == {
        "verb": "booking.confirm",
        "linkId": "et_0001",
        "start": "2026-12-08T09:30:00Z",
        "tz": "Asia/Kolkata",
        "duration": 30,
    }
    back = execute_by_title(card, "Back")
    assert back["associatedInputs"] == "none"  # going back must not trip the required fields
    assert data_of(back)["day"] == "2026-12-08" and data_of(back)["weekStart"] == "2026-12-07"
    assert "Tue 8 Dec 2026, 15:00\u201315:30" in texts(card)


def test_validation_errors_from_the_core_appear_under_their_inputs() -> None:
    values = {"name": " ", "email": "not-an-email", "answers.q_topic": "x" * 1200, "notes": "ok"}
    with pytest.raises(ValidationFailed) as caught:
        validate_invitee(
            values["name"],
            values["email"],
            "Asia/Kolkata",
            values["notes"],
            {"q_topic": values["answers.q_topic"]},
            QUESTIONS,
        )
    slot = _slot(utc(2026, 12, 8, 9, 30))
    card = check_card(
        confirm_booking(
            link(questions=QUESTIONS), "Dana", slot, "Asia/Kolkata", errors=caught.value.fields, values=values
        )
    )
    for field in caught.value.fields:
        assert _error_after(card, field) is not None, field
    assert _error_after(card, "notes") is None
    assert input_by_id(card, "email")["value"] == "not-an-email"  # nothing typed is lost
    assert input_by_id(card, answer_input_id(QUESTIONS[1]))["value"] == "x" * 1200


def test_the_booking_form_takes_explicit_questions() -> None:
    card = check_card(confirm_booking(link(questions=QUESTIONS), "Dana", _slot(utc(2026, 12, 8, 9)), "UTC", ()))
    assert [n["id"] for n in walk(card) if str(n.get("type", "")).startswith("Input.")] == ["name", "email", "notes"]


def test_a_long_zone_list_is_capped_but_keeps_the_viewer_and_host_zones() -> None:
    from zoneinfo import available_timezones

    every = sorted(available_timezones())
    card = check_card(slot_picker(link("Pacific/Chatham"), "Dana", [], "Asia/Kolkata", WEEK, None, time_zones=every))
    values = [c["value"] for c in input_by_id(card, TIME_ZONE_INPUT)["choices"]]
    assert len(values) == 30
    assert {"Asia/Kolkata", "Pacific/Chatham"} <= set(values)


def test_fallback_text_is_escaped() -> None:
    card = check_card(slot_picker(link(title="*Launch* [x](y)"), "Dana", [], "UTC", WEEK, None))
    assert card["fallbackText"] == r"Pick a time with Dana: \*Launch\* \[x\](y)"


def test_extreme_data_falls_back_to_a_smaller_layout() -> None:
    from zoneinfo import available_timezones

    from tests.cards.data import HOSTILE_TEXT, LONG_TEXT

    big = link(title=LONG_TEXT, description=LONG_TEXT, id="x" * 64)
    big = replace(big, rules=replace(big.rules, durations=tuple(range(5, 125, 10))))
    slots = week_slots("Asia/Kolkata", WEEK, interval=5)
    card = check_card(
        slot_picker(
            big,
            HOSTILE_TEXT * 3,
            slots,
            "America/Argentina/ComodRivadavia",
            WEEK,
            None,
            reschedule_booking_id="b" * 64,
            time_zones=sorted(available_timezones()),
            offset=24,
            duration=5,
        )
    )
    picks = _buttons(card, "slots.pick")
    assert 0 < len(picks) < TIMES_PER_PAGE
    later = next(a for a in executes(card) if a.get("title", "").startswith("Later"))
    assert data_of(later)["offset"] == 24 + len(picks)  # paging stays consistent with what is shown
