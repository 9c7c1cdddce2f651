"""A stand-in for Slotwise's ``/graph/notifications`` and ``/graph/lifecycle`` endpoints, served over real
HTTP in the test's event loop, with knobs to make it misbehave the ways Graph has to cope with."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.graph.emulator_fixtures import serve


@dataclass
class Receiver:
    """``mode`` controls the validation handshake (echo, wrong, json, error, slow); ``fail_next`` makes that
    many notification POSTs answer 500 and ``delay`` makes every one answer that late (seconds).
    ``notifications`` keeps what was accepted (with path and query), ``attempts`` every POST seen."""

    url: str = ""
    mode: str = "echo"
    fail_next: int = 0
    delay: float = 0.0
    notifications: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    validations: list[tuple[str, str]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    attempted: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        token = request.query.get("validationToken")
        if token is not None:
            self.validations.append((token, request.headers.get("Content-Type", "")))
            if self.mode == "slow":
                await asyncio.sleep(1)
            if self.mode == "wrong":
                return web.Response(text="nope", content_type="text/plain")
            if self.mode == "json":
                return web.json_response({"validationToken": token})
            if self.mode == "error":
                return web.Response(status=500)
            return web.Response(text=token, content_type="text/plain")
        body = {"path": request.path, "query": dict(request.query), **await request.json()}
        self.attempts.append(body)
        self.attempted.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=500)
        self.notifications.append(body)
        self.arrived.set()
        return web.Response(status=202)

    async def wait(self, count: int) -> None:
        """Until ``count`` notifications were accepted (at most 5 seconds)."""
        async with asyncio.timeout(5):
            while len(self.notifications) < count:
                self.arrived.clear()
                await self.arrived.wait()

    def lifecycle_events(self) -> list[tuple[str, str]]:
        """(subscriptionId, lifecycleEvent) of every accepted lifecycle notification, in order."""
        return [
            (n["subscriptionId"], n["lifecycleEvent"])
            for body in self.notifications
            if body["path"] == "/lifecycle"
            for n in body["value"]
        ]

    def changes(self) -> list[dict[str, Any]]:
        """Every accepted change notification (the entries of each ``value``), in order."""
        return [n for body in self.notifications if body["path"] == "/notify" for n in body["value"]]


@asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_route("*", "/notify", rec.handle)
    app.router.add_route("*", "/lifecycle", rec.handle)
    async with serve(app) as root:
        rec.url = root
        yield rec
