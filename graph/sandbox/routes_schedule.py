"""``POST /calendar/getSchedule``: free/busy of up to 20 people for a window under 62 days.

Per schedule: ``availabilityView`` (one digit per interval: 0 free, 1 tentative, 2 busy, 3 oof,
4 workingElsewhere; each digit the strongest status overlapping the slot), ``scheduleItems`` (every
non-free instance overlapping the window, recurring series expanded, all-day events as midnight to
midnight in the owner's mailbox zone), ``workingHours``. Subject, location and isPrivate are shown for
the caller's own mailbox and for a colleague who shares their calendar with the caller (not for private
events); otherwise only status, start and end. Free/busy comes from each mailbox's default calendar.

Unknown people are not an HTTP error: their entry carries ``error`` (5009 unresolvable address,
5016 no such user/mailbox) inside the 200.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any

from graph.sandbox.errors import GraphError, invalid_parameter
from graph.sandbox.model import EmUser, StoredEvent
from graph.sandbox.pipeline import Ctx, GraphResponse, Route, ok
from graph.sandbox.resources import render_working_hours
from graph.sandbox.timefmt import localize, parse_dttz, to_dttz

MAX_SCHEDULES = 20
MAX_WINDOW_DAYS = 62
DIGITS = {"free": "0", "tentative": "1", "busy": "2", "oof": "3", "workingElsewhere": "4", "unknown": "2"}
STRENGTH = {"free": 0, "workingElsewhere": 1, "tentative": 2, "unknown": 3, "busy": 3, "oof": 4}


def _field(body: Mapping[str, Any], name: str) -> Any:
    return next((v for k, v in body.items() if k.lower() == name.lower()), None)


def _span(ev: StoredEvent, owner: EmUser) -> tuple[datetime, datetime]:
    """The instant interval an instance blocks (all-day: midnight to midnight in the mailbox zone)."""
    if ev.is_all_day and ev.all_day_start and ev.all_day_end:
        tz = owner.mailbox_zone()
        return (
            localize(datetime.combine(ev.all_day_start, time()), tz),
            localize(datetime.combine(ev.all_day_end, time()), tz),
        )
    return ev.start, ev.end


def availability_view(
    spans: list[tuple[datetime, datetime, str]], start: datetime, end: datetime, interval: int
) -> str:
    """One digit per ``interval`` minutes from ``start`` to ``end``: the strongest status of the ``spans``
    (start, end, showAs) overlapping that slot. Each span marks only the slots it covers, so a long window
    costs its slots plus its spans' lengths, not slots times spans."""
    step = timedelta(minutes=interval)
    slots = math.ceil((end - start) / step)
    strongest = ["free"] * slots
    for s, e, status in spans:
        first = max(0, math.floor((s - start) / step))
        last = min(slots, math.ceil((e - start) / step))
        for i in range(first, last):
            if STRENGTH[status] > STRENGTH[strongest[i]]:
                strongest[i] = status
    return "".join(DIGITS[status] for status in strongest)


def _error_entry(schedule_id: str, code: str, message: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"scheduleId": schedule_id}
    if code == "5016":
        entry["scheduleItems"] = None
    entry["error"] = {"message": message, "responseCode": code}
    return entry


def _schedule(
    ctx: Ctx, schedule_id: Any, start: datetime, end: datetime, interval: int, zone_name: str
) -> dict[str, Any]:
    state, caller = ctx.state, ctx.caller
    sid = str(schedule_id)
    user = state.get_user(sid) if isinstance(schedule_id, str) and "@" in sid else None
    if user is None or user.tenant_id != caller.tenant_id:
        domain = sid.rpartition("@")[2].lower()
        tenant_domains = {
            u.upn.rpartition("@")[2].lower() for u in state.users.values() if u.tenant_id == caller.tenant_id
        }
        if user is None and "@" in sid and domain in tenant_domains:
            return _error_entry(sid, "5016", f"The mailbox for '{sid}' was not found.")
        return _error_entry(sid, "5009", f"Unable to resolve e-mail address {sid} to an Active Directory object.")
    if not user.mailbox_enabled:
        return _error_entry(sid, "5016", f"The mailbox for '{sid}' was not found.")
    cal = state.default_calendar(user)
    details = user.id == caller.id or caller.id in cal.shares
    spans = []
    for ev in state.view(cal, start - timedelta(days=1), end + timedelta(days=1)):
        if ev.is_cancelled or ev.show_as == "free":
            continue
        s, e = _span(ev, user)
        if not (s < end and e > start) and not (s == e and start <= s < end):
            continue
        spans.append((s, e, ev))
    spans.sort(key=lambda t: (t[0], t[1]))
    items = []
    for s, e, ev in spans:
        item: dict[str, Any] = {}
        if details:
            private = ev.sensitivity in ("private", "confidential")
            item["isPrivate"] = private
            if user.id == caller.id or not private:
                item["subject"] = ev.subject
                item["location"] = ev.location.get("displayName", "")
        item.update(status=ev.show_as, start=to_dttz(s, zone_name), end=to_dttz(e, zone_name))
        items.append(item)
    return {
        "scheduleId": sid,
        "availabilityView": availability_view([(s, e, ev.show_as) for s, e, ev in spans], start, end, interval),
        "scheduleItems": items,
        "workingHours": render_working_hours(user),
    }


async def get_schedule(ctx: Ctx) -> GraphResponse:
    body = ctx.json_body()
    if not isinstance(body, Mapping):
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    schedules = _field(body, "schedules")
    if not isinstance(schedules, list) or not schedules:
        raise invalid_parameter("The 'schedules' parameter must list at least one SMTP address.")
    if len(schedules) > MAX_SCHEDULES:
        raise invalid_parameter(
            f"Too many schedules requested: {len(schedules)}. The maximum is {MAX_SCHEDULES} per request."
        )
    start, _, _ = parse_dttz(_field(body, "startTime"), field="startTime")
    end, _, _ = parse_dttz(_field(body, "endTime"), field="endTime")
    interval = _field(body, "availabilityViewInterval")
    interval = 30 if interval is None else interval
    if not isinstance(interval, int) or isinstance(interval, bool) or not 5 <= interval <= 1440:
        raise invalid_parameter("availabilityViewInterval must be between 5 and 1440 minutes.")
    if end <= start:
        raise invalid_parameter("The endTime must be later than the startTime.")
    if end - start >= timedelta(days=MAX_WINDOW_DAYS):
        actual = math.ceil((end - start) / timedelta(days=1))
        raise GraphError(
            400,
            "ErrorTimeIntervalTooBig",
            "The requested time duration specified for FreeBusyViewOptions.TimeWindow is too long. "
            f"The allowed limit = {MAX_WINDOW_DAYS} days; the actual limit = {actual} days.",
        )
    zone_name = ctx.response_zone() or "UTC"
    value = [_schedule(ctx, sid, start, end, interval, zone_name) for sid in schedules]
    return ok(
        {"@odata.context": ctx.context_url("Collection(microsoft.graph.scheduleInformation)"), "value": value},
        headers=ctx.applied(),
    )


ROUTES = [
    Route("POST", ("calendar", "getSchedule|microsoft.graph.getSchedule"), get_schedule),
    Route("POST", ("calendars", "{cid}", "getSchedule|microsoft.graph.getSchedule"), get_schedule),
]
