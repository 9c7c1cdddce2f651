"""Security of the web pages: escaping everywhere input comes back, CSRF, rate limits, manage-token
isolation, headers on every response, and no stack traces."""

from __future__ import annotations

import html as html_lib
import json
import re
import secrets
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from scheduling.domain import BookingStatus, Question
from scheduling.links import NewLink
from tests.web.conftest import (
    DEMO_PATH,
    DEMO_UPN,
    Site,
    csrf_of,
    ics_text,
    ics_value,
    parse_ics,
    running_site,
    text_of,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TEMPLATE = "{{7*7}}"
PAYLOADS = (SCRIPT, IMG, TEMPLATE)
RAW_MARKERS = ("<script>alert", "<img src=x", "onerror=alert(1)>")
TRACEBACK_MARKERS = (
    "Traceback",
    'File "/',
    '.py"',
    "Exception",
    "jinja2",
    "sqlalchemy",
    "aiohttp.web",
    "site-packages",
    "raise ",
)


def assert_no_raw_payload(content: str, where: str) -> None:
    for marker in RAW_MARKERS:
        assert marker not in content, f"unescaped {marker!r} in {where}"


def utc(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def token_of(location: str) -> str:
    return location.split("/")[2].split("?")[0]


async def with_question(site: Site) -> None:
    link = await site.link()
    await site.services.repos.event_types.update(
        replace(link, questions=(Question("topic", "Topic", required=True, multiline=True, max_length=500),))
    )


def tagged_events(site: Site) -> list[dict[str, Any]]:
    return [e for e in site.emulator.events(DEMO_UPN) if e.get("transactionId")]


# --------------------------------------------------------------------------------------------- escaping


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_payloads_come_back_escaped_on_a_validation_error(shared_site: Site, payload: str) -> None:
    await with_question(shared_site)
    start = (await shared_site.free_starts())[0]
    resp = await shared_site.book_via_form(
        start, name=f"Eve {payload}", email="not an email", notes=f"n {payload}", answer_topic=f"t {payload}"
    )
    page = await resp.text()
    assert resp.status == 422
    assert_no_raw_payload(page, "the re-rendered form")
    escaped = html_lib.escape(payload, quote=True).replace("&#x27;", "&#39;").replace("&quot;", "&#34;")
    assert f'value="Eve {escaped}"' in page
    assert f">n {escaped}</textarea>" in page and f">t {escaped}</textarea>" in page
    if payload == TEMPLATE:
        assert TEMPLATE in text_of(page), "templates are never evaluated on user input"


async def test_payloads_come_back_escaped_on_the_confirmation_in_the_event_body_and_ics(site: Site) -> None:
    await with_question(site)
    name = f"Eve {SCRIPT} {TEMPLATE}"
    notes = f"Notes {IMG}\n{SCRIPT} {TEMPLATE}"
    topic = f"Topic {IMG} {TEMPLATE}"
    location = await site.book(name=name, notes=notes, answer_topic=topic, email="eve@example.org")
    page = await (await site.client.get(location)).text()
    assert_no_raw_payload(page, "the confirmation page")
    text = text_of(page)
    # The template payload shows literally wherever it was typed (a random manage token may contain "49").
    assert name in text and topic in text and f"Notes {IMG}" in text and text.count(TEMPLATE) >= 2
    manage = await (await site.client.get(location.split("?")[0])).text()
    assert_no_raw_payload(manage, "the manage page")
    # the Outlook event body is HTML: every payload is HTML-escaped there
    [event] = tagged_events(site)
    body = event["body"]["content"]
    assert event["body"]["contentType"] == "html"
    assert_no_raw_payload(body, "the Outlook event body")
    for payload in (SCRIPT, IMG):
        assert html_lib.escape(payload, quote=True) in body
    assert f"Eve &lt;script&gt;alert(1)&lt;/script&gt; {TEMPLATE}" in body
    assert event["subject"] == f"Intro call with {name}"  # the subject is plain text, shown as text
    # the .ics stays valid and carries none of the typed text unescaped
    ics = await (await site.client.get(f"/manage/{token_of(location)}/invite.ics")).read()
    parse_ics(ics)
    assert_no_raw_payload(ics.decode(), "the .ics")


async def test_host_controlled_text_is_escaped_in_pages_and_in_the_ics(site: Site) -> None:
    title = f"Intro {SCRIPT}; call, \\ {TEMPLATE}"
    await site.services.repos.event_types.update(replace(await site.link(), title=title))
    host = await site.host()
    display = f'Adele "Ace" Vance, PhD {IMG}'
    await site.services.repos.users.upsert(replace(host, display_name=display))
    book_page = await (await site.client.get(DEMO_PATH)).text()
    assert_no_raw_payload(book_page, "the booking page")
    assert "<title>Intro &lt;script&gt;alert(1)&lt;/script&gt;; call" in book_page
    location = await site.book()
    assert_no_raw_payload(await (await site.client.get(location)).text(), "the manage page")
    lines = parse_ics(await (await site.client.get(f"/manage/{token_of(location)}/invite.ics")).read())
    assert ics_text(ics_value(lines, "SUMMARY")) == f"{title} with {display}"
    [organizer] = [(params, value) for prop, params, value in lines if prop == "ORGANIZER"]
    assert organizer == (
        ";CN=\"Adele ^'Ace^' Vance, PhD ^'><img src=x onerror=alert(1)>\"",
        "mailto:adele@contoso.example",
    )


# ------------------------------------------------------------------------------------------------- CSRF


@pytest.mark.parametrize("token", ["", "0" * 64, "forged", "é" * 64, None])
async def test_booking_without_a_valid_csrf_token_is_403_and_books_nothing(
    shared_site: Site, token: str | None
) -> None:
    start = (await shared_site.free_starts())[0]
    await shared_site.form(DEMO_PATH, start=start)  # the visitor has a CSRF cookie
    data = {"start": start, "name": "Ivy", "email": "ivy@example.org", "timeZone": "UTC"}
    if token is not None:
        data["csrf_token"] = token
    resp = await shared_site.client.post(DEMO_PATH, data=data)
    assert resp.status == 403
    assert "Reload the page" in text_of(await resp.text())
    assert tagged_events(shared_site) == []


async def test_a_csrf_token_from_another_browser_is_refused(shared_site: Site) -> None:
    start = (await shared_site.free_starts())[0]
    _page, token = await shared_site.form(DEMO_PATH, start=start)
    shared_site.client.session.cookie_jar.clear()  # the attacker's browser: no cookie, or its own
    await shared_site.client.get(DEMO_PATH)
    resp = await shared_site.client.post(
        DEMO_PATH,
        data={"csrf_token": token, "start": start, "name": "Ivy", "email": "ivy@example.org", "timeZone": "UTC"},
    )
    assert resp.status == 403 and tagged_events(shared_site) == []


async def test_a_csrf_token_of_one_link_is_refused_on_another(shared_site: Site) -> None:
    host = await shared_site.host()
    other = await shared_site.services.links.create(host, NewLink(duration=30, title="Other call"))
    start = (await shared_site.free_starts())[0]
    _page, token = await shared_site.form(DEMO_PATH, start=start)
    resp = await shared_site.client.post(
        f"/book/{host.handle}/{other.slug}",
        data={"csrf_token": token, "start": start, "name": "Ivy", "email": "ivy@example.org", "timeZone": "UTC"},
    )
    assert resp.status == 403 and tagged_events(shared_site) == []


@pytest.mark.parametrize("action", ["cancel", "reschedule"])
async def test_manage_actions_without_a_valid_csrf_token_change_nothing(site: Site, action: str) -> None:
    starts = await site.free_starts(count=3)
    token = token_of(await site.book(starts[0]))
    before = await site.services.booking.by_manage_token(token)
    for forged in ({}, {"csrf_token": "0" * 64}):
        resp = await site.client.post(f"/manage/{token}/{action}", data={"start": starts[2], "reason": "x"} | forged)
        assert resp.status == 403
    after = await site.services.booking.by_manage_token(token)
    assert after == before and site.emulator.cancellations == []


# ---------------------------------------------------------------------------------- manage-token isolation


async def test_one_manage_link_can_neither_read_nor_change_another_booking(site: Site) -> None:
    starts = await site.free_starts(count=4)
    mine = token_of(await site.book(starts[0], email="me@example.org", name="Me"))
    site.client.session.cookie_jar.clear()
    theirs = token_of(await site.book(starts[1], email="them@example.org", name="Them"))
    site.client.session.cookie_jar.clear()
    their_booking = await site.services.booking.by_manage_token(theirs)
    page, csrf = await site.form(f"/manage/{mine}")
    assert "them@example.org" not in page and "Them" not in text_of(page)
    # my CSRF token and cookie, posted at their manage URL: refused, nothing changes
    for action, data in (("cancel", {"reason": "hijack"}), ("reschedule", {"start": starts[3]})):
        resp = await site.client.post(f"/manage/{theirs}/{action}", data={"csrf_token": csrf, "tz": "UTC"} | data)
        assert resp.status == 403
    # smuggling their booking's id or token into my form acts on mine only
    resp = await site.client.post(
        f"/manage/{mine}/cancel",
        data={
            "csrf_token": csrf,
            "reason": "mine only",
            "token": theirs,
            "booking_id": their_booking.id,
            "id": their_booking.id,
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    assert (await site.services.booking.by_manage_token(mine)).status is BookingStatus.CANCELLED
    assert await site.services.booking.by_manage_token(theirs) == their_booking
    assert [c["attendees"] for c in site.emulator.cancellations] == [["me@example.org"]]
    # near-miss tokens find nothing; my .ics is mine
    for guess in (mine[:-1] + ("A" if mine[-1] != "A" else "B"), mine[:20], mine.upper(), their_booking.id):
        assert (await site.client.get(f"/manage/{guess}")).status == 404
    ics = parse_ics(await (await site.client.get(f"/manage/{mine}/invite.ics")).read())
    assert ics_value(ics, "DTSTART") == utc(starts[0]).strftime("%Y%m%dT%H%M%SZ")


# ------------------------------------------------------------------------------------------- rate limits


async def test_the_booking_rate_limit_holds_for_form_and_json_submissions(tmp_path: Path) -> None:
    async with running_site(tmp_path, SLOTWISE_BOOKING_RATE_LIMIT=3) as site:
        start = (await site.free_starts())[0]
        _page, token = await site.form(DEMO_PATH, start=start)
        for _ in range(3):  # three tries within the minute (invalid ones count too)
            resp = await site.client.post(
                DEMO_PATH,
                data={"csrf_token": token, "start": start, "name": "", "email": "ivy@example.org", "timeZone": "UTC"},
            )
            assert resp.status == 422
        form = await site.client.post(
            DEMO_PATH,
            data={"csrf_token": token, "start": start, "name": "Ivy", "email": "ivy@example.org", "timeZone": "UTC"},
        )
        assert form.status == 429 and 1 <= int(form.headers["Retry-After"]) <= 120  # sliding: < 2 windows
        assert "Too many attempts" in await form.text()
        api = await site.book_json(start)
        assert api.status == 429 and 1 <= int(api.headers["Retry-After"]) <= 120
        body = await api.json()
        assert api.content_type == "application/problem+json" and body["type"].endswith("rate_limited")
        assert tagged_events(site) == []
        # reading slots is not limited
        assert (await site.client.get(DEMO_PATH)).status == 200


async def test_the_json_rate_limit_counts_the_n_plus_first_request(tmp_path: Path) -> None:
    async with running_site(tmp_path, SLOTWISE_BOOKING_RATE_LIMIT=2) as site:
        starts = await site.free_starts(count=3)
        assert (await site.book_json(starts[0], email="a@example.org")).status == 201
        assert (await site.book_json(starts[1], email="b@example.org")).status == 201
        third = await site.book_json(starts[2], email="c@example.org")
        assert third.status == 429 and "Retry-After" in third.headers
        assert len(tagged_events(site)) == 2


async def test_manage_actions_are_rate_limited_too(tmp_path: Path) -> None:
    async with running_site(tmp_path, SLOTWISE_BOOKING_RATE_LIMIT=2) as site:
        token = token_of(await site.book())
        _page, csrf = await site.form(f"/manage/{token}")
        for _ in range(2):
            await site.client.post(f"/manage/{token}/reschedule", data={"csrf_token": csrf, "start": "bad"})
        resp = await site.client.post(f"/manage/{token}/cancel", data={"csrf_token": csrf, "reason": "x"})
        assert resp.status == 429 and "Retry-After" in resp.headers
        assert site.emulator.cancellations == []


# ---------------------------------------------------------------------------- headers, errors, no traces


async def collect_responses(site: Site, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, str]]:
    client = site.client
    out: list[tuple[str, Any, str]] = []

    async def record(label: str, request: Any) -> Any:
        resp = await request
        out.append((label, resp, await resp.text()))
        return resp

    starts = await site.free_starts(count=3)
    page = await record("booking page", client.get(DEMO_PATH))
    assert page.status == 200
    form = await record("form page", client.get(DEMO_PATH, params={"start": starts[0]}))
    token = csrf_of(out[-1][2])
    await record("home", client.get("/"))
    await record("health", client.get("/healthz"))
    await record("static css", client.get("/static/slotwise.css"))
    await record("static js", client.get("/static/tz.js"))
    await record("static missing", client.get("/static/nope.js"))
    await record("json slots", client.get(f"{DEMO_PATH}/slots", params={"start": "2026-12-01", "end": "2026-12-02"}))
    await record("json slots 400", client.get(f"{DEMO_PATH}/slots", params={"start": "x"}))
    await record("json 422", client.post(DEMO_PATH, json={"start": "x"}))
    await record("json 400", client.post(DEMO_PATH, data=b"{", headers={"Content-Type": "application/json"}))
    await record("form 422", client.post(DEMO_PATH, data={"csrf_token": token, "start": starts[0], "name": ""}))
    await record("form 403", client.post(DEMO_PATH, data={"start": starts[0]}))
    redirect = await record(
        "form 303",
        client.post(
            DEMO_PATH,
            allow_redirects=False,
            data={
                "csrf_token": token,
                "start": starts[0],
                "name": "Ivy",
                "email": "ivy@example.org",
                "timeZone": "UTC",
            },
        ),
    )
    assert form.status == 200 and redirect.status == 303
    manage = redirect.headers["Location"]
    await record("manage page", client.get(manage))
    await record("ics", client.get(f"/manage/{token_of(manage)}/invite.ics"))
    await record(
        "json 201",
        client.post(DEMO_PATH, json={"start": starts[1], "name": "J", "email": "j@example.org", "timeZone": "UTC"}),
    )
    await record(
        "json 409",
        client.post(DEMO_PATH, json={"start": starts[1], "name": "K", "email": "k@example.org", "timeZone": "UTC"}),
    )
    await record("unknown page 404", client.get("/no/such/page"))
    await record("unknown link 404", client.get("/book/nobody/nothing"))
    await record("unknown manage 404", client.get("/manage/nothing"))
    await record("405", client.put(DEMO_PATH))
    await record("json 405", client.put(f"{DEMO_PATH}/slots"))
    await record("too large", client.post(DEMO_PATH, data=b"x" * 300_000, headers={"Content-Type": "application/json"}))

    async def boom(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("secret internal detail /srv/slotwise/db.py line 42")

    monkeypatch.setattr(site.services.booking, "slots", boom)
    await record("page 500", client.get(DEMO_PATH))
    await record("json 500", client.get(f"{DEMO_PATH}/slots", params={"start": "2026-12-01", "end": "2026-12-02"}))
    monkeypatch.undo()
    site.emulator.faults.unavailable(count=10_000, user=DEMO_UPN, retry_after=0.01)
    await site.stale_cache()  # slot views read Graph live (and fail) once the busy cache can't be trusted
    await record("page 503", client.get(DEMO_PATH))
    await record("json 503", client.get(f"{DEMO_PATH}/slots", params={"start": "2026-12-01", "end": "2026-12-02"}))
    await site.services.repos.event_types.update(replace(await site.link(), active=False))
    await record("410", client.get(DEMO_PATH))
    return out


async def test_every_response_has_the_security_headers_and_no_error_shows_a_trace(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    responses = await collect_responses(site, monkeypatch)
    statuses = {resp.status for _label, resp, _body in responses}
    assert {200, 303, 400, 403, 404, 405, 409, 410, 413, 422, 500, 503} <= statuses, statuses
    for label, resp, body in responses:
        csp = resp.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors" in csp and "default-src 'self'" in csp and "script-src 'self'" in csp, label
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, label
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", label
        assert resp.headers.get("Referrer-Policy") == "no-referrer", label
        if resp.status >= 400:
            for marker in TRACEBACK_MARKERS:
                assert marker not in body, f"{label} ({resp.status}) shows {marker!r}: {body[:300]}"
            assert "secret internal detail" not in body, label
    errors = {label: (resp, body) for label, resp, body in responses}
    page500, body500 = errors["page 500"]
    # the reference shown is the request id (web.observability): the one in the header and the log lines
    assert page500.status == 500 and f"reference {page500.headers['X-Request-Id']})" in body500
    json500, json500_body = errors["json 500"]
    assert json500.status == 500 and json500.content_type == "application/problem+json"
    assert json.loads(json500_body)["requestId"] == json500.headers["X-Request-Id"]
    assert errors["json 405"][0].content_type == "application/problem+json"


async def test_no_inline_script_or_style_so_the_csp_can_forbid_them(site: Site) -> None:
    location = await site.book()
    for path in (DEMO_PATH, location):
        page = await (await site.client.get(path)).text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "inline scripts are blocked by the CSP"
        assert "<style" not in page and " style=" not in page and not re.search(r" on[a-z]+=", page)


async def test_the_csrf_cookie_is_httponly_and_samesite(shared_site: Site) -> None:
    shared_site.client.session.cookie_jar.clear()
    resp = await shared_site.client.get(DEMO_PATH, params={"start": (await shared_site.free_starts())[0]})
    cookie = resp.cookies["sw_csrf"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert len(cookie.value) >= 32


async def test_manage_tokens_are_long_and_random(site: Site) -> None:
    starts = await site.free_starts(count=2)
    tokens = {token_of(await site.book(s, email=f"{secrets.token_hex(3)}@example.org")) for s in starts}
    assert len(tokens) == 2 and all(len(t) >= 43 for t in tokens)
