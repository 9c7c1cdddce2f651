"""The emulator's request pipeline, independent of aiohttp so ``$batch`` can reuse it for inner requests.

``serve()`` runs one request through the same steps Graph applies: authenticate the bearer token (401
shapes of graph-facts §7), route (400 for an unknown segment, 405 for a wrong method), resolve the
target mailbox (``/me`` or ``/users/{id|upn}``), injected faults, Outlook's per-mailbox concurrency
limit, injected latency, then the handler. Every response carries ``request-id`` and
``client-request-id`` (echoed when the client sent one); every error has Graph's body shape. One
:class:`~graph.sandbox.model.RequestRecord` is logged per request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from multidict import CIMultiDict, MultiDict

from graph.sandbox.errors import (
    GraphError,
    directory_not_found,
    invalid_user,
    mailbox_concurrency,
    mailbox_not_enabled,
    method_not_allowed,
    segment_not_found,
    token_empty,
    token_expired,
    token_unparseable,
)
from graph.sandbox.model import AccessToken, EmUser, RequestRecord
from graph.sandbox.state import EmulatorState, trim
from graph.sandbox.timefmt import fmt_error_date, parse_prefer, resolve_zone
from graph.sandbox.tokens import looks_like_jwt

log = logging.getLogger("graph.sandbox")

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
NO_BODY: Any = object()
DIAGNOSTIC = '{"ServerInfo":{"DataCenter":"Sandbox","Slice":"E","Ring":"5","ScaleUnit":"000","RoleInstance":"SBX"}}'


@dataclass
class GraphRequest:
    """One request to the Graph API, from HTTP or from inside a ``$batch``."""

    method: str
    segments: list[str]
    raw_path: str
    query: MultiDict[str]
    headers: CIMultiDict[str]
    body: Any
    base_url: str
    in_batch: bool = False
    body_error: bool = False
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def path(self) -> str:
        return "/" + "/".join(self.segments)

    @property
    def client_request_id(self) -> str:
        return self.headers.get("client-request-id") or self.request_id

    def q(self, name: str) -> str | None:
        """A query option, with or without its ``$`` (Graph accepts both for system query options)."""
        for key in (name, name.lstrip("$"), "$" + name.lstrip("$")):
            if key in self.query:
                return self.query[key]
        lowered = name.lstrip("$").lower()
        for key, value in self.query.items():
            if key.lstrip("$").lower() == lowered:
                return value
        return None

    @property
    def prefer(self) -> dict[str, str]:
        return parse_prefer(self.headers.getall("Prefer", []))

    def link(self, path: str, params: Mapping[str, str]) -> str:
        """An absolute link under this request's version root (works behind a mount prefix)."""
        query = urlencode(list(params.items()), quote_via=quote, safe="$'(),:/@")
        return f"{self.base_url}{path}" + (f"?{query}" if query else "")


@dataclass
class GraphResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Ctx:
    """What a handler gets: the state, the request, the caller, path parameters and target mailbox."""

    state: EmulatorState
    req: GraphRequest
    caller: EmUser
    token: AccessToken
    params: dict[str, str]
    mailbox: EmUser | None
    serve: Callable[[GraphRequest], Awaitable[GraphResponse]]

    def response_zone(self) -> str | None:
        """The ``Prefer: outlook.timezone`` zone name (validated), or None for UTC."""
        name = self.req.prefer.get("outlook.timezone")
        if name is None:
            return None
        resolve_zone(name)
        return name

    def applied(self, headers: dict[str, str] | None = None) -> dict[str, str]:
        """``Preference-Applied`` for the preferences this response honoured."""
        out = dict(headers or {})
        prefs = self.req.prefer
        applied = []
        if "outlook.timezone" in prefs:
            applied.append(f'outlook.timezone="{prefs["outlook.timezone"]}"')
        if "outlook.body-content-type" in prefs:
            applied.append(f'outlook.body-content-type="{prefs["outlook.body-content-type"]}"')
        if applied:
            out["Preference-Applied"] = ", ".join(applied)
        return out

    def json_body(self) -> Any:
        if self.req.body_error:
            raise GraphError(
                400,
                "BadRequest",
                "Unable to read JSON request payload. Please ensure "
                "Content-Type header is set and payload is of valid JSON format.",
            )
        return None if self.req.body is NO_BODY else self.req.body

    def context_url(self, fragment: str) -> str:
        return f"{self.req.base_url}/$metadata#{fragment}"

    @property
    def target(self) -> EmUser:
        assert self.mailbox is not None
        return self.mailbox


Handler = Callable[[Ctx], Awaitable[GraphResponse]]


