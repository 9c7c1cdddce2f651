"""The operations of REST API v1, as one table (:data:`ROUTES`) that registers the handlers and describes them for
the OpenAPI document (:mod:`web.api.openapi`).

Every operation but the document itself needs ``Authorization: Bearer <key>`` (401 otherwise, with
``WWW-Authenticate``) and counts against the key's rate limit (429 with ``Retry-After``; the limit is shared by
every replica). Bodies are read strictly (:mod:`web.wire`: JSON objects only, no duplicate keys, bounded) into the
models of :mod:`web.models`; a body's shape problems and the core's verdict on its values come back together, as
one 422 naming every field (camelCase, as the request spelled them).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from scheduling.api import BookingFilter, LinkChanges, MemberChanges, TeamChanges
from scheduling.api_keys import ApiPrincipal, InvalidApiKey
from scheduling.domain import Priority
from scheduling.errors import SlotwiseError, ValidationFailed
from scheduling.ports import Location
from scheduling.ratelimit import RateDecision, RateLimited
from scheduling.reach import bounded_window, check_date
from scheduling.rules import WEEKDAY_NAMES, BookingWindow, LocalRange, parse_hhmm
from scheduling.timezones import zone
from scheduling.webhooks import DeliveryRecord, SubscriptionChanges, WebhookSubscription
from web.api.context import API, ApiContext
from web.booking_api import MAX_IDEMPOTENCY_KEY, booking_request, local_days_window
from web.models import (
    ApiBookingRequest,
    Booking,
    BookingList,
    BookingsQuery,
    CancelRequest,
    EventType,
    EventTypeChanges,
    EventTypeFields,
    EventTypeList,
    EventTypeUpdate,
    RescheduleRequest,
    SecretRotation,
    SlotOut,
    SlotsQuery,
    SlotsResponse,
    TeamSettingsChanges,
    Webhook,
    WebhookCreate,
    WebhookDelivery,
    WebhookDeliveryList,
    WebhookList,
    WebhookUpdate,
    WebhookWithSecret,
    WireModel,
)
from web.problems import problem, problem_response, wire_problem
from web.wire import WireRefusal, field_errors, parse_query, read_json

MAX_BODY = 64 * 1024
PREFIX = "/api/v1"
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request, ApiPrincipal, ApiContext], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Header:
    name: str
    description: str
    required: bool = True
    max_length: int = MAX_IDEMPOTENCY_KEY


@dataclass(frozen=True, slots=True)
class Route:
    """One operation: how it is called, what it reads, what it answers (status -> (description, model or None
    for no body)), and which refusals it may answer (problem details)."""

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    handler: Handler
    responses: Mapping[int, tuple[str, type[WireModel] | None]]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    headers: tuple[Header, ...] = ()
    errors: tuple[int, ...] = (400, 401, 404, 422, 429)
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ reading requests


def camel_key(key: str) -> str:
    """A field key as the API spells it: ``weekly_hours.monday`` -> ``weeklyHours.monday`` (dates kept)."""
    return ".".join(to_camel(part) if "_" in part and not part[:1].isdigit() else part for part in key.split("."))


def snake_key(key: str) -> str:
    return ".".join(re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", part).lower() for part in key.split("."))


def _api_fields(exc: ValidationFailed) -> ValidationFailed:
    """``exc`` with its field keys as the API spells them."""
    fields = {camel_key(k): v for k, v in exc.fields.items()}
    if type(exc) is ValidationFailed:
        return ValidationFailed(fields)
    exc.fields = fields
    return exc


async def _body(request: web.Request) -> dict[str, Any]:
    body = await read_json(request, MAX_BODY)
    if not isinstance(body, dict):
        raise WireRefusal(400, "Invalid request", "The request body must be a JSON object.", "invalid_request")
    return body


def _model(model: type[M], body: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> M:
    try:
        return model.model_validate(body, context=dict(context or {}))
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from None


def _partial(model: type[M], body: Mapping[str, Any], context: Mapping[str, Any]) -> tuple[M | None, dict[str, str]]:
    """The model of ``body`` and no problems; or, when some fields are malformed, the model of the others and the
    problems of those (so the core can still judge the rest: every problem is reported at once)."""
    try:
        return model.model_validate(body, context=dict(context)), {}
    except ValidationError as exc:
        problems = field_errors(exc)
    bad = {key.split(".", 1)[0] for key in problems}
    try:
        return model.model_validate({k: v for k, v in body.items() if k not in bad}, context=dict(context)), problems
    except ValidationError:
        return None, problems


def _ranges(value: list[list[str]], key: str, problems: dict[str, str]) -> tuple[LocalRange, ...]:
    out = []
    for pair in value:
        try:
            out.append(LocalRange(parse_hhmm(pair[0]), parse_hhmm(pair[1])))
        except ValueError as exc:
            problems.setdefault(key, str(exc))
    return tuple(out)


def link_changes(m: EventTypeFields | None) -> tuple[LinkChanges, dict[str, str]]:
    """What an event type request sets, as the core's LinkChanges, and what can't be read from it (snake keys)."""
    if m is None:
        return LinkChanges(), {}
    problems: dict[str, str] = {}
    given = m.model_fields_set
    clear = frozenset(
        name
        for name in ("slot_interval", "daily_cap", "weekly_cap", "expires_at")
        if name in given and getattr(m, name) is None
    )
    weekly = None
    if m.weekly_hours is not None:
        weekly = {
            day: _ranges(getattr(m.weekly_hours, name), f"weekly_hours.{name}", problems)
            for day, name in enumerate(WEEKDAY_NAMES)
        }
    overrides = None
    if m.date_overrides is not None:
        overrides = {}
        for key, ranges in m.date_overrides.items():
            try:
                overrides[date.fromisoformat(key)] = _ranges(ranges, f"date_overrides.{key}", problems)
            except ValueError:
                problems[f"date_overrides.{key}"] = f"'{key}' is not a date like 2027-01-31."
    window = None
    if m.booking_window is not None:
        w = m.booking_window
        if w.rolling_days is None and w.start_date is None and w.end_date is None:
            problems["booking_window"] = "Give rollingDays, or startDate and endDate."
        else:
            window = BookingWindow(rolling_days=w.rolling_days, start_date=w.start_date, end_date=w.end_date)
    return (
        LinkChanges(
            title=m.title,
            description=m.description,
            durations=tuple(m.durations) if m.durations is not None else None,
            time_zone=m.time_zone,
            weekly_hours=weekly,
            date_overrides=overrides,
            slot_interval=m.slot_interval,
            buffer_before=m.buffer_before,
            buffer_after=m.buffer_after,
            minimum_notice=m.minimum_notice,
            booking_window=window,
            daily_cap=m.daily_cap,
            weekly_cap=m.weekly_cap,
            blocking_statuses=frozenset(m.blocking_statuses) if m.blocking_statuses is not None else None,
            location=Location(m.location.kind, m.location.text.strip()) if m.location is not None else None,
            single_use=m.single_use,
            active=m.active,
            expires_at=m.expires_at,
            kind=m.kind,
            clear=clear,
        ),
        problems,
    )


def team_changes(m: TeamSettingsChanges | None) -> TeamChanges | None:
    """What a request sets in a team link's settings, as the core's TeamChanges (None: nothing)."""
    if m is None:
        return None
    members = tuple(
        MemberChanges(
            user_id=c.user_id,
            priority=int(Priority[c.priority.upper()]) if c.priority is not None else None,
            weight=c.weight,
            daily_cap=c.daily_cap,
            weekly_cap=c.weekly_cap,
            remove=c.remove,
            clear=frozenset(
                name for name in ("daily_cap", "weekly_cap") if name in c.model_fields_set and getattr(c, name) is None
            ),
        )
        for c in m.members or ()
    )
    return TeamChanges(mode=m.assignment_mode, period=m.fairness_period, announce=m.announce, members=members)


def _json(model: WireModel, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(model.wire(), status=status, headers=dict(headers or {}))


def _now(ctx: ApiContext) -> Any:
    return ctx.api.clock.now()


# ------------------------------------------------------------------ event types


async def list_event_types(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    items = await ctx.api.event_types(p)
    return _json(EventTypeList(data=[EventType.model_validate(i) for i in items]))


async def create_event_type(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    model, problems = _partial(EventTypeChanges, await _body(request), {"now": _now(ctx)})
    changes, unreadable = link_changes(model)
    resource = await ctx.api.create_event_type(
        p,
        changes,
        {**unreadable, **{snake_key(k): v for k, v in problems.items()}},
        team_id=model.team_id if isinstance(model, EventTypeChanges) else None,
    )
    ctx.wake()
    return _json(EventType.model_validate(resource), 201, {"Location": f"{PREFIX}/event-types/{resource['id']}"})


async def get_event_type(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    return _json(EventType.model_validate(await ctx.api.event_type(p, request.match_info["eventTypeId"])))


async def update_event_type(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    model, problems = _partial(EventTypeUpdate, await _body(request), {"now": _now(ctx)})
    changes, unreadable = link_changes(model)
    resource = await ctx.api.update_event_type(
        p,
        request.match_info["eventTypeId"],
        changes,
        {**unreadable, **{snake_key(k): v for k, v in problems.items()}},
        expected_version=model.version if isinstance(model, EventTypeUpdate) else None,
        team=team_changes(model.team_settings) if isinstance(model, EventTypeUpdate) else None,
    )
    return _json(EventType.model_validate(resource))


async def delete_event_type(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    await ctx.api.delete_event_type(p, request.match_info["eventTypeId"])
    return web.Response(status=204)


async def event_type_slots(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    query = parse_query(SlotsQuery, request.query)
    now = _now(ctx)
    today = now.astimezone(zone(query.time_zone)).date()
    check_date(query.start, today, "start")
    check_date(query.end, today, "end")
    window = bounded_window(local_days_window(query.start, query.end, query.time_zone), now)
    duration, slots = await ctx.api.slots(p, request.match_info["eventTypeId"], window, query.duration)
    answer = SlotsResponse(
        time_zone=query.time_zone, duration=duration, slots=[SlotOut(start=s.start, end=s.end) for s in slots]
    )
    return _json(answer)


# ------------------------------------------------------------------ bookings


def _idempotency_key(request: web.Request) -> str:
    key = request.headers.get("Idempotency-Key")
    if key is None or not key.strip():
        raise WireRefusal(
            400,
            "Idempotency-Key required",
            "Send an Idempotency-Key header (a new random value for each new booking; the same one when retrying).",
            "idempotency_key_required",
            parameter="Idempotency-Key",
        )
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise WireRefusal(
            400,
            "Invalid Idempotency-Key",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters.",
            "invalid_request",
            parameter="Idempotency-Key",
        )
    return key


async def create_booking(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    key = _idempotency_key(request)
    body = await _body(request)
    link_id = body.get("eventTypeId")
    if not isinstance(link_id, str) or not 1 <= len(link_id) <= 200:
        problems = {"eventTypeId": "Give the id of one of your event types."}
        try:
            ApiBookingRequest.model_validate(body, context={"now": _now(ctx)})
        except ValidationError as exc:
            problems = {**field_errors(exc), **problems}
        raise ValidationFailed(problems)
    link = await ctx.api.booking_link(p, link_id)
    wanted, length = booking_request(body, link, _now(ctx), ApiBookingRequest)
    outcome, resource = await ctx.api.book(
        p, link.id, wanted.start, wanted.invitee(), duration=length, idempotency_key=key
    )
    ctx.wake()
    status = 201 if outcome.confirmed and not outcome.replayed else 200 if outcome.confirmed else 202
    return _json(Booking.model_validate(resource), status, {"Location": f"{PREFIX}/bookings/{resource['id']}"})


async def list_bookings(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    query = parse_query(BookingsQuery, request.query, {"now": _now(ctx)})
    wanted = BookingFilter(
        event_type_id=query.event_type_id,
        statuses=(query.status,) if query.status is not None else (),
        start_from=query.start_from,
        start_before=query.start_to,
    )
    page = await ctx.api.bookings(p, wanted, query.cursor, query.limit)
    return _json(BookingList(data=[Booking.model_validate(i) for i in page.items], next_cursor=page.next_cursor))


async def get_booking(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    return _json(Booking.model_validate(await ctx.api.booking(p, request.match_info["bookingId"])))


async def reschedule_booking(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    wanted = _model(RescheduleRequest, await _body(request), {"now": _now(ctx)})
    resource = await ctx.api.reschedule(p, request.match_info["bookingId"], wanted.start)
    ctx.wake()
    return _json(Booking.model_validate(resource))


async def cancel_booking(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    wanted = _model(CancelRequest, await _body(request))
    resource = await ctx.api.cancel(p, request.match_info["bookingId"], wanted.reason)
    ctx.wake()
    return _json(Booking.model_validate(resource))


# ------------------------------------------------------------------ webhooks


def webhook_view(s: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": s.id,
        "url": s.url,
        "events": list(s.events),
        "description": s.description,
        "enabled": s.enabled,
        "disabledReason": s.disabled_reason,
        "disabledAt": s.disabled_at,
        "lastSuccessAt": s.last_success_at,
        "previousSecretExpiresAt": s.previous_secret_expires_at,
        "createdAt": s.created_at,
        "updatedAt": s.updated_at,
    }


def delivery_view(d: DeliveryRecord) -> WebhookDelivery:
    return WebhookDelivery.model_validate(
        {
            "id": f"msg_{d.id}",
            "event": d.event,
            "status": d.status.value,
            "attempts": d.attempts,
            "responseCode": d.response_code,
            "error": d.error,
            "createdAt": d.created_at,
            "lastAttemptAt": d.last_attempt_at,
            "deliveredAt": d.delivered_at,
        }
    )


async def create_webhook(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    wanted = _model(WebhookCreate, await _body(request))
    made = await ctx.api.webhooks.create(p.user, wanted.url, list(wanted.events), wanted.description)
    answer = WebhookWithSecret.model_validate(webhook_view(made.subscription) | {"secret": made.secret})
    return _json(answer, 201, {"Location": f"{PREFIX}/webhooks/{made.subscription.id}"})


async def list_webhooks(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    found = await ctx.api.webhooks.subscriptions(p.user)
    return _json(WebhookList(data=[Webhook.model_validate(webhook_view(s)) for s in found]))


async def get_webhook(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    found = await ctx.api.webhooks.get(p.user, request.match_info["webhookId"])
    return _json(Webhook.model_validate(webhook_view(found)))


async def update_webhook(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    wanted = _model(WebhookUpdate, await _body(request))
    changes = SubscriptionChanges(
        url=wanted.url,
        events=tuple(wanted.events) if wanted.events is not None else None,
        description=wanted.description,
        enabled=wanted.enabled,
    )
    saved = await ctx.api.webhooks.update(p.user, request.match_info["webhookId"], changes)
    return _json(Webhook.model_validate(webhook_view(saved)))


async def delete_webhook(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    await ctx.api.webhooks.delete(p.user, request.match_info["webhookId"])
    return web.Response(status=204)


async def rotate_webhook_secret(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    rotation = await ctx.api.webhooks.rotate(p.user, request.match_info["webhookId"])
    return _json(SecretRotation(secret=rotation.secret, previous_secret_expires_at=rotation.previous_expires_at))


async def ping_webhook(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    record = await ctx.api.webhooks.ping(p.user, request.match_info["webhookId"])
    return _json(delivery_view(record), 202)


async def webhook_deliveries(request: web.Request, p: ApiPrincipal, ctx: ApiContext) -> web.Response:
    found = await ctx.api.webhooks.deliveries(p.user, request.match_info["webhookId"])
    return _json(WebhookDeliveryList(data=[delivery_view(d) for d in found]))


# ------------------------------------------------------------------ the table

_ET = f"{PREFIX}/event-types"
_B = f"{PREFIX}/bookings"
_W = f"{PREFIX}/webhooks"
IDEMPOTENCY = Header(
    "Idempotency-Key",
    "A new random value for each new booking; the same one when retrying it (the same body gets the same booking, "
    "another body with it is 422).",
)

ROUTES: tuple[Route, ...] = (
    Route("GET", _ET, "listEventTypes", "List your event types", "Event types", list_event_types,
          {200: ("Your personal links, then the team links you made.", EventTypeList)}, errors=(401, 429)),
    Route("POST", _ET, "createEventType", "Create an event type", "Event types", create_event_type,
          {201: ("Created (announced to link.created webhooks).", EventType)}, body=EventTypeChanges,
          errors=(400, 401, 404, 409, 415, 422, 429),
          description="A personal link, or with teamId a team link (round-robin or collective) of a team whose "
                      "rotation you are in, with you as its first member."),
    Route("GET", _ET + "/{eventTypeId}", "getEventType", "Get an event type", "Event types", get_event_type,
          {200: ("The event type.", EventType)}, errors=(401, 404, 429)),
    Route("PATCH", _ET + "/{eventTypeId}", "updateEventType", "Change an event type", "Event types",
          update_event_type, {200: ("Saved.", EventType)}, body=EventTypeUpdate,
          errors=(400, 401, 404, 409, 415, 422, 429)),
    Route("DELETE", _ET + "/{eventTypeId}", "deleteEventType", "Delete an event type", "Event types",
          delete_event_type, {204: ("Deleted (its bookings stay).", None)}, errors=(401, 404, 429)),
    Route("GET", _ET + "/{eventTypeId}/slots", "listSlots", "Bookable slots of an event type", "Event types",
          event_type_slots, {200: ("Slots whose start falls on those days, as sorted UTC instants.", SlotsResponse)},
          query=SlotsQuery, errors=(400, 401, 404, 410, 422, 429, 503)),
    Route("POST", _B, "createBooking", "Book a slot", "Bookings", create_booking,
          {201: ("Booked and confirmed.", Booking), 200: ("A replay of the same request: the same booking.", Booking),
           202: ("Accepted: still being written to the host's calendar.", Booking)},
          body=ApiBookingRequest, headers=(IDEMPOTENCY,), errors=(400, 401, 404, 409, 410, 415, 422, 429, 503)),
    Route("GET", _B, "listBookings", "List your bookings", "Bookings", list_bookings,
          {200: ("A page of bookings, by start time.", BookingList)}, query=BookingsQuery,
          errors=(400, 401, 404, 429)),
    Route("GET", _B + "/{bookingId}", "getBooking", "Get a booking", "Bookings", get_booking,
          {200: ("The booking.", Booking)}, errors=(401, 404, 429)),
    Route("POST", _B + "/{bookingId}/reschedule", "rescheduleBooking", "Move a booking", "Bookings",
          reschedule_booking, {200: ("Moved.", Booking)}, body=RescheduleRequest,
          errors=(400, 401, 404, 409, 415, 422, 429, 503)),
    Route("POST", _B + "/{bookingId}/cancel", "cancelBooking", "Cancel a booking", "Bookings", cancel_booking,
          {200: ("Cancelled.", Booking)}, body=CancelRequest, errors=(400, 401, 404, 409, 415, 422, 429)),
    Route("POST", _W, "createWebhook", "Subscribe to webhooks", "Webhooks", create_webhook,
          {201: ("Subscribed; the secret is shown this once.", WebhookWithSecret)}, body=WebhookCreate,
          errors=(400, 401, 409, 415, 422, 429)),
    Route("GET", _W, "listWebhooks", "List your webhook subscriptions", "Webhooks", list_webhooks,
          {200: ("Your subscriptions.", WebhookList)}, errors=(401, 429)),
    Route("GET", _W + "/{webhookId}", "getWebhook", "Get a webhook subscription", "Webhooks", get_webhook,
          {200: ("The subscription.", Webhook)}, errors=(401, 404, 429)),
    Route("PATCH", _W + "/{webhookId}", "updateWebhook", "Change a webhook subscription", "Webhooks",
          update_webhook, {200: ("Saved.", Webhook)}, body=WebhookUpdate,
          errors=(400, 401, 404, 409, 415, 422, 429)),
    Route("DELETE", _W + "/{webhookId}", "deleteWebhook", "Delete a webhook subscription", "Webhooks",
          delete_webhook, {204: ("Deleted.", None)}, errors=(401, 404, 429)),
    Route("POST", _W + "/{webhookId}/rotate-secret", "rotateWebhookSecret", "Rotate the signing secret",
          "Webhooks", rotate_webhook_secret,
          {200: ("The new secret (shown once); the old one signs too for 24 hours.", SecretRotation)},
          errors=(401, 404, 409, 429)),
    Route("POST", _W + "/{webhookId}/ping", "pingWebhook", "Send a test ping", "Webhooks", ping_webhook,
          {202: ("Queued: delivered like any event.", WebhookDelivery)}, errors=(401, 404, 409, 429)),
    Route("GET", _W + "/{webhookId}/deliveries", "listWebhookDeliveries", "The last 50 deliveries", "Webhooks",
          webhook_deliveries, {200: ("Newest first, with status, attempts and response code.", WebhookDeliveryList)},
          errors=(401, 404, 429)),
)  # fmt: skip


# ------------------------------------------------------------------ authentication, limits and errors

BEARER = re.compile(r"^\s*Bearer\s+(\S+)\s*$", re.IGNORECASE)


def _limit_headers(decision: RateDecision) -> dict[str, str]:
    return {"RateLimit-Limit": str(decision.limit), "RateLimit-Remaining": str(decision.remaining)}


def route_handler(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """``route``'s handler behind the key check and the rate limit, every refusal as problem details."""

    async def run(request: web.Request) -> web.StreamResponse:
        ctx: ApiContext = request.app[API]
        found = BEARER.match(request.headers.get("Authorization", ""))
        if found is None:
            return problem(
                401,
                "Unauthorized",
                "Send your API key as 'Authorization: Bearer <key>' (type 'api key' in your chat with Slotwise to "
                "make one).",
                InvalidApiKey.code,
                headers={"WWW-Authenticate": 'Bearer realm="slotwise"'},
                parameter="Authorization",
            )
        try:
            principal, decision = await ctx.api.principal(found.group(1))
        except InvalidApiKey as exc:
            return problem_response(exc, headers={"WWW-Authenticate": 'Bearer realm="slotwise", error="invalid_token"'})
        except RateLimited as exc:
            return problem_response(exc, headers={"Retry-After": str(exc.retry_after_seconds)})
        except SlotwiseError as exc:
            return problem_response(exc)
        try:
            response = await route.handler(request, principal, ctx)
        except WireRefusal as exc:
            response = wire_problem(exc)
        except ValidationFailed as exc:
            response = problem_response(_api_fields(exc))
        except SlotwiseError as exc:
            response = problem_response(exc)
        response.headers.update(_limit_headers(decision))
        return response

    run.__name__ = route.operation_id
    return run
