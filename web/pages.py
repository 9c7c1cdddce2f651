"""HTML pages for invitees: pick a slot, fill the form, see the confirmation, manage the booking.

Everything works without JavaScript: the visitor's zone travels in the ``tz`` query parameter (a small
script fills it in from the browser when it is missing), weeks in ``week``. Forms carry CSRF tokens and
are validated on the server; errors are shown next to the fields with the input kept.

A ``week`` or ``start`` beyond the reach of :mod:`scheduling.reach` (a year back, five years ahead) is a
clear 400 page naming it; a post that can't be read as a form (another media type, a malformed multipart
body, a field given twice) is a 415/400 page (:mod:`web.wire`), never a 500.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from scheduling.domain import TEAM_SEGMENT, Booking, BookingStatus, Caller, EventType, User
from scheduling.errors import (
    HostUnavailable,
    IdempotencyKeyReused,
    InvalidQuery,
    LinkInactive,
    SlotUnavailable,
    SlotwiseError,
    ValidationFailed,
)
from scheduling.invitee import InviteeForm
from scheduling.ports import LocationKind
from scheduling.ratelimit import RateLimited
from scheduling.reach import bounded_window, check_date
from scheduling.timezones import is_valid_zone, zone
from web.booking_api import (
    book_json,
    local_days_window,
    resolve_team,
    slots_json,
    team_book_json,
    team_slots_json,
)
from web.context import STATIC, WEB, WebContext
from web.ics import booking_ics
from web.problems import problem, problem_response, status_and_title, wire_problem
from web.security import CSRF_FIELD, wants_json
from web.views import iso_z, time_label, week_view, when_label, zone_choices
from web.wire import WireRefusal, is_json_type, parse_instant, read_form

log = logging.getLogger(__name__)


@web.middleware
async def escaped_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A core error that a handler did not answer itself (say, the database going away on a read after its own
    ``try``) is still answered as what it is: the 503 "can't reach its database" problem or page, a 404, a 409,
    never the 500 kept for bugs. Logged as a warning: the handler should have answered it."""
    try:
        return await handler(request)
    except SlotwiseError as exc:
        log.warning("%s escaped the handler of %s %s", type(exc).__name__, request.method, request.path, exc_info=exc)
        ctx = request.app.get(WEB)
        if ctx is None or wants_json(request):
            headers = {"Retry-After": str(exc.retry_after_seconds)} if isinstance(exc, RateLimited) else None
            return problem_response(exc, headers)
        return message_page(ctx, request, exc)


def render(
    ctx: WebContext, request: web.Request, template: str, status: int = 200, csrf_scope: str = "", **values: Any
) -> web.Response:
    """A page; its forms' CSRF token is bound to ``csrf_scope`` (the resource they act on)."""
    cookies: dict[str, str] = {}
    values.setdefault("csrf_token", ctx.csrf.token_for(request, cookies, csrf_scope))
    values.setdefault("csrf_field", CSRF_FIELD)
    html = ctx.templates.get_template(template).render(**values)
    response = web.Response(text=html, status=status, content_type="text/html")
    ctx.csrf.set_cookies(response, cookies)
    return response


def message_page(ctx: WebContext, request: web.Request, exc: SlotwiseError, heading: str | None = None) -> web.Response:
    status, title = status_and_title(exc)
    if isinstance(exc, HostUnavailable):
        heading = heading or "Bookings are paused"
    elif isinstance(exc, LinkInactive):
        heading = heading or ("This link has been used" if exc.used else "This link is no longer active")
    return render(ctx, request, "message.html", status=status, heading=heading or title, message=exc.message)


def viewer_zone(request: web.Request, fallback: str) -> tuple[str, bool]:
    """(zone, detected): the ``tz`` parameter when valid, else the fallback (the host's zone)."""
    tz = request.query.get("tz", "")
    if tz and is_valid_zone(tz):
        return tz, True
    return fallback, False


def local_today(ctx: WebContext, tz_name: str) -> date:
    return ctx.clock.now().astimezone(zone(tz_name)).date()


def parse_week(value: str | None, today: date) -> date:
    """The first day of the week asked for (``week``), never before ``today``: today when absent or not a
    date; InvalidQuery naming ``week`` when it lies beyond the reach of scheduling.reach."""
    if not value:
        return today
    try:
        asked = date.fromisoformat(value)
    except ValueError:
        return today
    return max(check_date(asked, today, "week"), today)


