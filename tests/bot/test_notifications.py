"""Host notifications through the outbox, the whole app (the core's Teams delivery with the TeamsNotifier):
delivered to the host's personal chat exactly once, retried with back-off after a connector failure (still
once), given up after too many failures, and held (reported once) until the host has a chat with the bot,
then delivered at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from app import SERVICES
from scheduling.booking import OUTLOOK_MOVE_REFUSED
from scheduling.delivery import Outcome
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
    runner = bot.delivery
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
    runner = bot.delivery
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
    runner = bot.delivery
    runner.policy = replace(runner.policy, max_attempts=2)
    bot.connector.failures.extend([500, 500, 500])
    base = runner.clock
    await runner.run_once()
    runner.clock = Later(base, timedelta(minutes=1))
    await runner.run_once()
    runner.clock = Later(base, timedelta(days=1))
    await runner.run_once()
    assert bot.connector.failed_sends == 2
    assert headings(bot) == []


async def booked_before_dana_has_a_chat(bot: Bot) -> None:
    """Dana makes a link in a channel (no personal chat with Slotwise yet) and Ivan books it there."""
    channel = fixture("channel_message_mention")["conversation"]["id"]
    created = (
        await bot.say(
            DANA,
            "<at>Slotwise</at> make a 30-min link called Intro",
            conversation=channel,
            name="channel_message_mention",
        )
    )[0].cards[0]
    shared = await bot.execute(DANA, execute_by_title(created, "Preview"), conversation=channel)
    picker = await bot.execute(IVAN, shared["refresh"]["action"], trigger="automatic", conversation=channel)
    form = await bot.execute(IVAN, times(picker)[0])
    await bot.execute(IVAN, execute_by_title(form, "Confirm booking"), form_values(form))


async def test_a_host_without_a_chat_is_notified_once_they_install(bot: Bot) -> None:
    await booked_before_dana_has_a_chat(bot)
    runner = bot.delivery
    held = await runner.run_once()
    assert [a.outcome for a in held.attempts] == [Outcome.HELD]
    assert bot.connector.to(DANA.chat) == []
    runner.clock = Later(runner.clock, timedelta(days=1))
    assert (await runner.run_once()).leased == 0  # held: not retried, however long it waits

    await bot.post(bot.activity("installation_update", DANA))
    assert (await runner.run_once()).leased == 1  # released by the install: due at once
    assert headings(bot) == ["New booking from Ivan Invitee"]


async def test_reschedule_and_cancel_are_notified_too(bot: Bot) -> None:
    _form, booked = await book(bot, await shared_picker(bot))
    question = await bot.execute(IVAN, times(await bot.execute(IVAN, execute_by_title(booked, "Reschedule")))[0])
    moved = await bot.execute(IVAN, execute_by_title(question, "Move it"))
    cancel = next(a for a in executes(moved) if a["verb"] == "booking.cancel")
    await bot.execute(IVAN, cancel, {cancel["data"]["reasonInputId"]: "Double-booked, sorry"})
    await bot.delivery.run_once()
    assert sorted(headings(bot)) == sorted(
        ["New booking from Ivan Invitee", "Ivan Invitee's meeting was moved", "Ivan Invitee cancelled"]
    )


async def test_the_background_worker_delivers_without_help(tmp_path: Path, template_db: Path) -> None:
    async with running_bot(tmp_path, template_db, outbox_interval=0.05) as bot:
        await book(bot, await shared_picker(bot))
        for _ in range(100):
            if headings(bot):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert headings(bot) == ["New booking from Ivan Invitee"]


async def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("it did not happen in time")


async def test_a_held_notice_is_logged_once_not_at_every_pass(
    tmp_path: Path, template_db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Quiet logs: the worker passes every 20 ms; the notice for a host with no chat is reported once, at INFO,
    and nothing is retried or logged again while it waits."""
    caplog.set_level(logging.DEBUG, logger="slotwise.background")
    async with running_bot(tmp_path, template_db, outbox_interval=0.02) as bot:
        await booked_before_dana_has_a_chat(bot)
        await eventually(lambda: any("held" in r.getMessage() for r in caplog.records))
        await asyncio.sleep(0.5)  # 25 more passes
        lines = [
            (r.levelno, r.getMessage())
            for r in caplog.records
            if r.name == "slotwise.background" and r.getMessage().startswith("teams outbox")
        ]
        assert len(lines) == 1, lines
        level, message = lines[0]
        assert level == logging.INFO and "(booking.created) is held until its recipient can be reached" in message
        assert bot.connector.to(DANA.chat) == []


