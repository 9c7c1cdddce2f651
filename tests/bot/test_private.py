"""Private replies in group chats and channels (issue 10, items 3 and 7).

Sign-in, consent and MFA cards carry the asker's signed ``/auth/start?state=`` link; upcoming bookings and
the booking picked to cancel show invitees' names and emails. Asked for in a group chat or a channel (real
Teams activity shapes: ``fixtures/group_chat_message_mention.json``, ``channel_message_mention.json``),
they go to the asker's personal chat through the outbox, and the conversation only hears that a private
message was sent: no card, no link, no state, no booking data. In a personal chat nothing changes.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from bot.api_keys import KEY_NOTICE, KEYS_NOTICE
from bot.chat import PRIVATE_COMMANDS
from bot.commands import parse
from bot.host import CANCEL_NOTICE, SETTINGS_NOTICE, UPCOMING_NOTICE
from bot.reply import ACTIVITY_MESSAGE, SIGN_IN_NOTICE
from scheduling.domain import ConnectionStatus
from tests.bot.harness import DANA, IVAN, Bot, Person, Sent, fixture, running_bot
from tests.bot.test_booking import book, shared_picker
from tests.bot.test_sso import exchange, value_for
from tests.cards.checks import executes, nodes, texts

Json = dict[str, Any]
GROUP = fixture("group_chat_message_mention")["conversation"]["id"]
CHANNEL = fixture("channel_message_mention")["conversation"]["id"]
SCOPES = [
    pytest.param((GROUP, "group_chat_message_mention"), id="groupChat"),
    pytest.param((CHANNEL, "channel_message_mention"), id="channel"),
]


def open_urls(card: Json) -> dict[str, str]:
    return {a["title"]: a["url"] for a in nodes(card, "Action.OpenUrl")}


def nothing_private(sent: list[Sent], *secrets: str) -> None:
    """What went into a group: text only, and none of ``secrets`` nor any sign-in link or state."""
    wire = json.dumps([s.body for s in sent])
    assert "/auth/start" not in wire and "state=" not in wire and "adminconsent" not in wire, wire
    for secret in secrets:
        assert secret not in wire, (secret, wire)
    for s in sent:
        assert not s.body.get("attachments"), s.body


async def must_sign_in(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    """Production without a token cache: nobody is connected silently."""

    async def no_silent_connect(_user: object) -> bool:
        return False

    monkeypatch.setattr(bot.runtime.bot.deps.connections.connector, "connect_without_prompt", no_silent_connect)


async def installed(bot: Bot, person: Person) -> None:
    """The person has a personal chat with Slotwise (its reference is stored)."""
    status, _ = await bot.post(bot.activity("installation_update", person))
    assert status == 200


async def delivered(bot: Bot, person: Person) -> list[Sent]:
    """Run the outbox once; what it brought to the person's personal chat (on the bot's own initiative)."""
    before = len(bot.connector.proactive(person.chat, bot.turn_ids))
    await bot.delivery.run_once()
    return bot.connector.proactive(person.chat, bot.turn_ids)[before:]


async def say_in(bot: Bot, scope: tuple[str, str], person: Person, text: str) -> list[Sent]:
    where, name = scope
    return await bot.say(person, f"<at>Slotwise</at> {text}", conversation=where, name=name)


async def user_id(bot: Bot, person: Person) -> str:
    user = await bot.repos.users.get_by_aad(person.tenant, person.aad)
    assert user is not None
    return str(user.id)


# --------------------------------------------------------------------------------- item 3: sign-in


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("text", ["connect", "make a 30-min link"])
async def test_a_sign_in_asked_for_in_a_group_goes_to_the_personal_chat(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, scope: tuple[str, str], text: str
) -> None:
    await must_sign_in(bot, monkeypatch)
    await installed(bot, DANA)
    sent = await say_in(bot, scope, DANA, text)
    assert [(s.conversation_id, s.body.get("text")) for s in sent] == [(scope[0], SIGN_IN_NOTICE)]
    nothing_private(bot.connector.to(scope[0]))

    [private] = await delivered(bot, DANA)
    [card] = private.cards
    assert texts(card)[0] == "Connect your Outlook calendar"
    url = open_urls(card)["Connect Outlook"]
    assert url.startswith(f"{bot.base_url}/auth/start?state=")
    state = dict(parse_qsl(urlsplit(url).query))["state"]
    connections = bot.runtime.bot.deps.connections
    assert (await connections.user_for_state(state)).id == await user_id(bot, DANA)  # signs in Dana only
    assert await delivered(bot, DANA) == []  # once


async def test_without_a_stored_personal_chat_the_bot_creates_one(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    await must_sign_in(bot, monkeypatch)
    sent = await say_in(bot, (GROUP, "group_chat_message_mention"), DANA, "connect")
    assert [s.body.get("text") for s in sent] == [SIGN_IN_NOTICE]
    nothing_private(bot.connector.to(GROUP))
    [request] = bot.connector.created
    assert request["isGroup"] is False
    assert [m["id"] for m in request["members"]] == [DANA.teams_id]
    assert request["channelData"] == {"tenant": {"id": DANA.tenant}}
    assert request["bot"]["id"] == fixture("group_chat_message_mention")["recipient"]["id"]
    user = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    assert user.conversation_reference["reference"]["conversation"]["id"] == DANA.chat
    assert user.conversation_reference["tenantId"] == DANA.tenant

    [private] = await delivered(bot, DANA)
    assert texts(private.cards[0])[0] == "Connect your Outlook calendar"
    assert private.body["channelData"] == {"tenant": {"id": DANA.tenant}}
    await say_in(bot, (GROUP, "group_chat_message_mention"), DANA, "connect")
    assert len(bot.connector.created) == 1  # stored: the next time it is reused


async def test_when_no_personal_chat_can_be_made_the_group_is_told_plainly(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    await must_sign_in(bot, monkeypatch)
    bot.connector.refuse_conversations = True
    sent = await say_in(bot, (CHANNEL, "channel_message_mention"), DANA, "make a 30-min link")
    [text] = [s.body.get("text") for s in sent]
    assert isinstance(text, str) and text.startswith("I couldn't send you a private message")
    assert "Message Slotwise directly" in text and "**connect**" in text
    nothing_private(bot.connector.to(CHANNEL))
    assert await delivered(bot, DANA) == []
    assert (await bot.delivery.run_once()).leased == 0  # nothing waits in the outbox either


async def test_a_sign_in_card_action_in_a_group_answers_the_clicker_only(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    await must_sign_in(bot, monkeypatch)
    await installed(bot, DANA)
    value = {
        "action": {"type": "Action.Execute", "id": "", "verb": "connect", "data": {"verb": "connect"}},
        "trigger": "manual",
    }
    body = bot.activity("adaptive_card_action", DANA, conversation=GROUP, value=value)
    assert body["conversation"]["conversationType"] == "groupChat"
    status, payload = await bot.invoke(body)
    assert (status, payload) == (200, {"statusCode": 200, "type": ACTIVITY_MESSAGE, "value": SIGN_IN_NOTICE})
    [private] = await delivered(bot, DANA)
    assert "Connect Outlook" in open_urls(private.cards[0])


async def test_a_broken_calendar_met_in_a_group_is_reconnected_in_private(bot: Bot) -> None:
    """The errors mapped in bot.errors (HostUnavailable for the viewer's own calendar) take the same way."""
    await shared_picker(bot)  # Dana connected, has a link and a personal chat
    bot.emulator.set_token_error(DANA.email, "invalid_grant")
    bot.emulator.expire_tokens(DANA.email)
    bot.emulator.revoke_refresh_tokens(DANA.email)
    await bot.stale_busy_cache(DANA)
    sent = await say_in(bot, (CHANNEL, "channel_message_mention"), DANA, "preview intro")
    assert [s.body.get("text") for s in sent] == [SIGN_IN_NOTICE]
    nothing_private(bot.connector.to(CHANNEL))
    reconnects = [s for s in await delivered(bot, DANA) if texts(s.cards[0])[0] == "Reconnect your Outlook calendar"]
    assert reconnects  # the sign-in card (and the once-a-day "reconnect" notice) came to the personal chat
    for sent_card in reconnects:
        assert open_urls(sent_card.cards[0])["Reconnect"].startswith(f"{bot.base_url}/auth/start?state=")


@pytest.mark.parametrize(
    ("error", "heading", "link"),
    [
        ("consent_required", "Your IT admin needs to approve Slotwise", "adminconsent"),
        ("mfa_required", "Connect your Outlook calendar", "claims="),
    ],
)
async def test_consent_and_mfa_after_a_group_sso_exchange_go_to_the_personal_chat(
    bot: Bot, error: str, heading: str, link: str
) -> None:
    await installed(bot, DANA)
    value = value_for(bot, DANA)
    bot.emulator.set_token_error(DANA.email, error)
    body = exchange(bot, DANA, value)
    body["conversation"].update({"id": GROUP, "conversationType": "groupChat", "isGroup": True})
    status, _ = await bot.invoke(body)
    assert status == 412
    assert [s.body.get("text") for s in bot.connector.to(GROUP)] == [SIGN_IN_NOTICE]
    nothing_private(bot.connector.to(GROUP))
    [private] = await delivered(bot, DANA)
    [card] = private.cards
    assert texts(card)[0] == heading
    assert any(link in url for url in open_urls(card).values())


async def test_in_a_personal_chat_the_sign_in_card_is_the_answer_as_before(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    await must_sign_in(bot, monkeypatch)
    sent = await bot.say(DANA, "connect")
    assert [s.conversation_id for s in sent] == [DANA.chat]
    assert open_urls(sent[0].cards[0])["Connect Outlook"].startswith(f"{bot.base_url}/auth/start?state=")
    assert bot.connector.created == []
    assert (await bot.delivery.run_once()).leased == 0  # nothing went through the outbox


# ------------------------------------------------------------------------ item 7: private booking data


async def _booked(bot: Bot) -> str:
    """Dana has a booking from Ivan (and a personal chat); returns its id."""
    await book(bot, await shared_picker(bot))
    user = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    [booking] = await bot.repos.bookings.upcoming_for_host(DANA.tenant, user.id, bot.runtime.bot.deps.clock.now())
    await bot.delivery.run_once()  # the "new booking" notice, out of the way
    return str(booking.id)


@pytest.mark.parametrize("scope", SCOPES)
async def test_upcoming_in_a_group_is_sent_privately(bot: Bot, scope: tuple[str, str]) -> None:
    booking_id = await _booked(bot)
    sent = await say_in(bot, scope, DANA, "upcoming")
    assert [s.body.get("text") for s in sent] == [UPCOMING_NOTICE]
    nothing_private(bot.connector.to(scope[0]), IVAN.name, IVAN.email, booking_id)

    [private] = await delivered(bot, DANA)
    card = private.cards[0]
    assert "Upcoming meetings" in texts(card)
    assert any(IVAN.email in t for t in texts(card))
    assert any(a["data"].get("bookingId") == booking_id for a in executes(card))


@pytest.mark.parametrize("scope", SCOPES)
async def test_cancel_booking_in_a_group_is_sent_privately(bot: Bot, scope: tuple[str, str]) -> None:
    booking_id = await _booked(bot)
    sent = await say_in(bot, scope, DANA, "cancel booking 1")
    assert [s.body.get("text") for s in sent] == [CANCEL_NOTICE]
    nothing_private(bot.connector.to(scope[0]), IVAN.name, IVAN.email, booking_id)
    [private] = await delivered(bot, DANA)
    assert private.body["text"].startswith("Is this the one?")
    assert [a["data"]["bookingId"] for a in executes(private.cards[0]) if a["verb"] == "booking.cancel"] == [booking_id]

    sent = await say_in(bot, scope, DANA, "cancel booking 7")  # even "no such booking" is said in private
    assert [s.body.get("text") for s in sent] == [CANCEL_NOTICE]
    [private] = await delivered(bot, DANA)
    assert any("no upcoming booking '7'" in t for t in texts(private.cards[0]))


async def test_the_upcoming_button_in_a_group_answers_the_clicker_only(bot: Bot) -> None:
    booking_id = await _booked(bot)
    value = {
        "action": {
            "type": "Action.Execute",
            "id": "",
            "verb": "bookings.upcoming",
            "data": {"verb": "bookings.upcoming"},
        },
        "trigger": "manual",
    }
    status, payload = await bot.invoke(bot.activity("adaptive_card_action", DANA, conversation=CHANNEL, value=value))
    assert (status, payload) == (200, {"statusCode": 200, "type": ACTIVITY_MESSAGE, "value": UPCOMING_NOTICE})
    assert booking_id not in json.dumps(payload)
    [private] = await delivered(bot, DANA)
    assert "Upcoming meetings" in texts(private.cards[0])


PHRASES = {
    "connect": "connect",
    "upcoming": "upcoming",
    "cancel_booking": "cancel booking 1",
    "api_key": "api key",
    "api_keys": "api keys",
}
NOTICES = {
    "connect": SETTINGS_NOTICE,
    "upcoming": UPCOMING_NOTICE,
    "cancel_booking": CANCEL_NOTICE,
    "api_key": KEY_NOTICE,
    "api_keys": KEYS_NOTICE,
}


async def test_every_private_command_answers_a_group_with_a_notice_only(bot: Bot) -> None:
    assert set(PHRASES) == set(PRIVATE_COMMANDS)
    await _booked(bot)
    for kind, phrase in PHRASES.items():
        assert parse(phrase).kind == kind
        sent = await say_in(bot, (GROUP, "group_chat_message_mention"), DANA, phrase)
        assert [s.body.get("text") for s in sent] == [NOTICES[kind]], kind
        assert len(await delivered(bot, DANA)) == 1, kind
    nothing_private(bot.connector.to(GROUP), IVAN.email)
    user = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    assert user.connection_status is ConnectionStatus.CONNECTED


async def test_in_a_personal_chat_upcoming_is_the_answer_as_before(bot: Bot) -> None:
    await _booked(bot)
    sent = await bot.say(DANA, "upcoming")
    assert [s.conversation_id for s in sent] == [DANA.chat]
    assert any(IVAN.email in t for t in texts(sent[0].cards[0]))
    assert (await bot.delivery.run_once()).leased == 0


async def test_the_outbox_worker_sends_a_private_reply_at_once(
    tmp_path: Path, template_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker polls every 30 s here; a private reply wakes it, so the person isn't kept waiting."""
    async with running_bot(tmp_path, template_db, outbox_interval=30) as bot:
        await must_sign_in(bot, monkeypatch)
        await installed(bot, DANA)
        await asyncio.sleep(0.2)  # the worker's first pass is over: it now sleeps for 30 s
        sent = await say_in(bot, (GROUP, "group_chat_message_mention"), DANA, "connect")
        assert [s.body.get("text") for s in sent] == [SIGN_IN_NOTICE]
        for _ in range(100):
            if bot.connector.proactive(DANA.chat, bot.turn_ids):
                break
            await asyncio.sleep(0.05)
        [private] = bot.connector.proactive(DANA.chat, bot.turn_ids)
        assert texts(private.cards[0])[0] == "Connect your Outlook calendar"