@dataclass(frozen=True)
class Route:
    """``pattern`` segments are literals (case-insensitive) or ``{name}``. ``kind`` is "mailbox"
    (under /me or /users/{id}, Outlook), "directory" (the user object), or "global"."""

    method: str
    pattern: tuple[str, ...]
    handler: Handler
    kind: str = "mailbox"
    defaults: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Match:
    route: Route
    params: dict[str, str]
    user_ref: str | None


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)

    def match(self, method: str, segments: list[str]) -> Match:
        user_ref: str | None = None
        rest = segments
        scoped = False
        if segments and segments[0].lower() == "me":
            user_ref, rest, scoped = "me", segments[1:], True
        elif len(segments) >= 2 and segments[0].lower() == "users":
            user_ref, rest, scoped = segments[1], segments[2:], True
        candidates = [r for r in self.routes if (r.kind != "global") == scoped]
        for i, seg in enumerate(rest):
            candidates = [r for r in candidates if len(r.pattern) > i and _seg_matches(r.pattern[i], seg)]
            if not candidates:
                raise segment_not_found(seg)
        exact = [r for r in candidates if len(r.pattern) == len(rest)]
        if not exact:
            raise segment_not_found(segments[-1] if segments else "")
        for route in exact:
            if route.method == method:
                params = dict(route.defaults)
                params.update({p[1:-1]: seg for p, seg in zip(route.pattern, rest, strict=True) if p.startswith("{")})
                return Match(route, params, user_ref)
        raise method_not_allowed(method)


def _seg_matches(pattern: str, seg: str) -> bool:
    if pattern.startswith("{"):
        return bool(seg)
    return any(seg.lower() == alt.lower() for alt in pattern.split("|"))


def _authenticate(state: EmulatorState, req: GraphRequest) -> AccessToken:
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if not header.strip() or (scheme.lower() == "bearer" and not token):
        raise token_empty()
    if scheme.lower() != "bearer" or not looks_like_jwt(token):
        raise token_unparseable()
    record = state.authenticate(token)
    if record is None:
        raise token_expired()
    return record


def _resolve_mailbox(state: EmulatorState, caller: EmUser, match: Match) -> EmUser | None:
    if match.user_ref is None:
        return None
    if match.user_ref == "me":
        target = caller
    else:
        found = state.get_user(match.user_ref)
        if found is None or found.tenant_id != caller.tenant_id:
            if match.route.kind == "directory":
                raise directory_not_found(match.user_ref)
            raise invalid_user(match.user_ref)
        target = found
    if match.route.kind == "mailbox" and not target.mailbox_enabled:
        raise mailbox_not_enabled()
    return target


def error_response(err: GraphError, req: GraphRequest, state: EmulatorState) -> GraphResponse:
    body = err.body(
        date=fmt_error_date(state.now()), request_id=req.request_id, client_request_id=req.client_request_id
    )
    return GraphResponse(err.status, body, dict(err.headers))


async def serve(state: EmulatorState, router: Router, req: GraphRequest) -> GraphResponse:
    """Run one request through the pipeline; never raises for a client error."""
    caller: EmUser | None = None
    counted: str | None = None
    mailbox: EmUser | None = None
    try:
        token = _authenticate(state, req)
        caller = state.users[token.user_id]
        match = router.match(req.method, req.segments)
        mailbox = _resolve_mailbox(state, caller, match)
        identities = {caller.id.lower(), caller.upn.lower()}
        if mailbox is not None:
            identities |= {mailbox.id.lower(), mailbox.upn.lower()}
        outer_batch = match.route.kind == "global" and req.segments[:1] == ["$batch"]
        rule = state.faults.take(identities=identities, path=req.path, outer_batch=outer_batch)
        if rule is not None:
            raise rule.error()
        limit = state.faults.mailbox_concurrency_limit
        if match.route.kind == "mailbox" and mailbox is not None and limit is not None:
            counted = mailbox.id
            state.inflight[counted] += 1
            if state.inflight[counted] > limit:
                raise mailbox_concurrency(state.faults.concurrency_retry_after)
        if state.faults.latency_ms and not outer_batch:
            await asyncio.sleep(state.faults.latency_ms / 1000)
        ctx = Ctx(state, req, caller, token, match.params, mailbox, lambda r: serve(state, router, r))
        response = await match.route.handler(ctx)
    except GraphError as err:
        response = error_response(err, req, state)
    except Exception:
        log.exception("emulator handler failed for %s %s", req.method, req.path)
        response = error_response(
            GraphError(500, "InternalServerError", "The emulator failed to process the request; see its log."),
            req,
            state,
        )
    finally:
        if counted is not None:
            state.inflight[counted] -= 1
    response.headers.setdefault("request-id", req.request_id)
    response.headers.setdefault("client-request-id", req.client_request_id)
    response.headers.setdefault("x-ms-ags-diagnostic", DIAGNOSTIC)
    if isinstance(response.body, (dict, list)):
        response.headers.setdefault("Content-Type", JSON_TYPE)
    trim(state.request_log)
    state.request_log.append(
        RequestRecord(
            method=req.method,
            path=("$batch:" if req.in_batch else "") + req.path,
            user_id=caller.id if caller else None,
            status=response.status,
            query=urlencode(list(req.query.items())),
            mailbox_id=mailbox.id if mailbox else None,
        )
    )
    return response


def encode_body(response: GraphResponse) -> bytes:
    if response.body is None:
        return b""
    if isinstance(response.body, str):
        return response.body.encode()
    return json.dumps(response.body, ensure_ascii=False).encode()


def ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> GraphResponse:
    return GraphResponse(status, body, dict(headers or {}))
