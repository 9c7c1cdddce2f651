"""Graph emulator: calendarView windows, paging, $select/$orderby/$top, Prefer zones, recurrence
expansion across DST, all-day events, and calendarView delta."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.graph.emulator_fixtures import (
    ADELE,
    MEGAN,
    T0,
    Emu,
    assert_contract,
    assert_graph_error,
    running,
)

DAY = {"startDateTime": "2030-03-04T00:00:00Z", "endDateTime": "2030-03-05T00:00:00Z"}


@pytest.fixture
async def emu() -> AsyncIterator[Emu]:
    async with running() as e:
        yield e


async def view(
    emu: Emu,
    params: Mapping[str, str],
    who: str = ADELE,
    path: str = "/me/calendarView",
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every instance in the window, following nextLinks."""
    r = await emu.get(who, path, params=params, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    items = list(body["value"])
    while "@odata.nextLink" in body:
        body = (await emu.get(who, body["@odata.nextLink"], headers=headers)).json()
        items += body["value"]
    return items


async def test_window_is_required(emu: Emu) -> None:
    msg = "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime."
    assert_graph_error(await emu.get(ADELE, "/me/calendarView"), 400, "ErrorInvalidParameter", msg)
    r = await emu.get(ADELE, "/me/calendarView", params={"startDateTime": "2030-03-04T00:00:00Z"})
    assert_graph_error(r, 400, "ErrorInvalidParameter", msg)
    r = await emu.get(ADELE, "/me/calendarView", params={"startDateTime": "yesterday", "endDateTime": "today"})
    assert_graph_error(r, 400, "ErrorInvalidParameter")
    r = await emu.get(
        ADELE,
        "/me/calendarView",
        params={"startDateTime": "2020-01-01T00:00:00Z", "endDateTime": "2030-01-01T00:00:00Z"},
    )
    assert_graph_error(r, 400, "ErrorInvalidRequest")


async def test_offsets_are_honoured_and_no_offset_means_utc(emu: Emu) -> None:
    emu.state.add_event(ADELE, "Early UTC", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    utc = await view(emu, {"startDateTime": "2030-03-04T00:00:00", "endDateTime": "2030-03-04T03:00:00"})
    assert [e["subject"] for e in utc] == ["Early UTC"]
    pacific = await view(
        emu, {"startDateTime": "2030-03-04T00:00:00-08:00", "endDateTime": "2030-03-04T03:00:00-08:00"}
    )
    assert pacific == []  # 08:00-11:00 UTC
    # an unencoded '+' in a query string is a space: the offset is lost and Graph rejects the value
    r = await emu.http.get(
        f"{emu.graph}/me/calendarView?startDateTime=2030-03-04T00:00:00+01:00&endDateTime=2030-03-05T00:00:00Z",
        headers=emu.headers(ADELE),
    )
    assert r.status_code == 400


async def test_default_page_is_10_with_absolute_next_links(emu: Emu) -> None:
    for i in range(23):
        emu.state.add_event(ADELE, f"e{i:02d}", T0 + timedelta(minutes=30 * i), T0 + timedelta(minutes=30 * i + 20))
    first = (await emu.get(ADELE, "/me/calendarView", params=DAY)).json()
    assert len(first["value"]) == 10
    link = first["@odata.nextLink"]
    assert link.startswith(f"{emu.graph}/me/calendarView?") and "$skip=10" in link
    assert "startDateTime=2030-03-04T00:00:00Z" in link
    assert_contract("microsoft.graph.eventCollectionResponse", first)
    every = await view(emu, DAY)
    assert sorted(e["subject"] for e in every) == [f"e{i:02d}" for i in range(23)]
    assert len({e["id"] for e in every}) == 23
    big = (await emu.get(ADELE, "/me/calendarView", params={**DAY, "$top": "500"})).json()
    assert len(big["value"]) == 23 and "@odata.nextLink" not in big
    top5 = (await emu.get(ADELE, "/me/calendarView", params={**DAY, "$top": "5"})).json()
    assert "$top=5" in top5["@odata.nextLink"] and "$skip=5" in top5["@odata.nextLink"]
    r = await emu.get(ADELE, "/me/calendarView", params={**DAY, "$top": "lots"})
    assert_graph_error(r, 400, "BadRequest")


async def test_order_only_with_orderby(emu: Emu) -> None:
    for i in range(8):
        emu.state.add_event(ADELE, f"e{i}", T0 + timedelta(hours=i), T0 + timedelta(hours=i, minutes=30))
    plain = [e["subject"] for e in await view(emu, DAY)]
    ordered = [e["subject"] for e in await view(emu, {**DAY, "$orderby": "start/dateTime"})]
    assert ordered == [f"e{i}" for i in range(8)]
    assert plain != ordered and sorted(plain) == ordered
    desc = [e["subject"] for e in await view(emu, {**DAY, "$orderby": "start/dateTime desc"})]
    assert desc == ordered[::-1]


async def test_select_returns_only_the_asked_properties(emu: Emu) -> None:
    emu.state.add_event(ADELE, "Call", T0 + timedelta(hours=9), T0 + timedelta(hours=10), is_online_meeting=True)
    [item] = await view(emu, {**DAY, "$select": "subject,start,end"})
    assert set(item) == {"@odata.etag", "id", "subject", "start", "end"}
    [meeting] = await view(emu, {**DAY, "$select": "onlineMeeting"})
    assert meeting["onlineMeeting"] is None  # joinUrl needs isOnlineMeeting in $select on calendarView
    [both] = await view(emu, {**DAY, "$select": "onlineMeeting,isOnlineMeeting"})
    assert both["onlineMeeting"]["joinUrl"].startswith("https://teams.microsoft.com/")
    r = await emu.get(ADELE, "/me/calendarView", params={**DAY, "$select": "subjekt"})
    assert_graph_error(
        r, 400, "RequestBroker--ParseUri", "Could not find a property named 'subjekt' on type 'microsoft.graph.event'."
    )


async def test_prefer_timezone_sets_response_zone(emu: Emu) -> None:
    emu.state.add_event(ADELE, "Call", T0 + timedelta(hours=17), T0 + timedelta(hours=18, minutes=30))
    [utc] = await view(emu, DAY)
    assert utc["start"] == {"dateTime": "2030-03-04T17:00:00.0000000", "timeZone": "UTC"}
    [iana] = await view(emu, DAY, headers={"Prefer": 'outlook.timezone="America/Los_Angeles"'})
    assert iana["end"] == {"dateTime": "2030-03-04T10:30:00.0000000", "timeZone": "America/Los_Angeles"}
    [win] = await view(emu, DAY, headers={"Prefer": 'outlook.timezone="W. Europe Standard Time", odata.maxpagesize=5'})
    assert win["start"] == {"dateTime": "2030-03-04T18:00:00.0000000", "timeZone": "W. Europe Standard Time"}
    r = await emu.get(ADELE, "/me/calendarView", params=DAY, headers={"Prefer": 'outlook.timezone="Mars/Olympus"'})
    assert_graph_error(r, 400, "TimeZoneNotSupportedException")
    r = await emu.get(ADELE, "/me/calendarView", params=DAY, headers={"Prefer": 'outlook.timezone=""'})
    assert_graph_error(r, 400, "TimeZoneNotSupportedException")


async def test_calendar_view_variants_and_calendars(emu: Emu) -> None:
    side = emu.state.add_calendar(ADELE, "Side")
    emu.state.add_event(ADELE, "main", T0 + timedelta(hours=9), T0 + timedelta(hours=10))
    emu.state.add_event(ADELE, "side", T0 + timedelta(hours=9), T0 + timedelta(hours=10), calendar_id=side["id"])
    assert [e["subject"] for e in await view(emu, DAY)] == ["main"]
    assert [e["subject"] for e in await view(emu, DAY, path="/me/calendar/calendarView")] == ["main"]
    from urllib.parse import quote

    assert [
        e["subject"] for e in await view(emu, DAY, path=f"/me/calendars/{quote(side['id'], safe='')}/calendarView")
    ] == ["side"]


async def test_weekly_recurrence_keeps_wall_time_across_dst(emu: Emu) -> None:
    # 09:00 Los Angeles every Monday; US DST starts 2030-03-10.
    start = datetime(2030, 3, 4, 17, tzinfo=UTC)
    emu.state.add_event(
        ADELE,
        "Standup",
        start,
        start + timedelta(minutes=15),
        time_zone="Pacific Standard Time",
        recurrence={
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "noEnd", "startDate": "2030-03-04"},
        },
    )
    items = await view(
        emu,
        {"startDateTime": "2030-03-01T00:00:00Z", "endDateTime": "2030-03-20T00:00:00Z", "$orderby": "start/dateTime"},
    )
    assert [i["start"]["dateTime"] for i in items] == [
        "2030-03-04T17:00:00.0000000",
        "2030-03-11T16:00:00.0000000",
        "2030-03-18T16:00:00.0000000",
    ]
    local = await view(
        emu,
        {"startDateTime": "2030-03-01T00:00:00Z", "endDateTime": "2030-03-20T00:00:00Z"},
        headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'},
    )
    assert {i["start"]["dateTime"][11:] for i in local} == {"09:00:00.0000000"}


@pytest.mark.parametrize(
    ("recurrence", "expected"),
    [
        (
            {"pattern": {"type": "daily", "interval": 2}, "range": {"type": "numbered", "numberOfOccurrences": 3}},
            ["2030-03-04", "2030-03-06", "2030-03-08"],
        ),
        (
            {
                "pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "thursday"]},
                "range": {"type": "endDate", "endDate": "2030-03-21"},
            },
            ["2030-03-04", "2030-03-07", "2030-03-18", "2030-03-21"],
        ),
        (
            {
                "pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
                "range": {"type": "numbered", "numberOfOccurrences": 3},
            },
            ["2030-03-31", "2030-04-30", "2030-05-31"],
        ),
        (
            {
                "pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"},
                "range": {"type": "numbered", "numberOfOccurrences": 2},
            },
            ["2030-03-29", "2030-04-26"],
        ),
    ],
)
async def test_recurrence_patterns_expand(emu: Emu, recurrence: dict[str, Any], expected: list[str]) -> None:
    start = T0 + timedelta(hours=12)
    emu.state.add_event(ADELE, "Series", start, start + timedelta(hours=1), recurrence=recurrence)
    items = await view(
        emu,
        {
            "startDateTime": "2030-03-01T00:00:00Z",
            "endDateTime": "2030-07-01T00:00:00Z",
            "$orderby": "start/dateTime",
            "$top": "100",
        },
    )
    assert [i["start"]["dateTime"][:10] for i in items] == expected
    assert all(i["type"] == "occurrence" for i in items)


