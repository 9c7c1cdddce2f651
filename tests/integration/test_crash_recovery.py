"""Crash injection at each step of the booking pipeline, then reconciliation (or an idempotent retry):
no booking without its event, no event without its booking, never two events for one booking."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from scheduling.domain import BookingStatus
from scheduling.errors import HostUnavailable, SlotUnavailable
from scheduling.ports import EventDraft
from tests.integration.harness import MONDAY_10, World, booking_world, invitee
from tests.storage.fixtures import Kind

pytestmark = pytest.mark.parametrize("kind", ["sqlite", "postgres"])


class Crash(BaseException):
    """The process dies here (a BaseException, so no `except Exception` in the code under test sees it)."""


class CrashingStore:
    def __init__(self, inner: Any, when: str) -> None:
        self.inner, self.when = inner, when

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def reserve(self, *args: Any, **kwargs: Any) -> Any:
        if self.when == "before reserve":
            raise Crash
        result = await self.inner.reserve(*args, **kwargs)
        if self.when == "after reserve":
            raise Crash
        return result

    async def confirm(self, *args: Any, **kwargs: Any) -> Any:
        result = await self.inner.confirm(*args, **kwargs)
        if self.when == "after confirm":
            raise Crash
        return result


class CrashingCalendar:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def create_event(self, host: Any, draft: EventDraft) -> Any:
        await self.inner.create_event(host, draft)
        raise Crash


def crashing_service(w: World, step: str) -> Any:
    if step == "after create":
        return w.service_with(calendar=CrashingCalendar(w.calendar))
    return w.service_with(bookings=CrashingStore(w.repos.bookings, step))


async def assert_consistent(w: World) -> None:
    """Every confirmed booking has exactly its one event, and every live tagged event a confirmed booking."""
    events = w.tagged_events()
    by_tx = {e["transactionId"]: e for e in events}
    assert len(by_tx) == len(events), "two events for one booking"
    for tx, event in by_tx.items():
        booking = await w.repos.bookings.get(tx)
        assert booking is not None and booking.status is BookingStatus.CONFIRMED, (tx, booking)
        assert booking.graph_event_id == event["id"]
    pending = await w.repos.bookings.pending_past_deadline(w.clock.now() + timedelta(days=365))
    assert pending == []


STEPS = ["before reserve", "after reserve", "after create", "after confirm"]


@pytest.mark.parametrize("step", STEPS)
async def test_reconciliation_repairs_a_crash_at_each_step(kind: Kind, step: str) -> None:
    async with booking_world(kind) as w:
        with pytest.raises(Crash):
            await crashing_service(w, step).book(w.link, MONDAY_10, invitee(), idempotency_key="k")
        # Before the deadline reconciliation leaves in-flight bookings alone.
        early = await w.reconciler.run()
        assert early.confirmed == early.released == []
        w.clock.advance(minutes=11)
        report = await w.reconciler.run()
        await assert_consistent(w)
        if step == "after create":
            assert len(report.confirmed) == 1
            [event] = w.tagged_events()
            assert (await w.repos.bookings.get(event["transactionId"])).status is BookingStatus.CONFIRMED  # type: ignore[union-attr]
        elif step == "after reserve":
            assert len(report.released) == 1 and w.tagged_events() == []
            # The time is free again.
            assert (await w.service.book(w.link, MONDAY_10, invitee("Bob", "bob@example.org"))).confirmed
        elif step == "before reserve":
            assert w.tagged_events() == [] and report.released == []
        else:
            assert report.confirmed == report.released == [] and len(w.tagged_events()) == 1
        # A second run changes nothing.
        again = await w.reconciler.run()
        assert again.confirmed == again.released == again.orphans_cancelled == []


@pytest.mark.parametrize("step", STEPS)
async def test_an_idempotent_retry_after_a_crash_completes_without_a_second_event(kind: Kind, step: str) -> None:
    async with booking_world(kind) as w:
        with pytest.raises(Crash):
            await crashing_service(w, step).book(w.link, MONDAY_10, invitee(), idempotency_key="k")
        outcome = await w.service.book(w.link, MONDAY_10, invitee(), idempotency_key="k")
        assert outcome.confirmed
        assert len(w.tagged_events()) == 1
        await assert_consistent(w)


async def test_an_event_that_lands_after_its_booking_was_released_is_cancelled(kind: Kind) -> None:
    async with booking_world(kind) as w:
        with pytest.raises(Crash):
            await crashing_service(w, "after reserve").book(w.link, MONDAY_10, invitee(), idempotency_key="k")
        w.clock.advance(minutes=11)
        report = await w.reconciler.run()
        [released_id] = report.released
        released = await w.repos.bookings.get(released_id)
        assert released is not None
        # The slow Graph create from the crashed attempt lands now.
        link, host = w.link, w.host
        await w.calendar.create_event(host.host_calendar(), w.service.draft_for(link, host, released))
        assert len(w.tagged_events()) == 1
        report = await w.reconciler.run()
        assert len(report.orphans_cancelled) == 1
        assert w.tagged_events() == []
        with pytest.raises(SlotUnavailable):  # the released attempt stays released for its key
            await w.service.book(w.link, MONDAY_10, invitee(), idempotency_key="k")


async def test_an_outlook_outage_during_create_leaves_a_pending_booking_that_reconciliation_settles(kind: Kind) -> None:
    async with booking_world(kind) as w:
        w.emulator.state.faults.unavailable(count=50, status=503, path="/events")
        outcome = await w.service.book(w.link, MONDAY_10, invitee(), idempotency_key="k")
        assert outcome.booking.status is BookingStatus.PENDING and not outcome.confirmed
        assert outcome.manage_token  # the invitee keeps a link to check on it
        w.emulator.state.faults.clear()
        w.clock.advance(minutes=11)
        report = await w.reconciler.run()
        assert report.released == [outcome.booking.id] and w.tagged_events() == []
        await assert_consistent(w)


async def test_a_definite_refusal_during_create_releases_at_once(kind: Kind) -> None:
    async with booking_world(kind) as w:
        w.emulator.state.faults.deny(count=1, path="/events")  # the create is refused (403), reads work
        with pytest.raises(HostUnavailable):
            await w.service.book(w.link, MONDAY_10, invitee())
        assert w.tagged_events() == []
        assert (await w.service.book(w.link, MONDAY_10, invitee("Bob", "bob@example.org"))).confirmed
