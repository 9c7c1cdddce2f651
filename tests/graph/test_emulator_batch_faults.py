"""Graph emulator: JSON batching and fault injection (429 with Retry-After, 5xx, latency, Outlook's
per-mailbox concurrency limit)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from tests.graph.emulator_fixtures import (
    ADELE,
    MEGAN,
    T0,
    Emu,
    assert_graph_error,
    event_body,
    running,
)

VIEW = "/me/calendarView?startDateTime=2030-03-04T00:00:00Z&endDateTime=2030-03-05T00:00:00Z"


@pytest.fixture
async def emu() -> AsyncIterator[Emu]:
    async with running() as e:
        yield e


async def batch(emu: Emu, requests: list[dict[str, Any]], who: str = ADELE) -> dict[str, dict[str, Any]]:
    r = await emu.post(who, "/$batch", {"requests": requests})
    assert r.status_code == 200, r.text
    responses = r.json()["responses"]
    assert len(responses) == len(requests)
    return {resp["id"]: resp for resp in responses}


async def test_batch_runs_inner_requests_and_answers_in_another_order(emu: Emu) -> None:
    emu.state.add_event(ADELE, "Busy", T0 + timedelta(hours=9), T0 + timedelta(hours=10))
    reqs = [
        {"id": "1", "method": "GET", "url": VIEW},
        {"id": "2", "method": "GET", "url": "/me/mailboxSettings"},
        {
            "id": "3",
            "method": "POST",
            "url": "/me/events",
            "headers": {"Content-Type": "application/json"},
            "body": event_body("New", T0 + timedelta(hours=11), T0 + timedelta(hours=12)),
        },
        {"id": "4", "method": "GET", "url": "/me/nothing"},
    ]
    r = await emu.post(ADELE, "/$batch", {"requests": reqs})
    order = [resp["id"] for resp in r.json()["responses"]]
    assert order != ["1", "2", "3", "4"] and sorted(order) == ["1", "2", "3", "4"]
    by_id = {resp["id"]: resp for resp in r.json()["responses"]}
    assert by_id["1"]["status"] == 200 and [e["subject"] for e in by_id["1"]["body"]["value"]] == ["Busy"]
    assert by_id["1"]["headers"]["Content-Type"].startswith("application/json")
    assert by_id["2"]["body"]["timeZone"] == "Pacific Standard Time"
    assert by_id["3"]["status"] == 201 and by_id["3"]["body"]["subject"] == "New"
    assert by_id["4"]["status"] == 400 and by_id["4"]["body"]["error"]["code"] == "BadRequest"
    paths = [rec.path for rec in emu.state.request_log]
    assert paths.count("/$batch") == 1
    assert sorted(p for p in paths if p.startswith("$batch:")) == [
        "$batch:/me/calendarView",
        "$batch:/me/events",
        "$batch:/me/mailboxSettings",
        "$batch:/me/nothing",
    ]


async def test_inner_next_links_are_absolute(emu: Emu) -> None:
    for i in range(3):
        emu.state.add_event(ADELE, f"e{i}", T0 + timedelta(hours=i), T0 + timedelta(hours=i, minutes=5))
    out = await batch(emu, [{"id": "a", "method": "GET", "url": VIEW + "&$top=2"}])
    link = out["a"]["body"]["@odata.nextLink"]
    assert link.startswith(f"{emu.graph}/me/calendarView?")
    assert len((await emu.get(ADELE, link)).json()["value"]) == 1


async def test_malformed_batches_are_400(emu: Emu) -> None:
    get = {"method": "GET", "url": "/me"}
    cases = [
        [{"id": str(i), **get} for i in range(21)],
        [{"id": "1", **get}, {"id": "1", **get}],
        [{"id": "1", "method": "POST", "url": "/me/events", "body": {"subject": "x"}}],
        [{"id": "1", "method": "GET", "url": "https://graph.microsoft.com/v1.0/me"}],
        [{"id": "1", **get, "dependsOn": ["9"]}],
        [{"id": "1", "method": "GET"}],
    ]
    for requests in cases:
        r = await emu.post(ADELE, "/$batch", {"requests": requests})
        assert_graph_error(r, 400, "BadRequest")
    assert len(await batch(emu, [{"id": str(i), **get} for i in range(20)])) == 20


async def test_depends_on_runs_in_order_and_fails_dependents_with_424(emu: Emu) -> None:
    reqs: list[dict[str, Any]] = [
        {
            "id": "1",
            "method": "POST",
            "url": "/me/events",
            "headers": {"Content-Type": "application/json"},
            "body": event_body("First", T0 + timedelta(hours=9), T0 + timedelta(hours=10)),
        },
        {"id": "2", "method": "GET", "url": "/me/events?$orderby=createdDateTime", "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": "/me/events/bad-id", "dependsOn": ["2"]},
        {"id": "4", "method": "GET", "url": "/me", "dependsOn": ["3"]},
    ]
    out = await batch(emu, reqs)
    assert out["1"]["status"] == 201
    assert [e["subject"] for e in out["2"]["body"]["value"]] == ["First"]
    assert out["3"]["status"] == 400
    assert out["4"]["status"] == 424 and out["4"]["body"]["error"]["code"] == "FailedDependency"


async def test_inner_throttling_carries_its_own_retry_after(emu: Emu) -> None:
    emu.state.faults.throttle(count=1, retry_after=2.128, user=MEGAN)
    out = await batch(
        emu,
        [
            {"id": "a", "method": "GET", "url": f"/users/{ADELE}"},
            {"id": "m", "method": "GET", "url": f"/users/{MEGAN}"},
        ],
    )
    assert out["a"]["status"] == 200
    assert out["m"]["status"] == 429 and out["m"]["headers"]["Retry-After"] == "2.128"
    assert out["m"]["body"]["error"]["code"] == "TooManyRequests"
    assert (await emu.get(ADELE, f"/users/{MEGAN}")).status_code == 200  # the rule was consumed


async def test_throttle_gives_429_with_documented_body(emu: Emu) -> None:
    emu.state.faults.throttle(count=2, retry_after=0.2)
    for _ in range(2):
        r = await emu.get(ADELE, "/me")
        body = assert_graph_error(r, 429, "TooManyRequests", "Please retry again later.")
        assert r.headers["Retry-After"] == "0.2"
        assert body["error"]["innerError"]["code"] == "429" and body["error"]["innerError"]["status"] == "429"
    assert (await emu.get(ADELE, "/me")).status_code == 200
    emu.state.faults.throttle(count=1, retry_after=None)
    r = await emu.get(ADELE, "/me")
    assert r.status_code == 429 and "Retry-After" not in r.headers
    assert [rec.status for rec in emu.state.request_log] == [429, 429, 200, 429]


async def test_throttle_filters_by_user_and_path(emu: Emu) -> None:
    emu.state.faults.throttle(count=1, user=MEGAN)
    emu.state.faults.throttle(count=1, path="/calendarView")
    assert (await emu.get(ADELE, "/me")).status_code == 200
    assert (await emu.get(ADELE, VIEW)).status_code == 429
    assert (await emu.get(ADELE, VIEW)).status_code == 200
    assert (await emu.get(MEGAN, "/me")).status_code == 429
    assert (await emu.get(MEGAN, "/me")).status_code == 200
    emu.state.faults.throttle(count=1, path="$batch")
    r = await emu.post(ADELE, "/$batch", {"requests": [{"id": "1", "method": "GET", "url": "/me"}]})
    assert r.status_code == 429  # only a rule naming $batch throttles the outer request


async def test_unavailable_statuses(emu: Emu) -> None:
    emu.state.faults.unavailable(count=1, status=503, retry_after=1)
    emu.state.faults.unavailable(count=1, status=504)
    r = await emu.get(ADELE, "/me")
    assert_graph_error(r, 503, "serviceNotAvailable")
    assert r.headers["Retry-After"] == "1"
    r = await emu.get(ADELE, "/me")
    assert r.status_code == 504 and "Retry-After" not in r.headers
    assert (await emu.get(ADELE, "/me")).status_code == 200
    with pytest.raises(ValueError):
        emu.state.faults.unavailable(status=404)


async def test_latency_is_added(emu: Emu) -> None:
    emu.state.faults.latency_ms = 150
    started = time.perf_counter()
    assert (await emu.get(ADELE, "/me")).status_code == 200
    assert time.perf_counter() - started >= 0.15
    emu.state.faults.clear()
    assert emu.state.faults.latency_ms == 0 and emu.state.faults.mailbox_concurrency_limit == 4


async def test_fifth_concurrent_request_to_one_mailbox_is_throttled(emu: Emu) -> None:
    emu.state.faults.latency_ms = 200
    calls = [emu.get(ADELE, VIEW) for _ in range(5)] + [emu.get(MEGAN, "/me/calendar")]
    results = await asyncio.gather(*calls)
    statuses = sorted(r.status_code for r in results[:5])
    assert statuses == [200, 200, 200, 200, 429]
    assert results[5].status_code == 200  # another mailbox has its own budget
    throttled = next(r for r in results if r.status_code == 429)
    body = assert_graph_error(
        throttled, 429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit."
    )
    assert "innerError" not in body["error"]
    assert emu.state.inflight[emu.state.user(ADELE).id] == 0

    emu.state.faults.mailbox_concurrency_limit = None
    results = await asyncio.gather(*(emu.get(ADELE, VIEW) for _ in range(6)))
    assert {r.status_code for r in results} == {200}


async def test_batch_inner_requests_count_against_the_mailbox_limit(emu: Emu) -> None:
    emu.state.faults.latency_ms = 100
    out = await batch(emu, [{"id": str(i), "method": "GET", "url": VIEW} for i in range(6)])
    assert sorted(r["status"] for r in out.values()) == [200] * 4 + [429] * 2
