"""Request ids and structured logs (web.observability, issue 15): every response carries its request id (a sane
incoming X-Request-Id is kept, anything else replaced), error pages and problem details echo it, each request
writes one access line naming its route pattern, every line written while serving it carries its id, the Graph
calls it makes send the id as client-request-id, background passes get ids of their own, and no JSON line ever
holds a manage token or a sign-in code."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from background import Background
from scheduling.correlation import current_request_id, request_scope
from tests.web.conftest import DEMO_PATH, DEMO_UPN, Site, token_of
from web.observability import JsonFormatter, LogFormat, TextFormatter, configure_logging
from web.redaction import RedactSecrets, redact

SESSION_LOOP = pytest.mark.asyncio(loop_scope="session")  # the web tests' event loop (see conftest)

SECRET = "Zq9" + "x" * 40  # a stand-in for a sign-in code or state


def is_guid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


class Captured:
    """The root logger's output as app.main sets it up (configure_logging), in one format."""

    def __init__(self, fmt: LogFormat) -> None:
        self.stream = io.StringIO()
        self.fmt = fmt

    def __enter__(self) -> Captured:
        root = logging.getLogger()
        self._level = root.level
        self.handler = configure_logging(self.fmt, stream=self.stream)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self.handler)
        root.setLevel(self._level)
        for other in root.handlers:  # pytest's capture handlers got the redaction filter too
            for found in [f for f in other.filters if isinstance(f, RedactSecrets)]:
                other.removeFilter(found)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@pytest.fixture
def json_logs() -> Iterator[Captured]:
    with Captured("json") as captured:
        yield captured


# ------------------------------------------------------------------ request ids on the wire


@SESSION_LOOP
async def test_every_response_carries_a_request_id_and_a_sane_incoming_one_is_kept(shared_site: Site) -> None:
    client = shared_site.client
    fresh = [(await client.get(DEMO_PATH)).headers["X-Request-Id"] for _ in range(2)]
    assert all(is_guid(rid) for rid in fresh) and fresh[0] != fresh[1]
    kept = await client.get(DEMO_PATH, headers={"X-Request-Id": "lb-7f3a.42_x"})
    assert kept.headers["X-Request-Id"] == "lb-7f3a.42_x"
    for bad in ("a" * 65, "two words", "<script>alert(1)</script>", "x;y=1"):
        replaced = await client.get(DEMO_PATH, headers={"X-Request-Id": bad})
        assert is_guid(replaced.headers["X-Request-Id"]), bad
    for path in ("/no/such/page", "/static/app.css", "/healthz"):
        assert is_guid((await client.get(path)).headers.get("X-Request-Id", "")), path
    refused = await client.put(DEMO_PATH)  # 405, raised past every middleware
    assert refused.status == 405 and is_guid(refused.headers["X-Request-Id"])


@SESSION_LOOP
async def test_problem_details_echo_the_request_id(shared_site: Site) -> None:
    client = shared_site.client
    resp = await client.get(f"{DEMO_PATH}/slots", params={"start": "2030-01-10", "end": "2030-01-01"})
    body = await resp.json()
    assert resp.status == 400 and resp.content_type == "application/problem+json"
    assert body["requestId"] == resp.headers["X-Request-Id"]
    unknown = await client.get("/api/nothing", headers={"X-Request-Id": "support-ticket-1"})
    assert unknown.status == 404 and (await unknown.json())["requestId"] == "support-ticket-1"


# ------------------------------------------------------------------ one JSON line per request, no secrets


@SESSION_LOOP
async def test_json_logs_name_routes_carry_request_ids_and_hold_no_secret(site: Site, json_logs: Captured) -> None:
    client = site.client
    start = (await site.free_starts())[0]
    site.emulator.faults.throttle(count=1, retry_after=0.05, user=DEMO_UPN, path="/events")  # the event write
    booked = await site.book_via_form(start)
    assert booked.status == 303
    token = token_of(booked.headers["Location"])
    booking_rid = booked.headers["X-Request-Id"]
    manage = await client.get(f"/manage/{token}", params={"tz": "UTC"})
    ics = await client.get(f"/manage/{token}/invite.ics")
    wrong = await client.get(f"/manage/{token[:-3]}abc")
    callback = await client.get("/auth/callback", params={"code": SECRET, "state": SECRET + "s"})
    assert (manage.status, ics.status, wrong.status, callback.status) == (200, 200, 404, 400)
    await site.at_rest()

    lines = json_logs.lines()  # every line is one JSON object
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    text = json_logs.text
    assert token not in text and token[:16] not in text and SECRET not in text
    assert not re.search(r"/manage/(?!\[redacted\]|\{token\})", text)

    access = {line["request_id"]: line for line in lines if line["logger"] == "slotwise.access"}
    expected = {
        booked: ("POST", "/book/{handle}/{slug}", 303),
        manage: ("GET", "/manage/{token}", 200),
        ics: ("GET", "/manage/{token}/invite.ics", 200),
        wrong: ("GET", "/manage/{token}", 404),
        callback: ("GET", "/auth/callback", 400),
    }
    for resp, (method, route, status) in expected.items():
        line = access[resp.headers["X-Request-Id"]]
        assert (line["method"], line["route"], line["status"]) == (method, route, status)
        assert line["client_ip"] == "127.0.0.1" and isinstance(line["duration_ms"], float)
        assert line["level"] == "INFO" and route in line["message"]

    # the Graph call throttled while booking: retried with the booking request's id, logged under it
    [retry] = [line for line in lines if "-> 429" in line["message"]]
    assert retry["request_id"] == booking_rid and f"client-request-id={booking_rid}" in retry["message"]


