"""Webhooks of team links through the sandbox app as ``app.py`` wires it (its background webhook delivery, the real
sender, receivers on 127.0.0.1; every delivery verified with the PyPI ``standardwebhooks`` library).

The attacks first: a team link's booking webhooks reach whoever sees the booking through the API (its hosts, and the
link's maker, who manages it) and nobody else: not a member of another team link (of the same team, or of another
team), not another tenant's person, not even one a team link's settings name as its maker. Then what they carry: a
booking webhook's booking is the one ``GET /api/v1/bookings/{id}`` returns (its ``hosts`` too), ``link.created`` of
a team link (made through the API or in chat) the event type ``GET /api/v1/event-types/{id}`` returns (its page
under the team's address, the team and its settings)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from scheduling.delivery import WEBHOOK
from scheduling.domain import EventType, LinkKind, User
from scheduling.links import NewLink
from scheduling.resources import EVENT_CONTEXT
from scheduling.teams import TeamLinkSettings
from storage.models import OutboxRow
from tests.web.conftest import Site
from tests.web.test_api import book, first_slots, key_for
from tests.web.test_api_team import ELSEWHERE, Sales, only_megan_takes_bookings, sales, teams_of

pytestmark = pytest.mark.asyncio(loop_scope="session")

BOOKING_EVENTS = ["booking.created", "booking.rescheduled", "booking.cancelled"]


@dataclass
class Inbox:
    """Receivers on 127.0.0.1, one path per person (``/hooks/{who}``): every request verified with the secret of
    the subscription that person made for it, kept as (event type, data)."""

    secrets: dict[str, str] = field(default_factory=dict)
    got: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        who = request.match_info["who"]
        body = await request.read()
        event = Webhook(self.secrets[who]).verify(body, {k.lower(): v for k, v in request.headers.items()})
        self.got.setdefault(who, []).append((event["type"], event["data"]))
        return web.Response(status=204)

    def url(self, who: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(f"/hooks/{who}"))

    def of(self, who: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [data for t, data in self.got.get(who, []) if kind is None or t == kind]

    def bookings(self, who: str) -> dict[tuple[str, str], dict[str, Any]]:
        """What ``who`` was sent of bookings, by (booking id, event type); each exactly once (deliveries run side
        by side, so in no particular order)."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for kind, data in self.got.get(who, []):
            assert (data["id"], kind) not in out, f"{who} got {kind} of {data['id']} twice"
            out[(data["id"], kind)] = data
        return out


@asynccontextmanager
async def receiving() -> AsyncIterator[Inbox]:
    inbox = Inbox()
    app = web.Application()
    app.router.add_post("/hooks/{who}", inbox.handle)
    inbox.server = TestServer(app, host="127.0.0.1")
    await inbox.server.start_server()
    try:
        yield inbox
    finally:
        await inbox.server.close()


async def subscribe(site: Site, inbox: Inbox, who: str, user: User, events: Iterable[str]) -> None:
    """``user`` subscribes through the API (their own key) to ``events`` at their receiver."""
    resp = await site.client.post(
        "/api/v1/webhooks", headers=await key_for(site, user), json={"url": inbox.url(who), "events": list(events)}
    )
    assert resp.status == 201, await resp.text()
    inbox.secrets[who] = (await resp.json())["secret"]


async def settled(site: Site, seconds: float = 20.0) -> None:
    """Until the app's webhook delivery has fanned out and sent everything written so far."""
    async with asyncio.timeout(seconds):
        while True:
            async with site.services.repos.db.read() as s:
                left = await s.scalar(
                    select(func.count())
                    .select_from(OutboxRow)
                    .where(OutboxRow.channel == WEBHOOK, OutboxRow.delivered_at.is_(None), OutboxRow.dead.is_(False))
                )
            if not left:
                return
            await asyncio.sleep(0.05)


async def person(site: Site, handle: str, tenant_id: str | None = None) -> User:
    """A connected Slotwise user for one of the sandbox's demo people (``tenant_id``: one of another tenant)."""
    found = site.emulator.get_user(f"{handle}@contoso.example")
    assert found is not None
    users = site.services.repos.users
    user = await users.upsert(
        User(
            id=handle if tenant_id is None else f"{handle}-{tenant_id}",
            tenant_id=tenant_id or found.tenant_id,
            aad_object_id=found.id,
            display_name=found.display_name,
            email=found.upn,
            time_zone="UTC",
        )
    )
    if tenant_id is not None:
        return user
    connected = await site.services.connections.ensure_connected(user)
    assert connected is not None
    return connected


