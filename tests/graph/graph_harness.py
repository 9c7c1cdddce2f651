"""Test harness for the Graph client tests: the emulator served over real HTTP from a background thread.

MSAL is synchronous, so the login app must not live on the test's event loop (a blocking MSAL call
from ``asyncio.to_thread`` would be fine, but a fixture that runs everything on one background loop
is simpler and serves the Graph app the same way). Each test gets a fresh :class:`EmulatorState`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from aiohttp import web

from bench.support import ServerThread
from graph.client import GraphClient
from graph.sandbox import EmulatorState, create_graph_app, create_login_app
from graph.sandbox.model import ChangeTracking


@dataclass
class Emulator:
    state: EmulatorState
    graph_base: str
    login_base: str
    receiver_base: str
    received: list[Any] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        """An injectable ``sleep`` that records the wait and yields without really waiting long."""
        self.sleeps.append(seconds)
        await asyncio.sleep(min(seconds, 0.01))

    def token_provider(self) -> Any:
        """Issues emulator tokens directly (no MSAL); ``force_refresh`` issues a fresh one."""
        state = self.state

        async def provide(user_id: str, force_refresh: bool = False) -> str:
            return state.issue_token(user_id)

        return provide

    def client(self, **kwargs: Any) -> GraphClient:
        kwargs.setdefault("token_provider", self.token_provider())
        kwargs.setdefault("sleep", self.sleep)
        kwargs.setdefault("backoff_base", 0.01)
        kwargs.setdefault("backoff_cap", 0.05)
        return GraphClient(self.graph_base, **kwargs)

    def graph_requests(self, path_contains: str = "", method: str | None = None) -> list[Any]:
        return [r for r in self.state.request_log if path_contains in r.path and (method is None or r.method == method)]


class Recording(httpx.AsyncHTTPTransport):
    """The real HTTP transport, keeping the method and JSON body of every request the client sends
    (``GraphClient(..., transport=Recording())``)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        self.sent.append((request.method, body))
        return await super().handle_async_request(request)


def notification_receiver(received: list[Any]) -> web.Application:
    """A stand-in for Slotwise's ``/graph/notifications``: answers Graph's validation handshake
    (the URL-decoded token as text/plain) and records notifications."""

    async def handle(request: web.Request) -> web.Response:
        token = request.query.get("validationToken")
        if token is not None:
            return web.Response(text=token, content_type="text/plain")
        received.append(await request.json())
        return web.Response(status=202)

    app = web.Application()
    app.router.add_route("*", "/notify", handle)
    app.router.add_route("*", "/lifecycle", handle)
    return app


@contextmanager
def running_emulator(*, clock: Any = None) -> Iterator[Emulator]:
    state = EmulatorState(clock=clock) if clock is not None else EmulatorState()
    state.change_tracking = ChangeTracking(retry_delays=(0.02, 0.02))  # Graph's are 4 hours long
    received: list[Any] = []
    server = ServerThread(create_graph_app(state), create_login_app(state), notification_receiver(received))
    graph_url, login_url, receiver_url = server.start()
    try:
        yield Emulator(
            state, graph_base=f"{graph_url}/v1.0", login_base=login_url, receiver_base=receiver_url, received=received
        )
    finally:
        server.stop()


def aware(text: str) -> datetime:
    """``aware("2030-01-07T09:00Z")`` - a UTC instant for test data."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
