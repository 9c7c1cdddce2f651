"""The booking page over real HTTP: what it shows, time zones, week paging, the form page."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.web.conftest import DEMO_PATH, DEMO_UPN, HOST_TZ, Site, day_headings, page_slots, text_of
from web.views import day_label

pytestmark = pytest.mark.asyncio(loop_scope="session")


def utc(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def local_day(iso: str, tz: str) -> date:
    return utc(iso).astimezone(ZoneInfo(tz)).date()


async def test_booking_page_shows_host_title_duration_location_and_a_week_of_slots(shared_site: Site) -> None:
    resp = await shared_site.client.get(DEMO_PATH)
    html = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/html"
    text = text_of(html)
    assert "Adele Vance" in text and "Intro call" in text
    assert "30 minutes" in text and "Microsoft Teams meeting" in text
    assert "<title>Intro call with Adele Vance" in html
    # no ?tz=: the page is in the host's zone and asks the script to detect the visitor's
    assert 'data-tz-detected="no"' in html and 'src="/static/tz.js' in html
    assert f'<option value="{HOST_TZ}" selected>' in html
    slots = page_slots(html)
    assert slots, "the demo host has free time in the coming week"
    today = datetime.now(UTC).astimezone(ZoneInfo(HOST_TZ)).date()
    assert day_headings(html) == [day_label(today + timedelta(days=i)) for i in range(7)]
    # every slot is a plain link (works without JavaScript) to the form for that instant
    for _day, start, _label in slots:
        assert f"start={start.replace(':', '%3A')}" in html


async def test_page_offers_exactly_the_slots_of_the_json_endpoint(shared_site: Site) -> None:
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin")).date()
    html = await (await shared_site.client.get(DEMO_PATH, params={"tz": "Europe/Berlin"})).text()
    expected = await shared_site.slots(tz="Europe/Berlin", days=7, first=today)
    assert [s for _d, s, _l in page_slots(html)] == [s["start"] for s in expected]


async def test_switching_zones_labels_the_same_instants_in_the_visitors_zone(shared_site: Site) -> None:
    week = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    pages = {}
    for tz in ("Asia/Kolkata", "America/Los_Angeles"):
        resp = await shared_site.client.get(DEMO_PATH, params={"tz": tz, "week": week})
        html = await resp.text()
        assert resp.status == 200
        assert 'data-tz-detected="yes"' in html and f'<option value="{tz}" selected>' in html
        pages[tz] = {start: (day, label) for day, start, label in page_slots(html)}
        for start, (day, label) in pages[tz].items():
            local = utc(start).astimezone(ZoneInfo(tz))
            assert label == local.strftime("%H:%M"), (tz, start, label)
            assert day == day_label(local.date()), "slots are grouped by the visitor's local date"
    shared = pages["Asia/Kolkata"].keys() & pages["America/Los_Angeles"].keys()
    assert len(shared) >= 5, "most of the week's instants appear in both zones"
    # the same instant, two local labels; and some fall on another local date in Kolkata than in LA
    assert any(pages["Asia/Kolkata"][s][1] != pages["America/Los_Angeles"][s][1] for s in shared)
    assert any(pages["Asia/Kolkata"][s][0] != pages["America/Los_Angeles"][s][0] for s in shared)
    # each page covers exactly its own seven local days: the JSON endpoint agrees in both zones
    first = date.fromisoformat(week)
    for tz, slots in pages.items():
        expected = await shared_site.slots(tz=tz, days=7, first=first)
        assert sorted(slots) == [s["start"] for s in expected]


async def test_an_unknown_zone_falls_back_to_the_hosts_zone(shared_site: Site) -> None:
    for bad in ("Mars/Olympus_Mons", "<script>alert(1)</script>", "../../etc/passwd", ""):
        resp = await shared_site.client.get(DEMO_PATH, params={"tz": bad})
        html = await resp.text()
        assert resp.status == 200
        assert f'<option value="{HOST_TZ}" selected>' in html
        assert "<script>alert(1)</script>" not in html
        for _day, start, label in page_slots(html):
            assert label == utc(start).astimezone(ZoneInfo(HOST_TZ)).strftime("%H:%M")


async def test_the_zone_picker_is_a_plain_get_form(shared_site: Site) -> None:
    html = await (await shared_site.client.get(DEMO_PATH, params={"tz": "Asia/Tokyo"})).text()
    form = re.search(r'<form method="get" action="([^"]+)" class="tz-form">(.*?)</form>', html, re.S)
    assert form and form.group(1) == DEMO_PATH
    assert '<select id="tz" name="tz">' in form.group(2) and "<label" in form.group(2)


async def test_previous_and_next_week_links(shared_site: Site) -> None:
    tz = "Europe/London"
    today = datetime.now(UTC).astimezone(ZoneInfo(tz)).date()
    html = await (await shared_site.client.get(DEMO_PATH, params={"tz": tz})).text()
    assert "Previous week" not in html, "no paging into the past"
    nxt = re.search(r'<a href="([^"]+)">Next week', html)
    assert nxt
    href = nxt.group(1).replace("&amp;", "&")
    assert f"week={(today + timedelta(days=7)).isoformat()}" in href and "tz=Europe%2FLondon" in href
    html2 = await (await shared_site.client.get(href)).text()
    assert day_headings(html2)[0] == day_label(today + timedelta(days=7))
    prev = re.search(r'<a href="([^"]+)">&larr; Previous week', html2)
    assert prev and f"week={today.isoformat()}" in prev.group(1)
    # a week in the past or a malformed one shows the current week
    for week in ((today - timedelta(days=30)).isoformat(), "not-a-date", "2026-13-45"):
        page = await (await shared_site.client.get(DEMO_PATH, params={"tz": tz, "week": week})).text()
        assert day_headings(page)[0] == day_label(today)


async def test_a_fully_booked_week_links_to_the_next_free_day(site: Site) -> None:
    tz = "Europe/Paris"
    today = datetime.now(UTC).astimezone(ZoneInfo(tz)).date()
    start = datetime.combine(today, datetime.min.time(), ZoneInfo(tz)) - timedelta(hours=12)
    end = start + timedelta(days=9)
    site.emulator.add_event(DEMO_UPN, "Conference", start=start, end=end, show_as="oof")
    await site.synced()  # the busy cache has the conference (notification, then delta)
    resp = await site.client.get(DEMO_PATH, params={"tz": tz})
    html = await resp.text()
    assert resp.status == 200 and page_slots(html) == []
    assert "Nothing is free this week" in text_of(html)
    first_free = local_day((await site.slots(tz=tz, days=30, first=today))[0]["start"], tz)
    jump = re.search(r'The next free day is <a href="([^"]+)">([^<]+)</a>', html)
    assert jump, html
    assert f"week={first_free.isoformat()}" in jump.group(1)
    assert jump.group(2) == f"{first_free:%A} {first_free.day} {first_free:%B}"
    landed = await (await site.client.get(jump.group(1).replace("&amp;", "&"))).text()
    slots = page_slots(landed)
    assert slots and slots[0][0] == day_label(first_free)


async def test_a_week_with_slots_also_offers_the_jump_past_it(shared_site: Site) -> None:
    html = await (await shared_site.client.get(DEMO_PATH, params={"tz": "UTC"})).text()
    jump = re.search(r'<p class="jump"><a href="([^"]+)">', html)
    assert page_slots(html) and jump
    today = datetime.now(UTC).date()
    week = re.search(r"week=(\d{4}-\d{2}-\d{2})", jump.group(1))
    assert week and date.fromisoformat(week.group(1)) >= today + timedelta(days=7)


async def test_form_page_shows_the_time_in_both_zones_and_the_fields(shared_site: Site) -> None:
    start = (await shared_site.free_starts())[0]
    resp = await shared_site.client.get(DEMO_PATH, params={"start": start, "tz": "Asia/Tokyo"})
    html = await resp.text()
    assert resp.status == 200
    text = text_of(html)
    tokyo = utc(start).astimezone(ZoneInfo("Asia/Tokyo"))
    host = utc(start).astimezone(ZoneInfo(HOST_TZ))
    assert f"{tokyo:%A} {tokyo.day} {tokyo:%B %Y}, {tokyo:%H:%M}" in text and "(Asia/Tokyo)" in text
    assert f"{host:%A} {host.day} {host:%B %Y}, {host:%H:%M} for Adele Vance ({HOST_TZ})" in text
    for field in (
        'name="name"',
        'name="email"',
        'name="notes"',
        'name="csrf_token"',
        f'name="start" value="{start}"',
        'name="timeZone" value="Asia/Tokyo"',
    ):
        assert field in html
    assert re.search(r'<label for="name">', html) and re.search(r'<label for="email">', html)
    assert 'href="/book/adele/intro-call?tz=Asia%2FTokyo">' in html, "a way back to the week"


async def test_form_for_a_malformed_start_goes_back_to_the_slots(shared_site: Site) -> None:
    resp = await shared_site.client.get(DEMO_PATH, params={"start": "next tuesday", "tz": "UTC"})
    html = await resp.text()
    assert resp.status == 400
    assert "Please pick one of the times below." in text_of(html) and page_slots(html)


async def test_home_page_and_static_files(shared_site: Site) -> None:
    resp = await shared_site.client.get("/")
    assert resp.status == 200 and "Ask your host for their booking link" in text_of(await resp.text())
    js = await shared_site.client.get("/static/tz.js")
    assert js.status == 200 and "Intl.DateTimeFormat" in await js.text()
    css = await shared_site.client.get("/static/slotwise.css")
    assert css.status == 200 and css.content_type == "text/css"
