"""The emulator's admin API (``/_admin``), for a Graph emulator running as its own process.

Served only when the process is given an admin token (``python -m graph.sandbox --admin-token T``); every
call needs ``Authorization: Bearer T`` (else 401). It is what the sandbox connector does in-process, over
HTTP, plus what a test harness needs to look inside "Outlook" and to turn faults on and off:

* ``POST /_admin/mailboxes`` ``{"tenantId", "oid", "upn", "displayName", "timeZone"?}`` -> 200
  ``{"id", "upn", "tenantId", "displayName", "timeZone"}``: the mailbox of that Entra person, created (with a
  few weeks of meetings) on first use by :func:`mailbox_for_person`; 409 when the address already belongs to
  another person, 400 for a malformed body or an unknown time zone.
* ``GET /_admin/mailboxes`` (every mailbox) and ``GET /_admin/mailboxes/{id or upn}`` (one, or 404).
* ``POST /_admin/tokens`` ``{"user": id or upn, "expiresIn"?: seconds}`` -> ``{"accessToken", "expiresIn",
  "userId"}``: a bearer token the Graph API accepts for that user.
* ``GET /_admin/events`` (``?mailbox=`` id or UPN to narrow it) -> ``{"events": [...]}``: every stored event
  (single instances and series masters) of every mailbox, see :func:`event_record`.
* ``GET|PUT /_admin/faults`` ``{"rate", "latencyMs", "ghostWriteRate", "seed"?}`` (PUT: any of them) -> the
  settings in force: random fault rate, latency per Graph request, ghost-write rate (``faults.py``).
* ``GET /_admin/stats`` -> Graph HTTP answers by status, faults injected by kind, notifications sent by kind
  and answer, and the world's size.

Errors are ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import hmac
import json
import math
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from graph.sandbox.faults import RANDOM_KINDS
from graph.sandbox.model import EmUser, StoredEvent
from graph.sandbox.state import EmulatorState

STATE_KEY = web.AppKey("admin_sandbox_state", EmulatorState)
TOKEN_KEY = web.AppKey("admin_sandbox_token", str)
BOOKING_TAG = "name slotwisebookingid"  # the end of Slotwise's booking-tag property id (any property set)


class MailboxTaken(ValueError):
    """The address already has a mailbox that belongs to another Teams person."""


def mailbox_for_person(
    state: EmulatorState,
    *,
    tenant_id: str,
    object_id: str,
    upn: str,
    display_name: str,
    time_zone: str,
    now: datetime,
) -> EmUser:
    """The emulator mailbox of a Teams person, keyed by (tenant, Entra object id) as in Entra ID: created on
    first use in the person's own tenant, with their object id unless another tenant's person already has it
    (two tenants' people with one object id never share a mailbox). Raises :class:`MailboxTaken` when ``upn``
    is another person's mailbox, ValueError for an unknown time zone."""
    found = state.directory_user(tenant_id, object_id)
    if found is not None:
        return found
    taken = state.get_user(object_id) is not None
    mailbox = state.ensure_user(
        upn,
        display_name or upn,
        time_zone or "UTC",
        tenant_id=tenant_id or state.default_tenant_id,
        now=now,
        user_id=None if taken else object_id,
    )
    person = (tenant_id, object_id)
    if (mailbox.tenant_id, mailbox.id) != person and state.directory_owner(mailbox) not in (None, person):
        raise MailboxTaken(f"The sandbox mailbox {upn} already belongs to another Teams user.")
    state.link_directory(tenant_id, object_id, mailbox)
    return mailbox


def mailbox_json(user: EmUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "upn": user.upn,
        "tenantId": user.tenant_id,
        "displayName": user.display_name,
        "timeZone": user.time_zone,
    }


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def booking_tag(ev: StoredEvent) -> str | None:
    """The value of the event's Slotwise booking tag (a single-value extended property named
    ``SlotwiseBookingId``, in whatever property set), if it has one."""
    for prop_id, value in ev.ext_props.values():
        if " ".join(prop_id.lower().split()).endswith(BOOKING_TAG) and value:
            return value
    return None


def event_record(state: EmulatorState, ev: StoredEvent) -> dict[str, Any]:
    """One stored event for ``GET /_admin/events``: where it is, when (UTC), and what marks it as Slotwise's
    (``transactionId``, the booking tag in ``singleValueExtendedProperties``, also as ``slotwiseBookingId``)."""
    owner = state.users.get(ev.owner_id)
    return {
        "mailbox": owner.upn if owner is not None else None,
        "mailboxId": ev.owner_id,
        "calendarId": ev.calendar_id,
        "id": ev.id,
        "iCalUId": ev.ical_uid,
        "type": ev.type,
        "subject": ev.subject,
        "start": _utc(ev.start),
        "end": _utc(ev.end),
        "isAllDay": ev.is_all_day,
        "isCancelled": ev.is_cancelled,
        "showAs": ev.show_as,
        "isOrganizer": ev.is_organizer,
        "transactionId": ev.transaction_id,
        "categories": list(ev.categories),
        "attendees": [dict(a) for a in ev.attendees],
        "singleValueExtendedProperties": [{"id": prop_id, "value": value} for prop_id, value in ev.ext_props.values()],
        "extensions": [dict(x) for x in ev.extensions],
        "slotwiseBookingId": booking_tag(ev),
        "createdDateTime": _utc(ev.created),
        "lastModifiedDateTime": _utc(ev.modified),
    }


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


class _BadRequest(Exception):
    """An admin request the emulator can't act on: answered 400 with this message."""


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text())
    except ValueError as exc:
        raise _BadRequest("The body must be a JSON object.") from exc
    if not isinstance(body, dict):
        raise _BadRequest("The body must be a JSON object.")
    return body


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = body.get(name, "" if not required else None)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _BadRequest(f"'{name}' must be a non-empty string." if required else f"'{name}' must be a string.")
    return value.strip()


