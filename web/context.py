"""What the web handlers share: the booking service, URLs, security helpers, rate limits and templates."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from scheduling.booking import BookingService
from scheduling.connect import ConnectionService
from scheduling.ports import Clock
from scheduling.ratelimit import RateLimited, Throttle
from scheduling.teams import TeamLinkService
from web.security import Csrf, Network, client_ip

log = logging.getLogger("slotwise.web")

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "xml"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


class SingleFlight:
    """Concurrent identical reads share one computation (no result is kept once it finishes).

    Many visitors looking at the same link's week at once cost one calendar read, not one each: a read
    that starts while an identical one is in flight waits for that one's result (or its error: a failed
    calendar read still fails closed for everyone). The shared work runs in its own task, so a visitor
    who goes away never cancels it for the others.
    """

    def __init__(self) -> None:
        self._flights: dict[Hashable, asyncio.Task[Any]] = {}

    async def run(self, key: Hashable, work: Callable[[], Awaitable[Any]]) -> Any:
        task = self._flights.get(key)
        if task is None:
            task = asyncio.ensure_future(work())
            self._flights[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(task)

    def _forget(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        if self._flights.get(key) is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # retrieved: a failure nobody awaited anymore is not logged as lost

    def __len__(self) -> int:
        return len(self._flights)


@dataclass
class WebContext:
    service: BookingService
    clock: Clock
    base_url: str
    csrf: Csrf
    booking_limiter: Throttle  # booking submissions and manage actions per client address (shared by replicas)
    slot_limiter: Throttle  # slot reads per client address: the JSON endpoints and the week views
    templates: jinja2.Environment
    reads: SingleFlight = field(default_factory=SingleFlight)
    connections: ConnectionService | None = None
    secret: bytes = b""  # the sign-in flow cookie key: derive_key(secret, scheduling.keys.SIGN_IN_FLOW)
    trusted_proxies: tuple[Network, ...] = ()
    teams: TeamLinkService | None = None  # team links' pages (/book/team/{team}/{slug}); None: not offered

    def client_ip(self, request: web.Request) -> str:
        """Who the request comes from, for rate limits (see ``web.security.client_ip``)."""
        return client_ip(request, self.trusted_proxies)

    async def over_limit(self, limiter: Throttle, request: web.Request) -> RateLimited | None:
        """Count this request under ``limiter`` for its client address: None when allowed, else why not (with the
        seconds to wait, for ``Retry-After``). Check it before the work it guards. The counters are in the
        database, shared by every replica; when they fail the request is let through (``Throttle``), logged here.
        """
        decision = await limiter.hit(self.client_ip(request))
        if decision.failure is not None:
            failure = decision.failure
            log.warning(
                "rate limit %s not checked, request let through: %s: %s",
                limiter.rule.name,
                type(failure).__name__,
                failure,
            )
        if decision.allowed:
            return None
        return RateLimited(decision.retry_after, limiter.rule.limit, limiter.rule.window)

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def booking_url(self, handle: str, slug: str) -> str:
        return self.url(f"/book/{handle}/{slug}")

    def manage_url(self, token: str) -> str:
        return self.url(f"/manage/{token}")


WEB = web.AppKey("slotwise.web", WebContext)
