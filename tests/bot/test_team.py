"""Team links in a channel, through real Teams activity JSON (``fixtures/channel_message_mention.json``,
``group_chat_message_mention.json``, ``adaptive_card_action.json``) against the whole sandbox app (issue 12).

Dana makes a round-robin link in a channel; the team link card is posted there (its link, the rotation with
each member's connection state, Join / Leave / Settings / Preview); Mallory and Ivan join; only Dana (the
creator) and the team's owners may open the settings; an invitee books on the web page; the assigned member
gets the booking card in their personal chat and the channel thread hears the announcement; "team links" lists
the team's links; a plain "make a 30-min link" in the channel still makes the sender's personal link.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botbuilder.schema import Activity

from bot.commands import CreateTeamLink, parse
from bot.team import team_of_conversation
from scheduling.domain import BookingStatus, User
from scheduling.teams import MAX_MEMBERS
from storage.errors import StorageUnavailable
from tests.bot.harness import DANA, EVE, IVAN, MALLORY, Bot, Person, Sent, fixture, form_values
from tests.cards.checks import execute_by_title, executes, nodes, unescape
from tests.cards.checks import texts as escaped_texts

Json = dict[str, Any]
CHANNEL = fixture("channel_message_mention")["conversation"]["id"]
GROUP = fixture("group_chat_message_mention")["conversation"]["id"]


def texts(card: Json) -> list[str]:
    return [unescape(t) for t in escaped_texts(card)]


def card_text(card: Json) -> str:
    return "\n".join(texts(card))


def titles(card: Json) -> list[str]:
    return [a["title"] for a in executes(card) if a.get("title")]


async def in_channel(bot: Bot, person: Person, text: str, where: str = CHANNEL) -> list[Sent]:
    name = "channel_message_mention" if where == CHANNEL else "group_chat_message_mention"
    return await bot.say(person, f"<at>Slotwise</at> {text}", conversation=where, name=name)


async def installed(bot: Bot, *people: Person) -> None:
    for person in people:
        status, _ = await bot.post(bot.activity("installation_update", person))
        assert status == 200


async def team_card(bot: Bot, text: str = "make a 30-min round-robin link", where: str = CHANNEL) -> tuple[Json, Sent]:
    """Dana makes a team link in the channel: (the posted card, what carried it)."""
    sent = await in_channel(bot, DANA, text, where)
    posted = [s for s in sent if s.cards]
    assert len(posted) == 1, [s.body for s in sent]
    assert all(s.conversation_id == where.split(";")[0] or s.conversation_id == where for s in sent)
    return posted[0].cards[0], posted[0]


async def click(bot: Bot, person: Person, card: Json, title: str, inputs: Json | None = None) -> Json:
    return await bot.execute(person, execute_by_title(card, title), inputs, conversation=CHANNEL)


async def refused(bot: Bot, person: Person, card: Json, title: str) -> str:
    """Click a button the core refuses: the text of the card it answers with."""
    answer = await click(bot, person, card, title)
    return card_text(answer)


async def delivered(bot: Bot) -> None:
    await bot.delivery.run_once()


def link_path(card: Json, base_url: str) -> str:
    url: str = next(a["url"] for a in nodes(card, "Action.OpenUrl") if a["title"] == "Open")
    assert url.startswith(f"{base_url}/book/team/"), url
    return url.removeprefix(base_url)


# ------------------------------------------------------------------------------------------ chat


@pytest.mark.parametrize(
    ("said", "duration", "title", "collective"),
    [
        ("make a 30-min round-robin link", 30, "", False),
        ("team link", 30, "", False),
        ("round robin 45 minutes for sales demos", 45, "Sales demos", False),
        ("collective 1h link with everyone", 60, "", True),
        ("make a round-robin link called “Collective review”", 30, "Collective review", False),
    ],
)
def test_team_link_phrasings(said: str, duration: int, title: str, collective: bool) -> None:
    command = parse(said)
    assert isinstance(command, CreateTeamLink), command
    assert (command.duration, command.title, command.collective) == (duration, title, collective)


def test_a_plain_link_and_quoted_words_are_not_team_links() -> None:
    assert not isinstance(parse("make a 30-min link"), CreateTeamLink)
    assert not isinstance(parse("make a link called “Round robin review”"), CreateTeamLink)
    assert parse("team links").kind == "team_links"


def test_the_team_of_a_channel_is_its_teams_team_and_of_a_group_chat_the_chat() -> None:
    channel = Activity().deserialize(fixture("channel_message_mention"))
    assert team_of_conversation(channel) == ("19:team0123@thread.tacv2", "")
    group = Activity().deserialize(fixture("group_chat_message_mention"))
    assert team_of_conversation(group) == (group.conversation.id.split(";")[0], "Group chat")
    personal = Activity().deserialize(fixture("personal_message"))
    assert team_of_conversation(personal) is None


# ------------------------------------------------------------------------------------------ the channel flow


async def test_the_whole_channel_flow(bot: Bot) -> None:
    await installed(bot, DANA, MALLORY)  # Ivan has never talked to Slotwise
    card, posted = await team_card(bot)
    assert posted.conversation_id == CHANNEL
    text = card_text(card)
    assert "Round-robin" in text and "30 min" in text and "Dana Host · connected" in text
    assert card["refresh"]["action"]["verb"] == "team.view" and "userIds" not in card["refresh"]
    assert set(titles(card)) >= {"Join", "Leave", "Settings", "Preview"}
    path = link_path(card, bot.base_url)
    team = await bot.repos.teams.get_by_external(DANA.tenant, "19:team0123@thread.tacv2")
    assert team is not None and path == f"/book/team/{team.slug}/30-minute-meeting"
    # the card's thread and message id are kept for announcements and in-place updates
    [link] = await bot.repos.teams.team_links(team.id)
    settings = await bot.repos.teams.link_settings(link.id)
    assert settings.card_activity_id and settings.thread["reference"]["conversation"]["id"] == CHANNEL
    assert settings.created_by is not None

    # two more members join; the clicker gets their own view, the card as posted is updated in place
    before = len(bot.connector.sent)
    mine = await click(bot, MALLORY, card, "Join")
    assert "Mallory Meddler (you) · connected" in card_text(mine) and "Leave" in titles(mine)
    assert "Join" not in titles(mine)
    updates = [s for s in bot.connector.sent[before:] if s.path.endswith(settings.card_activity_id)]
    assert updates and "Mallory Meddler · connected" in card_text(updates[-1].cards[0])
    await click(bot, IVAN, card, "Join")
    # Ivan gets a personal chat with Slotwise for his notices (started by the bot)
    assert [c["members"][0]["id"] for c in bot.connector.created] == [IVAN.teams_id]
    # a refresh gives each viewer their own buttons
    dana_view = await bot.execute(DANA, card["refresh"]["action"], trigger="automatic", conversation=CHANNEL)
    assert "Leave" in titles(dana_view) and "Join" not in titles(dana_view)
    eve_view = await bot.execute(EVE, card["refresh"]["action"], trigger="automatic", conversation=CHANNEL)
    assert "isn't yours" in card_text(eve_view) or "no longer exists" in card_text(eve_view)  # another tenant
    roster = [m.user.email for m in await bot.repos.teams.roster(team.id)]
    assert roster == [DANA.email, MALLORY.email, IVAN.email]

    # only the creator (or the team's owners) change the settings
    assert "Only Dana Host" in await refused(bot, MALLORY, card, "Settings")
    editor = await click(bot, DANA, card, "Settings")
    assert "Edit team link" in card_text(editor)
    ivan = await bot.repos.users.get_by_aad(IVAN.tenant, IVAN.aad)
    weight = f"members.{ivan.id}.weight"
    saved = await bot.execute(
        DANA,
        execute_by_title(editor, "Save"),
        form_values(editor, **{weight: "50", "team.mode": "availability", "title": "Demo"}),
        conversation=CHANNEL,
    )
    assert "Saved" in card_text(saved) and "Demo" in card_text(saved)
    roster_members = {m.user.id: m.member for m in await bot.repos.teams.roster(team.id)}
    assert roster_members[ivan.id].weight == 50

    # an invitee books on the web page: 201 with the assigned member
    path = link_path(saved, bot.base_url)
    day = (datetime.now(UTC) + timedelta(days=1)).date()
    resp = await bot.client.get(f"{path}/slots", params={"start": str(day), "end": str(day + timedelta(days=13))})
    assert resp.status == 200, await resp.text()
    slots = (await resp.json())["slots"]
    assert slots
    resp = await bot.client.post(
        path, json={"start": slots[0]["start"], "name": "Megan Bowen", "email": "megan@fabrikam.example"}
    )
    body = await resp.json()
    assert resp.status == 201, body
    assert [h["email"] for h in body["hosts"]] in ([DANA.email], [MALLORY.email], [IVAN.email])
    assigned = next(p for p in (DANA, MALLORY, IVAN) if p.email == body["hosts"][0]["email"])
    page = await bot.client.get(path)
    assert page.status == 200 and team.name in await page.text()

    # the assigned member is told in their personal chat, the channel thread hears the announcement
    before = len(bot.connector.sent)
    await delivered(bot)
    fresh = bot.connector.sent[before:]
    personal = [s for s in fresh if s.conversation_id == assigned.chat]
    assert personal and "New booking from Megan Bowen" in card_text(personal[0].cards[0])
    announced = [s for s in fresh if s.conversation_id == CHANNEL]
    assert len(announced) == 1
    assert announced[0].body["text"].startswith(f"Megan Bowen booked Demo with {assigned.name}, ")

    # "team links" lists the team's links; a plain link in the channel is still the sender's own
    listed = [c for s in await in_channel(bot, MALLORY, "team links") for c in s.cards]
    assert len(listed) == 1 and "Demo" in card_text(listed[0])
    personal_link = [c for s in await in_channel(bot, MALLORY, "make a 30-min link") for c in s.cards]
    assert personal_link and "Your link is ready" in card_text(personal_link[0])
    assert "/book/team/" not in json.dumps(personal_link[0])

    # Leave takes the member out; their booking stays theirs
    gone = await click(bot, assigned, card, "Leave")
    assert f"{assigned.name} (you)" not in card_text(gone)
    [booking] = [
        b
        for b in await bot.repos.bookings.upcoming_for_host(
            DANA.tenant, (await bot.repos.users.get_by_aad(assigned.tenant, assigned.aad)).id, datetime.now(UTC)
        )
    ]
    assert booking.status is BookingStatus.CONFIRMED


async def test_joining_happens_in_the_teams_conversation_and_owners_may_change_settings(bot: Bot) -> None:
    """The attacks: the card's Join pressed (its data forwarded) outside the team's channel, and a member who is no
    owner opening the settings; a team owner (the roster's userRole) may."""
    card, _posted = await team_card(bot)
    elsewhere = await bot.execute(MALLORY, execute_by_title(card, "Join"))  # in her personal chat
    assert "from its card in the team's channel or chat" in card_text(elsewhere)
    group = await bot.execute(MALLORY, execute_by_title(card, "Join"), conversation=GROUP)
    assert "from its card in the team's channel or chat" in card_text(group)
    team = await bot.repos.teams.get_by_external(DANA.tenant, "19:team0123@thread.tacv2")
    assert [m.user.email for m in await bot.repos.teams.roster(team.id)] == [DANA.email]
    assert "Only Dana Host" in await refused(bot, MALLORY, card, "Settings")
    bot.connector.people = {**bot.connector.people, MALLORY.teams_id: replace(MALLORY, role="owner")}
    editor = await click(bot, MALLORY, card, "Settings")
    assert "Edit team link" in card_text(editor)
    deleted = await bot.execute(MALLORY, execute_by_title(editor, "Delete team link"), conversation=CHANNEL)
    assert "Team links of" in card_text(deleted) and "30-minute meeting" not in card_text(deleted)
    assert await bot.repos.teams.team_links(team.id) == []


async def test_team_links_are_made_in_channels_and_group_chats_only(bot: Bot) -> None:
    personal = await bot.say(DANA, "make a 30-min round-robin link")
    assert "in a channel or group chat" in personal[0].body["text"]
    card, posted = await team_card(bot, "collective 1h link with everyone", where=GROUP)
    assert "Collective" in card_text(card) and "1 h" in card_text(card) and posted.conversation_id == GROUP
    listed = [c for s in await in_channel(bot, DANA, "team links", GROUP) for c in s.cards]
    assert "1-hour meeting" in card_text(listed[0])
    empty = [c for s in await in_channel(bot, DANA, "team links") for c in s.cards]  # the channel's team has none
    assert "no team links yet" in card_text(empty[0])


async def test_a_pasted_team_link_unfurls_into_the_slot_card_naming_the_team(bot: Bot) -> None:
    card, _posted = await team_card(bot, "round robin 45 minutes for sales demos")
    url = bot.base_url + link_path(card, bot.base_url)
    status, body = await bot.invoke(bot.activity("query_link", IVAN, value={"url": url}))
    assert status == 200
    [attachment] = body["composeExtension"]["attachments"]
    unfurled = attachment["content"]
    assert unfurled["version"] == "1.3"
    text = card_text(unfurled)
    assert "Sales demos" in text and "Book time with Team · 45 min" in text
    times = [a["url"] for a in nodes(unfurled, "Action.OpenUrl")]
    assert times and all(t.startswith(url) for t in times)  # each time opens the team link's page on it
    status, body = await bot.invoke(bot.activity("query_link", IVAN, value={"url": url + "-nope"}))
    assert body["composeExtension"]["attachments"] == []


async def test_joining_without_a_connected_outlook_sends_the_connect_card_privately(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    card, _posted = await team_card(bot)

    async def no_silent_connect(_user: object) -> bool:  # production without a token cache
        return False

    monkeypatch.setattr(bot.runtime.bot.deps.connections.connector, "connect_without_prompt", no_silent_connect)
    await installed(bot, MALLORY)
    mine = await click(bot, MALLORY, card, "Join")
    assert "Mallory Meddler (you) · _waiting to connect_" in card_text(mine)
    assert "Connect your Outlook calendar" in card_text(mine)
    before = len(bot.connector.sent)
    await bot.delivery.run_once()
    private = [s for s in bot.connector.sent[before:] if s.conversation_id == MALLORY.chat]
    assert private and "/auth/start?state=" in json.dumps(private[0].body)
    assert not [s for s in bot.connector.sent[before:] if s.conversation_id == CHANNEL]  # nothing in the channel
    # she is left out of the times until she connects (never free): Dana alone makes the times
    team = await bot.repos.teams.get_by_external(DANA.tenant, "19:team0123@thread.tacv2")
    teams = bot.runtime.bot.deps.teams
    assert teams is not None
    view = await teams.view((await bot.repos.teams.team_links(team.id))[0].id)
    assert [m.user.email for m in view.waiting] == [MALLORY.email]


async def test_a_made_team_booking_is_answered_201_with_its_hosts_even_if_the_database_then_goes_away(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by bench.fleet: the answer read the hosts again after the booking was made, and a database restart at
    that moment answered 500 for a booking that existed. The use case hands back the hosts it assigned; a replay
    (same Idempotency-Key, same body) names them too."""
    await installed(bot, DANA)
    card, _posted = await team_card(bot, "collective 1h link with everyone")
    await installed(bot, MALLORY)
    await click(bot, MALLORY, card, "Join")
    path = link_path(card, bot.base_url)
    day = (datetime.now(UTC) + timedelta(days=1)).date()
    resp = await bot.client.get(f"{path}/slots", params={"start": str(day), "end": str(day + timedelta(days=13))})
    start = (await resp.json())["slots"][0]["start"]

    async def gone(*_args: object) -> object:
        raise StorageUnavailable()

    teams = bot.runtime.bot.deps.teams
    assert teams is not None
    monkeypatch.setattr(type(teams), "hosts", gone)  # the read of the hosts, were it made after the booking
    body = {"start": start, "name": "Megan Bowen", "email": "megan@fabrikam.example"}
    resp = await bot.client.post(path, json=body, headers={"Idempotency-Key": "k-1"})
    made = await resp.json()
    assert resp.status == 201, made
    assert [h["email"] for h in made["hosts"]] == [DANA.email, MALLORY.email]  # the organiser first
    monkeypatch.undo()
    again = await bot.client.post(path, json=body, headers={"Idempotency-Key": "k-1"})
    replayed = await again.json()
    assert again.status == 200 and replayed["id"] == made["id"] and replayed["hosts"] == made["hosts"]


# ------------------------------------------------------------------------------------------ booking from Teams


def times(card: Json) -> list[Json]:
    return [a for a in executes(card) if a["verb"] == "slots.pick"]


async def booked_from_the_preview(bot: Bot, card: Json) -> Json:
    """Dana presses Preview on the team link card in the channel; Ivan's client refreshes the slot picker for him,
    he picks the first time and confirms: the card he gets back."""
    shared = await click(bot, DANA, card, "Preview")
    assert "with Team · " in card_text(shared) and times(shared)
    assert "Dana Host" not in card_text(shared)  # the team's name, never a member's calendar
    mine = await bot.execute(IVAN, shared["refresh"]["action"], trigger="automatic", conversation=CHANNEL)
    assert any(t.startswith("Times in America/New_York") for t in texts(mine))
    form = await bot.execute(IVAN, times(mine)[0], conversation=CHANNEL)
    answer = await bot.execute(IVAN, execute_by_title(form, "Confirm booking"), form_values(form), conversation=CHANNEL)
    assert texts(answer)[0] == "You're booked", card_text(answer)
    return answer


async def test_preview_on_the_team_link_card_then_booking_from_that_picker(bot: Bot) -> None:
    await installed(bot, DANA, MALLORY)
    card, _posted = await team_card(bot)
    await click(bot, MALLORY, card, "Join")
    booked = await booked_from_the_preview(bot, card)
    team = await bot.repos.teams.get_by_external(DANA.tenant, "19:team0123@thread.tacv2")
    [link] = await bot.repos.teams.team_links(team.id)
    [booking] = [
        b
        for p in (DANA, MALLORY)
        for b in await bot.repos.bookings.upcoming_for_host(
            DANA.tenant, (await bot.repos.users.get_by_aad(p.tenant, p.aad)).id, datetime.now(UTC)
        )
    ]
    assert booking.event_type_id == link.id and booking.status is BookingStatus.CONFIRMED
    host = await bot.repos.users.get(booking.organizer_id)
    assigned = next(p for p in (DANA, MALLORY) if host is not None and host.email == p.email)
    [event] = [e for e in bot.emulator.events(assigned.email) if e.get("transactionId") == booking.id]
    assert [a["emailAddress"]["address"] for a in event["attendees"]] == [IVAN.email]
    assert "Manage booking" in {a["title"] for a in nodes(booked, "Action.OpenUrl")}
    # the assigned member is told in their personal chat; the card's thread hears it
    before = len(bot.connector.sent)
    await delivered(bot)
    fresh = bot.connector.sent[before:]
    assert [card_text(s.cards[0]).split("\n")[0] for s in fresh if s.conversation_id == assigned.chat] == [
        "New booking from Ivan Invitee"
    ]
    [announced] = [s for s in fresh if s.conversation_id == CHANNEL]
    assert announced.body["text"].startswith(f"Ivan Invitee booked 30-minute meeting with {assigned.name}, ")


async def test_a_team_bookings_cancellation_is_announced_in_the_thread_and_every_host_is_told(bot: Bot) -> None:
    await installed(bot, DANA, MALLORY)
    card, _posted = await team_card(bot, "collective 1h link with everyone")
    await click(bot, MALLORY, card, "Join")
    booked = await booked_from_the_preview(bot, card)
    await delivered(bot)
    before = len(bot.connector.sent)
    cancel = next(a for a in executes(booked) if a["verb"] == "booking.cancel")
    cancelled = await bot.execute(
        IVAN, cancel, {cancel["data"]["reasonInputId"]: "Something came up"}, conversation=CHANNEL
    )
    assert "cancel" in card_text(cancelled).lower()
    await delivered(bot)
    fresh = bot.connector.sent[before:]
    for host in (DANA, MALLORY):  # every host of the collective booking, in their personal chat
        told = [card_text(c) for s in fresh if s.conversation_id == host.chat for c in s.cards]
        assert len(told) == 1 and told[0].startswith("Ivan Invitee cancelled"), (host.name, told)
        assert "Something came up" in told[0]
    [announced] = [s for s in fresh if s.conversation_id == CHANNEL]
    text = announced.body["text"]
    assert text.startswith("Ivan Invitee's 1-hour meeting with Dana Host and Mallory Meddler on ")
    assert text.endswith(" was cancelled.")
    # it replies in the thread of the team link's card
    team = await bot.repos.teams.get_by_external(DANA.tenant, "19:team0123@thread.tacv2")
    [link] = await bot.repos.teams.team_links(team.id)
    settings = await bot.repos.teams.link_settings(link.id)
    assert announced.path.startswith(f"/v3/conversations/{settings.thread['reference']['conversation']['id']}")


async def test_the_21st_join_is_refused_with_a_clear_message(bot: Bot) -> None:
    card, _posted = await team_card(bot)
    team = await bot.repos.teams.get_by_external(DANA.tenant, "19:team0123@thread.tacv2")
    [link] = await bot.repos.teams.team_links(team.id)
    teams = bot.runtime.bot.deps.teams
    assert teams is not None
    for n in range(19):  # Dana and 19 more: the rotation is full
        user = await bot.repos.users.upsert(
            User(
                id=f"u-member-{n}",
                tenant_id=DANA.tenant,
                aad_object_id=f"aad-member-{n}",
                display_name=f"Member {n}",
                email=f"member{n}@contoso.example",
            )
        )
        await teams.join(link.id, user)
    assert len(await bot.repos.teams.roster(team.id)) == MAX_MEMBERS == 20
    answer = await refused(bot, MALLORY, card, "Join")
    assert "This team's rotation is full (20 people" in answer and "Someone has to leave" in answer
    assert MALLORY.email not in [m.user.email for m in await bot.repos.teams.roster(team.id)]
    # a member pressing Join again is no 21st; once someone leaves, there is room
    assert "rotation is full" not in card_text(await click(bot, DANA, card, "Join"))
    await teams.leave(link.id, await bot.repos.users.get("u-member-0"))
    mine = await click(bot, MALLORY, card, "Join")
    assert "Mallory Meddler (you)" in card_text(mine)


# ------------------------------------------------------------------------------------------ removing a member


async def test_only_the_creator_and_owners_remove_a_member_from_the_settings_card(bot: Bot) -> None:
    """The attack first: Mallory (a member, no owner) submits the settings card's Save with Dana's and Ivan's
    "Remove from the rotation" on: refused ("Only Dana Host ..."), nobody removed. Dana removes Mallory: the card
    confirms it, the rotation no longer has her, and her booking stays hers."""
    await installed(bot, DANA, MALLORY)
    card, _posted = await team_card(bot)
    await click(bot, MALLORY, card, "Join")
    await click(bot, IVAN, card, "Join")
    team = await bot.repos.teams.get_by_external(DANA.tenant, "19:team0123@thread.tacv2")
    ids = {p.email: (await bot.repos.users.get_by_aad(p.tenant, p.aad)).id for p in (DANA, MALLORY, IVAN)}
    editor = await click(bot, DANA, card, "Settings")
    removing = {f"members.{ids[DANA.email]}.remove": "true", f"members.{ids[IVAN.email]}.remove": "true"}
    attack = await bot.execute(
        MALLORY, execute_by_title(editor, "Save"), form_values(editor, **removing), conversation=CHANNEL
    )
    assert "Only Dana Host" in card_text(attack)
    roster = [m.user.email for m in await bot.repos.teams.roster(team.id)]
    assert roster == [DANA.email, MALLORY.email, IVAN.email]

    mallory = ids[MALLORY.email]
    saved = await bot.execute(
        DANA,
        execute_by_title(editor, "Save"),
        form_values(editor, **{f"members.{mallory}.remove": "true", f"members.{mallory}.weight": "0"}),
        conversation=CHANNEL,
    )
    text = card_text(saved)
    assert "Saved" in text and "Removed Mallory Meddler from the rotation; their bookings stay theirs." in text
    assert "Mallory Meddler · connected" not in text
    assert [m.user.email for m in await bot.repos.teams.roster(team.id)] == [DANA.email, IVAN.email]
    again = await click(bot, DANA, card, "Settings")
    assert f"members.{mallory}.remove" not in json.dumps(again)
