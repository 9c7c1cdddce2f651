"""Two-way sync with Outlook (issue 14) over real HTTP: the sandbox app, and the Graph emulator delivering its
change and lifecycle notifications to the app's /graph/notifications and /graph/lifecycle with Graph's
rules (handshake, retries, expiry). Outlook-side changes are made the way a host makes them: on the
emulator's mailbox directly."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from pydantic import ValidationError
from sqlalchemy import select, update

from app import Settings, sync_policy
from graph.sandbox.model import Subscription
from graph.sync import OUTLOOK_EVENT_SUBSCRIPTION_MAX_MINUTES
from scheduling.domain import Booking, BookingStatus, CalendarSync
from scheduling.intervals import Interval
from storage.models import BusyCacheRow, CalendarSubscriptionRow, OutboxRow, SyncWorkRow
from tests.web.conftest import DEMO_PATH, DEMO_UPN, HOST_TZ, Site, running_site, text_of, token_of

pytestmark = pytest.mark.asyncio(loop_scope="session")


def utc(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def wall(instant: datetime) -> dict[str, str]:
    return {"dateTime": instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> float:
    """Poll ``check`` until it holds; how long it took (fails after ``seconds``)."""
    started = time.perf_counter()
    while not await check():
        assert time.perf_counter() - started < seconds, f"not within {seconds} s"
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


def subscription(site: Site) -> Subscription:
    mailbox = site.emulator.get_user(DEMO_UPN)
    assert mailbox is not None
    [sub] = [s for s in site.emulator.subscriptions.values() if s.user_id == mailbox.id]
    return sub


def graph_calls(site: Site, since: int) -> list[str]:
    return [f"{r.method} {r.path}" for r in site.emulator.request_log[since:]]


async def offered(site: Site, days: int = 21, tz: str = "UTC") -> set[str]:
    return {s["start"] for s in await site.slots(days=days, tz=tz)}


async def outbox(site: Site, kind: str, booking_id: str) -> list[dict[str, Any]]:
    async with site.services.repos.db.read() as s:
        rows = (await s.scalars(select(OutboxRow).where(OutboxRow.kind == kind, OutboxRow.channel == "teams"))).all()
    return [dict(r.payload) for r in rows if r.payload.get("bookingId") == booking_id]


async def booking_of(site: Site, location: str) -> Booking:
    return await site.services.booking.by_manage_token(token_of(location))


async def work_rows(site: Site) -> int:
    async with site.services.repos.db.read() as s:
        return len((await s.scalars(select(SyncWorkRow))).all())


@pytest_asyncio.fixture(loop_scope="session")
async def synced(site: Site) -> Site:
    """The demo app once the demo host is subscribed and their busy cache filled."""
    await site.synced()
    host = await site.host()
    assert await site.services.calendar_sync.subscription_of(host.id) is not None  # type: ignore[union-attr]
    return site


# ----------------------------------------------------------------------------------- busy cache


async def test_a_busy_event_made_in_outlook_hides_the_slot_within_2_s_and_views_cost_no_graph_call(
    synced: Site,
) -> None:
    site = synced
    site.services.booking.forget_busy()  # nothing in process: only the database cache can answer
    before = len(site.emulator.request_log)
    slots = await site.slots(days=21)
    for tz in ("Asia/Kolkata", "America/St_Johns", "Pacific/Kiritimati"):
        await site.slots(days=14, tz=tz)
        assert (await site.client.get(DEMO_PATH, params={"tz": tz})).status == 200
    assert graph_calls(site, before) == []  # a warm cache: zero Graph requests per view
    first = slots[0]["start"]
    site.emulator.add_event(DEMO_UPN, "Dentist", utc(first), utc(first) + timedelta(minutes=30))

    async def hidden() -> bool:
        return first not in await offered(site)

    await eventually(hidden)  # how fast is measured by bench.sync, not here
    calls = graph_calls(site, before)
    assert calls and all("calendarView/delta" in c for c in calls), calls  # one delta round, no getSchedule
    host = await site.host()
    cached = await site.services.calendar_sync.cached_busy(  # type: ignore[union-attr]
        host.id, Interval(utc(first), utc(first) + timedelta(minutes=30))
    )
    assert cached is not None and [(b.start, b.end) for b in cached.busy] == [
        (utc(first), utc(first) + timedelta(minutes=30))
    ]


async def test_the_cache_survives_a_restart(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        await site.synced()
        port, sub = site.settings.port, subscription(site)
        first = (await site.slots(days=21))[0]["start"]
        site.emulator.add_event(DEMO_UPN, "Dentist", utc(first), utc(first) + timedelta(minutes=30))
        await site.synced()
    async with running_site(tmp_path, SLOTWISE_PORT=port) as again:  # the same database, mailbox and address
        before = len(again.emulator.request_log)
        again.services.booking.forget_busy()
        assert first not in await offered(again)
        assert not [c for c in graph_calls(again, before) if "getSchedule" in c]
        assert subscription(again).id == sub.id


async def test_a_new_public_address_gets_new_subscriptions(tmp_path: Path) -> None:
    async with running_site(tmp_path) as site:
        await site.synced()
        old = subscription(site)
    async with running_site(tmp_path, SLOTWISE_SUBSCRIPTION_CHECK_SECONDS=0.2) as moved:  # another port
        host = await moved.host()

        async def recreated() -> bool:
            stored = await moved.services.calendar_sync.subscription_of(host.id)  # type: ignore[union-attr]
            return stored is not None and stored.subscription_id != old.id

        await eventually(recreated)
        await moved.synced()
        new = subscription(moved)  # the old one was deleted at Graph: exactly one is left
        assert new.notification_url == f"{moved.settings.base_url}/graph/notifications" != old.notification_url
        first = sorted(await offered(moved))[0]
        moved.emulator.add_event(DEMO_UPN, "After the move", utc(first), utc(first) + timedelta(minutes=30))

        async def hidden() -> bool:
            return first not in await offered(moved)

        await eventually(hidden)


async def test_a_host_reading_other_calendars_for_conflicts_is_read_live(synced: Site) -> None:
    site = synced
    host = await site.host()
    calendars = await site.services.calendar.list_calendars(host.host_calendar())
    await site.services.repos.users.upsert(replace(host, conflict_calendar_ids=(calendars[0].id,)))
    site.services.booking.forget_busy()
    before = len(site.emulator.request_log)
    await site.slots(days=7)
    assert any("calendarView" in c or "$batch" in c for c in graph_calls(site, before))


# ----------------------------------------------------------------------------------- Outlook -> Slotwise


async def test_deleting_a_booked_event_in_outlook_cancels_the_booking_and_tells_the_host_once(synced: Site) -> None:
    site = synced
    start = (await site.free_starts())[0]
    location = await site.book(start)
    booking = await booking_of(site, location)
    event = site.event_for(booking.id)
    assert event is not None
    await site.synced()  # Slotwise's own create came back as a notification: it changes nothing
    assert (await booking_of(site, location)).status is BookingStatus.CONFIRMED

    site.emulator.remove_event(DEMO_UPN, event["id"])

    async def cancelled() -> bool:
        return (await booking_of(site, location)).status is BookingStatus.CANCELLED

    await eventually(cancelled)
    await site.synced()
    gone = await booking_of(site, location)
    assert gone.calendar_sync is CalendarSync.IN_SYNC and gone.version == booking.version + 1
    assert "cancelled this meeting in Outlook" in gone.cancel_reason
    [notice] = await outbox(site, "booking.cancelled", booking.id)
    assert notice["by"] == "outlook" and notice["source"] == "outlook" and notice["status"] == "cancelled"
    assert site.cancellations_of(event["id"]) == []  # nothing was sent back to Outlook
    page = text_of(await (await site.client.get(location.split("?")[0])).text())
    assert "This booking is cancelled. Adele Vance cancelled this meeting in Outlook." in page
    assert start in await offered(site), "the time is free again"

    # Graph delivers at least once: the same notification again changes nothing and tells nobody twice
    sub = subscription(site)
    again = {
        "value": [
            {
                "subscriptionId": sub.id,
                "clientState": sub.client_state,
                "changeType": "deleted",
                "resource": f"Users/{sub.user_id}/Events/{event['id']}",
                "tenantId": sub.tenant_id,
                "resourceData": {"id": event["id"]},
            }
        ]
    }
    for _ in range(2):
        assert (await site.client.post("/graph/notifications", json=again)).status == 202
    await site.synced()
    assert len(await outbox(site, "booking.cancelled", booking.id)) == 1
    assert (await booking_of(site, location)).version == booking.version + 1


async def test_moving_a_booked_event_in_outlook_reschedules_the_booking(synced: Site) -> None:
    site = synced
    starts = await site.free_starts(count=4)
    location = await site.book(starts[0])
    booking = await booking_of(site, location)
    event = site.event_for(booking.id)
    assert event is not None
    await site.synced()
    before = len(site.emulator.request_log)
    new_start = utc(starts[3])
    site.emulator.patch_event(
        DEMO_UPN, event["id"], {"start": wall(new_start), "end": wall(new_start + timedelta(minutes=30))}
    )

    async def moved() -> bool:
        return (await booking_of(site, location)).start == new_start

    await eventually(moved)
    await site.synced()
    after = await booking_of(site, location)
    assert (after.status, after.end, after.calendar_sync) == (
        BookingStatus.CONFIRMED,
        new_start + timedelta(minutes=30),
        CalendarSync.IN_SYNC,
    )
    [notice] = await outbox(site, "booking.rescheduled", booking.id)
    assert (notice["by"], notice["source"], notice["outsideRules"]) == ("outlook", "outlook", False)
    assert notice["previousStart"] == starts[0] and notice["start"] == starts[3]
    assert not [c for c in graph_calls(site, before) if c.startswith("PATCH")], "nothing was PATCHed back"
    assert starts[0] in await offered(site) and starts[3] not in await offered(site)


async def test_a_move_outside_the_links_rules_is_still_recorded_and_the_host_is_told(synced: Site) -> None:
    site = synced
    start = (await site.free_starts())[0]
    location = await site.book(start)
    booking = await booking_of(site, location)
    event = site.event_for(booking.id)
    assert event is not None
    await site.synced()
    day = utc(start).astimezone(ZoneInfo(HOST_TZ)).date() + timedelta(days=1)
    night = datetime(day.year, day.month, day.day, 5, 0, tzinfo=ZoneInfo(HOST_TZ)).astimezone(UTC)
    site.emulator.patch_event(DEMO_UPN, event["id"], {"start": wall(night), "end": wall(night + timedelta(minutes=45))})

    async def moved() -> bool:
        return (await booking_of(site, location)).start == night

    await eventually(moved)
    after = await booking_of(site, location)
    assert after.end == night + timedelta(minutes=45)  # the length the host gave it
    [notice] = await outbox(site, "booking.rescheduled", booking.id)
    assert notice["outsideRules"] is True and notice["by"] == "outlook"


async def test_slotwise_own_reschedule_and_cancel_are_not_taken_for_outlook_changes(synced: Site) -> None:
    site = synced
    starts = await site.free_starts(count=3)
    location = await site.book(starts[0])
    booking = await booking_of(site, location)
    moved = await site.services.booking.reschedule(booking, utc(starts[2]), "invitee")
    await site.synced()  # the PATCH came back as a notification
    now = await booking_of(site, location)
    assert (now.start, now.version, now.status) == (utc(starts[2]), moved.version, BookingStatus.CONFIRMED)
    assert [n["by"] for n in await outbox(site, "booking.rescheduled", booking.id)] == ["invitee"]
    await site.services.booking.cancel(now, "plans changed", "invitee")
    await site.synced()
    [cancelled] = await outbox(site, "booking.cancelled", booking.id)
    assert cancelled["by"] == "invitee" and "source" not in cancelled
    final = await booking_of(site, location)
    assert final.cancel_reason == "plans changed" and final.version == moved.version + 1


# ----------------------------------------------------------------------------------- missed, lifecycle


async def test_a_missed_notification_is_repaired_by_the_next_delta(synced: Site) -> None:
    site = synced
    notifier = site.emulator.notifier
    first, second = sorted(await offered(site))[:2]
    notifier.state.remove_listener(notifier.on_change)  # this change is never notified
    try:
        site.emulator.add_event(DEMO_UPN, "Unnoticed", utc(first), utc(first) + timedelta(minutes=30))
    finally:
        notifier.state.add_listener(notifier.on_change)
    await asyncio.sleep(0.2)
    assert first in await offered(site), "nothing told Slotwise yet: the cache still offers it"
    site.emulator.add_event(DEMO_UPN, "Noticed", utc(second), utc(second) + timedelta(minutes=30))

    async def both_hidden() -> bool:
        return not {first, second} & await offered(site)

    await eventually(both_hidden)  # the delta for the second change brought the first one too


async def test_a_booking_is_refused_live_while_a_warm_cache_still_offers_the_slot(synced: Site) -> None:
    site = synced
    notifier = site.emulator.notifier
    site.services.booking.forget_busy()
    first = sorted(await offered(site))[0]
    notifier.state.remove_listener(notifier.on_change)  # Outlook has it; Slotwise is not told (yet)
    try:
        site.emulator.add_event(DEMO_UPN, "Unnoticed", utc(first), utc(first) + timedelta(minutes=30))
    finally:
        notifier.state.add_listener(notifier.on_change)
    assert first in await offered(site), "the warm cache still offers it"
    before = len(site.emulator.request_log)
    resp = await site.book_via_form(first)
    assert resp.status != 303, "the live re-check of the exact interval refused it"
    assert any("getSchedule" in c for c in graph_calls(site, before))
    async with site.services.repos.db.read() as s:
        rows = (await s.scalars(select(OutboxRow).where(OutboxRow.kind == "booking.created"))).all()
    assert not [r for r in rows if r.payload.get("start") == first]


async def test_missed_marks_the_cache_stale_until_a_delta_round_repairs_it(synced: Site) -> None:
    site = synced
    notifier = site.emulator.notifier
    first = sorted(await offered(site))[0]
    notifier.state.remove_listener(notifier.on_change)
    try:
        site.emulator.add_event(DEMO_UPN, "Unnoticed", utc(first), utc(first) + timedelta(minutes=30))
    finally:
        notifier.state.add_listener(notifier.on_change)
    assert await notifier.lifecycle(subscription(site).id, "missed")

    async def hidden() -> bool:
        return first not in await offered(site)

    await eventually(hidden)
    await site.synced()
    async with site.services.repos.db.read() as s:
        row = (await s.scalars(select(BusyCacheRow))).one()
    assert row.stale_since is None and row.dirty_since is None


async def test_subscription_removed_by_graph_is_created_again_and_resynced(synced: Site) -> None:
    site = synced
    old = subscription(site).id
    assert await site.emulator.notifier.remove_subscription(old)

    async def recreated() -> bool:
        host = await site.host()
        sub = await site.services.calendar_sync.subscription_of(host.id)  # type: ignore[union-attr]
        return sub is not None and sub.subscription_id != old

    await eventually(recreated)
    await site.synced()
    assert subscription(site).id != old
    first = sorted(await offered(site))[0]
    site.emulator.add_event(DEMO_UPN, "After", utc(first), utc(first) + timedelta(minutes=30))

    async def hidden() -> bool:
        return first not in await offered(site)

    await eventually(hidden)  # the new subscription delivers


async def test_reauthorization_required_is_answered_once(synced: Site) -> None:
    site = synced
    sub = subscription(site)
    before = len(site.emulator.request_log)
    for _ in range(2):  # a challenge repeated within 10 minutes is answered once
        assert await site.emulator.notifier.lifecycle(sub.id, "reauthorizationRequired")
        await site.synced()
    calls = graph_calls(site, before)
    assert len([c for c in calls if c.startswith("POST") and c.endswith("/reauthorize")]) == 1, calls
    assert not [c for c in calls if c.startswith("PATCH")], "not renewed as well"
    assert sub.challenge_pending_since is None


async def test_a_subscription_about_to_expire_is_renewed_before_expiry(tmp_path: Path) -> None:
    async with running_site(tmp_path, SLOTWISE_SUBSCRIPTION_CHECK_SECONDS=0.2) as site:
        await site.synced()
        host = await site.host()
        sub = subscription(site)
        soon = datetime.now(UTC) + timedelta(seconds=3)
        sub.expiration = soon  # Graph would drop it (silently) in 3 s
        async with site.services.repos.db.write() as s:
            await s.execute(update(CalendarSubscriptionRow).values(expires_at=soon))

        async def renewed() -> bool:
            stored = await site.services.calendar_sync.subscription_of(host.id)  # type: ignore[union-attr]
            return stored is not None and stored.expires_at > soon + timedelta(days=2)

        await eventually(renewed, 2.5)
        assert subscription(site).id == sub.id and sub.expiration > soon + timedelta(days=2)
        await asyncio.sleep(1)  # past the old expiry: still alive, still delivering
        assert sub.id in site.emulator.subscriptions
        first = sorted(await offered(site))[0]
        site.emulator.add_event(DEMO_UPN, "Later", utc(first), utc(first) + timedelta(minutes=30))

        async def hidden() -> bool:
            return first not in await offered(site)

        await eventually(hidden)


async def test_an_expired_subscription_is_created_again_and_the_cache_is_stale_meanwhile(tmp_path: Path) -> None:
    async with running_site(tmp_path, SLOTWISE_SUBSCRIPTION_CHECK_SECONDS=0.3) as site:
        await site.synced()
        host = await site.host()
        old = subscription(site).id
        past = datetime.now(UTC) - timedelta(seconds=1)
        site.emulator.subscriptions.pop(old)  # expired at Graph: nothing is sent
        async with site.services.repos.db.write() as s:
            await s.execute(update(CalendarSubscriptionRow).values(expires_at=past))
        cached = await site.services.calendar_sync.cached_busy(  # type: ignore[union-attr]
            host.id, Interval(past, past + timedelta(days=1))
        )
        assert cached is not None and not cached.serves(cached.window, datetime.now(UTC), timedelta(seconds=30))

        async def recreated() -> bool:
            stored = await site.services.calendar_sync.subscription_of(host.id)  # type: ignore[union-attr]
            return stored is not None and stored.subscription_id != old

        await eventually(recreated)
        await site.synced()
        assert subscription(site).id != old


async def test_disconnect_deletes_the_subscription_and_the_cache(synced: Site) -> None:
    site = synced
    host = await site.host()
    old = subscription(site).id
    await site.services.connections.disconnect(host)
    assert old not in site.emulator.subscriptions
    assert await site.services.calendar_sync.subscription_of(host.id) is None  # type: ignore[union-attr]
    async with site.services.repos.db.read() as s:
        assert (await s.scalars(select(BusyCacheRow))).all() == []


# ----------------------------------------------------------------------------------- the endpoint


async def test_the_validation_handshake_echoes_the_decoded_token_as_plain_text(synced: Site) -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: 1<2>&3"
    for path in ("/graph/notifications", "/graph/lifecycle"):
        for method in ("POST", "GET"):
            resp = await synced.client.request(method, path, params={"validationToken": token})
            assert resp.status == 200 and resp.content_type == "text/plain"
            assert await resp.text() == token
            assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_forged_notification_changes_nothing(synced: Site, caplog: pytest.LogCaptureFixture) -> None:
    site = synced
    sub = subscription(site)
    first = sorted(await offered(site))[0]
    event = site.emulator.add_event(DEMO_UPN, "Real", utc(first), utc(first) + timedelta(minutes=30))
    await site.synced()
    before = len(site.emulator.request_log)
    starts = await offered(site)
    forged: list[dict[str, Any]] = [
        {
            "subscriptionId": sub.id,
            "clientState": "guessed",
            "changeType": "deleted",
            "resource": f"Users/{sub.user_id}/Events/{event['id']}",
            "resourceData": {"id": event["id"]},
        },
        {"subscriptionId": sub.id, "changeType": "created", "resourceData": {"id": event["id"]}},  # no clientState
        {
            "subscriptionId": "00000000-0000-0000-0000-000000000000",
            "clientState": sub.client_state,
            "changeType": "updated",
        },  # the right secret, someone else's id
    ]
    lifecycle = [
        {"subscriptionId": sub.id, "clientState": "guessed", "lifecycleEvent": ev}
        for ev in ("subscriptionRemoved", "missed", "reauthorizationRequired")
    ]
    with caplog.at_level(logging.WARNING, logger="slotwise.web.graph"):
        assert (await site.client.post("/graph/notifications", json={"value": forged})).status == 202
        assert (await site.client.post("/graph/lifecycle", json={"value": lifecycle})).status == 202
    assert sum("clientState mismatch" in r.getMessage() for r in caplog.records) == 2 + 3
    assert sum("unknown subscription" in r.getMessage() for r in caplog.records) == 1
    assert await work_rows(site) == 0  # nothing queued
    await asyncio.sleep(0.2)
    assert graph_calls(site, before) == []
    assert subscription(site).id == sub.id
    async with site.services.repos.db.read() as s:
        row = (await s.scalars(select(BusyCacheRow))).one()
    assert row.stale_since is None and row.dirty_since is None
    assert await offered(site) == starts


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"value": 3}', b'{"nothing": []}'])
async def test_a_body_that_is_not_a_notification_is_400_and_queues_nothing(synced: Site, body: bytes) -> None:
    resp = await synced.client.post("/graph/notifications", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert await work_rows(synced) == 0


async def test_notifications_are_answered_at_once_and_processed_by_the_worker(synced: Site) -> None:
    site = synced
    sub = subscription(site)
    note = {
        "value": [
            {
                "subscriptionId": sub.id,
                "clientState": sub.client_state,
                "changeType": "updated",
                "resourceData": {"id": "x"},
            }
        ]
        * 30
    }
    started = time.perf_counter()
    resp = await site.client.post("/graph/notifications", json=note)
    assert resp.status == 202 and time.perf_counter() - started < 3.0  # Graph counts a notification failed after 3 s
    await site.synced()
    assert await work_rows(site) == 0


async def test_subscription_settings_stay_inside_graphs_limits() -> None:
    settings = Settings(_env_file=None)
    # just under 4,230 (Microsoft's older figure), so valid under 10,080 (its current one) too
    assert settings.subscription_minutes == 4_220 < OUTLOOK_EVENT_SUBSCRIPTION_MAX_MINUTES
    assert sync_policy(settings).subscription_lifetime == timedelta(minutes=4_220)
    assert Settings(_env_file=None, SLOTWISE_SUBSCRIPTION_MINUTES=10_070).subscription_minutes == 10_070
    with pytest.raises(ValidationError, match="RENEW_MINUTES"):
        Settings(_env_file=None, SLOTWISE_SUBSCRIPTION_MINUTES=60)
    for minutes in (44, OUTLOOK_EVENT_SUBSCRIPTION_MAX_MINUTES + 1):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, SLOTWISE_SUBSCRIPTION_MINUTES=minutes)
