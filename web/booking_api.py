"""JSON endpoints of a booking link (used by the page's scripts and by other programs; they become
part of the public API v1, with the models of :mod:`web.models`):

* ``GET /book/{handle}/{slug}/slots?start=YYYY-MM-DD&end=YYYY-MM-DD&timeZone=IANA`` — slots whose start
  falls on those dates (inclusive) in ``timeZone``, as sorted UTC instants (:class:`SlotsQuery` in,
  :class:`SlotsResponse` out);
* ``POST /book/{handle}/{slug}`` with a JSON body (:class:`BookingRequest`) — book; ``Idempotency-Key``
  makes retries safe (an identical request with the same key gets the same booking and manage link; any
  other request with it is 422). Answered with a :class:`BookingResponse`.

What is read is checked at the edge (:mod:`web.wire`): a body that is not a JSON object, has a key twice,
nests too deep or comes with another media type is refused before anything else; every date and instant
must lie within the reach of :mod:`scheduling.reach` (400/422 naming it). Every refusal is problem details.

Slot reads are rate-limited per client address (429 with ``Retry-After``), like booking attempts, first thing in
each handler; the counters are in the database, so the limits hold across replicas (``WebContext.over_limit``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from scheduling.booking import BookingOutcome
from scheduling.domain import Caller, EventType, User
from scheduling.errors import InvalidRule, NotFound, SlotwiseError, ValidationFailed
from scheduling.intervals import Interval
from scheduling.invitee import InviteeForm, form_errors
from scheduling.localtime import from_epoch, wall_to_epoch
from scheduling.ratelimit import RateLimited
from scheduling.reach import bounded_window, check_date
from scheduling.slots import resolve_duration
from scheduling.timezones import zone
from web.context import WEB, WebContext
from web.models import BookingRequest, BookingResponse, SlotOut, SlotsQuery, SlotsResponse
from web.problems import problem, problem_response, wire_problem
from web.wire import WireRefusal, field_errors, parse_query, read_json

MAX_BODY = 64 * 1024
MAX_IDEMPOTENCY_KEY = 200


def local_days_window(first: date, last: date, tz_name: str) -> Interval:
    tz = zone(tz_name)
    return Interval(from_epoch(wall_to_epoch(first, 0, tz)), from_epoch(wall_to_epoch(last + timedelta(days=1), 0, tz)))


def too_many_problem(title: str, detail: str, limited: RateLimited) -> web.Response:
    """The 429 problem details of a rate limit (``WebContext.over_limit``), with ``Retry-After``."""
    return problem(429, title, detail, "rate_limited", headers={"Retry-After": str(limited.retry_after_seconds)})


Resolve = Callable[[], Awaitable[tuple[EventType, User]]]


async def resolve_team(ctx: WebContext, team_slug: str, slug: str) -> tuple[EventType, User]:
    """The team link at /book/team/{team}/{slug} and who its page says the meeting is with (the team)."""
    if ctx.teams is None:
        raise NotFound("There is no booking link at this address. Check it with the person who sent it.")
    link, team = await ctx.teams.resolve(team_slug, slug)
    return link, ctx.teams.face(team, link)


async def slots_json(request: web.Request) -> web.Response:
    ctx: WebContext = request.app[WEB]
    handle, slug = request.match_info["handle"], request.match_info["slug"]
    return await _slots_json(ctx, request, ("slots", handle, slug), lambda: ctx.service.resolve_link(handle, slug))


async def team_slots_json(request: web.Request) -> web.Response:
    """``GET /book/team/{team}/{slug}/slots``: a team link's slots, the same shape as a personal link's."""
    ctx: WebContext = request.app[WEB]
    team_slug, slug = request.match_info["team"], request.match_info["slug"]
    return await _slots_json(ctx, request, ("team-slots", team_slug, slug), lambda: resolve_team(ctx, team_slug, slug))


async def _slots_json(ctx: WebContext, request: web.Request, name: tuple[str, ...], resolve: Resolve) -> web.Response:
    if (limited := await ctx.over_limit(ctx.slot_limiter, request)) is not None:  # first, before any other work
        return too_many_problem("Too many slot requests", "Please wait a little before asking for more times.", limited)
    try:
        query = parse_query(SlotsQuery, request.query)
        now = ctx.clock.now()
        today = now.astimezone(zone(query.time_zone)).date()
        check_date(query.start, today, "start")
        check_date(query.end, today, "end")
        window = bounded_window(local_days_window(query.start, query.end, query.time_zone), now)

        async def read() -> bytes:
            link, owner = await resolve()
            slots = await ctx.service.slots(link, window, query.duration, owner)
            answer = SlotsResponse(
                time_zone=query.time_zone,
                duration=query.duration or link.rules.duration,
                slots=[SlotOut(start=s.start, end=s.end) for s in slots],
            )
            return answer.model_dump_json(by_alias=True).encode()

        key = (*name, query.start, query.end, query.time_zone, query.duration)
        body = await ctx.reads.run(key, read)
    except SlotwiseError as exc:
        return problem_response(exc)
    return web.Response(body=body, content_type="application/json")


def booking_response(ctx: WebContext, outcome: BookingOutcome) -> BookingResponse:
    b = outcome.booking
    return BookingResponse(
        id=b.id,
        status=b.status,
        start=b.start,
        end=b.end,
        join_url=b.join_url,
        manage_url=ctx.manage_url(outcome.manage_token) if outcome.manage_token else None,
    )


def _as_sent(body: dict[str, Any]) -> InviteeForm:
    """The invitee's fields exactly as the body has them (the core judges them, whatever their type)."""
    return InviteeForm(
        name=body.get("name", ""),
        email=body.get("email", ""),
        time_zone=body.get("timeZone", "UTC"),
        notes=body.get("notes", ""),
        answers=body.get("answers"),
    )


