"""Contract tests: the emulator's responses validated against the official Graph v1.0 OpenAPI subset
(``tests/contracts/graph-v1.0-calendar-openapi.json``) and against the documented examples of
``reference/graph-facts.md``, over a realistic seeded world."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web

from graph.sandbox import seed_demo
from graph.sandbox.timefmt import fmt_stamp
from tests.graph.emulator_fixtures import T0, Emu, assert_contract, running, serve

ADELE, MEGAN, PRIYA, DIEGO, LEE = (f"{n}@contoso.example" for n in ("adele", "megan", "priya", "diego", "lee"))
PEOPLE = (ADELE, MEGAN, PRIYA, DIEGO, LEE)
WEEKS = {"startDateTime": "2030-02-25T00:00:00Z", "endDateTime": "2030-04-08T00:00:00Z", "$top": "500"}
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}$")


@pytest.fixture
async def emu() -> AsyncIterator[Emu]:
    async with running(people=False, now=T0, setup=lambda s: seed_demo(s, T0)) as e:
        yield e


def date_times(node: Any) -> Iterator[dict[str, Any]]:
    """Every dateTimeTimeZone in a response."""
    if isinstance(node, dict):
        if set(node) == {"dateTime", "timeZone"}:
            yield node
        for value in node.values():
            yield from date_times(value)
    elif isinstance(node, list):
        for value in node:
            yield from date_times(value)


async def test_users_mailbox_settings_and_calendars_match_the_schema(emu: Emu) -> None:
    for who in PEOPLE:
        assert_contract("microsoft.graph.user", (await emu.get(who, "/me")).json())
        settings = (await emu.get(who, "/me/mailboxSettings")).json()
        assert_contract("microsoft.graph.mailboxSettings", settings)
        calendars = (await emu.get(who, "/me/calendars")).json()
        assert_contract("microsoft.graph.calendarCollectionResponse", calendars)
        for cal in calendars["value"]:
            # graph-facts §3: every property of the documented calendar example is present
            assert {
                "id",
                "name",
                "color",
                "changeKey",
                "canShare",
                "canViewPrivateItems",
                "canEdit",
                "allowedOnlineMeetingProviders",
                "defaultOnlineMeetingProvider",
                "isTallyingResponses",
                "isRemovable",
                "owner",
            } <= set(cal)
    # graph-facts §4 documented mailboxSettings example keys
    assert {
        "automaticRepliesSetting",
        "timeZone",
        "language",
        "workingHours",
        "userPurpose",
        "dateFormat",
        "timeFormat",
        "delegateMeetingMessageDeliveryOptions",
    } <= set(settings)


async def test_every_seeded_event_matches_the_schema(emu: Emu) -> None:
    for who, zone in ((ADELE, "Pacific Standard Time"), (LEE, None)):
        headers = {"Prefer": f'outlook.timezone="{zone}"'} if zone else None
        body = (await emu.get(who, "/me/calendarView", params=WEEKS, headers=headers)).json()
        assert_contract("microsoft.graph.eventCollectionResponse", body)  # validates every event in it
        assert len(body["value"]) > 20
        stamps = list(date_times(body))
        assert stamps and all(DATETIME.match(s["dateTime"]) for s in stamps)
        assert {s["timeZone"] for s in stamps} == {zone or "UTC"}
        masters = (await emu.get(who, "/me/events", params={"$top": "500"})).json()
        assert_contract("microsoft.graph.eventCollectionResponse", masters)


async def test_seeded_world_has_the_hard_cases(emu: Emu) -> None:
    events = (await emu.get(ADELE, "/me/calendarView", params=WEEKS)).json()["value"]
    kinds = {(e["type"], e["showAs"], e["isAllDay"], e["sensitivity"]) for e in events}
    assert ("occurrence", "busy", False, "normal") in kinds  # daily standup / weekly 1:1
    assert any(e["showAs"] == "tentative" and not e["isOrganizer"] for e in events)  # an invitation
    assert any(e["isAllDay"] and e["showAs"] == "oof" for e in events)
    assert any(e["isAllDay"] and e["showAs"] == "busy" for e in events)
    assert any(e["sensitivity"] == "private" for e in events)
    assert any(e["isOnlineMeeting"] and e["onlineMeeting"]["joinUrl"] for e in events)
    standups = [e for e in events if e["subject"] == "Daily standup"]
    assert len(standups) >= 25 and len({e["seriesMasterId"] for e in standups}) == 1
    calendars = (await emu.get(ADELE, "/me/calendars")).json()["value"]
    assert any(c["name"] == "Team holidays" and c["owner"]["address"] == MEGAN and not c["canEdit"] for c in calendars)
    diego = (await emu.get(DIEGO, "/me/mailboxSettings")).json()["workingHours"]["timeZone"]
    assert diego["@odata.type"] == "#microsoft.graph.customTimeZone"
    zones = {(await emu.get(p, "/me/mailboxSettings/timeZone")).json()["value"] for p in PEOPLE}
    assert {"Pacific Standard Time", "Europe/London", "India Standard Time"} <= zones
    # Adele's calendar is shared with Megan, who may read it
    shared = await emu.get(MEGAN, f"/users/{ADELE}/calendarView", params=WEEKS)
    assert shared.status_code == 200 and shared.json()["value"]


async def test_get_schedule_documented_request_and_response(emu: Emu) -> None:
    # graph-facts §1 request, with the seeded people and a window in the seeded weeks
    body = {
        "schedules": [MEGAN, PRIYA, DIEGO, LEE, ADELE, "nobody@contoso.example"],
        "startTime": {"dateTime": "2030-03-04T09:00:00", "timeZone": "Pacific Standard Time"},
        "endTime": {"dateTime": "2030-03-04T18:00:00", "timeZone": "Pacific Standard Time"},
        "availabilityViewInterval": 60,
    }
    r = await emu.post(
        ADELE, "/me/calendar/getSchedule", body, headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'}
    )
    data = r.json()
    for info in data["value"][:5]:
        assert_contract("microsoft.graph.scheduleInformation", info)
        assert len(info["availabilityView"]) == 9 and set(info["availabilityView"]) <= set("01234")
        assert {"scheduleId", "availabilityView", "scheduleItems", "workingHours"} <= set(info)
        for item in info["scheduleItems"]:
            assert item["status"] in ("tentative", "busy", "oof", "workingElsewhere")
            assert item["start"]["timeZone"] == "Pacific Standard Time"
    assert data["value"][5]["error"]["responseCode"] == "5016"
    assert data["value"][4]["scheduleItems"][0].keys() >= {"isPrivate", "subject", "location"}


async def test_subscription_and_notification_shapes(emu: Emu) -> None:
    received: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        if "validationToken" in request.query:
            return web.Response(text=request.query["validationToken"], content_type="text/plain")
        received.append(await request.json())
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/graph/notify", handle)
    async with serve(app) as root:
        # graph-facts §5 documented create body
        body = {
            "changeType": "created,updated,deleted",
            "notificationUrl": f"{root}/graph/notify",
            "lifecycleNotificationUrl": f"{root}/graph/notify",
            "resource": "me/events",
            "expirationDateTime": fmt_stamp(T0 + timedelta(days=2)),
            "clientState": "<secret <=128 chars>",
            "latestSupportedTlsVersion": "v1_2",
        }
        sub = (await emu.post(ADELE, "/subscriptions", body)).json()
        assert_contract("microsoft.graph.subscription", sub)
        assert {
            "id",
            "resource",
            "applicationId",
            "changeType",
            "clientState",
            "notificationUrl",
            "lifecycleNotificationUrl",
            "expirationDateTime",
            "creatorId",
            "includeResourceData",
            "latestSupportedTlsVersion",
            "encryptionCertificate",
            "encryptionCertificateId",
            "notificationUrlAppId",
            "notificationQueryOptions",
        } <= set(sub)
        listing = (await emu.get(ADELE, "/subscriptions")).json()
        assert_contract("microsoft.graph.subscriptionCollectionResponse", listing)
        emu.state.add_event(ADELE, "poke", T0 + timedelta(hours=3), T0 + timedelta(hours=4))
        await emu.state.notifier.drain()
    [note] = received[0]["value"]
    assert set(note) == {
        "id",
        "subscriptionId",
        "subscriptionExpirationDateTime",
        "clientState",
        "changeType",
        "resource",
        "tenantId",
        "resourceData",
    }
    assert re.fullmatch(r"Users/[0-9a-f-]{36}/Events/[A-Za-z0-9+/=]+", note["resource"])


async def test_delta_items_and_documented_removed_shape(emu: Emu) -> None:
    window = {"startDateTime": "2030-03-04T00:00:00Z", "endDateTime": "2030-03-06T00:00:00Z"}
    body = (await emu.get(PRIYA, "/me/calendarView/delta", params=window)).json()
    while "@odata.nextLink" in body:
        for item in body["value"]:
            assert item["@odata.type"] == "#microsoft.graph.event"
            assert_contract("microsoft.graph.event", item)
        body = (await emu.get(PRIYA, body["@odata.nextLink"])).json()
    assert body["@odata.context"].endswith("$metadata#Collection(event)")
    mine = (await emu.get(PRIYA, "/me/events", params={"$top": "500"})).json()["value"]
    single = next(
        e for e in mine if e["type"] == "singleInstance" and "2030-03-04" <= e["start"]["dateTime"] < "2030-03-06"
    )
    await emu.delete(PRIYA, f"/me/events/{quote(single['id'], safe='')}")
    changes = (await emu.get(PRIYA, body["@odata.deltaLink"])).json()["value"]
    assert {"@odata.type": "#microsoft.graph.event", "id": single["id"], "@removed": {"reason": "deleted"}} in changes


async def test_created_event_matches_schema_and_facts_example(emu: Emu) -> None:
    body = {
        "subject": "Let's go for lunch",
        "body": {"contentType": "HTML", "content": "Does noon work for you?"},
        "start": {"dateTime": "2030-03-05T12:00:00", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2030-03-05T14:00:00", "timeZone": "Pacific Standard Time"},
        "location": {"displayName": "Harry's Bar"},
        "attendees": [
            {"emailAddress": {"address": "samanthab@contoso.example", "name": "Samantha Booth"}, "type": "required"}
        ],
        "allowNewTimeProposals": True,
        "transactionId": "7E163156-7762-4BEB-A1C6-729EA81755A7",
        "isOnlineMeeting": True,
        "onlineMeetingProvider": "teamsForBusiness",
    }
    r = await emu.post(ADELE, "/me/events", body)
    assert r.status_code == 201
    event = r.json()
    assert_contract("microsoft.graph.event", event)
    assert event["location"]["displayName"] == "Harry's Bar" and event["location"]["uniqueIdType"] == "private"
    assert event["attendees"][0]["status"] == {"response": "none", "time": "0001-01-01T00:00:00Z"}
    assert event["start"] == {"dateTime": "2030-03-05T12:00:00.0000000", "timeZone": "Pacific Standard Time"}
