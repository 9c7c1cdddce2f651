"""Events: building them from Graph request bodies, patching, recurrence expansion and rendering.

Request bodies are checked the way Graph checks them: unknown properties are a 400 ``RequestBodyRead``,
enum values must be valid (case-insensitive), time zones must resolve, ``end`` may not precede
``start`` and all-day events must run midnight to midnight. Read-only properties are ignored.

Rendering produces the full ``microsoft.graph.event`` property set in Graph's order; ``start``/``end``
come back in UTC, in the ``Prefer: outlook.timezone`` zone, or (for create/update responses) in the zones
the client sent. Teams meetings get an ``onlineMeeting`` with a ``joinUrl`` and a join blob in the body.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from graph.sandbox.errors import GraphError, bad_request
from graph.sandbox.ids import IdFactory, occurrence_id
from graph.sandbox.model import EmUser, StoredEvent
from graph.sandbox.recurrence import RecurrenceError, occurrence_dates, parse_recurrence
from graph.sandbox.timefmt import fmt_stamp, fmt_wall, localize, parse_dttz, resolve_zone, to_dttz

MAX_ATTENDEES = 500
NULL_TIME = "0001-01-01T00:00:00Z"
TOLL_NUMBER = "+1 323-555-0166"

_ENUMS = {
    "showAs": ("free", "tentative", "busy", "oof", "workingElsewhere", "unknown"),
    "sensitivity": ("normal", "personal", "private", "confidential"),
    "importance": ("low", "normal", "high"),
    "onlineMeetingProvider": ("unknown", "skypeForBusiness", "skypeForConsumer", "teamsForBusiness"),
}
_ENUM_TYPES = {
    "showAs": "freeBusyStatus",
    "sensitivity": "sensitivity",
    "importance": "importance",
    "onlineMeetingProvider": "onlineMeetingProviderType",
}
_WRITABLE = (
    "subject",
    "body",
    "start",
    "end",
    "isAllDay",
    "showAs",
    "sensitivity",
    "importance",
    "location",
    "locations",
    "attendees",
    "categories",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "recurrence",
    "transactionId",
    "singleValueExtendedProperties",
    "multiValueExtendedProperties",
    "extensions",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "responseRequested",
    "allowNewTimeProposals",
    "hideAttendees",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "organizer",
)
_READ_ONLY = (
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "iCalUId",
    "uid",
    "bodyPreview",
    "hasAttachments",
    "isCancelled",
    "isDraft",
    "isOrganizer",
    "onlineMeeting",
    "onlineMeetingUrl",
    "originalStart",
    "responseStatus",
    "seriesMasterId",
    "type",
    "webLink",
    "calendar",
    "instances",
    "attachments",
    "occurrenceId",
)
_KNOWN = {name.lower(): name for name in _WRITABLE + _READ_ONLY}
_EXT_PROP_ID = re.compile(
    r"^\s*(String|Integer|Boolean|SystemTime|Binary|Short|Long|Double|Float|Currency|CLSID|Object|ApplicationTime)"
    r"\s+(\{[0-9a-fA-F-]{36}\}\s+(Name|Id)\s+\S.*|0x[0-9a-fA-F]+)\s*$",
    re.IGNORECASE,
)
RENDER_ORDER = (
    "@odata.etag",
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "transactionId",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "iCalUId",
    "reminderMinutesBeforeStart",
    "isReminderOn",
    "hasAttachments",
    "subject",
    "bodyPreview",
    "importance",
    "sensitivity",
    "isAllDay",
    "isCancelled",
    "isOrganizer",
    "responseRequested",
    "seriesMasterId",
    "showAs",
    "type",
    "webLink",
    "onlineMeetingUrl",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "allowNewTimeProposals",
    "isDraft",
    "hideAttendees",
    "originalStart",
    "responseStatus",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "recurrence",
    "attendees",
    "organizer",
    "onlineMeeting",
)
_CANONICAL = {name.lower(): name for name in RENDER_ORDER if not name.startswith("@")}


@dataclass(frozen=True, slots=True)
class Expand:
    """``$expand`` of an event: extended properties / open extensions; None = not expanded,
    an empty frozenset = all of them, otherwise the lower-cased ids asked for."""

    ext_props: frozenset[str] | None = None
    extensions: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Patched:
    """What a create or update did, for the state's bookkeeping."""

    body_replaced: bool = False
    became_online: bool = False


