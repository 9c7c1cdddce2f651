"""Health endpoints for load balancers and orchestrators.

``GET /healthz``: the process is alive and serving (200 ``{"status": "ok"}``); nothing else is checked, so a
database or Graph outage never gets a healthy replica restarted.

``GET /readyz``: this replica can do its work, 200 or 503 with every check::

    {"status": "ok" | "unavailable",
     "checks": {"database": {"status": "ok"},
                "graph": {"status": "unavailable", "detail": "unreachable (ConnectError)"}}}

The checks are wired by ``app.py`` (:data:`READINESS`): the database answers and is migrated to the head
revision this code expects; Graph's base URL answers HTTP. Each check is bounded (``timeout``) and its result
reused for ``ttl`` seconds, and concurrent probes share one run, so a balancer polling every second costs at
most one database read a second and one Graph request every few seconds per replica. A check that raises is
reported as ``unavailable`` with the exception's type only (the details go to the log): the body is public.
Until the services are built the replica is not ready (``starting``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger("slotwise.web")

#: a check: None when fine, else what is wrong (a short sentence, shown publicly)
Probe = Callable[[], Awaitable[str | None]]
OK = "ok"
UNAVAILABLE = "unavailable"


@dataclass
class Check:
    probe: Probe
    ttl: float = 1.0  # seconds a result is reused
    timeout: float = 2.0  # seconds the probe may take
    _result: tuple[float, str | None] | None = field(default=None, init=False, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)


class Readiness:
    """The readiness checks by name (see the module docstring)."""

    def __init__(self, checks: Mapping[str, Check], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.checks = dict(checks)
        self._clock = clock

    async def run(self) -> dict[str, str | None]:
        """Every check's problem (None: fine), each run at most once per its ``ttl``."""
        names = list(self.checks)
        results = await asyncio.gather(*(self._run(name, self.checks[name]) for name in names))
        return dict(zip(names, results, strict=True))

    async def _run(self, name: str, check: Check) -> str | None:
        async with check._lock:  # a probe arriving while one runs waits for it and shares its result
            now = self._clock()
            if check._result is not None and now - check._result[0] < check.ttl:
                return check._result[1]
            problem = await _probe(name, check)
            check._result = (self._clock(), problem)
            return problem


async def _probe(name: str, check: Check) -> str | None:
    try:
        return await asyncio.wait_for(check.probe(), check.timeout)
    except TimeoutError:
        log.warning("readiness: %s did not answer within %g s", name, check.timeout)
        return f"no answer within {check.timeout:g} s"
    except Exception as exc:
        log.warning("readiness: %s failed: %s: %s", name, type(exc).__name__, exc)
        return f"unavailable ({type(exc).__name__})"


READINESS = web.AppKey("readiness", Readiness)


def readiness_body(problems: Mapping[str, str | None]) -> dict[str, Any]:
    checks: dict[str, dict[str, str]] = {}
    for name, problem in problems.items():
        checks[name] = {"status": OK} if problem is None else {"status": UNAVAILABLE, "detail": problem}
    ready = bool(checks) and all(problem is None for problem in problems.values())
    return {"status": OK if ready else UNAVAILABLE, "checks": checks}


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": OK}, headers={"Cache-Control": "no-store"})


async def readyz(request: web.Request) -> web.Response:
    readiness = request.app.get(READINESS)
    problems = await readiness.run() if readiness is not None else {"app": "starting"}
    body = readiness_body(problems)
    return web.json_response(body, status=200 if body["status"] == OK else 503, headers={"Cache-Control": "no-store"})


def setup_health(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
