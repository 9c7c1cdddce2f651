"""What the host changed in Outlook survives what Slotwise does to the event afterwards.

Graph replaces the whole ``attendees`` collection on PATCH, so a reschedule that sent the invitee list
again would remove the people the host added. A move sends start/end only; the fallback location is a
location-only PATCH.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from graph.adapter import GraphCalendar
from graph.client import GraphClient
from scheduling.domain import CalendarSync
from scheduling.ports import Location, LocationKind
from tests.graph.graph_harness import Recording
from tests.integration.harness import HOST_UPN, MONDAY_10, booking_world, invitee
from tests.storage.fixtures import Kind

pytestmark = pytest.mark.parametrize("kind", ["sqlite", "postgres"])

COLLEAGUE = "colin@contoso.example"


async def test_reschedule_keeps_the_attendee_and_subject_the_host_added_in_outlook(kind: Kind) -> None:
    async with booking_world(kind) as w:
        outcome = await w.service.book(w.link, MONDAY_10, invitee())
        event_id = outcome.booking.graph_event_id
        assert event_id is not None
        # The host opens the meeting in Outlook, invites a colleague and renames it (Outlook talks Graph).
        outlook = w.emulator.client()
        async with outlook:
            current = await outlook.get_event(HOST_UPN, event_id)
            await outlook.update_event(
                HOST_UPN,
                event_id,
                {
                    "subject": "Intro call (with Colin)",
                    "attendees": [
                        *current.raw["attendees"],
                        {"emailAddress": {"address": COLLEAGUE, "name": "Colin"}, "type": "required"},
                    ],
                },
            )
        booking = await w.service.by_manage_token(outcome.manage_token)
        later = MONDAY_10 + timedelta(hours=3)
        moved = await w.service.reschedule(booking, later, "invitee")
        assert moved.calendar_sync is CalendarSync.IN_SYNC
        [event] = w.events()
        assert event["start"]["dateTime"].startswith("2027-03-01T13:00")
        assert sorted(a["emailAddress"]["address"] for a in event["attendees"]) == [COLLEAGUE, "ivy@example.org"]
        assert event["subject"] == "Intro call (with Colin)"
        assert event["onlineMeeting"]["joinUrl"] == booking.join_url


async def test_reschedule_and_fallback_location_patch_only_their_own_fields(kind: Kind) -> None:
    async with booking_world(kind) as w:
        wire = Recording()

        async def tokens(user_id: str, force_refresh: bool = False) -> str:
            return w.emulator.state.issue_token(w.mailbox_of.get(user_id, user_id))

        link = await w.repos.event_types.update(
            replace(w.link, fallback_location=Location(LocationKind.PHONE, "+1 555 0100"))
        )
        w.emulator.state.get_user(HOST_UPN).drop_online_meetings = True  # type: ignore[union-attr]
        async with GraphClient(w.emulator.graph_base, token_provider=tokens, transport=wire) as client:
            service = w.service_with(calendar=GraphCalendar(client))
            outcome = await service.book(link, MONDAY_10, invitee())
            assert outcome.booking.join_url_missing
            await service.reschedule(
                await service.by_manage_token(outcome.manage_token), MONDAY_10 + timedelta(hours=2), "invitee"
            )
        patches = [body for method, body in wire.sent if method == "PATCH"]
        assert patches == [
            {"location": {"displayName": "+1 555 0100", "locationType": "default"}},
            {
                "start": {"dateTime": "2027-03-01T12:00:00", "timeZone": "Europe/London"},
                "end": {"dateTime": "2027-03-01T12:30:00", "timeZone": "Europe/London"},
            },
        ]
        [event] = w.events()
        assert event["location"]["displayName"] == "+1 555 0100"
        assert [a["emailAddress"]["address"] for a in event["attendees"]] == ["ivy@example.org"]
