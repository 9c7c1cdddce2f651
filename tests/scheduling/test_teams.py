"""The pure parts of team links (scheduling.teams): who may change a link, who organises a collective meeting,
a member's caps as the database checks them, reading a team's free/busy once for many views, and the outbox
items a team booking's change writes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from scheduling.domain import (
    Booking,
    ConnectionStatus,
    EventType,
    Invitee,
    LinkKind,
    OutboxItem,
    Priority,
    Team,
    TeamMember,
    User,
)
from scheduling.errors import HostUnavailable
from scheduling.intervals import Interval
from scheduling.ports import BusyInterval, BusyResult
from scheduling.rules import Availability, EventRules
from scheduling.teams import (
    ANNOUNCEMENT,
    GroupBusyCache,
    Member,
    TeamLinkService,
    TeamLinkSettings,
    TeamLinkView,
    _refusal,
    may_manage,
    member_cap_checks,
    organiser_of,
)

NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)  # a Monday
RULES = EventRules((30,), Availability.business_hours("Europe/London"), daily_cap=3, weekly_cap=10)


def person(n: int, tenant: str = "t", connected: bool = True) -> User:
    return User(
        id=f"u{n}",
        tenant_id=tenant,
        aad_object_id=f"a{n}",
        display_name=f"Person {n}",
        email=f"p{n}@contoso.example",
        connection_status=ConnectionStatus.CONNECTED if connected else ConnectionStatus.NOT_CONNECTED,
    )


def view(*members: Member, created_by: str | None = "u1", announce: bool = True) -> TeamLinkView:
    link = EventType(
        id="link", tenant_id="t", slug="demo", title="Demo", rules=RULES, team_id="team", kind=LinkKind.ROUND_ROBIN
    )
    creator = next((m.user for m in members if m.user.id == created_by), None)
    return TeamLinkView(
        link,
        Team(id="team", tenant_id="t", name="Sales", slug="sales"),
        TeamLinkSettings("link", created_by=created_by, announce=announce),
        members,
        creator,
    )


def member(n: int, priority: int = Priority.MEDIUM, **kw: Any) -> Member:
    return Member(TeamMember(f"u{n}", priority=priority, **kw), person(n))


# ------------------------------------------------------------------------------------------ the rules


def test_the_creator_and_the_teams_owners_may_change_a_link_and_nobody_else() -> None:
    team = view(member(1), member(2))
    creator, other = person(1), person(2)
    assert may_manage(team, creator, owner=None) and may_manage(team, creator, owner=False)
    assert may_manage(team, other, owner=True)
    assert not may_manage(team, other, owner=False)
    assert not may_manage(team, other, owner=None)  # the roster can't be read: the creator alone
    assert not may_manage(team, person(1, tenant="elsewhere"), owner=True)  # never across tenants
    assert "Only Person 1 (who made this team link) or the team's owners" in _refusal(team, False).message
    assert _refusal(team, None).message == "Only Person 1, who made this team link, can change it."
    assert "team's owners" in _refusal(view(member(2), created_by=None), False).message


def test_the_organiser_is_the_creator_when_a_member_else_the_first_by_priority() -> None:
    creator = organiser_of(view(member(2), member(1), created_by="u1"))
    assert creator is not None and creator.user.id == "u1"
    high = organiser_of(view(member(2), member(3, Priority.HIGH), member(4, Priority.HIGH), created_by="u9"))
    assert high is not None and high.user.id == "u3"
    assert organiser_of(view(created_by="u1")) is None


def test_a_members_caps_are_the_stricter_of_theirs_and_the_links_counted_for_them() -> None:
    start = datetime(2027, 3, 3, 10, 0, tzinfo=UTC)  # a Wednesday
    checks = member_cap_checks(RULES, "link", start, TeamMember("u1", daily_cap=1, weekly_cap=None))
    daily, weekly = checks
    assert (daily.limit, daily.host_id, daily.event_type_id) == (1, "u1", "link")
    assert (daily.start, daily.end) == (datetime(2027, 3, 3, tzinfo=UTC), datetime(2027, 3, 4, tzinfo=UTC))
    assert (weekly.limit, weekly.start) == (10, datetime(2027, 3, 1, tzinfo=UTC))
    uncapped = replace(RULES, daily_cap=None, weekly_cap=None)
    assert member_cap_checks(uncapped, "link", start, TeamMember("u1")) == []


# ------------------------------------------------------------------------------------------ reading free/busy


@dataclass
class Clock:
    current: datetime = NOW

    def now(self) -> datetime:
        return self.current


@dataclass
class Reads:
    calls: list[tuple[tuple[str, ...], Interval]] = field(default_factory=list)
    gate: asyncio.Event | None = None
    fail: bool = False

    async def __call__(self, hosts: Sequence[User], window: Interval) -> Mapping[str, BusyResult]:
        self.calls.append((tuple(h.id for h in hosts), window))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            return {h.id: HostUnavailable("down") for h in hosts}
        return {
            h.id: [BusyInterval(window.start + timedelta(hours=1), window.start + timedelta(hours=2))] for h in hosts
        }


async def test_a_team_is_read_once_for_every_view_inside_what_was_read() -> None:
    gate = asyncio.Event()
    reads, clock = Reads(gate=gate), Clock()
    cache = GroupBusyCache(reads, clock, timedelta(seconds=30))
    people = [person(1), person(2)]
    horizon = Interval(NOW, NOW + timedelta(days=30))
    week = Interval(NOW, NOW + timedelta(days=7))
    # a burst of views costs one read (they wait for the one in flight)
    burst = [asyncio.create_task(cache.busy(people, week, horizon)) for _ in range(20)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*burst)
    assert len(reads.calls) == 1 and reads.calls[0][1] == horizon  # the whole horizon in one read
    assert all(r == results[0] for r in results)
    later = Interval(NOW + timedelta(days=20), NOW + timedelta(days=25))
    assert await cache.busy(list(reversed(people)), later, horizon) == {"u1": [], "u2": []}  # clipped, same group
    assert len(reads.calls) == 1
    clock.current += timedelta(seconds=31)  # too old
    await cache.busy(people, week, horizon)
    assert len(reads.calls) == 2
    cache.forget(["u2"])  # a member's change: every group holding them is read again
    await cache.busy(people, week, horizon)
    assert len(reads.calls) == 3
    await cache.busy([person(3)], week, horizon)  # another group
    assert len(reads.calls) == 4


async def test_a_failed_read_reaches_every_view_as_unreadable_members() -> None:
    reads = Reads(fail=True)
    cache = GroupBusyCache(reads, Clock(), timedelta(seconds=30))
    found = await cache.busy([person(1)], Interval(NOW, NOW + timedelta(days=1)), None)
    assert isinstance(found["u1"], HostUnavailable)
    assert await cache.busy([], Interval(NOW, NOW + timedelta(days=1)), None) == {}


# ------------------------------------------------------------------------------------------ what a change tells


class _Store:
    def __init__(self, settings: TeamLinkSettings | None, people: Mapping[str, User]) -> None:
        self.settings, self.people_by_id = settings, people

    async def link_settings(self, event_type_id: str) -> TeamLinkSettings | None:
        return self.settings

    async def people(self, user_ids: Sequence[str]) -> Mapping[str, User]:
        return {u: self.people_by_id[u] for u in user_ids if u in self.people_by_id}


def service(store: _Store) -> TeamLinkService:
    return TeamLinkService(
        teams=store,  # type: ignore[arg-type]
        event_types=None,  # type: ignore[arg-type]
        bookings=None,  # type: ignore[arg-type]
        users=None,  # type: ignore[arg-type]
        outbox=None,  # type: ignore[arg-type]
        calendar=None,  # type: ignore[arg-type]
        booking=None,  # type: ignore[arg-type]
        links=None,  # type: ignore[arg-type]
        clock=Clock(),
    )


def booking(*hosts: str) -> Booking:
    return Booking(
        id="bk",
        tenant_id="t",
        event_type_id="link",
        host_ids=hosts,
        start=datetime(2027, 3, 2, 13, 0, tzinfo=UTC),
        end=datetime(2027, 3, 2, 13, 30, tzinfo=UTC),
        buffer_before=0,
        buffer_after=0,
        invitee=Invitee("Megan Bowen", "megan@example.org"),
    )


async def test_a_team_bookings_change_tells_every_member_and_the_channel_thread() -> None:
    thread = {"tenantId": "t", "reference": {"conversation": {"id": "19:c;messageid=1"}}}
    store = _Store(TeamLinkSettings("link", thread=thread), {f"u{n}": person(n) for n in (1, 2, 3)})
    link = view(member(1)).link
    created = OutboxItem("booking.created", "t", {"hostId": "u1", "title": "Demo"}, "booking.created:bk")
    webhook = replace(created, dedupe_key="webhook:booking.created:bk", channel="webhook")
    out = await service(store).fan_out([created, webhook], link, booking("u1", "u2", "u3"))
    assert [(i.kind, i.channel, i.payload.get("hostId")) for i in out] == [
        ("booking.created", "teams", "u1"),
        ("booking.created", "webhook", "u1"),  # webhooks are not copied per member
        ("booking.created", "teams", "u2"),
        ("booking.created", "teams", "u3"),
        (ANNOUNCEMENT, "teams", None),
    ]
    assert len({i.dedupe_key for i in out}) == len(out)
    announcement = out[4].payload
    assert announcement["hostNames"] == ["Person 1", "Person 2", "Person 3"]
    assert (announcement["inviteeName"], announcement["change"]) == ("Megan Bowen", "booking.created")
    # announcements off, or no thread known: only the members
    quiet = _Store(TeamLinkSettings("link", announce=False, thread=thread), store.people_by_id)
    assert [i.kind for i in await service(quiet).fan_out([created], link, booking("u1"))] == ["booking.created"]
    personal = replace(link, team_id=None)
    assert await service(store).fan_out([created], personal, booking("u1")) == [created]


def test_the_service_keeps_its_stores_to_itself() -> None:
    """One door (issue 11): adapters get the use cases, never a store through them."""
    public = {name for name in vars(service(_Store(None, {}))) if not name.startswith("_")}
    assert public == {"clock"}
