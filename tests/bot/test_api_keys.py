"""API keys in chat (issue 13): "api key" in a personal chat makes a key and shows it once (it works against
/api/v1 at once), "api keys" lists them with their last use and no key, Revoke stops a key at once (401), and
only its owner can revoke it. In a group chat the answer is private, and the key itself is never drawn there
nor written into the outbox: the person gets a Create key button in their own chat."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app import API_WIRING
from bot.api_keys import KEY_NOTICE
from bot.commands import parse
from cards import escape_markdown
from cards.apikeys import KEY_INPUT
from scheduling.api_keys import SHOWN_PREFIX
from storage.models import OutboxRow
from tests.bot.harness import DANA, IVAN, Bot
from tests.bot.test_private import GROUP, delivered, installed, say_in
from tests.cards.checks import execute_by_title, input_by_id, texts


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("api key", "api_key"),
        ("create an API key", "api_key"),
        ("new api-key", "api_key"),
        ("api keys", "api_keys"),
        ("show my API keys", "api_keys"),
    ],
)
def test_the_commands_are_understood(text: str, kind: str) -> None:
    assert parse(text).kind == kind


async def _api(bot: Bot, secret: str) -> int:
    resp = await bot.client.get("/api/v1/event-types", headers={"Authorization": f"Bearer {secret}"})
    await resp.read()
    return resp.status


async def test_a_key_is_shown_once_listed_with_its_last_use_and_revoked(bot: Bot) -> None:
    card = await bot.card(DANA, "api key")
    secret = input_by_id(card, KEY_INPUT)["value"]
    assert secret.startswith("swk_") and any("shown only this once" in t for t in texts(card))
    assert all(a.get("associatedInputs") == "none" for a in card["actions"] if a["type"] == "Action.Execute")
    assert await _api(bot, secret) == 200

    listed = await bot.card(DANA, "api keys")
    wire = json.dumps(listed)
    # the prefix, as drawn (markdown-escaped: a key's random characters include '_' and '-')
    assert secret not in wire and any(escape_markdown(secret[:SHOWN_PREFIX]) in t for t in texts(listed))
    assert "never" not in [t for t in texts(listed)]  # it was used just now
    revoke = execute_by_title(listed, "Revoke")

    stranger = await bot.execute(IVAN, revoke)  # someone else clicking a forwarded card
    assert any("No such API key" in t for t in texts(stranger))
    assert await _api(bot, secret) == 200

    after = await bot.execute(DANA, revoke)
    assert any("Revoked" in t for t in texts(after)) and any("You have no API keys" in t for t in texts(after))
    assert await _api(bot, secret) == 401


async def test_in_a_group_the_key_is_offered_privately_and_never_stored(bot: Bot) -> None:
    await installed(bot, DANA)
    sent = await say_in(bot, (GROUP, "group_chat_message_mention"), DANA, "api key")
    assert [s.body.get("text") for s in sent] == [KEY_NOTICE]
    assert not any(s.body.get("attachments") for s in bot.connector.to(GROUP))
    async with bot.repos.db.read() as s:
        payloads = [json.dumps(p) for p in (await s.scalars(select(OutboxRow.payload))).all()]
    assert payloads and not any("swk_" in p for p in payloads)  # no key was made, none was stored
    assert await bot.app[API_WIRING].service.keys.list(await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)) == []

    [private] = await delivered(bot, DANA)
    offer = private.cards[0]
    made = await bot.execute(DANA, execute_by_title(offer, "Create key"))  # clicked in the personal chat
    assert input_by_id(made, KEY_INPUT)["value"].startswith("swk_")