def unreadable(ctx: WebContext, request: web.Request, exc: WireRefusal) -> web.Response:
    """A post that could not be read as a form (web.wire): a page, or problem details for a JSON client."""
    if wants_json(request):
        return wire_problem(exc)
    return render(ctx, request, "message.html", status=exc.status, heading=exc.title, message=exc.detail)


def location_text(link: EventType) -> str:
    kind = link.location.kind
    if kind is LocationKind.TEAMS:
        return "Microsoft Teams meeting"
    return link.location.text or {"in_person": "In person", "phone": "Phone call", "custom": ""}[kind.value]


# The week shown plus enough after it to point at the next free day: one getSchedule call (< 62 days).
LOOKAHEAD_DAYS = 30


async def _week(
    ctx: WebContext,
    link: EventType,
    tz_name: str,
    week_start: date,
    duration: int | None = None,
    owner: User | None = None,
) -> Any:
    now = ctx.clock.now()
    today = now.astimezone(zone(tz_name)).date()
    window = bounded_window(
        local_days_window(week_start, week_start + timedelta(days=LOOKAHEAD_DAYS - 1), tz_name), now
    )
    key = ("week", link.id, link.version, tz_name, week_start, duration)
    slots = await ctx.reads.run(key, lambda: ctx.service.slots(link, window, duration, owner))
    return week_view(slots, tz_name, week_start, today)


def _book_base(link_path: str, tz: str) -> str:
    return f"{link_path}?{urlencode({'tz': tz})}"


def too_many(
    ctx: WebContext, request: web.Request, limited: RateLimited, heading: str = "Too many attempts"
) -> web.Response:
    """The 429 page of a rate limit (``WebContext.over_limit``), with ``Retry-After``."""
    seconds = limited.retry_after_seconds
    response = render(
        ctx,
        request,
        "message.html",
        status=429,
        heading=heading,
        message=f"Please wait {seconds} seconds and try again.",
    )
    response.headers["Retry-After"] = str(seconds)
    return response


async def book_page(request: web.Request) -> web.Response:
    ctx: WebContext = request.app[WEB]
    handle, slug = request.match_info["handle"], request.match_info["slug"]
    form = "start" in request.query
    if not form and (limited := await ctx.over_limit(ctx.slot_limiter, request)) is not None:
        return too_many(ctx, request, limited, "Too many requests for times")  # counted first, before any read
    try:
        link, owner = await ctx.service.resolve_link(handle, slug)
    except SlotwiseError as exc:
        return message_page(ctx, request, exc)
    if form:
        return await _form_page(ctx, request, link, owner)
    return await _slots_page(ctx, request, link, owner, counted=True)


async def _slots_page(
    ctx: WebContext,
    request: web.Request,
    link: EventType,
    owner: User,
    notice: str = "",
    alternatives: tuple[datetime, ...] = (),
    status: int = 200,
    path: str | None = None,
    counted: bool = False,
) -> web.Response:
    """A week of slots; ``counted``: the caller counted this slot read already (else it is counted here)."""
    tz, detected = viewer_zone(request, owner.time_zone)
    try:
        week_start = parse_week(request.query.get("week"), local_today(ctx, tz))
    except InvalidQuery as exc:
        return message_page(ctx, request, exc, heading="That week can't be shown")
    if not counted and (limited := await ctx.over_limit(ctx.slot_limiter, request)) is not None:
        return too_many(ctx, request, limited, "Too many requests for times")
    try:
        week = await _week(ctx, link, tz, week_start, owner=owner)
    except SlotwiseError as exc:
        return message_page(ctx, request, exc)
    path = path or f"/book/{owner.handle}/{link.slug}"
    return render(
        ctx,
        request,
        "book.html",
        status=status,
        csrf_scope=path,
        link=link,
        owner=owner,
        tz=tz,
        detected=detected,
        zones=zone_choices(tz),
        week=week,
        path=path,
        location=location_text(link),
        notice=notice,
        alternatives=[(iso_z(a), when_label(a, tz)) for a in alternatives],
        host_tz=owner.time_zone,
        query=lambda **kw: path + "?" + urlencode({"tz": tz, **kw}),
    )


