"""The Graph client against the Graph emulator over real HTTP: paging, batching, throttling, retries,
the per-mailbox concurrency limit, getSchedule splitting and errors, mailbox settings, event lifecycle,
tagging, delta and subscriptions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from graph.errors import (
    CalendarAuthError,
    DeltaTokenExpired,
    GraphNotFound,
    GraphThrottled,
    MailboxNotEnabled,
)
from scheduling.ports import Attendee, EventDraft, Location, LocationKind
from scheduling.rules import BusyStatus
from tests.graph.graph_harness import Emulator, running_emulator

ADELE = "adele@contoso.example"
MEGAN = "megan@contoso.example"
T0 = datetime(2030, 3, 4, 0, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with running_emulator() as e:
        e.state.add_user(upn=ADELE, display_name="Adele Vance", time_zone="Pacific Standard Time")
        e.state.add_user(upn=MEGAN, display_name="Megan Bowen", time_zone="W. Europe Standard Time")
        yield e


def draft(**changes: object) -> EventDraft:
    base = EventDraft(
        subject="Intro call",
        body_text="Booked with Slotwise.\nSee you!",
        start=T0 + timedelta(hours=17),
        end=T0 + timedelta(hours=17, minutes=30),
        time_zone="America/Los_Angeles",
        attendees=(Attendee("Ivy Invitee", "ivy@fabrikam.example"),),
        location=Location(LocationKind.TEAMS),
        transaction_id="tx-1",
        booking_id="bk-1",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_calendar_view_follows_next_links_to_the_end_without_repeating_parameters(emu: Emulator) -> None:
    for i in range(25):
        emu.state.add_event(ADELE, f"e{i:02d}", T0 + timedelta(hours=i), T0 + timedelta(hours=i, minutes=30))
    async with emu.client(page_size=10) as client:
        events = await client.calendar_view(ADELE, T0, T0 + timedelta(days=3))
    assert sorted(e.subject for e in events) == [f"e{i:02d}" for i in range(25)]
    views = emu.graph_requests("/calendarView", "GET")
    assert len(views) == 3
    for record in views:
        assert record.query.lower().count("top=") == 1
        assert record.query.lower().count("startdatetime=") == 1

    emu.state.request_log.clear()
    async with emu.client() as client:  # default $top=500: one round trip
        assert len(await client.calendar_view(ADELE, T0, T0 + timedelta(days=3))) == 25
    assert len(emu.graph_requests("/calendarView")) == 1


async def test_calendar_views_batch_more_than_20_calendars_and_match_answers(emu: Emulator) -> None:
    ids = []
    for i in range(25):
        cal = emu.state.add_calendar(ADELE, f"Cal {i}")
        ids.append(cal["id"])
        emu.state.add_event(
            ADELE, f"in {i}", T0 + timedelta(hours=i), T0 + timedelta(hours=i, minutes=15), calendar_id=cal["id"]
        )
    async with emu.client() as client:
        views = await client.calendar_views(ADELE, ids, T0, T0 + timedelta(days=2), select="id,subject,start,end")
    outer = [r for r in emu.state.request_log if r.path == "/$batch"]
    assert len(outer) == 2
    for i, cid in enumerate(ids):
        events = views[cid]
        assert not isinstance(events, Exception)
        assert [e.subject for e in events] == [f"in {i}"]


async def test_429_is_retried_after_its_retry_after(emu: Emulator) -> None:
    emu.state.faults.throttle(count=2, retry_after=0.05)
    async with emu.client() as client:
        me = await client.me(ADELE)
    assert me.mail == ADELE
    assert emu.sleeps == [0.05, 0.05]
    assert [r.status for r in emu.state.request_log] == [429, 429, 200]


@pytest.mark.parametrize("status", [503, 504])
async def test_503_and_504_are_retried_with_backoff(emu: Emulator, status: int) -> None:
    emu.state.faults.unavailable(count=2, status=status)
    async with emu.client() as client:
        assert (await client.mailbox_settings(ADELE)).time_zone == "America/Los_Angeles"
    assert [r.status for r in emu.state.request_log] == [status, status, 200]
    assert len(emu.sleeps) == 2 and all(0 < s <= 0.05 for s in emu.sleeps)


async def test_retries_are_bounded_then_graph_throttled(emu: Emulator) -> None:
    emu.state.faults.throttle(count=50, retry_after=0.01)
    async with emu.client(max_retries=3) as client:
        with pytest.raises(GraphThrottled) as info:
            await client.me(ADELE)
    assert len(emu.state.request_log) == 4
    assert info.value.retry_after == pytest.approx(0.01)
    assert info.value.request_id  # Graph's request-id travels with the error


async def test_ten_concurrent_calls_for_one_mailbox_stay_under_the_limit(emu: Emulator) -> None:
    emu.state.faults.latency_ms = 40
    emu.state.faults.mailbox_concurrency_limit = 4
    async with emu.client(max_retries=0) as client:
        results = await asyncio.gather(*(client.calendar_view(ADELE, T0, T0 + timedelta(days=1)) for _ in range(10)))
    assert len(results) == 10
    assert all(r.status == 200 for r in emu.state.request_log)

    # control: without the client-side limit the emulator really throttles the fifth request
    async with emu.client(max_retries=0, max_concurrency_per_mailbox=10) as client:
        outcomes = await asyncio.gather(
            *(client.calendar_view(ADELE, T0, T0 + timedelta(days=1)) for _ in range(10)), return_exceptions=True
        )
    assert any(isinstance(o, GraphThrottled) for o in outcomes)


async def test_an_expired_access_token_is_refreshed_transparently(emu: Emulator) -> None:
    cached: dict[str, str] = {}
    forced: list[bool] = []

    async def provider(user_id: str, force_refresh: bool = False) -> str:
        forced.append(force_refresh)
        if force_refresh or user_id not in cached:
            cached[user_id] = emu.state.issue_token(user_id)
        return cached[user_id]

    async with emu.client(token_provider=provider) as client:
        await client.me(ADELE)
        emu.state.expire_tokens(ADELE)
        assert (await client.me(ADELE)).mail == ADELE
    assert forced == [False, False, True]
    assert [r.status for r in emu.state.request_log] == [200, 401, 200]


async def test_a_token_that_keeps_failing_means_reconnect(emu: Emulator) -> None:
    async def provider(user_id: str, force_refresh: bool = False) -> str:
        return "not-a-token"

    async with emu.client(token_provider=provider) as client:
        with pytest.raises(CalendarAuthError) as info:
            await client.me(ADELE)
    assert info.value.reconnect_required


async def test_mailbox_without_exchange_online(emu: Emulator) -> None:
    emu.state.user(ADELE).mailbox_enabled = False
    async with emu.client() as client:
        with pytest.raises(MailboxNotEnabled):
            await client.calendar_view(ADELE, T0, T0 + timedelta(days=1))


async def test_get_schedule_surfaces_per_schedule_errors(emu: Emulator) -> None:
    emu.state.add_event(MEGAN, "Busy", T0 + timedelta(hours=9), T0 + timedelta(hours=10))
    emu.state.add_event(MEGAN, "Maybe", T0 + timedelta(hours=11), T0 + timedelta(hours=12), show_as="tentative")
    emu.state.add_event(MEGAN, "Free", T0 + timedelta(hours=13), T0 + timedelta(hours=14), show_as="free")
    wanted = [MEGAN, "nobody@contoso.example", "stranger@elsewhere.example"]
    async with emu.client() as client:
        result = await client.get_schedule(ADELE, wanted, T0, T0 + timedelta(days=1))
    assert list(result) == wanted
    assert [(i.start.hour, i.status) for i in result[MEGAN].items] == [(9, BusyStatus.BUSY), (11, BusyStatus.TENTATIVE)]
    working_hours = result[MEGAN].working_hours
    assert working_hours is not None
    assert working_hours.time_zone == "Europe/Berlin"
    for bad in wanted[1:]:
        assert result[bad].error is not None and not result[bad].items
    assert result["nobody@contoso.example"].error.graph_code == "5016"  # type: ignore[union-attr]
    assert result["stranger@elsewhere.example"].error.graph_code == "5009"  # type: ignore[union-attr]


async def test_get_schedule_splits_by_20_schedules_and_by_61_days(emu: Emulator) -> None:
    people = [MEGAN] + [f"p{i}@contoso.example" for i in range(24)]
    for upn in people[1:]:
        emu.state.add_user(upn=upn, display_name=upn.split("@")[0])
    async with emu.client() as client:
        result = await client.get_schedule(ADELE, people, T0, T0 + timedelta(days=1))
    assert len(emu.graph_requests("getSchedule")) == 2
    assert all(r.ok for r in result.values())

    emu.state.request_log.clear()
    late = T0 + timedelta(days=70, hours=10)
    emu.state.add_event(MEGAN, "Late", late, late + timedelta(hours=1))
    async with emu.client() as client:
        result = await client.get_schedule(ADELE, [MEGAN], T0, T0 + timedelta(days=90))
    assert len(emu.graph_requests("getSchedule")) == 2
    assert [i.start for i in result[MEGAN].items] == [late]


async def test_mailbox_settings_map_windows_custom_and_missing_zones(emu: Emulator) -> None:
    pst_rule = {
        "@odata.type": "#microsoft.graph.customTimeZone",
        "bias": 480,
        "name": "Customized Time Zone",
        "standardOffset": {
            "time": "02:00:00.0000000",
            "dayOccurrence": 1,
            "dayOfWeek": "sunday",
            "month": 11,
            "year": 0,
        },
        "daylightOffset": {
            "time": "02:00:00.0000000",
            "dayOccurrence": 2,
            "dayOfWeek": "sunday",
            "month": 3,
            "year": 0,
            "daylightBias": -60,
        },
    }
    emu.state.add_user(
        upn="c@contoso.example",
        display_name="C",
        time_zone="Pacific Standard Time",
        working_time_zone=pst_rule,
        working_start="07:30:00",
        working_end="16:00:00",
    )
    emu.state.add_user(upn="n@contoso.example", display_name="N", time_zone="", working_time_zone="Tokyo Standard Time")
    async with emu.client() as client:
        megan = await client.mailbox_settings(MEGAN)
        custom = await client.mailbox_settings("c@contoso.example")
        empty = await client.mailbox_settings("n@contoso.example")
    assert megan.time_zone == "Europe/Berlin" and megan.raw_time_zone == "W. Europe Standard Time"
    assert megan.working_hours is not None and megan.working_hours.days == (0, 1, 2, 3, 4)
    assert custom.working_hours is not None
    assert custom.working_hours.time_zone == "America/Los_Angeles"
    assert (custom.working_hours.start_minute, custom.working_hours.end_minute) == (450, 960)
    assert not empty.time_zone_known and empty.time_zone == "Asia/Tokyo"


async def test_list_calendars_includes_shared_ones(emu: Emulator) -> None:
    emu.state.add_calendar(ADELE, "Team", can_edit=False, owner_upn=MEGAN)
    async with emu.client() as client:
        calendars = await client.list_calendars(ADELE)
    default = next(c for c in calendars if c.is_default)
    assert default.can_edit and default.supports_teams
    shared = next(c for c in calendars if c.name == "Team")
    assert not shared.can_edit and shared.owner_address == MEGAN


async def test_event_lifecycle_keeps_the_teams_meeting_and_tag(emu: Emulator) -> None:
    async with emu.client() as client:
        created = await client.create_event(ADELE, draft())
        again = await client.create_event(ADELE, draft())  # a retried POST: same transactionId
        assert again.id == created.id
        assert len(emu.state.events(ADELE)) == 1
        assert created.join_url and created.join_url.startswith("https://teams.microsoft.com/")
        assert created.start == T0 + timedelta(hours=17)

        fetched = await client.get_event(ADELE, created.id)
        assert fetched.booking_id == "bk-1" and fetched.transaction_id == "tx-1"
        assert [a.email for a in fetched.attendees] == ["ivy@fabrikam.example"]

        body_before = emu.state.get_event(ADELE, created.id)["body"]  # type: ignore[index]
        moved = await client.reschedule_event(
            ADELE, created.id, T0 + timedelta(days=1, hours=18), T0 + timedelta(days=1, hours=19), "America/Los_Angeles"
        )
        assert moved.start == T0 + timedelta(days=1, hours=18)
        assert moved.join_url == created.join_url
        assert emu.state.get_event(ADELE, created.id)["body"] == body_before  # type: ignore[index]
        assert not emu.state.body_blob_lost

        tagged = await client.find_tagged_events(ADELE, T0, T0 + timedelta(days=7))
        assert [(e.id, e.booking_id) for e in tagged] == [(created.id, "bk-1")]

        await client.cancel_event(ADELE, created.id, "Sorry, I have to move this.")
        assert emu.state.cancellations and emu.state.cancellations[-1]["comment"] == "Sorry, I have to move this."
        with pytest.raises(GraphNotFound):
            await client.get_event(ADELE, created.id)

        other = await client.create_event(ADELE, draft(transaction_id="tx-2", booking_id="bk-2"))
        await client.delete_event(ADELE, other.id)
        with pytest.raises(GraphNotFound):
            await client.delete_event(ADELE, other.id)


async def test_find_tagged_events_ignores_untagged_events(emu: Emulator) -> None:
    emu.state.add_event(ADELE, "Lunch", T0 + timedelta(hours=20), T0 + timedelta(hours=21))
    async with emu.client() as client:
        ours = await client.create_event(ADELE, draft(location=Location(LocationKind.PHONE, "+1 555 0100")))
        found = await client.find_tagged_events(ADELE, T0, T0 + timedelta(days=1))
    assert [e.id for e in found] == [ours.id]
    assert not found[0].is_online_meeting


async def test_delta_returns_changes_removals_and_a_delta_link(emu: Emulator) -> None:
    keep = emu.state.add_event(ADELE, "Keep", T0 + timedelta(hours=9), T0 + timedelta(hours=10))
    gone = emu.state.add_event(ADELE, "Gone", T0 + timedelta(hours=11), T0 + timedelta(hours=12))
    async with emu.client() as client:
        first = await client.calendar_view_delta(ADELE, start=T0, end=T0 + timedelta(days=7), page_size=1)
        assert sorted(e.subject for e in first.changes) == ["Gone", "Keep"]
        assert first.removed_ids == () and first.delta_link

        emu.state.remove_event(ADELE, gone["id"])
        emu.state.patch_event(ADELE, keep["id"], {"subject": "Kept"})
        second = await client.calendar_view_delta(ADELE, delta_link=first.delta_link)
        assert [e.subject for e in second.changes] == ["Kept"]
        assert second.removed_ids == (gone["id"],)

        emu.state.expire_delta_tokens(ADELE)
        with pytest.raises(DeltaTokenExpired):
            await client.calendar_view_delta(ADELE, delta_link=second.delta_link)


async def test_all_day_events_come_back_as_dates(emu: Emulator) -> None:
    emu.state.add_event(ADELE, "Holiday", date(2030, 3, 5), date(2030, 3, 6), is_all_day=True, show_as="oof")
    async with emu.client() as client:
        events = await client.calendar_view(ADELE, T0, T0 + timedelta(days=3))
    assert [(e.is_all_day, e.all_day_dates, e.show_as) for e in events] == [
        (True, (date(2030, 3, 5), date(2030, 3, 6)), BusyStatus.OOF)
    ]


async def test_subscriptions_are_created_renewed_and_deleted(emu: Emulator) -> None:
    now = datetime.now(UTC)
    async with emu.client() as client:
        sub = await client.create_subscription(
            ADELE,
            notification_url=f"{emu.receiver_base}/notify",
            expiration=now + timedelta(days=2),
            client_state="s3cret",
            lifecycle_notification_url=f"{emu.receiver_base}/lifecycle",
        )
        assert sub.id and sub.resource == "me/events" and sub.client_state == "s3cret"
        assert sub.expiration == pytest.approx(now + timedelta(days=2), abs=timedelta(seconds=1))
        renewed = await client.renew_subscription(ADELE, sub.id, now + timedelta(days=2, hours=12))
        assert renewed.expiration > sub.expiration
        await client.delete_subscription(ADELE, sub.id)
        with pytest.raises(GraphNotFound):
            await client.delete_subscription(ADELE, sub.id)


async def test_throttled_inner_batch_requests_are_retried_in_a_new_batch(emu: Emulator) -> None:
    ids = [emu.state.add_calendar(ADELE, f"Cal {i}")["id"] for i in range(3)]
    emu.state.faults.throttle(count=2, retry_after=0.05, path="calendarView")
    async with emu.client() as client:
        views = await client.calendar_views(ADELE, ids, T0, T0 + timedelta(days=1))
    assert all(views[cid] == [] for cid in ids)
    outer = [r for r in emu.state.request_log if r.path == "/$batch"]
    inner = [r for r in emu.state.request_log if r.path.startswith("$batch:")]
    assert len(outer) == 2 and len(inner) == 5  # 3, then only the 2 throttled ones again
    assert sorted(r.status for r in inner) == [200, 200, 200, 429, 429]
    assert emu.sleeps == [0.05]
