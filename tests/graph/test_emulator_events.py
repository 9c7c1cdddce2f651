"""Graph emulator: creating, reading, updating, deleting and cancelling events; transactionId,
Teams meetings and the tenant-policy switch, extended properties and open extensions."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import quote

import pytest

from tests.graph.emulator_fixtures import (
    ADELE,
    MEGAN,
    T0,
    Emu,
    assert_contract,
    assert_graph_error,
    event_body,
    running,
)

TAG = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name SlotwiseBookingId"
NINE, TEN = T0 + timedelta(hours=17), T0 + timedelta(hours=18)  # 09:00-10:00 in Los Angeles


@pytest.fixture
async def emu() -> AsyncIterator[Emu]:
    async with running() as e:
        yield e


def booking(**extra: object) -> dict[str, object]:
    body = event_body(
        "Intro call",
        NINE,
        TEN,
        "America/Los_Angeles",
        attendees=[{"emailAddress": {"address": "ivy@fabrikam.example", "name": "Ivy"}, "type": "Required"}],
        body={"contentType": "html", "content": "<p>Booked with Slotwise.</p>"},
        isOnlineMeeting=True,
        onlineMeetingProvider="teamsForBusiness",
        transactionId="tx-1",
        singleValueExtendedProperties=[{"id": TAG, "value": "bk-1"}],
    )
    body.update(extra)
    return body


def path(event_id: str, suffix: str = "") -> str:
    return f"/me/events/{quote(event_id, safe='')}{suffix}"


async def test_create_returns_201_with_the_full_event(emu: Emu) -> None:
    r = await emu.post(ADELE, "/me/events", booking())
    assert r.status_code == 201
    ev = r.json()
    assert_contract("microsoft.graph.event", ev)
    assert re.fullmatch(r"[A-Za-z0-9+/]+=*", ev["id"]) and ("/" in ev["id"] or "+" in ev["id"])
    assert ev["@odata.etag"] == f'W/"{ev["changeKey"]}"'
    assert ev["start"] == {"dateTime": "2030-03-04T09:00:00.0000000", "timeZone": "America/Los_Angeles"}
    assert ev["end"]["dateTime"] == "2030-03-04T10:00:00.0000000"
    assert ev["originalStartTimeZone"] == "America/Los_Angeles"
    assert ev["attendees"] == [
        {
            "type": "required",
            "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
            "emailAddress": {"name": "Ivy", "address": "ivy@fabrikam.example"},
        }
    ]
    assert ev["organizer"] == {"emailAddress": {"name": "Adele Vance", "address": ADELE}}
    assert ev["isOrganizer"] and ev["responseStatus"] == {"response": "organizer", "time": "0001-01-01T00:00:00Z"}
    assert ev["showAs"] == "busy" and ev["type"] == "singleInstance" and ev["transactionId"] == "tx-1"
    assert re.fullmatch(r"040000008200E00074C5B7101A82E008[0-9A-F]+", ev["iCalUId"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z", ev["createdDateTime"])
    assert "singleValueExtendedProperties" not in ev  # only when expanded
    assert r.headers["Location"].endswith(f"/events('{ev['id']}')")


async def test_teams_meeting_is_attached_with_join_url_and_body_blob(emu: Emu) -> None:
    ev = (await emu.post(ADELE, "/me/events", booking())).json()
    assert ev["isOnlineMeeting"] and ev["onlineMeetingProvider"] == "teamsForBusiness"
    join = ev["onlineMeeting"]["joinUrl"]
    assert re.fullmatch(
        r"https://teams\.microsoft\.com/l/meetup-join/19%3ameeting_[A-Za-z0-9]+%40thread\.v2/0"
        r"\?context=%7b%22tid%22%3a%22[0-9a-f-]+%22%2c%22oid%22%3a%22[0-9a-f-]+%22%7d",
        join,
    )
    assert ev["onlineMeeting"]["conferenceId"].isdigit() and ev["onlineMeeting"]["tollNumber"]
    assert ev["onlineMeetingUrl"] is None
    assert ev["body"]["contentType"] == "html"
    assert "<p>Booked with Slotwise.</p>" in ev["body"]["content"] and join in ev["body"]["content"]
    assert "Microsoft Teams meeting" in ev["bodyPreview"]
    assert ev["location"]["displayName"] == "Microsoft Teams Meeting"


async def test_text_body_is_converted_to_html_for_the_blob(emu: Emu) -> None:
    ev = (await emu.post(ADELE, "/me/events", booking(body={"contentType": "text", "content": "a < b\nline"}))).json()
    assert ev["body"]["contentType"] == "html" and "a &lt; b<br>line" in ev["body"]["content"]


async def test_tenant_policy_silently_drops_the_teams_meeting(emu: Emu) -> None:
    emu.state.user(ADELE).drop_online_meetings = True
    r = await emu.post(ADELE, "/me/events", booking())
    assert r.status_code == 201
    ev = r.json()
    assert ev["isOnlineMeeting"] is False and ev["onlineMeetingProvider"] == "unknown"
    assert ev["onlineMeeting"] is None and "teams.microsoft.com" not in ev["body"]["content"]


async def test_only_teams_is_an_allowed_provider(emu: Emu) -> None:
    ev = (await emu.post(ADELE, "/me/events", booking(onlineMeetingProvider="skypeForBusiness"))).json()
    assert ev["isOnlineMeeting"] is False and ev["onlineMeeting"] is None


async def test_transaction_id_deduplicates_retried_posts(emu: Emu) -> None:
    first = await emu.post(ADELE, "/me/events", booking())
    again = await emu.post(ADELE, "/me/events", booking())
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["onlineMeeting"] == again.json()["onlineMeeting"]
    assert len(emu.state.events(ADELE)) == 1
    other = await emu.post(ADELE, "/me/events", booking(transactionId="tx-2"))
    assert other.json()["id"] != first.json()["id"]
    assert len(emu.state.events(ADELE)) == 2
    # the same transactionId in another mailbox is another event
    megan = await emu.post(MEGAN, "/me/events", booking())
    assert megan.json()["id"] != first.json()["id"]


async def test_get_in_utc_or_preferred_zone(emu: Emu) -> None:
    ev = (await emu.post(ADELE, "/me/events", booking())).json()
    utc = (await emu.get(ADELE, path(ev["id"]))).json()
    assert utc["start"] == {"dateTime": "2030-03-04T17:00:00.0000000", "timeZone": "UTC"}
    assert utc["@odata.context"].endswith("/events/$entity")
    assert_contract("microsoft.graph.event", utc)
    windows = await emu.get(ADELE, path(ev["id"]), headers={"Prefer": 'outlook.timezone="India Standard Time"'})
    assert windows.json()["start"] == {"dateTime": "2030-03-04T22:30:00.0000000", "timeZone": "India Standard Time"}
    assert windows.headers["Preference-Applied"] == 'outlook.timezone="India Standard Time"'
    text = await emu.get(ADELE, path(ev["id"]), headers={"Prefer": 'outlook.body-content-type="text"'})
    assert text.json()["body"]["contentType"] == "text" and "<" not in text.json()["body"]["content"]
    encoded = quote(ev["id"], safe="")
    for variant in (f"/me/calendar/events/{encoded}", f"/users/{ADELE}/events/{encoded}"):
        assert (await emu.get(ADELE, variant)).json()["id"] == ev["id"]


async def test_unencoded_ids_and_bad_ids(emu: Emu) -> None:
    ev = (await emu.post(ADELE, "/me/events", booking())).json()
    raw = await emu.http.get(f"{emu.graph}/me/events/{ev['id']}", headers=emu.headers(ADELE))
    assert raw.status_code in (400, 404)  # the '/' inside the id splits the path, as with Graph
    assert_graph_error(await emu.get(ADELE, path("not-base64!")), 400, "ErrorInvalidIdMalformed", "Id is malformed.")
    gone = ev["id"][:-4] + ("AAA=" if not ev["id"].endswith("AAA=") else "AQA=")
    assert (await emu.get(ADELE, path(gone))).status_code in (400, 404)
    await emu.delete(ADELE, path(ev["id"]))
    assert_graph_error(
        await emu.get(ADELE, path(ev["id"])),
        404,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
    assert_graph_error(await emu.get(MEGAN, path(ev["id"])), 404, "ErrorItemNotFound")


async def test_invalid_bodies_are_rejected_like_graph(emu: Emu) -> None:
    r = await emu.post(ADELE, "/me/events", booking(isOnlineMeetting=True))
    assert_graph_error(r, 400, "RequestBodyRead")
    assert "isOnlineMeetting" in r.json()["error"]["message"]
    bad_zone = booking(start={"dateTime": "2030-03-04T09:00:00", "timeZone": "Greenwich Mean Time"})
    assert_graph_error(
        await emu.post(ADELE, "/me/events", bad_zone),
        400,
        "TimeZoneNotSupportedException",
        "A valid TimeZone value must be specified. The following TimeZone value is not supported: "
        "'Greenwich Mean Time'.",
    )
    assert_graph_error(await emu.post(ADELE, "/me/events", booking(showAs="maybe")), 400, "RequestBodyRead")
    backwards = event_body("x", TEN, NINE)
    assert_graph_error(await emu.post(ADELE, "/me/events", backwards), 400, "ErrorInvalidRequest")
    r = await emu.http.post(
        f"{emu.graph}/me/events",
        content=b"{not json",
        headers={**emu.headers(ADELE), "Content-Type": "application/json"},
    )
    assert_graph_error(r, 400, "BadRequest")
    assert len(emu.state.events(ADELE)) == 0


async def test_enums_are_case_insensitive_and_windows_zones_echo(emu: Emu) -> None:
    ev = (
        await emu.post(
            ADELE,
            "/me/events",
            event_body("x", NINE, TEN, "Pacific Standard Time", showAs="Tentative", importance="HIGH"),
        )
    ).json()
    assert ev["showAs"] == "tentative" and ev["importance"] == "high"
    assert ev["start"] == {"dateTime": "2030-03-04T09:00:00.0000000", "timeZone": "Pacific Standard Time"}


async def test_all_day_events_must_be_midnight_to_midnight(emu: Emu) -> None:
    body = {
        "subject": "Holiday",
        "isAllDay": True,
        "showAs": "oof",
        "start": {"dateTime": "2030-03-05T00:00:00", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2030-03-06T00:00:00", "timeZone": "Pacific Standard Time"},
    }
    ev = (await emu.post(ADELE, "/me/events", body)).json()
    assert ev["isAllDay"] and ev["start"]["dateTime"] == "2030-03-05T00:00:00.0000000"
    utc = (await emu.get(ADELE, path(ev["id"]))).json()
    assert utc["start"] == {"dateTime": "2030-03-05T00:00:00.0000000", "timeZone": "UTC"}  # floating date
    body["end"] = {"dateTime": "2030-03-05T12:00:00", "timeZone": "Pacific Standard Time"}
    assert_graph_error(await emu.post(ADELE, "/me/events", body), 400, "ErrorInvalidRequest")


async def test_patch_merges_and_keeps_the_teams_meeting(emu: Emu) -> None:
    ev = (await emu.post(ADELE, "/me/events", booking())).json()
    moved = await emu.patch(
        ADELE,
        path(ev["id"]),
        {
            "start": {"dateTime": "2030-03-05T11:00:00", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": "2030-03-05T11:30:00", "timeZone": "Pacific Standard Time"},
        },
    )
    assert moved.status_code == 200
    body = moved.json()
    assert body["start"] == {"dateTime": "2030-03-05T11:00:00.0000000", "timeZone": "Pacific Standard Time"}
    assert body["subject"] == "Intro call" and body["attendees"] == ev["attendees"]
    assert body["onlineMeeting"] == ev["onlineMeeting"] and body["body"] == ev["body"]
    assert body["changeKey"] != ev["changeKey"] and body["transactionId"] == "tx-1"
    assert not emu.state.body_blob_lost
    # turning the meeting off is not possible; the provider stays
    off = (await emu.patch(ADELE, path(ev["id"]), {"isOnlineMeeting": False})).json()
    assert off["isOnlineMeeting"] and off["onlineMeeting"]["joinUrl"] == ev["onlineMeeting"]["joinUrl"]


async def test_patch_replaces_collections_whole_as_graph_does(emu: Emu) -> None:
    """A PATCH with ``attendees`` (or ``categories``, ``locations``) replaces the whole collection: whoever
    is not in the list is removed. Extended properties are set by id, the others stay."""
    ev = (await emu.post(ADELE, "/me/events", booking(categories=["Slotwise"]))).json()
    added = (
        await emu.patch(
            ADELE,
            path(ev["id"]),
            {
                "attendees": [
                    *ev["attendees"],
                    {"emailAddress": {"address": MEGAN, "name": "Megan"}, "type": "optional"},
                ]
            },
        )
    ).json()
    assert [a["emailAddress"]["address"] for a in added["attendees"]] == ["ivy@fabrikam.example", MEGAN]
    replaced = (
        await emu.patch(
            ADELE,
            path(ev["id"]),
            {
                "attendees": [{"emailAddress": {"address": "joe@fabrikam.example", "name": "Joe"}, "type": "required"}],
                "categories": ["Red"],
            },
        )
    ).json()
    assert [a["emailAddress"]["address"] for a in replaced["attendees"]] == ["joe@fabrikam.example"]
    assert replaced["categories"] == ["Red"]
    emptied = (await emu.patch(ADELE, path(ev["id"]), {"attendees": []})).json()
    assert emptied["attendees"] == [] and emptied["subject"] == "Intro call"
    placed = (await emu.patch(ADELE, path(ev["id"]), {"location": {"displayName": "HQ 4.01"}})).json()
    assert [loc["displayName"] for loc in placed["locations"]] == ["HQ 4.01"]
    other = "String {00020329-0000-0000-C000-000000000046} Name Other"
    await emu.patch(ADELE, path(ev["id"]), {"singleValueExtendedProperties": [{"id": other, "value": "x"}]})
    stored = emu.state.get_event(ADELE, ev["id"])
    assert stored is not None
    assert sorted(p["value"] for p in stored["singleValueExtendedProperties"]) == ["bk-1", "x"]


async def test_patch_that_drops_the_join_blob_is_recorded(emu: Emu) -> None:
    ev = (await emu.post(ADELE, "/me/events", booking())).json()
    r = await emu.patch(ADELE, path(ev["id"]), {"body": {"contentType": "text", "content": "New agenda"}})
    assert r.json()["body"] == {"contentType": "text", "content": "New agenda"}
    assert emu.state.body_blob_lost == [ev["id"]]


async def test_patch_can_turn_an_event_into_a_teams_meeting(emu: Emu) -> None:
    ev = (await emu.post(ADELE, "/me/events", event_body("Plain", NINE, TEN))).json()
    assert not ev["isOnlineMeeting"]
    online = (
        await emu.patch(ADELE, path(ev["id"]), {"isOnlineMeeting": True, "onlineMeetingProvider": "teamsForBusiness"})
    ).json()
    assert online["isOnlineMeeting"] and online["onlineMeeting"]["joinUrl"] in online["body"]["content"]


async def test_delete_then_404(emu: Emu) -> None:
    ev = (await emu.post(ADELE, "/me/events", booking())).json()
    r = await emu.delete(ADELE, path(ev["id"]))
    assert r.status_code == 204 and r.content == b""
    assert_graph_error(await emu.delete(ADELE, path(ev["id"])), 404, "ErrorItemNotFound")
    assert emu.state.events(ADELE) == []


async def test_cancel_is_organizer_only_and_removes_the_event(emu: Emu) -> None:
    ev = (await emu.post(ADELE, "/me/events", booking())).json()
    r = await emu.post(ADELE, path(ev["id"], "/cancel"), {"comment": "Sorry, something came up."})
    assert r.status_code == 202 and r.content == b""
    assert emu.state.cancellations[-1] == {
        "mailbox": ADELE,
        "eventId": ev["id"],
        "comment": "Sorry, something came up.",
        "attendees": ["ivy@fabrikam.example"],
    }
    assert_graph_error(await emu.get(ADELE, path(ev["id"])), 404, "ErrorItemNotFound")

    invite = emu.state.add_event(ADELE, "Megan's meeting", NINE, TEN, organizer=MEGAN)
    assert invite["isOrganizer"] is False
    r = await emu.post(ADELE, path(invite["id"], "/cancel"), {"Comment": "no"})
    assert_graph_error(
        r,
        400,
        "ErrorInvalidRequest",
        "Your request can't be completed. You need to be an organizer to cancel a meeting.",
    )


async def test_extended_property_tag_filter_and_expand(emu: Emu) -> None:
    ours = (await emu.post(ADELE, "/me/events", booking())).json()
    emu.state.add_event(ADELE, "Lunch", NINE + timedelta(hours=3), TEN + timedelta(hours=3))
    other_tag = booking(transactionId="tx-9", singleValueExtendedProperties=[{"id": TAG, "value": "bk-9"}])
    await emu.post(ADELE, "/me/events", other_tag)
    flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{TAG}' and ep/value eq 'bk-1')"
    found = (await emu.get(ADELE, "/me/events", params={"$filter": flt})).json()["value"]
    assert [e["id"] for e in found] == [ours["id"]]
    tagged = (
        await emu.get(
            ADELE, "/me/events", params={"$filter": f"singleValueExtendedProperties/any(ep: ep/id eq '{TAG}')"}
        )
    ).json()["value"]
    assert len(tagged) == 2
    expand = f"singleValueExtendedProperties($filter=id eq '{TAG}')"
    got = (await emu.get(ADELE, path(ours["id"]), params={"$expand": expand})).json()
    assert got["singleValueExtendedProperties"] == [{"id": TAG, "value": "bk-1"}]
    view = (
        await emu.get(
            ADELE,
            "/me/calendarView",
            params={
                "startDateTime": "2030-03-04T00:00:00Z",
                "endDateTime": "2030-03-05T00:00:00Z",
                "$expand": expand,
                "$filter": flt,
            },
        )
    ).json()["value"]
    assert [(e["id"], e["singleValueExtendedProperties"]) for e in view] == [
        (ours["id"], [{"id": TAG, "value": "bk-1"}])
    ]
    unsupported = await emu.get(ADELE, "/me/events", params={"$filter": "contains(subject, 'x')"})
    assert_graph_error(unsupported, 400, "BadRequest")


async def test_open_extensions_roundtrip(emu: Emu) -> None:
    ext = {
        "@odata.type": "microsoft.graph.openTypeExtension",
        "extensionName": "com.slotwise.booking",
        "bookingId": "bk-1",
    }
    ev = (await emu.post(ADELE, "/me/events", booking(extensions=[ext]))).json()
    plain = (await emu.get(ADELE, path(ev["id"]))).json()
    assert "extensions" not in plain
    got = (await emu.get(ADELE, path(ev["id"]), params={"$expand": "extensions"})).json()
    assert got["extensions"] == [
        {
            "@odata.type": "#microsoft.graph.openTypeExtension",
            "id": "Microsoft.OutlookServices.OpenTypeExtension.com.slotwise.booking",
            "extensionName": "com.slotwise.booking",
            "bookingId": "bk-1",
        }
    ]


async def test_list_events_returns_series_masters_unexpanded(emu: Emu) -> None:
    emu.state.add_event(
        ADELE,
        "Standup",
        NINE,
        NINE + timedelta(minutes=15),
        recurrence={
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "numberOfOccurrences": 5},
        },
    )
    emu.state.add_event(ADELE, "Single", TEN, TEN + timedelta(hours=1))
    events = (await emu.get(ADELE, "/me/events", params={"$orderby": "start/dateTime"})).json()
    assert [(e["subject"], e["type"]) for e in events["value"]] == [
        ("Standup", "seriesMaster"),
        ("Single", "singleInstance"),
    ]
    master = events["value"][0]
    assert master["recurrence"]["pattern"]["type"] == "daily"
    assert master["recurrence"]["range"]["numberOfOccurrences"] == 5
    assert_contract("microsoft.graph.eventCollectionResponse", events)


async def test_occurrences_can_be_changed_or_deleted_alone(emu: Emu) -> None:
    master = emu.state.add_event(
        ADELE,
        "Standup",
        NINE,
        NINE + timedelta(minutes=15),
        time_zone="America/Los_Angeles",
        recurrence={
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "numberOfOccurrences": 3},
        },
    )
    window = {
        "startDateTime": "2030-03-04T00:00:00Z",
        "endDateTime": "2030-03-08T00:00:00Z",
        "$orderby": "start/dateTime",
    }
    occ = (await emu.get(ADELE, "/me/calendarView", params=window)).json()["value"]
    assert [o["type"] for o in occ] == ["occurrence"] * 3 and {o["seriesMasterId"] for o in occ} == {master["id"]}
    assert len({o["iCalUId"] for o in occ}) == 3 and occ[0]["originalStart"].endswith("Z")
    second, third = occ[1], occ[2]
    patched = (
        await emu.patch(
            ADELE,
            path(second["id"]),
            {
                "subject": "Standup (moved)",
                "start": {"dateTime": "2030-03-05T10:00:00", "timeZone": "America/Los_Angeles"},
                "end": {"dateTime": "2030-03-05T10:15:00", "timeZone": "America/Los_Angeles"},
            },
        )
    ).json()
    assert patched["type"] == "exception" and patched["id"] == second["id"]
    assert (await emu.delete(ADELE, path(third["id"]))).status_code == 204
    after = (await emu.get(ADELE, "/me/calendarView", params=window)).json()["value"]
    assert [(o["subject"], o["type"], o["start"]["dateTime"][11:16]) for o in after] == [
        ("Standup", "occurrence", "17:00"),
        ("Standup (moved)", "exception", "18:00"),
    ]
    assert_graph_error(await emu.get(ADELE, path(third["id"])), 404, "ErrorItemNotFound")
    instances = (await emu.get(ADELE, path(master["id"], "/instances"), params=window)).json()["value"]
    assert len(instances) == 2
    r = await emu.patch(ADELE, path(second["id"]), {"recurrence": {"pattern": {"type": "daily"}}})
    assert_graph_error(r, 400, "ErrorInvalidRequest")


async def test_cancelling_one_occurrence(emu: Emu) -> None:
    emu.state.add_event(
        ADELE,
        "Weekly",
        NINE,
        TEN,
        recurrence={"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}, "range": {"type": "noEnd"}},
    )
    window = {"startDateTime": "2030-03-01T00:00:00Z", "endDateTime": "2030-03-22T00:00:00Z"}
    occ = (await emu.get(ADELE, "/me/calendarView", params=window)).json()["value"]
    assert len(occ) == 3
    assert (await emu.post(ADELE, path(occ[0]["id"], "/cancel"), {})).status_code == 202
    assert len((await emu.get(ADELE, "/me/calendarView", params=window)).json()["value"]) == 2


async def test_shared_calendar_writes_need_edit_rights(emu: Emu) -> None:
    readonly = emu.state.add_calendar(ADELE, "Team", can_edit=False, owner_upn=MEGAN)
    editable = emu.state.add_calendar(ADELE, "Rota", can_edit=True, owner_upn=MEGAN)
    r = await emu.post(ADELE, f"/me/calendars/{quote(readonly['id'], safe='')}/events", event_body("x", NINE, TEN))
    assert_graph_error(r, 403, "ErrorAccessDenied")
    ok = await emu.post(ADELE, f"/me/calendars/{quote(editable['id'], safe='')}/events", event_body("x", NINE, TEN))
    assert ok.status_code == 201
    assert ok.json()["organizer"]["emailAddress"]["address"] == MEGAN  # the calendar owner's event
    assert [e["subject"] for e in emu.state.events(MEGAN, editable["id"])] == ["x"]
    assert emu.state.events(ADELE) == []


async def test_python_api_add_event_validates_like_post(emu: Emu) -> None:
    with pytest.raises(ValueError, match="aware"):
        emu.state.add_event(ADELE, "naive", NINE.replace(tzinfo=None), TEN)
    from graph.sandbox.errors import GraphError

    with pytest.raises(GraphError):
        emu.state.add_event(ADELE, "bad", TEN, NINE)
    ev = emu.state.add_event(
        ADELE,
        "ok",
        NINE,
        TEN,
        time_zone="Europe/London",
        attendees=["x@y.example"],
        location="Room 1",
        body="hello",
        categories=["Blue"],
    )
    assert ev["start"]["timeZone"] == "Europe/London" and ev["location"]["displayName"] == "Room 1"
    assert emu.state.events(ADELE)[0]["categories"] == ["Blue"]
