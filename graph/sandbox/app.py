"""The Graph emulator as an aiohttp application: routes ``/v1.0/...``.

Mount it under a prefix (``parent.add_subapp("/sandbox/graph", create_graph_app(state))``) or serve it
alone; links it returns (``@odata.nextLink``, ``@odata.deltaLink``) are absolute and built from the
request's own scheme, host and prefix (``X-Forwarded-Proto``/``X-Forwarded-Host`` honoured), so they
work behind the mount. Path segments are split *before* percent-decoding, so event ids containing
``/`` must be URL-encoded by the client, as with Graph. Every answer is counted by status
(``state.faults.statuses``), and an applied write may be answered 504 at ``faults.ghost_write_rate``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import parse_qsl, unquote

from aiohttp import web
from multidict import CIMultiDict, MultiDict

from graph.sandbox import (
    routes_batch,
    routes_calendar,
    routes_delta,
    routes_events,
    routes_schedule,
    routes_subscriptions,
    routes_users,
)
from graph.sandbox.errors import service_unavailable
from graph.sandbox.notifier import Notifier
from graph.sandbox.pipeline import JSON_TYPE, NO_BODY, GraphRequest, Router, encode_body, error_response, serve
from graph.sandbox.state import EmulatorState

STATE_KEY = web.AppKey("graph_sandbox_state", EmulatorState)
ROUTER_KEY = web.AppKey("graph_sandbox_router", Router)
NOTIFIER_KEY = web.AppKey("graph_sandbox_notifier", Notifier)
VERSION = "/v1.0"
ANSWER_HEADERS = ("request-id", "client-request-id", "x-ms-ags-diagnostic")  # what a ghost-write 504 keeps


def build_router() -> Router:
    return Router(
        [
            *routes_users.ROUTES,
            *routes_calendar.ROUTES,
            *routes_delta.ROUTES,
            *routes_events.ROUTES,
            *routes_schedule.ROUTES,
            *routes_subscriptions.ROUTES,
            *routes_batch.ROUTES,
        ]
    )


def public_base(request: web.Request, prefix: str) -> str:
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    return f"{scheme}://{host}{prefix}"


async def _to_graph_request(request: web.Request) -> GraphRequest:
    raw = request.rel_url.raw_path
    index = raw.find(VERSION + "/")
    if index < 0:
        index = raw.rfind(VERSION)
    prefix, rel = raw[:index], raw[index + len(VERSION) :]
    segments = [unquote(s) for s in rel.split("/")[1:]]
    if segments and segments[-1] == "":
        segments.pop()
    body = NO_BODY
    body_error = False
    if request.can_read_body:
        text = await request.text()
        if text.strip():
            try:
                body = json.loads(text)
            except ValueError:
                body_error = True
    return GraphRequest(
        method=request.method.upper(),
        segments=segments,
        raw_path=rel or "/",
        query=MultiDict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True)),
        headers=CIMultiDict(request.headers),
        body=body,
        base_url=public_base(request, prefix) + VERSION,
        body_error=body_error,
    )


async def _handle(request: web.Request) -> web.StreamResponse:
    state, router = request.app[STATE_KEY], request.app[ROUTER_KEY]
    try:
        graph_request = await _to_graph_request(request)
        response = await serve(state, router, graph_request)
        if 200 <= response.status < 300 and state.faults.ghost(request.method):
            # the write was applied, but the answer is lost at the gateway (faults.py, ghost_write_rate)
            lost = error_response(service_unavailable(504, None), graph_request, state)
            kept = {k: v for k, v in response.headers.items() if k.lower() in ANSWER_HEADERS}
            response = replace(lost, headers={**kept, **lost.headers, "Content-Type": JSON_TYPE})
        state.faults.statuses[response.status] += 1
    finally:
        if request.method != "GET" or "delta" in request.path:  # reads change nothing but delta rounds
            state.touch()  # events, subscriptions, delta state: what changed is saved (graph.sandbox.persist)
    headers = dict(response.headers)
    content_type = headers.pop("Content-Type", None)
    if isinstance(response.body, str) and content_type is None:
        content_type = "text/plain; charset=utf-8"
    out = web.Response(status=response.status, body=encode_body(response) or None, headers=headers)
    if content_type and response.body is not None:
        out.headers["Content-Type"] = content_type
    return out


async def _notifier_ctx(app: web.Application) -> AsyncIterator[None]:
    notifier = Notifier(app[STATE_KEY])
    await notifier.start()
    app[NOTIFIER_KEY] = notifier
    yield
    await notifier.close()


def create_graph_app(state: EmulatorState) -> web.Application:
    """The Graph emulator over ``state``; routes are ``/v1.0/...`` relative to wherever it is mounted."""
    app = web.Application()
    app[STATE_KEY] = state
    app[ROUTER_KEY] = build_router()
    app.router.add_route("*", VERSION, _handle)
    app.router.add_route("*", VERSION + "/{tail:.*}", _handle)
    app.cleanup_ctx.append(_notifier_ctx)
    return app