@SESSION_LOOP
async def test_an_unhandled_error_is_logged_once_with_its_reference(
    site: Site, json_logs: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError(f"the database went away token={SECRET}")

    monkeypatch.setattr(site.services.booking, "slots", broken)
    resp = await site.client.get(DEMO_PATH, headers={"X-Request-Id": "ticket-500"})
    assert resp.status == 500 and "reference ticket-500" in await resp.text()
    [error] = [line for line in json_logs.lines() if line["level"] == "ERROR"]
    assert error["request_id"] == "ticket-500" and "ticket-500" in error["message"]
    assert "RuntimeError: the database went away" in error["exception"] and SECRET not in json_logs.text


@SESSION_LOOP
async def test_successful_probes_are_quiet(shared_site: Site, json_logs: Captured) -> None:
    for path in ("/healthz", "/readyz"):
        assert (await shared_site.client.get(path)).status == 200
    assert (await shared_site.client.get("/metrics")).status == 404  # off by default: logged
    probes = {"/healthz", "/readyz", "/metrics"}  # (the app's background work may log lines of its own meanwhile)
    access = [line for line in json_logs.lines() if line["logger"] == "slotwise.access" and line["route"] in probes]
    assert [(line["route"], line["status"]) for line in access] == [("/metrics", 404)]


# ------------------------------------------------------------------ formats


def record(message: str, *args: object, exc: BaseException | None = None, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("slotwise.test", logging.WARNING, __file__, 1, message, args, None)
    if exc is not None:
        rec.exc_info = (type(exc), exc, exc.__traceback__)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_a_json_line_has_its_fields_extras_and_redacted_traceback() -> None:
    try:
        raise ValueError("refresh_token=abc123secret failed")
    except ValueError as caught:
        exc = caught
    with request_scope("rid-1"):
        line = JsonFormatter().format(record("GET %s", "/manage/tok123", exc=exc, route="/x", count=3))
    doc = json.loads(line)
    assert doc["message"] == "GET /manage/[redacted]" and doc["level"] == "WARNING" and doc["logger"] == "slotwise.test"
    assert doc["request_id"] == "rid-1" and doc["route"] == "/x" and doc["count"] == 3
    assert "ValueError" in doc["exception"] and "abc123secret" not in doc["exception"]
    assert datetime.fromisoformat(doc["time"].replace("Z", "+00:00")).tzinfo == UTC
    assert "request_id" not in json.loads(JsonFormatter().format(record("outside")))


def test_the_text_format_keeps_the_human_line_and_adds_the_request_id() -> None:
    formatter = TextFormatter()
    with request_scope("rid-2"):
        inside = formatter.format(record("hello %s", "world"))
    outside = formatter.format(record("hello %s", "world"))
    assert re.fullmatch(r"\S+ \S+ WARNING slotwise\.test: hello world \[request rid-2\]", inside)
    assert outside.endswith("slotwise.test: hello world")


def test_configure_logging_redacts_in_both_formats() -> None:
    for fmt in ("json", "text"):
        with Captured(fmt) as captured:
            logging.getLogger("slotwise.test").warning("callback ?code=%s&state=%s", SECRET, SECRET)
        assert captured.text and SECRET not in captured.text, fmt


# ------------------------------------------------------------------ background passes


class NoLeases:
    async def acquire(self, *_a: object) -> bool:
        return True

    async def renew(self, *_a: object) -> bool:
        return True

    async def release(self, *_a: object) -> None:
        return None


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@SESSION_LOOP
async def test_each_background_pass_runs_under_a_request_id_of_its_own() -> None:
    seen: list[str | None] = []
    done = asyncio.Event()

    async def job() -> bool:
        seen.append(current_request_id())
        if len(seen) >= 3:
            done.set()
            return False
        return True  # a full batch: the next pass at once

    jobs = Background(leases=NoLeases(), clock=Clock())
    jobs.add("job", 60, job, at_once=True)
    with request_scope("the-request-that-started-the-app"):
        jobs.start()
    await asyncio.wait_for(done.wait(), 5)
    await jobs.stop()
    assert len(seen) == 3 and len(set(seen)) == 3
    assert all(rid is not None and is_guid(rid) for rid in seen)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("GET /manage/{token} 200", "GET /manage/{token} 200"),  # a route pattern, as access lines name it
        ("/manage/{token}/invite.ics", "/manage/{token}/invite.ics"),
        ("/manage/{token}Zq9xxxx", "/manage/[redacted]"),  # anything more than the placeholder is redacted
        ("/manage/Zq9x-_y/cancel?tz=UTC", "/manage/[redacted]/cancel?tz=UTC"),
    ],
)
def test_route_placeholders_survive_redaction_and_tokens_do_not(text: str, shown: str) -> None:
    assert redact(text) == shown
