"""The read-only sandbox page (graph.sandbox.page): every mailbox's coming meetings with times in the
mailbox's zone, attendees and Teams join links; everything escaped; only loopback clients; bad query
parameters get a clear 400/404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.sandbox import EmulatorState
from graph.sandbox.page import CSP, STYLE, render, sandbox_page
from tests.graph.emulator_fixtures import ADELE, MEGAN, T0, Clock

ALLOWED_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "main",
    "h1",
    "p",
    "code",
    "section",
    "h2",
    "table",
    "caption",
    "thead",
    "tr",
    "th",
    "tbody",
    "td",
    "a",
    "br",
    "span",
}


class Page(HTMLParser):
    """The page as data: tags used, links, and the text of each table row's cells."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.links: list[str] = []
        self.rows: list[list[str]] = []
        self.headings: list[str] = []
        self._cell: list[str] | None = None
        self._in_h2 = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")
        elif tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []
        elif tag == "h2":
            self._in_h2 = True
            self.headings.append("")
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "h2":
            self._in_h2 = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_h2:
            self.headings[-1] += data

    def row(self, subject: str) -> list[str]:
        [found] = [r for r in self.rows if len(r) > 2 and r[2] == subject]
        return found


def world() -> EmulatorState:
    state = EmulatorState(clock=Clock(T0))  # Monday 2030-03-04 00:00 UTC; US DST starts on 10 March
    state.add_user(ADELE, "Adele Vance", time_zone="Pacific Standard Time")
    state.add_user(MEGAN, "Megan Bowen", time_zone="Europe/London")
    state.add_event(
        ADELE,
        "Intro call with Ivy",
        T0 + timedelta(days=1, hours=17),
        T0 + timedelta(days=1, hours=17, minutes=30),
        is_online_meeting=True,
        attendees=[("Ivy Invitee", "ivy@example.org")],
        time_zone="Pacific Standard Time",
    )
    state.add_event(ADELE, "Long ago", T0 - timedelta(days=3), T0 - timedelta(days=3) + timedelta(hours=1))
    state.add_event(ADELE, "Next month", T0 + timedelta(days=30), T0 + timedelta(days=30, hours=1))
    state.add_event(
        MEGAN,
        "Standup",
        T0 - timedelta(days=7, hours=-9),
        T0 - timedelta(days=7, hours=-9, minutes=-15),
        time_zone="Europe/London",
        recurrence={
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "noEnd", "startDate": (T0 - timedelta(days=7)).date().isoformat()},
        },
    )
    return state


def test_the_page_lists_a_booked_meeting_in_the_mailbox_zone_with_its_join_link() -> None:
    state = world()
    page = Page(render(state))
    [intro] = [e for e in state.events(ADELE) if e["subject"] == "Intro call with Ivy"]
    start, end, _subject, show_as, attendees, join = page.row("Intro call with Ivy")
    assert (start, end) == ("Tue 2030-03-05 09:00", "Tue 2030-03-05 09:30")  # 17:00 UTC in Pacific time
    assert (show_as, attendees, join) == ("busy", "Ivy Invitee <ivy@example.org>", "Join Teams meeting")
    assert intro["onlineMeeting"]["joinUrl"] in page.links
    subjects = [r[2] for r in page.rows if len(r) > 2]
    assert "Long ago" not in subjects and "Next month" not in subjects  # the coming week only
    assert subjects.count("Standup") == 7  # a daily series, one row per day, in Megan's own section
    assert page.headings == ["Adele Vance <adele@contoso.example>", "Megan Bowen <megan@contoso.example>"]
    assert "Next month" in [r[2] for r in Page(render(state, days=31)).rows if len(r) > 2]


@settings(max_examples=100, deadline=None)
@given(subject=st.text(max_size=40), name=st.text(max_size=20))
def test_whatever_a_subject_or_attendee_says_is_shown_as_text_never_as_markup(subject: str, name: str) -> None:
    state = EmulatorState(clock=Clock(T0))
    state.add_user(ADELE, "Adele <b>Vance</b>", time_zone="UTC")
    state.add_event(
        ADELE,
        subject,
        T0 + timedelta(hours=2),
        T0 + timedelta(hours=3),
        attendees=[{"emailAddress": {"name": name, "address": "x@example.org"}, "type": "required"}],
    )
    page = Page(render(state))
    assert page.tags <= ALLOWED_TAGS
    [row] = [r for r in page.rows if len(r) > 2]
    stored = state.events(ADELE)[0]["subject"]
    assert row[2] == (stored or "(no subject)")
    assert page.headings == ["Adele <b>Vance</b> <adele@contoso.example>"]


def test_html_in_a_subject_is_escaped() -> None:
    state = world()
    state.add_event(ADELE, '<script>alert("x")</script><b>Q&A</b>', T0 + timedelta(hours=20), T0 + timedelta(hours=21))
    html = render(state)
    assert "<script>" not in html and "<b>Q&A" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;b&gt;Q&amp;A&lt;/b&gt;" in html


def test_a_join_url_that_is_not_http_is_shown_but_never_a_link() -> None:
    state = world()
    [event] = [e for e in state.all_stored_events() if e.subject == "Intro call with Ivy"]
    event.online_meeting = {"joinUrl": "javascript:alert(1)"}
    page = Page(render(state))
    assert page.row("Intro call with Ivy")[5] == "javascript:alert(1)"
    assert not any(link.startswith("javascript") for link in page.links)


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    app = web.Application()
    app.router.add_get("/sandbox", sandbox_page(world()))
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


async def test_the_page_is_served_with_a_strict_policy(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/sandbox")
    assert resp.status == 200 and resp.content_type == "text/html"
    assert resp.headers["Content-Security-Policy"] == CSP and "script-src" not in CSP and "'unsafe" not in CSP
    assert f"<style>{STYLE}</style>" in await resp.text()
    one = Page(await (await client.get("/sandbox", params={"mailbox": MEGAN.upper()})).text())
    assert one.headings == ["Megan Bowen <megan@contoso.example>"]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"days": "0"}, 400, "days must be a whole number from 1 to 62"),
        ({"days": "63"}, 400, "days must be a whole number from 1 to 62"),
        ({"days": "soon"}, 400, "days must be a whole number from 1 to 62"),
        ({"days": "\u00b2"}, 400, "days must be a whole number from 1 to 62"),
        ({"days": "9" * 5000}, 400, "days must be a whole number from 1 to 62"),
        ({"mailbox": "nobody@contoso.example"}, 404, "There is no sandbox mailbox"),
    ],
)
async def test_bad_query_parameters_get_a_clear_answer(
    client: TestClient[Any, Any], query: dict[str, str], status: int, message: str
) -> None:
    resp = await client.get("/sandbox", params=query)
    assert resp.status == status and message in await resp.text()


async def test_only_this_computer_is_answered() -> None:
    handler = sandbox_page(world())
    for peer, status in (
        (("10.0.0.5", 4242), 403),
        (("192.168.1.9", 1), 403),
        (("127.0.0.1", 5), 200),
        (("::1", 5, 0, 0), 200),
    ):
        transport = mock.Mock()
        transport.get_extra_info.side_effect = lambda name, default=None, peer=peer: (
            peer if name == "peername" else default
        )
        resp = await handler(make_mocked_request("GET", "/sandbox", transport=transport))
        assert resp.status == status, peer