async def test_bad_recurrence_is_400(emu: Emu) -> None:
    body = {
        "subject": "x",
        "start": {"dateTime": "2030-03-04T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2030-03-04T10:00:00", "timeZone": "UTC"},
        "recurrence": {"pattern": {"type": "weekly", "interval": 1}, "range": {"type": "noEnd"}},
    }
    r = await emu.post(ADELE, "/me/events", body)
    assert_graph_error(r, 400, "ErrorInvalidRequest")
    assert "daysOfWeek" in r.json()["error"]["message"]


async def test_all_day_events_match_the_window_as_utc_days(emu: Emu) -> None:
    emu.state.add_event(
        ADELE,
        "Holiday",
        date(2030, 3, 5),
        date(2030, 3, 6),
        is_all_day=True,
        show_as="oof",
        time_zone="Pacific Standard Time",
    )
    inside = await view(emu, {"startDateTime": "2030-03-05T00:00:00Z", "endDateTime": "2030-03-05T01:00:00Z"})
    assert [e["subject"] for e in inside] == ["Holiday"]
    # 2030-03-05 00:00-24:00 in Los Angeles is 08:00 UTC on the 5th to 08:00 on the 6th, but Graph
    # matches all-day events as UTC days: a window late on the 5th (UTC) in Los Angeles misses it.
    late = await view(emu, {"startDateTime": "2030-03-06T02:00:00Z", "endDateTime": "2030-03-06T06:00:00Z"})
    assert late == []
    [local] = await view(
        emu,
        {"startDateTime": "2030-03-05T00:00:00Z", "endDateTime": "2030-03-06T00:00:00Z"},
        headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'},
    )
    assert local["start"] == {"dateTime": "2030-03-05T00:00:00.0000000", "timeZone": "Pacific Standard Time"}
    assert local["end"]["dateTime"] == "2030-03-06T00:00:00.0000000" and local["isAllDay"]