async def _form_page(
    ctx: WebContext,
    request: web.Request,
    link: EventType,
    owner: User,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    path: str | None = None,
) -> web.Response:
    tz, _ = viewer_zone(request, owner.time_zone)
    raw_start = (values or {}).get("start") or request.query.get("start", "")
    try:
        start = parse_instant(raw_start, ctx.clock.now())
    except ValidationFailed:
        return await _slots_page(
            ctx, request, link, owner, notice="Please pick one of the times below.", status=400, path=path
        )
    end = start + timedelta(minutes=link.rules.duration)
    values = dict(values or {"timeZone": tz})
    if not _usable_key(values.get("idempotency_key")):
        values["idempotency_key"] = secrets.token_urlsafe(24)  # a double submit books once
    path = path or f"/book/{owner.handle}/{link.slug}"
    return render(
        ctx,
        request,
        "form.html",
        status=status,
        csrf_scope=path,
        link=link,
        owner=owner,
        tz=tz,
        start_iso=iso_z(start),
        when=when_label(start, tz),
        until=time_label(end, tz),
        host_when=when_label(start, owner.time_zone),
        host_tz=owner.time_zone,
        values=values,
        errors=errors or {},
        location=location_text(link),
        back=_book_base(path, tz),
    )


def _usable_key(key: str | None) -> bool:
    return bool(key) and len(key or "") <= 200


FORBIDDEN_MESSAGE = "Your session expired or the form was sent from another site. Reload the page and try again."
FORBIDDEN_DETAIL = (
    "This address takes the page's form, which must carry the form's CSRF token ('csrf_token') and the cookie the "
    "page set with it; this request has no matching pair."
)
BOOK_AS_JSON = "To book from a program, send the booking as JSON (Content-Type: application/json)."


def forbidden(ctx: WebContext, request: web.Request, json_alternative: str = "") -> web.Response:
    """The 403 of a form post without a matching CSRF pair: the "Please try again" page for a browser; problem
    details naming ``csrf_token`` for a client that asked for JSON (``json_alternative``: what it can do instead)."""
    if wants_json(request):
        detail = f"{FORBIDDEN_DETAIL} {json_alternative}".strip()
        return problem(403, "CSRF check failed", detail, "csrf_failed", parameter=CSRF_FIELD)
    return render(ctx, request, "message.html", status=403, heading="Please try again", message=FORBIDDEN_MESSAGE)


async def book_submit(request: web.Request) -> web.StreamResponse:
    if is_json_type(request.headers.get("Content-Type", "")):
        return await book_json(request)
    ctx: WebContext = request.app[WEB]
    handle, slug = request.match_info["handle"], request.match_info["slug"]
    # the scope the form page used: the link's canonical path (handles are matched case-insensitively)
    return await _submit(
        ctx, request, f"/book/{handle.strip().lower()}/{slug}", lambda: ctx.service.resolve_link(handle, slug)
    )


async def _submit(
    ctx: WebContext,
    request: web.Request,
    scope: str,
    resolve: Callable[[], Awaitable[tuple[EventType, User]]],
    path: str | None = None,
) -> web.StreamResponse:
    """A booking form posted for the link ``resolve`` finds (``scope``: its page's CSRF scope; ``path``: its
    page, when not the personal one)."""
    try:
        values = await read_form(request)
    except WireRefusal as exc:
        return unreadable(ctx, request, exc)
    if not ctx.csrf.check(request, values.get(CSRF_FIELD), scope):
        return forbidden(ctx, request, BOOK_AS_JSON)
    # counted before anything is read or written (after the CSRF check: another site can't spend the budget)
    if (limited := await ctx.over_limit(ctx.booking_limiter, request)) is not None:
        return too_many(ctx, request, limited)
    try:
        link, owner = await resolve()
    except SlotwiseError as exc:
        return message_page(ctx, request, exc)
    answers = {q.id: values.get(f"answer_{q.id}", "") for q in link.questions}
    if not is_valid_zone(values.get("timeZone", "")):
        # A hidden field (filled from the page or the browser): never an error the visitor can't fix.
        values["timeZone"] = viewer_zone(request, owner.time_zone)[0]
    key = values.get("idempotency_key")
    try:
        start = parse_instant(values.get("start"), ctx.clock.now())
        entered = InviteeForm(
            values.get("name", ""), values.get("email", ""), values["timeZone"], values.get("notes", ""), answers
        )
        outcome = await ctx.service.book(
            link, start, entered, caller=Caller.public(), idempotency_key=key if _usable_key(key) else None
        )
    except IdempotencyKeyReused:
        return render(
            ctx,
            request,
            "message.html",
            status=422,
            heading="Please try again",
            message="This form was already used for another booking. Reload the page and try again.",
        )
    except ValidationFailed as exc:
        errors = {k.replace("answers.", "answer_"): v for k, v in exc.fields.items()}
        return await _form_page(ctx, request, link, owner, values, errors, status=422, path=path)
    except SlotUnavailable as exc:
        return await _slots_page(
            ctx, request, link, owner, notice=exc.message, alternatives=exc.alternatives, status=409, path=path
        )
    except SlotwiseError as exc:
        return message_page(ctx, request, exc)
    query = urlencode({"tz": values["timeZone"], "booked": "1"})
    raise web.HTTPSeeOther(f"/manage/{outcome.manage_token}?{query}")


