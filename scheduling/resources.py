"""What the REST API says about a booking and a link, as JSON-ready dicts: built here once, so the API's answers
and the webhooks' ``data`` are the same document (``web.models`` types them for the OpenAPI document).

A booking's resource comes from the payload the booking use cases write into the outbox with every change
(``scheduling.booking.booking_payload``), so a webhook carries the booking as it was when it changed, and
``GET /api/v1/bookings/{id}`` renders the current one through the same function.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from scheduling.domain import EventType, User
from scheduling.serialize import availability_to_dict

#: payload key -> resource key, in the order the resource lists them
_BOOKING_FIELDS: tuple[tuple[str, str], ...] = (
    ("bookingId", "id"),
    ("eventTypeId", "eventTypeId"),
    ("title", "title"),
    ("status", "status"),
    ("start", "start"),
    ("end", "end"),
    ("hostId", "hostId"),
    ("hostName", "hostName"),
    ("hostTimeZone", "hostTimeZone"),
    ("inviteeName", "inviteeName"),
    ("inviteeEmail", "inviteeEmail"),
    ("inviteeTimeZone", "inviteeTimeZone"),
    ("notes", "notes"),
    ("answers", "answers"),
    ("joinUrl", "joinUrl"),
    ("joinUrlMissing", "joinUrlMissing"),
    ("cancelReason", "cancelReason"),
)
#: what a change adds to the booking in a webhook's data (who, where from, the time before)
EVENT_CONTEXT = ("previousStart", "previousEnd", "by", "source", "outsideRules")


def iso_z(instant: datetime) -> str:
    """An instant as the API writes it: UTC, whole seconds or finer, ending in Z."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def booking_resource(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The API's booking from a booking payload (``scheduling.booking.booking_payload``): only the resource's own
    fields, under the resource's names."""
    out: dict[str, Any] = {}
    for source, name in _BOOKING_FIELDS:
        value = payload.get(source)
        if name == "answers":
            value = dict(value) if isinstance(value, Mapping) else {}
        elif name == "joinUrlMissing":
            value = value is True
        elif name in ("notes", "cancelReason", "title", "hostName", "inviteeName", "inviteeEmail"):
            value = value if isinstance(value, str) else ""
        out[name] = value
    return out


def booking_event_data(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A booking webhook's ``data``: the booking as the API returns it, and what the change adds (``source``:
    ``outlook`` when the host changed it in Outlook, else ``slotwise``)."""
    data = booking_resource(payload)
    for key in EVENT_CONTEXT:
        if key in payload:
            data[key] = payload[key]
    data.setdefault("source", "slotwise")
    return data


def link_resource(
    link: EventType, owner: User | None, base_url: str, expires_at: datetime | None = None
) -> dict[str, Any]:
    """The API's event type: its rules spelled as ``scheduling.serialize`` spells them, in camelCase."""
    rules = link.rules
    window = rules.window
    availability = availability_to_dict(rules.availability)
    handle = owner.handle if owner is not None else ""
    return {
        "id": link.id,
        "slug": link.slug,
        "title": link.title,
        "description": link.description,
        "kind": link.kind.value,
        "bookingUrl": f"{base_url.rstrip('/')}/book/{handle}/{link.slug}" if handle else None,
        "durations": list(rules.durations),
        "timeZone": rules.time_zone,
        "weeklyHours": availability["weekly_hours"],
        "dateOverrides": availability["date_overrides"],
        "slotInterval": rules.slot_interval,
        "bufferBefore": rules.buffer_before,
        "bufferAfter": rules.buffer_after,
        "minimumNotice": rules.minimum_notice,
        "bookingWindow": {
            "rollingDays": window.rolling_days,
            "startDate": window.start_date.isoformat() if window.start_date else None,
            "endDate": window.end_date.isoformat() if window.end_date else None,
        },
        "dailyCap": rules.daily_cap,
        "weeklyCap": rules.weekly_cap,
        "blockingStatuses": sorted(s.value for s in rules.blocking_statuses),
        "location": {"kind": link.location.kind.value, "text": link.location.text},
        "singleUse": link.single_use,
        "active": link.active,
        "expiresAt": iso_z(expires_at) if expires_at is not None else None,
        "version": link.version,
    }
