"""Link unfurling: 1.3 cards whose buttons open the booking page."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cards.unfurl import (
    UNFURL_CONTENT_TYPE,
    slot_picker_unfurl,
    unfurl_notice,
    unfurl_preview,
    unfurl_response,
    with_query,
)
from tests.cards.checks import check_card, features_newer_than, nodes, texts
from tests.cards.data import BASE_URL, link, week_slots

URL = f"{BASE_URL}/book/dana/intro-call"


def _opens(card: dict[str, Any]) -> list[dict[str, Any]]:
    return nodes(card, "Action.OpenUrl")


def test_the_unfurl_card_lists_the_next_times_as_page_links() -> None:
    slots = week_slots("Europe/London", date(2026, 12, 7), interval=30)
    card = check_card(slot_picker_unfurl(link(), "Dana Host", slots, "Asia/Kolkata", URL))
    assert card["version"] == "1.3" and features_newer_than(card, "1.3") == []
    assert not nodes(card, "Action.Execute") and not nodes(card, "Action.Submit") and "refresh" not in card
    opens = _opens(card)
    assert [a["title"] for a in opens] == [
        "14:30",
        "15:00",
        "15:30",
        "16:00",
        "16:30",
        "17:00",
        "18:30",
        "19:00",
        "See all times",
    ]
    first = urlsplit(opens[0]["url"])
    assert first.path == "/book/dana/intro-call"
    assert parse_qs(first.query) == {"start": ["2026-12-07T09:00:00Z"], "tz": ["Asia/Kolkata"]}
    assert "Mon 7 Dec" in texts(card)
    assert any("Asia/Kolkata (UTC+05:30)" in t for t in texts(card))


def test_the_unfurl_card_without_times_still_links_the_page() -> None:
    card = check_card(slot_picker_unfurl(link(), "Dana", [], "UTC", URL + "?ref=chat"))
    assert [urlsplit(a["url"]).query for a in _opens(card)] == ["ref=chat&tz=UTC"]
    assert any("No free times right now" in t for t in texts(card))


def test_preview_notice_and_response_shape() -> None:
    preview = check_card(unfurl_preview(link(), "Dana"))
    assert preview["version"] == "1.3" and "Intro call" in texts(preview)
    notice = check_card(unfurl_notice("This link isn't taking bookings", "Ask Dana for a new link.", URL))
    assert notice["version"] == "1.3" and [a["url"] for a in _opens(notice)] == [URL]
    body = unfurl_response(notice, preview)
    attachment = body["composeExtension"]["attachments"][0]
    assert body["composeExtension"]["type"] == "result"
    assert attachment == {
        "contentType": UNFURL_CONTENT_TYPE,
        "content": notice,
        "preview": {"contentType": UNFURL_CONTENT_TYPE, "content": preview},
    }


def test_with_query_replaces_and_keeps_parameters() -> None:
    assert with_query("https://x.example/p?a=1&tz=old", tz="Asia/Kolkata", start="2026-12-07T09:00:00Z") == (
        "https://x.example/p?a=1&tz=Asia%2FKolkata&start=2026-12-07T09%3A00%3A00Z"
    )
