"""/healthz and /readyz (web.health, issue 15): alive versus ready, with every check in a clear JSON body and 503
when one fails: the database down (a closed port), a database never migrated (fresh and empty), Graph
unreachable; checks bounded in time, cached for their ttl and shared by concurrent probes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from graph.client import GraphClient
from storage.db import create_database
from storage.migrate import head_revision
from storage.operations import SqlOperationsStore
from tests.storage.fixtures import KINDS, Kind, create_test_database, database, drop_test_database, require_postgres
from tests.web.conftest import running_site
from web.health import READINESS, Check, Readiness, setup_health

pytestmark = pytest.mark.asyncio(loop_scope="session")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


async def _no_token(user_id: str) -> str:
    return "unused"


@asynccontextmanager
async def probed(checks: dict[str, Check] | None) -> AsyncIterator[TestClient[Any, Any]]:
    """A bare app with the health routes and these readiness checks (None: services not built yet)."""
    app = web.Application()
    setup_health(app)
    if checks is not None:
        app[READINESS] = Readiness(checks)
    async with TestClient(TestServer(app)) as client:
        yield client


async def readyz(client: TestClient[Any, Any]) -> tuple[int, dict[str, Any]]:
    resp = await client.get("/readyz")
    assert resp.content_type == "application/json" and resp.headers["Cache-Control"] == "no-store"
    return resp.status, await resp.json()


@asynccontextmanager
async def graph_at(base_url: str) -> AsyncIterator[GraphClient]:
    async with GraphClient(base_url, token_provider=_no_token) as graph:
        yield graph


async def test_the_sandbox_app_is_alive_and_ready(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        alive = await site.client.get("/healthz")
        assert alive.status == 200 and await alive.json() == {"status": "ok"}
        status, body = await readyz(site.client)
    assert status == 200
    assert body == {"status": "ok", "checks": {"database": {"status": "ok"}, "graph": {"status": "ok"}}}


async def test_not_ready_until_the_services_are_built() -> None:
    async with probed(None) as client:
        status, body = await readyz(client)
        assert (await client.get("/healthz")).status == 200  # alive all the same
    assert status == 503
    assert body == {"status": "unavailable", "checks": {"app": {"status": "unavailable", "detail": "starting"}}}


async def test_database_down_is_unavailable_and_graph_still_reported() -> None:
    down = create_database(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/test", pool_size=1, max_overflow=0)
    try:
        async with (
            graph_at(f"http://127.0.0.1:{closed_port()}/v1.0") as graph,
            probed(
                {"database": Check(SqlOperationsStore(down).schema_problem), "graph": Check(graph.unreachable)}
            ) as c,
        ):
            status, body = await readyz(c)
    finally:
        await down.dispose()
    assert status == 503 and body["status"] == "unavailable"
    assert body["checks"]["database"] == {"status": "unavailable", "detail": "unavailable (StorageUnavailable)"}
    assert body["checks"]["graph"]["status"] == "unavailable"
    assert "postgres@" not in str(body)  # no connection string in a public body


@pytest.mark.parametrize(
    "kind", [pytest.param(k, marks=[pytest.mark.postgres] if k == "postgres" else []) for k in KINDS]
)
async def test_a_database_never_migrated_is_not_ready(kind: Kind, tmp_path: Path) -> None:
    if kind == "postgres":
        require_postgres()
    url = await create_test_database(kind, tmp_path, migrate=False)
    empty = create_database(url, pool_size=1, max_overflow=0)
    try:
        async with probed({"database": Check(SqlOperationsStore(empty).schema_problem)}) as client:
            status, body = await readyz(client)
    finally:
        await empty.dispose()
        await drop_test_database(url)
    assert status == 503
    detail = body["checks"]["database"]["detail"]
    assert body["checks"]["database"]["status"] == "unavailable" and detail.startswith("not migrated")
    assert head_revision() in detail


async def test_graph_unreachable_is_not_ready_while_the_database_is_fine(tmp_path: Path) -> None:
    async with database("sqlite", tmp_path) as db, graph_at(f"http://127.0.0.1:{closed_port()}/v1.0") as graph:
        checks = {"database": Check(SqlOperationsStore(db).schema_problem), "graph": Check(graph.unreachable)}
        async with probed(checks) as client:
            status, body = await readyz(client)
    assert status == 503
    assert body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["graph"] == {"status": "unavailable", "detail": "unreachable (ConnectError)"}


async def test_graph_answering_anything_over_http_is_reachable(tmp_path: Path) -> None:
    async def graph_root(_request: web.Request) -> web.Response:
        return web.json_response({"error": {"code": "InvalidAuthenticationToken"}}, status=401)

    fake_graph = web.Application()
    fake_graph.router.add_get("/v1.0/", graph_root)
    async with (
        TestClient(TestServer(fake_graph)) as graph_server,
        database("sqlite", tmp_path) as db,
        graph_at(str(graph_server.make_url("/v1.0"))) as graph,
    ):
        checks = {"database": Check(SqlOperationsStore(db).schema_problem), "graph": Check(graph.unreachable)}
        async with probed(checks) as client:
            status, body = await readyz(client)
    assert status == 200 and body["status"] == "ok"


class Probe:
    def __init__(self, answers: list[str | None], delay: float = 0.0) -> None:
        self.answers = answers
        self.delay = delay
        self.calls = 0

    async def __call__(self) -> str | None:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return self.answers[min(self.calls, len(self.answers)) - 1]


async def test_results_are_reused_for_their_ttl_and_concurrent_probes_share_one_run() -> None:
    now = [100.0]
    graph = Probe([None, "unreachable (ConnectError)"], delay=0.05)
    readiness = Readiness({"graph": Check(graph, ttl=5.0)}, clock=lambda: now[0])
    answers = await asyncio.gather(*(readiness.run() for _ in range(10)))
    assert graph.calls == 1 and all(a == {"graph": None} for a in answers)
    now[0] += 4.9
    assert await readiness.run() == {"graph": None} and graph.calls == 1
    now[0] += 0.2
    assert await readiness.run() == {"graph": "unreachable (ConnectError)"} and graph.calls == 2


async def test_a_check_that_hangs_is_cut_off_and_one_that_raises_says_only_its_type() -> None:
    async def hangs() -> str | None:
        await asyncio.sleep(60)
        return None

    async def raises() -> str | None:
        raise RuntimeError("password=hunter2 at db.internal")

    loop = asyncio.get_running_loop()
    started = loop.time()
    problems = await Readiness({"slow": Check(hangs, timeout=0.2), "broken": Check(raises)}).run()
    assert loop.time() - started < 2
    assert problems == {"slow": "no answer within 0.2 s", "broken": "unavailable (RuntimeError)"}
