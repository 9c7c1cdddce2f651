"""What the REST API says about a booking and a link, as JSON-ready dicts: built here once, so the API's answers
and the webhooks' ``data`` are the same document (``web.models`` types them for the OpenAPI document). A team link
(:func:`team_link_resource`) is a link with its team and team settings besides; a personal link has them null.

A booking's resource comes from the payload the booking use cases write into the outbox with every change
(``scheduling.booking.booking_payload``), so a webhook carries the booking as it was when it changed, and
``GET /api/v1/bookings/{id}`` renders the current one through the same function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from scheduling.domain import TEAM_SEGMENT, EventType, Priority, User
from scheduling.serialize import availability_to_dict

if TYPE_CHECKING:
    from scheduling.teams import TeamLinkView

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


def booking_resource(payload: Mapping[str, Any], hosts: Sequence[User] | None = None) -> dict[str, Any]:
    """The API's booking from a booking payload (``scheduling.booking.booking_payload``): only the resource's own
    fields, under the resource's names; with ``hosts`` (the people hosting it, organiser first: one for a personal
    or round-robin booking, every member of a collective one) also ``hosts``, as the API answers it."""
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
    if hosts is not None:
        out["hosts"] = [{"id": h.id, "name": h.display_name, "email": h.email} for h in hosts]
    return out


def booking_event_data(payload: Mapping[str, Any], hosts: Sequence[User]) -> dict[str, Any]:
    """A booking webhook's ``data``: the booking as the API returns it (``hosts`` too), and what the change adds
    (``source``: ``outlook`` when the host changed it in Outlook, else ``slotwise``)."""
    data = booking_resource(payload, hosts)
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
        "team": None,
        "teamSettings": None,
    }


def team_booking_url(base_url: str, team_slug: str, slug: str) -> str:
    """The public page of a team link: ``{base}/book/team/{team}/{slug}`` (segments percent-encoded)."""
    return f"{base_url.rstrip('/')}/book/{TEAM_SEGMENT}/{quote(team_slug, safe='')}/{quote(slug, safe='')}"


def team_link_resource(view: TeamLinkView, base_url: str, expires_at: datetime | None = None) -> dict[str, Any]:
    """The API's event type for a team link: the link's own fields (:func:`link_resource`), its page under the
    team's address, the team, and its settings: who made it, how bookings are assigned, whether they are announced
    in the channel, and the rotation (each member's priority, weight, caps and calendar connection)."""
    out = link_resource(view.link, None, base_url, expires_at)
    settings = view.settings
    out["bookingUrl"] = team_booking_url(base_url, view.team.slug, view.link.slug)
    out["team"] = {"id": view.team.id, "name": view.team.name, "slug": view.team.slug}
    out["teamSettings"] = {
        "createdBy": settings.created_by,
        "assignmentMode": settings.mode.value,
        "fairnessPeriod": settings.period.value,
        "announce": settings.announce,
        "members": [
            {
                "userId": m.user.id,
                "name": m.user.display_name,
                "priority": Priority(m.member.priority).name.lower(),
                "weight": m.member.weight,
                "dailyCap": m.member.daily_cap,
                "weeklyCap": m.member.weekly_cap,
                "connection": m.user.connection_status.value,
            }
            for m in view.members
        ],
    }
    return out
