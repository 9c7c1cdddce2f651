"""The JSON bodies Slotwise writes to Graph for events, built from core types (pure functions).

* :func:`event_body` - ``POST /me/events``: subject, HTML body (the text is escaped, newlines become
  ``<br>``), start/end with the host's explicit IANA ``timeZone``, required attendees, location,
  ``isOnlineMeeting`` + ``teamsForBusiness`` for a Teams location, the ``transactionId`` that makes a
  retried POST return the same event, and the Slotwise booking tag (a single-value extended property).
* :func:`reschedule_patch` - ``PATCH /me/events/{id}`` for a move: start and end only. Never the body
  (the Teams join blob Graph injected into it stays intact), never the subject, and never ``attendees``:
  a PATCH with ``attendees`` replaces the whole collection, which would drop the people the host added
  in Outlook.
* :func:`location_patch` - the location fields only (the fallback location when Teams was dropped).
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from graph.models import BOOKING_ID_PROPERTY
from graph.timefmt import to_dtz
from scheduling.ports import Attendee, EventDraft, Location, LocationKind

TEAMS_PROVIDER = "teamsForBusiness"


def html_body(text: str) -> dict[str, str]:
    """Plain text as an HTML body: escaped, with line breaks kept."""
    escaped = html.escape(text, quote=True).replace("\r\n", "\n").replace("\n", "<br>\n")
    return {"contentType": "html", "content": f"<html><body><p>{escaped}</p></body></html>"}


def attendees_json(attendees: tuple[Attendee, ...]) -> list[dict[str, Any]]:
    return [{"emailAddress": {"address": a.email, "name": a.name or a.email}, "type": "required"} for a in attendees]


def location_fields(location: Location) -> dict[str, Any]:
    """``isOnlineMeeting``/``onlineMeetingProvider`` for Teams, else a ``location`` display name."""
    if location.kind is LocationKind.TEAMS:
        return {"isOnlineMeeting": True, "onlineMeetingProvider": TEAMS_PROVIDER}
    if not location.text:
        return {}
    return {"location": {"displayName": location.text, "locationType": "default"}}


def event_body(draft: EventDraft, *, time_zone: str | None = None) -> dict[str, Any]:
    """The ``POST /me/events`` body for a booking (``time_zone`` overrides ``draft.time_zone``)."""
    tz = time_zone or draft.time_zone
    body: dict[str, Any] = {
        "subject": draft.subject,
        "body": html_body(draft.body_text),
        "start": to_dtz(draft.start, tz),
        "end": to_dtz(draft.end, tz),
        "attendees": attendees_json(draft.attendees),
        "transactionId": draft.transaction_id,
        "singleValueExtendedProperties": [{"id": BOOKING_ID_PROPERTY, "value": draft.booking_id}],
    }
    body.update(location_fields(draft.location))
    return body


def reschedule_patch(start: datetime, end: datetime, time_zone: str) -> dict[str, Any]:
    """A move: ``start`` and ``end`` only, with an explicit zone."""
    return {"start": to_dtz(start, time_zone), "end": to_dtz(end, time_zone)}


def location_patch(location: Location) -> dict[str, Any]:
    """Set the event's location and nothing else (empty when there is nothing to set)."""
    return location_fields(location)
