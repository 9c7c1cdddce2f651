"""SqlTeamStore as the team links' store (``scheduling.teams.TeamLinkStore``), on SQLite and PostgreSQL: the team of a
Teams team, joining and leaving (time away remembered), rotation settings, team links with their settings and their
``link.created`` event in one transaction, the team links a person made, the bookings of the links someone manages
as the API lists them, the assignment history, members' own caps enforced by the database, and migration 0006
keeping what existed before it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from scheduling.assignment import AssignmentMode, PastAssignment, PeriodUnit
from scheduling.domain import BookingStatus, CapCheck, EventType, LinkKind, Priority, Team, TeamMember
from scheduling.errors import Conflict, NotFound, SlotUnavailable, ValidationFailed
from scheduling.intervals import Interval
from scheduling.links import link_created
from scheduling.teams import TeamLinkSettings, TeamLinkStore
from storage import migrate
from storage.db import create_database
from storage.models import EventTypeRow, OutboxRow, TeamMemberRow, TeamRow, UserRow
from storage.repositories import Repositories, repositories
from storage.teams import SqlTeamStore
from tests.ports import assert_implements
from tests.storage.fixtures import Kind, create_test_database, drop_test_database
from tests.storage.helpers import (
    OTHER_TENANT,
    TENANT,
    FakeClock,
    at,
    booking,
    make_link,
    make_user,
    rules,
    table_of,
)


def test_the_store_implements_the_team_links_port() -> None:
    assert_implements(TeamLinkStore, SqlTeamStore)


async def team(repos: Repositories, external: str = "19:team@thread.tacv2", slug: str = "sales") -> Team:
    return await repos.teams.create_team(
        Team(id=f"team-{slug}", tenant_id=TENANT, name="Sales", slug=slug, external_id=external)
    )


def team_link(team_id: str, slug: str = "demo", kind: LinkKind = LinkKind.ROUND_ROBIN, **kw: object) -> EventType:
    return EventType(
        id=f"et-{team_id}-{slug}",
        tenant_id=TENANT,
        slug=slug,
        title="Demo",
        rules=rules(),
        team_id=team_id,
        kind=kind,
        **kw,  # type: ignore[arg-type]
    )


async def test_a_teams_team_is_one_slotwise_team_per_tenant(repos: Repositories) -> None:
    sales = await team(repos)
    assert await repos.teams.get_by_external(TENANT, "19:team@thread.tacv2") == sales
    assert await repos.teams.get_by_external("tenant-b", "19:team@thread.tacv2") is None
    with pytest.raises(Conflict):  # the same Teams team again
        await repos.teams.create_team(
            Team(id="team-2", tenant_id=TENANT, name="Sales again", slug="sales-2", external_id="19:team@thread.tacv2")
        )
    with pytest.raises(Conflict):  # the same slug
        await repos.teams.create_team(Team(id="team-3", tenant_id=TENANT, name="Sales", slug="sales", external_id="x"))
    other = await repos.teams.create_team(
        Team(id="team-4", tenant_id="tenant-b", name="Sales", slug="sales-b", external_id="19:team@thread.tacv2")
    )
    assert other.external_id == "19:team@thread.tacv2"


async def test_join_leave_and_come_back_remembers_the_time_away(repos: Repositories, clock: FakeClock) -> None:
    sales = await team(repos)
    a = await make_user(repos, "a@contoso.com")
    b = await make_user(repos, "b@contoso.com")
    joined = clock.now_value
    assert await repos.teams.join(sales.id, a.id, joined) is True
    assert await repos.teams.join(sales.id, a.id, joined) is False  # already in
    assert await repos.teams.join(sales.id, b.id, joined) is True
    roster = await repos.teams.roster(sales.id)
    assert [m.user.email for m in roster] == ["a@contoso.com", "b@contoso.com"]
    assert roster[0].member.joined_at == joined and roster[0].member.weight == 100
    assert roster[0].member.priority == Priority.MEDIUM and roster[0].away == ()

    left = joined + timedelta(days=2)
    back = joined + timedelta(days=5)
    assert await repos.teams.leave(sales.id, a.id, left) is True
    assert await repos.teams.leave(sales.id, a.id, left) is False
    assert [m.user.email for m in await repos.teams.roster(sales.id)] == ["b@contoso.com"]
    assert await repos.teams.join(sales.id, a.id, back) is True
    roster = await repos.teams.roster(sales.id)
    again = next(m for m in roster if m.user.id == a.id)
    assert again.away == (Interval(left, back),)
    assert again.member.joined_at == joined  # still counted from the first time
    assert [m.user.email for m in roster] == ["a@contoso.com", "b@contoso.com"]  # keeps their place
    with pytest.raises(NotFound):
        await repos.teams.join("no-such-team", a.id, back)
    with pytest.raises(NotFound):
        await repos.teams.join(sales.id, "no-such-user", back)


async def test_member_settings_are_saved_for_members_who_are_in(repos: Repositories, clock: FakeClock) -> None:
    sales = await team(repos)
    a = await make_user(repos, "a@contoso.com")
    b = await make_user(repos, "b@contoso.com")
    for user in (a, b):
        await repos.teams.join(sales.id, user.id, clock.now_value)
    await repos.teams.leave(sales.id, b.id, clock.now_value)
    await repos.teams.update_members(
        sales.id,
        [
            TeamMember(a.id, priority=Priority.HIGH, weight=40, daily_cap=2, weekly_cap=5),
            TeamMember(b.id, weight=7),  # left meanwhile: untouched
        ],
    )
    [m] = await repos.teams.roster(sales.id)
    assert (m.member.priority, m.member.weight, m.member.daily_cap, m.member.weekly_cap) == (Priority.HIGH, 40, 2, 5)
    await repos.teams.join(sales.id, b.id, clock.now_value)
    back = next(m for m in await repos.teams.roster(sales.id) if m.user.id == b.id)
    assert back.member.weight == 100


async def test_a_team_link_and_its_settings_are_written_together(repos: Repositories) -> None:
    sales = await team(repos)
    creator = await make_user(repos, "a@contoso.com")
    link = await repos.teams.create_link(team_link(sales.id), TeamLinkSettings("ignored", created_by=creator.id))
    assert await repos.event_types.get_by_team_slug(sales.id, "demo") == link
    settings = await repos.teams.link_settings(link.id)
    assert settings == TeamLinkSettings(link.id, created_by=creator.id)
    with pytest.raises(Conflict):  # the slug is taken in the team: nothing half-written
        await repos.teams.create_link(
            replace(team_link(sales.id), id="et-other"), TeamLinkSettings("et-other", created_by=creator.id)
        )
    assert await repos.teams.link_settings("et-other") is None
    with pytest.raises(ValidationFailed):
        await repos.teams.create_link(team_link(sales.id, "solo", LinkKind.SINGLE_HOST), TeamLinkSettings("x"))
    thread = {"tenantId": TENANT, "reference": {"conversation": {"id": "19:c@thread.tacv2;messageid=1"}}}
    saved = await repos.teams.save_link_settings(
        replace(settings, mode=AssignmentMode.AVAILABILITY, period=PeriodUnit.WEEK, announce=False, thread=thread)
    )
    assert await repos.teams.link_settings(link.id) == saved
    assert saved.thread == thread and saved.mode is AssignmentMode.AVAILABILITY
    assert [x.id for x in await repos.teams.team_links(sales.id)] == [link.id]
    await repos.event_types.delete(TENANT, link.id)
    assert await repos.teams.link_settings(link.id) is None  # gone with its link
    with pytest.raises(NotFound):
        await repos.teams.save_link_settings(saved)


async def test_a_team_links_view_is_read_whole_in_one_go(repos: Repositories, clock: FakeClock) -> None:
    sales = await team(repos)
    creator = await make_user(repos, "a@contoso.com")
    other = await make_user(repos, "b@contoso.com")
    link = await repos.teams.create_link(team_link(sales.id), TeamLinkSettings("ignored", created_by=creator.id))
    await repos.teams.join(sales.id, creator.id, clock.now_value)
    await repos.teams.join(sales.id, other.id, clock.now_value)
    got_link, got_team, settings, members = await repos.teams.link_view(link.id)
    assert got_link == link and got_team == await repos.teams.get(sales.id)
    assert settings == await repos.teams.link_settings(link.id)
    assert members == await repos.teams.roster(sales.id) and [m.user.id for m in members] == [creator.id, other.id]
    assert await repos.teams.link_view("et-nope") == (None, None, None, [])
    solo = await make_link(repos, creator, "solo")
    assert await repos.teams.link_view(solo.id) == (None, None, None, [])  # a personal link is no team link


async def test_a_team_links_link_created_event_is_written_with_it_and_only_with_it(repos: Repositories) -> None:
    """link.created goes in the team link's own transaction: a crash between the two can't lose it, and a link
    that was refused (its slug taken in the team) announces nothing."""
    sales = await team(repos)
    creator = await make_user(repos, "a@contoso.com")
    first = team_link(sales.id)
    await repos.teams.create_link(first, TeamLinkSettings(first.id, created_by=creator.id))
    taken = replace(first, id="et-taken")
    with pytest.raises(Conflict):
        await repos.teams.create_link(
            taken, TeamLinkSettings(taken.id, created_by=creator.id), outbox=[link_created(creator, taken)]
        )
    assert await _outbox_keys(repos) == []
    made = replace(first, id="et-made", slug="demo-2")
    await repos.teams.create_link(
        made, TeamLinkSettings(made.id, created_by=creator.id), outbox=[link_created(creator, made)]
    )
    assert await _outbox_keys(repos) == [f"webhook:link.created:{made.id}"]


async def _outbox_keys(repos: Repositories) -> list[str]:
    async with repos.db.read() as s:
        return list((await s.scalars(select(OutboxRow.dedupe_key))).all())


async def test_the_team_links_a_person_made_are_found_in_their_tenant_only(repos: Repositories) -> None:
    sales = await team(repos)
    a = await make_user(repos, "a@contoso.com")
    b = await make_user(repos, "b@contoso.com")
    mine = await repos.teams.create_link(team_link(sales.id), TeamLinkSettings("x", created_by=a.id))
    await repos.teams.create_link(team_link(sales.id, "theirs"), TeamLinkSettings("y", created_by=b.id))
    later = await repos.teams.create_link(team_link(sales.id, "more"), TeamLinkSettings("z", created_by=a.id))
    await make_link(repos, a, "personal")  # a personal link is no team link
    far = await repos.teams.create_team(
        Team(id="team-far", tenant_id=OTHER_TENANT, name="Far", slug="far", external_id="19:far")
    )
    forged = replace(team_link(far.id, "far"), tenant_id=OTHER_TENANT)
    await repos.teams.create_link(forged, TeamLinkSettings("w", created_by=a.id))  # names a, in another tenant
    assert [x.id for x in await repos.teams.links_created_by(TENANT, a.id)] == [mine.id, later.id]
    assert [x.id for x in await repos.teams.links_created_by(OTHER_TENANT, a.id)] == [forged.id]
    assert await repos.teams.links_created_by(TENANT, "nobody") == []


async def test_the_api_lists_the_bookings_someone_hosts_and_those_of_the_links_they_manage(
    repos: Repositories,
) -> None:
    """``hosted_page`` with ``event_type_ids``: the bookings of those links whoever hosts them, besides the ones the
    person hosts; no other booking, and the link filter still applies."""
    sales = await team(repos)
    a = await make_user(repos, "a@contoso.com")
    b = await make_user(repos, "b@contoso.com")
    managed = await repos.teams.create_link(team_link(sales.id), TeamLinkSettings("x", created_by=a.id))
    other = await repos.teams.create_link(team_link(sales.id, "other"), TeamLinkSettings("y", created_by=b.id))
    by_b = (await repos.bookings.reserve(booking(managed, [b], at(10))))[0]  # on a's link, b hosts
    by_a = (await repos.bookings.reserve(booking(other, [a], at(11))))[0]  # on b's link, a hosts
    (await repos.bookings.reserve(booking(other, [b], at(12))))[0]  # neither a's link nor a's booking

    async def page(event_type_ids: list[str], event_type_id: str | None = None) -> list[str]:
        found = await repos.booking_queries.hosted_page(
            a.id,
            event_type_id=event_type_id,
            statuses=[],
            start_from=None,
            start_before=None,
            after=None,
            limit=10,
            event_type_ids=event_type_ids,
        )
        return [x.id for x in found]

    assert await page([]) == [by_a.id]
    assert await page([managed.id]) == [by_b.id, by_a.id]
    assert await page([managed.id], managed.id) == [by_b.id]
    assert await page([managed.id], other.id) == [by_a.id]


async def test_the_assignment_history_is_the_teams_round_robin_bookings_of_the_period(
    repos: Repositories, clock: FakeClock
) -> None:
    sales = await team(repos)
    a = await make_user(repos, "a@contoso.com")
    b = await make_user(repos, "b@contoso.com")
    rr = await repos.teams.create_link(team_link(sales.id), TeamLinkSettings("x"))
    collective = await repos.teams.create_link(team_link(sales.id, "all", LinkKind.COLLECTIVE), TeamLinkSettings("y"))
    first = clock.now_value
    one = (await repos.bookings.reserve(booking(rr, [a], at(10))))[0]
    clock.advance(hours=1)
    two = (await repos.bookings.reserve(booking(rr, [b], at(11))))[0]
    clock.advance(hours=1)
    await repos.bookings.reserve(booking(collective, [a, b], at(12)))  # not round-robin
    gone = (await repos.bookings.reserve(booking(rr, [a], at(13))))[0]
    await repos.bookings.cancel(gone.id, reason="no")  # holds no time
    period = Interval(first, first + timedelta(days=1))
    history = await repos.teams.assignments(sales.id, period)
    assert history == [PastAssignment(a.id, first), PastAssignment(b.id, first + timedelta(hours=1))]
    assert await repos.teams.assignments(sales.id, period, exclude_booking_id=one.id) == [
        PastAssignment(b.id, first + timedelta(hours=1))
    ]
    later = Interval(first + timedelta(minutes=30), first + timedelta(days=1))
    assert await repos.teams.assignments(sales.id, later) == [PastAssignment(b.id, first + timedelta(hours=1))]
    assert two.status is BookingStatus.PENDING
    assert set(await repos.teams.people([a.id, b.id, "nobody"])) == {a.id, b.id}


async def test_a_members_own_cap_is_enforced_by_the_database(repos: Repositories) -> None:
    """The attack: two bookings of one member racing past the member's daily cap of 1 (both saw a free day)."""
    sales = await team(repos)
    a = await make_user(repos, "a@contoso.com")
    b = await make_user(repos, "b@contoso.com")
    rr = await repos.teams.create_link(team_link(sales.id), TeamLinkSettings("x"))
    day = Interval(at(0), at(0, day=1))

    def cap(member: str) -> CapCheck:
        return CapCheck(rr.id, day.start, day.end, 1, member)

    await repos.bookings.reserve(booking(rr, [a], at(10)), cap_checks=[cap(a.id)])
    with pytest.raises(SlotUnavailable):
        await repos.bookings.reserve(booking(rr, [a], at(14)), cap_checks=[cap(a.id)])
    # another member's cap counts only their own bookings
    await repos.bookings.reserve(booking(rr, [b], at(14)), cap_checks=[cap(b.id)])


