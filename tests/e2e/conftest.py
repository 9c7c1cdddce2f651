"""End-to-end: the whole app in sandbox mode (in-process aiohttp server on a free loopback port, a temp
SQLite database, the Graph emulator, the outbox worker every 0.2 s) and the Microsoft 365 Agents
Playground (a real Teams-like client from npm, run by Node bound to loopback) talking to it.

Without Node or the Playground package the tests are skipped with the install hint, except under CI
(env ``CI`` set), where they fail: CI must run them (``make playground`` installs the package).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import app as app_module
from app import Settings, build_app
from graph.sandbox import EmulatorState
from tests.e2e.playground import Playground, PlaygroundProcess, free_port, launch, missing, wait_until_up

OUTBOX_SECONDS = 0.2


def require_playground() -> None:
    problem = missing()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


@dataclass
class Stack:
    """The running app and the Playground pointed at it."""

    app: web.Application
    client: TestClient[Any, Any]
    settings: Settings
    playground: Playground
    process: PlaygroundProcess

    @property
    def emulator(self) -> EmulatorState:
        return self.app[app_module.EMULATOR]

    @property
    def services(self) -> app_module.Services:
        return self.app[app_module.SERVICES]

    @property
    def base_url(self) -> str:
        return self.settings.base_url


def sandbox_settings(var_dir: Path) -> Settings:
    return Settings(
        _env_file=None,
        SLOTWISE_VAR_DIR=str(var_dir),
        SLOTWISE_PORT=free_port(),
        SLOTWISE_DATABASE_URL=f"sqlite+aiosqlite:///{var_dir / 'slotwise.db'}",
        SLOTWISE_OUTBOX_SECONDS=OUTBOX_SECONDS,
        SLOTWISE_RECONCILE_SECONDS=3600,
        SLOTWISE_BOOKING_RATE_LIMIT=1000,
    )


async def wait_healthy(client: TestClient[Any, Any], seconds: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        resp = await client.get("/healthz")
        await resp.read()
        if resp.status == 200:
            return
        assert loop.time() < deadline, f"the app never answered /healthz (last status {resp.status})"
        await asyncio.sleep(0.05)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """A fresh app and Playground per test module (the Playground keeps every conversation in memory)."""
    require_playground()
    root = tmp_path_factory.mktemp("e2e")
    settings = sandbox_settings(root / "var")
    application = build_app(settings)
    async with TestClient(TestServer(application, host="127.0.0.1", port=settings.port)) as client:
        await wait_healthy(client)
        process = launch(f"http://127.0.0.1:{settings.port}/api/messages", root / "playground")
        try:
            async with aiohttp.ClientSession() as session:
                await wait_until_up(process, session)
                playground = Playground(process.port, session)
                await playground.connect()
                try:
                    yield Stack(application, client, settings, playground, process)
                finally:
                    await playground.close()
        finally:
            process.stop()
            print(f"Playground log ({process.log}):\n{process.output()}")
        assert process.process.returncode is not None