def booking_of(data: dict[str, Any]) -> dict[str, Any]:
    """A booking webhook's data without what the change adds: the booking as the API returns it."""
    return {k: v for k, v in data.items() if k not in EVENT_CONTEXT}


@dataclass
class Audience:
    """Everyone who subscribed to booking events: Adele made the Sales team's "Sales demo", Megan is in its rotation;
    Priya is in the Support team's rotation with Megan; far is another tenant's person whom a Sales team link's
    settings name as its maker."""

    world: Sales
    priya: User
    far: User
    forged: EventType


async def audience(site: Site, inbox: Inbox) -> Audience:
    world = await sales(site)
    priya = await person(site, "priya")
    (support,) = await site.services.repos.teams.team_links(world.support.id)
    await teams_of(site).join(support.id, priya)  # the Support team's rotation, with Megan
    far = await person(site, "diego", tenant_id=ELSEWHERE)
    forged = await site.services.repos.teams.create_link(
        EventType(
            id="et-forged",
            tenant_id=world.adele.tenant_id,
            slug="forged",
            title="Forged",
            rules=world.mine.link.rules,
            team_id=world.team.id,
            kind=LinkKind.ROUND_ROBIN,
        ),
        TeamLinkSettings("et-forged", created_by=far.id),  # a maker of another tenant: tenants never meet
    )
    await settled(site)  # the links' own link.created went out before anyone subscribed
    for who, user in (("adele", world.adele), ("megan", world.megan), ("priya", priya), ("far", far)):
        await subscribe(site, inbox, who, user, [*BOOKING_EVENTS, "link.created"])
    return Audience(world, priya, far, forged)


# ------------------------------------------------------------------ the attacks


async def test_a_round_robin_bookings_webhooks_reach_its_host_and_the_links_maker_and_nobody_else(site: Site) -> None:
    async with receiving() as inbox:
        who = await audience(site, inbox)
        world = who.world
        await only_megan_takes_bookings(site, world)  # Adele made "Sales demo" but no longer hosts...
        await teams_of(site).join(world.mine.link.id, who.priya)  # ...Megan or Priya does, whoever is assigned
        adele, megans = await key_for(site, world.adele), await key_for(site, world.megan)
        first, later = await first_slots(site, adele, world.mine.link.id, 2)
        made = await book(site, adele, world.mine.link.id, first)
        assert made.status == 201, await made.text()
        booking = await made.json()
        moved = await site.client.post(
            f"/api/v1/bookings/{booking['id']}/reschedule", headers=adele, json={"start": later}
        )
        assert moved.status == 200, await moved.text()
        cancelled = await site.client.post(
            f"/api/v1/bookings/{booking['id']}/cancel", headers=adele, json={"reason": "Moved on"}
        )
        assert cancelled.status == 200, await cancelled.text()
        # a booking on Megan's own link of the same team: Adele made a sibling link, not this one
        (start,) = await first_slots(site, megans, world.theirs.link.id)
        theirs = await (await book(site, megans, world.theirs.link.id, start)).json()
        # a booking on the link whose settings name another tenant's person as its maker
        (start,) = [s["start"] for s in (await site.slots("/book/team/sales/forged", days=21))[:1]]
        forged = await site.book_json(start, path="/book/team/sales/forged")
        assert forged.status == 201, await forged.text()
        forged_id = (await forged.json())["id"]
        await settled(site)

        people = {world.adele.id: "adele", world.megan.id: "megan", who.priya.id: "priya", who.far.id: "far"}
        stored = await site.services.repos.bookings.get(forged_id)
        assert stored is not None
        host_of = {
            booking["id"]: people[booking["hosts"][0]["id"]],
            theirs["id"]: people[theirs["hosts"][0]["id"]],
            forged_id: people[stored.organizer_id],
        }
        assert {host_of[booking["id"]], host_of[theirs["id"]], host_of[forged_id]} <= {"megan", "priya"}
        mine = {(booking["id"], kind) for kind in BOOKING_EVENTS}
        expected = {name: set[tuple[str, str]]() for name in people.values()}
        for name in ("adele", host_of[booking["id"]]):  # the link's maker (who manages it), and its host
            expected[name] |= mine
        for name in ("megan", host_of[theirs["id"]]):  # Megan made that one
            expected[name].add((theirs["id"], "booking.created"))
        expected[host_of[forged_id]].add((forged_id, "booking.created"))  # its host alone
        # nobody else: not the member the booking went past, not a sibling link's maker, not another tenant's person
        assert {name: set(inbox.bookings(name)) for name in people.values()} == expected
        # what they got is the booking as GET /api/v1/bookings/{id} returns it (hosts included) after each change
        answers = dict(zip(BOOKING_EVENTS, [await r.json() for r in (made, moved, cancelled)], strict=True))
        for name in ("adele", host_of[booking["id"]]):
            sent = inbox.bookings(name)
            assert {kind: booking_of(sent[(booking["id"], kind)]) for kind in BOOKING_EVENTS} == answers, name


