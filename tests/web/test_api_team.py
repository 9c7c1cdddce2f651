"""REST API v1 and team links, over the sandbox app: a key manages the team links its owner made (the creator: no
Teams roster can be read away from Teams) through the same use cases as the channel card and the team pages.

The attacks come first: a team link another member made, another tenant's (even one whose settings name the key's
owner), and a booking on a team link the key neither manages nor hosts are answered exactly like ids that do not
exist, in every operation, and a team the owner is not in can't be made a link in. Then: listing (personal and team
links, the team and its settings), changing (every problem at once, as the team settings card; the version),
making (in a team whose rotation the owner is in; ``link.created`` written with the link, from chat too), slots
(the public team endpoint's shape), bookings (the members assigned as ``hosts``, idempotency, the list, reschedule
keeping the member, cancel) and deleting."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from scheduling.domain import EventType, LinkKind, OutboxItem, Priority, Team, TeamMember, User
from scheduling.errors import NotFound
from scheduling.links import NewLink
from scheduling.teams import TeamLinkService, TeamLinkSettings, TeamLinkView
from storage.models import OutboxRow
from tests.web.conftest import Site
from tests.web.test_api import book, days, first_slots, key_for, second_host
from web.api.routes import ROUTES

pytestmark = pytest.mark.asyncio(loop_scope="session")

PROBLEM = "application/problem+json"
ELSEWHERE = "tenant-elsewhere"


@dataclass
class Sales:
    """Adele (the key's owner) made "Sales demo" in the Sales team; Megan is in its rotation and made "Megan's
    intro" there; Megan alone is in the Support team; another tenant has a team link naming Adele's id as creator."""

    adele: User
    megan: User
    team: Team
    mine: TeamLinkView
    theirs: TeamLinkView
    support: Team
    far: Team
    elsewhere: EventType


def teams_of(site: Site) -> TeamLinkService:
    teams = site.services.teams
    assert teams is not None
    return teams


async def sales(site: Site) -> Sales:
    teams = teams_of(site)
    adele = await site.host()
    megan = await second_host(site)
    team = await teams.team_for(adele.tenant_id, "19:sales@thread.tacv2", "Sales")
    mine = await teams.create_link(adele, team, NewLink(duration=30, title="Sales demo"), LinkKind.ROUND_ROBIN)
    mine = await teams.join(mine.link.id, megan)
    theirs = await teams.create_link(megan, team, NewLink(duration=30, title="Megan's intro"), LinkKind.ROUND_ROBIN)
    support = await teams.team_for(adele.tenant_id, "19:support@thread.tacv2", "Support")
    await teams.create_link(megan, support, NewLink(title="Support call"), LinkKind.COLLECTIVE)
    repos = site.services.repos
    far = await repos.teams.create_team(
        Team(id="team-far", tenant_id=ELSEWHERE, name="Far", slug="far", external_id="x")
    )
    elsewhere = await repos.teams.create_link(
        EventType(
            id="et-far",
            tenant_id=ELSEWHERE,
            slug="far-demo",
            title="Far demo",
            rules=mine.link.rules,
            team_id=far.id,
            kind=LinkKind.ROUND_ROBIN,
        ),
        TeamLinkSettings("et-far", created_by=adele.id),  # a forged creator: tenants still never meet
    )
    return Sales(adele, megan, team, mine, theirs, support, far, elsewhere)


def same_refusal(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "requestId"}


async def refusal(resp: Any) -> dict[str, Any]:
    assert resp.status == 404, (resp.status, await resp.text())
    assert resp.content_type == PROBLEM
    return same_refusal(await resp.json())


async def outbox_keys(site: Site) -> dict[str, OutboxItem]:
    async with site.services.repos.db.read() as s:
        rows = (await s.scalars(select(OutboxRow))).all()
        return {r.dedupe_key: OutboxItem(r.kind, r.tenant_id, dict(r.payload), r.dedupe_key, r.channel) for r in rows}


async def only_megan_takes_bookings(site: Site, world: Sales) -> None:
    """Adele leaves the rotation of the Sales team: she still made (and manages) her link, Megan hosts."""
    await teams_of(site).leave(world.mine.link.id, world.adele)


# ------------------------------------------------------------------ the attacks


async def test_a_team_link_the_key_does_not_manage_is_answered_like_one_that_does_not_exist(site: Site) -> None:
    world = await sales(site)
    adele, megans = await key_for(site), await key_for(site, world.megan)
    c = site.client
    bodies = {"updateEventType": {"title": "Mine now", "teamSettings": {"announce": False}}}
    routes = [r for r in ROUTES if "{eventTypeId}" in r.path]
    assert {r.operation_id for r in routes} == {"getEventType", "updateEventType", "deleteEventType", "listSlots"}

    async def answers(headers: dict[str, str], link_id: str) -> list[dict[str, Any]]:
        out = []
        for route in routes:
            params = days() if route.operation_id == "listSlots" else None
            body = bodies.get(route.operation_id, {})
            path = route.path.format(eventTypeId=link_id)
            out.append(await refusal(await c.request(route.method, path, headers=headers, json=body, params=params)))
        out.append(await refusal(await book(site, headers, link_id, "2030-01-07T10:00:00Z")))
        out.append(await refusal(await c.get("/api/v1/bookings", headers=headers, params={"eventTypeId": link_id})))
        return out

    missing = await answers(adele, uuid.uuid4().hex)
    # another member's team link (Adele is in its rotation), another tenant's (naming her as its creator)
    assert await answers(adele, world.theirs.link.id) == missing
    assert await answers(adele, world.elsewhere.id) == missing
    # and the other way round: Megan is in the rotation of Adele's link, but did not make it
    assert await answers(megans, world.mine.link.id) == await answers(megans, uuid.uuid4().hex)
    # nothing of theirs changed, nothing was deleted
    teams = teams_of(site)
    for view in (world.mine, world.theirs):
        now = await teams.view(view.link.id)
        assert now.link == view.link and now.settings.announce is True
    assert await site.services.repos.event_types.get(world.elsewhere.id) == world.elsewhere
    # the lists: each key its own
    listed = await (await c.get("/api/v1/event-types", headers=adele)).json()
    assert world.mine.link.id in {x["id"] for x in listed["data"]}
    assert not {world.theirs.link.id, world.elsewhere.id} & {x["id"] for x in listed["data"]}
    theirs = await (await c.get("/api/v1/event-types", headers=megans)).json()
    assert world.theirs.link.id in {x["id"] for x in theirs["data"]} and world.mine.link.id not in str(theirs)


async def test_a_team_link_is_made_only_in_a_team_whose_rotation_the_key_is_in(site: Site) -> None:
    world = await sales(site)
    headers = await key_for(site)
    teams = site.services.repos.teams
    before = {t.id: [x.id for x in await teams.team_links(t.id)] for t in (world.team, world.support, world.far)}

    async def made_in(team_id: str) -> Any:
        body = {"teamId": team_id, "kind": "collective", "title": "Panel"}
        return await site.client.post("/api/v1/event-types", headers=headers, json=body)

    missing = await refusal(await made_in(uuid.uuid4().hex))
    assert await refusal(await made_in(world.support.id)) == missing  # the tenant's, but she isn't in it
    assert await refusal(await made_in(world.far.id)) == missing  # another tenant's
    await teams_of(site).leave(world.mine.link.id, world.adele)  # she left the Sales rotation: rejoin in Teams
    assert await refusal(await made_in(world.team.id)) == missing
    after = {t.id: [x.id for x in await teams.team_links(t.id)] for t in (world.team, world.support, world.far)}
    assert after == before


async def test_a_booking_on_a_team_link_the_key_neither_manages_nor_hosts_is_404(site: Site) -> None:
    world = await sales(site)
    await only_megan_takes_bookings(site, world)
    headers, megans = await key_for(site), await key_for(site, world.megan)
    path = world.theirs.link.id
    (start,) = await first_slots(site, megans, path)
    made = await book(site, megans, path, start)
    assert made.status == 201, await made.text()
    booking = await made.json()
    assert [h["id"] for h in booking["hosts"]] == [world.megan.id]
    c = site.client
    ghost = uuid.uuid4().hex
    for suffix, method, body in (("", "GET", None), ("/reschedule", "POST", {"start": start}), ("/cancel", "POST", {})):
        theirs = await refusal(
            await c.request(method, f"/api/v1/bookings/{booking['id']}{suffix}", headers=headers, json=body)
        )
        assert theirs == await refusal(
            await c.request(method, f"/api/v1/bookings/{ghost}{suffix}", headers=headers, json=body)
        )
    listed = await (await c.get("/api/v1/bookings", headers=headers)).json()
    assert booking["id"] not in [b["id"] for b in listed["data"]]
    still = await (await c.get(f"/api/v1/bookings/{booking['id']}", headers=megans)).json()
    assert still["status"] == "confirmed" and still["start"] == start


# ------------------------------------------------------------------ event types


async def test_the_key_lists_its_personal_and_team_links_with_the_team_and_its_settings(site: Site) -> None:
    world = await sales(site)
    headers = await key_for(site)
    c = site.client
    listed = (await (await c.get("/api/v1/event-types", headers=headers)).json())["data"]
    assert [x["slug"] for x in listed] == ["intro-call", "sales-demo"]  # personal first, then team links
    personal, team = listed
    assert personal["kind"] == "single" and personal["team"] is None and personal["teamSettings"] is None
    assert team["kind"] == "round_robin" and team["id"] == world.mine.link.id
    assert team["bookingUrl"] == f"{site.settings.base_url}/book/team/sales/sales-demo"
    assert team["team"] == {"id": world.team.id, "name": "Sales", "slug": "sales"}
    settings = team["teamSettings"]
    assert (settings["createdBy"], settings["assignmentMode"], settings["fairnessPeriod"], settings["announce"]) == (
        world.adele.id,
        "fair",
        "month",
        True,
    )
    assert settings["members"] == [
        {
            "userId": u.id,
            "name": u.display_name,
            "priority": "medium",
            "weight": 100,
            "dailyCap": None,
            "weeklyCap": None,
            "connection": "connected",
        }
        for u in (world.adele, world.megan)
    ]
    assert await (await c.get(f"/api/v1/event-types/{team['id']}", headers=headers)).json() == team
    page = await c.get(team["bookingUrl"].removeprefix(site.settings.base_url))
    assert page.status == 200 and "Sales" in await page.text()


async def test_a_team_link_is_changed_as_its_settings_card_changes_it_every_problem_at_once(site: Site) -> None:
    world = await sales(site)
    headers = await key_for(site)
    c = site.client
    path = f"/api/v1/event-types/{world.mine.link.id}"
    bad = await c.patch(
        path,
        headers=headers,
        json={
            "title": " ",
            "weeklyHours": {"monday": [["10:00", "09:00"]]},
            "kind": "single",
            "bufferBefore": 5000,
            "location": {"kind": "phone", "text": ""},
            "teamSettings": {"members": [{"userId": world.megan.id, "weight": 0}, {"userId": "nobody"}]},
        },
    )
    assert bad.status == 422 and bad.content_type == PROBLEM
    errors = (await bad.json())["errors"]
    assert {"title", "weeklyHours.monday", "kind", "bufferBefore", "location", "teamSettings.members.0.weight"} <= set(
        errors
    ), errors
    assert errors["kind"] == "A team link is round-robin or collective."  # the team settings card's own words
    unknown = await c.patch(path, headers=headers, json={"teamSettings": {"members": [{"userId": "nobody"}]}})
    assert unknown.status == 422 and set((await unknown.json())["errors"]) == {"teamSettings.members.0.userId"}
    twice = [{"userId": world.megan.id}, {"userId": world.megan.id}]
    dup = await c.patch(path, headers=headers, json={"teamSettings": {"members": twice}})
    assert set((await dup.json())["errors"]) == {"teamSettings.members.1.userId"}
    assert (await teams_of(site).view(world.mine.link.id)).link == world.mine.link  # nothing was saved

    stale = await c.patch(path, headers=headers, json={"title": "X", "version": 7})
    assert stale.status == 409 and stale.content_type == PROBLEM
    same = await c.patch(path, headers=headers, json={"version": 1})
    assert same.status == 200 and (await same.json())["version"] == 1  # nothing changed, nothing written
    changed = await c.patch(
        path,
        headers=headers,
        json={
            "version": 1,
            "title": "Sales all hands",
            "description": "Everyone from sales.",
            "kind": "collective",
            "bufferAfter": 10,
            "teamSettings": {
                "assignmentMode": "availability",
                "fairnessPeriod": "week",
                "announce": False,
                "members": [{"userId": world.megan.id, "priority": "high", "weight": 40, "dailyCap": 2}],
            },
        },
    )
    assert changed.status == 200, await changed.text()
    link = await changed.json()
    assert (link["title"], link["description"], link["kind"], link["bufferAfter"], link["version"]) == (
        "Sales all hands",
        "Everyone from sales.",
        "collective",
        10,
        2,
    )
    settings = link["teamSettings"]
    assert (settings["assignmentMode"], settings["fairnessPeriod"], settings["announce"]) == (
        "availability",
        "week",
        False,
    )
    megan = next(m for m in settings["members"] if m["userId"] == world.megan.id)
    assert (megan["priority"], megan["weight"], megan["dailyCap"]) == ("high", 40, 2)
    # the same link as the channel's card shows it
    view = await teams_of(site).view(world.mine.link.id)
    assert view.link.kind is LinkKind.COLLECTIVE and view.settings.announce is False and view.link.version == 2
    member = view.member(world.megan.id)
    assert member is not None and member.member == TeamMember(
        world.megan.id, priority=Priority.HIGH, weight=40, daily_cap=2, joined_at=member.member.joined_at
    )
    cleared = await c.patch(
        path, headers=headers, json={"teamSettings": {"members": [{"userId": world.megan.id, "dailyCap": None}]}}
    )
    members = (await cleared.json())["teamSettings"]["members"]
    assert next(m for m in members if m["userId"] == world.megan.id)["dailyCap"] is None


async def test_the_links_maker_takes_a_member_out_of_the_rotation_as_leave_does_and_no_one_else_can(
    site: Site,
) -> None:
    world = await sales(site)
    path = f"/api/v1/event-types/{world.mine.link.id}"
    megans = await key_for(site, world.megan)  # in the rotation, but she did not make Adele's link
    attack = await site.client.patch(
        path, headers=megans, json={"teamSettings": {"members": [{"userId": world.adele.id, "remove": True}]}}
    )
    assert same_refusal(await refusal(attack))["status"] == 404
    assert (await teams_of(site).view(world.mine.link.id)).member(world.adele.id) is not None

    removal = {"userId": world.megan.id, "remove": True, "weight": 100}  # her other fields are not judged
    resp = await site.client.patch(
        path, headers=await key_for(site), json={"version": 1, "teamSettings": {"members": [removal]}}
    )
    assert resp.status == 200, await resp.text()
    assert world.megan.id not in {m["userId"] for m in (await resp.json())["teamSettings"]["members"]}
    view = await teams_of(site).view(world.mine.link.id)
    assert view.member(world.megan.id) is None and view.member(world.adele.id) is not None
    again = await site.client.patch(
        path,
        headers=await key_for(site),
        json={"teamSettings": {"members": [{"userId": world.megan.id, "remove": True}]}},
    )
    assert again.status == 422 and set((await again.json())["errors"]) == {"teamSettings.members.0.userId"}


async def test_a_personal_link_takes_no_team_settings_and_stays_single(site: Site) -> None:
    headers = await key_for(site)
    link = await site.link()
    path = f"/api/v1/event-types/{link.id}"
    resp = await site.client.patch(
        path, headers=headers, json={"kind": "round_robin", "teamSettings": {"announce": True}}
    )
    assert resp.status == 422 and set((await resp.json())["errors"]) == {"kind", "teamSettings"}
    made = await site.client.post("/api/v1/event-types", headers=headers, json={"title": "Panel", "kind": "collective"})
    assert made.status == 422 and set((await made.json())["errors"]) == {"kind"}


async def test_a_team_link_is_made_in_the_keys_team_and_announced_with_link_created(site: Site) -> None:
    world = await sales(site)
    headers = await key_for(site)
    c = site.client
    before = await outbox_keys(site)
    bad = await c.post(
        "/api/v1/event-types",
        headers=headers,
        json={"teamId": world.team.id, "kind": "single", "title": "x" * 101, "durations": [0], "dailyCap": 0},
    )
    assert bad.status == 422
    assert {"kind", "title", "durations.0", "dailyCap"} <= set((await bad.json())["errors"]), await bad.text()
    made = await c.post(
        "/api/v1/event-types",
        headers=headers,
        json={"teamId": world.team.id, "kind": "collective", "title": "Panel interview", "durations": [45]},
    )
    assert made.status == 201, await made.text()
    link = await made.json()
    assert made.headers["Location"] == f"/api/v1/event-types/{link['id']}"
    assert (link["kind"], link["durations"], link["team"]["id"]) == ("collective", [45], world.team.id)
    assert link["bookingUrl"].endswith("/book/team/sales/panel-interview")
    assert link["teamSettings"]["createdBy"] == world.adele.id
    assert world.adele.id in [m["userId"] for m in link["teamSettings"]["members"]]
    assert link["timeZone"] == world.adele.time_zone  # the maker's Outlook hours, as a link made in chat gets
    assert await (await c.get(f"/api/v1/event-types/{link['id']}", headers=headers)).json() == link
    # link.created was written with the link: from the API ...
    items = await outbox_keys(site)
    created = {k: v for k, v in items.items() if k not in before and v.kind == "link.created"}
    assert list(created) == [f"webhook:link.created:{link['id']}"]
    assert created[f"webhook:link.created:{link['id']}"].payload == {
        "eventTypeId": link["id"],
        "ownerId": world.adele.id,
    }
    # ... and from chat (the same use case the channel's "make a round-robin link" calls)
    chat = await teams_of(site).create_link(world.megan, world.team, NewLink(title="Chat made"), LinkKind.ROUND_ROBIN)
    assert f"webhook:link.created:{chat.link.id}" in await outbox_keys(site)


async def test_deleting_a_team_link_keeps_its_bookings(site: Site) -> None:
    world = await sales(site)
    await only_megan_takes_bookings(site, world)
    headers, megans = await key_for(site), await key_for(site, world.megan)
    link_id = world.mine.link.id
    (start,) = await first_slots(site, headers, link_id)
    booking = await (await book(site, headers, link_id, start)).json()
    assert (await site.client.delete(f"/api/v1/event-types/{link_id}", headers=megans)).status == 404
    assert (await site.client.delete(f"/api/v1/event-types/{link_id}", headers=headers)).status == 204
    assert (await site.client.get(f"/api/v1/event-types/{link_id}", headers=headers)).status == 404
    with pytest.raises(NotFound):
        await teams_of(site).view(link_id)
    kept = await (await site.client.get(f"/api/v1/bookings/{booking['id']}", headers=megans)).json()
    assert kept["status"] == "confirmed" and kept["hosts"][0]["id"] == world.megan.id


# ------------------------------------------------------------------ slots and bookings


async def test_a_team_links_slots_have_the_public_team_endpoints_shape(site: Site) -> None:
    world = await sales(site)
    headers = await key_for(site)
    mine = await site.client.get(f"/api/v1/event-types/{world.mine.link.id}/slots", headers=headers, params=days())
    public = await site.client.get("/book/team/sales/sales-demo/slots", params=days())
    assert mine.status == public.status == 200
    assert await mine.json() == await public.json() and (await mine.json())["slots"]


async def test_bookings_on_a_team_link_name_their_hosts_and_are_managed_by_its_maker(site: Site) -> None:
    world = await sales(site)
    await only_megan_takes_bookings(site, world)
    headers, megans = await key_for(site), await key_for(site, world.megan)
    c = site.client
    link_id = world.mine.link.id
    first, later = await first_slots(site, headers, link_id, 2)
    made = await book(site, headers, link_id, first, key="order-7")
    assert made.status == 201, await made.text()
    booking = await made.json()
    megan = {"id": world.megan.id, "name": world.megan.display_name, "email": world.megan.email}
    assert booking["hosts"] == [megan] and booking["hostId"] == world.megan.id and booking["eventTypeId"] == link_id
    again = await book(site, headers, link_id, first, key="order-7")
    assert again.status == 200 and (await again.json())["id"] == booking["id"]
    body = {"eventTypeId": link_id, "start": first, "name": "Someone Else", "email": "ivy@example.org"}
    reused = await c.post("/api/v1/bookings", headers={**headers, "Idempotency-Key": "order-7"}, json=body)
    assert reused.status == 422 and (await reused.json())["code"] == "idempotency_key_reused"

    for key in (headers, megans):  # the link's maker, and the member who hosts it
        listed = await (await c.get("/api/v1/bookings", headers=key)).json()
        assert booking["id"] in [b["id"] for b in listed["data"]]
    only = await (await c.get("/api/v1/bookings", headers=headers, params={"eventTypeId": link_id})).json()
    assert [b["id"] for b in only["data"]] == [booking["id"]] and only["data"][0]["hosts"] == [megan]
    got = await (await c.get(f"/api/v1/bookings/{booking['id']}", headers=headers)).json()
    assert got == booking

    moved = await c.post(f"/api/v1/bookings/{booking['id']}/reschedule", headers=headers, json={"start": later})
    assert moved.status == 200, await moved.text()
    assert (await moved.json())["start"] == later and (await moved.json())["hosts"] == [megan]  # keeps its member
    cancelled = await c.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=headers, json={"reason": "Moved"})
    assert cancelled.status == 200
    assert (await cancelled.json())["status"] == "cancelled" and (await cancelled.json())["cancelReason"] == "Moved"


async def test_a_collective_booking_names_every_member(site: Site) -> None:
    world = await sales(site)
    headers = await key_for(site)
    link_id = world.mine.link.id
    switched = await site.client.patch(f"/api/v1/event-types/{link_id}", headers=headers, json={"kind": "collective"})
    assert switched.status == 200, await switched.text()
    (start,) = await first_slots(site, headers, link_id)
    made = await book(site, headers, link_id, start)
    assert made.status == 201, await made.text()
    booking = await made.json()
    assert [h["id"] for h in booking["hosts"]] == [world.adele.id, world.megan.id]  # the maker organises
    listed = await (await site.client.get("/api/v1/bookings", headers=headers, params={"eventTypeId": link_id})).json()
    assert listed["data"] == [booking]
