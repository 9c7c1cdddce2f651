"""Graph emulator: getSchedule free/busy (availabilityView, items, working hours, limits, errors)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from tests.graph.emulator_fixtures import (
    ADELE,
    MEGAN,
    PRIYA,
    T0,
    Emu,
    assert_contract,
    assert_graph_error,
    running,
)


@pytest.fixture
async def emu() -> AsyncIterator[Emu]:
    async with running() as e:
        yield e


def request(
    schedules: list[str],
    start: str = "2030-03-04T09:00:00",
    end: str = "2030-03-04T12:00:00",
    zone: str = "UTC",
    interval: int | None = 60,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schedules": schedules,
        "startTime": {"dateTime": start, "timeZone": zone},
        "endTime": {"dateTime": end, "timeZone": zone},
    }
    if interval is not None:
        body["availabilityViewInterval"] = interval
    return body


async def schedule(emu: Emu, body: dict[str, Any], who: str = ADELE, **kw: Any) -> list[dict[str, Any]]:
    r = await emu.post(who, "/me/calendar/getSchedule", body, **kw)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["@odata.context"].endswith("$metadata#Collection(microsoft.graph.scheduleInformation)")
    return list(data["value"])


async def test_availability_view_digits_take_the_strongest_status(emu: Emu) -> None:
    def h(n: int) -> datetime:
        return T0 + timedelta(hours=n)

    emu.state.add_event(MEGAN, "Busy", h(9), h(10))
    emu.state.add_event(MEGAN, "Maybe", h(10), h(11), show_as="tentative")
    emu.state.add_event(MEGAN, "Away", h(10) + timedelta(minutes=30), h(11), show_as="oof")
    emu.state.add_event(MEGAN, "Remote", h(11), h(12), show_as="workingElsewhere")
    emu.state.add_event(MEGAN, "Free", h(12), h(13), show_as="free")
    [info] = await schedule(emu, request([MEGAN], end="2030-03-04T14:00:00"))
    assert info["scheduleId"] == MEGAN
    assert info["availabilityView"] == "23400"
    assert [(i["status"], i["start"]["dateTime"]) for i in info["scheduleItems"]] == [
        ("busy", "2030-03-04T09:00:00.0000000"),
        ("tentative", "2030-03-04T10:00:00.0000000"),
        ("oof", "2030-03-04T10:30:00.0000000"),
        ("workingElsewhere", "2030-03-04T11:00:00.0000000"),
    ]
    assert info["scheduleItems"][0]["start"]["timeZone"] == "UTC"
    assert set(info["scheduleItems"][0]) == {"status", "start", "end"}  # a colleague: no details
    assert info["workingHours"]["timeZone"] == {"name": "Europe/London"}
    assert info["workingHours"]["startTime"] == "09:00:00.0000000"
    assert_contract("microsoft.graph.scheduleInformation", info)


async def test_view_length_is_ceil_of_window_over_interval(emu: Emu) -> None:
    [info] = await schedule(emu, request([MEGAN], start="2030-03-04T09:00:00", end="2030-03-04T10:10:00", interval=30))
    assert info["availabilityView"] == "000"
    [default] = await schedule(emu, request([MEGAN], interval=None))
    assert len(default["availabilityView"]) == 6  # 30 minutes by default
    for bad in (4, 1441):
        r = await emu.post(ADELE, "/me/calendar/getSchedule", request([MEGAN], interval=bad))
        assert_graph_error(r, 400, "ErrorInvalidParameter")


async def test_own_mailbox_items_have_details_private_ones_included(emu: Emu) -> None:
    emu.state.add_event(
        ADELE, "Dentist", T0 + timedelta(hours=9), T0 + timedelta(hours=10), sensitivity="private", location="Clinic"
    )
    emu.state.add_event(MEGAN, "Secret", T0 + timedelta(hours=9), T0 + timedelta(hours=10), sensitivity="private")
    emu.state.add_event(MEGAN, "Review", T0 + timedelta(hours=10), T0 + timedelta(hours=11), location="Room 1")
    own, colleague = await schedule(emu, request([ADELE, MEGAN]))
    [dentist] = own["scheduleItems"]
    assert {k: v for k, v in dentist.items() if k not in ("start", "end")} == {
        "isPrivate": True,
        "subject": "Dentist",
        "location": "Clinic",
        "status": "busy",
    }
    assert all("subject" not in i for i in colleague["scheduleItems"])
    # once Megan shares her calendar, non-private details show
    emu.state.add_calendar(ADELE, "Calendar", can_edit=False, owner_upn=MEGAN)
    [shared] = await schedule(emu, request([MEGAN]))
    assert [(i.get("subject"), i["isPrivate"]) for i in shared["scheduleItems"]] == [(None, True), ("Review", False)]


async def test_prefer_zone_and_request_zones(emu: Emu) -> None:
    emu.state.add_event(MEGAN, "Busy", T0 + timedelta(hours=17), T0 + timedelta(hours=18))
    body = request([MEGAN], start="2030-03-04T08:00:00", end="2030-03-04T12:00:00", zone="Pacific Standard Time")
    [info] = await schedule(emu, body, headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'})
    assert info["availabilityView"] == "0200"
    assert info["scheduleItems"][0]["start"] == {
        "dateTime": "2030-03-04T09:00:00.0000000",
        "timeZone": "Pacific Standard Time",
    }
    bad = request([MEGAN], zone="Greenwich Mean Time")
    assert_graph_error(await emu.post(ADELE, "/me/calendar/getSchedule", bad), 400, "TimeZoneNotSupportedException")
    r = await emu.post(ADELE, "/me/calendar/getSchedule", request([MEGAN]), headers={"Prefer": 'outlook.timezone="x"'})
    assert_graph_error(r, 400, "TimeZoneNotSupportedException")


async def test_recurring_and_all_day_and_cancelled(emu: Emu) -> None:
    first = T0 - timedelta(days=7) + timedelta(hours=4)  # 09:30 in India, daily from a week before
    emu.state.add_event(
        PRIYA,
        "Check-in",
        first,
        first + timedelta(minutes=30),
        recurrence={"pattern": {"type": "daily", "interval": 1}, "range": {"type": "noEnd"}},
    )
    emu.state.add_event(PRIYA, "Holiday", date(2030, 3, 5), date(2030, 3, 6), is_all_day=True, show_as="oof")
    gone = emu.state.add_event(PRIYA, "Cancelled", T0 + timedelta(hours=6), T0 + timedelta(hours=7))
    emu.state.cancel_event(emu.state.user(PRIYA), gone["id"])
    body = request([PRIYA], start="2030-03-04T00:00:00", end="2030-03-06T00:00:00", interval=1440)
    [info] = await schedule(emu, body)
    subjects = [(i["status"], i["start"]["dateTime"]) for i in info["scheduleItems"]]
    # the all-day event blocks midnight to midnight in Priya's mailbox zone (India, UTC+05:30)
    assert ("oof", "2030-03-04T18:30:00.0000000") in subjects
    assert [s for s in subjects if s[0] == "busy"] == [
        ("busy", "2030-03-04T04:00:00.0000000"),
        ("busy", "2030-03-05T04:00:00.0000000"),
    ]
    assert info["availabilityView"] == "33"


async def test_per_schedule_errors_inside_a_200(emu: Emu) -> None:
    emu.state.add_user(upn="off@contoso.example", display_name="Off")
    emu.state.user("off@contoso.example").mailbox_enabled = False
    emu.state.add_user(upn="zoe@fabrikam.example", display_name="Zoe", tenant_id="11111111-2222-4333-8444-555555555555")
    wanted = [
        MEGAN,
        "nobody@contoso.example",
        "stranger@elsewhere.example",
        "off@contoso.example",
        "zoe@fabrikam.example",
    ]
    info = await schedule(emu, request(wanted))
    assert [i["scheduleId"] for i in info] == wanted
    assert "error" not in info[0]
    assert info[1] == {
        "scheduleId": "nobody@contoso.example",
        "scheduleItems": None,
        "error": {"message": info[1]["error"]["message"], "responseCode": "5016"},
    }
    assert info[2] == {
        "scheduleId": "stranger@elsewhere.example",
        "error": {
            "message": "Unable to resolve e-mail address stranger@elsewhere.example to an Active Directory object.",
            "responseCode": "5009",
        },
    }
    assert info[3]["error"]["responseCode"] == "5016" and info[4]["error"]["responseCode"] == "5009"


async def test_limits_20_schedules_and_62_days(emu: Emu) -> None:
    many = [f"p{i}@contoso.example" for i in range(21)]
    assert_graph_error(await emu.post(ADELE, "/me/calendar/getSchedule", request(many)), 400, "ErrorInvalidParameter")
    assert len(await schedule(emu, request(many[:20]))) == 20
    too_long = request([MEGAN], start="2030-03-01T00:00:00", end="2030-05-03T00:00:00", interval=1440)
    assert_graph_error(
        await emu.post(ADELE, "/me/calendar/getSchedule", too_long),
        400,
        "ErrorTimeIntervalTooBig",
        "The requested time duration specified for FreeBusyViewOptions.TimeWindow is too long. "
        "The allowed limit = 62 days; the actual limit = 63 days.",
    )
    exactly = request([MEGAN], start="2030-03-01T00:00:00", end="2030-05-02T00:00:00", interval=1440)
    assert_graph_error(await emu.post(ADELE, "/me/calendar/getSchedule", exactly), 400, "ErrorTimeIntervalTooBig")
    under = request([MEGAN], start="2030-03-01T00:00:00", end="2030-05-01T23:00:00", interval=1440)
    assert len((await schedule(emu, under))[0]["availabilityView"]) == 62
    assert_graph_error(await emu.post(ADELE, "/me/calendar/getSchedule", request([])), 400, "ErrorInvalidParameter")
    backwards = request([MEGAN], start="2030-03-04T12:00:00", end="2030-03-04T09:00:00")
    assert_graph_error(await emu.post(ADELE, "/me/calendar/getSchedule", backwards), 400, "ErrorInvalidParameter")


async def test_pascal_case_body_and_user_path(emu: Emu) -> None:
    emu.state.add_event(MEGAN, "Busy", T0 + timedelta(hours=9), T0 + timedelta(hours=10))
    body = {
        "Schedules": [MEGAN],
        "StartTime": {"dateTime": "2030-03-04T09:00:00", "timeZone": "UTC"},
        "EndTime": {"dateTime": "2030-03-04T10:00:00", "timeZone": "UTC"},
        "AvailabilityViewInterval": 60,
    }
    r = await emu.post(ADELE, f"/users/{ADELE}/calendar/getSchedule", body)
    assert r.json()["value"][0]["availabilityView"] == "2"
