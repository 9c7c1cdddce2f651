"""POST /api/messages at the edge: what is not an activity is a 4xx, a token in sandbox mode is a 401 (never
a 500), invokes the bot does not implement are acknowledged, installs store the conversation reference."""

from __future__ import annotations

import jwt
import pytest

from tests.bot.harness import BOT_ID, DANA, IVAN, Bot, checked, fixture
from tests.cards.checks import texts


async def test_head_probe_answers_200(bot: Bot) -> None:
    resp = await bot.client.head("/api/messages")
    assert resp.status == 200
    resp = await bot.client.get("/api/messages")
    assert resp.status == 405


@pytest.mark.parametrize("raw", ["{not json", "\xff\xfe", ""])
async def test_malformed_json_is_400(bot: Bot, raw: str) -> None:
    resp = await bot.client.post(
        "/api/messages", data=raw.encode("latin-1"), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert (await resp.json())["status"] == 400


@pytest.mark.parametrize(
    "body",
    [
        [1, 2, 3],
        "message",
        {"text": "no type"},
        {"type": "", "serviceUrl": "http://127.0.0.1:1/", "conversation": {"id": "a"}},
        {"type": "message", "conversation": {"id": "a"}},
        {"type": "message", "serviceUrl": "ftp://nope/", "conversation": {"id": "a"}},
        {"type": "message", "serviceUrl": "http://127.0.0.1:1/"},
        {"type": "message", "serviceUrl": "http://127.0.0.1:1/", "conversation": {"id": 7}},
    ],
)
async def test_a_body_that_is_not_an_activity_is_400(bot: Bot, body: object) -> None:
    status, payload = await bot.post(body)
    assert status == 400
    assert payload["title"] == "Bad request"


async def test_wrong_content_type_is_415(bot: Bot) -> None:
    resp = await bot.client.post(
        "/api/messages", data=b"type=message", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert resp.status == 415


@pytest.mark.parametrize(
    "token",
    [
        "Bearer not-a-jwt",
        "Bearer " + jwt.encode({"iss": "https://api.botframework.com", "aud": "x"}, "k" * 32, algorithm="HS256"),
        "Basic dXNlcjpwYXNz",
    ],
)
async def test_sandbox_request_with_a_token_is_401_not_500(bot: Bot, token: str) -> None:
    body = bot.activity("personal_message", DANA, text="help")
    status, payload = await bot.post(body, headers={"Authorization": token})
    assert status == 401
    assert "sandbox" in payload["detail"]
    assert bot.connector.sent == []


async def test_sandbox_request_without_a_token_is_served(bot: Bot) -> None:
    sent = await bot.say(DANA, "help")
    assert len(sent) == 1
    assert sent[0].conversation_id == DANA.chat
    assert sent[0].body["replyToId"]


async def test_unknown_invoke_is_acknowledged_with_501(bot: Bot) -> None:
    status, payload = await bot.invoke(bot.activity("unknown_invoke", DANA))
    assert status == 501
    assert payload is None
    assert bot.connector.sent == []


async def test_a_token_exchange_whose_token_names_nobody_gets_412_so_teams_falls_back(bot: Bot) -> None:
    status, body = await bot.invoke(bot.activity("signin_token_exchange", DANA))
    assert status == 412 and body["failureDetail"]


@pytest.mark.parametrize("kind", ["messageReaction", "typing", "event", "endOfConversation", "somethingNew"])
async def test_other_activity_types_are_acknowledged_and_ignored(bot: Bot, kind: str) -> None:
    body = bot.activity("personal_message", DANA, type=kind)
    status, _ = await bot.post(body)
    assert status == 200
    assert bot.connector.sent == []


async def test_unknown_verb_is_refused_at_the_edge_with_an_error_card(bot: Bot) -> None:
    value = {"action": {"type": "Action.Execute", "verb": "admin.deleteEverything", "data": {}}, "trigger": "manual"}
    status, payload = await bot.invoke(bot.activity("adaptive_card_action", DANA, value=value))
    assert status == 200
    assert payload["statusCode"] == 200
    card = checked(payload["value"])
    assert texts(card)[0] == "I can't do that"  # a request the bot refuses, not a failure
    assert any("isn't supported" in t for t in texts(card))


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"action": {"type": "Action.Submit", "verb": "help", "data": {}}},
        {"action": {"type": "Action.Execute", "verb": "link.edit", "data": {"verb": "link.edit"}}},
        {
            "action": {
                "type": "Action.Execute",
                "verb": "slots.pick",
                "data": {"linkId": "x", "start": "yesterday", "tz": "Europe/London", "duration": 30},
            }
        },
        {"action": {"type": "Action.Execute", "verb": "slots.week", "data": {"linkId": "x", "tz": "Mars/Olympus"}}},
        {"action": {"type": "Action.Execute", "verb": "links.list", "data": {"page": "many"}}},
        {"action": {"type": "Action.Execute", "verb": "help", "data": {"verb": "connect"}}},
    ],
)
async def test_malformed_card_actions_get_an_error_card(bot: Bot, value: object) -> None:
    status, payload = await bot.invoke(bot.activity("adaptive_card_action", DANA, value=value))
    assert status == 200
    card = checked(payload["value"])
    assert texts(card)[0] == "I can't do that"


