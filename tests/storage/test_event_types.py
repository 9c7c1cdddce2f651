"""SqlEventTypeStore: links round-trip with their rules, slugs are unique per owner, versions guard edits."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import select

from scheduling.domain import EventType, LinkKind, Question, Team, TeamMember
from scheduling.errors import Conflict, NotFound, ValidationFailed
from scheduling.links import link_created
from scheduling.ports import Location, LocationKind
from scheduling.rules import Availability, BookingWindow, BusyStatus, EventRules, LocalRange
from storage.models import OutboxRow
from storage.repositories import Repositories
from tests.storage.helpers import OTHER_TENANT, at, booking, make_link, make_user


def rich_rules() -> EventRules:
    hours = Availability.business_hours("America/New_York", "08:30", "12:00")
    hours = replace(
        hours,
        weekly=(
            *hours.weekly[:2],
            (LocalRange.parse("09:00", "11:00"), LocalRange.parse("13:00", "17:30")),
            *hours.weekly[3:],
        ),
        overrides={date(2030, 1, 1): (), date(2030, 1, 4): (LocalRange.parse("10:00", "24:00"),)},
    )
    return EventRules(
        durations=(30, 45, 60),
        availability=hours,
        slot_interval=15,
        buffer_before=5,
        buffer_after=10,
        minimum_notice=120,
        window=BookingWindow.fixed(date(2030, 1, 1), date(2030, 3, 1)),
        daily_cap=4,
        weekly_cap=10,
        blocking_statuses=frozenset({BusyStatus.BUSY, BusyStatus.OOF}),
    )


async def test_a_link_round_trips_with_every_field(repos: Repositories) -> None:
    owner = await make_user(repos)
    link = EventType(
        id="et-rich",
        tenant_id=owner.tenant_id,
        slug="intro",
        title="Intro call",
        rules=rich_rules(),
        owner_user_id=owner.id,
        location=Location(LocationKind.IN_PERSON, "Room 4"),
        fallback_location=Location(LocationKind.PHONE, "+1 555 0100"),
        questions=(
            Question("topic", "What about?", required=True, multiline=True, max_length=200),
            Question("company", "Company"),
        ),
        description="A first chat.",
        single_use=True,
        active=False,
    )
    stored = await repos.event_types.create(link)
    assert stored == link
    assert await repos.event_types.get("et-rich") == link
    assert await repos.event_types.get_by_owner_slug(owner.id, "intro") == link
    assert await repos.event_types.get_by_owner_slug(owner.id, "other") is None
    assert await repos.event_types.get("nope") is None


async def test_slugs_are_unique_per_owner(repos: Repositories) -> None:
    adele = await make_user(repos, "adele@contoso.com")
    alex = await make_user(repos, "alex@contoso.com")
    await make_link(repos, adele, "chat")
    with pytest.raises(Conflict):
        await make_link(repos, adele, "chat")
    await make_link(repos, alex, "chat")
    await repos.teams.save(
        Team(id="team-1", tenant_id=adele.tenant_id, name="Sales", slug="sales", members=(TeamMember(adele.id),))
    )
    team_link = await make_link(repos, None, "chat", team_id="team-1", kind=LinkKind.ROUND_ROBIN)
    assert await repos.event_types.get_by_team_slug("team-1", "chat") == team_link
    with pytest.raises(Conflict):
        await make_link(repos, None, "chat", team_id="team-1")
    with pytest.raises(Conflict):
        await repos.event_types.create(replace(team_link, slug="other"))  # same id


async def test_the_link_created_event_is_written_with_the_link_and_only_with_it(repos: Repositories) -> None:
    """link.created goes in the link's own transaction: a crash between the two can't lose it, and a link that
    was refused (its slug taken) announces nothing."""
    adele = await make_user(repos, "adele@contoso.com")
    first = await make_link(repos, adele, "chat")
    second = replace(first, id="et-second")
    with pytest.raises(Conflict):
        await repos.event_types.create(second, outbox=[link_created(adele, second)])
    assert await _outbox_keys(repos) == []
    third = replace(first, id="et-third", slug="chat-2")
    await repos.event_types.create(third, outbox=[link_created(adele, third)])
    assert await _outbox_keys(repos) == [f"webhook:link.created:{third.id}"]


async def _outbox_keys(repos: Repositories) -> list[str]:
    async with repos.db.read() as s:
        return list((await s.scalars(select(OutboxRow.dedupe_key))).all())


async def test_owner_is_required_and_must_exist(repos: Repositories) -> None:
    with pytest.raises(ValidationFailed):
        await make_link(repos, None, "orphan")
    with pytest.raises(NotFound):
        await make_link(repos, None, "orphan", team_id="no-such-team")


async def test_update_checks_the_version_and_tenant(repos: Repositories) -> None:
    owner = await make_user(repos)
    link = await make_link(repos, owner, "chat")
    taken = await make_link(repos, owner, "taken")
    edited = await repos.event_types.update(replace(link, title="Coffee", rules=rich_rules(), active=False))
    assert edited.version == 2 and edited.title == "Coffee" and edited.rules == rich_rules()
    assert await repos.event_types.get(link.id) == edited
    with pytest.raises(Conflict):
        await repos.event_types.update(replace(link, title="Stale"))  # still version 1
    with pytest.raises(Conflict):
        await repos.event_types.update(replace(edited, slug=taken.slug))
    with pytest.raises(NotFound):
        await repos.event_types.update(replace(edited, tenant_id=OTHER_TENANT))
    with pytest.raises(NotFound):
        await repos.event_types.update(replace(edited, id="nope"))
    assert (await repos.event_types.get(link.id)) == edited


async def test_listing_and_deleting_are_tenant_scoped(repos: Repositories) -> None:
    owner = await make_user(repos)
    first = await make_link(repos, owner, "a-first")
    second = await make_link(repos, owner, "b-second")
    assert await repos.event_types.list_for_owner(owner.tenant_id, owner.id) == [first, second]
    assert await repos.event_types.list_for_owner(OTHER_TENANT, owner.id) == []
    with pytest.raises(NotFound):
        await repos.event_types.delete(OTHER_TENANT, first.id)
    assert await repos.event_types.get(first.id) == first
    kept, _ = await repos.bookings.reserve(booking(first, [owner], at(10)))
    await repos.event_types.delete(owner.tenant_id, first.id)
    assert await repos.event_types.get(first.id) is None
    assert await repos.bookings.get(kept.id) == kept  # bookings outlive their link
    with pytest.raises(NotFound):
        await repos.event_types.delete(owner.tenant_id, first.id)
    assert await repos.event_types.list_for_owner(owner.tenant_id, owner.id) == [second]


async def test_a_link_is_found_with_its_owner_by_handle_and_slug_in_one_read(repos: Repositories) -> None:
    owner = await make_user(repos)
    other = await make_user(repos, "alex@contoso.com", name="Alex Wilber")
    link = await make_link(repos, owner, "intro")
    await make_link(repos, other, "team-sync")
    assert await repos.event_types.get_by_handle_slug(owner.handle, "intro") == (link, owner)
    assert await repos.event_types.get_by_handle_slug(f" {owner.handle.upper()} ", "intro") == (link, owner)
    assert await repos.event_types.get_by_handle_slug(owner.handle, "team-sync") is None  # another owner's slug
    assert await repos.event_types.get_by_handle_slug("nobody", "intro") is None
