"""REST API v1 (``/api/v1``): JSON in and out, problem details for every refusal, ``Authorization: Bearer <key>``.

* :mod:`web.api.routes`: the route table (every operation: method, path, handler, models, answers), which both
  registers the handlers and is the source of the OpenAPI document;
* :mod:`web.api.openapi`: ``GET /api/v1/openapi.json``, built from the table and the pydantic models of
  :mod:`web.models` that read the requests and write the answers (no hand-written copy).

Handlers only read requests into the models and write answers; what a key may see or change, and every rule, is
the core's (``scheduling.api.ApiService`` and the services behind it).
"""

from __future__ import annotations

from aiohttp import web

from web.api.context import API, ApiContext
from web.api.openapi import openapi_json
from web.api.routes import ROUTES, route_handler

__all__ = ["API", "ROUTES", "ApiContext", "setup_api"]

OPENAPI_PATH = "/api/v1/openapi.json"


def setup_api(app: web.Application) -> None:
    """Register every operation of the route table, and the OpenAPI document."""
    app.router.add_get(OPENAPI_PATH, openapi_json)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route_handler(route))
