"""GraphCalendar (the core's CalendarPort) against the Graph emulator over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from graph.adapter import GraphCalendar
from graph.errors import (
    AccessDenied,
    CalendarAuthError,
    GraphNotFound,
    GraphThrottled,
    GraphTransient,
    MailboxNotEnabled,
    ScheduleUnavailable,
)
from graph.models import BOOKING_ID_PROPERTY, LEGACY_BOOKING_ID_PROPERTY
from scheduling.errors import HostUnavailable, IntegrationError
from scheduling.intervals import Interval
from scheduling.ports import Attendee, CalendarPort, EventDraft, HostCalendar, Location, LocationKind
from scheduling.rules import BusyStatus
from tests.graph.graph_harness import Emulator, Recording, running_emulator
from tests.ports import assert_implements

ADELE = "adele@contoso.example"
MEGAN = "megan@contoso.example"
T0 = datetime(2030, 3, 4, 0, 0, tzinfo=UTC)  # a Monday
MONTH = Interval(T0, T0 + timedelta(days=30))


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with running_emulator() as e:
        e.state.add_user(upn=ADELE, display_name="Adele Vance", time_zone="Pacific Standard Time")
        e.state.add_user(upn=MEGAN, display_name="Megan Bowen", time_zone="W. Europe Standard Time")
        yield e


def host(upn: str = ADELE, **changes: Any) -> HostCalendar:
    zone = "America/Los_Angeles" if upn == ADELE else "Europe/Berlin"
    return replace(HostCalendar(user_id=upn, mailbox=upn, time_zone=zone), **changes)


def draft(**changes: Any) -> EventDraft:
    base = EventDraft(
        subject="Intro call",
        body_text="Booked with Slotwise.",
        start=T0 + timedelta(hours=17),
        end=T0 + timedelta(hours=17, minutes=30),
        time_zone="America/Los_Angeles",
        attendees=(Attendee("Ivy Invitee", "ivy@fabrikam.example"),),
        location=Location(LocationKind.TEAMS),
        transaction_id="tx-1",
        booking_id="bk-1",
    )
    return replace(base, **changes)


def calendar(emu: Emulator, **kwargs: Any) -> GraphCalendar:
    return GraphCalendar(emu.client(**kwargs))


def test_graph_calendar_implements_the_port() -> None:
    assert_implements(CalendarPort, GraphCalendar)


async def test_busy_of_one_host_over_30_days_is_one_request(emu: Emulator) -> None:
    s = emu.state
    s.add_event(ADELE, "Busy", T0 + timedelta(days=1, hours=17), T0 + timedelta(days=1, hours=18))
    s.add_event(ADELE, "Maybe", T0 + timedelta(days=2, hours=17), T0 + timedelta(days=2, hours=18), show_as="tentative")
    s.add_event(ADELE, "Away", T0 + timedelta(days=3, hours=17), T0 + timedelta(days=3, hours=18), show_as="oof")
    s.add_event(ADELE, "Free", T0 + timedelta(days=4, hours=17), T0 + timedelta(days=4, hours=18), show_as="free")
    s.add_event(ADELE, "Late", T0 + timedelta(days=29, hours=17), T0 + timedelta(days=29, hours=18))
    cal = calendar(emu)
    async with cal.client:
        busy = await cal.busy(host(), MONTH)
    assert len(emu.state.request_log) == 1 and "getSchedule" in emu.state.request_log[0].path
    assert [(b.start - T0, b.status) for b in busy] == [
        (timedelta(days=1, hours=17), BusyStatus.BUSY),
        (timedelta(days=2, hours=17), BusyStatus.TENTATIVE),
        (timedelta(days=3, hours=17), BusyStatus.OOF),
        (timedelta(days=29, hours=17), BusyStatus.BUSY),
    ]


async def test_busy_many_of_20_hosts_over_30_days_is_one_request(emu: Emulator) -> None:
    hosts = [host(MEGAN)]
    for i in range(19):
        upn = f"p{i}@contoso.example"
        emu.state.add_user(upn=upn, display_name=f"P {i}", time_zone="Eastern Standard Time")
        emu.state.add_event(upn, "Busy", T0 + timedelta(days=i, hours=15), T0 + timedelta(days=i, hours=16))
        hosts.append(replace(host(upn), user_id=f"user-{i}"))
    cal = calendar(emu, token_provider=_provider(emu))
    async with cal.client:
        result = await cal.busy_many(hosts, MONTH)
    assert len(emu.state.request_log) == 1
    assert list(result) == [h.user_id for h in hosts]
    assert result[MEGAN] == []
    for i in range(19):
        busy = result[f"user-{i}"]
        assert not isinstance(busy, IntegrationError)
        assert [b.start for b in busy] == [T0 + timedelta(days=i, hours=15)]


def _provider(emu: Emulator, broken: frozenset[str] = frozenset()) -> Any:
    """Slotwise user ids -> the emulator user whose token is used; ``broken`` users lost their sign-in."""

    async def provide(user_id: str, force_refresh: bool = False) -> str:
        if user_id in broken:
            raise CalendarAuthError(graph_code="invalid_grant")
        upn = f"p{user_id.removeprefix('user-')}@contoso.example" if user_id.startswith("user-") else user_id
        return emu.state.issue_token(upn)

    return provide


async def test_busy_many_maps_failures_to_error_values_never_to_empty_lists(emu: Emulator) -> None:
    emu.state.add_user(upn="gone@contoso.example", display_name="Gone")
    emu.state.user("gone@contoso.example").mailbox_enabled = False
    emu.state.add_event(MEGAN, "Busy", T0 + timedelta(hours=9), T0 + timedelta(hours=10))
    hosts = [host(ADELE), host(MEGAN), host("gone@contoso.example"), host("ghost@contoso.example")]
    cal = calendar(emu, token_provider=_provider(emu, broken=frozenset({ADELE})))
    async with cal.client:
        result = await cal.busy_many(hosts, MONTH)
    adele = result[ADELE]
    assert isinstance(adele, CalendarAuthError) and adele.reconnect_required
    megan = result[MEGAN]
    assert not isinstance(megan, IntegrationError) and len(megan) == 1  # read with Megan's token instead
    for bad in ("gone@contoso.example", "ghost@contoso.example"):
        err = result[bad]
        assert isinstance(err, HostUnavailable) and err.host_id == bad and bad in str(err)
        assert isinstance(err.__cause__, ScheduleUnavailable) and err.__cause__.graph_code == "5016"
    assert len(emu.graph_requests("getSchedule")) == 1


async def test_busy_many_skips_a_token_holder_without_a_mailbox(emu: Emulator) -> None:
    emu.state.user(ADELE).mailbox_enabled = False
    emu.state.add_event(MEGAN, "Busy", T0 + timedelta(hours=9), T0 + timedelta(hours=10))
    cal = calendar(emu)
    async with cal.client:
        result = await cal.busy_many([host(ADELE), host(MEGAN)], MONTH)
    assert isinstance(result[ADELE], MailboxNotEnabled)
    assert [b.start for b in result[MEGAN]] == [T0 + timedelta(hours=9)]  # type: ignore[union-attr]


async def test_busy_many_reports_throttling_for_every_host_of_the_failed_call(emu: Emulator) -> None:
    emu.state.faults.throttle(count=10, retry_after=0.01, path="getSchedule")
    cal = calendar(emu, max_retries=1)
    async with cal.client:
        result = await cal.busy_many([host(ADELE), host(MEGAN)], MONTH)
    assert all(isinstance(v, GraphThrottled) for v in result.values())


async def test_busy_over_selected_calendars_uses_one_batch(emu: Emulator) -> None:
    s = emu.state
    default_id = s.default_calendar(ADELE).id
    shared = s.add_calendar(ADELE, "Team", can_edit=False, owner_upn=MEGAN)
    s.add_event(ADELE, "Own", T0 + timedelta(hours=17), T0 + timedelta(hours=18))
    s.add_event(
        MEGAN,
        "Team offsite",
        T0 + timedelta(days=1, hours=17),
        T0 + timedelta(days=1, hours=19),
        calendar_id=shared["id"],
    )
    s.add_event(ADELE, "Holiday", date(2030, 3, 6), date(2030, 3, 7), is_all_day=True, show_as="oof")
    s.add_event(
        ADELE, "Lunch (free)", T0 + timedelta(days=4, hours=20), T0 + timedelta(days=4, hours=21), show_as="free"
    )
    cal = calendar(emu)
    h = host(conflict_calendar_ids=(default_id, shared["id"]))
    async with cal.client:
        busy = await cal.busy(h, MONTH)
    assert [r.path for r in emu.state.request_log if not r.path.startswith("$batch:")] == ["/$batch"]
    pacific_midnight = datetime(2030, 3, 6, 8, 0, tzinfo=UTC)  # all-day = host-local day
    assert [(b.start, b.end, b.status) for b in busy if b.status is BusyStatus.OOF] == [
        (pacific_midnight, pacific_midnight + timedelta(days=1), BusyStatus.OOF)
    ]
    starts = sorted(b.start for b in busy)
    assert T0 + timedelta(hours=17) in starts and T0 + timedelta(days=1, hours=17) in starts
    assert T0 + timedelta(days=4, hours=20) not in starts  # free never blocks


async def test_cancelled_meetings_on_an_attendees_calendar_do_not_block(emu: Emulator) -> None:
    s = emu.state
    s.add_event(
        ADELE, "Team sync", T0 + timedelta(hours=17), T0 + timedelta(hours=18), organizer=MEGAN, attendees=[ADELE]
    )
    s.stored_events(ADELE)[0].is_cancelled = True  # the organizer cancelled; Adele's copy stays
    cal = calendar(emu)
    h = host(conflict_calendar_ids=(s.default_calendar(ADELE).id,))
    async with cal.client:
        assert await cal.busy(h, MONTH) == []
        assert await cal.busy(host(), MONTH) == []


async def test_a_failed_read_raises(emu: Emulator) -> None:
    emu.state.user(ADELE).mailbox_enabled = False
    cal = calendar(emu)
    async with cal.client:
        with pytest.raises(MailboxNotEnabled):
            await cal.busy(host(), MONTH)
        with pytest.raises(MailboxNotEnabled):
            await cal.busy(host(conflict_calendar_ids=("AAMkAGI1AAAt9AHjAAA=",)), MONTH)
        with pytest.raises(HostUnavailable):  # Graph answered, but not for Megan
            await cal.busy(host(MEGAN, user_id=MEGAN, mailbox="ghost@contoso.example"), MONTH)
    emu.state.user(ADELE).mailbox_enabled = True
    emu.state.faults.unavailable(count=20, status=503)
    async with calendar(emu, max_retries=2).client as client:
        with pytest.raises(GraphTransient):
            await GraphCalendar(client).busy(host(), MONTH)
        with pytest.raises(GraphTransient):
            await GraphCalendar(client).busy(host(conflict_calendar_ids=("x",)), MONTH)


async def test_create_event_with_teams_and_read_it_back(emu: Emulator) -> None:
    cal = calendar(emu)
    async with cal.client:
        event = await cal.create_event(host(), draft())
        fetched = await cal.get_event(host(), event.event_id)
    assert event.join_url and event.is_online_meeting and event.booking_id == "bk-1"
    assert event.start == T0 + timedelta(hours=17) and event.transaction_id == "tx-1"
    assert fetched is not None and fetched.join_url == event.join_url and fetched.booking_id == "bk-1"
    assert [p for p in (r.method for r in emu.state.request_log)] == ["POST", "GET"]


async def test_tenant_policy_dropping_teams_gives_no_join_url(emu: Emulator) -> None:
    emu.state.user(ADELE).drop_online_meetings = True
    cal = calendar(emu)
    async with cal.client:
        event = await cal.create_event(host(), draft())
    assert event.join_url is None and not event.is_online_meeting
    assert [r.method for r in emu.state.request_log] == ["POST"]  # no read-back here: the core does the only one
    assert len(emu.state.events(ADELE)) == 1


async def test_create_event_in_the_chosen_calendar_is_idempotent(emu: Emulator) -> None:
    other = emu.state.add_calendar(ADELE, "Bookings")
    h = host(write_calendar_id=other["id"])
    cal = calendar(emu)
    async with cal.client:
        first = await cal.create_event(h, draft(location=Location(LocationKind.IN_PERSON, "HQ 4.01")))
        retry = await cal.create_event(h, draft(location=Location(LocationKind.IN_PERSON, "HQ 4.01")))
    assert first.event_id == retry.event_id and first.join_url is None
    assert len(emu.state.events(ADELE, calendar_id=other["id"])) == 1
    assert emu.state.events(ADELE)[0]["location"]["displayName"] == "HQ 4.01"


async def test_get_event_of_a_deleted_event_is_none(emu: Emulator) -> None:
    cal = calendar(emu)
    async with cal.client:
        event = await cal.create_event(host(), draft())
        emu.state.remove_event(ADELE, event.event_id)
        assert await cal.get_event(host(), event.event_id) is None


async def test_a_move_sends_only_start_and_end_with_an_explicit_zone(emu: Emulator) -> None:
    wire = Recording()
    cal = calendar(emu, transport=wire)
    async with cal.client:
        event = await cal.create_event(host(), draft())
        body = emu.state.get_event(ADELE, event.event_id)["body"]  # type: ignore[index]
        wire.sent.clear()
        start, end = T0 + timedelta(days=2, hours=18), T0 + timedelta(days=2, hours=19)
        moved = await cal.move_event(host(), event.event_id, start, end, "America/Los_Angeles")
    assert wire.sent == [
        (
            "PATCH",
            {
                "start": {"dateTime": "2030-03-06T10:00:00", "timeZone": "America/Los_Angeles"},
                "end": {"dateTime": "2030-03-06T11:00:00", "timeZone": "America/Los_Angeles"},
            },
        )
    ]
    assert (moved.start, moved.end) == (start, end)
    assert moved.join_url == event.join_url and moved.subject == "Intro call"
    assert emu.state.get_event(ADELE, event.event_id)["body"] == body  # type: ignore[index]


async def test_a_move_keeps_the_attendees_and_subject_the_host_changed_in_outlook(emu: Emulator) -> None:
    cal = calendar(emu)
    async with cal.client:
        event = await cal.create_event(host(), draft())
        # The host adds a colleague and renames the meeting in Outlook (through Graph, as Outlook would).
        outlook = emu.client()
        async with outlook:
            await outlook.update_event(
                ADELE,
                event.event_id,
                {
                    "subject": "Intro call + Megan",
                    "attendees": [
                        {
                            "emailAddress": {"address": "ivy@fabrikam.example", "name": "Ivy Invitee"},
                            "type": "required",
                        },
                        {"emailAddress": {"address": MEGAN, "name": "Megan Bowen"}, "type": "optional"},
                    ],
                },
            )
        start = T0 + timedelta(days=1, hours=17)
        moved = await cal.move_event(
            host(), event.event_id, start, start + timedelta(minutes=30), "America/Los_Angeles"
        )
    stored = emu.state.get_event(ADELE, event.event_id)
    assert stored is not None
    assert [(a["emailAddress"]["address"], a["type"]) for a in stored["attendees"]] == [
        ("ivy@fabrikam.example", "required"),
        (MEGAN, "optional"),
    ]
    assert stored["subject"] == "Intro call + Megan" and moved.subject == "Intro call + Megan"
    assert moved.start == start and len(moved.attendees) == 2


async def test_the_fallback_location_is_a_location_only_patch(emu: Emulator) -> None:
    emu.state.get_user(ADELE).drop_online_meetings = True  # type: ignore[union-attr]
    wire = Recording()
    cal = calendar(emu, transport=wire)
    async with cal.client:
        event = await cal.create_event(host(), draft())
        assert event.join_url is None
        wire.sent.clear()
        placed = await cal.set_event_location(host(), event.event_id, Location(LocationKind.PHONE, "+1 555 0100"))
        untouched = await cal.set_event_location(host(), event.event_id, Location(LocationKind.CUSTOM, ""))
    assert wire.sent[0] == ("PATCH", {"location": {"displayName": "+1 555 0100", "locationType": "default"}})
    assert [m for m, _ in wire.sent[1:]] == ["GET"]  # nothing to set: no PATCH
    stored = emu.state.get_event(ADELE, event.event_id)
    assert stored is not None and stored["location"]["displayName"] == "+1 555 0100"
    assert stored["subject"] == "Intro call" and (placed.start, placed.end) == (event.start, event.end)
    assert untouched.event_id == event.event_id


async def test_cancel_sends_the_message_and_a_missing_event_counts_as_cancelled(emu: Emulator) -> None:
    cal = calendar(emu)
    async with cal.client:
        event = await cal.create_event(host(), draft())
        await cal.cancel_event(host(), event.event_id, "Sorry, something came up.")
        assert emu.state.cancellations[-1]["comment"] == "Sorry, something came up."
        assert await cal.get_event(host(), event.event_id) is None
        await cal.cancel_event(host(), event.event_id, "again")  # already gone: no error


async def test_find_booking_events_returns_only_tagged_ones(emu: Emulator) -> None:
    emu.state.add_event(ADELE, "Dentist", T0 + timedelta(hours=20), T0 + timedelta(hours=21))
    cal = calendar(emu)
    async with cal.client:
        a = await cal.create_event(host(), draft())
        b = await cal.create_event(
            host(),
            draft(
                transaction_id="tx-2",
                booking_id="bk-2",
                start=T0 + timedelta(days=1, hours=17),
                end=T0 + timedelta(days=1, hours=18),
            ),
        )
        found = await cal.find_booking_events(host(), MONTH)
    assert sorted((e.event_id, e.booking_id) for e in found) == sorted([(a.event_id, "bk-1"), (b.event_id, "bk-2")])


async def test_new_events_carry_our_own_tag_and_legacy_tagged_events_are_still_ours(emu: Emulator) -> None:
    legacy = emu.state.add_event(
        ADELE,
        "Intro call (booked last year)",
        T0 + timedelta(days=2, hours=17),
        T0 + timedelta(days=2, hours=18),
        transaction_id="bk-old",
        single_value_extended_properties=[{"id": LEGACY_BOOKING_ID_PROPERTY, "value": "bk-old"}],
    )
    emu.state.add_event(
        ADELE,
        "Another app's event",
        T0 + timedelta(days=3, hours=17),
        T0 + timedelta(days=3, hours=18),
        single_value_extended_properties=[
            {"id": "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name Color", "value": "green"}
        ],
    )
    cal = calendar(emu)
    async with cal.client:
        new = await cal.create_event(host(), draft())
        found = await cal.find_booking_events(host(), MONTH)
        old = await cal.get_event(host(), legacy["id"])
    assert sorted((e.event_id, e.booking_id) for e in found) == sorted(
        [(new.event_id, "bk-1"), (legacy["id"], "bk-old")]
    )
    assert old is not None and old.booking_id == "bk-old"
    written = emu.state.get_event(ADELE, new.event_id)
    assert written is not None
    assert written["singleValueExtendedProperties"] == [{"id": BOOKING_ID_PROPERTY, "value": "bk-1"}]
    assert "66f5a359-4659-4830-9070-00047ec6ac6e" not in BOOKING_ID_PROPERTY


async def test_mailbox_defaults_come_from_outlook(emu: Emulator) -> None:
    emu.state.add_user(
        upn="w@contoso.example",
        display_name="Wen",
        time_zone="Tokyo Standard Time",
        working_days=("monday", "tuesday", "wednesday"),
        working_start="10:00:00",
        working_end="18:30:00",
    )
    emu.state.add_user(
        upn="x@contoso.example",
        display_name="Xi",
        time_zone="Eastern Standard Time",
        working_time_zone="Pacific Standard Time",
        working_start="09:00:00",
        working_end="17:00:00",
    )
    cal = calendar(emu)
    async with cal.client:
        wen = await cal.mailbox_defaults(host("w@contoso.example"))
        xi = await cal.mailbox_defaults(host("x@contoso.example"))
    assert wen.time_zone == "Asia/Tokyo" and wen.working_days == (0, 1, 2)
    assert (wen.working_start, wen.working_end) == (600, 1110)
    assert (wen.display_name, wen.email) == ("Wen", "w@contoso.example")
    assert xi.time_zone == "America/New_York" and (xi.working_start, xi.working_end) == (12 * 60, 20 * 60)


# ------------------------------------------------------------------------ which calendars count (issue 16)


async def test_list_calendars_own_and_shared_default_first(emu: Emulator) -> None:
    s = emu.state
    s.add_calendar(ADELE, "Side projects")
    s.add_calendar(ADELE, "Team", can_edit=False, owner_upn=MEGAN)
    s.add_calendar(ADELE, "Rota", can_edit=True, owner_upn=MEGAN)
    cal = calendar(emu)
    async with cal.client:
        calendars = await cal.list_calendars(host())
    assert len(emu.state.request_log) == 1
    assert [(c.name, c.owner_email, c.can_edit, c.is_default) for c in calendars] == [
        ("Calendar", ADELE, True, True),
        ("Side projects", ADELE, True, False),
        ("Team", MEGAN, False, False),
        ("Rota", MEGAN, True, False),
    ]
    assert calendars[2].owner_name == "Megan Bowen" and calendars[0].id == s.default_calendar(ADELE).id


def three_calendars(emu: Emulator) -> HostCalendar:
    """Adele's default calendar, a secondary one of hers and Megan's team calendar shared with her, each
    with a busy event, a tentative one, a free one and a cancelled one."""
    s = emu.state
    side = s.add_calendar(ADELE, "Side projects")["id"]
    team = s.add_calendar(ADELE, "Team", can_edit=False, owner_upn=MEGAN)["id"]
    ids = (s.default_calendar(ADELE).id, side, team)
    for day, cal_id in enumerate(ids):
        owner = MEGAN if cal_id == team else ADELE
        base = T0 + timedelta(days=day, hours=17)
        s.add_event(owner, f"busy {day}", base, base + timedelta(hours=1), calendar_id=cal_id)
        s.add_event(
            owner,
            f"maybe {day}",
            base + timedelta(hours=2),
            base + timedelta(hours=3),
            show_as="tentative",
            calendar_id=cal_id,
        )
        s.add_event(
            owner,
            f"free {day}",
            base + timedelta(hours=4),
            base + timedelta(hours=5),
            show_as="free",
            calendar_id=cal_id,
        )
        s.add_event(owner, f"off {day}", base + timedelta(hours=6), base + timedelta(hours=7), calendar_id=cal_id)
        s.stored_events(owner, cal_id)[-1].is_cancelled = True
    return host(conflict_calendar_ids=ids)


async def test_a_slot_view_over_three_calendars_is_one_graph_request(emu: Emulator) -> None:
    h = three_calendars(emu)
    transport = Recording()
    cal = calendar(emu, transport=transport)
    async with cal.client:
        busy = await cal.busy(h, MONTH)
    assert len(transport.sent) == 1 and transport.sent[0][0] == "POST"  # the figure: 1 request
    inner = transport.sent[0][1]["requests"]
    assert len(inner) == 3 and all("/calendarView?" in r["url"] for r in inner)
    assert [r.path for r in emu.state.request_log if not r.path.startswith("$batch:")] == ["/$batch"]
    assert [(b.start - T0, b.status) for b in busy] == [
        (timedelta(days=day, hours=17 + extra), status)
        for day in range(3)
        for extra, status in ((0, BusyStatus.BUSY), (2, BusyStatus.TENTATIVE))
    ]


async def test_paging_adds_one_request_per_further_page(emu: Emulator) -> None:
    h = three_calendars(emu)
    cal = calendar(emu, page_size=3)  # 4 events a calendar: each needs a second page
    async with cal.client:
        busy = await cal.busy(h, MONTH)
    outer = [r.path for r in emu.state.request_log if not r.path.startswith("$batch:")]
    assert outer[0] == "/$batch" and len(outer) == 4 and all(p.endswith("/calendarView") for p in outer[1:])
    assert len(busy) == 6


async def test_a_withdrawn_share_fails_the_read_closed(emu: Emulator) -> None:
    h = three_calendars(emu)
    emu.state.calendars[h.conflict_calendar_ids[2]].shares.clear()  # Megan stopped sharing
    cal = calendar(emu)
    async with cal.client:
        with pytest.raises(GraphNotFound):
            await cal.busy(h, MONTH)


async def test_events_go_to_a_calendar_shared_with_edit_rights(emu: Emulator) -> None:
    rota = emu.state.add_calendar(ADELE, "Rota", can_edit=True, owner_upn=MEGAN)["id"]
    h = host(write_calendar_id=rota)
    cal = calendar(emu)
    async with cal.client:
        first = await cal.create_event(h, draft())
        again = await cal.create_event(h, draft())  # same transactionId: same event
        fetched = await cal.get_event(h, first.event_id)
        moved = await cal.move_event(
            h, first.event_id, T0 + timedelta(days=1, hours=17), T0 + timedelta(days=1, hours=18), "America/Los_Angeles"
        )
        found = await cal.find_booking_events(h, MONTH)
        await cal.cancel_event(h, first.event_id, "Sorry")
        assert await cal.get_event(h, first.event_id) is None
    assert first.event_id == again.event_id and first.join_url and first.booking_id == "bk-1"
    assert fetched is not None and fetched.booking_id == "bk-1"
    assert moved.start == T0 + timedelta(days=1, hours=17)
    assert [e.event_id for e in found] == [first.event_id]
    assert emu.state.events(ADELE) == [] and emu.state.events(MEGAN, rota) == []  # cancelled: gone
    assert emu.state.cancellations[-1]["comment"] == "Sorry"
    log = [(r.method, r.path, r.status) for r in emu.state.request_log]
    assert all(path.startswith(f"/me/calendars/{rota}/") for _, path, _ in log[:-1])  # one request each
    assert len(log) == 8 and log[-2:] == [
        ("GET", f"/me/calendars/{rota}/events/{first.event_id}", 404),
        ("GET", f"/me/events/{first.event_id}", 404),
    ]  # gone: both looked at


async def test_a_read_only_shared_calendar_cannot_be_written(emu: Emulator) -> None:
    team = emu.state.add_calendar(ADELE, "Team", can_edit=False, owner_upn=MEGAN)["id"]
    cal = calendar(emu)
    async with cal.client:
        with pytest.raises(AccessDenied):
            await cal.create_event(host(write_calendar_id=team), draft())
    assert emu.state.events(MEGAN, team) == []


async def test_events_written_before_the_host_changed_calendars_are_still_reached(emu: Emulator) -> None:
    side = emu.state.add_calendar(ADELE, "Bookings")["id"]
    cal = calendar(emu)
    async with cal.client:
        event = await cal.create_event(host(), draft())  # default calendar
        later = host(write_calendar_id=side)  # then the host picked another
        fetched = await cal.get_event(later, event.event_id)
        moved = await cal.move_event(
            later,
            event.event_id,
            T0 + timedelta(days=2, hours=17),
            T0 + timedelta(days=2, hours=18),
            "America/Los_Angeles",
        )
        await cal.cancel_event(later, event.event_id, "")
    assert fetched is not None and fetched.event_id == event.event_id
    assert moved.start == T0 + timedelta(days=2, hours=17)
    assert emu.state.events(ADELE) == []
