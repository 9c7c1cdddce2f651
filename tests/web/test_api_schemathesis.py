"""Schemathesis against /api/v1/openapi.json on the sandbox app (served from a thread: schemathesis calls it over
HTTP with ``requests``): for every operation, generated requests (valid and invalid) with a real API key, and
every answer must be no server error, a documented status with the documented content type, and match its
schema. The example count per operation is bounded so the run takes seconds."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
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

from app import API_WIRING, SERVICES, build_app
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


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    server = AppThread(tmp_path_factory.mktemp("schemathesis"))
    server.thread.start()
    assert server.ready.wait(30)
    base = server.settings.local_base_url

    async def key() -> str:
        for _ in range(300):  # the demo host and its link appear once the app serves
            services = server.app.get(SERVICES)
            host = await services.repos.users.get_by_handle("adele") if services is not None else None
            if host is not None and services is not None and await services.links.list(host):
                issued = await server.app[API_WIRING].service.keys.create(host, "schemathesis")
                return issued.secret
            await asyncio.sleep(0.05)
        raise AssertionError("the demo host never came up")

    secret = server.call(key())
    try:
        yield base, {"Authorization": f"Bearer {secret}"}
    finally:
        server.stop()


def test_every_operation_answers_as_its_schema_says(served: tuple[str, dict[str, str]]) -> None:
    base, headers = served
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    results = list(schema.get_all_operations())
    assert not [r.err() for r in results if isinstance(r, Err)]
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(operations) >= 19
    calls = {"count": 0}
    for operation in operations:

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
            case.call_and_validate(base_url=base, headers=headers, checks=CHECKS, timeout=30)

        run()
    assert calls["count"] >= len(operations) * 2
    print(f"schemathesis: {len(operations)} operations, {calls['count']} requests, 0 failures")
