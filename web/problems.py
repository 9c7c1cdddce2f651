"""The one place where the core's error tree becomes HTTP: status codes and RFC 9457 problem details.

Pages render the same mapping as an HTML message; the JSON endpoints return
``application/problem+json`` with ``type``, ``title``, ``status``, ``detail`` and extension members
(``parameter``, ``errors``, ``alternatives``, ``code``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from scheduling.api_keys import InvalidApiKey
from scheduling.errors import (
    Conflict,
    HostUnavailable,
    IdempotencyKeyReused,
    IntegrationError,
    InvalidQuery,
    InvalidRule,
    LinkInactive,
    NotFound,
    OutsideBookingWindow,
    SlotUnavailable,
    SlotwiseError,
    ValidationFailed,
)
from scheduling.ratelimit import RateLimited
from web.models import Problem
from web.wire import WireRefusal

PROBLEM_BASE = "urn:slotwise:problem:"
PROBLEM_JSON = "application/problem+json"

_TITLES: list[tuple[type[SlotwiseError], int, str]] = [
    (ValidationFailed, 422, "Some fields need correcting"),
    (SlotUnavailable, 409, "That time is no longer available"),
    (LinkInactive, 410, "This link is no longer active"),
    (NotFound, 404, "Not found"),
    (Conflict, 409, "Someone changed this first"),
    (InvalidQuery, 400, "Invalid request"),
    (InvalidRule, 400, "Invalid request"),
    (OutsideBookingWindow, 422, "That time can't be booked"),
    (HostUnavailable, 503, "The host can't take bookings right now"),
    (IntegrationError, 503, "A service we depend on is unavailable"),
    (InvalidApiKey, 401, "Unauthorized"),
    (RateLimited, 429, "Too many requests"),
    (SlotwiseError, 400, "Request failed"),
]


def status_and_title(exc: SlotwiseError) -> tuple[int, str]:
    for cls, status, title in _TITLES:
        if isinstance(exc, cls):
            return status, title
    return 400, "Request failed"


def problem_body(exc: SlotwiseError) -> dict[str, Any]:
    status, title = status_and_title(exc)
    parameter: str | None = None
    if isinstance(exc, InvalidQuery):
        parameter = exc.parameter
    if isinstance(exc, InvalidRule):
        parameter = exc.field
    if isinstance(exc, IdempotencyKeyReused):
        parameter = exc.parameter
    return Problem(
        type=PROBLEM_BASE + exc.code,
        title=title,
        status=status,
        detail=exc.message,
        code=exc.code,
        parameter=parameter,
        errors=exc.fields if isinstance(exc, ValidationFailed) else None,
        alternatives=list(exc.alternatives) if isinstance(exc, SlotUnavailable) else None,
    ).body()


def problem(
    status: int,
    title: str,
    detail: str,
    code: str,
    *,
    headers: dict[str, str] | None = None,
    parameter: str | None = None,
) -> web.Response:
    body = Problem(
        type=PROBLEM_BASE + code, title=title, status=status, detail=detail, code=code, parameter=parameter
    ).body()
    return web.json_response(body, status=status, content_type=PROBLEM_JSON, headers=headers)


def wire_problem(exc: WireRefusal) -> web.Response:
    """A request that could not be read (web.wire), as problem details."""
    return problem(exc.status, exc.title, exc.detail, exc.code, parameter=exc.parameter)


def problem_response(exc: SlotwiseError, headers: dict[str, str] | None = None) -> web.Response:
    body = problem_body(exc)
    return web.json_response(body, status=body["status"], content_type=PROBLEM_JSON, headers=headers)
