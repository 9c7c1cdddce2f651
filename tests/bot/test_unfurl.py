"""The messaging extension: booking links pasted into a chat unfurl into the 1.3 slot card; the
"searchLinks" command lists the sender's links."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.bot.harness import DANA, IVAN, Bot, checked
from tests.cards.checks import executes, nodes, texts

Json = dict[str, Any]
EMPTY = {"composeExtension": {"type": "result", "attachmentLayout": "list", "attachments": []}}


async def _link_url(bot: Bot, text: str = "make a 30-min link called Intro") -> str:
    card = await bot.card(DANA, text)
    url: str = next(a["url"] for a in nodes(card, "Action.OpenUrl") if a["title"] == "Open")
    return url


async def unfurl(bot: Bot, url: str) -> Json:
    status, body = await bot.invoke(bot.activity("query_link", IVAN, value={"url": url}))
    assert status == 200 and isinstance(body, dict)
    for attachment in body["composeExtension"].get("attachments", []):
        checked(attachment["content"])
        checked(attachment["preview"]["content"])
    return body


async def test_a_pasted_booking_link_unfurls_into_the_slot_card(bot: Bot) -> None:
    url = await _link_url(bot)
    body = await unfurl(bot, url)
    result = body["composeExtension"]
    assert (result["type"], result["attachmentLayout"]) == ("result", "list")
    [attachment] = result["attachments"]
    card, preview = attachment["content"], attachment["preview"]["content"]
    assert card["version"] == preview["version"] == "1.3"
    assert texts(preview)[0] == "Intro"
    assert not executes(card)  # only links: the card is posted where the bot may not be
    buttons = nodes(card, "Action.OpenUrl")
    times = [b for b in buttons if "start=" in b["url"]]
    assert times, texts(card)
    query = parse_qs(urlsplit(times[0]["url"]).query)
    assert query["tz"] == ["America/New_York"]  # the sender's zone
    assert buttons[-1]["title"] == "See all times"
    resp = await bot.client.get(times[0]["url"].removeprefix(bot.base_url))
    assert resp.status == 200  # the page opens on that time


@pytest.mark.parametrize("variant", ["{url}?tz=Europe/Paris", "{url}/", "{url}#top"])
async def test_variants_of_the_link_unfurl(bot: Bot, variant: str) -> None:
    url = await _link_url(bot)
    body = await unfurl(bot, variant.format(url=url))
    assert len(body["composeExtension"]["attachments"]) == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/some/page",
        "{base}/book/nobody/intro",
        "{base}/book/dana/no-such-link",
        "{base}/book/team/sales/intro",
        "{base}/manage/abc",
        "{base}/book/dana",
        "http://evil.example/book/dana/intro",
        "not a url at all",
    ],
)
async def test_other_urls_get_an_empty_result(bot: Bot, url: str) -> None:
    await _link_url(bot)
    assert await unfurl(bot, url.format(base=bot.base_url)) == EMPTY


async def test_a_switched_off_link_unfurls_into_a_notice(bot: Bot) -> None:
    url = await _link_url(bot)
    store = bot.repos.event_types
    user = await bot.repos.users.get_by_aad(DANA.tenant, DANA.aad)
    [link] = await store.list_for_owner(DANA.tenant, user.id)
    await store.update(replace(link, active=False))
    body = await unfurl(bot, url)
    [attachment] = body["composeExtension"]["attachments"]
    assert texts(attachment["content"])[0] == "This link isn't taking bookings"


async def test_search_lists_the_senders_links(bot: Bot) -> None:
    await _link_url(bot)
    await _link_url(bot, "create a 1h link called Demo")
    status, body = await bot.invoke(bot.activity("compose_query", DANA))
    assert status == 200
    attachments = body["composeExtension"]["attachments"]
    assert [a["preview"]["content"]["title"] for a in attachments] == ["Intro", "Demo"]
    for attachment in attachments:
        assert attachment["preview"]["contentType"] == "application/vnd.microsoft.card.thumbnail"
        card = checked(attachment["content"])
        assert nodes(card, "Action.OpenUrl")[0]["url"].startswith(f"{bot.base_url}/book/dana/")

    value = {"commandId": "searchLinks", "parameters": [{"name": "searchText", "value": "dem"}]}
    status, body = await bot.invoke(bot.activity("compose_query", DANA, value=value))
    assert [a["preview"]["content"]["title"] for a in body["composeExtension"]["attachments"]] == ["Demo"]


async def test_search_for_someone_without_links_or_for_another_command(bot: Bot) -> None:
    await _link_url(bot)
    status, body = await bot.invoke(bot.activity("compose_query", IVAN))
    assert status == 200
    assert body["composeExtension"]["type"] == "message"  # Ivan has no links: Dana's are not his
    value = {"commandId": "somethingElse", "parameters": []}
    status, body = await bot.invoke(bot.activity("compose_query", DANA, value=value))
    assert body == EMPTY


async def test_a_failure_behind_the_extension_still_answers(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    url = await _link_url(bot)

    async def broken(*_args: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(bot.runtime.bot.deps.booking, "resolve_link", broken)
    monkeypatch.setattr(bot.runtime.bot.deps.links, "list", broken)
    assert await unfurl(bot, url) == EMPTY
    status, body = await bot.invoke(bot.activity("compose_query", DANA))
    assert status == 200 and body["composeExtension"]["type"] == "message"
