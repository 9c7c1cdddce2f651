"""Change tracking over real HTTP against the Graph emulator: the client's subscription and delta
operations, and ``GraphChangeTracking`` (the core's CalendarSyncPort) end to end with a receiver that
answers the handshake, fails deliveries and gets lifecycle notifications."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from graph.client import GraphClient
from graph.errors import DeltaTokenExpired, GraphBadRequest, GraphNotFound
from graph.sync import GraphChangeTracking
from scheduling.intervals import Interval
from scheduling.ports import CalendarSyncPort, HostCalendar
from scheduling.rules import BusyStatus
from tests.graph.emulator_fixtures import ADELE, T0, Emu, running
from tests.graph.receiver import Receiver, running_receiver
from tests.ports import assert_implements

WEEK = Interval(T0, T0 + timedelta(days=7))
HOST = HostCalendar(user_id=ADELE, mailbox=ADELE, time_zone="America/Los_Angeles")


@dataclass
class World:
    emu: Emu
    receiver: Receiver
    client: GraphClient

    def sync(self, **kwargs: Any) -> GraphChangeTracking:
        return GraphChangeTracking(
            self.client,
            notification_url=f"{self.receiver.url}/notify",
            lifecycle_url=f"{self.receiver.url}/lifecycle",
            now=self.emu.clock,
            **kwargs,
        )

    def delta_requests(self) -> list[str]:
        return [r.query for r in self.emu.state.request_log if r.path.endswith("/calendarView/delta")]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with running(now=T0) as emu, running_receiver() as receiver:

        async def token(user_id: str, force_refresh: bool = False) -> str:
            return emu.state.issue_token(user_id)  # a fresh one each time: the clock moves in these tests

        async with GraphClient(emu.graph, token_provider=token) as client:
            yield World(emu, receiver, client)


def add(world: World, subject: str, start: datetime, hours: float = 1, **kwargs: Any) -> str:
    return str(world.emu.state.add_event(ADELE, subject, start, start + timedelta(hours=hours), **kwargs)["id"])


# ------------------------------------------------------------------------------------------- client


async def test_full_delta_sync_follows_every_next_link_to_the_delta_link(world: World) -> None:
    ids = {add(world, f"e{i}", T0 + timedelta(hours=3 * i)) for i in range(25)}
    add(world, "next month", T0 + timedelta(days=40))
    result = await world.client.calendar_view_delta(ADELE, start=WEEK.start, end=WEEK.end, page_size=4)
    assert {e.id for e in result.changes} == ids and result.removed_ids == ()
    assert "$deltatoken=" in result.delta_link
    assert len(world.delta_requests()) == 7  # 25 events, 4 a page
    assert all("skiptoken" in q for q in world.delta_requests()[1:])


async def test_incremental_sync_after_create_move_and_delete(world: World) -> None:
    keep, move, away, gone = (
        add(world, name, T0 + timedelta(hours=h)) for name, h in (("keep", 9), ("move", 11), ("away", 13), ("gone", 15))
    )
    first = await world.client.calendar_view_delta(ADELE, start=WEEK.start, end=WEEK.end)
    assert len(first.changes) == 4
    quiet = await world.client.calendar_view_delta(ADELE, delta_link=first.delta_link)
    assert quiet.changes == () and quiet.removed_ids == ()
    s = world.emu.state
    new = add(world, "new", T0 + timedelta(days=2, hours=9))
    s.patch_event(
        ADELE,
        move,
        {
            "start": {"dateTime": "2030-03-05T16:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-03-05T17:00:00", "timeZone": "UTC"},
        },
    )
    s.patch_event(
        ADELE,
        away,
        {
            "start": {"dateTime": "2030-04-05T16:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-04-05T17:00:00", "timeZone": "UTC"},
        },
    )
    s.remove_event(ADELE, gone)
    second = await world.client.calendar_view_delta(ADELE, delta_link=quiet.delta_link)
    changed = {e.id: e for e in second.changes}
    assert set(changed) == {new, move} and changed[move].start == T0 + timedelta(days=1, hours=16)
    assert set(second.removed_ids) == {away, gone}  # moved out of the window counts as removed
    assert keep not in changed and second.delta_link != quiet.delta_link


async def test_an_expired_delta_token_is_a_typed_error_with_the_restart_link(world: World) -> None:
    add(world, "e", T0 + timedelta(hours=9))
    first = await world.client.calendar_view_delta(ADELE, start=WEEK.start, end=WEEK.end)
    world.emu.clock.advance(days=7, minutes=1)  # the emulator's default token lifetime: 7 days
    with pytest.raises(DeltaTokenExpired) as caught:
        await world.client.calendar_view_delta(ADELE, delta_link=first.delta_link)
    assert caught.value.status == 410 and caught.value.graph_code == "syncStateNotFound"
    assert caught.value.location and "startDateTime=" in caught.value.location
    world.emu.state.expire_delta_tokens(ADELE)
    with pytest.raises(DeltaTokenExpired) as again:
        await world.client.calendar_view_delta(ADELE, delta_link=first.delta_link)
    assert again.value.graph_code == "resyncRequired"  # Graph's other way of saying it


async def test_subscription_create_get_renew_reauthorize_delete(world: World) -> None:
    client, rec = world.client, world.receiver
    sub = await client.create_subscription(
        ADELE,
        notification_url=f"{rec.url}/notify",
        lifecycle_notification_url=f"{rec.url}/lifecycle",
        expiration=T0 + timedelta(days=6),
        client_state="state-1",
    )
    assert len(rec.validations) == 2  # both URLs were validated first
    assert sub.resource == "me/events" and sub.change_type == "created,updated,deleted"
    assert sub.client_state == "state-1" and sub.lifecycle_notification_url == f"{rec.url}/lifecycle"
    assert sub.expiration == T0 + timedelta(days=6)
    assert (await client.get_subscription(ADELE, sub.id)).id == sub.id
    renewed = await client.renew_subscription(ADELE, sub.id, T0 + timedelta(days=7))
    assert renewed.expiration == T0 + timedelta(days=7)
    await client.reauthorize_subscription(ADELE, sub.id)
    with pytest.raises(GraphBadRequest):  # beyond Graph's 10,080 minutes
        await client.renew_subscription(ADELE, sub.id, T0 + timedelta(days=7, minutes=1))
    await client.delete_subscription(ADELE, sub.id)
    for call in (
        client.get_subscription(ADELE, sub.id),
        client.reauthorize_subscription(ADELE, sub.id),
        client.renew_subscription(ADELE, sub.id, T0 + timedelta(days=1)),
    ):
        with pytest.raises(GraphNotFound):
            await call
    rec.mode = "wrong"
    with pytest.raises(GraphBadRequest):  # a receiver that fails the handshake
        await client.create_subscription(
            ADELE, notification_url=f"{rec.url}/notify", expiration=T0 + timedelta(days=1), client_state="x"
        )


# ------------------------------------------------------------------------------- GraphChangeTracking


def test_graph_change_tracking_implements_the_port() -> None:
    assert_implements(CalendarSyncPort, GraphChangeTracking)


async def test_busy_changes_full_then_incremental(world: World) -> None:
    s = world.emu.state
    busy = add(world, "Busy", T0 + timedelta(hours=17))
    maybe = add(world, "Maybe", T0 + timedelta(days=1, hours=17), show_as="tentative")
    free = add(world, "Lunch", T0 + timedelta(days=1, hours=20), show_as="free")
    holiday = str(
        s.add_event(ADELE, "Holiday", date(2030, 3, 6), date(2030, 3, 7), is_all_day=True, show_as="oof")["id"]
    )
    sync = world.sync()
    full = await sync.busy_changes(HOST, WEEK)
    assert full.full and not full.resynced and full.window == WEEK
    assert set(full.blocking) == {busy, maybe, holiday} and full.cleared_ids == (free,)
    assert full.blocking[maybe].status is BusyStatus.TENTATIVE
    pacific_midnight = datetime(2030, 3, 6, 8, 0, tzinfo=T0.tzinfo)  # all-day = host-local day
    assert (full.blocking[holiday].start, full.blocking[holiday].end) == (
        pacific_midnight,
        pacific_midnight + timedelta(days=1),
    )
    assert len(full.changed) == 4

    s.patch_event(
        ADELE,
        busy,
        {
            "start": {"dateTime": "2030-03-04T19:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-03-04T20:00:00", "timeZone": "UTC"},
        },
    )
    s.patch_event(ADELE, free, {"showAs": "busy"})
    s.remove_event(ADELE, maybe)
    step = await sync.busy_changes(HOST, WEEK, full.cursor)
    assert not step.full and set(step.blocking) == {busy, free}
    assert step.blocking[busy].start == T0 + timedelta(hours=19)
    assert step.cleared_ids == (maybe,) and step.removed_ids == (maybe,)
    assert {e.event_id for e in step.changed} == {busy, free}


async def test_a_cancelled_meeting_clears_its_busy_time(world: World) -> None:
    s = world.emu.state
    meeting = add(world, "Team sync", T0 + timedelta(hours=17), organizer="megan@contoso.example", attendees=[ADELE])
    sync = world.sync()
    full = await sync.busy_changes(HOST, WEEK)
    assert set(full.blocking) == {meeting}
    event = s.stored_events(ADELE)[0]
    event.is_cancelled = True  # the organizer cancelled; Adele's copy stays, cancelled
    s.patch_event(ADELE, meeting, {"categories": ["cancelled"]})
    step = await sync.busy_changes(HOST, WEEK, full.cursor)
    assert step.blocking == {} and step.cleared_ids == (meeting,)
    assert [e.is_cancelled for e in step.changed] == [True]


async def test_an_expired_cursor_resyncs_in_full(world: World) -> None:
    add(world, "Busy", T0 + timedelta(hours=17))
    sync = world.sync()
    full = await sync.busy_changes(HOST, WEEK)
    world.emu.state.expire_delta_tokens(ADELE)
    again = await sync.busy_changes(HOST, WEEK, full.cursor)
    assert again.full and again.resynced and set(again.blocking) == set(full.blocking)
    assert again.cursor != full.cursor


async def test_subscribe_notify_with_retries_then_read_the_change_through_delta(world: World) -> None:
    emu, rec = world.emu, world.receiver
    emu.state.change_tracking.retry_delays = (0.05, 0.1)
    sync = world.sync()
    cursor = (await sync.busy_changes(HOST, WEEK)).cursor
    sub = await sync.subscribe(HOST, client_state="c1", expires_at=T0 + timedelta(days=30))
    assert sub.expires_at == T0 + timedelta(minutes=10079)  # capped under Graph's 10,080 minutes
    rec.fail_next = 1  # the first delivery fails: Graph retries
    created = add(world, "Booked elsewhere", T0 + timedelta(days=2, hours=17))
    await rec.wait(1)
    [note] = rec.changes()
    assert note["clientState"] == "c1" and note["subscriptionId"] == sub.id
    assert note["resourceData"]["id"] == created and len(rec.attempts) == 2
    step = await sync.busy_changes(HOST, WEEK, cursor)
    assert list(step.blocking) == [created]


async def test_lifecycle_reauthorize_removed_and_recreate(world: World) -> None:
    emu, rec = world.emu, world.receiver
    sync = world.sync()
    sub = await sync.subscribe(HOST, client_state="c1", expires_at=T0 + timedelta(minutes=50))
    emu.state.notifier.tick()  # 50 minutes left: reauthorizationRequired
    await rec.wait(1)
    assert rec.lifecycle_events() == [(sub.id, "reauthorizationRequired")]
    assert await sync.reauthorize_subscription(HOST, sub.id)
    renewed = await sync.renew_subscription(HOST, sub.id, T0 + timedelta(days=3))
    assert renewed is not None and renewed.expires_at == T0 + timedelta(days=3)
    assert await emu.state.notifier.remove_subscription(sub.id)
    assert rec.lifecycle_events()[-1] == (sub.id, "subscriptionRemoved")
    assert await sync.renew_subscription(HOST, sub.id, T0 + timedelta(days=3)) is None
    assert not await sync.reauthorize_subscription(HOST, sub.id)
    await sync.unsubscribe(HOST, sub.id)  # already gone: not an error
    again = await sync.subscribe(HOST, client_state="c2", expires_at=T0 + timedelta(days=3))
    await sync.unsubscribe(HOST, again.id)
    assert again.id not in emu.state.subscriptions