async def test_a_collective_bookings_webhooks_reach_every_member_and_nobody_else(site: Site) -> None:
    async with receiving() as inbox:
        who = await audience(site, inbox)
        world = who.world
        megans = await key_for(site, world.megan)
        link_id = world.theirs.link.id  # Megan made it; Adele is in the Sales rotation too
        switched = await site.client.patch(
            f"/api/v1/event-types/{link_id}", headers=megans, json={"kind": "collective"}
        )
        assert switched.status == 200, await switched.text()
        (start,) = await first_slots(site, megans, link_id)
        made = await book(site, megans, link_id, start)
        assert made.status == 201, await made.text()
        booking = await made.json()
        assert [h["id"] for h in booking["hosts"]] == [world.megan.id, world.adele.id]  # the maker organises
        cancelled = await site.client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=megans, json={})
        assert cancelled.status == 200, await cancelled.text()
        await settled(site)
        got = await (await site.client.get(f"/api/v1/bookings/{booking['id']}", headers=megans)).json()
        for name in ("megan", "adele"):  # the organiser, and the other member, who hosts it with her
            sent = inbox.bookings(name)
            assert set(sent) == {(booking["id"], "booking.created"), (booking["id"], "booking.cancelled")}, name
            created, gone = sent[(booking["id"], "booking.created")], sent[(booking["id"], "booking.cancelled")]
            assert booking_of(created) == booking and booking_of(gone) == got
            assert [h["email"] for h in created["hosts"]] == [world.megan.email, world.adele.email]
        assert inbox.of("priya") == [] and inbox.of("far") == []


# ------------------------------------------------------------------ link.created


async def test_link_created_of_a_team_link_carries_the_event_type_the_api_returns(site: Site) -> None:
    async with receiving() as inbox:
        who = await audience(site, inbox)
        world = who.world
        adele, megans = await key_for(site, world.adele), await key_for(site, world.megan)
        made = await site.client.post(
            "/api/v1/event-types",
            headers=adele,
            json={"teamId": world.team.id, "kind": "collective", "title": "Panel interview", "durations": [45]},
        )
        assert made.status == 201, await made.text()
        link = await made.json()
        chat = await teams_of(site).create_link(
            world.megan, world.team, NewLink(title="Chat made"), LinkKind.ROUND_ROBIN
        )
        expires = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
        single = await site.client.post(
            "/api/v1/event-types",
            headers=megans,
            json={
                "teamId": world.team.id,
                "title": "Once",
                "singleUse": True,
                "expiresAt": expires.isoformat().replace("+00:00", "Z"),
            },
        )
        assert single.status == 201, await single.text()
        await settled(site)

        (sent,) = inbox.of("adele", "link.created")
        assert sent == await (await site.client.get(f"/api/v1/event-types/{link['id']}", headers=adele)).json()
        assert sent == link and sent["bookingUrl"] == f"{site.settings.base_url}/book/team/sales/panel-interview"
        assert sent["team"] == {"id": world.team.id, "name": "Sales", "slug": "sales"}
        assert sent["teamSettings"]["createdBy"] == world.adele.id and sent["kind"] == "collective"
        megans_links = {d["id"]: d for d in inbox.of("megan", "link.created")}
        assert set(megans_links) == {chat.link.id, (await single.json())["id"]}
        for link_id, sent in megans_links.items():
            assert sent == await (await site.client.get(f"/api/v1/event-types/{link_id}", headers=megans)).json()
        made_in_chat, once = megans_links[chat.link.id], megans_links[(await single.json())["id"]]
        assert made_in_chat["bookingUrl"].endswith("/book/team/sales/chat-made")
        assert once["expiresAt"] == expires.isoformat().replace("+00:00", "Z") and once["singleUse"] is True
        assert inbox.of("priya") == [] and inbox.of("far") == []
