"""Schemathesis against /api/v1/openapi.json on the sandbox app (served from a thread: schemathesis calls it over
HTTP with ``requests``): for every operation, generated requests (valid and invalid) with a real API key, and
every answer must be no server error, a documented status with the documented content type, and match its
schema. The example count per operation is bounded so the run takes seconds.

The key's owner has a personal link and team links (round-robin, a booking on it hosted by another member of the
rotation), so the answers cover team links too; every operation naming an event type or a booking is also fuzzed
with those ids in place of random ones (and a booking request's ``eventTypeId``, and the bookings list's filter),
so generated bodies reach the team links' own use cases, not just their 404s."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err, Ok

from app import API_WIRING, SERVICES, Services, build_app
from scheduling.domain import Caller, LinkKind, Priority, TeamMember, User
from scheduling.intervals import Interval
from scheduling.invitee import InviteeForm
from scheduling.links import NewLink
from tests.web.conftest import sandbox_settings

EXAMPLES = 12  # per operation
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class AppThread:
    """The sandbox app on its own port and event loop, in a thread."""

    def __init__(self, tmp: Path) -> None:
        self.settings = sandbox_settings(tmp, SLOTWISE_API_RATE_LIMIT=100_000, SLOTWISE_OUTBOX_SECONDS=0)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.app = build_app(self.settings)
        self.runner = web.AppRunner(self.app, access_log=None)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", self.settings.port)
        self.loop.run_until_complete(site.start())
        self.ready.set()
        self.loop.run_forever()

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def stop(self) -> None:
        self.call(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass(frozen=True)
class Served:
    base: str
    headers: dict[str, str]
    team_link: str  # a round-robin link the key's owner made
    disposable: str  # another one, for DELETE
    team_booking: str  # a booking on team_link that another member hosts


async def team_links(services: Services, host: User) -> tuple[str, str, str]:
    """Two team links ``host`` made in a team with a second member, who hosts a booking on the first."""
    teams = services.teams
    assert teams is not None
    megan = await services.repos.users.upsert(
        User(
            id="megan",
            tenant_id=host.tenant_id,
            aad_object_id="megan-oid",
            display_name="Megan Bowen",
            email="megan@contoso.example",
        )
    )
    megan = await services.connections.ensure_connected(megan) or megan
    team = await teams.team_for(host.tenant_id, "19:sales@thread.tacv2", "Sales")
    link = await teams.create_link(host, team, NewLink(title="Sales demo"), LinkKind.ROUND_ROBIN)
    await teams.join(link.link.id, megan)
    await services.repos.teams.update_members(team.id, [TeamMember(megan.id, priority=Priority.HIGH)])
    other = await teams.create_link(host, team, NewLink(title="Throwaway"), LinkKind.COLLECTIVE)
    now = services.booking.clock.now()
    slots = await services.booking.slots(link.link, Interval(now, now + timedelta(days=14)))
    form = InviteeForm("Ivy Invitee", "ivy@example.org", "UTC", "", {})
    booked = await services.booking.book(link.link, slots[0].start, form, caller=Caller.public())
    assert [h.id for h in booked.hosts] == [megan.id]
    return link.link.id, other.link.id, booked.booking.id


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = AppThread(tmp_path_factory.mktemp("schemathesis"))
    server.thread.start()
    assert server.ready.wait(30)
    base = server.settings.local_base_url

    async def key() -> Served:
        for _ in range(300):  # the demo host and its link appear once the app serves
            services = server.app.get(SERVICES)
            host = await services.repos.users.get_by_handle("adele") if services is not None else None
            if host is not None and services is not None and await services.links.list(host):
                issued = await server.app[API_WIRING].service.keys.create(host, "schemathesis")
                headers = {"Authorization": f"Bearer {issued.secret}"}
                return Served(base, headers, *await team_links(services, host))
            await asyncio.sleep(0.05)
        raise AssertionError("the demo host never came up")

    found = server.call(key())
    try:
        yield found
    finally:
        server.stop()


def on_team_links(case: schemathesis.Case[Any], served: Served) -> None:
    """``case`` aimed at the key's team link (its booking) wherever it names an event type or a booking."""
    params = case.path_parameters if isinstance(case.path_parameters, dict) else {}
    if "eventTypeId" in params:
        params["eventTypeId"] = served.disposable if case.method.upper() == "DELETE" else served.team_link
    if "bookingId" in params:
        params["bookingId"] = served.team_booking
    if isinstance(case.body, dict) and "eventTypeId" in case.body:
        case.body["eventTypeId"] = served.team_link
    if isinstance(case.query, dict) and "eventTypeId" in case.query:
        case.query["eventTypeId"] = served.team_link


def test_every_operation_answers_as_its_schema_says(served: Served) -> None:
    base, headers = served.base, served.headers
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    results = list(schema.get_all_operations())
    assert not [r.err() for r in results if isinstance(r, Err)]
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(operations) >= 19
    calls = {"count": 0, "team": 0}
    reached: set[tuple[str, str]] = set()  # (operation, path) of the 2xx answers about the team link
    named = ("eventTypeId", "bookingId")
    aimed = [o for o in operations if any(f"{{{n}}}" in o.path for n in named) or o.path.endswith("/bookings")]
    assert {o.path for o in aimed} >= {"/api/v1/event-types/{eventTypeId}", "/api/v1/bookings/{bookingId}"}

    def fuzz(operation: Any, team: bool) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case[Any]) -> None:
            calls["count"] += 1
            if team:
                on_team_links(case, served)
                calls["team"] += 1
            response = case.call_and_validate(base_url=base, headers=headers, checks=CHECKS, timeout=30)
            if team and 200 <= response.status_code < 300:
                reached.add((case.method.upper(), operation.path))

        run()

    for operation in operations:
        fuzz(operation, False)
    for operation in aimed:
        fuzz(operation, True)
    assert {("GET", "/api/v1/event-types/{eventTypeId}"), ("GET", "/api/v1/bookings/{bookingId}")} <= reached, reached
    assert calls["count"] >= len(operations) * 2 and calls["team"] >= len(aimed) * 2
    listed = requests.get(f"{base}/api/v1/event-types", headers=headers, timeout=30).json()["data"]
    assert served.team_link in [x["id"] for x in listed]  # the answers checked against the schema held a team link
    print(f"schemathesis: {len(operations)} operations, {calls['count']} requests ({calls['team']} on team links)")