# ---------------------------------------------------------------------------------------------- manage


async def _managed(ctx: WebContext, token: str) -> tuple[Booking, EventType, User]:
    booking = await ctx.service.by_manage_token(token)
    link, host = await ctx.service.booking_context(booking)
    return booking, link, host


async def manage_page(
    request: web.Request, notice: str = "", status: int = 200, alternatives: tuple[datetime, ...] = ()
) -> web.Response:
    ctx: WebContext = request.app[WEB]
    token = request.match_info["token"]
    reschedule = "reschedule" in request.query
    if reschedule and (limited := await ctx.over_limit(ctx.slot_limiter, request)) is not None:
        return too_many(ctx, request, limited, "Too many requests for times")  # a week of slots: counted first
    try:
        booking, link, host = await _managed(ctx, token)
    except SlotwiseError as exc:
        return message_page(ctx, request, exc)
    tz, _ = viewer_zone(request, booking.invitee.time_zone)
    week = None
    reschedule_error = ""
    if booking.status is BookingStatus.CONFIRMED and reschedule:
        try:
            week_start = parse_week(request.query.get("week"), local_today(ctx, tz))
        except InvalidQuery as exc:
            return message_page(ctx, request, exc, heading="That week can't be shown")
        try:
            week = await _week(ctx, link, tz, week_start)
        except SlotwiseError as exc:
            reschedule_error = exc.message
    path = f"/manage/{token}"
    return render(
        ctx,
        request,
        "manage.html",
        status=status,
        csrf_scope=path,
        booking=booking,
        link=link,
        host=host,
        tz=tz,
        when=when_label(booking.start, tz),
        until=time_label(booking.end, tz),
        host_when=when_label(booking.start, host.time_zone),
        host_tz=host.time_zone,
        booked="booked" in request.query,
        done=request.query.get("done", ""),
        week=week,
        reschedule_error=reschedule_error,
        path=path,
        notice=notice,
        alternatives=[(iso_z(a), when_label(a, tz)) for a in alternatives],
        location=location_text(link),
        zones=zone_choices(tz),
        manage_url=ctx.manage_url(token),
        query=lambda **kw: path + "?" + urlencode({"tz": tz, **kw}),
    )


async def manage_action(request: web.Request) -> web.StreamResponse:
    ctx: WebContext = request.app[WEB]
    token, action = request.match_info["token"], request.match_info["action"]
    try:
        values = await read_form(request)
    except WireRefusal as exc:
        return unreadable(ctx, request, exc)
    if not ctx.csrf.check(request, values.get(CSRF_FIELD), f"/manage/{token}"):
        return forbidden(ctx, request)
    if (limited := await ctx.over_limit(ctx.booking_limiter, request)) is not None:
        return too_many(ctx, request, limited)
    tz = values.get("tz") if is_valid_zone(values.get("tz", "")) else "UTC"
    try:
        booking, _link, _host = await _managed(ctx, token)
        if action == "cancel":
            reason = values.get("reason", "").strip() or "Cancelled by the invitee."
            await ctx.service.cancel(booking, reason, "invitee")
            notice = "cancelled"
        elif action == "reschedule":
            await ctx.service.reschedule(booking, parse_instant(values.get("start"), ctx.clock.now()), "invitee")
            notice = "rescheduled"
        else:
            raise web.HTTPNotFound()
    except SlotUnavailable as exc:
        return await manage_page(request, notice=exc.message, status=409, alternatives=exc.alternatives)
    except SlotwiseError as exc:
        return message_page(ctx, request, exc)
    raise web.HTTPSeeOther(f"/manage/{token}?{urlencode({'tz': tz, 'done': notice})}")


