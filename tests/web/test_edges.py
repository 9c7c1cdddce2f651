"""What a hostile tester sent and got a 500 (or aiohttp's raw text) for, each now a clear 4xx naming what is
wrong (issue 16 §1): dates at the ends of the calendar in every date and instant parameter, JSON nested
thousands deep, a multipart body at the JSON endpoint, a path over 8 KB, an ``end`` that contradicts the
duration, a key given twice. The classes are generated in test_hostile_input.py; these are the examples."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import FormData

from tests.web.conftest import DEMO_PATH, DEMO_UPN, Site, text_of, token_of
from web.security import MAX_REQUEST_LINE, MAX_TARGET, SERVER_LOG, RefusedRequestFilter
from web.wire import MAX_JSON_DEPTH

pytestmark = pytest.mark.asyncio(loop_scope="session")

PROBLEM = "application/problem+json"
EXTREME_DATES = ["0001-01-01", "0001-01-02", "9999-12-31", "9999-12-25", "2300-06-01"]
EXTREME_INSTANTS = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:00Z",
    "9999-12-31T23:00:00-23:59",
    "9999-12-31T23:30:00+00:00",
    "2400-01-01T09:00:00Z",
]


def tagged(site: Site) -> int:
    return len([e for e in site.emulator.events(DEMO_UPN) if e.get("transactionId")])


async def problem_of(resp: Any, status: int) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(await resp.text())
    assert resp.status == status and resp.content_type == PROBLEM, body
    assert body["status"] == status and body["type"].startswith("urn:slotwise:problem:")
    return body


# ------------------------------------------------------------------------------------- extreme dates


@pytest.mark.parametrize("day", EXTREME_DATES)
@pytest.mark.parametrize("parameter", ["start", "end"])
async def test_a_slot_query_at_the_end_of_the_calendar_is_400_naming_it(
    shared_site: Site, parameter: str, day: str
) -> None:
    today = datetime.now(UTC).date()
    query = {"start": today.isoformat(), "end": today.isoformat(), "timeZone": "Pacific/Kiritimati"}
    query[parameter] = day
    if parameter == "end" and day < today.isoformat():
        query["start"] = day  # a range that runs the right way, so only the date itself is wrong
    resp = await shared_site.client.get(f"{DEMO_PATH}/slots", params=query)
    body = await problem_of(resp, 400)
    assert body["parameter"] in ("start", "end") and body["code"] == "invalid_query"
    assert "between" in body["detail"], body


@pytest.mark.parametrize("start", EXTREME_INSTANTS)
async def test_a_booking_at_the_end_of_the_calendar_is_422_naming_start(shared_site: Site, start: str) -> None:
    before = tagged(shared_site)
    resp = await shared_site.book_json(start)
    body = await problem_of(resp, 422)
    assert set(body["errors"]) == {"start"} and "between" in body["errors"]["start"]
    assert tagged(shared_site) == before


@pytest.mark.parametrize("week", EXTREME_DATES)
async def test_a_week_at_the_end_of_the_calendar_is_a_clear_400_page(shared_site: Site, week: str) -> None:
    resp = await shared_site.client.get(DEMO_PATH, params={"tz": "UTC", "week": week})
    html = await resp.text()
    if week < "2000":  # long ago: the page shows this week, as it does for any past week
        assert resp.status == 400 or resp.status == 200, html
    else:
        assert resp.status == 400, html
    if resp.status == 400:
        assert "That week can't be shown" in text_of(html) and "'week'" in text_of(html)


@pytest.mark.parametrize("start", EXTREME_INSTANTS)
async def test_a_form_for_a_time_at_the_end_of_the_calendar_is_a_clear_400(shared_site: Site, start: str) -> None:
    resp = await shared_site.client.get(DEMO_PATH, params={"tz": "UTC", "start": start})
    assert resp.status == 400 and "Please pick one of the times below." in text_of(await resp.text())


async def test_manage_pages_refuse_extreme_weeks_and_starts(site: Site) -> None:
    location = await site.book()
    token = token_of(location)
    path = f"/manage/{token}"
    booking = await site.services.booking.by_manage_token(token)
    for week in ("9999-12-31", "9999-12-25", "0001-01-01"):
        resp = await site.client.get(path, params={"tz": "UTC", "reschedule": "1", "week": week})
        assert resp.status == 400 and "'week'" in text_of(await resp.text())
    _html, csrf = await site.form(path, tz="UTC", reschedule="1")
    for start in EXTREME_INSTANTS:
        resp = await site.client.post(
            f"{path}/reschedule", data={"csrf_token": csrf, "start": start, "tz": "UTC"}, allow_redirects=False
        )
        assert resp.status == 422 and "between" in text_of(await resp.text())
    after = await site.services.booking.by_manage_token(token)
    assert (after.start, after.version, after.status) == (booking.start, booking.version, booking.status)


async def test_the_reach_is_a_span_around_now_not_just_the_calendar(shared_site: Site) -> None:
    far = (datetime.now(UTC) + timedelta(days=6 * 366)).replace(hour=9, minute=0, second=0, microsecond=0)
    resp = await shared_site.book_json(far.isoformat().replace("+00:00", "Z"))
    body = await problem_of(resp, 422)
    assert "five years ahead" in body["errors"]["start"]
    day = far.date().isoformat()
    query = await shared_site.client.get(f"{DEMO_PATH}/slots", params={"start": day, "end": day})
    assert (await problem_of(query, 400))["parameter"] == "start"


# ------------------------------------------------------------------------------------- bodies


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 30_000])
@pytest.mark.parametrize("closed", [True, False])
async def test_deeply_nested_json_at_the_booking_endpoint_is_400(shared_site: Site, depth: int, closed: bool) -> None:
    data = "[" * depth + ("]" * depth if closed else "")
    if not closed and depth <= MAX_JSON_DEPTH + 1:
        return  # merely unfinished JSON: invalid_json, tested elsewhere
    resp = await shared_site.client.post(DEMO_PATH, data=data, headers={"Content-Type": "application/json"})
    body = await problem_of(resp, 400)
    assert body["code"] == "too_deep"


async def test_json_nested_within_the_limit_is_read(shared_site: Site) -> None:
    nested: Any = "x"
    for _ in range(MAX_JSON_DEPTH - 2):
        nested = [nested]
    resp = await shared_site.client.post(DEMO_PATH, json={"start": "soon", "answers": {"q": nested}})
    assert (await problem_of(resp, 422))["errors"]["start"]


@pytest.mark.parametrize(
    "data",
    [
        "[" * 100 + "]" * 100,
        '{"type": "message", "value": ' + "[" * 65 + "]" * 65 + "}",
        "[" * 5_000,
        "[" * 100_000,
        "[" * 50_000 + "]" * 50_000,
    ],
)
async def test_deeply_nested_json_at_the_bot_endpoint_is_400(shared_site: Site, data: str) -> None:
    resp = await shared_site.client.post("/api/messages", data=data, headers={"Content-Type": "application/json"})
    assert resp.status == 400 and resp.content_type == PROBLEM
    assert "nests deeper" in (await resp.json())["detail"]


async def test_a_number_too_long_to_convert_is_400_not_500(shared_site: Site) -> None:
    body = '{"type": "message", "x": ' + "9" * 5000 + "}"
    bot = await shared_site.client.post("/api/messages", data=body, headers={"Content-Type": "application/json"})
    assert bot.status == 400 and bot.content_type == PROBLEM
    book = await shared_site.client.post(
        DEMO_PATH, data='{"duration": ' + "9" * 5000 + "}", headers={"Content-Type": "application/json"}
    )
    assert (await problem_of(book, 400))["code"] == "invalid_json"


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data; boundary=x", "multipart/form-data", "multipart/mixed; boundary=x"]
)
async def test_a_multipart_body_at_the_booking_endpoint_is_a_clear_4xx(shared_site: Site, content_type: str) -> None:
    before = tagged(shared_site)
    resp = await shared_site.client.post(
        DEMO_PATH,
        data=b'--x\r\n\r\n{"start": 1}\r\n--x--\r\n',
        headers={"Content-Type": content_type, "Accept": "application/json"},
    )
    assert resp.status in (400, 403, 415) and resp.content_type == PROBLEM, await resp.text()
    assert tagged(shared_site) == before


async def test_a_json_body_in_another_charset_or_not_utf8_is_400(shared_site: Site) -> None:
    for data, content_type in (
        (b'{"start": "\xff"}', "application/json"),
        (b'{"start": "x"}', "application/json; charset=no-such-charset"),
    ):
        resp = await shared_site.client.post(DEMO_PATH, data=data, headers={"Content-Type": content_type})
        assert resp.status in (400, 422) and resp.content_type == PROBLEM, await resp.text()


async def test_nan_and_infinity_are_not_json(shared_site: Site) -> None:
    for data in ('{"start": NaN}', '{"duration": Infinity}', '{"duration": -Infinity}'):
        resp = await shared_site.client.post(DEMO_PATH, data=data, headers={"Content-Type": "application/json"})
        assert (await problem_of(resp, 400))["code"] == "invalid_json"


async def test_a_duplicate_key_is_400_naming_it(shared_site: Site) -> None:
    start = (await shared_site.free_starts())[0]
    before = tagged(shared_site)
    data = '{"start": "' + start + '", "name": "Jo", "email": "jo@example.org", "email": "other@example.org"}'
    resp = await shared_site.client.post(DEMO_PATH, data=data, headers={"Content-Type": "application/json"})
    body = await problem_of(resp, 400)
    assert body["detail"].startswith("duplicate key 'email'") and body["parameter"] == "email"
    nested = '{"start": "' + start + '", "answers": {"a": "1", "a": "2"}}'
    resp = await shared_site.client.post(DEMO_PATH, data=nested, headers={"Content-Type": "application/json"})
    assert (await problem_of(resp, 400))["detail"].startswith("duplicate key 'a'")
    assert tagged(shared_site) == before


async def test_a_form_field_given_twice_is_400(shared_site: Site) -> None:
    start = (await shared_site.free_starts())[0]
    _html, csrf = await shared_site.form(DEMO_PATH, start=start)
    resp = await shared_site.client.post(
        DEMO_PATH,
        data=[("csrf_token", csrf), ("start", start), ("start", "x"), ("name", "A"), ("email", "a@example.org")],
    )
    assert resp.status == 400 and "was sent twice" in text_of(await resp.text())


async def test_an_unknown_field_is_named(shared_site: Site) -> None:
    start = (await shared_site.free_starts())[0]
    resp = await shared_site.book_json(start, timezone="Europe/Paris")
    body = await problem_of(resp, 422)
    assert body["errors"] == {"timezone": "'timezone' is not a field of this request."}


# ------------------------------------------------------------------------------------- end and duration


async def test_an_end_that_contradicts_the_duration_is_422_naming_end(shared_site: Site) -> None:
    start = (await shared_site.free_starts())[0]
    before = tagged(shared_site)
    at = datetime.fromisoformat(start.replace("Z", "+00:00"))
    wrong_end = (at + timedelta(minutes=45)).isoformat().replace("+00:00", "Z")
    resp = await shared_site.book_json(start, duration=30, end=wrong_end)
    body = await problem_of(resp, 422)
    assert set(body["errors"]) == {"end"} and "duration" in body["errors"]["end"]
    alone = await shared_site.book_json(start, end=wrong_end)  # 45 minutes: not a length this link offers
    body = await problem_of(alone, 422)
    assert set(body["errors"]) == {"end"} and "30 min" in body["errors"]["end"]
    backwards = await shared_site.book_json(start, end=start)
    assert set((await problem_of(backwards, 422))["errors"]) == {"end"}
    assert tagged(shared_site) == before


async def test_an_end_that_agrees_books(site: Site) -> None:
    start = (await site.free_starts())[0]
    end = (datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(minutes=30)).isoformat()
    resp = await site.book_json(start, end=end.replace("+00:00", "Z"))
    body = await resp.json()
    assert resp.status == 201 and body["end"] == end.replace("+00:00", "Z"), body


# ------------------------------------------------------------------------------------- request lines


@pytest.mark.parametrize("length", [MAX_TARGET + 1, 9_000, 40_000, 100 * 1024, MAX_REQUEST_LINE - 100])
async def test_a_long_path_is_a_414_problem(shared_site: Site, length: int) -> None:
    resp = await shared_site.client.get("/book/" + "a" * (length - len("/book/")))
    body = await problem_of(resp, 414)
    assert body["code"] == "uri_too_long" and resp.headers["Content-Security-Policy"]


async def test_a_long_query_is_a_414_problem_too(shared_site: Site) -> None:
    resp = await shared_site.client.get(f"{DEMO_PATH}/slots", params={"start": "x" * 10_000})
    assert (await problem_of(resp, 414))["code"] == "uri_too_long"


async def test_a_100_kib_path_is_a_414_and_logs_no_error(shared_site: Site, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        resp = await shared_site.client.get("/book/" + "a" * (100 * 1024))
        assert (await problem_of(resp, 414))["code"] == "uri_too_long"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize("where", ["line", "header"])
async def test_past_aiohttps_limits_a_short_400_and_one_warning_line(
    shared_site: Site, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    """Past MAX_REQUEST_LINE (or aiohttp's 8190-byte header line) aiohttp answers before any handler runs
    (web.security): still a 4xx, one short line; logged as one WARNING without traceback or request text."""
    with caplog.at_level(logging.INFO):
        if where == "line":
            resp = await shared_site.client.get("/book/" + "a" * (MAX_REQUEST_LINE + 10))
        else:
            resp = await shared_site.client.get(DEMO_PATH, headers={"X-Long": "a" * 9000})
        text = await resp.text()
    assert resp.status == 400 and "Traceback" not in text and len(text) < 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info or r.exc_text]
    refused = [r for r in caplog.records if r.name == SERVER_LOG.name]
    assert len(refused) == 1 and refused[0].levelno == logging.WARNING, [r.getMessage() for r in refused]
    line = refused[0].getMessage()
    assert "LineTooLong" in line and "aaaa" not in line and "\n" not in line, line


async def test_the_server_log_filter_leaves_other_errors_alone() -> None:
    """Only a request aiohttp could not parse is quietened: a bug elsewhere keeps its ERROR and traceback."""
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "Unhandled exception", (), sys.exc_info())
    assert RefusedRequestFilter().filter(record) and record.levelno == logging.ERROR and record.exc_info


# ------------------------------------------------------------------------------------- form posts from programs


def _form_body(multipart: bool) -> Any:
    fields = {"start": "2030-01-01T09:00:00Z", "name": "Pat Program", "email": "pat@example.org", "timeZone": "UTC"}
    if not multipart:
        return fields
    data = FormData()
    for name, value in fields.items():
        data.add_field(name, value)
    return data


@pytest.mark.parametrize("multipart", [False, True])
@pytest.mark.parametrize("accept", ["application/json", "application/problem+json, application/json;q=0.9"])
async def test_a_form_post_from_a_json_client_without_csrf_is_a_403_problem(
    shared_site: Site, multipart: bool, accept: str
) -> None:
    before = tagged(shared_site)
    resp = await shared_site.client.post(DEMO_PATH, data=_form_body(multipart), headers={"Accept": accept})
    body = await problem_of(resp, 403)
    assert body["code"] == "csrf_failed" and body["parameter"] == "csrf_token", body
    assert "application/json" in body["detail"] and "csrf_token" in body["detail"], body
    assert tagged(shared_site) == before


@pytest.mark.parametrize("multipart", [False, True])
async def test_a_browser_form_post_without_csrf_keeps_the_page(shared_site: Site, multipart: bool) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    resp = await shared_site.client.post(DEMO_PATH, data=_form_body(multipart), headers={"Accept": browser})
    assert resp.status == 403 and resp.content_type == "text/html"
    assert "Please try again" in text_of(await resp.text())


async def test_a_manage_form_post_from_a_json_client_without_csrf_is_a_403_problem(site: Site) -> None:
    token = token_of(await site.book())
    booking = await site.services.booking.by_manage_token(token)
    resp = await site.client.post(
        f"/manage/{token}/cancel", data={"reason": "x"}, headers={"Accept": "application/json"}
    )
    body = await problem_of(resp, 403)
    assert body["parameter"] == "csrf_token" and body["code"] == "csrf_failed"
    after = await site.services.booking.by_manage_token(token)
    assert (after.status, after.version) == (booking.status, booking.version)


async def test_a_path_just_within_the_limit_is_routed(shared_site: Site) -> None:
    resp = await shared_site.client.get("/book/adele/" + "a" * (MAX_TARGET - len("/book/adele/")))
    assert resp.status == 404
