"""The link card and the "my links" list."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cards.links import LINKS_PER_PAGE, booking_url, link_created, links_list, team_booking_url
from tests.cards.checks import check_card, data_of, execute_by_title, input_by_id, nodes, texts
from tests.cards.data import BASE_URL, HOSTILE_TEXT, link

URL = f"{BASE_URL}/book/dana/intro-call"


def _facts(card: dict[str, Any]) -> dict[str, str]:
    return {f["title"]: f["value"] for fs in nodes(card, "FactSet") for f in fs["facts"]}


def test_urls_are_built_and_encoded() -> None:
    assert booking_url(BASE_URL + "/", "dana", "intro-call") == URL
    assert booking_url(BASE_URL, "jo sé/x", "a?b") == f"{BASE_URL}/book/jo%20s%C3%A9%2Fx/a%3Fb"
    assert team_booking_url(BASE_URL, "sales", "demo") == f"{BASE_URL}/book/team/sales/demo"


def test_the_link_card_summarises_every_rule() -> None:
    card = check_card(link_created(link(), URL, "Dana Host"))
    assert "Your link is ready" in texts(card) and "Intro call" in texts(card)
    assert URL in texts(card)
    facts = _facts(card)
    assert facts == {
        "Length": "30 or 60 min",
        "Hours": "Mon\u2013Thu 09:00\u201312:00, 13:00\u201317:00; Fri 09:00\u201316:00 (plus 2 date overrides)",
        "Time zone": "Europe/London",
        "Start times": "every 15 min",
        "Buffers": "10 min before, 5 min after",
        "Minimum notice": "4 h",
        "Bookable": "the next 60 days",
        "Limits": "at most 4 a day and 12 a week",
        "Blocked by": "Busy, Tentative, Out of office",
        "Location": "Microsoft Teams meeting",
    }
    titles = [a["title"] for a in card["actions"]]
    assert titles == ["Open", "Edit", "Preview", "Share", "Delete"]
    assert card["actions"][0] == {"type": "Action.OpenUrl", "title": "Open", "url": URL}
    assert data_of(execute_by_title(card, "Edit")) == {"verb": "link.edit", "linkId": "et_0001"}
    assert data_of(execute_by_title(card, "Preview")) == {"verb": "link.preview", "linkId": "et_0001"}
    assert input_by_id(card, "shareUrl")["value"] == URL  # copyable in every client
    delete = execute_by_title(card, "Delete link")
    assert data_of(delete) == {"verb": "link.delete", "linkId": "et_0001"}  # behind a confirmation ShowCard


def test_the_link_card_marks_inactive_single_use_and_automatic_interval() -> None:
    start = link(single_use=True, active=False)
    start = replace(start, rules=replace(start.rules, slot_interval=None, buffer_before=0, buffer_after=0))
    facts = _facts(check_card(link_created(start, URL, "Dana", heading="Saved")))
    assert facts["Start times"] == "every 30 min (automatic)"
    assert facts["Buffers"] == "none"
    assert facts["Single use"].startswith("yes")
    assert facts["Status"].startswith("**off**")


def test_hostile_titles_are_shown_literally() -> None:
    card = check_card(link_created(link(title="*Bob* [x](http://evil)"), URL, HOSTILE_TEXT))
    assert r"\*Bob\* \[x\](http://evil)" in texts(card)


def test_the_list_pages_and_offers_actions_per_link() -> None:
    links = [replace(link(), id=f"et_{i}", slug=f"l{i}", title=f"Link {i}") for i in range(LINKS_PER_PAGE + 3)]
    links[1] = replace(links[1], team_id="team1")
    links[2] = replace(links[2], team_id="team-unknown")
    first = check_card(links_list(links, BASE_URL, "dana", team_slugs={"team1": "sales"}))
    assert "Page 1 of 2 (11 links)" in texts(first)
    assert f"{BASE_URL}/book/team/sales/l1" in texts(first)
    assert f"{BASE_URL}/book/dana/l0" in texts(first)
    assert not any("/l2" in t for t in texts(first))  # a team link whose slug we don't know shows no URL
    assert [data_of(a)["linkId"] for a in nodes(first, "Action.Execute") if a.get("title") == "Edit"] == [
        f"et_{i}" for i in range(LINKS_PER_PAGE)
    ]
    assert data_of(execute_by_title(first, "Next page")) == {"verb": "links.list", "page": 1}
    second = check_card(links_list(links, BASE_URL, "dana", page=5))
    assert "Page 2 of 2 (11 links)" in texts(second)
    assert data_of(execute_by_title(second, "Previous page")) == {"verb": "links.list", "page": 0}


def test_an_empty_list_says_how_to_start() -> None:
    card = check_card(links_list([], BASE_URL, "dana"))
    assert any("make a 30-min link" in t for t in texts(card))
    assert data_of(execute_by_title(card, "New 30-min link")) == {"verb": "link.create", "duration": 30}
