"""Client behaviour that needs exact control of Graph's answers (httpx.MockTransport): request ids,
batch answer order, inner throttling, token refresh on 401, timeouts, link re-rooting."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from graph.client import GraphClient, inner_error
from graph.errors import CalendarAuthError, ClaimsChallenge, GraphThrottled, GraphTransient
from graph.models import BatchRequest
from scheduling.rules import BusyStatus

BASE = "https://graph.example/v1.0"
START = datetime(2030, 1, 7, tzinfo=UTC)


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make(
    handler: Callable[[httpx.Request], httpx.Response], sleeps: Sleeps | None = None, token: Any = None, **kwargs: Any
) -> GraphClient:
    async def default_token(user_id: str, force_refresh: bool = False) -> str:
        return f"tok-{user_id}"

    return GraphClient(
        BASE,
        token_provider=token or default_token,
        transport=httpx.MockTransport(handler),
        sleep=sleeps if sleeps is not None else Sleeps(),
        backoff_base=0.01,
        backoff_cap=0.02,
        **kwargs,
    )


async def test_every_request_carries_a_fresh_client_request_id_and_the_bearer_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(503, headers={"Retry-After": "0"})
        return httpx.Response(200, json={"id": "u", "displayName": "U"})

    async with make(handler) as client:
        await client.me("u1")
        await client.me("u1")
    ids = [r.headers["client-request-id"] for r in seen]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert all(uuid.UUID(i).version == 4 for i in ids)
    assert all(r.headers["Authorization"] == "Bearer tok-u1" for r in seen)


async def test_batch_matches_shuffled_answers_and_retries_only_the_throttled_ones() -> None:
    posts: list[list[str]] = []
    throttled_once: set[str] = {"3", "17", "33"}

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1.0/$batch"
        reqs = json.loads(request.content)["requests"]
        assert len(reqs) <= 20
        posts.append([r["id"] for r in reqs])
        answers = []
        for r in reversed(reqs):
            if r["id"] in throttled_once:
                throttled_once.discard(r["id"])
                wait = "0.05" if r["id"] == "17" else "0.02"
                answers.append(
                    {
                        "id": r["id"],
                        "status": 429,
                        "headers": {"Retry-After": wait},
                        "body": {"error": {"code": "TooManyRequests", "message": "Please retry"}},
                    }
                )
            else:
                answers.append(
                    {
                        "id": r["id"],
                        "status": 200,
                        "headers": {"Content-Type": "application/json"},
                        "body": {"echo": r["url"]},
                    }
                )
        return httpx.Response(200, json={"responses": answers})

    sleeps = Sleeps()
    requests = [BatchRequest(str(i), "GET", f"/me/calendars/c{i}") for i in range(1, 46)]
    async with make(handler, sleeps) as client:
        result = await client.batch("u1", requests)
    assert [len(p) for p in posts[:3]] == [20, 20, 5]
    assert sorted(posts[3]) == ["17", "3", "33"]  # only the throttled ones, in a new batch
    assert sleeps == [0.05]  # after the longest Retry-After
    assert list(result) == [r.id for r in requests]
    assert all(result[r.id].body == {"echo": r.url} for r in requests)


async def test_batch_gives_up_after_bounded_retries_and_reports_throttling() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        reqs = json.loads(request.content)["requests"]
        return httpx.Response(
            200,
            json={
                "responses": [
                    {
                        "id": r["id"],
                        "status": 429,
                        "headers": {"Retry-After": "0.01"},
                        "body": {"error": {"code": "TooManyRequests", "message": "Please retry"}},
                    }
                    for r in reqs
                ]
            },
        )

    async with make(handler, max_retries=2) as client:
        result = await client.batch("u1", [BatchRequest("a", "GET", "/me")])
    assert calls == 3
    exc = inner_error(result["a"])
    assert isinstance(exc, GraphThrottled) and exc.retry_after == pytest.approx(0.01)


async def test_batch_rejects_duplicate_ids() -> None:
    async with make(lambda r: httpx.Response(500)) as client:
        with pytest.raises(ValueError, match="unique"):
            await client.batch("u1", [BatchRequest("A", "GET", "/me"), BatchRequest("a", "GET", "/me")])


async def test_401_asks_the_provider_once_more_with_force_refresh() -> None:
    calls: list[bool] = []

    async def token(user_id: str, force_refresh: bool = False) -> str:
        calls.append(force_refresh)
        return "fresh" if force_refresh else "stale"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer stale":
            return httpx.Response(
                401,
                json={
                    "error": {
                        "code": "InvalidAuthenticationToken",
                        "message": "Access token has expired or is not yet valid.",
                    }
                },
            )
        return httpx.Response(200, json={"id": "u"})

    async with make(handler, token=token) as client:
        assert (await client.me("u1")).id == "u"
    assert calls == [False, True]


async def test_a_second_401_means_reconnect_and_providers_without_force_refresh_work() -> None:
    calls: list[str] = []

    async def token(user_id: str) -> str:
        calls.append(user_id)
        return "t"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"code": "InvalidAuthenticationToken", "message": "expired"}})

    async with make(handler, token=token) as client:
        with pytest.raises(CalendarAuthError) as info:
            await client.me("u1")
    assert info.value.reconnect_required and calls == ["u1", "u1"]


async def test_a_cae_claims_challenge_is_raised_at_once() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(
            401,
            headers={"WWW-Authenticate": 'Bearer error="insufficient_claims", claims="e30="'},
            json={"error": {"code": "InvalidAuthenticationToken", "message": "claims"}},
        )

    async with make(handler) as client:
        with pytest.raises(ClaimsChallenge) as info:
            await client.me("u1")
    assert calls == 1 and info.value.claims == "{}"


async def test_timeouts_are_retried_then_reported_as_transient() -> None:
    attempts = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json={"id": "u"})

    sleeps = Sleeps()
    async with make(flaky, sleeps) as client:
        assert (await client.me("u1")).id == "u"
    assert attempts == 3 and len(sleeps) == 2

    def dead(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("down", request=request)

    async with make(dead, max_retries=1) as client:
        with pytest.raises(GraphTransient):
            await client.me("u1")


async def test_a_retry_after_longer_than_we_will_wait_fails_fast() -> None:
    sleeps = Sleeps()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429, headers={"Retry-After": "120"}, json={"error": {"code": "TooManyRequests", "message": "later"}}
        )

    async with make(handler, sleeps) as client:
        with pytest.raises(GraphThrottled) as info:
            await client.me("u1")
    assert sleeps == [] and info.value.retry_after == 120


async def test_links_on_graphs_public_host_are_rerooted_and_mailbox_keys() -> None:
    async with make(lambda r: httpx.Response(200)) as client:
        assert client.url("/me/events") == f"{BASE}/me/events"
        assert (
            client.url("https://graph.microsoft.com/v1.0/me/calendarView?$skip=10")
            == f"{BASE}/me/calendarView?$skip=10"
        )
        assert client.url(f"{BASE}/me?x=1") == f"{BASE}/me?x=1"
        assert client.mailbox_key("U1", "/me/calendarView") == "u1"
        assert client.mailbox_key("u1", "/users/Adele@Contoso.example/calendar/getSchedule") == "adele@contoso.example"


async def test_get_schedule_failed_calls_and_missing_answers_are_error_values() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        schedules = json.loads(request.content)["schedules"]
        if "boom@x.example" in schedules:
            return httpx.Response(500, json={"error": {"code": "generalException", "message": "oops"}})
        value = [
            {"scheduleId": s, "availabilityView": "0230", "scheduleItems": None}
            for s in schedules
            if s != "ghost@x.example"
        ]
        return httpx.Response(200, json={"value": value})

    ids = [f"p{i}@x.example" for i in range(19)] + ["ghost@x.example", "boom@x.example"]
    async with make(handler) as client:
        result = await client.get_schedule("u1", ids, START, START + timedelta(hours=2), interval=30)
    assert list(result) == ids
    assert result["ghost@x.example"].error is not None  # absent from the answer: never "free"
    assert result["boom@x.example"].error is not None  # its call failed (2nd chunk)
    items = result["p0@x.example"].items  # availabilityView fallback
    assert [(i.start, i.end, i.status) for i in items] == [
        (START + timedelta(minutes=30), START + timedelta(minutes=60), BusyStatus.BUSY),
        (START + timedelta(minutes=60), START + timedelta(minutes=90), BusyStatus.OOF),
    ]


async def test_get_schedule_raises_when_the_callers_own_sign_in_fails() -> None:
    async def token(user_id: str) -> str:
        raise CalendarAuthError(graph_code="not_connected")

    async with make(lambda r: httpx.Response(200), token=token) as client:
        with pytest.raises(CalendarAuthError):
            await client.get_schedule("u1", ["a@x.example"], START, START + timedelta(days=1))
