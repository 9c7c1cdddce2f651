"""Error cards, the help card and the first-run card (with its Adjust form parser)."""

from __future__ import annotations

from typing import Any

import pytest

from cards.errors import (
    consent_blocked,
    generic_error,
    link_inactive,
    reconnect_required,
    request_refused,
    slot_taken,
)
from cards.help import (
    COMMANDS,
    PROFILE_HOURS,
    PROFILE_TIME_ZONE,
    connect_prompt,
    first_run,
    help_card,
    parse_profile,
)
from scheduling.rules import Availability, LocalRange
from tests.cards.checks import check_card, data_of, execute_by_title, executes, input_by_id, nodes, texts
from tests.cards.data import link, utc

SIGN_IN = "https://slotwise.example.com/auth/start?state=abc"


def _urls(card: dict[str, Any]) -> list[str]:
    return [a["url"] for a in nodes(card, "Action.OpenUrl")]


def test_reconnect_for_the_host_has_the_sign_in_link() -> None:
    card = check_card(reconnect_required(SIGN_IN, True))
    assert _urls(card) == [SIGN_IN]
    assert any("nobody can book you" in t for t in texts(card))
    assert data_of(execute_by_title(card, "Check connection")) == {"verb": "connect"}


def test_reconnect_for_an_invitee_never_shows_the_hosts_sign_in_link() -> None:
    card = check_card(reconnect_required(SIGN_IN, False))
    assert _urls(card) == [] and SIGN_IN not in str(card)
    assert any("try again later" in t for t in texts(card))


def test_consent_blocked_hands_over_the_admin_link() -> None:
    url = "https://login.microsoftonline.com/t/adminconsent?client_id=abc"
    card = check_card(consent_blocked(url))
    assert _urls(card) == [url]
    assert input_by_id(card, "adminConsentUrl")["value"] == url
    assert any("admin" in t for t in texts(card))


def test_slot_taken_offers_the_alternatives_as_buttons() -> None:
    alternatives = [utc(2026, 12, 8, 10), utc(2026, 12, 8, 9), utc(2026, 12, 9, 14, 30)]
    card = check_card(slot_taken(alternatives, "Asia/Kolkata", link(), duration=60))
    picks = [a for a in executes(card) if a.get("verb") == "slots.pick"]
    assert [a["title"] for a in picks] == ["Tue 8 Dec 14:30", "Tue 8 Dec 15:30", "Wed 9 Dec 20:00"]
    assert data_of(picks[0]) == {
        "verb": "slots.pick",
        "linkId": "et_0001",
        "start": "2026-12-08T09:00:00Z",
        "tz": "Asia/Kolkata",
        "duration": 60,
    }
    assert data_of(execute_by_title(card, "See all times")) == {
        "verb": "slots.week",
        "linkId": "et_0001",
        "tz": "Asia/Kolkata",
        "duration": 60,
        "weekStart": "2026-12-07",
    }
    assert any(t.startswith("That time was just taken") for t in texts(card))


def test_slot_taken_without_alternatives_still_has_a_way_forward() -> None:
    card = check_card(slot_taken([], "UTC", link(), reschedule_booking_id="bk_1"))
    assert [a["title"] for a in executes(card)] == ["See all times"]
    assert data_of(executes(card)[0])["bookingId"] == "bk_1"


def test_link_inactive_and_generic_error_say_what_next() -> None:
    inactive = check_card(link_inactive())
    assert any("Ask the host for a new link" in t for t in texts(inactive))
    error = check_card(generic_error("Dana's calendar can't be read right now.", "0123456789ab"))
    assert texts(error)[:2] == ["Something went wrong on our side", "Dana's calendar can't be read right now."]
    assert any("try again in a moment" in t and "0123456789ab" in t for t in texts(error))
    assert data_of(execute_by_title(error, "Help")) == {"verb": "help"}
    blank = check_card(generic_error("  ", "0123456789ab"))
    assert "An unexpected error happened." in texts(blank)


def test_a_refusal_gives_the_rule_and_says_nothing_changed_without_try_again() -> None:
    rule = "A meeting must last at least 1 minute and can't be longer than 24 hours."
    card = check_card(request_refused(rule))
    assert texts(card)[:2] == ["I can't do that", rule]
    assert any("Nothing was changed" in t for t in texts(card))
    assert not any("try again in a moment" in t.lower() or "reference" in t.lower() for t in texts(card))
    assert data_of(execute_by_title(card, "Help")) == {"verb": "help"}
    hostile = check_card(request_refused("**bold** <b>Q&A</b>"))
    assert texts(hostile)[1] == "\\*\\*bold\\*\\* \\<b>Q&A\\</b>"


