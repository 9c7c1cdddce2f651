"""Issue 5 §6, through a real Teams-like client: the Agents Playground's HTTP + WebSocket API.

The host (the Playground's own user, Alex Wilber) installs Slotwise, says "make a 30-min link", gets the
link card and previews it; the slot picker card is then forwarded into the group chat, where another
person (Megan Bowen) picks a time, confirms with her name and email and gets "You're booked". Outlook
(the Graph emulator) then holds the meeting in the host's calendar with a Teams join URL and Megan as
attendee, and the host's "New booking" card arrives in his personal chat (the outbox worker).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.cards.checks import problems
from tests.e2e.conftest import Stack
from tests.e2e.playground import Json, Message, action, actions, card_text, inputs

pytestmark = pytest.mark.asyncio(loop_scope="session")

HOST = "user-id-0"  # Alex Wilber, the Playground page's own user
INVITEE = "user-id-1"  # Megan Bowen, in the group chat
JOIN_URL = re.compile(r"^https://teams\.microsoft\.com/l/meetup-join/")


def valid(card: Json) -> Json:
    """The card passes the Adaptive Card schema and our card rules (tests/cards/checks.py)."""
    found = problems(card)
    assert not found, "\n".join(found)
    return card


async def test_install_link_preview_book_and_notify(stack: Stack) -> None:
    pg = stack.playground
    personal = pg.personal_chat
    host, invitee = pg.user(HOST), pg.user(INVITEE)
    group = pg.group_chat
    assert INVITEE in group["members"]

    # install: the bot introduces itself in the personal chat
    mark = pg.mark()
    await pg.install(personal)
    welcome = await pg.wait_for(lambda m: m.conversation_id == personal and m.shows("What I can do"), since=mark)
    valid(welcome.card)

    # "make a 30-min link" -> the link card with the /book/... URL
    mark = pg.mark()
    await pg.send(personal, "make a 30-min link", user=HOST)
    created = await pg.wait_for(lambda m: m.conversation_id == personal and m.shows("Your link is ready"), since=mark)
    link_card = valid(created.card)
    urls = re.findall(re.escape(stack.base_url) + r"/book/[^\s)\]]+", card_text(link_card))
    assert len(urls) == 1, card_text(link_card)
    url = urls[0]
    assert action(link_card, title="Open", kind="Action.OpenUrl")["url"] == url
    assert "30 min" in card_text(link_card)
    page = await stack.client.get(url.removeprefix(stack.base_url))
    assert page.status == 200, await page.text()  # the link works on the web too

    # the host's Slotwise user came from the Teams roster, with an Outlook mailbox in the emulator
    user = await stack.services.repos.users.get_by_aad(pg.config["tenantId"], host["aadObjectId"])
    assert user is not None and user.email == host["email"], user
    assert url.endswith(f"/book/{user.handle}/{url.rsplit('/', 1)[1]}")

    # Preview (Action.Execute through the invoke API): the slot picker replaces the link card
    picker = valid(await pg.execute(personal, created.message_id, action(link_card, verb="link.preview"), user=HOST))
    assert "Pick a time" in card_text(picker)
    assert f"with {host['name']}" in card_text(picker)
    times = actions(picker, verb="slots.pick")
    assert times, card_text(picker)
    chosen = times[0]
    start = chosen["data"]["start"]

    # the host shares the picker in the group chat; Megan picks the first time there
    shared = await pg.post_card(group["id"], picker, user=INVITEE)
    mark = pg.mark()
    form = valid(await pg.execute(group["id"], shared, chosen, user=INVITEE))
    assert "Confirm your booking" in card_text(form)
    fields = inputs(form)
    assert fields["name"].get("value") == invitee["name"]  # prefilled from her Teams profile
    assert fields["email"].get("value") == invitee["email"]

    # Confirm with name and email -> "You're booked" with the Teams join link
    confirm = action(form, verb="booking.confirm")
    booked = valid(
        await pg.execute(
            group["id"],
            shared,
            confirm,
            user=INVITEE,
            inputs={"name": invitee["name"], "email": invitee["email"], "notes": "Looking forward to it"},
        )
    )
    assert "You're booked" in card_text(booked), card_text(booked)
    join = action(booked, title="Join Teams meeting", kind="Action.OpenUrl")["url"]
    assert JOIN_URL.match(join), join
    booking_id = action(booked, verb="booking.reschedule")["data"]["bookingId"]

    # Outlook: the meeting is in the host's calendar, online, with Megan invited
    events = [e for e in stack.emulator.events(host["email"]) if e.get("transactionId") == booking_id]
    assert len(events) == 1, stack.emulator.events(host["email"])
    event = events[0]
    assert event["isOnlineMeeting"] is True
    assert event["onlineMeeting"]["joinUrl"] == join
    attendees = [a["emailAddress"]["address"].lower() for a in event["attendees"]]
    assert invitee["email"].lower() in attendees, event["attendees"]
    assert _instant(event["start"]) == _instant({"dateTime": start, "timeZone": "UTC"})

    # the host's notification arrives in his personal chat (proactive, from the outbox worker)
    note = await pg.wait_for(lambda m: m.conversation_id == personal and m.shows("New booking"), since=mark)
    note_card = valid(note.card)
    text = card_text(note_card)
    assert invitee["name"] in text and invitee["email"] in text, text
    assert action(note_card, title="Join Teams meeting", kind="Action.OpenUrl")["url"] == join
    assert action(note_card, verb="booking.reschedule")["data"]["bookingId"] == booking_id
    assert not [m for m in pg.messages(mark) if m.conversation_id == group["id"]], "the bot spoke in the group chat"


async def test_submit_fallback_preview_answers_with_a_picker_message(stack: Stack) -> None:
    """A client without Universal Actions clicks the Action.Submit fallback: the picker comes as a message."""
    pg = stack.playground
    personal = pg.personal_chat
    mark = pg.mark()
    await pg.send(personal, "make a 45 minute link called Fallback check")
    created = await pg.wait_for(lambda m: m.shows("Fallback check") and bool(m.cards), since=mark)
    fallback = action(created.card, verb="link.preview", kind="Action.Submit")
    mark = pg.mark()
    await pg.submit(personal, created.message_id, fallback["data"])
    picker = await pg.wait_for(lambda m: m.shows("Pick a time"), since=mark)
    valid(picker.card)
    assert "45 min" in card_text(picker.card)
    assert actions(picker.card, verb="slots.pick")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("help", "What I can do"),
        ("what is the airspeed of an unladen swallow", "didn't understand"),
    ],
)
async def test_every_message_gets_an_answer(stack: Stack, text: str, expected: str) -> None:
    pg = stack.playground
    mark = pg.mark()
    await pg.send(pg.personal_chat, text)
    answer: Message = await pg.wait_for(
        lambda m: m.conversation_id == pg.personal_chat and m.shows(expected), since=mark
    )
    assert answer.message_id
    help_card = await pg.wait_for(lambda m: m.shows("What I can do"), since=mark)
    valid(help_card.card)


def _instant(value: dict[str, str]) -> datetime:
    """A Graph ``dateTimeTimeZone`` in UTC (``2026-11-23T08:00:00.0000000``) or a ``...Z`` instant, aware."""
    assert value.get("timeZone", "UTC") == "UTC", value
    return datetime.fromisoformat(value["dateTime"][:19]).replace(tzinfo=UTC)
