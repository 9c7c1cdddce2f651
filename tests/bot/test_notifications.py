"""Host notifications through the outbox: delivered to the host's personal chat exactly once, retried
with back-off after a connector failure (still once), given up after too many failures, and held until
the host has a chat with the bot."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from scheduling.domain import OutboxItem
from scheduling.ports import Clock
from tests.bot.harness import DANA, IVAN, Bot, Sent, fixture, form_values, running_bot
from tests.bot.test_booking import book, shared_picker, times
from tests.cards.checks import execute_by_title, executes, texts


class Later:
    """The real clock, shifted: lets a test reach an item's retry time without waiting for it."""

    def __init__(self, clock: Clock, delta: timedelta) -> None:
        self.clock, self.delta = clock, delta

    def now(self) -> datetime:
        return self.clock.now() + self.delta


def notifications(bot: Bot) -> list[Sent]:
    """Proactive messages to Dana's personal chat (not replies to what she typed)."""
    return bot.connector.proactive(DANA.chat, bot.turn_ids)


def headings(bot: Bot) -> list[str]:
    return [texts(s.cards[0])[0] for s in notifications(bot)]


async def test_a_booking_notifies_the_host_once(bot: Bot) -> None:
    await book(bot, await shared_picker(bot))
    runner = bot.runtime.runner
    assert headings(bot) == []  # nothing is sent inline: the outbox does it
    await runner.run_once()
    assert headings(bot) == ["New booking from Ivan Invitee"]
    [sent] = notifications(bot)
    assert sent.body["channelData"] == {"tenant": {"id": DANA.tenant}}
    assert sent.body["conversation"]["id"] == DANA.chat
    assert "Join Teams meeting" in [a["title"] for a in sent.cards[0]["actions"]]
    await runner.run_once()
    runner.clock = Later(runner.clock, timedelta(hours=3))
    await runner.run_once()
    assert headings(bot) == ["New booking from Ivan Invitee"]


async def test_a_connector_failure_is_retried_and_still_delivered_once(bot: Bot) -> None:
    await book(bot, await shared_picker(bot))
    runner = bot.runtime.runner
    bot.connector.failures.append(503)
    await runner.run_once()
    assert bot.connector.failed_sends == 1
    assert headings(bot) == []
    await runner.run_once()  # not due yet: the retry waits
    assert bot.connector.failed_sends == 1
    runner.clock = Later(runner.clock, timedelta(seconds=31))
    await runner.run_once()
    await runner.run_once()
    assert headings(bot) == ["New booking from Ivan Invitee"]
    assert bot.connector.failed_sends == 1


async def test_delivery_gives_up_after_the_last_attempt(bot: Bot) -> None:
    await book(bot, await shared_picker(bot))
    runner = bot.runtime.runner
    runner.max_attempts = 2
    bot.connector.failures.extend([500, 500, 500])
    base = runner.clock
    await runner.run_once()
    runner.clock = Later(base, timedelta(minutes=1))
    await runner.run_once()
    runner.clock = Later(base, timedelta(days=1))
    await runner.run_once()
    assert bot.connector.failed_sends == 2
    assert headings(bot) == []


async def test_a_host_without_a_chat_is_notified_once_they_install(bot: Bot) -> None:
    channel = fixture("channel_message_mention")["conversation"]["id"]
    created = (await bot.say(DANA, "<at>Slotwise</at> make a 30-min link called Intro", conversation=channel,
                             name="channel_message_mention"))[0].cards[0]
    shared = await bot.execute(DANA, execute_by_title(created, "Preview"), conversation=channel)
    picker = await bot.execute(IVAN, shared["refresh"]["action"], trigger="automatic", conversation=channel)
    form = await bot.execute(IVAN, times(picker)[0])
    await bot.execute(IVAN, execute_by_title(form, "Confirm booking"), form_values(form))
    runner = bot.runtime.runner
    await runner.run_once()
    assert bot.connector.to(DANA.chat) == []

    await bot.post(bot.activity("installation_update", DANA))
    runner.clock = Later(runner.clock, timedelta(minutes=1))
    await runner.run_once()
    assert headings(bot) == ["New booking from Ivan Invitee"]


async def test_reschedule_and_cancel_are_notified_too(bot: Bot) -> None:
    _form, booked = await book(bot, await shared_picker(bot))
    question = await bot.execute(IVAN, times(await bot.execute(IVAN, execute_by_title(booked, "Reschedule")))[0])
    moved = await bot.execute(IVAN, execute_by_title(question, "Move it"))
    cancel = next(a for a in executes(moved) if a["verb"] == "booking.cancel")
    await bot.execute(IVAN, cancel, {cancel["data"]["reasonInputId"]: "Double-booked, sorry"})
    await bot.runtime.runner.run_once()
    assert sorted(headings(bot)) == sorted(["New booking from Ivan Invitee", "Ivan Invitee's meeting was moved",
                                            "Ivan Invitee cancelled"])


async def test_the_background_worker_delivers_without_help(tmp_path: Path, template_db: Path) -> None:
    async with running_bot(tmp_path, template_db, outbox_interval=0.05) as bot:
        await book(bot, await shared_picker(bot))
        for _ in range(100):
            if headings(bot):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert headings(bot) == ["New booking from Ivan Invitee"]


async def test_a_broken_connection_is_told_to_the_host_once(bot: Bot) -> None:
    picker = await shared_picker(bot)
    bot.emulator.set_token_error(DANA.email, "invalid_grant")
    bot.emulator.expire_tokens(DANA.email)
    bot.emulator.revoke_refresh_tokens(DANA.email)
    bot.runtime.bot.deps.booking.forget_busy()  # as if the 30 s slot-view cache had run out
    for _ in range(2):  # two invitees look: one notice
        await bot.execute(IVAN, picker["refresh"]["action"], trigger="automatic")
    await bot.runtime.runner.run_once()
    [sent] = notifications(bot)
    card = sent.cards[0]
    assert texts(card)[0] == "Reconnect your Outlook calendar"
    reconnect = next(a for a in card["actions"] if a["title"] == "Reconnect")
    assert reconnect["url"].startswith(f"{bot.base_url}/auth/start?state=")


async def _enqueue(bot: Bot, kind: str, key: str) -> None:
    host = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    await bot.repos.outbox.enqueue([OutboxItem(kind, DANA.tenant, {"hostId": host.id, "hostName": host.display_name,
                                                                    "timeZone": host.time_zone}, key)])


async def test_a_finished_web_sign_in_is_confirmed_in_chat(bot: Bot) -> None:
    await bot.say(DANA, "connect")
    await _enqueue(bot, "host.connected", "host.connected:test")
    await bot.runtime.runner.run_once()
    assert headings(bot) == ["You're connected"]


async def test_notices_that_no_longer_apply_or_are_unknown_are_not_sent(bot: Bot) -> None:
    await bot.say(DANA, "connect")  # connected: a "reconnect" notice is out of date
    await _enqueue(bot, "host.reconnect", "host.reconnect:test")
    await _enqueue(bot, "host.teleported", "host.teleported:test")
    runner = bot.runtime.runner
    await runner.run_once()
    runner.clock = Later(runner.clock, timedelta(days=1))
    assert await runner.run_once() == 0  # neither is leased again: one done, one dead
    assert headings(bot) == []
