"""/metrics (web.observability, issue 15): Prometheus text that moves with what the app does (requests by route
and status, booking outcomes, Graph attempts and throttling waits, outbox lag, subscriptions), and that nobody
reads unless the deployer allowed it (404 by default, 401 without the bearer token, loopback only on request)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from prometheus_client.parser import text_string_to_metric_families

from scheduling.domain import OutboxItem
from scheduling.operations import OperationsService
from scheduling.stores import OutboxBacklog
from tests.web.conftest import DEMO_UPN, Site, running_site
from web.observability import Metrics, MetricsAccess, request_middleware

SESSION_LOOP = pytest.mark.asyncio(loop_scope="session")  # the web tests' event loop (see conftest)
TOKEN = "metrics-" + "k" * 24
AUTH = {"Authorization": f"Bearer {TOKEN}"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def scrape(site: Site) -> Samples:
    resp = await site.client.get("/metrics", headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain") and "version=" in resp.headers["Content-Type"]
    return samples(await resp.text())


# ------------------------------------------------------------------ who may read it


@SESSION_LOOP
async def test_metrics_are_not_served_by_default(shared_site: Site) -> None:
    for headers in ({}, AUTH):
        resp = await shared_site.client.get("/metrics", headers=headers)
        assert resp.status == 404 and "slotwise_" not in await resp.text()


@SESSION_LOOP
async def test_a_token_is_required_when_one_is_set(tmp_path: Path) -> None:
    async with running_site(tmp_path, SLOTWISE_METRICS_TOKEN=TOKEN) as site:
        missing = await site.client.get("/metrics")
        wrong = await site.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
        basic = await site.client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
        for refused in (missing, wrong, basic):
            assert refused.status == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
            assert "slotwise_" not in await refused.text()
        assert "slotwise_http_requests_total" in await (await site.client.get("/metrics", headers=AUTH)).text()


@SESSION_LOOP
async def test_loopback_mode_serves_this_machine_but_not_through_a_proxy(tmp_path: Path) -> None:
    async with running_site(tmp_path, SLOTWISE_METRICS_LOOPBACK=True) as site:
        local = await site.client.get("/metrics")
        assert local.status == 200 and "process_resident_memory_bytes" in await local.text()
        relayed = await site.client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
        assert relayed.status == 404


def request_from(peer: str, **headers: str) -> Any:
    transport = Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (peer, 4000) if name == "peername" else default
    return make_mocked_request("GET", "/metrics", headers=headers, transport=transport)


@pytest.mark.parametrize(
    ("access", "peer", "headers", "expected"),
    [
        (MetricsAccess(), "127.0.0.1", {}, 404),
        (MetricsAccess(), "127.0.0.1", {"Authorization": f"Bearer {TOKEN}"}, 404),
        (MetricsAccess(token=TOKEN), "203.0.113.7", {"Authorization": f"Bearer {TOKEN}"}, None),
        (MetricsAccess(token=TOKEN), "203.0.113.7", {"Authorization": f"bearer {TOKEN}"}, None),
        (MetricsAccess(token=TOKEN), "203.0.113.7", {"Authorization": f"Bearer {TOKEN[:-1]}"}, 401),
        (MetricsAccess(token=TOKEN), "127.0.0.1", {}, 401),
        (MetricsAccess(loopback=True), "127.0.0.1", {}, None),
        (MetricsAccess(loopback=True), "::1", {}, None),
        (MetricsAccess(loopback=True), "::ffff:127.0.0.1", {}, None),
        (MetricsAccess(loopback=True), "10.0.0.5", {}, 404),
        (MetricsAccess(loopback=True), "127.0.0.1", {"Forwarded": "for=203.0.113.7"}, 404),
        (MetricsAccess(loopback=True), "127.0.0.1", {"X-Real-IP": "203.0.113.7"}, 404),
        (MetricsAccess(token=TOKEN, loopback=True), "127.0.0.1", {}, None),
        (MetricsAccess(token=TOKEN, loopback=True), "10.0.0.5", {}, 401),
    ],
)
def test_who_may_read_the_metrics(
    access: MetricsAccess, peer: str, headers: dict[str, str], expected: int | None
) -> None:
    assert ipaddress.ip_address(peer)  # the cases name real addresses
    assert access.refusal(request_from(peer, **headers)) == expected


# ------------------------------------------------------------------ what they say


@SESSION_LOOP
async def test_metrics_move_with_bookings_graph_throttling_and_the_outbox(tmp_path: Path) -> None:
    async with running_site(tmp_path, SLOTWISE_METRICS_TOKEN=TOKEN) as site:
        before = await scrape(site)
        first, second = await site.free_starts(count=2)
        site.emulator.faults.throttle(count=1, retry_after=0.05, user=DEMO_UPN, path="/events")  # the event write
        assert (await site.book_json(first)).status == 201
        assert (await site.book_json(first, email="other@example.org")).status == 409  # taken meanwhile
        assert (await site.book_json(second, email="not an email")).status == 422
        await site.services.repos.outbox.enqueue([OutboxItem("test.lag", "t", {}, "lag-1", channel="ops-test")])
        await site.at_rest()
        after = await scrape(site)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("slotwise_bookings_total", action="book", outcome="created") == 1
    assert delta("slotwise_bookings_total", action="book", outcome="slot_unavailable") == 1
    assert delta("slotwise_bookings_total", action="book", outcome="validation_failed") == 1
    route = "/book/{handle}/{slug}"
    assert delta("slotwise_http_requests_total", method="POST", route=route, status="201") == 1
    assert delta("slotwise_http_requests_total", method="POST", route=route, status="409") == 1
    assert delta("slotwise_http_request_duration_seconds_count", method="POST", route=route, status="422") == 1
    assert delta("slotwise_http_requests_total", method="GET", route="/metrics", status="200") == 1
    assert delta("slotwise_graph_requests_total", method="POST", status="429") == 1
    assert delta("slotwise_graph_requests_total", method="POST", status="201") >= 1
    assert delta("slotwise_graph_retry_wait_seconds_count", reason="429") == 1
    assert delta("slotwise_graph_retry_wait_seconds_sum", reason="429") == pytest.approx(0.05)
    assert value(after, "slotwise_outbox_pending", channel="ops-test") == 1
    assert value(after, "slotwise_outbox_oldest_age_seconds", channel="ops-test") >= 0
    assert ("slotwise_outbox_pending", frozenset({("channel", "teams")})) in after  # idle channels read zero
    assert value(after, "slotwise_calendar_subscriptions") == 1  # the demo host's calendar is synced
    assert value(after, "process_resident_memory_bytes") > 0


class FailingStore:
    async def outbox_backlog(self) -> list[OutboxBacklog]:
        raise ConnectionError("the database went away")

    async def subscription_count(self) -> int:
        return 0


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


async def test_a_scrape_without_the_database_leaves_its_figures_out_and_counts_the_failure() -> None:
    metrics = Metrics(process=False)
    await metrics.refresh(OperationsService(store=FailingStore(), clock=Clock(), channels=("teams",)))
    found = samples(metrics.render().decode())
    assert value(found, "slotwise_metrics_scrape_errors_total") == 1
    assert not any(name.startswith(("slotwise_outbox", "slotwise_calendar")) for name, _ in found)


async def test_labels_stay_few_whatever_clients_send() -> None:
    metrics = Metrics(process=False)

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(middlewares=[request_middleware(metrics=metrics)])
    app.router.add_get("/items/{item}", page)
    async with TestClient(TestServer(app)) as client:
        for n in range(3):
            assert (await client.get(f"/items/{n}")).status == 200
        assert (await client.get("/random/path/123")).status == 404
        assert (await client.request("TRACE", "/items/1")).status == 405
    found = samples(metrics.render().decode())
    assert value(found, "slotwise_http_requests_total", method="GET", route="/items/{item}", status="200") == 3
    assert value(found, "slotwise_http_requests_total", method="GET", route="(unmatched)", status="404") == 1
    assert value(found, "slotwise_http_requests_total", method="OTHER", route="(unmatched)", status="405") == 1
    routes = {dict(labels).get("route") for name, labels in found if name == "slotwise_http_requests_total"}
    assert routes == {"/items/{item}", "(unmatched)"}
