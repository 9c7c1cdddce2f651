"""Team links over real counterparts (issue 12): the Graph emulator over HTTP, a migrated SQLite or PostgreSQL
database, the real Graph client and adapter, and the core's services wired as ``app.py`` wires them.

* free/busy of the whole team is one ``getSchedule`` (made with one member's token), reused by later views;
* round-robin: 100 concurrent bookings of a 3-member link over 10 slots give at most 3 bookings a slot and
  never one member twice in a slot (the database decides, on both engines);
* collective: never a slot when one member is busy; one Outlook event in the organiser's calendar with every
  other member and the invitee invited, reserved for every member (nobody can be double-booked over it);
* a member busy at confirmation is skipped; a member's own cap holds; a rescheduled booking keeps its member;
* unreadable or unconnected members are left out and the link's creator is told once a day;
* the notices: every member of a collective booking, and the channel thread's announcement;
* who may change a team link (the attack tests): its creator and the team's owners, in its tenant.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import select

from graph.adapter import GraphCalendar
from graph.client import GraphClient
from scheduling.booking import BookingService
from scheduling.domain import BookingStatus, Caller, ConnectionStatus, LinkKind, User
from scheduling.errors import Conflict, NotFound, SlotUnavailable, ValidationFailed
from scheduling.intervals import Interval
from scheduling.links import LinkService, NewLink
from scheduling.teams import ANNOUNCEMENT, UNREADABLE, NotAllowed, TeamLinkService, TeamLinkView
from storage.db import Database
from storage.models import OutboxRow, ReservationRow
from storage.repositories import Repositories, repositories
from tests.graph.graph_harness import Emulator, running_emulator
from tests.integration.harness import NOW, Clock, invitee
from tests.storage.fixtures import KINDS, Kind, database, require_postgres

TENANT = "tenant-contoso"
PEOPLE = (("harriet", "Harriet Host"), ("ian", "Ian Second"), ("jo", "Jo Third"))
CHANNEL = "19:sales@thread.tacv2"
THREAD = {
    "tenantId": TENANT,
    "reference": {"conversation": {"id": f"{CHANNEL};messageid=1"}, "serviceUrl": "https://smba.example/"},
}


@dataclass
class TeamWorld:
    emulator: Emulator
    db: Database
    repos: Repositories
    clock: Clock
    booking: BookingService
    teams: TeamLinkService
    members: list[User]
    view: TeamLinkView

    @property
    def link(self) -> Any:
        return self.view.link

    def schedules(self) -> int:
        return len(self.emulator.graph_requests("getSchedule"))

    async def slots(self, days: int = 7) -> list[Any]:
        return await self.booking.slots(self.link, Interval(NOW, NOW + timedelta(days=days)))


@asynccontextmanager
async def team_world(kind: Kind, link_kind: LinkKind = LinkKind.ROUND_ROBIN, size: int = 3) -> AsyncIterator[TeamWorld]:
    if kind == "postgres":
        require_postgres()
    with running_emulator() as emu:
        async with database(kind) as db:
            clock = Clock()
            repos = repositories(db, clock=clock.now)
            members = []
            for handle, name in PEOPLE[:size]:
                upn = f"{handle}@contoso.example"
                mailbox = emu.state.add_user(upn=upn, display_name=name, time_zone="GMT Standard Time")
                user = await repos.users.upsert(
                    User(
                        id=f"u-{handle}",
                        tenant_id=TENANT,
                        aad_object_id=mailbox.id,
                        display_name=name,
                        email=upn,
                        time_zone="Europe/London",
                    )
                )
                await repos.users.set_connection(user.id, ConnectionStatus.CONNECTED)
                members.append(await repos.users.get(user.id) or user)
            mailbox_of = {u.id: u.email for u in members}

            async def tokens(user_id: str, force_refresh: bool = False) -> str:
                return emu.state.issue_token(mailbox_of.get(user_id, user_id))

            graph = GraphClient(
                emu.graph_base, token_provider=tokens, sleep=emu.sleep, backoff_base=0.01, backoff_cap=0.05
            )
            calendar = GraphCalendar(graph)
            booking = BookingService(
                calendar=calendar,
                bookings=repos.bookings,
                users=repos.users,
                event_types=repos.event_types,
                clock=clock,
                token_secret=b"s" * 32,
            )
            teams = TeamLinkService(
                teams=repos.teams,
                event_types=repos.event_types,
                bookings=repos.bookings,
                users=repos.users,
                outbox=repos.outbox,
                calendar=calendar,
                booking=booking,
                links=LinkService(event_types=repos.event_types, calendar=calendar),
                clock=clock,
            )
            booking.teams = teams
            booking.fan_outs.append(teams.fan_out)
            try:
                team = await teams.team_for(TENANT, CHANNEL, "Sales")
                view = await teams.create_link(members[0], team, NewLink(duration=30, title="Demo"), link_kind)
                for user in members[1:]:
                    view = await teams.join(view.link.id, user)
                await teams.remember_card(view.link.id, THREAD, "card-1")
                yield TeamWorld(emu, db, repos, clock, booking, teams, members, await teams.view(view.link.id))
            finally:
                await graph.aclose()


def form(n: int = 0) -> Any:
    return invitee(name=f"Invitee {n}", email=f"invitee{n}@example.org")


# ------------------------------------------------------------------------------------------ availability


@pytest.mark.parametrize("kind", KINDS)
async def test_the_teams_free_busy_is_one_get_schedule_reused_by_later_views(kind: Kind) -> None:
    async with team_world(kind) as world:
        before = world.schedules()
        slots = await world.slots()
        assert slots and world.schedules() == before + 1
        [call] = world.emulator.graph_requests("getSchedule")[before:]
        assert call.path.endswith("/me/calendar/getSchedule")
        await world.booking.slots(world.link, Interval(NOW + timedelta(days=3), NOW + timedelta(days=9)))
        assert world.schedules() == before + 1  # inside what the first read covered


@pytest.mark.parametrize("kind", KINDS)
async def test_collective_never_offers_a_slot_when_one_member_is_busy(kind: Kind) -> None:
    async with team_world(kind, LinkKind.COLLECTIVE) as world:
        free = {s.start for s in await world.slots(2)}
        taken = sorted(free)[2]
        world.emulator.state.add_event(world.members[2].email, "Dentist", taken, taken + timedelta(minutes=30))
        world.teams.forget_busy()
        after = {s.start for s in await world.slots(2)}
        assert after == free - {taken}
        with pytest.raises(SlotUnavailable):
            await world.booking.book(world.link, taken, form())
        # a member who is not connected: a meeting needs everyone, so nothing is offered
        await world.repos.users.set_connection(world.members[1].id, ConnectionStatus.BROKEN)
        world.teams.forget_busy()
        assert await world.slots(2) == []


@pytest.mark.parametrize("kind", KINDS)
async def test_a_collective_booking_is_one_event_with_every_member_invited(kind: Kind) -> None:
    async with team_world(kind, LinkKind.COLLECTIVE) as world:
        start = (await world.slots(2))[0].start
        outcome = await world.booking.book(world.link, start, form())
        booking = outcome.booking
        assert outcome.confirmed and booking.host_ids == tuple(m.id for m in world.members)
        organiser, *others = world.members
        [event] = [e for e in world.emulator.state.events(organiser.email) if e.get("transactionId") == booking.id]
        invited = [a["emailAddress"]["address"] for a in event["attendees"]]
        assert invited == [m.email for m in others] + ["invitee0@example.org"]
        assert all(a["type"] == "required" for a in event["attendees"]) and event["isOnlineMeeting"] is True
        for member in others:
            assert not [e for e in world.emulator.state.events(member.email) if e.get("transactionId")]
        async with world.db.read() as s:
            held = (
                await s.scalars(select(ReservationRow.host_id).where(ReservationRow.booking_id == booking.id))
            ).all()
        assert sorted(held) == sorted(m.id for m in world.members)
        # nobody of them can be booked over it, by the team or otherwise
        with pytest.raises(SlotUnavailable):
            await world.booking.book(world.link, start, form(1))
        # every member is told (in their personal chat), and the channel thread hears it once
        async with world.db.read() as s:
            items = (await s.scalars(select(OutboxRow).where(OutboxRow.channel == "teams"))).all()
        created = [i for i in items if i.kind == "booking.created"]
        assert sorted(i.payload["hostId"] for i in created) == sorted(m.id for m in world.members)
        [announcement] = [i for i in items if i.kind == ANNOUNCEMENT]
        assert announcement.payload["hostNames"] == [m.display_name for m in world.members]
        assert announcement.payload["inviteeName"] == "Invitee 0"


# ------------------------------------------------------------------------------------------ round-robin


@pytest.mark.parametrize("kind", KINDS)
async def test_100_concurrent_bookings_of_a_3_member_round_robin_link_over_10_slots(kind: Kind) -> None:
    async with team_world(kind) as world:
        slots = [s.start for s in await world.slots(3)][:10]
        assert len(slots) == 10

        async def attempt(n: int) -> Any:
            return await world.booking.book(world.link, slots[n % 10], form(n), caller=Caller.public())

        results = await asyncio.gather(*(attempt(n) for n in range(100)), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        assert all(isinstance(f, SlotUnavailable) for f in failures), failures[:3]
        made = [r.booking for r in results if not isinstance(r, BaseException)]
        assert all(b.status is BookingStatus.CONFIRMED for b in made)
        per_slot = Counter(b.start for b in made)
        assert max(per_slot.values()) <= 3
        pairs = Counter((b.start, b.organizer_id) for b in made)
        assert max(pairs.values()) == 1  # never a member twice in a slot
        assert len(made) == 30  # every member of every slot, since each slot had ten tries
        async with world.db.read() as s:
            rows = (await s.scalars(select(ReservationRow).where(ReservationRow.active.is_(True)))).all()
        by_host: dict[str, list[Any]] = {}
        for row in rows:
            by_host.setdefault(row.host_id, []).append((row.blocked_from, row.blocked_until))
        for spans in by_host.values():
            spans.sort()
            assert all(a[1] <= b[0] for a, b in pairwise(spans))
        # one Outlook event per booking, in its member's calendar
        for member in world.members:
            mine = {b.id for b in made if b.organizer_id == member.id}
            events = {e["transactionId"] for e in world.emulator.state.events(member.email) if e.get("transactionId")}
            assert events == mine


@pytest.mark.parametrize("kind", KINDS)
async def test_a_member_busy_at_confirmation_is_skipped_and_own_caps_hold(kind: Kind) -> None:
    async with team_world(kind) as world:
        harriet, ian, jo = world.members
        await world.repos.teams.update_members(world.view.team.id, [replace(world.view.members[2].member, daily_cap=1)])
        starts = [s.start for s in await world.slots(2)]
        first = await world.booking.book(world.link, starts[0], form(0))
        # everybody waited as long: the order of the rotation decides; the next booking goes to someone else
        second = await world.booking.book(world.link, starts[4], form(1))
        assert first.booking.organizer_id != second.booking.organizer_id
        third = await world.booking.book(world.link, starts[8], form(2))
        assert {first.booking.organizer_id, second.booking.organizer_id, third.booking.organizer_id} == {
            harriet.id,
            ian.id,
            jo.id,
        }
        # Jo has her one booking of the day: she is not offered again that day, whoever else is free
        later = [s for s in starts if s.date() == starts[0].date() and s > starts[8]]
        fourth = await world.booking.book(world.link, later[0], form(3))
        assert fourth.booking.organizer_id != jo.id
        # the next day, the view (read before) shows everyone free; at confirmation two of them are busy in Outlook
        tuesday = [s for s in starts if s.date() > starts[0].date()]
        slot = tuesday[2]
        assert slot in {s.start for s in await world.slots(2)}
        for member in (harriet, ian):
            world.emulator.state.add_event(member.email, "Just booked", slot, slot + timedelta(minutes=30))
        fifth = await world.booking.book(world.link, slot, form(4))
        assert fifth.booking.organizer_id == jo.id


@pytest.mark.parametrize("kind", KINDS)
async def test_a_member_back_from_out_of_office_in_outlook_is_calibrated_with_no_more_graph_requests(
    kind: Kind,
) -> None:
    """Jo is out of office in Outlook (``showAs: oof``) Monday to Wednesday: Harriet and Ian take the six bookings
    made then. Back on Thursday, Jo takes her share of what follows (one of the next three), not all of it: the
    confirmation's one ``getSchedule`` of the team reaches back to the period's first booking, so the out-of-office
    time is calibrated like time out of the rotation; every booking still makes two ``getSchedule`` calls (the
    team's, then the chosen member's live re-check), with history in the period or without."""
    async with team_world(kind) as world:
        harriet, ian, jo = world.members
        back = NOW.replace(hour=0) + timedelta(days=3)  # Thursday 00:00 UTC
        world.emulator.state.add_event(jo.email, "Out of office", NOW - timedelta(days=1), back, show_as="oof")
        during = [s.start for s in await world.slots(3) if s.end <= back]
        made = []
        for n, start in enumerate(during[::6][:6]):
            before = world.schedules()
            made.append((await world.booking.book(world.link, start, form(n))).booking)
            assert world.schedules() == before + 2
            world.clock.current += timedelta(minutes=20)
        assert len(made) == 6 and Counter(b.organizer_id for b in made) == {harriet.id: 3, ian.id: 3}
        world.clock.current = back + timedelta(hours=7)  # Thursday 07:00: Jo is back
        world.teams.forget_busy()
        now = world.clock.current
        later = [s.start for s in await world.booking.slots(world.link, Interval(now, now + timedelta(days=2)))]
        after = []
        for n, start in enumerate(later[::6][:3]):
            before = world.schedules()
            after.append((await world.booking.book(world.link, start, form(10 + n))).booking.organizer_id)
            assert world.schedules() == before + 2  # the look back costs no request
            world.clock.current += timedelta(minutes=20)
        assert after[0] == jo.id  # level with the others and waited longest...
        assert Counter(after) == {harriet.id: 1, ian.id: 1, jo.id: 1}  # ...but one of three, not every booking


@pytest.mark.parametrize("kind", KINDS)
async def test_a_rescheduled_booking_keeps_its_member_while_they_are_free(kind: Kind) -> None:
    async with team_world(kind) as world:
        starts = [s.start for s in await world.slots(2)]
        made = (await world.booking.book(world.link, starts[0], form())).booking
        member = next(m for m in world.members if m.id == made.organizer_id)
        moved = await world.booking.reschedule(made, starts[3], "invitee")
        assert (moved.start, moved.organizer_id, moved.host_ids) == (starts[3], member.id, made.host_ids)
        [event] = [e for e in world.emulator.state.events(member.email) if e.get("transactionId") == made.id]
        assert event["start"]["dateTime"].startswith(starts[3].strftime("%Y-%m-%dT%H:%M"))
        # its member busy at the new time: refused (with times they are free), even though others are free
        busy = starts[6]
        world.emulator.state.add_event(member.email, "Busy", busy, busy + timedelta(minutes=30))
        with pytest.raises(SlotUnavailable) as refused:
            await world.booking.reschedule(moved, busy, "invitee")
        assert member.display_name in refused.value.message
        assert refused.value.alternatives and busy not in refused.value.alternatives
        # the move told the channel thread
        async with world.db.read() as s:
            kinds = (await s.scalars(select(OutboxRow.payload).where(OutboxRow.kind == ANNOUNCEMENT))).all()
        assert [p["change"] for p in kinds] == ["booking.created", "booking.rescheduled"]


@pytest.mark.parametrize("kind", KINDS)
async def test_an_unreadable_member_is_left_out_and_the_creator_told_once_a_day(kind: Kind) -> None:
    async with team_world(kind) as world:
        jo = world.members[2]
        world.emulator.state.user(jo.email).mailbox_enabled = False  # getSchedule answers an error entry for her
        world.teams.forget_busy()
        slots = await world.slots(2)
        assert slots
        world.teams.forget_busy()
        await world.slots(3)
        async with world.db.read() as s:
            told = (await s.scalars(select(OutboxRow).where(OutboxRow.kind == UNREADABLE))).all()
        assert len(told) == 1 and told[0].payload["hostId"] == world.members[0].id
        assert told[0].payload["unreadable"] == ["Jo Third"]
        # Jo is never taken for free: with the two others busy, the slot can't be booked
        slot = slots[0]
        for member in world.members[:2]:
            world.emulator.state.add_event(member.email, "Busy", slot.start, slot.end)
        with pytest.raises(SlotUnavailable):
            await world.booking.book(world.link, slot.start, form())


# ------------------------------------------------------------------------------------------ who may change it


@pytest.mark.parametrize("kind", KINDS)
async def test_only_the_creator_and_the_teams_owners_change_a_team_link(kind: Kind) -> None:
    """The attacks: a member who is not an owner opens or saves the settings, deletes the link; someone of
    another tenant joins it by its id."""
    async with team_world(kind) as world:
        harriet, ian, _jo = world.members
        link_id = world.link.id
        for owner in (False, None):
            with pytest.raises(NotAllowed) as refused:
                await world.teams.editable(link_id, ian, owner=owner)
            assert "Only Harriet Host" in refused.value.message
        with pytest.raises(NotAllowed):
            await world.teams.delete(link_id, ian, owner=False)
        with pytest.raises(NotAllowed):
            await world.teams.save_settings(
                link_id,
                ian,
                owner=None,
                version=world.link.version,
                edited=replace(world.link, title="Mine now"),
                mode=world.view.settings.mode,
                period=world.view.settings.period,
                announce=False,
                members=[],
            )
        assert (await world.teams.view(link_id)).link.title == "Demo"
        # a team owner may (the roster said so); the creator always may
        assert (await world.teams.editable(link_id, ian, owner=True)).link.id == link_id
        assert (await world.teams.editable(link_id, harriet, owner=None)).link.id == link_id
        stranger = await world.repos.users.upsert(
            User(id="u-eve", tenant_id="tenant-other", aad_object_id="aad-eve", display_name="Eve", email="e@x.org")
        )
        with pytest.raises(NotFound):
            await world.teams.join(link_id, stranger)
        with pytest.raises(NotFound):
            await world.teams.editable(link_id, stranger, owner=True)
        # the settings are all judged at once, and a stale form is refused
        with pytest.raises(ValidationFailed) as invalid:
            await world.teams.save_settings(
                link_id,
                harriet,
                owner=None,
                version=world.link.version,
                edited=replace(world.link, title=" ", rules=replace(world.link.rules, buffer_before=-5)),
                mode=world.view.settings.mode,
                period=world.view.settings.period,
                announce=True,
                members=[replace(world.view.members[1].member, weight=0)],
            )
        assert {"title", "buffer_before", f"members.{ian.id}.weight"} <= set(invalid.value.fields)
        with pytest.raises(Conflict):
            await world.teams.save_settings(
                link_id,
                harriet,
                owner=None,
                version=world.link.version + 1,
                edited=world.link,
                mode=world.view.settings.mode,
                period=world.view.settings.period,
                announce=True,
                members=[],
            )


@pytest.mark.parametrize("kind", KINDS)
async def test_only_the_creator_and_the_teams_owners_remove_a_member_as_leave_does(
    kind: Kind, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack first: Ian (a member, no owner; the roster unread or saying so) saves the settings taking Jo and
    Harriet out of the rotation: refused, nobody removed. Harriet (the creator) removes Jo: Jo is out of the
    rotation exactly as if she had pressed Leave (the Leave use case runs), her booking stays hers, and the
    rotation settings of the others are saved in the same go; an owner may remove someone too."""
    async with team_world(kind) as world:
        harriet, ian, jo = world.members
        link_id = world.link.id
        left: list[str] = []
        leave = TeamLinkService.leave

        async def spied(self: TeamLinkService, link_id: str, user: User) -> TeamLinkView:
            left.append(user.id)
            return await leave(self, link_id, user)

        monkeypatch.setattr(TeamLinkService, "leave", spied)

        async def save(by: User, owner: bool | None, remove: list[str], weight: int = 100) -> TeamLinkView:
            view = await world.teams.view(link_id)
            return await world.teams.save_settings(
                link_id,
                by,
                owner=owner,
                version=view.link.version,
                edited=view.link,
                mode=view.settings.mode,
                period=view.settings.period,
                announce=view.settings.announce,
                members=[replace(m.member, weight=weight) for m in view.members],
                remove=remove,
            )

        for owner in (False, None):
            with pytest.raises(NotAllowed):
                await save(ian, owner, [jo.id, harriet.id])
        assert [m.user_id for m in (await world.teams.view(link_id)).members] == [harriet.id, ian.id, jo.id]
        assert left == []

        # Jo has a booking; Harriet removes her (and weights the others 40): Leave's own logic runs
        starts = [s.start for s in await world.slots(2)]
        mine = None
        for n, start in enumerate(starts[::4][:3]):
            made = (await world.booking.book(world.link, start, form(n))).booking
            mine = made if made.organizer_id == jo.id else mine
        assert mine is not None
        # judged with the rest: a problem anywhere and nobody is removed
        with pytest.raises(ValidationFailed) as invalid:
            await save(harriet, None, [jo.id], weight=0)
        assert set(invalid.value.fields) == {f"members.{harriet.id}.weight", f"members.{ian.id}.weight"}
        assert left == [] and len((await world.teams.view(link_id)).members) == 3
        saved = await save(harriet, None, [jo.id, "u-nobody"], weight=40)
        assert left == [jo.id]
        assert [(m.user_id, m.member.weight) for m in saved.members] == [(harriet.id, 40), (ian.id, 40)]
        kept = await world.repos.bookings.get(mine.id)
        assert kept is not None and kept.status is BookingStatus.CONFIRMED and kept.host_ids == (jo.id,)
        # she is no longer offered or assigned: with the two others busy, a slot can't be booked
        slot = starts[-1]
        for member in (harriet, ian):
            world.emulator.state.add_event(member.email, "Busy", slot, slot + timedelta(minutes=30))
        world.teams.forget_busy()
        with pytest.raises(SlotUnavailable):
            await world.booking.book(world.link, slot, form(9))
        # a team owner may remove a member too (here Harriet, the creator herself)
        after = await save(ian, True, [harriet.id])
        assert [m.user_id for m in after.members] == [ian.id] and left == [jo.id, harriet.id]