async def test_card_action_runs_the_verb(bot: Bot) -> None:
    status, payload = await bot.invoke(bot.activity("adaptive_card_action", DANA))
    assert status == 200
    assert payload["type"] == "application/vnd.microsoft.card.adaptive"
    assert "What I can do" in texts(checked(payload["value"]))


async def test_installation_update_stores_the_personal_conversation_reference(bot: Bot) -> None:
    status, _ = await bot.post(bot.activity("installation_update", DANA))
    assert status == 200
    user = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    assert user is not None and user.email == DANA.email  # from the Teams roster
    stored = user.conversation_reference
    assert stored is not None
    assert stored["tenantId"] == DANA.tenant
    reference = stored["reference"]
    assert reference["conversation"]["id"] == DANA.chat
    assert reference["serviceUrl"] == bot.connector.url
    assert reference["bot"]["id"] == BOT_ID
    assert "activityId" not in reference


async def test_bot_added_to_a_personal_chat_says_hello_and_stores_the_reference(bot: Bot) -> None:
    sent = await bot.send(bot.activity("conversation_update_bot_added", DANA))
    assert len(sent) == 1
    assert "Slotwise" in sent[0].body["text"]
    assert "What I can do" in texts(sent[0].cards[0])
    user = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    assert user is not None and user.conversation_reference is not None


async def test_people_joining_a_chat_is_not_a_reason_to_talk(bot: Bot) -> None:
    body = bot.activity("conversation_update_bot_added", DANA)
    body["membersAdded"] = [{"id": IVAN.teams_id, "aadObjectId": IVAN.aad}]
    status, _ = await bot.post(body)
    assert status == 200
    assert bot.connector.sent == []
    assert bot.connector.roster_lookups == 0


async def test_the_reference_is_rewritten_only_when_it_changes(bot: Bot) -> None:
    await bot.say(DANA, "help")
    user = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    await bot.say(DANA, "help")
    again = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    assert user is not None and again is not None
    assert again.conversation_reference == user.conversation_reference
    assert bot.connector.roster_lookups == 1  # the roster is read once, on first contact


async def test_a_channel_message_never_becomes_the_notification_target(bot: Bot) -> None:
    channel = fixture("channel_message_mention")["conversation"]["id"]
    await bot.say(DANA, "<at>Slotwise</at> my links", conversation=channel, name="channel_message_mention")
    user = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    assert user is not None and user.conversation_reference is None


async def test_activity_without_tenant_or_account_gets_an_explanation(bot: Bot) -> None:
    body = bot.activity("personal_message", DANA, text="my links")
    body["channelData"] = {}
    body["conversation"].pop("tenantId")
    sent = await bot.send(body)
    assert any("can't tell who you are" in t for t in texts(sent[0].cards[0]))


async def test_uninstalling_forgets_the_notification_target(bot: Bot) -> None:
    await bot.post(bot.activity("installation_update", DANA))
    status, _ = await bot.post(bot.activity("installation_update", DANA, action="remove"))
    assert status == 200
    user = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    assert user is not None and not user.conversation_reference
