"""The booking link's JSON endpoints: slots (and every 400), booking 201/409/422, Idempotency-Key."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.web.conftest import DEMO_PATH, DEMO_UPN, Site

pytestmark = pytest.mark.asyncio(loop_scope="session")

PROBLEM = "application/problem+json"


def utc(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def tagged_events(site: Site) -> list[dict[str, Any]]:
    return [e for e in site.emulator.events(DEMO_UPN) if e.get("transactionId")]


async def test_slots_are_sorted_utc_instants_for_the_asked_local_days(shared_site: Site) -> None:
    first = (datetime.now(UTC) + timedelta(days=2)).date()
    last = first + timedelta(days=6)
    resp = await shared_site.client.get(
        f"{DEMO_PATH}/slots", params={"start": first.isoformat(), "end": last.isoformat(), "timeZone": "Asia/Kolkata"}
    )
    assert resp.status == 200 and resp.content_type == "application/json"
    body = await resp.json()
    assert body["timeZone"] == "Asia/Kolkata" and body["duration"] == 30
    slots = body["slots"]
    assert slots
    starts = [s["start"] for s in slots]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    for s in slots:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00Z", s["start"]) and s["end"].endswith("Z")
        assert utc(s["end"]) - utc(s["start"]) == timedelta(minutes=30)
        local = utc(s["start"]).astimezone(ZoneInfo("Asia/Kolkata")).date()
        assert first <= local <= last


async def test_the_same_days_in_another_zone_are_other_instants_of_the_same_availability(shared_site: Site) -> None:
    first = (datetime.now(UTC) + timedelta(days=2)).date()
    a = {s["start"] for s in await shared_site.slots(tz="Pacific/Auckland", days=14, first=first)}
    b = {s["start"] for s in await shared_site.slots(tz="America/Los_Angeles", days=14, first=first)}
    middle = {s for s in a & b if first + timedelta(days=2) <= utc(s).date() <= first + timedelta(days=11)}
    assert middle and {s for s in a if s in middle} == {s for s in b if s in middle}


async def test_a_62_day_range_is_allowed(shared_site: Site) -> None:
    first = datetime.now(UTC).date()
    resp = await shared_site.client.get(
        f"{DEMO_PATH}/slots",
        params={"start": first.isoformat(), "end": (first + timedelta(days=61)).isoformat(), "timeZone": "UTC"},
    )
    assert resp.status == 200, await resp.text()


@pytest.mark.parametrize(
    ("params", "parameter", "detail"),
    [
        ({"end": "2026-12-07"}, "start", "'start' is required"),
        ({"start": "2026-12-01"}, "end", "'end' is required"),
        ({"start": "01/12/2026", "end": "2026-12-07"}, "start", "is not a date like 2026-12-01"),
        ({"start": "2026-12-01", "end": "2026-02-30"}, "end", "is not a date like 2026-12-01"),
        ({"start": "2026-12-07", "end": "2026-12-01"}, "end", "'end' is before 'start'"),
        ({"start": "2026-12-01", "end": "2027-02-01"}, "end", "at most 62 days"),
        (
            {"start": "2026-12-01", "end": "2026-12-07", "timeZone": "Mars/Olympus"},
            "timeZone",
            "is not an IANA time zone",
        ),
        (
            {"start": "2026-12-01", "end": "2026-12-07", "timeZone": "Pacific Standard Time"},
            "timeZone",
            "is not an IANA time zone",
        ),
        (
            {"start": "2026-12-01", "end": "2026-12-07", "duration": "half an hour"},
            "duration",
            "whole number of minutes",
        ),
    ],
)
async def test_bad_slot_queries_are_400_problem_details_naming_the_parameter(
    shared_site: Site, params: dict[str, str], parameter: str, detail: str
) -> None:
    resp = await shared_site.client.get(f"{DEMO_PATH}/slots", params={"timeZone": "UTC"} | params)
    assert resp.status == 400 and resp.content_type == PROBLEM
    body = await resp.json()
    assert body["status"] == 400 and body["parameter"] == parameter
    assert body["type"] == "urn:slotwise:problem:invalid_query" and body["title"] == "Invalid request"
    assert detail in body["detail"]


async def test_slots_of_an_unknown_link_are_a_404_problem(shared_site: Site) -> None:
    resp = await shared_site.client.get(
        "/book/adele/no-such-link/slots", params={"start": "2026-12-01", "end": "2026-12-02", "timeZone": "UTC"}
    )
    assert resp.status == 404 and resp.content_type == PROBLEM
    assert (await resp.json())["type"] == "urn:slotwise:problem:not_found"


async def test_booking_returns_201_with_id_times_join_and_manage_urls(shared_site: Site) -> None:
    start = (await shared_site.free_starts())[0]
    resp = await shared_site.book_json(start, name="Jo Json", email="jo@example.org", timeZone="Asia/Kolkata")
    body = await resp.json()
    assert resp.status == 201, body
    assert body["start"] == start and utc(body["end"]) - utc(start) == timedelta(minutes=30)
    assert body["status"] == "confirmed" and re.fullmatch(r"[0-9a-f]{32}", body["id"])
    assert body["manageUrl"].startswith(shared_site.settings.base_url + "/manage/")
    event = shared_site.event_for(body["id"])
    assert event is not None
    assert body["joinUrl"] == event["onlineMeeting"]["joinUrl"] and body["joinUrl"].startswith("https://")
    assert event["attendees"][0]["emailAddress"]["address"] == "jo@example.org"
    assert utc(event["start"]["dateTime"] + "Z") == utc(start)
    # the manage URL works
    page = await shared_site.client.get(body["manageUrl"].removeprefix(shared_site.settings.base_url))
    assert page.status == 200 and "Intro call" in await page.text()


async def test_a_slot_taken_meanwhile_is_409_with_alternatives(shared_site: Site) -> None:
    starts = await shared_site.free_starts(count=3)
    taken = starts[1]
    before = len(tagged_events(shared_site))
    shared_site.emulator.add_event(
        DEMO_UPN, "Booked elsewhere", start=utc(taken), end=utc(taken) + timedelta(minutes=30)
    )
    resp = await shared_site.book_json(taken)
    body = await resp.json()
    assert resp.status == 409 and resp.content_type == PROBLEM
    assert body["type"] == "urn:slotwise:problem:slot_unavailable" and body["status"] == 409
    assert body["detail"] and body["alternatives"]
    free_now = {s["start"] for s in await shared_site.slots(days=21)}
    assert taken not in body["alternatives"] and set(body["alternatives"]) <= free_now
    assert body["alternatives"][0] == starts[2], "the next free slot comes first"
    assert len(tagged_events(shared_site)) == before


async def test_a_slot_someone_just_booked_is_409(shared_site: Site) -> None:
    start = (await shared_site.free_starts())[0]
    before = len(tagged_events(shared_site))
    assert (await shared_site.book_json(start, email="first@example.org")).status == 201
    second = await shared_site.book_json(start, email="second@example.org")
    assert second.status == 409 and (await second.json())["alternatives"]
    assert len(tagged_events(shared_site)) == before + 1


async def test_a_start_that_is_not_an_offered_time_is_409(shared_site: Site) -> None:
    start = utc((await shared_site.free_starts())[0]) + timedelta(minutes=7)
    resp = await shared_site.book_json(start.isoformat().replace("+00:00", "Z"))
    assert resp.status == 409


async def test_invalid_fields_are_422_with_one_error_per_field(shared_site: Site) -> None:
    before = len(tagged_events(shared_site))
    resp = await shared_site.book_json(
        "soon", name="", email="not-an-email", timeZone="Nowhere/Land", notes=7, answers={"unknown": "x"}
    )
    body = await resp.json()
    assert resp.status == 422 and resp.content_type == PROBLEM
    assert body["type"] == "urn:slotwise:problem:validation_failed"
    assert set(body["errors"]) == {"start", "name", "email", "timeZone", "notes", "answers.unknown"}
    assert body["errors"]["email"].startswith("That doesn't look like an email address")
    assert len(tagged_events(shared_site)) == before


async def test_answers_must_map_question_ids_to_text(shared_site: Site) -> None:
    start = (await shared_site.free_starts())[0]
    resp = await shared_site.book_json(start, answers=["a", "b"])
    assert resp.status == 422 and "answers" in (await resp.json())["errors"]


@pytest.mark.parametrize(("data", "code"), [(b"{not json", "invalid_json"), (b"[1, 2]", "invalid_request")])
async def test_a_body_that_is_not_a_json_object_is_400(shared_site: Site, data: bytes, code: str) -> None:
    resp = await shared_site.client.post(DEMO_PATH, data=data, headers={"Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["code"] == code


async def test_idempotency_key_replays_the_same_booking_and_makes_one_event(shared_site: Site) -> None:
    start = (await shared_site.free_starts())[0]
    key = {"Idempotency-Key": "client-retry-7f3a"}
    before = len(tagged_events(shared_site))
    first = await shared_site.book_json(start, headers=key)
    second = await shared_site.book_json(start, headers=key)
    a, b = await first.json(), await second.json()
    assert first.status == 201 and second.status == 200
    assert a == b, "a retry gets the same booking, manage link included"
    assert len(tagged_events(shared_site)) == before + 1 and shared_site.event_for(a["id"]) is not None


async def test_an_idempotency_key_reused_for_another_request_reveals_nothing(shared_site: Site) -> None:
    starts = await shared_site.free_starts(count=2)
    key = {"Idempotency-Key": "retry"}
    before = len(tagged_events(shared_site))
    mine = await (await shared_site.book_json(starts[0], email="first@example.org", headers=key)).json()
    other = await shared_site.book_json(starts[1], email="someone.else@example.org", headers=key)
    body = await other.json()
    assert other.status == 422 and body["parameter"] == "Idempotency-Key"
    assert mine["manageUrl"] not in str(body) and mine["id"] not in str(body)
    assert len(tagged_events(shared_site)) == before + 1


async def test_an_oversized_idempotency_key_is_400(shared_site: Site) -> None:
    start = (await shared_site.free_starts())[0]
    resp = await shared_site.book_json(start, headers={"Idempotency-Key": "k" * 201})
    assert resp.status == 400 and (await resp.json())["parameter"] == "Idempotency-Key"


async def test_json_booking_needs_no_csrf_but_form_posts_do(shared_site: Site) -> None:
    """JSON can't be sent cross-shared_site without a CORS preflight (which we never allow), so it needs no
    CSRF token; a form-encoded post without one is refused."""
    start = (await shared_site.free_starts())[0]
    before = len(tagged_events(shared_site))
    resp = await shared_site.client.post(
        DEMO_PATH, data={"start": start, "name": "A", "email": "a@example.org", "timeZone": "UTC"}
    )
    assert resp.status == 403
    assert "Access-Control-Allow-Origin" not in resp.headers
    options = await shared_site.client.options(
        DEMO_PATH, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in options.headers
    assert len(tagged_events(shared_site)) == before