async def manage_ics(request: web.Request) -> web.Response:
    ctx: WebContext = request.app[WEB]
    try:
        booking, link, host = await _managed(ctx, request.match_info["token"])
    except SlotwiseError as exc:
        return message_page(ctx, request, exc)
    description = f"Booked with Slotwise.\nManage: {ctx.manage_url(request.match_info['token'])}"
    if booking.join_url:
        description = f"Join: {booking.join_url}\n" + description
    body = booking_ics(
        uid=booking.ical_uid or f"{booking.id}@slotwise",
        start=booking.start,
        end=booking.end,
        summary=f"{link.title} with {host.display_name}",
        description=description,
        location=booking.join_url or location_text(link),
        organizer_name=host.display_name,
        organizer_email=host.email,
        now=ctx.clock.now(),
        url=booking.join_url or "",
        cancelled=booking.status is BookingStatus.CANCELLED,
        sequence=booking.version - 1,
    )
    return web.Response(
        body=body.encode(),
        content_type="text/calendar",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="booking.ics"'},
    )


async def home_page(request: web.Request) -> web.Response:
    ctx: WebContext = request.app[WEB]
    return render(
        ctx,
        request,
        "message.html",
        heading="Slotwise",
        message="Scheduling links for Outlook, from Microsoft Teams. Ask your host for their booking link.",
    )


# ---------------------------------------------------------------------------------------------- team links


def team_path(team_slug: str, slug: str) -> str:
    return f"/book/{TEAM_SEGMENT}/{team_slug}/{slug}"


async def team_book_page(request: web.Request) -> web.Response:
    """The same page as a personal link's, naming the team (never the members' calendars)."""
    ctx: WebContext = request.app[WEB]
    team_slug, slug = request.match_info["team"], request.match_info["slug"]
    form = "start" in request.query
    if not form and (limited := await ctx.over_limit(ctx.slot_limiter, request)) is not None:
        return too_many(ctx, request, limited, "Too many requests for times")
    try:
        link, face = await resolve_team(ctx, team_slug, slug)
    except SlotwiseError as exc:
        return message_page(ctx, request, exc)
    path = team_path(face.handle, link.slug)
    if form:
        return await _form_page(ctx, request, link, face, path=path)
    return await _slots_page(ctx, request, link, face, path=path, counted=True)


async def team_book_submit(request: web.Request) -> web.StreamResponse:
    if is_json_type(request.headers.get("Content-Type", "")):
        return await team_book_json(request)
    ctx: WebContext = request.app[WEB]
    team_slug, slug = request.match_info["team"], request.match_info["slug"]
    path = team_path(team_slug, slug)
    return await _submit(ctx, request, path, lambda: resolve_team(ctx, team_slug, slug), path)


def setup_pages(app: web.Application) -> None:
    app.router.add_get("/", home_page)
    # team links first: a team page has as many segments as a personal slot query (no one's handle is "team":
    # scheduling.domain.RESERVED_HANDLES)
    app.router.add_get(f"/book/{TEAM_SEGMENT}/{{team}}/{{slug}}/slots", team_slots_json)
    app.router.add_get(f"/book/{TEAM_SEGMENT}/{{team}}/{{slug}}", team_book_page)
    app.router.add_post(f"/book/{TEAM_SEGMENT}/{{team}}/{{slug}}", team_book_submit)
    app.router.add_get("/book/{handle}/{slug}/slots", slots_json)
    app.router.add_get("/book/{handle}/{slug}", book_page)
    app.router.add_post("/book/{handle}/{slug}", book_submit)
    app.router.add_get("/manage/{token}/invite.ics", manage_ics)
    app.router.add_get("/manage/{token}", manage_page)
    app.router.add_post("/manage/{token}/{action}", manage_action)
    app.router.add_static("/static", STATIC, append_version=True)
