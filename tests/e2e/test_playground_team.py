"""Issue 12, through the Microsoft 365 Agents Playground's team channel (its "My Team", channel "General").

Alex Wilber (the Playground's own user) starts a post in the channel that @mentions Slotwise: "make a 30-min
round-robin link called Sales demo". The team link card is posted into that post's thread. Megan Bowen and Adele
Vance press Join on it (each gets their own view; the card as posted is updated in place for everyone, and each
gets a personal chat with Slotwise for their notices). An invitee books on the web page (the HTML form, CSRF and
all); the member Slotwise assigned is told in their personal chat ("New booking"), and the post's thread gets the
announcement ("Ivy Invitee booked Sales demo with ..."). Outlook (the Graph emulator) holds the meeting in the
assigned member's calendar.

What the Playground can't do, and what is done instead: its roster reports every person with ``userRole:
"user"`` (no team owners), so the owner rule is covered by the activity-JSON tests (tests/bot/test_team.py);
its clients send no ``refresh`` invokes by themselves, so a viewer's refresh is sent as the invoke a Teams
client sends (``trigger`` is not sent by the Playground's page either).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from tests.cards.checks import problems
from tests.e2e.conftest import Stack
from tests.e2e.playground import Json, action, actions, card_text

pytestmark = pytest.mark.asyncio(loop_scope="session")

CREATOR = "user-id-0"  # Alex Wilber
JOINERS = ("user-id-1", "user-id-2")  # Megan Bowen, Adele Vance


def valid(card: Json) -> Json:
    found = problems(card)
    assert not found, "\n".join(found)
    return card


async def test_team_link_in_a_channel_joined_booked_and_announced(stack: Stack) -> None:
    pg = stack.playground
    general = pg.team["channels"][0]["id"]
    people = {u: pg.user(u) for u in (CREATOR, *JOINERS)}

    # "@Slotwise make a 30-min round-robin link ..." in the channel: the card lands in the post's thread
    mark = pg.mark()
    post, _ = await pg.post_in_channel(general, "make a 30-min round-robin link called Sales demo", user=CREATOR)
    created = await pg.wait_for(lambda m: m.conversation_id == post and m.shows("Round-robin link ready"), since=mark)
    card = valid(created.card)
    text = card_text(card)
    assert "Sales demo" in text and pg.team["name"] in text and "30 min" in text, text
    assert f"{people[CREATOR]['name']} · connected" in text, text
    url = action(card, title="Open", kind="Action.OpenUrl")["url"]
    assert re.fullmatch(re.escape(stack.base_url) + r"/book/team/[a-z0-9-]+/sales-demo", url), url
    hint = await pg.wait_for(lambda m: m.conversation_id == post and m.shows("select **Join**"), since=mark)
    assert hint.message_id != created.message_id

    # two more members join from the card; each sees themselves in it, and Leave instead of Join
    for user in JOINERS:
        mine = valid(await pg.execute(post, created.message_id, action(card, verb="team.join"), user=user))
        assert f"{people[user]['name']} (you) · connected" in card_text(mine), card_text(mine)
        assert actions(mine, verb="team.leave") and not actions(mine, verb="team.join")
    # the card as posted was updated in place with the whole rotation (what every client shows)
    updates = [
        f
        for f in pg.frames[mark:]
        if f.get("action") != "createMessage" and (f.get("message") or {}).get("messageId") == created.message_id
    ]
    assert updates, [f.get("action") for f in pg.frames[mark:]]
    posted = updates[-1]["message"]["attachments"][0]["content"]
    for user in (CREATOR, *JOINERS):
        assert f"{people[user]['name']} · connected" in card_text(posted), card_text(posted)
    # a viewer's refresh (the invoke a Teams client sends on opening the card) is drawn for them
    refreshed = valid(await pg.execute(post, created.message_id, card["refresh"]["action"], user=JOINERS[0]))
    assert f"{people[JOINERS[0]]['name']} (you)" in card_text(refreshed)

    # an invitee books on the web page: the slots page, the form, the post
    path = url.removeprefix(stack.base_url)
    page = await stack.client.get(path, params={"tz": "Europe/London"})
    html = await page.text()
    assert page.status == 200 and pg.team["name"] in html, html[:500]
    starts = re.findall(r'class="slot" href="[^"]*?start=([^"&]+)', html)
    assert starts, "no times on the team link's page"
    start = unquote(starts[0])
    form = await stack.client.get(path, params={"start": start, "tz": "Europe/London"})
    form_html = await form.text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form_html)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', form_html)
    assert form.status == 200 and token and key, form_html[:500]
    mark = pg.mark()
    booked = await stack.client.post(
        path,
        data={
            "csrf_token": token.group(1),
            "start": start,
            "timeZone": "Europe/London",
            "idempotency_key": key.group(1),
            "name": "Ivy Invitee",
            "email": "ivy@example.org",
            "notes": "",
        },
        allow_redirects=False,
    )
    assert booked.status == 303, await booked.text()
    assert booked.headers["Location"].startswith("/manage/")

    # Outlook: the meeting is in the assigned member's calendar, with the invitee
    owners = [
        u
        for u in people
        if any(e["subject"] == "Sales demo with Ivy Invitee" for e in stack.emulator.events(people[u]["email"]))
    ]
    assert len(owners) == 1, owners
    assigned = people[owners[0]]

    # the assigned member's personal chat gets the booking card; the channel thread gets the announcement
    note = await pg.wait_for(
        lambda m: (
            m.conversation_id not in (post, general, pg.personal_chat) and m.shows("New booking from Ivy Invitee")
            if owners[0] != CREATOR
            else m.conversation_id == pg.personal_chat and m.shows("New booking from Ivy Invitee")
        ),
        since=mark,
    )
    valid(note.card)
    member = await stack.services.repos.users.get_by_aad(pg.config["tenantId"], assigned["aadObjectId"])
    assert member is not None and member.conversation_reference is not None
    reference = member.conversation_reference["reference"]
    assert isinstance(reference, dict) and reference["conversation"]["id"] == note.conversation_id
    announced = await pg.wait_for(lambda m: m.conversation_id == post and m.shows("Ivy Invitee booked"), since=mark)
    assert announced.text.startswith(f"Ivy Invitee booked Sales demo with {assigned['name']}, "), announced.text