async def test_zero_length_events_at_the_window_start_are_included(emu: Emu) -> None:
    emu.state.add_event(ADELE, "Reminder", T0, T0)
    assert [e["subject"] for e in await view(emu, DAY)] == ["Reminder"]


# ------------------------------------------------------------------------------------------- delta


async def delta_round(
    emu: Emu, first: str, headers: dict[str, str] | None = None, params: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], str, int]:
    r = await emu.get(ADELE, first, params=params, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    items, pages = list(body["value"]), 1
    while "@odata.nextLink" in body:
        assert "$skiptoken=" in body["@odata.nextLink"] and "@odata.deltaLink" not in body
        body = (await emu.get(ADELE, body["@odata.nextLink"], headers=headers)).json()
        items += body["value"]
        pages += 1
    assert "$deltatoken=" in body["@odata.deltaLink"]
    return items, body["@odata.deltaLink"], pages


async def test_delta_full_sync_then_changes_and_removals(emu: Emu) -> None:
    ids = [
        emu.state.add_event(ADELE, f"e{i}", T0 + timedelta(hours=i), T0 + timedelta(hours=i, minutes=30))["id"]
        for i in range(5)
    ]
    emu.state.add_event(ADELE, "outside", T0 + timedelta(days=30), T0 + timedelta(days=30, hours=1))
    prefer = {"Prefer": "odata.maxpagesize=2"}
    items, link, pages = await delta_round(emu, "/me/calendarView/delta", prefer, DAY)
    assert pages == 3 and sorted(i["subject"] for i in items) == [f"e{i}" for i in range(5)]
    assert all(i["@odata.type"] == "#microsoft.graph.event" for i in items)
    assert link.startswith(f"{emu.graph}/me/calendarView/delta?$deltatoken=")

    nothing, link2, _ = await delta_round(emu, link)
    assert nothing == []

    emu.state.patch_event(ADELE, ids[0], {"subject": "renamed"})
    emu.state.remove_event(ADELE, ids[1])
    emu.state.patch_event(
        ADELE,
        ids[2],
        {
            "start": {"dateTime": "2030-03-10T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-03-10T10:00:00", "timeZone": "UTC"},
        },
    )
    new = emu.state.add_event(ADELE, "new", T0 + timedelta(hours=20), T0 + timedelta(hours=21))
    changes, link3, _ = await delta_round(emu, link2)
    changed = {c["id"]: c for c in changes}
    assert changed[ids[0]]["subject"] == "renamed" and changed[new["id"]]["subject"] == "new"
    assert changed[ids[1]] == {"@odata.type": "#microsoft.graph.event", "id": ids[1], "@removed": {"reason": "deleted"}}
    assert changed[ids[2]]["@removed"] == {"reason": "deleted"}  # moved out of the window
    assert len(changes) == 4
    assert (await delta_round(emu, link3))[0] == []


async def test_delta_token_expiry_and_unknown_tokens(emu: Emu) -> None:
    emu.state.add_event(ADELE, "e", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    _, link, _ = await delta_round(emu, "/me/calendarView/delta", params=DAY)
    emu.state.expire_delta_tokens(ADELE)
    r = await emu.get(ADELE, link)
    assert_graph_error(r, 410, "resyncRequired")
    restart = r.headers["Location"]
    assert "/me/calendarView/delta?startDateTime=" in restart
    items, _, _ = await delta_round(emu, restart)
    assert [i["subject"] for i in items] == ["e"]
    r = await emu.get(ADELE, "/me/calendarView/delta", params={"$deltatoken": "bogus"})
    assert_graph_error(r, 400, "syncStateNotFound")
    r = await emu.get(ADELE, "/me/calendarView/delta", params={"$skiptoken": "bogus"})
    assert_graph_error(r, 400, "syncStateNotFound")
    r = await emu.get(MEGAN, link.replace("/me/", "/me/"))
    assert_graph_error(r, 400, "syncStateNotFound")  # another mailbox's token


async def test_delta_tokens_expire_on_their_own(emu: Emu) -> None:
    emu.state.change_tracking.delta_token_max_age = timedelta(hours=6)
    emu.state.add_event(ADELE, "e", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    _, link, _ = await delta_round(emu, "/me/calendarView/delta", params=DAY)
    emu.clock.advance(hours=5, minutes=59)
    emu.tokens.clear()
    _, fresh, _ = await delta_round(emu, link)  # still known; its new link starts a new age
    emu.clock.advance(minutes=2)
    emu.tokens.clear()
    r = await emu.get(ADELE, link)  # 6 h 1 min old: Outlook forgot it
    assert_graph_error(r, 410, "syncStateNotFound")
    location = r.headers["Location"]
    assert location.startswith(f"{emu.graph}/me/calendarView/delta?startDateTime=2030-03-04T00:00:00")
    assert "endDateTime=2030-03-05T00:00:00" in location
    items, _, _ = await delta_round(emu, location)  # the Location is a full sync of the window
    assert [i["subject"] for i in items] == ["e"]
    assert (await delta_round(emu, fresh))[0] == []  # 2 minutes old: fine


async def test_a_skip_token_expires_too(emu: Emu) -> None:
    emu.state.change_tracking.delta_token_max_age = timedelta(minutes=10)
    for i in range(3):
        emu.state.add_event(ADELE, f"e{i}", T0 + timedelta(hours=i), T0 + timedelta(hours=i, minutes=30))
    r = await emu.get(ADELE, "/me/calendarView/delta", params=DAY, headers={"Prefer": "odata.maxpagesize=2"})
    next_link = r.json()["@odata.nextLink"]
    emu.clock.advance(minutes=11)
    emu.tokens.clear()
    assert_graph_error(await emu.get(ADELE, next_link), 410, "syncStateNotFound")


async def test_delta_expands_series_and_reports_deleted_occurrences(emu: Emu) -> None:
    master = emu.state.add_event(
        ADELE,
        "Standup",
        T0 + timedelta(hours=9),
        T0 + timedelta(hours=9, minutes=15),
        recurrence={"pattern": {"type": "daily", "interval": 1}, "range": {"type": "noEnd"}},
    )
    window = {"startDateTime": "2030-03-04T00:00:00Z", "endDateTime": "2030-03-07T00:00:00Z"}
    items, link, _ = await delta_round(emu, "/me/calendarView/delta", params=window)
    assert len(items) == 3 and {i["seriesMasterId"] for i in items} == {master["id"]}
    from urllib.parse import quote

    second = sorted(items, key=lambda i: i["start"]["dateTime"])[1]
    await emu.delete(ADELE, f"/me/events/{quote(second['id'], safe='')}")
    changes, _, _ = await delta_round(emu, link)
    removed = [c["id"] for c in changes if "@removed" in c]
    assert removed == [second["id"]]


async def test_delta_honours_prefer_timezone_and_requires_a_window(emu: Emu) -> None:
    emu.state.add_event(ADELE, "e", T0 + timedelta(hours=17), T0 + timedelta(hours=18))
    prefer = {"Prefer": 'outlook.timezone="Pacific Standard Time"'}
    items, _, _ = await delta_round(emu, "/me/calendarView/delta", prefer, DAY)
    assert items[0]["start"]["timeZone"] == "Pacific Standard Time"
    assert_graph_error(await emu.get(ADELE, "/me/calendarView/delta"), 400, "ErrorInvalidParameter")
