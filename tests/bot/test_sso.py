"""Teams single sign-on: ``signin/tokenExchange`` (teams-facts §1.7) against the emulator's login app.

Success connects the sender and says so once, however many Teams clients send the same exchange;
consent and MFA answer 412 (Teams falls back to its sign-in card) and explain in chat; a malformed
exchange is refused; nothing is ever a 500.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from app import SANDBOX_CLIENT_ID
from graph.sandbox.connector import sandbox_sso_token
from scheduling.domain import ConnectionStatus, User
from tests.bot.harness import DANA, Bot, Person, Sent
from tests.cards.checks import texts, walk


def sso_token(bot: Bot, person: Person, name: str | None = None) -> str:
    """The person's own Teams SSO token: their mailbox is their Entra account (same object id and tenant)."""
    mailbox = bot.emulator.ensure_user(
        person.email, person.name, person.zone, tenant_id=person.tenant, user_id=person.aad
    )
    return sandbox_sso_token(
        oid=mailbox.id,
        tenant_id=mailbox.tenant_id,
        upn=mailbox.upn,
        name=name or mailbox.display_name,
        audience=f"api://botid-{SANDBOX_CLIENT_ID}",
    )


def exchange(bot: Bot, person: Person, value: Any) -> dict[str, Any]:
    return bot.activity("signin_token_exchange", person, value=value)


def value_for(bot: Bot, person: Person, exchange_id: str | None = None) -> dict[str, Any]:
    return {"id": exchange_id or f"sso-{uuid.uuid4()}", "connectionName": "graph", "token": sso_token(bot, person)}


async def user_of(bot: Bot, person: Person) -> User:
    user: User | None = await bot.repos.users.get_by_aad(person.tenant, person.aad)
    assert user is not None
    return user


def chat_cards(bot: Bot, person: Person) -> list[dict[str, Any]]:
    return [card for sent in bot.connector.to(person.chat) for card in sent.cards]


def urls(card: dict[str, Any]) -> list[str]:
    return [node["url"] for node in walk(card) if node.get("type") == "Action.OpenUrl"]


async def connected_notices(bot: Bot, person: Person) -> list[Sent]:
    await bot.delivery.run_once()
    return [
        s
        for s in bot.connector.proactive(person.chat, bot.turn_ids)
        if s.cards and texts(s.cards[0])[0] == "You're connected"
    ]


async def test_an_exchange_connects_the_user_and_says_so_once(bot: Bot) -> None:
    value = value_for(bot, DANA)
    first, second = await asyncio.gather(
        bot.invoke(exchange(bot, DANA, value)), bot.invoke(exchange(bot, DANA, dict(value)))
    )
    assert first == second == (200, {"id": value["id"], "connectionName": "graph"})
    user = await user_of(bot, DANA)
    assert user.connection_status is ConnectionStatus.CONNECTED
    assert await bot.repos.tokens.load_token_cache(user.id) is not None

    # A third copy a moment later: 200 at once, without asking Microsoft again (which would now fail).
    bot.emulator.set_token_error(DANA.email, "invalid_grant")
    assert await bot.invoke(exchange(bot, DANA, dict(value))) == (200, {"id": value["id"], "connectionName": "graph"})
    assert len(await connected_notices(bot, DANA)) == 1
    assert chat_cards(bot, DANA) == [n.cards[0] for n in await connected_notices(bot, DANA)]  # nothing else said


async def test_consent_required_answers_412_and_sends_the_admin_consent_card(bot: Bot) -> None:
    value = value_for(bot, DANA)
    bot.emulator.set_token_error(DANA.email, "consent_required")
    status, body = await bot.invoke(exchange(bot, DANA, value))
    assert status == 412
    assert body["id"] == value["id"] and body["connectionName"] == "graph" and body["failureDetail"]
    [card] = chat_cards(bot, DANA)
    assert texts(card)[0] == "Your IT admin needs to approve Slotwise"
    assert any("adminconsent" in url for url in urls(card))
    assert (await user_of(bot, DANA)).connection_status is not ConnectionStatus.CONNECTED

    # The admin approved: a retry with the same id is exchanged afresh (failures are not remembered). It
    # carries a new token, as Teams' would: MSAL throttles a failed on-behalf-of request repeated as is.
    bot.emulator.set_token_error(DANA.email, None)
    retry = {**value, "token": sso_token(bot, DANA, name="Dana (after consent)")}
    assert (await bot.invoke(exchange(bot, DANA, retry)))[0] == 200
    assert (await user_of(bot, DANA)).connection_status is ConnectionStatus.CONNECTED
    assert len(await connected_notices(bot, DANA)) == 1


async def test_mfa_answers_412_and_sends_a_sign_in_link_with_the_claims(bot: Bot) -> None:
    value = value_for(bot, DANA)
    bot.emulator.set_token_error(DANA.email, "mfa_required")
    status, body = await bot.invoke(exchange(bot, DANA, value))
    assert status == 412 and body["failureDetail"]
    [card] = chat_cards(bot, DANA)
    [link] = [u for u in urls(card) if "/auth/start?" in u]
    assert link.startswith(f"{bot.base_url}/auth/start?state=") and "claims=" in link
    assert await connected_notices(bot, DANA) == []


async def test_other_sign_in_failures_answer_412_without_a_card(bot: Bot) -> None:
    value = value_for(bot, DANA)
    bot.emulator.set_token_error(DANA.email, "invalid_grant")
    status, body = await bot.invoke(exchange(bot, DANA, value))
    assert status == 412 and body["id"] == value["id"] and body["failureDetail"]
    assert chat_cards(bot, DANA) == []


async def test_malformed_exchanges_are_refused_never_a_500(bot: Bot) -> None:
    good = value_for(bot, DANA)
    for value in (
        {"id": "x", "connectionName": "graph"},
        {"id": "x", "token": ""},
        {"token": good["token"]},
        {"id": "x", "token": 42},
        None,
        "not an object",
    ):
        status, body = await bot.invoke(exchange(bot, DANA, value))
        assert status == 400, (value, status, body)
        assert body["failureDetail"]
    status, body = await bot.invoke(exchange(bot, DANA, {"id": "y", "connectionName": "graph", "token": "not-a-jwt"}))
    assert status == 412 and body["failureDetail"]
    assert (await user_of(bot, DANA)).connection_status is not ConnectionStatus.CONNECTED


async def test_verify_state_is_acknowledged(bot: Bot) -> None:
    body = exchange(bot, DANA, {"state": "123456"})
    body["name"] = "signin/verifyState"
    status, _ = await bot.invoke(body)
    assert status == 200
    assert chat_cards(bot, DANA) == []