# ---------------------------------------------------------------------------- 0005 -> 0006: teams survive


@pytest.fixture
async def empty_url(db_kind: Kind, tmp_path: Path) -> AsyncIterator[str]:
    url = await create_test_database(db_kind, tmp_path, migrate=False)
    try:
        yield url
    finally:
        await drop_test_database(url)


async def test_teams_and_team_links_made_before_0006_survive_it(empty_url: str) -> None:
    """A team, a member and a team link written at revision 0005 read back after the upgrade: the member keeps
    their settings and gets no caps and no time away; the link gets the default settings (fair, monthly,
    announced; no creator or thread known)."""
    assert await migrate.upgrade(empty_url, "0005") == "0005"
    stamp = at(8)
    db = create_database(empty_url)
    try:
        async with db.write() as s:
            await s.execute(
                insert(table_of(UserRow)).values(
                    id="u-old",
                    tenant_id=TENANT,
                    aad_object_id="aad-old",
                    email="old@contoso.com",
                    display_name="Olga Old",
                    time_zone="UTC",
                    handle="olga",
                    conversation_reference=None,
                    connection_status="connected",
                    connection_error="",
                    conflict_calendar_ids=[],
                    write_calendar_id=None,
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
            await s.execute(
                insert(table_of(TeamRow)).values(
                    id="team-old",
                    tenant_id=TENANT,
                    name="Old team",
                    slug="old-team",
                    conversation_reference=None,
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
            await s.execute(
                insert(table_of(TeamMemberRow)).values(
                    team_id="team-old", user_id="u-old", position=0, priority=3, weight=40, active=True
                )
            )
            columns = {c.name for c in EventTypeRow.__table__.columns} - {"reminder_minutes"}  # 0007
            values: dict[str, object] = {
                "id": "et-old",
                "tenant_id": TENANT,
                "owner_user_id": None,
                "team_id": "team-old",
                "slug": "demo",
                "title": "Demo",
                "description": "",
                "kind": "round_robin",
                "rules": {"durations": [30]},
                "location": {"kind": "teams", "text": ""},
                "fallback_location": None,
                "questions": [],
                "single_use": False,
                "active": True,
                "version": 1,
                "created_at": stamp,
                "updated_at": stamp,
            }
            assert set(values) == columns
            await s.execute(insert(table_of(EventTypeRow)).values(**values))
    finally:
        await db.dispose()

    assert await migrate.upgrade(empty_url) == migrate.head_revision()
    db = create_database(empty_url)
    try:
        repos = repositories(db)
        old = await repos.teams.get("team-old")
        assert old is not None and old.external_id == ""
        assert old.members == (TeamMember("u-old", priority=3, weight=40),)
        [member] = await repos.teams.roster("team-old")
        assert member.away == () and member.member.daily_cap is None
        assert await repos.teams.link_settings("et-old") == TeamLinkSettings("et-old")
    finally:
        await db.dispose()