async def test_a_held_notice_goes_out_right_after_the_host_first_messages_the_bot(
    tmp_path: Path, template_db: Path
) -> None:
    """The worker polls every 30 s here: the host's first message releases the notice and wakes it."""
    async with running_bot(tmp_path, template_db, outbox_interval=30) as bot:
        await booked_before_dana_has_a_chat(bot)
        assert [a.outcome for a in (await bot.delivery.run_once()).attempts] == [Outcome.HELD]
        loop = asyncio.get_running_loop()
        started = loop.time()
        await bot.say(DANA, "hello")
        await eventually(lambda: headings(bot) == ["New booking from Ivan Invitee"])
        assert loop.time() - started < 5  # well before the next poll
        await asyncio.sleep(0.1)
        assert headings(bot) == ["New booking from Ivan Invitee"]


async def test_a_broken_connection_is_told_to_the_host_once(bot: Bot) -> None:
    picker = await shared_picker(bot)
    bot.emulator.set_token_error(DANA.email, "invalid_grant")
    bot.emulator.expire_tokens(DANA.email)
    bot.emulator.revoke_refresh_tokens(DANA.email)
    await bot.stale_busy_cache(DANA)  # slot views read the calendar again (as when Graph reports missed changes)
    for _ in range(2):  # two invitees look: one notice
        await bot.execute(IVAN, picker["refresh"]["action"], trigger="automatic")
    await bot.delivery.run_once()
    [sent] = notifications(bot)
    card = sent.cards[0]
    assert texts(card)[0] == "Reconnect your Outlook calendar"
    reconnect = next(a for a in card["actions"] if a["title"] == "Reconnect")
    assert reconnect["url"].startswith(f"{bot.base_url}/auth/start?state=")


async def _enqueue(bot: Bot, kind: str, key: str) -> None:
    host = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    await bot.repos.outbox.enqueue(
        [
            OutboxItem(
                kind, DANA.tenant, {"hostId": host.id, "hostName": host.display_name, "timeZone": host.time_zone}, key
            )
        ]
    )


async def test_a_finished_web_sign_in_is_confirmed_in_chat(bot: Bot) -> None:
    await bot.say(DANA, "connect")
    await _enqueue(bot, "host.connected", "host.connected:test")
    await bot.delivery.run_once()
    assert headings(bot) == ["You're connected"]


async def test_notices_that_no_longer_apply_or_are_unknown_are_not_sent(bot: Bot) -> None:
    await bot.say(DANA, "connect")  # connected: a "reconnect" notice is out of date
    await _enqueue(bot, "host.reconnect", "host.reconnect:test")
    await _enqueue(bot, "host.teleported", "host.teleported:test")
    runner = bot.delivery
    report = await runner.run_once()
    assert sorted(a.outcome for a in report.attempts) == [Outcome.DEAD, Outcome.OBSOLETE]
    runner.clock = Later(runner.clock, timedelta(days=1))
    assert (await runner.run_once()).leased == 0  # neither is leased again: one done, one dead
    assert headings(bot) == []


async def test_an_outlook_move_onto_another_booking_is_told_once_and_not_after_the_booking_changed(bot: Bot) -> None:
    await book(bot, await shared_picker(bot))
    await bot.delivery.run_once()
    services = bot.app[SERVICES]
    host = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    [booking], _links = await services.booking.upcoming(host)
    later = booking.start + timedelta(days=1)
    notice = await services.booking.outlook_move_refused(booking, later, later + (booking.end - booking.start))
    assert notice.kind == OUTLOOK_MOVE_REFUSED and notice.payload["hostId"] == host.id
    assert await bot.repos.outbox.enqueue([notice, notice]) == 1  # its key: one notice per move
    await bot.delivery.run_once()
    assert headings(bot)[-1] == "The meeting with Ivan Invitee was moved in Outlook, but not in Slotwise"
    told = len(notifications(bot))
    stale = replace(notice, payload={**notice.payload, "version": booking.version - 1}, dedupe_key="stale")
    await bot.repos.outbox.enqueue([stale])  # the booking changed since: nothing to say any more
    report = await bot.delivery.run_once()
    assert [a.outcome for a in report.attempts] == [Outcome.OBSOLETE] and len(notifications(bot)) == told