def booking_request(
    body: dict[str, Any], link: EventType, now: datetime, model: type[BookingRequest] = BookingRequest
) -> tuple[BookingRequest, int | None]:
    """The request and the meeting length it asks for; ValidationFailed naming every wrong field at once (the
    model's verdict on the request's shape, the core's on the invitee's fields, the link's lengths for ``end``).
    ``model``: the request's model (the REST API's adds the event type)."""
    try:
        wanted = model.model_validate(body, context={"now": now})
    except ValidationError as exc:
        raise ValidationFailed({**field_errors(exc), **form_errors(_as_sent(body), link.questions)}) from None
    length = wanted.length()
    if wanted.end is not None and wanted.duration is None:
        try:
            resolve_duration(link.rules, length)
        except InvalidRule as exc:  # the link's rule, said about the field that asked for the length
            raise ValidationFailed({**form_errors(wanted.invitee(), link.questions), "end": exc.message}) from None
    return wanted, length


async def book_json(request: web.Request) -> web.Response:
    ctx: WebContext = request.app[WEB]
    handle, slug = request.match_info["handle"], request.match_info["slug"]
    return await _book_json(ctx, request, lambda: ctx.service.resolve_link(handle, slug))


async def team_book_json(request: web.Request) -> web.Response:
    """``POST /book/team/{team}/{slug}`` (JSON): the personal answer plus ``hosts``, the member assigned (every
    member of a collective link), each ``{"name", "email"}``."""
    ctx: WebContext = request.app[WEB]
    team_slug, slug = request.match_info["team"], request.match_info["slug"]
    return await _book_json(ctx, request, lambda: resolve_team(ctx, team_slug, slug), hosts=True)


async def _book_json(ctx: WebContext, request: web.Request, resolve: Resolve, *, hosts: bool = False) -> web.Response:
    if (limited := await ctx.over_limit(ctx.booking_limiter, request)) is not None:  # first, before any other work
        return too_many_problem("Too many booking attempts", "Please wait a little before trying again.", limited)
    try:
        body = await read_json(request, MAX_BODY)
    except WireRefusal as exc:
        return wire_problem(exc)
    if not isinstance(body, dict):
        return problem(400, "Invalid request", "The request body must be a JSON object.", "invalid_request")
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        return problem(
            400,
            "Invalid Idempotency-Key",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters.",
            "invalid_request",
            parameter="Idempotency-Key",
        )
    try:
        link, _owner = await resolve()
        wanted, length = booking_request(body, link, ctx.clock.now())
        # Public: the key lives in the public namespace, whatever it says; only an identical request sent
        # with it again gets this booking (and its manage link) back. The core validates the invitee.
        outcome = await ctx.service.book(
            link, wanted.start, wanted.invitee(), caller=Caller.public(), duration=length, idempotency_key=key
        )
    except SlotwiseError as exc:
        return problem_response(exc)
    status = 201 if outcome.confirmed and not outcome.replayed else 200 if outcome.confirmed else 202
    answer = booking_response(ctx, outcome).wire()
    if hosts:
        answer["hosts"] = [{"name": p.display_name, "email": p.email} for p in outcome.hosts]
    return web.json_response(answer, status=status)
