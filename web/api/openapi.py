"""The OpenAPI 3.1 document of REST API v1, built from the route table (:data:`web.api.routes.ROUTES`) and the
pydantic models that read the requests and write the answers: the schemas are the models' own JSON Schemas
(requests in validation mode, answers in serialization mode, camelCase as on the wire), with their examples. Nothing
is written by hand twice: a field added to a model is in the document at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from web.api.routes import PREFIX, ROUTES, Route
from web.models import Problem

REF = "#/components/schemas/{model}"
Mode = Literal["validation", "serialization"]
PROBLEM_JSON = "application/problem+json"
ERRORS = {
    400: "The request can't be read (a malformed parameter, header or body).",
    401: "No valid API key (missing, unknown or revoked).",
    404: "No such resource, or it isn't yours.",
    409: "It changed meanwhile, or the time is taken (alternatives are offered).",
    410: "The event type no longer takes bookings.",
    415: "The body must be application/json.",
    422: "Some fields need correcting: every one is named in `errors`.",
    429: "Too many requests for this key: wait Retry-After seconds.",
    503: "The host's calendar can't be reached right now.",
}
DESCRIPTION = """Slotwise's REST API: your event types (booking links), their slots, your bookings and webhook
subscriptions. Authenticate with a personal API key (type **api key** in your chat with Slotwise) as
`Authorization: Bearer swk_...`. Every refusal is RFC 9457 problem details (`application/problem+json`).
Webhooks are signed per the Standard Webhooks specification (`webhook-id`, `webhook-timestamp`,
`webhook-signature`)."""


def _models() -> list[tuple[type[BaseModel], Mode]]:
    found: dict[tuple[type[BaseModel], Mode], None] = {(Problem, "serialization"): None}
    for route in ROUTES:
        if route.body is not None:
            found[(route.body, "validation")] = None
        if route.query is not None:
            found[(route.query, "validation")] = None
        for _description, model in route.responses.values():
            if model is not None:
                found[(model, "serialization")] = None
    return list(found)


def _example(model: type[BaseModel]) -> Any:
    extra = model.model_config.get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    return examples[0] if isinstance(examples, list) and examples else None


def _operation(route: Route, refs: Mapping[Any, Any], defs: dict[str, Any]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
        }
        for name in re.findall(r"{(\w+)}", route.path)
    ]
    if route.query is not None:
        schema = defs[refs[(route.query, "validation")]["$ref"].rsplit("/", 1)[1]]
        required = set(schema.get("required", ()))
        for name, prop in schema["properties"].items():
            parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if "description" in prop:
                parameter["description"] = prop["description"]
            parameters.append(parameter)
    for header in route.headers:
        parameters.append(
            {
                "name": header.name,
                "in": "header",
                "required": header.required,
                "description": header.description,
                "schema": {"type": "string", "minLength": 1, "maxLength": header.max_length},
            }
        )
    responses: dict[str, Any] = {}
    for status, (description, model) in sorted(route.responses.items()):
        answer: dict[str, Any] = {"description": description}
        if model is not None:
            answer["content"] = {"application/json": {"schema": refs[(model, "serialization")]}}
        responses[str(status)] = answer
    problem_ref = refs[(Problem, "serialization")]
    for status in route.errors:
        refusal: dict[str, Any] = {
            "description": ERRORS[status],
            "content": {PROBLEM_JSON: {"schema": problem_ref}},
        }
        if status == 429:
            refusal["headers"] = {"Retry-After": {"schema": {"type": "string"}, "description": "Seconds to wait."}}
        if status == 401:
            refusal["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        responses[str(status)] = refusal
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "parameters": parameters,
        "responses": responses,
    }
    if route.description:
        operation["description"] = route.description
    if route.body is not None:
        media: dict[str, Any] = {"schema": refs[(route.body, "validation")]}
        example = _example(route.body)
        if example is not None:
            media["examples"] = {"example": {"value": example}}
        operation["requestBody"] = {"required": True, "content": {"application/json": media}}
    return operation


@cache
def openapi_document() -> dict[str, Any]:
    """The document (the same for every request: built once)."""
    refs, top = models_json_schema(_models(), ref_template=REF, by_alias=True)
    defs: dict[str, Any] = top.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs, defs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Slotwise API", "version": "1.0.0", "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "tags": [{"name": "Event types"}, {"name": "Bookings"}, {"name": "Webhooks"}],
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "A personal API key (swk_...)."}
            },
        },
    }


async def openapi_json(_request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


__all__ = ["PREFIX", "openapi_document", "openapi_json"]
