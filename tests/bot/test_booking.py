"""Booking inside Teams, end to end: an invitee picks a time on the host's slot card (refreshed in their own
zone), books, and the meeting lands in the host's (emulated) Outlook calendar with a Teams link; taken
slots offer alternatives; hosts and invitees reschedule and cancel from their cards."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from scheduling.domain import BookingStatus
from tests.bot.harness import DANA, IVAN, Bot, form_values
from tests.cards.checks import execute_by_title, executes, input_by_id, nodes, unescape
from tests.cards.checks import texts as escaped_texts

Json = dict[str, Any]


def texts(card: Json) -> list[str]:
    """What a person reads (Markdown escapes undone)."""
    return [unescape(t) for t in escaped_texts(card)]


def facts_of(card: Json) -> dict[str, str]:
    return {unescape(f["title"]): unescape(f["value"]) for fs in nodes(card, "FactSet") for f in fs["facts"]}


def urls(card: Json) -> dict[str, str]:
    return {a["title"]: a["url"] for a in nodes(card, "Action.OpenUrl")}


def times(card: Json) -> list[Json]:
    return [a for a in executes(card) if a["verb"] == "slots.pick"]


def start_of(action: Json) -> datetime:
    return datetime.fromisoformat(action["data"]["start"].replace("Z", "+00:00"))


async def shared_picker(bot: Bot, title: str = "Intro") -> Json:
    """Dana makes a link and shares its slot card; Ivan's client refreshes it for him."""
    created = await bot.card(DANA, f"make a 30-min link called {title}")
    preview = await bot.execute(DANA, execute_by_title(created, "Preview"))
    assert any("Europe/London" in t for t in texts(preview))
    mine = await bot.execute(IVAN, preview["refresh"]["action"], trigger="automatic")
    assert any(t.startswith("Times in America/New_York") for t in texts(mine))
    return mine


async def book(bot: Bot, picker: Json, index: int = 0, **changes: str) -> tuple[Json, Json]:
    """Ivan picks the ``index``-th time shown and confirms; returns (the confirm form, the answer)."""
    form = await bot.execute(IVAN, times(picker)[index])
    answer = await bot.execute(IVAN, execute_by_title(form, "Confirm booking"), form_values(form, **changes))
    return form, answer


async def test_an_invitee_books_from_the_slot_card(bot: Bot) -> None:
    picker = await shared_picker(bot)
    pick = times(picker)[0]
    start = start_of(pick)

    form = await bot.execute(IVAN, pick)
    assert input_by_id(form, "name")["value"] == "Ivan Invitee"  # from Teams
    assert input_by_id(form, "email")["value"] == "ivan@fabrikam.example"
    booked = await bot.execute(
        IVAN, execute_by_title(form, "Confirm booking"), form_values(form, notes="Looking forward to it")
    )

    assert texts(booked)[:2] == ["You're booked", "Intro"]
    facts = facts_of(booked)
    assert facts["When"].endswith("(America/New_York)")
    assert facts["Dana Host's time"].endswith("(Europe/London)")
    links = urls(booked)
    manage = links["Manage booking"]
    assert manage.startswith(f"{bot.base_url}/manage/")
    assert links["Add to calendar"] == f"{manage}/invite.ics"

    [event] = [e for e in bot.emulator.events(DANA.email) if e["subject"] == "Intro with Ivan Invitee"]
    assert [a["emailAddress"]["address"] for a in event["attendees"]] == ["ivan@fabrikam.example"]
    assert event["isOnlineMeeting"] is True
    assert links["Join Teams meeting"] == event["onlineMeeting"]["joinUrl"]
    assert datetime.fromisoformat(event["start"]["dateTime"][:19]).replace(tzinfo=UTC) == start

    resp = await bot.client.get(manage.removeprefix(bot.base_url))
    assert resp.status == 200  # the manage link works on the web

    again = await bot.execute(
        IVAN, execute_by_title(form, "Confirm booking"), form_values(form, notes="Looking forward to it")
    )
    assert urls(again)["Manage booking"] == manage  # a retried Confirm is the same booking
    assert len([e for e in bot.emulator.events(DANA.email) if e["subject"] == "Intro with Ivan Invitee"]) == 1
    # the same time with other details is another request: it never gets this booking's manage link
    other = await bot.execute(IVAN, execute_by_title(form, "Confirm booking"), form_values(form, notes="Changed"))
    assert "/manage/" not in json.dumps(other) and texts(other)[0] == "That time was just taken"
    assert len([e for e in bot.emulator.events(DANA.email) if e["subject"] == "Intro with Ivan Invitee"]) == 1


async def test_invalid_details_are_shown_on_the_form_and_nothing_is_booked(bot: Bot) -> None:
    picker = await shared_picker(bot)
    _form, answer = await book(bot, picker, name="  ", email="ivan at fabrikam")
    assert input_by_id(answer, "email")["value"] == "ivan at fabrikam"
    shown = texts(answer)
    assert "Please enter your name." in shown
    assert any("doesn't look like an email address" in t for t in shown)
    assert not [e for e in bot.emulator.events(DANA.email) if "Ivan" in e["subject"]]
    fixed = await bot.execute(
        IVAN,
        execute_by_title(answer, "Confirm booking"),
        form_values(answer, name="Ivan", email="ivan@fabrikam.example"),
    )
    assert texts(fixed)[0] == "You're booked"


