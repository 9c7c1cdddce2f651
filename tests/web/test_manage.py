"""Confirmation, the .ics download, and the manage page: reschedule and cancel."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.web.conftest import (
    DEMO_UPN,
    HOST_TZ,
    Site,
    csrf_of,
    ics_text,
    ics_value,
    page_slots,
    parse_ics,
    text_of,
    token_of,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


def utc(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def label(instant: datetime, tz: str) -> str:
    local = instant.astimezone(ZoneInfo(tz))
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M}"


async def booked_event(site: Site, token: str) -> dict[str, Any]:
    event = await site.event_of(token)
    assert event is not None and not event.get("isCancelled")
    return event


def event_start(event: dict[str, Any]) -> datetime:
    assert event["start"]["timeZone"] == "UTC"  # the emulator's events() renders in UTC
    return utc(event["start"]["dateTime"] + "Z")


async def test_confirmation_shows_both_zones_the_join_link_the_ics_and_the_manage_link(shared_site: Site) -> None:
    start = (await shared_site.free_starts())[0]
    location = await shared_site.book(start, tz="Asia/Tokyo", email="ivy@example.org")
    resp = await shared_site.client.get(location)
    html = await resp.text()
    assert resp.status == 200
    text = text_of(html)
    assert "You're booked. A calendar invitation is on its way to ivy@example.org." in text
    when = utc(start)
    until = (when + timedelta(minutes=30)).astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"{label(when, 'Asia/Tokyo')}\N{EN DASH}{until:%H:%M} (Asia/Tokyo)" in text
    assert f"{label(when, HOST_TZ)} for Adele Vance ({HOST_TZ})" in text
    token = token_of(location)
    join = (await booked_event(shared_site, token))["onlineMeeting"]["joinUrl"]
    assert f'<a class="primary" href="{join}"' in html and "Join the Teams meeting" in text
    assert f'href="/manage/{token}/invite.ics"' in html
    assert f'href="{shared_site.settings.base_url}/manage/{token}"' in html, "the manage link is shown to keep"
    assert resp.headers["Cache-Control"] == "no-store"
    # reopening the manage link later: no "You're booked" banner, same booking
    later = text_of(await (await shared_site.client.get(f"/manage/{token}?tz=Asia/Tokyo")).text())
    assert "You're booked" not in later and label(when, "Asia/Tokyo") in later


async def test_the_ics_download_is_valid_icalendar_with_the_booked_utc_times(shared_site: Site) -> None:
    start = (await shared_site.free_starts())[0]
    token = token_of(await shared_site.book(start))
    resp = await shared_site.client.get(f"/manage/{token}/invite.ics")
    assert resp.status == 200 and resp.content_type == "text/calendar" and resp.charset == "utf-8"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="booking.ics"'
    lines = parse_ics(await resp.read())
    event = await booked_event(shared_site, token)
    assert ics_value(lines, "DTSTART") == utc(start).strftime("%Y%m%dT%H%M%SZ")
    assert ics_value(lines, "DTEND") == (utc(start) + timedelta(minutes=30)).strftime("%Y%m%dT%H%M%SZ")
    assert ics_value(lines, "UID") == event["iCalUId"]
    assert ics_value(lines, "STATUS") == "CONFIRMED"
    assert ics_text(ics_value(lines, "SUMMARY")) == "Intro call with Adele Vance"
    description = ics_text(ics_value(lines, "DESCRIPTION"))
    assert event["onlineMeeting"]["joinUrl"] in description and f"/manage/{token}" in description
    assert ics_value(lines, "URL") == event["onlineMeeting"]["joinUrl"]
    assert [v for p, _, v in lines if p == "ORGANIZER"] == ["mailto:adele@contoso.example"]
    stamp = datetime.strptime(ics_value(lines, "DTSTAMP"), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs(stamp - datetime.now(UTC)) < timedelta(minutes=5)


async def test_reschedule_moves_the_same_outlook_event_and_keeps_the_teams_link(shared_site: Site) -> None:
    starts = await shared_site.free_starts(count=4)
    token = token_of(await shared_site.book(starts[0]))
    before = await booked_event(shared_site, token)
    page = await shared_site.client.get(f"/manage/{token}", params={"tz": "UTC", "reschedule": "1"})
    html = await page.text()
    assert page.status == 200
    offered = [s for _d, s, _l in page_slots(html)]
    assert offered and starts[0] not in offered, "the booked slot is not offered again"
    new_start = starts[3]
    assert new_start in offered
    form = re.search(
        rf'<form method="post" action="(/manage/{token}/reschedule)">\s*'
        rf'<input type="hidden" name="csrf_token" value="([0-9a-f]+)">\s*'
        rf'<input type="hidden" name="start" value="{new_start}">',
        html,
    )
    assert form, "each offered slot is a small POST form"
    resp = await shared_site.client.post(
        form.group(1), data={"csrf_token": form.group(2), "start": new_start, "tz": "UTC"}, allow_redirects=False
    )
    assert resp.status == 303, await resp.text()
    assert "done=rescheduled" in resp.headers["Location"]
    after = await booked_event(shared_site, token)
    assert after["id"] == before["id"], "the same Outlook event is moved, not replaced"
    assert event_start(after) == utc(new_start)
    assert after["onlineMeeting"]["joinUrl"] == before["onlineMeeting"]["joinUrl"]
    assert shared_site.cancellations_of(after["id"]) == []
    shown = text_of(await (await shared_site.client.get(resp.headers["Location"])).text())
    assert label(utc(new_start), "UTC") in shown
    booking = await shared_site.services.booking.by_manage_token(token)
    assert booking.start == utc(new_start) and booking.join_url == before["onlineMeeting"]["joinUrl"]
    # the .ics follows the move, with a higher SEQUENCE
    lines = parse_ics(await (await shared_site.client.get(f"/manage/{token}/invite.ics")).read())
    assert ics_value(lines, "DTSTART") == utc(new_start).strftime("%Y%m%dT%H%M%SZ")
    assert int(ics_value(lines, "SEQUENCE")) >= 1


async def test_reschedule_to_a_slot_that_was_taken_is_409_with_alternatives(shared_site: Site) -> None:
    starts = await shared_site.free_starts(count=3)
    token = token_of(await shared_site.book(starts[0]))
    _html, csrf = await shared_site.form(f"/manage/{token}")
    shared_site.emulator.add_event(DEMO_UPN, "Other", start=utc(starts[2]), end=utc(starts[2]) + timedelta(minutes=30))
    resp = await shared_site.client.post(
        f"/manage/{token}/reschedule", data={"csrf_token": csrf, "start": starts[2], "tz": "UTC"}, allow_redirects=False
    )
    html = await resp.text()
    assert resp.status == 409
    assert "That time is no longer available" in text_of(html) and '<ul class="alternatives">' in html
    assert event_start(await booked_event(shared_site, token)) == utc(starts[0])
    # each alternative is a one-click reschedule
    offered = re.findall(
        rf'<form method="post" action="/manage/{token}/reschedule">\s*'
        r'<input type="hidden" name="csrf_token" value="[0-9a-f]+">\s*'
        r'<input type="hidden" name="start" value="([^"]+)">',
        html.split("alternatives")[1],
    )
    assert offered and starts[2] not in offered
    again = await shared_site.client.post(
        f"/manage/{token}/reschedule",
        data={"csrf_token": csrf_of(html), "start": offered[0], "tz": "UTC"},
        allow_redirects=False,
    )
    assert again.status == 303
    assert event_start(await booked_event(shared_site, token)) == utc(offered[0])


async def test_cancel_with_a_reason_cancels_the_outlook_event(shared_site: Site) -> None:
    token = token_of(await shared_site.book())
    event_id = (await booked_event(shared_site, token))["id"]
    html, csrf = await shared_site.form(f"/manage/{token}")
    assert '<textarea id="reason" name="reason"' in html
    resp = await shared_site.client.post(
        f"/manage/{token}/cancel",
        data={"csrf_token": csrf, "reason": "Something came up, sorry!", "tz": "Europe/Oslo"},
        allow_redirects=False,
    )
    assert resp.status == 303 and "done=cancelled" in resp.headers["Location"]
    assert shared_site.cancellations_of(event_id) == [
        {
            "mailbox": DEMO_UPN,
            "eventId": event_id,
            "comment": "Something came up, sorry!",
            "attendees": ["ivy@example.org"],
        }
    ]
    page = await (await shared_site.client.get(resp.headers["Location"])).text()
    assert "This booking is cancelled." in text_of(page)
    assert "/reschedule" not in page and "/cancel" not in page, "nothing left to change"
    lines = parse_ics(await (await shared_site.client.get(f"/manage/{token}/invite.ics")).read())
    assert ics_value(lines, "STATUS") == "CANCELLED"
    # cancelling twice is a clear message, not an error page with a trace
    again = await shared_site.client.post(f"/manage/{token}/cancel", data={"csrf_token": csrf, "reason": "again"})
    assert again.status == 409 and "already cancelled" in text_of(await again.text())


async def test_cancel_without_a_reason_uses_a_default(shared_site: Site) -> None:
    token = token_of(await shared_site.book())
    event_id = (await booked_event(shared_site, token))["id"]
    _html, csrf = await shared_site.form(f"/manage/{token}")
    resp = await shared_site.client.post(f"/manage/{token}/cancel", data={"csrf_token": csrf, "reason": "  "})
    assert resp.status == 200
    [cancellation] = shared_site.cancellations_of(event_id)
    assert cancellation["comment"] == "Cancelled by the invitee."


async def test_an_unknown_action_is_404(shared_site: Site) -> None:
    token = token_of(await shared_site.book())
    _html, csrf = await shared_site.form(f"/manage/{token}")
    resp = await shared_site.client.post(f"/manage/{token}/delete", data={"csrf_token": csrf})
    assert resp.status == 404
    assert await booked_event(shared_site, token), "the booking is untouched"