def _fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise _BadRequest(f"'{name}' must be a number from 0 to 1.")
    return float(value)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    scheme, _, presented = request.headers.get("Authorization", "").strip().partition(" ")
    token = request.app[TOKEN_KEY]
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
        return _error(
            401,
            "Unauthorized",
            "The admin API needs 'Authorization: Bearer <admin token>'.",
            {"WWW-Authenticate": "Bearer"},
        )
    try:
        return await handler(request)
    except _BadRequest as exc:
        return _error(400, "BadRequest", str(exc))


async def create_mailbox(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _body(request)
    upn = _text(body, "upn")
    try:
        mailbox = mailbox_for_person(
            state,
            tenant_id=_text(body, "tenantId", required=False),
            object_id=_text(body, "oid"),
            upn=upn,
            display_name=_text(body, "displayName", required=False) or upn,
            time_zone=_text(body, "timeZone", required=False) or "UTC",
            now=state.now(),
        )
    except MailboxTaken as exc:
        return _error(409, "MailboxTaken", str(exc))
    except ValueError as exc:
        raise _BadRequest(str(exc)) from exc
    return web.json_response(mailbox_json(mailbox))


async def list_mailboxes(request: web.Request) -> web.Response:
    users = request.app[STATE_KEY].users.values()
    return web.json_response({"mailboxes": [mailbox_json(u) for u in users]})


async def get_mailbox(request: web.Request) -> web.Response:
    found = request.app[STATE_KEY].get_user(request.match_info["ref"])
    if found is None:
        return _error(404, "NotFound", f"No mailbox {request.match_info['ref']!r}.")
    return web.json_response(mailbox_json(found))


async def issue_token(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _body(request)
    user = state.get_user(_text(body, "user"))
    if user is None:
        return _error(404, "NotFound", f"No mailbox {body['user']!r}.")
    expires_in = body.get("expiresIn", 3600)
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 60 <= expires_in <= 7 * 86400:
        raise _BadRequest("'expiresIn' must be a whole number of seconds from 60 to 604800.")
    token = state.issue_token(user.id, expires_in=expires_in)
    return web.json_response({"accessToken": token, "expiresIn": expires_in, "userId": user.id})


async def list_events(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    events = state.all_stored_events()
    ref = request.query.get("mailbox")
    if ref is not None:
        owner = state.get_user(ref)
        if owner is None:
            return _error(404, "NotFound", f"No mailbox {ref!r}.")
        events = [e for e in events if e.owner_id == owner.id]
    return web.json_response({"events": [event_record(state, e) for e in events]})


def _fault_settings(state: EmulatorState) -> dict[str, Any]:
    faults = state.faults
    return {"rate": faults.rate, "latencyMs": faults.base_latency_ms, "ghostWriteRate": faults.ghost_write_rate}


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(_fault_settings(request.app[STATE_KEY]))


async def put_faults(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _body(request)
    unknown = set(body) - {"rate", "latencyMs", "ghostWriteRate", "seed"}
    if unknown:
        raise _BadRequest(f"Unknown settings {sorted(unknown)}: use rate, latencyMs, ghostWriteRate, seed.")
    rate = _fraction(body["rate"], "rate") if "rate" in body else state.faults.rate
    ghost = _fraction(body["ghostWriteRate"], "ghostWriteRate") if "ghostWriteRate" in body else None
    latency = body.get("latencyMs", state.faults.base_latency_ms)
    if isinstance(latency, bool) or not isinstance(latency, int | float) or not 0 <= latency <= 60_000:
        raise _BadRequest("'latencyMs' must be a number of milliseconds from 0 to 60000.")
    if not math.isfinite(float(latency)):
        raise _BadRequest("'latencyMs' must be finite.")
    seed = body.get("seed")
    if "seed" in body and (isinstance(seed, bool) or not isinstance(seed, int | str | None)):
        raise _BadRequest("'seed' must be an integer, a string or null.")
    state.faults.rate = rate
    state.faults.latency_ms = latency
    if ghost is not None:
        state.faults.ghost_write_rate = ghost
    if "seed" in body:
        state.faults.reseed(seed)
    return web.json_response(_fault_settings(state))


def _notifications(state: EmulatorState) -> dict[str, dict[str, int]]:
    """The emulator's outbound POSTs (validation handshakes, change and lifecycle notifications, drops) by
    kind, then by the status the receiver answered ("error": no answer); over the kept log."""
    out: dict[str, Counter[str]] = {}
    for record in state.notification_log:
        out.setdefault(record.kind, Counter())[str(record.status) if record.status is not None else "error"] += 1
    return {kind: dict(sorted(counts.items())) for kind, counts in sorted(out.items())}


async def stats(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    faults = state.faults
    injected = {kind: faults.injected.get(kind, 0) for kind in (*RANDOM_KINDS, "ghostWrite", "rule")}
    return web.json_response(
        {
            "requests": {str(status): count for status, count in sorted(faults.statuses.items())},
            "requestsTotal": sum(faults.statuses.values()),
            "faultsInjected": injected,
            "faultsInjectedTotal": sum(injected.values()),
            "faults": _fault_settings(state),
            "notifications": _notifications(state),
            "mailboxes": len(state.users),
            "events": len(state.all_stored_events()),
            "subscriptions": len(state.subscriptions),
        }
    )


def create_admin_app(state: EmulatorState, token: str) -> web.Application:
    """The admin API over ``state``, every call guarded by ``token`` (mount it at ``/_admin``)."""
    if len(token) < 8:
        raise ValueError("the admin token must be at least 8 characters")
    app = web.Application(middlewares=[_guard])
    app[STATE_KEY] = state
    app[TOKEN_KEY] = token
    app.router.add_post("/mailboxes", create_mailbox)
    app.router.add_get("/mailboxes", list_mailboxes)
    app.router.add_get("/mailboxes/{ref}", get_mailbox)
    app.router.add_post("/tokens", issue_token)
    app.router.add_get("/events", list_events)
    app.router.add_get("/faults", get_faults)
    app.router.add_put("/faults", put_faults)
    app.router.add_get("/stats", stats)
    return app
