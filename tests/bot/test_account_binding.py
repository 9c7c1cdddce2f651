"""Issue 10, items 1 and 15 in Teams: a Teams SSO token of another account connects nothing (412, so Teams
falls back to its sign-in card, and no token is stored), and an admin's consent granted from the link made
for a host is told to that host in their personal chat with a button to connect."""

from __future__ import annotations

from app import SANDBOX_CLIENT_ID
from graph.sandbox.connector import sandbox_sso_token
from scheduling.domain import ConnectionStatus, OutboxItem
from tests.bot.harness import DANA, Bot
from tests.cards.checks import texts, walk


async def test_an_sso_exchange_carrying_someone_elses_token_connects_nothing(bot: Bot) -> None:
    eve = bot.emulator.ensure_user("eve.colleague@contoso.example", "Eve Colleague", tenant_id=DANA.tenant)
    token = sandbox_sso_token(
        oid=eve.id,
        tenant_id=DANA.tenant,
        upn=eve.upn,
        name=eve.display_name,
        audience=f"api://botid-{SANDBOX_CLIENT_ID}",
    )
    value = {"id": "sso-eve-for-dana", "connectionName": "graph", "token": token}
    status, body = await bot.invoke(bot.activity("signin_token_exchange", DANA, value=value))
    assert status == 412 and body["id"] == value["id"]
    assert "different Microsoft account" in body["failureDetail"]
    dana = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    assert dana is not None and dana.connection_status is not ConnectionStatus.CONNECTED
    assert await bot.repos.tokens.load_token_cache(dana.id) is None
    await bot.delivery.run_once()
    assert bot.connector.proactive(DANA.chat, bot.turn_ids) == []  # no "you're connected"


async def test_an_admin_consent_is_told_to_the_host_with_a_button_to_connect(bot: Bot) -> None:
    await bot.say(DANA, "help")  # Dana has a chat with the bot
    dana = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    assert dana is not None and dana.connection_status is not ConnectionStatus.CONNECTED
    await bot.repos.outbox.enqueue(
        [
            OutboxItem(
                "host.consent_granted", DANA.tenant, {"hostId": dana.id, "hostName": dana.display_name}, "consent:1"
            )
        ]
    )
    await bot.delivery.run_once()
    [sent] = bot.connector.proactive(DANA.chat, bot.turn_ids)
    card = sent.cards[0]
    assert texts(card)[:2] == ["Your IT admin approved Slotwise", "You can connect your calendar now."]
    [url] = [n["url"] for n in walk(card) if n.get("type") == "Action.OpenUrl" and n.get("title") == "Connect Outlook"]
    assert url.startswith(f"{bot.base_url}/auth/start?state=")

    await bot.say(DANA, "connect")  # connected meanwhile: nothing to say
    await bot.repos.outbox.enqueue(
        [
            OutboxItem(
                "host.consent_granted", DANA.tenant, {"hostId": dana.id, "hostName": dana.display_name}, "consent:2"
            )
        ]
    )
    await bot.delivery.run_once()
    assert len(bot.connector.proactive(DANA.chat, bot.turn_ids)) == 1
