"""What the Graph client tells the outside (issue 15): the request id being served goes to Graph as
``client-request-id`` on every attempt (a GUID: a non-GUID id is mapped to a stable one), the observer hears every
attempt's status and every wait before a retry (429, 503, network, inner $batch), and the readiness probe says
whether Graph's base URL answers at all."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable

import httpx
import pytest

from graph.client import GraphClient, client_request_id
from graph.errors import GraphThrottled
from graph.models import BatchRequest
from scheduling.correlation import request_scope

BASE = "https://graph.example/v1.0"


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Recorder:
    def __init__(self) -> None:
        self.responses: list[tuple[str, int | None]] = []
        self.waits: list[tuple[str, float]] = []

    def graph_response(self, method: str, status: int | None) -> None:
        self.responses.append((method, status))

    def graph_retry_wait(self, reason: str, seconds: float) -> None:
        self.waits.append((reason, seconds))


def make(handler: Callable[[httpx.Request], httpx.Response], observer: Recorder | None = None) -> GraphClient:
    async def token(user_id: str, force_refresh: bool = False) -> str:
        return f"tok-{user_id}"

    return GraphClient(
        BASE,
        token_provider=token,
        transport=httpx.MockTransport(handler),
        sleep=Sleeps(),
        backoff_base=0.01,
        backoff_cap=0.02,
        observer=observer,
    )


def flaky(*first: int) -> tuple[list[httpx.Request], Callable[[httpx.Request], httpx.Response]]:
    """A handler answering ``first`` statuses (429/503 with Retry-After 0.05) and then 200."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) <= len(first):
            return httpx.Response(first[len(seen) - 1], headers={"Retry-After": "0.05"})
        return httpx.Response(200, json={"id": "u", "displayName": "U"})

    return seen, handler


async def test_every_attempt_made_while_serving_a_request_carries_its_id() -> None:
    seen, handler = flaky(429, 503)
    rid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    async with make(handler) as client:
        with request_scope(rid):
            await client.me("u1")
            await client.me("u1")
        await client.me("u1")  # no request served any more: a fresh id of its own
    ids = [r.headers["client-request-id"] for r in seen]
    assert ids[:4] == [rid] * 4  # both calls, retries included
    assert ids[4] != rid and uuid.UUID(ids[4]).version == 4


@pytest.mark.parametrize("rid", ["req-42", "0F8FAD5BD9CB469FA16570867728950E", "a.b_c"])
def test_a_request_id_that_is_not_a_guid_is_sent_as_a_stable_guid(rid: str) -> None:
    sent = client_request_id(rid)
    assert str(uuid.UUID(sent)) == sent  # Graph wants the canonical GUID form
    assert client_request_id(rid) == sent
    assert client_request_id(rid + "x") != sent
    with request_scope(rid):
        assert client_request_id() == sent


async def test_the_observer_hears_every_attempt_and_every_throttling_wait() -> None:
    recorder = Recorder()
    _seen, handler = flaky(429, 503)
    async with make(handler, recorder) as client:
        await client.me("u1")
    assert recorder.responses == [("GET", 429), ("GET", 503), ("GET", 200)]
    assert recorder.waits == [("429", 0.05), ("503", 0.05)]


async def test_the_observer_hears_a_network_failure_and_its_backoff() -> None:
    recorder = Recorder()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"id": "u", "displayName": "U"})

    async with make(handler, recorder) as client:
        await client.me("u1")
    assert recorder.responses == [("GET", None), ("GET", 200)]
    [(reason, seconds)] = recorder.waits
    assert reason == "network" and 0 < seconds <= 0.02


async def test_a_retry_after_beyond_the_budget_is_no_wait_and_the_error_is_raised() -> None:
    recorder = Recorder()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "120"})

    async with make(handler, recorder) as client:
        with pytest.raises(GraphThrottled):
            await client.me("u1")
    assert recorder.responses == [("GET", 429)] and recorder.waits == []


async def test_inner_batch_throttling_is_a_wait_too() -> None:
    recorder = Recorder()
    posts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        posts += 1
        status = 429 if posts == 1 else 200
        headers = {"Retry-After": "0.05"} if status == 429 else {}
        return httpx.Response(200, json={"responses": [{"id": "1", "status": status, "headers": headers, "body": {}}]})

    async with make(handler, recorder) as client:
        answers = await client.batch("u1", [BatchRequest("1", "GET", "/me")])
    assert answers["1"].status == 200
    assert recorder.responses == [("POST", 200), ("POST", 200)]
    assert recorder.waits == [("batch", 0.05)]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens there


async def test_the_probe_needs_only_an_http_answer_of_any_status() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401)

    recorder = Recorder()
    async with make(handler, recorder) as client:
        assert await client.unreachable() is None
    [probe] = seen
    assert probe.url == httpx.URL(BASE + "/") and "Authorization" not in probe.headers
    assert recorder.responses == []  # not a Graph call: not counted


async def test_the_probe_reports_graph_unreachable() -> None:
    async def token(user_id: str) -> str:
        return "t"

    async with GraphClient(f"http://127.0.0.1:{closed_port()}/v1.0", token_provider=token) as client:
        problem = await client.unreachable(seconds=1.0)
    assert problem is not None and problem.startswith("unreachable")


async def test_the_probe_gives_up_after_its_timeout() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with make(handler) as client:
        assert await client.unreachable(seconds=0.5) == "no answer within 0.5 s"
