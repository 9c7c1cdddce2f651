"""SqlBookingStore on SQLite and PostgreSQL: reservations, holds, caps, single use, idempotency, lifecycle."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from scheduling.domain import Booking, BookingStatus, CalendarSync, CapCheck, OutboxItem
from scheduling.errors import Conflict, NotFound, SlotUnavailable, ValidationFailed
from scheduling.intervals import Interval
from storage.models import BookingRow, OutboxRow, ReservationRow
from storage.repositories import Repositories
from tests.storage.helpers import FakeClock, at, booking, make_link, make_user


async def _count(repos: Repositories, model: type, *where: object) -> int:
    async with repos.db.read() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


async def _confirmed(repos: Repositories, b: Booking, event_id: str = "evt-1") -> Booking:
    return await repos.bookings.confirm(
        b.id, graph_event_id=event_id, ical_uid="uid-1", join_url="https://teams.example/join", join_url_missing=False
    )


# ---------------------------------------------------------------------------- reserve and read back


async def test_reserve_stores_a_pending_booking_that_reads_back_identically(
    repos: Repositories, clock: FakeClock
) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    deadline = at(8, 15)
    wanted = booking(
        link, [host], at(10), before=5, after=10, key="k-1", token_hash="secret-hash", pending_deadline=deadline
    )
    stored, created = await repos.bookings.reserve(wanted)
    assert created
    assert stored.status is BookingStatus.PENDING and stored.version == 1
    assert stored.calendar_sync is CalendarSync.IN_SYNC
    assert stored.created_at == clock.now_value
    assert (stored.start, stored.end, stored.buffer_before, stored.buffer_after) == (at(10), at(10, 30), 5, 10)
    assert stored.invitee == wanted.invitee and stored.host_ids == (host.id,)
    assert stored.pending_deadline == deadline
    assert await repos.bookings.get(stored.id) == stored
    assert await repos.bookings.get_by_manage_token_hash("secret-hash") == stored
    assert await repos.bookings.get_by_idempotency_key(link.id, "k-1") == stored
    assert await repos.bookings.get("nope") is None
    assert await repos.bookings.get_by_manage_token_hash("") is None
    assert await repos.bookings.get_by_idempotency_key(link.id, "other") is None


async def test_instants_come_back_as_aware_utc(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    plus_two = timezone(timedelta(hours=2))
    local_start = datetime(2030, 1, 7, 12, 0, tzinfo=plus_two)  # 10:00 UTC
    stored, _ = await repos.bookings.reserve(booking(link, [host], local_start))
    got = await repos.bookings.get(stored.id)
    assert got is not None
    assert got.start == at(10) and got.start.tzinfo is UTC and got.end.tzinfo is UTC
    assert got.created_at is not None and got.created_at.tzinfo is UTC


async def test_naive_times_and_missing_hosts_are_refused(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    naive = booking(link, [host], datetime(2030, 1, 7, 10, 0))
    with pytest.raises(ValidationFailed):
        await repos.bookings.reserve(naive)
    with pytest.raises(ValidationFailed):
        await repos.bookings.reserve(booking(link, [], at(10)))
    backwards = booking(link, [host], at(10), minutes=-30)
    with pytest.raises(ValidationFailed):
        await repos.bookings.reserve(backwards)


async def test_unknown_host_is_not_found(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    b = replace(booking(link, [host], at(10)), host_ids=(host.id, "no-such-user"))
    with pytest.raises(NotFound):
        await repos.bookings.reserve(b)
    assert await _count(repos, BookingRow) == 0


# ---------------------------------------------------------------------------- the overlap invariant


async def test_back_to_back_bookings_are_allowed(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    await repos.bookings.reserve(booking(link, [host], at(10)))
    await repos.bookings.reserve(booking(link, [host], at(10, 30)))
    await repos.bookings.reserve(booking(link, [host], at(9, 30)))
    assert await _count(repos, BookingRow) == 3


async def test_overlap_is_refused_and_changes_nothing(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    await repos.bookings.reserve(booking(link, [host], at(10), minutes=60))
    for start, minutes in ((at(10), 60), (at(10, 15), 15), (at(9, 30), 31), (at(10, 59), 30), (at(9), 180)):
        with pytest.raises(SlotUnavailable):
            await repos.bookings.reserve(booking(link, [host], start, minutes))
    assert await _count(repos, BookingRow) == 1
    assert await _count(repos, ReservationRow) == 1


async def test_padded_intervals_overlap_even_when_meetings_do_not(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    await repos.bookings.reserve(booking(link, [host], at(10), after=15))  # blocks [10:00, 10:45)
    with pytest.raises(SlotUnavailable):
        await repos.bookings.reserve(booking(link, [host], at(10, 30)))
    with pytest.raises(SlotUnavailable):
        await repos.bookings.reserve(booking(link, [host], at(10, 50), before=10))  # [10:40, ...)
    await repos.bookings.reserve(booking(link, [host], at(10, 45)))  # touching the padding is fine
    with pytest.raises(SlotUnavailable):
        await repos.bookings.reserve(booking(link, [host], at(9, 40), after=20))  # [9:40, 10:30)
    await repos.bookings.reserve(booking(link, [host], at(9, 30)))  # [9:30, 10:00): back to back
    assert await _count(repos, BookingRow) == 3


async def test_padding_on_the_new_booking_counts_too(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    await repos.bookings.reserve(booking(link, [host], at(10)))  # [10:00, 10:30)
    with pytest.raises(SlotUnavailable):
        await repos.bookings.reserve(booking(link, [host], at(9, 30), after=1))  # [9:30, 10:01)
    with pytest.raises(SlotUnavailable):
        await repos.bookings.reserve(booking(link, [host], at(10, 30), before=1))  # [10:29, 11:00)
    await repos.bookings.reserve(booking(link, [host], at(9, 15), after=15))  # [9:15, 10:00)
    await repos.bookings.reserve(booking(link, [host], at(10, 45), before=15))  # [10:30, 11:15)
    assert await _count(repos, BookingRow) == 3


async def test_other_hosts_are_independent_and_multi_host_is_all_or_nothing(repos: Repositories) -> None:
    a = await make_user(repos, "a@contoso.com")
    b = await make_user(repos, "b@contoso.com")
    link = await make_link(repos, a)
    await repos.bookings.reserve(booking(link, [a], at(10)))
    await repos.bookings.reserve(booking(link, [b], at(10)))  # another host: free
    with pytest.raises(SlotUnavailable):
        await repos.bookings.reserve(booking(link, [b, a], at(10, 15)))
    window = Interval(at(0), at(23))
    found = await repos.bookings.host_bookings([a.id, b.id], window)
    assert [len(found[a.id]), len(found[b.id])] == [1, 1]
    together, _ = await repos.bookings.reserve(booking(link, [a, b], at(11)))
    assert together.host_ids == (a.id, b.id) and together.organizer_id == a.id
    found = await repos.bookings.host_bookings([a.id, b.id], window)
    assert [len(found[a.id]), len(found[b.id])] == [2, 2]


async def test_cancelled_and_released_bookings_free_their_time(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    first, _ = await repos.bookings.reserve(booking(link, [host], at(10)))
    await repos.bookings.release(first.id, "calendar refused")
    second, _ = await repos.bookings.reserve(booking(link, [host], at(10)))
    await repos.bookings.cancel(second.id, reason="changed my mind")
    third, created = await repos.bookings.reserve(booking(link, [host], at(10)))
    assert created
    statuses = [(await repos.bookings.get(x.id)).status for x in (first, second, third)]  # type: ignore[union-attr]
    assert statuses == [BookingStatus.RELEASED, BookingStatus.CANCELLED, BookingStatus.PENDING]


# ---------------------------------------------------------------------------- holds


async def test_holds_block_until_they_expire(repos: Repositories, clock: FakeClock) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    expires = clock.now_value + timedelta(minutes=10)
    await repos.bookings.place_hold("hold-1", [host.id], at(10), at(10, 30), 0, 5, expires)
    with pytest.raises(SlotUnavailable):
        await repos.bookings.reserve(booking(link, [host], at(10, 30)))  # inside the hold's padding
    with pytest.raises(SlotUnavailable):
        await repos.bookings.place_hold("hold-2", [host.id], at(10), at(10, 30), 0, 0, expires)
    found = (await repos.bookings.host_bookings([host.id], Interval(at(9), at(11))))[host.id]
    assert len(found) == 1
    assert found[0].expires_at == expires and not found[0].counts_toward_caps
    assert (found[0].start, found[0].end, found[0].buffer_after) == (at(10), at(10, 30), 5)

    clock.advance(minutes=10)  # expires_at reached: the hold no longer counts
    stored, created = await repos.bookings.reserve(booking(link, [host], at(10)))
    assert created and stored.status is BookingStatus.PENDING
    assert await _count(repos, ReservationRow, ReservationRow.hold_id.is_not(None)) == 0


async def test_reserve_consumes_its_own_hold(repos: Repositories, clock: FakeClock) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    await repos.bookings.place_hold("mine", [host.id], at(10), at(10, 30), 0, 0, clock.now_value + timedelta(hours=1))
    with pytest.raises(SlotUnavailable):
        await repos.bookings.reserve(booking(link, [host], at(10)))  # someone else's request
    _, created = await repos.bookings.reserve(booking(link, [host], at(10)), hold_id="mine")
    assert created
    found = (await repos.bookings.host_bookings([host.id], Interval(at(9), at(11))))[host.id]
    assert len(found) == 1 and found[0].expires_at is None
    assert await _count(repos, ReservationRow, ReservationRow.hold_id == "mine") == 0


async def test_a_failed_reserve_keeps_the_hold(repos: Repositories, clock: FakeClock) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    await repos.bookings.reserve(booking(link, [host], at(14)))
    await repos.bookings.place_hold("mine", [host.id], at(10), at(10, 30), 0, 0, clock.now_value + timedelta(hours=1))
    cap = CapCheck(link.id, at(0), at(0, day=1), limit=1)
    with pytest.raises(SlotUnavailable):
        await repos.bookings.reserve(booking(link, [host], at(10)), cap_checks=[cap], hold_id="mine")
    assert await _count(repos, ReservationRow, ReservationRow.hold_id == "mine") == 1


async def test_placing_a_hold_again_moves_it_and_release_frees_it(repos: Repositories, clock: FakeClock) -> None:
    a = await make_user(repos, "a@contoso.com")
    b = await make_user(repos, "b@contoso.com")
    link = await make_link(repos, a)
    later = clock.now_value + timedelta(hours=1)
    await repos.bookings.place_hold("h", [a.id, b.id], at(10), at(10, 30), 0, 0, later)
    await repos.bookings.place_hold("h", [a.id, b.id], at(11), at(11, 30), 0, 0, later)  # replaces
    await repos.bookings.reserve(booking(link, [a], at(10)))
    with pytest.raises(SlotUnavailable):
        await repos.bookings.reserve(booking(link, [b], at(11)))
    await repos.bookings.release_hold("h")
    await repos.bookings.release_hold("h")  # idempotent
    await repos.bookings.reserve(booking(link, [b], at(11)))
    with pytest.raises(NotFound):
        await repos.bookings.place_hold("x", ["nobody"], at(12), at(13), 0, 0, later)
    with pytest.raises(ValidationFailed):
        await repos.bookings.place_hold("", [a.id], at(12), at(13), 0, 0, later)


# ---------------------------------------------------------------------------- idempotency, caps, single use


async def test_same_idempotency_key_returns_the_existing_booking(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    other_link = await make_link(repos, host, "60min")
    first, created = await repos.bookings.reserve(booking(link, [host], at(10), key="retry-me"))
    assert created
    again, created_again = await repos.bookings.reserve(booking(link, [host], at(10), key="retry-me"))
    assert (again, created_again) == (first, False)
    elsewhere, created_elsewhere = await repos.bookings.reserve(booking(link, [host], at(15), key="retry-me"))
    assert (elsewhere, created_elsewhere) == (first, False)  # the key wins even for another time
    _, created_other = await repos.bookings.reserve(booking(other_link, [host], at(12), key="retry-me"))
    assert created_other  # keys are per event type
    assert await _count(repos, BookingRow) == 2


async def test_idempotency_race_returns_the_winner(repos: Repositories, clock: FakeClock) -> None:
    """A concurrent request with the same key commits while ours is in flight: we get the winner back."""
    a = await make_user(repos, "a@contoso.com")
    b = await make_user(repos, "b@contoso.com")
    link = await make_link(repos, a)
    winner = booking(link, [a], at(10), key="dup")
    loser = booking(link, [b], at(12), key="dup")
    now = clock.now_value
    async with repos.db.write() as s:  # the winner's transaction, still open
        s.add(
            BookingRow(
                id=winner.id,
                tenant_id=winner.tenant_id,
                event_type_id=link.id,
                organizer_id=a.id,
                host_ids=[a.id],
                start_at=winner.start,
                end_at=winner.end,
                buffer_before=0,
                buffer_after=0,
                invitee_name="W",
                invitee_email="w@example.com",
                invitee_time_zone="UTC",
                invitee_notes="",
                invitee_answers={},
                status="pending",
                single_use=False,
                idempotency_key="dup",
                manage_token_hash=None,
                graph_event_id=None,
                ical_uid=None,
                transaction_id=winner.id,
                join_url=None,
                join_url_missing=False,
                calendar_sync="in_sync",
                cancel_reason="",
                created_at=now,
                updated_at=now,
                pending_deadline=None,
                version=1,
            )
        )
        await s.flush()
        racing = asyncio.create_task(repos.bookings.reserve(loser))
        await asyncio.sleep(0.3)
        assert not racing.done()  # blocked behind the open transaction
    got, created = await racing
    assert not created and got.id == winner.id
    assert await _count(repos, BookingRow) == 1


async def test_caps_count_holding_bookings_of_the_event_type(repos: Repositories) -> None:
    a = await make_user(repos, "a@contoso.com")
    b = await make_user(repos, "b@contoso.com")
    link = await make_link(repos, a)
    other = await make_link(repos, a, "other")
    day = CapCheck(link.id, at(0), at(0, day=1), limit=2)
    await repos.bookings.reserve(booking(other, [a], at(9)), cap_checks=[day])  # other link: not counted
    first, _ = await repos.bookings.reserve(booking(link, [a], at(10)), cap_checks=[day])
    await repos.bookings.reserve(booking(link, [b], at(11)), cap_checks=[day])  # per link, across hosts
    with pytest.raises(SlotUnavailable):
        await repos.bookings.reserve(booking(link, [a], at(12)), cap_checks=[day])
    await repos.bookings.reserve(
        booking(link, [a], at(12, day=1)), cap_checks=[CapCheck(link.id, at(0, day=1), at(0, day=2), limit=2)]
    )
    week = CapCheck(link.id, at(0), at(0, day=7), limit=3)
    with pytest.raises(SlotUnavailable):
        await repos.bookings.reserve(booking(link, [a], at(12, day=2)), cap_checks=[week])
    await repos.bookings.cancel(first.id, reason="no longer")
    await repos.bookings.reserve(booking(link, [a], at(12)), cap_checks=[day, week])
    assert await _count(repos, BookingRow, BookingRow.status == "pending") == 4


async def test_single_use_link_takes_one_holding_booking(repos: Repositories) -> None:
    a = await make_user(repos, "a@contoso.com")
    b = await make_user(repos, "b@contoso.com")
    link = await make_link(repos, a, single_use=True)
    first, _ = await repos.bookings.reserve(booking(link, [a], at(10)), single_use=True)
    with pytest.raises(SlotUnavailable):
        await repos.bookings.reserve(booking(link, [b], at(14)), single_use=True)
    await repos.bookings.cancel(first.id, reason="oops")
    await repos.bookings.reserve(booking(link, [b], at(14)), single_use=True)
    assert await _count(repos, BookingRow, BookingRow.status == "pending") == 1


async def test_single_use_is_also_a_database_constraint(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host, single_use=True)
    first, _ = await repos.bookings.reserve(booking(link, [host], at(10)), single_use=True)
    copied = (  # named, so columns added by later revisions (NULL or defaulted) don't shift anything
        "tenant_id, event_type_id, organizer_id, host_ids, start_at, end_at, buffer_before, buffer_after, "
        "invitee_name, invitee_email, invitee_time_zone, invitee_notes, invitee_answers, status, single_use, "
        "graph_event_id, ical_uid, transaction_id, join_url, join_url_missing, calendar_sync, cancel_reason, "
        "created_at, updated_at, pending_deadline, version"
    )
    sql = text(f"INSERT INTO bookings (id, {copied}) SELECT 'copy', {copied} FROM bookings WHERE id = :id")
    with pytest.raises(IntegrityError):
        async with repos.db.write() as s:
            await s.execute(sql, {"id": first.id})


# ---------------------------------------------------------------------------- lifecycle


async def test_confirm_is_atomic_with_its_outbox_and_idempotent(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    pending, _ = await repos.bookings.reserve(booking(link, [host], at(10)))
    items = [
        OutboxItem("booking.created", link.tenant_id, {"id": pending.id}, f"booking.created:{pending.id}"),
        OutboxItem(
            "booking.created", link.tenant_id, {"id": pending.id}, f"booking.created:{pending.id}", channel="webhook"
        ),
    ]
    done = await repos.bookings.confirm(
        pending.id, graph_event_id="evt", ical_uid="ical", join_url=None, join_url_missing=True, outbox=items
    )
    assert done.status is BookingStatus.CONFIRMED and done.version == 1
    assert (done.graph_event_id, done.ical_uid, done.join_url, done.join_url_missing) == ("evt", "ical", None, True)
    assert await repos.bookings.get(pending.id) == done
    assert await _count(repos, OutboxRow) == 1  # same dedupe key twice: stored once
    again = await repos.bookings.confirm(
        pending.id,
        graph_event_id="other",
        ical_uid=None,
        join_url="x",
        join_url_missing=False,
        outbox=[OutboxItem("booking.created", link.tenant_id, {}, "second")],
    )
    assert again == done and await _count(repos, OutboxRow) == 1
    with pytest.raises(NotFound):
        await repos.bookings.confirm("nope", graph_event_id="e", ical_uid=None, join_url=None, join_url_missing=False)


async def test_confirm_after_release_changes_nothing(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    pending, _ = await repos.bookings.reserve(booking(link, [host], at(10)))
    released = await repos.bookings.release(pending.id, "deadline passed")
    assert released.status is BookingStatus.RELEASED and released.cancel_reason == "deadline passed"
    late = await repos.bookings.confirm(
        pending.id,
        graph_event_id="evt",
        ical_uid=None,
        join_url=None,
        join_url_missing=False,
        outbox=[OutboxItem("booking.created", "t", {}, "late")],
    )
    assert late == released and await _count(repos, OutboxRow) == 0


async def test_release_only_touches_pending_bookings(repos: Repositories, clock: FakeClock) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    confirmed = await _confirmed(repos, (await repos.bookings.reserve(booking(link, [host], at(10))))[0])
    assert await repos.bookings.release(confirmed.id, "no") == confirmed
    with pytest.raises(NotFound):
        await repos.bookings.release("nope", "no")
    pending, _ = await repos.bookings.reserve(booking(link, [host], at(11)))
    before = clock.now_value
    clock.advance(minutes=5)
    await repos.bookings.release(pending.id, "calendar refused")
    assert [b.id for b in await repos.bookings.released_since(before)] == [pending.id]
    assert await repos.bookings.released_since(clock.advance(minutes=1)) == []


async def test_move_reserves_the_new_interval_and_frees_the_old(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    b = await _confirmed(repos, (await repos.bookings.reserve(booking(link, [host], at(10), after=10)))[0])
    note = OutboxItem("booking.rescheduled", link.tenant_id, {"id": b.id}, f"booking.rescheduled:{b.id}:2")
    moved = await repos.bookings.move(b.id, start=at(10, 15), end=at(10, 45), expected_version=1, outbox=[note])
    # overlapping its own old interval is fine
    assert (moved.start, moved.end, moved.version) == (at(10, 15), at(10, 45), 2)
    assert moved.calendar_sync is CalendarSync.UPDATE_PENDING and moved.status is BookingStatus.CONFIRMED
    assert await repos.bookings.get(b.id) == moved
    assert await _count(repos, OutboxRow) == 1
    await repos.bookings.reserve(booking(link, [host], at(9, 45)))  # the old start is free again
    with pytest.raises(SlotUnavailable):
        await repos.bookings.reserve(booking(link, [host], at(10, 45)))  # new padding [.., 10:55)
    found = (await repos.bookings.host_bookings([host.id], Interval(at(10, 20), at(10, 21))))[host.id]
    assert [(x.start, x.end) for x in found] == [(at(10, 15), at(10, 45))]


async def test_move_refuses_overlap_caps_stale_versions_and_unconfirmed(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    b = await _confirmed(repos, (await repos.bookings.reserve(booking(link, [host], at(10))))[0])
    await repos.bookings.reserve(booking(link, [host], at(12)))
    with pytest.raises(SlotUnavailable):
        await repos.bookings.move(b.id, start=at(12, 15), end=at(12, 45), expected_version=1)
    day = CapCheck(link.id, at(0), at(0, day=1), limit=2)
    await repos.bookings.move(b.id, start=at(14), end=at(14, 30), expected_version=1, cap_checks=[day])  # self excluded
    with pytest.raises(SlotUnavailable):
        await repos.bookings.move(
            b.id,
            start=at(15),
            end=at(15, 30),
            expected_version=2,
            cap_checks=[CapCheck(link.id, at(0), at(0, day=1), limit=1)],
        )
    with pytest.raises(Conflict):
        await repos.bookings.move(b.id, start=at(16), end=at(16, 30), expected_version=1)  # stale
    pending, _ = await repos.bookings.reserve(booking(link, [host], at(17)))
    with pytest.raises(Conflict):
        await repos.bookings.move(pending.id, start=at(18), end=at(18, 30), expected_version=1)
    with pytest.raises(NotFound):
        await repos.bookings.move("nope", start=at(18), end=at(18, 30), expected_version=1)
    current = await repos.bookings.get(b.id)
    assert current is not None and (current.start, current.version) == (at(14), 2)
    assert await _count(repos, OutboxRow) == 0


async def test_cancel_frees_time_bumps_version_and_enqueues(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    b = await _confirmed(repos, (await repos.bookings.reserve(booking(link, [host], at(10))))[0])
    with pytest.raises(Conflict):
        await repos.bookings.cancel(b.id, reason="x", expected_version=7)
    note = OutboxItem("booking.cancelled", link.tenant_id, {"id": b.id}, f"booking.cancelled:{b.id}")
    cancelled = await repos.bookings.cancel(b.id, reason="sick", expected_version=1, outbox=[note])
    assert cancelled.status is BookingStatus.CANCELLED and cancelled.cancel_reason == "sick"
    assert cancelled.calendar_sync is CalendarSync.CANCEL_PENDING and cancelled.version == 2
    assert await _count(repos, OutboxRow) == 1
    with pytest.raises(Conflict):
        await repos.bookings.cancel(b.id, reason="again")
    with pytest.raises(NotFound):
        await repos.bookings.cancel("nope", reason="x")
    pending, _ = await repos.bookings.reserve(booking(link, [host], at(10)))  # time is free
    no_event = await repos.bookings.cancel(pending.id, reason="never confirmed")
    assert no_event.calendar_sync is CalendarSync.IN_SYNC  # nothing in Outlook to cancel


async def test_mark_synced_only_for_the_current_version(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    b = await _confirmed(repos, (await repos.bookings.reserve(booking(link, [host], at(10))))[0])
    moved = await repos.bookings.move(b.id, start=at(11), end=at(11, 30), expected_version=1)
    moved_again = await repos.bookings.move(b.id, start=at(12), end=at(12, 30), expected_version=2)
    assert [x.id for x in await repos.bookings.out_of_sync()] == [b.id]
    await repos.bookings.mark_synced(b.id, moved.version)  # a stale PATCH finishing late
    assert (await repos.bookings.get(b.id)).calendar_sync is CalendarSync.UPDATE_PENDING  # type: ignore[union-attr]
    await repos.bookings.mark_synced(b.id, moved_again.version)
    assert (await repos.bookings.get(b.id)).calendar_sync is CalendarSync.IN_SYNC  # type: ignore[union-attr]
    assert await repos.bookings.out_of_sync() == []
    await repos.bookings.mark_synced("nope", 1)  # unknown: nothing to do


async def test_pending_past_deadline(repos: Repositories) -> None:
    host = await make_user(repos)
    link = await make_link(repos, host)
    late, _ = await repos.bookings.reserve(booking(link, [host], at(10), pending_deadline=at(8)))
    later, _ = await repos.bookings.reserve(booking(link, [host], at(11), pending_deadline=at(8, 30)))
    await repos.bookings.reserve(booking(link, [host], at(12), pending_deadline=at(9)))
    await repos.bookings.reserve(booking(link, [host], at(13)))  # no deadline
    done, _ = await repos.bookings.reserve(booking(link, [host], at(14), pending_deadline=at(7)))
    await _confirmed(repos, done)
    assert [b.id for b in await repos.bookings.pending_past_deadline(at(8, 30))] == [late.id, later.id]


# ---------------------------------------------------------------------------- queries


async def test_host_bookings_reports_padded_overlaps_per_host(repos: Repositories, clock: FakeClock) -> None:
    a = await make_user(repos, "a@contoso.com")
    b = await make_user(repos, "b@contoso.com")
    c = await make_user(repos, "c@contoso.com")
    link = await make_link(repos, a)
    other = await make_link(repos, a, "other")
    padded, _ = await repos.bookings.reserve(booking(link, [a], at(9), after=30))  # [9:00, 10:00)
    await repos.bookings.reserve(booking(other, [a, b], at(11)))
    cancelled, _ = await repos.bookings.reserve(booking(link, [b], at(10)))
    await repos.bookings.cancel(cancelled.id, reason="x")
    await repos.bookings.reserve(booking(link, [a], at(15)))  # outside the window
    await repos.bookings.place_hold("h", [b.id], at(12), at(12, 30), 0, 0, clock.now_value + timedelta(hours=1))

    found = await repos.bookings.host_bookings(
        [a.id, b.id, c.id], Interval(at(9, 45), at(13)), caps_event_type_id=link.id
    )
    assert set(found) == {a.id, b.id, c.id} and found[c.id] == []
    assert [(x.start, x.counts_toward_caps) for x in found[a.id]] == [(at(9), True), (at(11), False)]
    assert [(x.start, x.counts_toward_caps, x.expires_at is not None) for x in found[b.id]] == [
        (at(11), False, False),
        (at(12), False, True),
    ]
    without = await repos.bookings.host_bookings([a.id], Interval(at(9, 45), at(13)), exclude_booking_id=padded.id)
    assert [x.start for x in without[a.id]] == [at(11)]
    assert all(not x.counts_toward_caps for x in without[a.id])
    assert await repos.bookings.host_bookings([], Interval(at(9), at(10))) == {}


async def test_upcoming_for_host_is_scoped_ordered_and_limited(repos: Repositories) -> None:
    a = await make_user(repos, "a@contoso.com")
    b = await make_user(repos, "b@contoso.com")
    link = await make_link(repos, a)
    first, _ = await repos.bookings.reserve(booking(link, [a], at(11)))
    shared, _ = await repos.bookings.reserve(booking(link, [b, a], at(10)))
    third = await _confirmed(repos, (await repos.bookings.reserve(booking(link, [a], at(12))))[0])
    past, _ = await repos.bookings.reserve(booking(link, [a], at(8)))
    gone, _ = await repos.bookings.reserve(booking(link, [a], at(13)))
    await repos.bookings.cancel(gone.id, reason="x")
    result = await repos.bookings.upcoming_for_host(link.tenant_id, a.id, at(9))
    assert [x.id for x in result] == [shared.id, first.id, third.id]
    assert past.id not in [x.id for x in result]
    assert [x.id for x in await repos.bookings.upcoming_for_host(link.tenant_id, a.id, at(9), limit=2)] == [
        shared.id,
        first.id,
    ]
    assert await repos.bookings.upcoming_for_host("another-tenant", a.id, at(9)) == []
    assert [x.id for x in await repos.bookings.upcoming_for_host(link.tenant_id, b.id, at(9))] == [shared.id]
    # a meeting in progress (ends after ``after``) is still upcoming
    assert [x.id for x in await repos.bookings.upcoming_for_host(link.tenant_id, a.id, at(12, 10))] == [third.id]
