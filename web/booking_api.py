"""JSON endpoints of a booking link (used by the page's scripts and by other programs; they become
part of the public API v1):

* ``GET /book/{handle}/{slug}/slots?start=YYYY-MM-DD&end=YYYY-MM-DD&timeZone=IANA`` — slots whose start
  falls on those dates (inclusive) in ``timeZone``, as sorted UTC instants;
* ``POST /book/{handle}/{slug}`` with a JSON body — book; ``Idempotency-Key`` makes retries safe (an
  identical request with the same key gets the same booking and manage link; any other request with it
  is 422).

Slot reads are rate-limited per client (429 with ``Retry-After``), like booking attempts.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from scheduling.booking import MAX_QUERY_DAYS, BookingOutcome
from scheduling.domain import Caller
from scheduling.errors import InvalidQuery, SlotwiseError, ValidationFailed
from scheduling.intervals import Interval
from scheduling.invitee import InviteeForm, form_errors
from scheduling.localtime import from_epoch, wall_to_epoch
from scheduling.timezones import is_valid_zone, zone
from web.context import WEB, WebContext
from web.problems import problem, problem_response
from web.views import iso_z

MAX_BODY = 64 * 1024


def parse_date(value: str | None, parameter: str) -> date:
    if not value:
        raise InvalidQuery(parameter, f"'{parameter}' is required, as a date like 2026-12-01.")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidQuery(parameter, f"'{value}' is not a date like 2026-12-01.") from exc


def parse_instant(value: Any, parameter: str = "start") -> datetime:
    """A UTC instant such as '2026-12-01T14:00:00Z' (an explicit offset is accepted too)."""
    if not isinstance(value, str) or not value:
        raise ValidationFailed({parameter: "Give the start as a UTC time like 2026-12-01T14:00:00Z."})
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed({parameter: f"'{value}' is not a time like 2026-12-01T14:00:00Z."}) from exc
    if parsed.tzinfo is None:
        raise ValidationFailed({parameter: "Include the time zone: end the time with Z for UTC."})
    return parsed.astimezone(UTC)


def local_days_window(first: date, last: date, tz_name: str) -> Interval:
    tz = zone(tz_name)
    return Interval(from_epoch(wall_to_epoch(first, 0, tz)), from_epoch(wall_to_epoch(last + timedelta(days=1), 0, tz)))


def too_many_problem(title: str, detail: str, wait: float) -> web.Response:
    return problem(429, title, detail, "rate_limited", headers={"Retry-After": str(int(wait) + 1)})


async def slots_json(request: web.Request) -> web.Response:
    ctx: WebContext = request.app[WEB]
    handle, slug = request.match_info["handle"], request.match_info["slug"]
    wait = ctx.slot_limiter.hit(ctx.client_ip(request))
    if wait is not None:
        return too_many_problem("Too many slot requests", "Please wait a little before asking for more times.",
                                wait)
    try:
        tz_name = request.query.get("timeZone", "UTC")
        if not is_valid_zone(tz_name):
            raise InvalidQuery("timeZone", f"'{tz_name}' is not an IANA time zone such as Europe/London.")
        first = parse_date(request.query.get("start"), "start")
        last = parse_date(request.query.get("end"), "end")
        if last < first:
            raise InvalidQuery("end", "'end' is before 'start'.")
        if (last - first).days + 1 > MAX_QUERY_DAYS:
            raise InvalidQuery("end", f"Ask for at most {MAX_QUERY_DAYS} days at a time.")
        duration = _optional_int(request.query.get("duration"), "duration")

        async def read() -> bytes:
            link, owner = await ctx.service.resolve_link(handle, slug)
            slots = await ctx.service.slots(link, local_days_window(first, last, tz_name), duration, owner)
            return json.dumps({
                "timeZone": tz_name,
                "duration": duration or link.rules.duration,
                "slots": [{"start": iso_z(s.start), "end": iso_z(s.end)} for s in slots],
            }).encode()

        body = await ctx.reads.run(("slots", handle, slug, first, last, tz_name, duration), read)
    except SlotwiseError as exc:
        return problem_response(exc)
    return web.Response(body=body, content_type="application/json")


def _optional_int(value: Any, parameter: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidQuery(parameter, f"'{parameter}' must be a whole number of minutes.") from exc


def outcome_json(ctx: WebContext, outcome: BookingOutcome) -> dict[str, Any]:
    b = outcome.booking
    return {
        "id": b.id, "status": b.status.value, "start": iso_z(b.start), "end": iso_z(b.end),
        "joinUrl": b.join_url, "manageUrl": ctx.manage_url(outcome.manage_token) if outcome.manage_token else None,
    }


async def book_json(request: web.Request) -> web.Response:
    ctx: WebContext = request.app[WEB]
    wait = ctx.booking_limiter.hit(ctx.client_ip(request))
    if wait is not None:
        return too_many_problem("Too many booking attempts", "Please wait a little before trying again.", wait)
    if request.content_length is not None and request.content_length > MAX_BODY:
        return problem(413, "Request too large", "The booking request is too large.", "too_large")
    try:
        body = await request.json()
    except ValueError:
        return problem(400, "Invalid JSON", "The request body is not valid JSON.", "invalid_json")
    if not isinstance(body, dict):
        return problem(400, "Invalid request", "The request body must be a JSON object.", "invalid_request")
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 200:
        return problem(400, "Invalid Idempotency-Key", "Idempotency-Key must be 1 to 200 characters.",
                       "invalid_request", parameter="Idempotency-Key")
    try:
        link, _owner = await ctx.service.resolve_link(request.match_info["handle"], request.match_info["slug"])
        form = InviteeForm(name=body.get("name", ""), email=body.get("email", ""),
                           time_zone=body.get("timeZone", "UTC"), notes=body.get("notes", ""),
                           answers=body.get("answers") or {})
        errors: dict[str, str] = {}
        try:
            start = parse_instant(body.get("start"))
        except ValidationFailed as exc:
            errors.update(exc.fields)
        duration = body.get("duration")
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int)):
            errors["duration"] = "Duration must be a whole number of minutes."
        if errors:  # every problem at once: the core's verdict on the invitee's fields too
            raise ValidationFailed({**form_errors(form, link.questions), **errors})
        # Public: the key lives in the public namespace, whatever it says; only an identical request sent
        # with it again gets this booking (and its manage link) back. The core validates the invitee.
        outcome = await ctx.service.book(link, start, form, caller=Caller.public(), duration=duration,
                                         idempotency_key=key)
    except SlotwiseError as exc:
        return problem_response(exc)
    status = 201 if outcome.confirmed and not outcome.replayed else 200 if outcome.confirmed else 202
    return web.json_response(outcome_json(ctx, outcome), status=status)
