"""Every command phrasing class, typed in Teams, answered by the whole sandbox app."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from scheduling.domain import ConnectionStatus
from scheduling.errors import NotFound
from scheduling.links import MAX_TITLE, title_problem
from scheduling.rules import DURATION_RULE
from tests.bot.harness import DANA, MALLORY, Bot, fixture
from tests.cards.checks import execute_by_title, executes, nodes, texts, unescape


def facts_of(card: dict[str, Any]) -> dict[str, str]:
    return {f["title"]: f["value"] for fs in nodes(card, "FactSet") for f in fs["facts"]}


def open_urls(card: dict[str, Any]) -> dict[str, str]:
    return {a["title"]: a["url"] for a in nodes(card, "Action.OpenUrl")}


@pytest.mark.parametrize("text", ["help", "?", "Hi", "what can you do?", ""])
async def test_help_phrasings(bot: Bot, text: str) -> None:
    card = await bot.card(DANA, text)
    assert "What I can do" in texts(card)


async def test_anything_else_gets_help_with_the_closest_command(bot: Bot) -> None:
    sent = await bot.say(DANA, "upcomng")
    assert sent[0].body["text"].startswith("Sorry, I didn't understand")
    card = sent[0].cards[0]
    assert "Did you mean **upcoming**?" in texts(card)
    answer = await bot.execute(DANA, execute_by_title(card, "Yes, do that"))
    assert "Upcoming meetings" in texts(answer)


async def test_gibberish_gets_plain_help(bot: Bot) -> None:
    card = (await bot.say(DANA, "xyzzy plugh"))[0].cards[0]
    assert not any("Did you mean" in t for t in texts(card))
    assert "What I can do" in texts(card)


async def test_connect_shows_the_detected_zone_and_hours(bot: Bot) -> None:
    card = await bot.card(DANA, "connect my outlook")
    assert texts(card)[0] == "You're connected"
    assert facts_of(card) == {
        "Time zone": "Europe/London",
        "Working hours": "Mon\u2013Fri 08:00\u201317:00",
        "Busy time from": "Calendar (main)",  # the calendars that count, listed from Graph (issue 16 §4)
        "New bookings go to": "Calendar (main)",
    }
    user = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    assert user.connection_status is ConnectionStatus.CONNECTED
    assert bot.emulator.get_user(DANA.email) is not None  # the sandbox gave Dana a mailbox


async def test_disconnect_says_so_and_forgets_the_connection(bot: Bot) -> None:
    await bot.say(DANA, "connect")
    sent = await bot.say(DANA, "sign out")
    assert sent[0].body["text"].startswith("Disconnected")
    user = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    assert user.connection_status is ConnectionStatus.NOT_CONNECTED


@pytest.mark.parametrize(
    ("text", "title", "slug", "rules"),
    [
        (
            "make a 30-min link",
            "30-minute meeting",
            "30-minute-meeting",
            {"Length": "30 min", "Buffers": "none", "Minimum notice": "4 h", "Bookable": "the next 60 days"},
        ),
        (
            "new 45 minute interview link with 10 min buffer",
            "Interview",
            "interview",
            {"Length": "45 min", "Buffers": "10 min before, 10 min after"},
        ),
        (
            "create a 1h link called Demo for the next 60 days",
            "Demo",
            "demo",
            {"Length": "1 h", "Bookable": "the next 60 days"},
        ),
        ("15 min link called Quick chat", "Quick chat", "quick-chat", {"Length": "15 min"}),
        (
            "new 1h link with at least 2 hours notice for the next 3 weeks",
            "1-hour meeting",
            "1-hour-meeting",
            {"Minimum notice": "2 h", "Bookable": "the next 21 days"},
        ),
    ],
)
async def test_create_link_card(bot: Bot, text: str, title: str, slug: str, rules: dict[str, str]) -> None:
    card = await bot.card(DANA, text)
    url = f"{bot.base_url}/book/dana/{slug}"
    assert texts(card)[:4] == ["Your link is ready", title, "Hosted by Dana Host", url]
    facts = facts_of(card)
    assert {k: facts[k] for k in rules} == rules
    assert facts["Hours"] == "Mon\u2013Fri 08:00\u201317:00"  # from the mailbox settings
    assert facts["Time zone"] == "Europe/London"
    assert facts["Location"] == "Microsoft Teams meeting"
    assert open_urls(card)["Open"] == url
    assert {a["title"] for a in executes(card)} >= {"Edit", "Preview", "Delete link"}
    links = await bot.runtime.bot.deps.links.list(await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad))
    assert [link.slug for link in links] == [slug]


async def test_a_link_made_in_a_channel_with_a_mention(bot: Bot) -> None:
    channel = fixture("channel_message_mention")["conversation"]["id"]
    sent = await bot.say(
        DANA, "<at>Slotwise</at> make a 30-min link", conversation=channel, name="channel_message_mention"
    )
    assert [s.conversation_id for s in sent] == [channel]
    assert texts(sent[0].cards[0])[0] == "Your link is ready"


async def test_list_edit_preview_and_delete_by_name(bot: Bot) -> None:
    await bot.say(DANA, "create a 1h link called Demo")
    await bot.say(DANA, "15 min link called Quick chat")

    listing = await bot.card(DANA, "my links")
    assert "Your links" in texts(listing)
    assert {"Demo", "Quick chat"} <= set(texts(listing))

    editor = await bot.card(DANA, "edit demo")
    assert texts(editor)[:2] == ["Edit link", "Demo"]

    picker = await bot.card(DANA, "preview the demo link")
    assert texts(picker)[:2] == ["Pick a time", "Demo"]
    assert any(a["verb"] == "slots.pick" for a in executes(picker))

    sent = await bot.say(DANA, "delete quick chat")
    assert "Delete this link?" in sent[0].body["text"]
    confirm = sent[0].cards[0]
    assert texts(confirm)[:2] == ["Delete this link?", "Quick chat"]
    after = await bot.execute(DANA, execute_by_title(confirm, "Delete link"))
    assert "Quick chat" not in texts(after) and "Demo" in texts(after)


async def test_unknown_link_name_is_explained(bot: Bot) -> None:
    card = await bot.card(DANA, "edit nonexistent")
    assert texts(card)[0] == "I can't do that"
    assert any("no link called 'nonexistent'" in t for t in texts(card))


async def test_upcoming_and_cancel_with_nothing_booked(bot: Bot) -> None:
    card = await bot.card(DANA, "show upcoming bookings")
    assert "Upcoming meetings" in texts(card)
    assert any("Nothing booked yet" in t for t in texts(card))
    card = await bot.card(DANA, "cancel booking 1")
    assert any("no upcoming booking '1'" in t for t in texts(card))


async def test_action_submit_fallback_is_routed_like_execute(bot: Bot) -> None:
    await bot.say(DANA, "create a 1h link called Demo")
    sent = await bot.submit(DANA, {"verb": "links.list"})
    assert "Your links" in texts(sent[0].cards[0])
    sent = await bot.submit(DANA, {"verb": "no.such.verb"})
    assert texts(sent[0].cards[0])[0] == "I can't do that"


async def test_a_host_who_must_sign_in_gets_a_signed_connect_link(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_silent_connect(_user: object) -> bool:
        return False  # production without a token cache: the host has to sign in

    connections = bot.runtime.bot.deps.connections
    monkeypatch.setattr(connections.connector, "connect_without_prompt", no_silent_connect)
    card = await bot.card(MALLORY, "make a 30-min link")
    assert texts(card)[0] == "Connect your Outlook calendar"
    url = open_urls(card)["Connect Outlook"]
    assert url.startswith(f"{bot.base_url}/auth/start?state=")
    user = await bot.repos.users.get_by_aad(MALLORY.tenant, MALLORY.aad)
    state = dict(parse_qsl(urlsplit(url).query))["state"]
    assert (await connections.user_for_state(state)).id == user.id  # the link signs in Mallory, nobody else
    with pytest.raises(NotFound):
        await connections.user_for_state(state[:-2] + "xx")
    resp = await bot.client.get(url.removeprefix(bot.base_url), allow_redirects=False)
    assert resp.status == 302  # on to Microsoft (here: the sandbox login)
    assert await bot.runtime.bot.deps.links.list(user) == []


async def test_a_broken_connection_gets_a_reconnect_card(bot: Bot) -> None:
    bot.emulator.ensure_user(MALLORY.email, MALLORY.name)
    bot.emulator.set_token_error(MALLORY.email, "invalid_grant")
    card = await bot.card(MALLORY, "make a 30-min link")
    assert texts(card)[0] == "Reconnect your Outlook calendar"
    assert open_urls(card)["Reconnect"].startswith(f"{bot.base_url}/auth/start?")
    user = await bot.repos.users.get_by_aad(MALLORY.tenant, MALLORY.aad)
    assert user.connection_status is ConnectionStatus.BROKEN


# --------------------------------------------------------------------------- issue 16: say what the user said


async def _links_of(bot: Bot, person: Any) -> list[Any]:
    user = await bot.repos.users.get_by_aad(person.tenant, person.aad)
    return [] if user is None else await bot.runtime.bot.deps.links.list(user)


@pytest.mark.parametrize(
    "text",
    ["make a 0 minute link", "make a -30 minute link", "make a " + "9" * 400 + " minute link", "make a 25 hour link"],
)
async def test_a_length_out_of_bounds_gets_the_rule_and_no_link(bot: Bot, text: str) -> None:
    await bot.say(DANA, "connect")
    card = await bot.card(DANA, text)
    assert texts(card)[0] == "I can't do that"
    assert DURATION_RULE in texts(card)
    assert not any("reference" in t for t in texts(card))
    assert await _links_of(bot, DANA) == []


async def test_a_typed_title_round_trips_into_the_link_and_the_card(bot: Bot) -> None:
    card = await bot.card(DANA, "make a 30 min link called <b>Q&A</b>")
    assert unescape(texts(card)[1]) == "<b>Q&A</b>"
    [link] = await _links_of(bot, DANA)
    assert link.title == "<b>Q&A</b>"


async def test_a_95_character_title_is_saved_whole_and_a_longer_one_refused(bot: Bot) -> None:
    name = ("Quarterly planning sync " * 5)[:94] + "x"
    await bot.card(DANA, f"make a 30 min link called {name}")
    [link] = await _links_of(bot, DANA)
    assert link.title == name
    card = await bot.card(DANA, f"make a 30 min link called {'y' * (MAX_TITLE + 1)}")
    assert texts(card)[0] == "I can't do that"
    assert title_problem("y" * (MAX_TITLE + 1)) in texts(card)
    assert len(await _links_of(bot, DANA)) == 1


@pytest.mark.parametrize("text", ["make a 15 or 30 minute link", "make a 2.5 minute link"])
async def test_an_unclear_length_gets_a_question_and_no_link(bot: Bot, text: str) -> None:
    await bot.say(DANA, "connect")
    sent = await bot.say(DANA, text)
    assert [s.cards for s in sent] == [[]]
    assert "?" in sent[0].body["text"]
    assert await _links_of(bot, DANA) == []


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Pls make a 30 min link", "30-minute meeting"),
        ("Gimme an hour and a half link", "90-minute meeting"),
        ("I'd like a forty five minute interview link", "Interview"),
    ],
)
async def test_filler_never_becomes_the_title(bot: Bot, text: str, title: str) -> None:
    card = await bot.card(DANA, text)
    assert texts(card)[:2] == ["Your link is ready", title]


async def test_a_failure_on_our_side_says_so_with_a_logged_reference(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_args: object) -> None:
        raise RuntimeError("database exploded at 0x7f")

    monkeypatch.setattr(bot.runtime.bot.deps.links, "list", broken)
    card = await bot.card(DANA, "my links")
    assert texts(card)[0] == "Something went wrong on our side"
    assert not any("0x7f" in t for t in texts(card))  # details only in the log
    [reference] = {m for t in texts(card) for m in re.findall(r"\b[0-9a-f]{12}\b", t)}
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)