def canonical_property(name: str) -> str | None:
    return _CANONICAL.get(name.strip().lower())


# ---------------------------------------------------------------------------------------------- input


def _normalized_body(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Map property names to their canonical spelling; 400 RequestBodyRead for unknown ones."""
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if key.startswith("@"):
            continue
        canonical = _KNOWN.get(key.lower())
        if canonical is None:
            raise GraphError(
                400,
                "RequestBodyRead",
                f"The property '{key}' does not exist on type 'microsoft.graph.event'. Make sure "
                "to only use property names that are defined by the type or mark the type as "
                "open type.",
            )
        if canonical in _WRITABLE:
            out[canonical] = value
    return out


def _enum(prop: str, value: Any) -> str:
    for allowed in _ENUMS[prop]:
        if isinstance(value, str) and value.lower() == allowed.lower():
            return allowed
    raise GraphError(
        400,
        "RequestBodyRead",
        f"Cannot convert the literal '{value}' to the expected type 'microsoft.graph.{_ENUM_TYPES[prop]}'.",
    )


def _bool(prop: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise GraphError(
            400,
            "RequestBodyRead",
            f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean' for property '{prop}'.",
        )
    return value


def _email(obj: Any, what: str) -> dict[str, str]:
    if not isinstance(obj, Mapping):
        raise bad_request(f"{what} must have an emailAddress.")
    email = obj.get("emailAddress")
    if not isinstance(email, Mapping) or not isinstance(email.get("address"), str) or "@" not in email["address"]:
        raise GraphError(400, "ErrorInvalidRecipients", f"{what} must have an emailAddress with a valid address.")
    name = email.get("name")
    return {"name": name if isinstance(name, str) and name else email["address"], "address": email["address"]}


def _attendees(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise bad_request("attendees must be an array.")
    if len(value) > MAX_ATTENDEES:
        raise bad_request(f"An event can have at most {MAX_ATTENDEES} attendees.")
    out = []
    for item in value:
        email = _email(item, "Each attendee")
        kind = str(item.get("type") or "required").lower()
        if kind not in ("required", "optional", "resource"):
            raise GraphError(
                400,
                "RequestBodyRead",
                f"Cannot convert the literal '{item.get('type')}' to the expected type 'microsoft.graph.attendeeType'.",
            )
        status = item.get("status") if isinstance(item.get("status"), Mapping) else None
        out.append(
            {
                "type": kind,
                "status": {
                    "response": str((status or {}).get("response") or "none"),
                    "time": str((status or {}).get("time") or NULL_TIME),
                },
                "emailAddress": email,
            }
        )
    return out


def _location(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise bad_request("location must be an object.")
    loc: dict[str, Any] = {
        "displayName": str(value.get("displayName") or ""),
        "locationType": str(value.get("locationType") or "default"),
    }
    if loc["displayName"]:
        loc["uniqueId"] = str(value.get("uniqueId") or loc["displayName"])
        loc["uniqueIdType"] = str(value.get("uniqueIdType") or "private")
    else:
        loc["uniqueIdType"] = "unknown"
    for extra in ("address", "coordinates", "locationUri", "locationEmailAddress"):
        if value.get(extra) is not None:
            loc[extra] = value[extra]
    loc.setdefault("address", {})
    loc.setdefault("coordinates", {})
    return loc


def _ext_props(value: Any) -> dict[str, tuple[str, str]]:
    if not isinstance(value, list):
        raise bad_request("singleValueExtendedProperties must be an array.")
    out = {}
    for item in value:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            raise bad_request("Each singleValueExtendedProperty needs an 'id' and a 'value'.")
        if not _EXT_PROP_ID.match(item["id"]):
            raise GraphError(400, "ErrorInvalidProperty", f"The extended property id '{item['id']}' is not valid.")
        value_text = item.get("value")
        out[ext_prop_key(item["id"])] = (item["id"].strip(), "" if value_text is None else str(value_text))
    return out


def ext_prop_key(prop_id: str) -> str:
    return " ".join(prop_id.lower().split())


def _extensions(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise bad_request("extensions must be an array.")
    out = []
    for item in value:
        if not isinstance(item, Mapping) or not item.get("extensionName"):
            raise bad_request("Each open extension needs an '@odata.type' and an 'extensionName'.")
        odata_type = str(item.get("@odata.type", "")).lstrip("#").lower()
        if odata_type and odata_type != "microsoft.graph.opentypeextension":
            raise bad_request(f"Unsupported extension type '{item.get('@odata.type')}'.")
        data = {k: v for k, v in item.items() if k not in ("@odata.type", "id")}
        out.append(data)
    return out


def html_to_text(content: str) -> str:
    text = re.sub(r"(?is)<(script|style|head)[^>]*>.*?</\1>", " ", content)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"[ \t\r\f\v]+", " ", text).strip()


def _text_to_html(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def teams_meeting(ids: IdFactory, owner: EmUser) -> dict[str, Any]:
    """An ``onlineMeeting`` for a new Teams meeting, with the real joinUrl shape."""
    thread = base64.b64encode(ids.guid().encode()).decode().rstrip("=")
    context = quote(f'{{"Tid":"{owner.tenant_id}","Oid":"{owner.id}"}}', safe="").lower()
    join_url = f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{thread}%40thread.v2/0?context={context}"
    return {"joinUrl": join_url, "conferenceId": ids.digits(9), "tollNumber": TOLL_NUMBER}


def teams_blob(meeting: Mapping[str, Any]) -> str:
    join = html.escape(str(meeting["joinUrl"]), quote=True)
    return (
        '<br><div style="width:100%"><span style="white-space:nowrap;color:#5F5F5F;opacity:.36">'
        + "_" * 80
        + '</span></div><div class="me-email-text" lang="en-US" style="color:#252424;'
        "font-family:'Segoe UI','Helvetica Neue',Helvetica,Arial,sans-serif\"><div style=\"margin-top:24px;"
        'margin-bottom:20px"><span style="font-size:24px;color:#252424">Microsoft Teams meeting</span></div>'
        '<div style="margin-bottom:20px"><div style="margin-top:0px;margin-bottom:0px;font-weight:bold">'
        '<span style="font-size:14px;color:#252424">Join on your computer, mobile app or room device</span>'
        f'</div><a class="me-email-headline" href="{join}" target="_blank" rel="noreferrer noopener" '
        "style=\"font-size:14px;font-family:'Segoe UI Semibold','Segoe UI',sans-serif;text-decoration:"
        'underline;color:#6264a7">Click here to join the meeting</a></div><div style="margin-bottom:20px;'
        f'margin-top:20px"><div style="margin-bottom:4px"><span style="font-size:14px;color:#252424">Meeting '
        f'ID: <span style="font-size:16px;color:#252424">{html.escape(str(meeting["conferenceId"]))}</span>'
        f'</span></div></div><div style="margin-bottom:24px;margin-top:20px"><span style="font-size:14px;'
        f'color:#252424">Call in (audio only): {html.escape(TOLL_NUMBER)}</span></div></div>'
    )


def _add_blob(ev: StoredEvent) -> None:
    assert ev.online_meeting is not None
    content = ev.body_content if ev.body_type == "html" else _text_to_html(ev.body_content)
    if "</body>" in content:
        content = content.replace("</body>", teams_blob(ev.online_meeting) + "</body>", 1)
    else:
        content = (
            '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
            f"</head><body>{content}{teams_blob(ev.online_meeting)}</body></html>"
        )
    ev.body_type, ev.body_content = "html", content


def _make_online(ev: StoredEvent, provider: str, owner: EmUser, ids: IdFactory) -> bool:
    """Turn the event into a Teams meeting, unless tenant policy silently drops it (Graph's 201 still)."""
    if owner.drop_online_meetings or provider != "teamsForBusiness":
        ev.is_online_meeting, ev.online_meeting_provider, ev.online_meeting = False, "unknown", None
        return False
    ev.is_online_meeting, ev.online_meeting_provider = True, "teamsForBusiness"
    ev.online_meeting = teams_meeting(ids, owner)
    if not ev.location.get("displayName"):
        ev.location = _location({"displayName": "Microsoft Teams Meeting"})
        ev.locations = [dict(ev.location)]
    _add_blob(ev)
    return True


def _wall(ev: StoredEvent, which: str) -> tuple[datetime, str, datetime]:
    """The current (instant, zone, wall time) of the event's start or end."""
    instant, zone_name = (ev.start, ev.start_tz) if which == "start" else (ev.end, ev.end_tz)
    if ev.is_all_day:
        day = ev.all_day_start if which == "start" else ev.all_day_end
        assert day is not None
        return instant, zone_name, datetime.combine(day, time())
    return instant, zone_name, instant.astimezone(resolve_zone(zone_name)).replace(tzinfo=None)


def _apply_times(ev: StoredEvent, body: Mapping[str, Any], creating: bool) -> None:
    if creating and ("start" not in body or "end" not in body):
        raise bad_request("The event must have both a start and an end.")
    is_all_day = _bool("isAllDay", body["isAllDay"]) if "isAllDay" in body else ev.is_all_day
    start = parse_dttz(body["start"], field="start") if "start" in body else _wall(ev, "start")
    end = parse_dttz(body["end"], field="end") if "end" in body else _wall(ev, "end")
    if "originalStartTimeZone" in body:
        resolve_zone(body["originalStartTimeZone"])
    if "originalEndTimeZone" in body:
        resolve_zone(body["originalEndTimeZone"])
    if is_all_day:
        if start[2].time() != time() or end[2].time() != time():
            raise bad_request(
                "Your request can't be completed. If the event is an all-day event, start and "
                "end must be specified as midnight."
            )
        first, last = start[2].date(), end[2].date()
        if last <= first:
            raise bad_request("Your request can't be completed. An all-day event must last at least one day.")
        ev.all_day_start, ev.all_day_end = first, last
        ev.start = datetime.combine(first, time(), UTC)
        ev.end = datetime.combine(last, time(), UTC)
    else:
        if end[0] < start[0]:
            raise bad_request("Your request can't be completed. The end time of the event is before its start.")
        ev.all_day_start = ev.all_day_end = None
        ev.start, ev.end = start[0], end[0]
    ev.is_all_day = is_all_day
    ev.start_tz, ev.end_tz = start[1], end[1]


def apply_body(
    ev: StoredEvent, payload: Any, *, owner: EmUser, ids: IdFactory, now: datetime, creating: bool
) -> Patched:
    """Apply a create or PATCH body to ``ev`` (which is changed in place); raises GraphError."""
    if not isinstance(payload, Mapping):
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    body = _normalized_body(payload)
    body_replaced = became_online = False
    if creating or any(k in body for k in ("start", "end", "isAllDay")):
        _apply_times(ev, body, creating)
    if "subject" in body:
        ev.subject = "" if body["subject"] is None else str(body["subject"])
    if "body" in body:
        item = body["body"] if isinstance(body["body"], Mapping) else {}
        ctype = str(item.get("contentType") or "text").lower()
        if ctype not in ("text", "html"):
            raise GraphError(
                400,
                "RequestBodyRead",
                f"Cannot convert the literal '{item.get('contentType')}' to "
                "the expected type 'microsoft.graph.bodyType'.",
            )
        ev.body_type, ev.body_content = ctype, str(item.get("content") or "")
        body_replaced = not creating
    for prop, attr in (("showAs", "show_as"), ("sensitivity", "sensitivity"), ("importance", "importance")):
        if prop in body:
            setattr(ev, attr, _enum(prop, body[prop]))
    for prop, attr in (
        ("isReminderOn", "is_reminder_on"),
        ("responseRequested", "response_requested"),
        ("allowNewTimeProposals", "allow_new_time_proposals"),
        ("hideAttendees", "hide_attendees"),
    ):
        if prop in body:
            setattr(ev, attr, _bool(prop, body[prop]))
    if "reminderMinutesBeforeStart" in body:
        if not isinstance(body["reminderMinutesBeforeStart"], int):
            raise bad_request("reminderMinutesBeforeStart must be an integer.")
        ev.reminder_minutes = body["reminderMinutesBeforeStart"]
    if "categories" in body:
        if not isinstance(body["categories"], list):
            raise bad_request("categories must be an array of strings.")
        ev.categories = [str(c) for c in body["categories"]]
    if "attendees" in body:
        ev.attendees = _attendees(body["attendees"] or [])
    if "location" in body:
        ev.location = _location(body["location"])
        ev.locations = [dict(ev.location)] if ev.location.get("displayName") else []
    if "locations" in body and isinstance(body["locations"], list):
        ev.locations = [_location(loc) for loc in body["locations"]]
        if "location" not in body and ev.locations:
            ev.location = dict(ev.locations[0])
    if "recurrence" in body:
        if body["recurrence"] is None:
            ev.recurrence = None
        else:
            local_start = (
                ev.all_day_start
                if ev.is_all_day and ev.all_day_start
                else ev.start.astimezone(resolve_zone(ev.start_tz)).date()
            )
            try:
                ev.recurrence = parse_recurrence(body["recurrence"], local_start)
            except RecurrenceError as exc:
                raise bad_request(str(exc)) from exc
        ev.type = "seriesMaster" if ev.recurrence else "singleInstance"
    if "singleValueExtendedProperties" in body:
        ev.ext_props.update(_ext_props(body["singleValueExtendedProperties"]))
    if "extensions" in body:
        by_name = {e["extensionName"]: e for e in ev.extensions}
        for ext in _extensions(body["extensions"]):
            by_name[ext["extensionName"]] = ext
        ev.extensions = list(by_name.values())
    if creating and body.get("transactionId") is not None:
        ev.transaction_id = str(body["transactionId"])
    provider = (
        _enum("onlineMeetingProvider", body["onlineMeetingProvider"])
        if body.get("onlineMeetingProvider") is not None
        else None
    )
    wants_online = _bool("isOnlineMeeting", body["isOnlineMeeting"]) if "isOnlineMeeting" in body else None
    if wants_online and not ev.is_online_meeting:
        became_online = _make_online(ev, provider or "teamsForBusiness", owner, ids)
    if not creating:
        ev.change_key = ids.change_key()
    ev.modified = now
    return Patched(body_replaced=body_replaced, became_online=became_online)


def new_event(
    payload: Any, *, owner: EmUser, calendar_id: str, ids: IdFactory, now: datetime, organizer: EmUser | None = None
) -> StoredEvent:
    """A new event in ``owner``'s mailbox from a POST body (raises GraphError on invalid input)."""
    event_id, key = ids.event_id()
    ev = StoredEvent(
        id=event_id,
        key=key,
        owner_id=owner.id,
        calendar_id=calendar_id,
        ical_uid=ical_uid(ids.hex(16), None),
        change_key=ids.change_key(),
        created=now,
        modified=now,
        start=now,
        end=now,
        start_tz="UTC",
        end_tz="UTC",
        organizer={"emailAddress": (organizer or owner).email_address()},
        is_organizer=organizer is None or organizer.id == owner.id,
    )
    ev.response_status = (
        {"response": "organizer", "time": NULL_TIME}
        if ev.is_organizer
        else {"response": "notResponded", "time": NULL_TIME}
    )
    ev.location = _location(None)
    apply_body(ev, payload, owner=owner, ids=ids, now=now, creating=True)
    return ev


def ical_uid(random_hex: str, day: date | None) -> str:
    """An Outlook-style iCalUId; occurrences carry their date in bytes 16..19, as Exchange does."""
    day_part = f"{day.year:04X}{day.month:02X}{day.day:02X}" if day else "00000000"
    return ("040000008200E00074C5B7101A82E008" + day_part + "0000000000000000" + "10000000" + random_hex).upper()


# ------------------------------------------------------------------------------------------ expansion


def _occurrence(master: StoredEvent, day: date) -> StoredEvent:
    if master.is_all_day:
        assert master.all_day_start is not None and master.all_day_end is not None
        span = master.all_day_end - master.all_day_start
        start = datetime.combine(day, time(), UTC)
        return replace(
            master,
            id=occurrence_id(master.key, day),
            type="occurrence",
            series_master_id=master.id,
            original_start=start,
            original_date=day,
            start=start,
            end=start + span,
            all_day_start=day,
            all_day_end=day + span,
            recurrence=None,
            exceptions={},
            deleted_dates=set(),
            ical_uid=master.ical_uid[:32] + ical_uid("", day)[32:40] + master.ical_uid[40:],
        )
    assert master.recurrence is not None
    tz = resolve_zone(master.recurrence.recurrence_time_zone or master.start_tz)
    wall_time = master.start.astimezone(tz).time()
    start = localize(datetime.combine(day, wall_time), tz)
    return replace(
        master,
        id=occurrence_id(master.key, day),
        type="occurrence",
        series_master_id=master.id,
        original_start=start,
        original_date=day,
        start=start,
        end=start + (master.end - master.start),
        recurrence=None,
        exceptions={},
        deleted_dates=set(),
        ical_uid=master.ical_uid[:32] + ical_uid("", day)[32:40] + master.ical_uid[40:],
    )


def overlaps(ev: StoredEvent, start: datetime, end: datetime) -> bool:
    if ev.start == ev.end:
        return start <= ev.start < end
    return ev.start < end and ev.end > start


def _series_zone(master: StoredEvent) -> Any:
    assert master.recurrence is not None
    return resolve_zone(master.recurrence.recurrence_time_zone or master.start_tz)


def instances(ev: StoredEvent, start: datetime, end: datetime) -> list[StoredEvent]:
    """The event's instances overlapping ``[start, end)``: itself, or a series' occurrences and exceptions."""
    if ev.recurrence is None:
        return [ev] if overlaps(ev, start, end) else []
    until = (end.astimezone(_series_zone(ev)).date() if not ev.is_all_day else end.date()) + timedelta(days=1)
    out = []
    for day in occurrence_dates(ev.recurrence, until):
        if day in ev.deleted_dates:
            continue
        inst = ev.exceptions.get(day) or _occurrence(ev, day)
        if overlaps(inst, start, end):
            out.append(inst)
    seen = {inst.original_date for inst in out}
    for day, exc in ev.exceptions.items():  # exceptions moved into the window from dates outside it
        if day not in seen and day not in ev.deleted_dates and overlaps(exc, start, end):
            out.append(exc)
    return out


def occurrence_on(master: StoredEvent, day: date) -> StoredEvent | None:
    """The occurrence (or exception) of ``master`` that was originally on ``day``, if the series has one."""
    if master.recurrence is None or day in master.deleted_dates:
        return None
    if day in master.exceptions:
        return master.exceptions[day]
    if day in set(occurrence_dates(master.recurrence, day)):
        return _occurrence(master, day)
    return None


def make_exception(master: StoredEvent, day: date) -> StoredEvent:
    """Materialize the occurrence on ``day`` as an exception that can be changed on its own."""
    existing = master.exceptions.get(day)
    if existing is not None:
        return existing
    occ = _occurrence(master, day)
    exc = replace(
        occ,
        type="exception",
        attendees=[dict(a) for a in occ.attendees],
        location=dict(occ.location),
        locations=[dict(x) for x in occ.locations],
        categories=list(occ.categories),
        ext_props=dict(occ.ext_props),
        extensions=[dict(x) for x in occ.extensions],
    )
    master.exceptions[day] = exc
    return exc


# ------------------------------------------------------------------------------------------ rendering


def _preview(ev: StoredEvent) -> str:
    text = html_to_text(ev.body_content) if ev.body_type == "html" else ev.body_content
    return " ".join(text.split())[:255]


def _times(ev: StoredEvent, zone_name: str | None, echo: bool) -> tuple[dict[str, str], dict[str, str]]:
    start_zone = zone_name or (ev.start_tz if echo else "UTC")
    end_zone = zone_name or (ev.end_tz if echo else "UTC")
    if ev.is_all_day:
        assert ev.all_day_start is not None and ev.all_day_end is not None
        return (
            {"dateTime": fmt_wall(datetime.combine(ev.all_day_start, time())), "timeZone": start_zone},
            {"dateTime": fmt_wall(datetime.combine(ev.all_day_end, time())), "timeZone": end_zone},
        )
    return to_dttz(ev.start, start_zone), to_dttz(ev.end, end_zone)


def render_event(
    ev: StoredEvent,
    *,
    zone_name: str | None = None,
    echo_zones: bool = False,
    select: Iterable[str] | None = None,
    expand: Expand | None = None,
    body_as_text: bool = False,
    online_meeting_needs_flag: bool = False,
) -> dict[str, Any]:
    """The Graph ``event`` resource. ``select`` holds canonical property names (id is always returned)."""
    start, end = _times(ev, zone_name, echo_zones)
    content, ctype = ev.body_content, ev.body_type
    if body_as_text and ctype == "html":
        content, ctype = html_to_text(content), "text"
    recurrence = ev.recurrence.to_graph(ev.start_tz) if ev.recurrence else None
    data: dict[str, Any] = {
        "@odata.etag": f'W/"{ev.change_key}"',
        "id": ev.id,
        "createdDateTime": fmt_stamp(ev.created),
        "lastModifiedDateTime": fmt_stamp(ev.modified),
        "changeKey": ev.change_key,
        "categories": list(ev.categories),
        "transactionId": ev.transaction_id,
        "originalStartTimeZone": ev.start_tz,
        "originalEndTimeZone": ev.end_tz,
        "iCalUId": ev.ical_uid,
        "reminderMinutesBeforeStart": ev.reminder_minutes,
        "isReminderOn": ev.is_reminder_on,
        "hasAttachments": False,
        "subject": ev.subject,
        "bodyPreview": _preview(ev),
        "importance": ev.importance,
        "sensitivity": ev.sensitivity,
        "isAllDay": ev.is_all_day,
        "isCancelled": ev.is_cancelled,
        "isOrganizer": ev.is_organizer,
        "responseRequested": ev.response_requested,
        "seriesMasterId": ev.series_master_id,
        "showAs": ev.show_as,
        "type": ev.type,
        "webLink": "https://outlook.office365.com/owa/?itemid="
        + quote(ev.id, safe="")
        + "&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": ev.is_online_meeting,
        "onlineMeetingProvider": ev.online_meeting_provider,
        "allowNewTimeProposals": ev.allow_new_time_proposals,
        "isDraft": False,
        "hideAttendees": ev.hide_attendees,
        "responseStatus": dict(ev.response_status),
        "body": {"contentType": ctype, "content": content},
        "start": start,
        "end": end,
        "location": dict(ev.location),
        "locations": [dict(x) for x in ev.locations],
        "recurrence": recurrence,
        "attendees": [
            {"type": a["type"], "status": dict(a["status"]), "emailAddress": dict(a["emailAddress"])}
            for a in ev.attendees
        ],
        "organizer": {"emailAddress": dict(ev.organizer["emailAddress"])},
        "onlineMeeting": dict(ev.online_meeting) if ev.online_meeting else None,
    }
    if ev.type in ("occurrence", "exception") and ev.original_start is not None:
        data["originalStart"] = fmt_stamp(ev.original_start)
    if select is not None:
        wanted = set(select) | {"id", "@odata.etag"}
        if online_meeting_needs_flag and "onlineMeeting" in wanted and "isOnlineMeeting" not in wanted:
            data["onlineMeeting"] = None
        data = {k: v for k, v in data.items() if k in wanted}
    if expand is not None and expand.ext_props is not None:
        data["singleValueExtendedProperties"] = [
            {"id": prop_id, "value": value}
            for key, (prop_id, value) in ev.ext_props.items()
            if not expand.ext_props or key in expand.ext_props
        ]
    if expand is not None and expand.extensions is not None:
        exts = []
        for ext in ev.extensions:
            ext_id = f"Microsoft.OutlookServices.OpenTypeExtension.{ext['extensionName']}"
            if (
                expand.extensions
                and ext_id.lower() not in expand.extensions
                and str(ext["extensionName"]).lower() not in expand.extensions
            ):
                continue
            exts.append({"@odata.type": "#microsoft.graph.openTypeExtension", "id": ext_id, **ext})
        data["extensions"] = exts
    return data