def test_help_lists_every_command_with_examples() -> None:
    card = check_card(help_card())
    facts = {f["title"]: f["value"] for fs in nodes(card, "FactSet") for f in fs["facts"]}
    for example in (
        "make a 30-min link",
        "new 45 minute interview link with 10 min buffer",
        "create a 1h link called Demo for the next 60 days",
        "my links",
        "upcoming",
        "connect",
        "disconnect",
        "help",
        "make a 30-min round-robin link",
        "team links",
        "api key",
        "api keys",
    ):
        assert any(f"“{example}”" in value for value in facts.values()), example
    assert len(facts) == len(COMMANDS)
    assert [a["verb"] for a in card["actions"]] == ["link.create", "links.list", "bookings.upcoming", "connect"]
    assert not any("Did you mean" in t for t in texts(card))


def test_help_puts_did_you_mean_first() -> None:
    card = check_card(help_card("my links"))
    assert texts(card)[0] == "Did you mean **my links**?"
    assert data_of(execute_by_title(card, "Yes, do that")) == {"verb": "command", "text": "my links"}
    hostile = check_card(help_card("**x** [y](javascript:z)"))
    assert texts(hostile)[0] == r"Did you mean **\*\*x\*\* \[y\](javascript:z)**?"


def test_first_run_shows_detected_settings_and_next_steps() -> None:
    card = check_card(first_run("Asia/Kolkata", Availability.business_hours("Asia/Kolkata")))
    facts = {f["title"]: f["value"] for fs in nodes(card, "FactSet") for f in fs["facts"]}
    assert facts == {"Time zone": "Asia/Kolkata", "Working hours": "Mon\u2013Fri 09:00\u201317:00"}
    assert data_of(execute_by_title(card, "Make my first link")) == {"verb": "link.create", "duration": 30}
    assert input_by_id(card, PROFILE_HOURS)["value"] == "Mon\u2013Fri 09:00\u201317:00"
    assert input_by_id(card, PROFILE_TIME_ZONE)["value"] == "Asia/Kolkata"
    assert data_of(execute_by_title(card, "Save")) == {"verb": "profile.save"}


def test_parse_profile_accepts_what_first_run_shows() -> None:
    availability, errors = parse_profile(
        {PROFILE_TIME_ZONE: "Pacific Standard Time", PROFILE_HOURS: "Mon\u2013Fri 09:00\u201317:00; Sat 10:00-12:00"}
    )
    assert errors == {}
    assert availability is not None and availability.time_zone == "America/Los_Angeles"
    assert availability.weekly[5] == (LocalRange(600, 720),) and availability.weekly[6] == ()


@pytest.mark.parametrize(
    ("values", "fields"),
    [
        ({PROFILE_TIME_ZONE: "Mars/Olympus", PROFILE_HOURS: "Mon 09:00-10:00"}, {PROFILE_TIME_ZONE}),
        ({PROFILE_TIME_ZONE: "UTC", PROFILE_HOURS: "weekdays"}, {PROFILE_HOURS}),
        ({PROFILE_TIME_ZONE: "UTC", PROFILE_HOURS: "Mon 12:00-11:00"}, {PROFILE_HOURS}),
        ({PROFILE_TIME_ZONE: "", PROFILE_HOURS: "Mon 9"}, {PROFILE_TIME_ZONE, PROFILE_HOURS}),
        ({}, {PROFILE_TIME_ZONE}),
    ],
)
def test_parse_profile_reports_every_problem(values: dict[str, object], fields: set[str]) -> None:
    availability, errors = parse_profile(values)
    assert availability is None
    assert set(errors) == fields


def test_first_run_answers_the_adjust_form_with_errors_or_a_confirmation() -> None:
    bad = check_card(
        first_run("Mars/Base", "weekdays", errors={PROFILE_TIME_ZONE: "Unknown zone.", PROFILE_HOURS: "Not hours."})
    )
    assert texts(bad)[0] == "Nothing was saved yet"
    assert "Time zone: Unknown zone." in texts(bad) and "Working hours: Not hours." in texts(bad)
    assert input_by_id(bad, PROFILE_TIME_ZONE)["value"] == "Mars/Base"  # what was typed is kept
    saved = check_card(first_run("Europe/London", Availability.business_hours("Europe/London"), saved_links=1))
    assert texts(saved)[0] == "Saved"
    assert any(t.startswith("Your 1 link now uses these hours.") for t in texts(saved))


def test_connect_prompt_has_the_sign_in_link_and_a_recheck() -> None:
    card = check_card(connect_prompt("https://slotwise.example.com/auth/start?state=abc"))
    assert texts(card)[0] == "Connect your Outlook calendar"
    assert [a["url"] for a in nodes(card, "Action.OpenUrl")] == ["https://slotwise.example.com/auth/start?state=abc"]
    assert execute_by_title(card, "I've connected")["verb"] == "connect"
