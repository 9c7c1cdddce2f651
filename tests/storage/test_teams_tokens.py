"""SqlTeamStore (members, order, fairness bookkeeping) and SqlTokenCacheStore (encrypted blob per user)."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta

import pytest

from scheduling.domain import ConnectionStatus, LinkKind, Team, TeamMember
from scheduling.errors import Conflict, NotFound, ValidationFailed
from storage.repositories import Repositories
from tests.storage.helpers import OTHER_TENANT, TENANT, FakeClock, at, booking, make_link, make_user


async def test_team_round_trip_keeps_member_order(repos: Repositories) -> None:
    a = await make_user(repos, "a@contoso.com")
    b = await make_user(repos, "b@contoso.com")
    c = await make_user(repos, "c@contoso.com")
    team = Team(
        id="team-1",
        tenant_id=TENANT,
        name="Sales",
        slug="sales",
        members=(TeamMember(c.id, priority=3, weight=50), TeamMember(a.id), TeamMember(b.id, active=False)),
        conversation_reference={"conversation": {"id": "19:channel"}},
    )
    assert await repos.teams.save(team) == team
    assert await repos.teams.get("team-1") == team
    assert await repos.teams.get_by_slug("sales") == team
    assert await repos.teams.get("nope") is None and await repos.teams.get_by_slug("nope") is None


async def test_saving_again_replaces_members_and_keeps_fairness_data(repos: Repositories, clock: FakeClock) -> None:
    a = await make_user(repos, "a@contoso.com")
    b = await make_user(repos, "b@contoso.com")
    c = await make_user(repos, "c@contoso.com")
    team = await repos.teams.save(
        Team(id="team-1", tenant_id=TENANT, name="Sales", slug="sales", members=(TeamMember(a.id), TeamMember(b.id)))
    )
    link = await make_link(repos, None, "demo", team_id=team.id, kind=LinkKind.ROUND_ROBIN)
    await repos.bookings.reserve(booking(link, [b], at(10)))
    assert await repos.teams.last_booked(team.id) == {a.id: None, b.id: clock.now_value}
    clock.advance(hours=1)
    updated = replace(team, name="Sales EMEA", members=(TeamMember(c.id), TeamMember(b.id, priority=1)))
    assert await repos.teams.save(updated) == updated
    assert await repos.teams.get(team.id) == updated
    assert await repos.teams.last_booked(team.id) == {c.id: None, b.id: clock.now_value - timedelta(hours=1)}


async def test_team_conflicts_and_errors(repos: Repositories) -> None:
    a = await make_user(repos, "a@contoso.com")
    await repos.teams.save(Team(id="team-1", tenant_id=TENANT, name="Sales", slug="sales"))
    with pytest.raises(Conflict):
        await repos.teams.save(Team(id="team-2", tenant_id=TENANT, name="Other sales", slug="sales"))
    with pytest.raises(NotFound):
        await repos.teams.save(
            Team(id="team-3", tenant_id=TENANT, name="X", slug="x", members=(TeamMember("no-such-user"),))
        )
    assert await repos.teams.get("team-3") is None  # nothing half-saved
    with pytest.raises(NotFound):
        await repos.teams.save(Team(id="team-1", tenant_id=OTHER_TENANT, name="Stolen", slug="stolen"))
    with pytest.raises(ValidationFailed):
        await repos.teams.save(
            Team(id="team-4", tenant_id=TENANT, name="Dup", slug="dup", members=(TeamMember(a.id), TeamMember(a.id)))
        )


async def test_token_cache_round_trip(repos: Repositories) -> None:
    user = await make_user(repos)
    assert await repos.tokens.load_token_cache(user.id) is None
    blob = os.urandom(4096) + b"\x00\x00binary\xff"
    await repos.tokens.save_token_cache(user.id, blob, granted_scopes=["Calendars.ReadWrite", "User.Read"])
    assert await repos.tokens.load_token_cache(user.id) == blob
    newer = os.urandom(100)
    await repos.tokens.save_token_cache(user.id, newer)
    assert await repos.tokens.load_token_cache(user.id) == newer
    info = await repos.tokens.connection(user.id)
    assert info is not None and info.granted_scopes == ("Calendars.ReadWrite", "User.Read")  # kept
    await repos.users.set_connection(user.id, ConnectionStatus.BROKEN, "invalid_grant")
    info = await repos.tokens.connection(user.id)
    assert info is not None and (info.status, info.last_error) == (ConnectionStatus.BROKEN, "invalid_grant")
    await repos.tokens.delete_token_cache(user.id)
    await repos.tokens.delete_token_cache(user.id)
    assert await repos.tokens.load_token_cache(user.id) is None
    assert await repos.tokens.connection(user.id) is None
    with pytest.raises(NotFound):
        await repos.tokens.save_token_cache("nobody", b"x")
