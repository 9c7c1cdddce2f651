"""``POST /$batch``: up to 20 inner requests, each run through the full pipeline.

Inner requests share the batch's bearer token, are evaluated on their own (so a throttled one is a 429
with its own ``Retry-After`` in its ``headers`` while the batch is a 200), and count against the same
per-mailbox concurrency limit. Without ``dependsOn`` they run concurrently; with it, in order, and a
request whose dependency failed gets 424. Responses come back in reverse order, so clients must match
them by ``id``. A malformed batch (more than 20 requests, duplicate ids, absolute URLs, a body without
``Content-Type``, unknown ``dependsOn``) is a 400 for the whole batch.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from multidict import CIMultiDict, MultiDict

from graph.sandbox.errors import GraphError
from graph.sandbox.pipeline import NO_BODY, Ctx, GraphRequest, GraphResponse, Route, ok

MAX_REQUESTS = 20
METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")


def _bad(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def _inner_request(ctx: Ctx, spec: Mapping[str, Any]) -> GraphRequest:
    url = str(spec["url"])
    path, _, query = url.partition("?")
    if not path.startswith("/"):
        path = "/" + path
    segments = [unquote(s) for s in path.split("/")[1:]]
    if segments and segments[-1] == "":
        segments.pop()
    headers: CIMultiDict[str] = CIMultiDict()
    for key, value in (spec.get("headers") or {}).items():
        headers[str(key)] = str(value)
    headers["Authorization"] = ctx.req.headers.get("Authorization", "")
    body: Any = NO_BODY
    body_error = False
    if spec.get("body") is not None:
        body = spec["body"]
        if isinstance(body, str):
            try:
                body = json.loads(base64.b64decode(body, validate=True))
            except (binascii.Error, ValueError):
                body_error = True
    return GraphRequest(
        method=str(spec["method"]).upper(),
        segments=segments,
        raw_path=path,
        query=MultiDict(parse_qsl(query, keep_blank_values=True)),
        headers=headers,
        body=body,
        base_url=ctx.req.base_url,
        in_batch=True,
        body_error=body_error,
    )


def _validate(requests: Any) -> list[Mapping[str, Any]]:
    if not isinstance(requests, list) or not requests:
        raise _bad("Invalid batch payload format: 'requests' must be a non-empty array.")
    if len(requests) > MAX_REQUESTS:
        raise _bad(f"Number of batch requests ({len(requests)}) exceeds the maximum of {MAX_REQUESTS}.")
    seen: set[str] = set()
    for spec in requests:
        if not isinstance(spec, Mapping) or not spec.get("id") or not spec.get("method") or not spec.get("url"):
            raise _bad("Each batch request needs 'id', 'method' and 'url'.")
        rid = str(spec["id"]).lower()
        if rid in seen:
            raise _bad(f"Batch request ids must be unique; '{spec['id']}' is repeated.")
        seen.add(rid)
        if str(spec["method"]).upper() not in METHODS:
            raise _bad(f"Invalid method '{spec['method']}' in batch request id : {spec['id']}.")
        url = str(spec["url"])
        if "://" in url or url.lower().lstrip("/").startswith(("v1.0", "beta")):
            raise _bad(f"Batch request id : {spec['id']} must use a URL relative to the version, like '/me'.")
        if url.lstrip("/").lower().startswith("$batch"):
            raise _bad("Nested batch requests are not supported.")
        headers = {str(k).lower() for k in (spec.get("headers") or {})}
        if spec.get("body") is not None and "content-type" not in headers:
            raise _bad(f"Write request id : {spec['id']} does not contain Content-Type header or body.")
    ids = {str(s["id"]).lower() for s in requests}
    for spec in requests:
        deps = spec.get("dependsOn") or []
        if not isinstance(deps, list) or any(str(d).lower() not in ids for d in deps):
            raise _bad(f"Batch request id : {spec['id']} depends on an unknown request id.")
    return requests


def _entry(rid: str, response: GraphResponse) -> dict[str, Any]:
    headers = {k: v for k, v in response.headers.items() if k.lower() != "x-ms-ags-diagnostic"}
    entry: dict[str, Any] = {"id": rid, "status": response.status, "headers": headers}
    if response.body is not None:
        entry["body"] = response.body
    return entry


async def batch(ctx: Ctx) -> GraphResponse:
    body = ctx.json_body()
    if not isinstance(body, Mapping):
        raise _bad("Invalid batch payload format.")
    requests = _validate(next((v for k, v in body.items() if k.lower() == "requests"), None))
    sequential = any(spec.get("dependsOn") for spec in requests)
    results: dict[str, GraphResponse] = {}
    if sequential:
        for spec in requests:
            failed = [
                d
                for d in spec.get("dependsOn") or []
                if results.get(str(d).lower()) is None or results[str(d).lower()].status >= 400
            ]
            if failed:
                err = GraphError(
                    424, "FailedDependency", f"The request depends on request '{failed[0]}', which failed."
                )
                inner = _inner_request(ctx, spec)
                results[str(spec["id"]).lower()] = GraphResponse(
                    424,
                    err.body(
                        date=ctx.state.now().strftime("%Y-%m-%dT%H:%M:%S"),
                        request_id=inner.request_id,
                        client_request_id=inner.client_request_id,
                    ),
                    {"Content-Type": "application/json"},
                )
                continue
            results[str(spec["id"]).lower()] = await ctx.serve(_inner_request(ctx, spec))
    else:
        responses = await asyncio.gather(*(ctx.serve(_inner_request(ctx, spec)) for spec in requests))
        for spec, response in zip(requests, responses, strict=True):
            results[str(spec["id"]).lower()] = response
    entries = [_entry(str(spec["id"]), results[str(spec["id"]).lower()]) for spec in requests]
    entries.reverse()
    return ok({"responses": entries})


ROUTES = [Route("POST", ("$batch",), batch, kind="global")]
