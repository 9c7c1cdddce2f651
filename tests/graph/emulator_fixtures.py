"""Shared helpers for the Graph emulator tests: real HTTP servers on 127.0.0.1, an httpx client,
a controllable clock, and contract validation against the official Graph OpenAPI subset."""

from __future__ import annotations

import copy
import json
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import httpx
from aiohttp import web
from openapi_schema_validator import OAS30Validator

from graph.sandbox import EmulatorState, create_graph_app, create_login_app
from graph.sandbox.model import ChangeTracking
from tests.contracts import GRAPH_CALENDAR_OPENAPI

SCHEMA_PATH = GRAPH_CALENDAR_OPENAPI
T0 = datetime(2030, 3, 4, 0, 0, tzinfo=UTC)  # a Monday, outside any DST change in Europe and the US
ADELE = "adele@contoso.example"
MEGAN = "megan@contoso.example"
PRIYA = "priya@contoso.example"


class Clock:
    """A settable clock for the emulator (tokens, subscriptions and timestamps use it)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve an aiohttp app on 127.0.0.1 (ephemeral port) in this event loop; yields its root URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@dataclass
class Emu:
    """A running emulator: ``graph`` is the ``/v1.0`` base URL, ``login`` the login app's root."""

    state: EmulatorState
    clock: Clock
    root: str
    graph: str
    login: str
    http: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, who: str) -> str:
        if who not in self.tokens:
            self.tokens[who] = self.state.issue_token(who)
        return self.tokens[who]

    def headers(self, who: str | None, **extra: str) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.token(who)}"} if who else {}
        out.update(extra)
        return out

    async def call(
        self,
        method: str,
        who: str | None,
        path: str,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        url = path if path.startswith("http") else self.graph + path
        return await self.http.request(
            method, url, json=json_body, params=params, headers={**self.headers(who), **(headers or {})}
        )

    async def get(self, who: str | None, path: str, **kw: Any) -> httpx.Response:
        return await self.call("GET", who, path, **kw)

    async def post(self, who: str | None, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return await self.call("POST", who, path, json_body=body, **kw)

    async def patch(self, who: str | None, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return await self.call("PATCH", who, path, json_body=body, **kw)

    async def delete(self, who: str | None, path: str, **kw: Any) -> httpx.Response:
        return await self.call("DELETE", who, path, **kw)


def add_people(state: EmulatorState) -> None:
    state.add_user(upn=ADELE, display_name="Adele Vance", time_zone="Pacific Standard Time")
    state.add_user(
        upn=MEGAN,
        display_name="Megan Bowen",
        time_zone="Europe/London",
        working_start="09:00:00",
        working_end="17:30:00",
    )
    state.add_user(
        upn=PRIYA,
        display_name="Priya Raman",
        time_zone="India Standard Time",
        working_start="09:30",
        working_end="18:00",
    )


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """One TLS context for every test client (building one loads the CA store: ~0.3 s each)."""
    return ssl.create_default_context()


@asynccontextmanager
async def running(
    *,
    people: bool = True,
    now: datetime | None = None,
    prefix: str = "",
    setup: Callable[[EmulatorState], object] | None = None,
) -> AsyncIterator[Emu]:
    """The Graph app (at ``{prefix}/v1.0``) and the login app (at ``/login``) on one server."""
    clock = Clock(now or T0 - timedelta(days=3))
    state = EmulatorState(clock=clock, seed=7)
    # Graph retries a failed notification for 4 hours; tests that need its schedule set their own.
    state.change_tracking = ChangeTracking(retry_delays=(0.02, 0.02))
    if people:
        add_people(state)
    if setup is not None:
        setup(state)
    root_app = web.Application()
    graph_app = create_graph_app(state)
    if prefix:
        root_app.add_subapp(prefix, graph_app)
    else:
        root_app = graph_app
    root_app.add_subapp("/login", create_login_app(state))
    async with serve(root_app) as root, httpx.AsyncClient(timeout=10, verify=_tls()) as http:
        yield Emu(state, clock, root, f"{root}{prefix}/v1.0", f"{root}/login", http)


def dttz(when: datetime, zone: str = "UTC") -> dict[str, str]:
    """A request dateTimeTimeZone for an aware instant, written as wall time in ``zone`` (IANA)."""
    from zoneinfo import ZoneInfo

    from scheduling.timezones import windows_to_iana

    local = when.astimezone(ZoneInfo(windows_to_iana(zone))).replace(tzinfo=None)
    return {"dateTime": local.isoformat(), "timeZone": zone}


def event_body(subject: str, start: datetime, end: datetime, zone: str = "UTC", **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "start": dttz(start, zone), "end": dttz(end, zone), **extra}


# ------------------------------------------------------------------------------------ contract


def _strip(instance: Any) -> Any:
    """Drop OData annotations (``@odata.*``: not properties) and nulls (the subset flattens nullable
    wrappers, so it cannot say which nulls are allowed: its README calls it lenient about nulls)."""
    if isinstance(instance, dict):
        return {k: _strip(v) for k, v in instance.items() if not k.startswith("@") and v is not None}
    if isinstance(instance, list):
        return [_strip(v) for v in instance]
    return instance


@lru_cache(maxsize=1)
def _components() -> dict[str, Any]:
    """Component schemas with ``allOf`` inheritance merged into one object schema each.

    Every generated schema carries ``additionalProperties: {type: object}``; validated part by part
    under ``allOf`` that would reject every inherited property, so the parts are merged first. The
    merged schema keeps that rule, so a misspelt property (a string where no property of that name
    exists) is still reported. The subset omits the derived type ``customTimeZone``; its documented
    properties (graph-facts §1) are added to ``timeZoneBase``.
    """
    doc = json.loads(SCHEMA_PATH.read_text())
    schemas: dict[str, dict[str, Any]] = doc["components"]["schemas"]

    def resolve(ref: str) -> dict[str, Any]:
        return schemas[ref.rsplit("/", 1)[1]]

    def flat(schema: dict[str, Any]) -> dict[str, Any]:
        if "allOf" not in schema:
            return schema
        props: dict[str, Any] = {}
        required: list[str] = []
        for part in schema["allOf"]:
            merged = flat(resolve(part["$ref"]) if "$ref" in part else part)
            props.update(merged.get("properties", {}))
            required += merged.get("required", [])
        out = {"type": "object", "properties": props, "additionalProperties": {"type": "object"}}
        if required:
            out["required"] = required
        return out

    flattened = {name: flat(copy.deepcopy(schema)) for name, schema in schemas.items()}
    offset = {
        "type": "object",
        "properties": {
            "time": {"type": "string", "pattern": r"^\d{2}:\d{2}:\d{2}(\.\d{1,7})?$"},
            "dayOccurrence": {"type": "integer"},
            "month": {"type": "integer"},
            "year": {"type": "integer"},
            "dayOfWeek": {"$ref": "#/components/schemas/microsoft.graph.dayOfWeek"},
            "daylightBias": {"type": "integer"},
        },
        "additionalProperties": False,
    }
    flattened["microsoft.graph.timeZoneBase"]["properties"].update(
        {"bias": {"type": "integer"}, "standardOffset": offset, "daylightOffset": offset}
    )
    return flattened


@lru_cache(maxsize=32)
def _validator(component: str) -> OAS30Validator:
    return OAS30Validator({"$ref": f"#/components/schemas/{component}", "components": {"schemas": _components()}})


def contract_errors(component: str, instance: Any) -> list[str]:
    """Validation errors of ``instance`` against ``#/components/schemas/<component>`` (empty if valid)."""
    validator = _validator(component)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(_strip(instance))]


def assert_contract(component: str, instance: Any) -> None:
    errors = contract_errors(component, instance)
    assert not errors, f"{component}: " + "; ".join(errors[:10])


def assert_graph_error(response: httpx.Response, status: int, code: str, message: str | None = None) -> dict[str, Any]:
    """Graph's error body, plus the request-id headers every response carries."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"]["code"] == code, body
    if message is not None:
        assert body["error"]["message"] == message, body
    inner = body["error"].get("innerError")
    if code != "ApplicationThrottled":
        assert inner is not None and {"date", "request-id", "client-request-id"} <= set(inner), body
        assert inner["request-id"] == response.headers["request-id"]
    assert response.headers.get("request-id") and response.headers.get("client-request-id")
    # The subset's InnerError is "service-specific" (every member must be an object), so it cannot
    # describe Graph's real string members; check the rest against the schema and those by hand.
    outer = {"error": {k: v for k, v in body["error"].items() if k != "innerError"}}
    assert_contract("microsoft.graph.ODataErrors.ODataError", outer)
    assert all(isinstance(v, str) for v in (inner or {}).values())
    return body