async def test_a_slot_taken_meanwhile_offers_alternatives(bot: Bot) -> None:
    picker = await shared_picker(bot)
    pick = times(picker)[0]
    start = start_of(pick)
    form = await bot.execute(IVAN, pick)
    bot.emulator.add_event(DANA.email, "Dentist", start, start + timedelta(minutes=30))  # taken meanwhile

    taken = await bot.execute(IVAN, execute_by_title(form, "Confirm booking"), form_values(form))
    assert texts(taken)[0] == "That time was just taken"
    alternatives = times(taken)
    assert alternatives and all(start_of(a) != start for a in alternatives)
    assert not [e for e in bot.emulator.events(DANA.email) if "Ivan" in e["subject"]]

    form = await bot.execute(IVAN, alternatives[0])
    booked = await bot.execute(IVAN, execute_by_title(form, "Confirm booking"), form_values(form))
    assert texts(booked)[0] == "You're booked"


async def test_the_viewer_can_change_the_zone_and_page_through_weeks(bot: Bot) -> None:
    picker = await shared_picker(bot)
    change = next(a for a in picker["actions"] if a["title"] == "Change time zone")["card"]
    kolkata = await bot.execute(IVAN, execute_by_title(change, "Show times"), {"slotsTimeZone": "Asia/Kolkata"})
    assert any(t.startswith("Times in Asia/Kolkata") for t in texts(kolkata))
    later = await bot.execute(IVAN, execute_by_title(kolkata, "Next week \u25b6"))
    assert any(t.startswith("Times in Asia/Kolkata") for t in texts(later))  # a chosen zone sticks
    assert "\u25c0 Previous week" in [a.get("title") for a in executes(later)]


async def test_the_host_reschedules_and_cancels_from_upcoming(bot: Bot) -> None:
    picker = await shared_picker(bot)
    await book(bot, picker)
    upcoming = await bot.card(DANA, "upcoming")
    assert any("Intro with Ivan Invitee" in t for t in texts(upcoming))

    new_times = await bot.execute(DANA, execute_by_title(upcoming, "Reschedule"))
    assert texts(new_times)[0] == "Pick a new time"
    target = times(new_times)[0]
    question = await bot.execute(DANA, target)
    assert texts(question)[0] == "Move your meeting?"
    moved = await bot.execute(DANA, execute_by_title(question, "Move it"))
    assert texts(moved)[0] == "You moved the meeting with Ivan Invitee"
    [event] = [e for e in bot.emulator.events(DANA.email) if e["subject"] == "Intro with Ivan Invitee"]
    assert datetime.fromisoformat(event["start"]["dateTime"][:19]).replace(tzinfo=UTC) == start_of(target)

    cancel = next(a for a in executes(moved) if a["verb"] == "booking.cancel")
    reason_id = cancel["data"]["reasonInputId"]
    cancelled = await bot.execute(DANA, cancel, {reason_id: "Sorry, something came up"})
    assert texts(cancelled)[0] == "You cancelled the meeting with Ivan Invitee"
    assert facts_of(cancelled)["Reason"] == "Sorry, something came up"
    host = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    assert await bot.repos.bookings.upcoming_for_host(DANA.tenant, host.id, datetime.now(UTC)) == []
    assert bot.emulator.cancellations  # Outlook sent the cancellation


async def test_the_invitee_reschedules_cancels_and_books_the_same_time_again(bot: Bot) -> None:
    picker = await shared_picker(bot)
    form, booked = await book(bot, picker)
    manage = urls(booked)["Manage booking"]

    new_times = await bot.execute(IVAN, execute_by_title(booked, "Reschedule"))
    assert any(t.startswith("Times in America/New_York") for t in texts(new_times))
    target = times(new_times)[0]
    question = await bot.execute(IVAN, target)
    moved = await bot.execute(IVAN, execute_by_title(question, "Move it"))
    assert texts(moved)[0] == "You're booked"
    # the manage link was shown once, with the booking; later cards never hand it out again
    assert manage.removeprefix(bot.base_url) not in json.dumps(moved) and "/manage/" not in json.dumps(moved)

    cancel = next(a for a in executes(moved) if a["verb"] == "booking.cancel")
    cancelled = await bot.execute(IVAN, cancel, {cancel["data"]["reasonInputId"]: ""})
    assert texts(cancelled)[0] == "This booking was cancelled"

    rebooked = await bot.execute(IVAN, execute_by_title(form, "Confirm booking"), form_values(form))
    assert texts(rebooked)[0] == "You're booked"
    assert urls(rebooked)["Manage booking"] != manage  # a new booking with its own manage link
    host = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    upcoming = await bot.repos.bookings.upcoming_for_host(DANA.tenant, host.id, datetime.now(UTC))
    assert [b.status for b in upcoming] == [BookingStatus.CONFIRMED]


async def test_a_host_whose_calendar_is_disconnected(bot: Bot) -> None:
    picker = await shared_picker(bot)
    bot.emulator.set_token_error(DANA.email, "invalid_grant")
    bot.emulator.expire_tokens(DANA.email)
    bot.emulator.revoke_refresh_tokens(DANA.email)
    await bot.stale_busy_cache(DANA)  # slot views read the calendar again (as when Graph reports missed changes)

    for_invitee = await bot.execute(IVAN, picker["refresh"]["action"], trigger="automatic")
    assert texts(for_invitee)[0] == "This host can't take bookings right now"
    assert not nodes(for_invitee, "Action.OpenUrl")  # never the host's sign-in link

    for_host = await bot.execute(DANA, picker["refresh"]["action"], trigger="automatic")
    assert texts(for_host)[0] == "Reconnect your Outlook calendar"
    assert urls(for_host)["Reconnect"].startswith(f"{bot.base_url}/auth/start?")
