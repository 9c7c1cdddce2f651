"""REST API v1 over the sandbox app: keys (missing, wrong, revoked: 401), the rate limit (429 with Retry-After),
event types (every problem at once, single-use with an expiry), slots, bookings (Idempotency-Key required, replay,
422 on reuse, filters and cursor paging, reschedule, cancel), webhook subscriptions (SSRF refused), and the walk:
a key of one person gets 404 for another person's resources in every endpoint. The OpenAPI document covers the
route table."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app import API_WIRING
from scheduling.domain import ConnectionStatus, User
from tests.web.conftest import Site
from web.api.routes import ROUTES

pytestmark = pytest.mark.asyncio(loop_scope="session")

PROBLEM = "application/problem+json"


async def key_for(site: Site, user: User | None = None) -> dict[str, str]:
    owner = user or await site.host()
    issued = await site.app[API_WIRING].service.keys.create(owner, "test")
    return {"Authorization": f"Bearer {issued.secret}"}


async def second_host(site: Site) -> User:
    """Megan, another demo person, as a connected Slotwise host with a link."""
    person = site.emulator.get_user("megan@contoso.example")
    assert person is not None
    users = site.services.repos.users
    user = await users.upsert(
        User(
            id="megan",
            tenant_id=person.tenant_id,
            aad_object_id=person.id,
            display_name=person.display_name,
            email=person.upn,
            time_zone="UTC",
        )
    )
    connected = await site.services.connections.ensure_connected(user)
    assert connected is not None and connected.connection_status is ConnectionStatus.CONNECTED
    return connected


def days(count: int = 14) -> dict[str, str]:
    first = datetime.now(UTC).date()
    return {"start": first.isoformat(), "end": (first + timedelta(days=count - 1)).isoformat(), "timeZone": "UTC"}


async def first_slots(site: Site, headers: dict[str, str], link_id: str, count: int = 1) -> list[str]:
    resp = await site.client.get(f"/api/v1/event-types/{link_id}/slots", headers=headers, params=days(21))
    assert resp.status == 200, await resp.text()
    slots = (await resp.json())["slots"]
    assert len(slots) >= count
    return [s["start"] for s in slots[:count]]


async def book(site: Site, headers: dict[str, str], link_id: str, start: str, key: str | None = None) -> Any:
    body = {"eventTypeId": link_id, "start": start, "name": "Ivy Invitee", "email": "ivy@example.org"}
    return await site.client.post(
        "/api/v1/bookings", headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex}, json=body
    )


async def demo_link_id(site: Site) -> str:
    return (await site.link()).id


# ------------------------------------------------------------------ keys and limits


async def test_every_operation_refuses_a_missing_wrong_or_revoked_key(site: Site) -> None:
    host = await site.host()
    issued = await site.app[API_WIRING].service.keys.create(host, "soon revoked")
    good = {"Authorization": f"Bearer {issued.secret}"}
    assert (await site.client.get("/api/v1/event-types", headers=good)).status == 200
    await site.app[API_WIRING].service.keys.revoke(host, issued.key.id)
    for headers in ({}, {"Authorization": "Bearer swk_" + "x" * 43}, {"Authorization": "Basic abc"}, good):
        for route in ROUTES:
            path = re.sub(r"{\w+}", "anything", route.path)
            resp = await site.client.request(route.method, path, headers=headers, json={})
            assert resp.status == 401, (route.operation_id, headers, await resp.text())
            assert resp.content_type == PROBLEM and resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = await site.client.get("/api/v1/event-types", headers=good)
    assert "revoked" in (await resp.json())["detail"]


async def test_the_rate_limit_is_per_key_with_retry_after(tmp_path: Any) -> None:
    from tests.web.conftest import running_site

    async with running_site(tmp_path, SLOTWISE_API_RATE_LIMIT=3) as site:
        limited, other = await key_for(site), await key_for(site)
        answers = [await site.client.get("/api/v1/event-types", headers=limited) for _ in range(6)]
        statuses = [a.status for a in answers]
        assert statuses[0] == 200 and 1 <= statuses.count(200) <= 3 and set(statuses) == {200, 429}, statuses
        refused = next(a for a in answers if a.status == 429)
        assert refused.status == 429 and refused.content_type == PROBLEM
        assert 1 <= int(refused.headers["Retry-After"]) <= 120  # the sliding estimate: within two windows
        assert (await refused.json())["code"] == "rate_limited"
        assert (await site.client.get("/api/v1/event-types", headers=other)).status == 200  # another key: its own


# ------------------------------------------------------------------ event types


async def test_event_types_are_made_read_changed_and_deleted_with_every_problem_at_once(site: Site) -> None:
    headers = await key_for(site)
    c = site.client
    bad = await c.post(
        "/api/v1/event-types",
        headers=headers,
        json={
            "title": " ",
            "durations": [45, 45],
            "bufferBefore": 5000,
            "weeklyHours": {"monday": [["10:00", "09:00"]]},
            "location": {"kind": "in_person", "text": ""},
            "bogus": 1,
        },
    )
    assert bad.status == 422 and bad.content_type == PROBLEM
    errors = (await bad.json())["errors"]
    assert {"title", "durations", "bufferBefore", "weeklyHours.monday", "location", "bogus"} <= set(errors)
    assert len(await site.services.links.list(await site.host())) == 1  # nothing was made

    made = await c.post(
        "/api/v1/event-types",
        headers=headers,
        json={"title": "Deep dive", "durations": [60, 30], "bufferAfter": 10, "dailyCap": 3},
    )
    assert made.status == 201, await made.text()
    link = await made.json()
    assert made.headers["Location"] == f"/api/v1/event-types/{link['id']}"
    assert link["durations"] == [60, 30] and link["dailyCap"] == 3 and link["bookingUrl"].endswith("/adele/deep-dive")
    assert link["timeZone"] == "America/Los_Angeles"  # the host's Outlook zone, as a chat-made link gets
    assert (await (await c.get(f"/api/v1/event-types/{link['id']}", headers=headers)).json()) == link

    stale = await c.patch(f"/api/v1/event-types/{link['id']}", headers=headers, json={"title": "X", "version": 99})
    assert stale.status == 409
    changed = await c.patch(
        f"/api/v1/event-types/{link['id']}", headers=headers, json={"dailyCap": None, "title": "Deeper", "version": 1}
    )
    assert changed.status == 200, await changed.text()
    assert (await changed.json())["dailyCap"] is None and (await changed.json())["title"] == "Deeper"
    both = await c.patch(f"/api/v1/event-types/{link['id']}", headers=headers, json={"minimumNotice": -1, "title": ""})
    assert set((await both.json())["errors"]) == {"minimumNotice", "title"}
    listed = await (await c.get("/api/v1/event-types", headers=headers)).json()
    assert {x["title"] for x in listed["data"]} == {"Intro call", "Deeper"}
    assert (await c.delete(f"/api/v1/event-types/{link['id']}", headers=headers)).status == 204
    assert (await c.get(f"/api/v1/event-types/{link['id']}", headers=headers)).status == 404


async def test_a_single_use_link_with_an_expiry_stops_taking_bookings(site: Site) -> None:
    headers = await key_for(site)
    expires = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    made = await site.client.post(
        "/api/v1/event-types",
        headers=headers,
        json={"title": "One off", "singleUse": True, "expiresAt": expires.isoformat().replace("+00:00", "Z")},
    )
    assert made.status == 201, await made.text()
    link = await made.json()
    assert link["singleUse"] and link["expiresAt"] == expires.isoformat().replace("+00:00", "Z")
    past = await site.client.patch(
        f"/api/v1/event-types/{link['id']}", headers=headers, json={"expiresAt": "2020-01-01T00:00:00Z"}
    )
    assert past.status == 422 and "expiresAt" in (await past.json())["errors"]
    api = site.app[API_WIRING].service
    assert await api.expire_due() == 0
    api.clock = _Later(timedelta(days=4))  # the expiry has passed: the background pass switches it off
    assert await api.expire_due() == 1
    found = await (await site.client.get(f"/api/v1/event-types/{link['id']}", headers=headers)).json()
    assert found["active"] is False
    on_again = await site.client.patch(f"/api/v1/event-types/{link['id']}", headers=headers, json={"active": True})
    assert on_again.status == 422 and "active" in (await on_again.json())["errors"]
    page = await site.client.get(f"/book/adele/{link['slug']}")
    assert page.status == 410


@dataclass
class _Later:
    by: timedelta

    def now(self) -> datetime:
        return datetime.now(UTC) + self.by


async def test_slots_have_the_public_endpoints_shape(site: Site) -> None:
    headers = await key_for(site)
    link_id = await demo_link_id(site)
    mine = await (await site.client.get(f"/api/v1/event-types/{link_id}/slots", headers=headers, params=days())).json()
    public = await (await site.client.get("/book/adele/intro-call/slots", params=days())).json()
    assert mine == public and mine["slots"]
    bad = await site.client.get(
        f"/api/v1/event-types/{link_id}/slots", headers=headers, params={"start": "2026-02-30", "end": "x"}
    )
    assert bad.status == 400 and (await bad.json())["parameter"] in ("start", "end")


# ------------------------------------------------------------------ bookings


async def test_bookings_need_an_idempotency_key_and_replay_it(site: Site) -> None:
    headers = await key_for(site)
    link_id = await demo_link_id(site)
    (start,) = await first_slots(site, headers, link_id)
    body = {"eventTypeId": link_id, "start": start, "name": "Ivy Invitee", "email": "ivy@example.org"}
    missing = await site.client.post("/api/v1/bookings", headers=headers, json=body)
    assert missing.status == 400 and (await missing.json())["parameter"] == "Idempotency-Key"
    first = await book(site, headers, link_id, start, key="order-1")
    assert first.status == 201, await first.text()
    booking = await first.json()
    host = await site.host()
    assert booking["hosts"] == [{"id": host.id, "name": host.display_name, "email": host.email}]  # the link's owner
    again = await book(site, headers, link_id, start, key="order-1")
    assert again.status == 200 and (await again.json())["id"] == booking["id"]
    other_key_holder = await key_for(site)  # another key of the same person: its own namespace
    assert (await book(site, other_key_holder, link_id, start, key="order-1")).status == 409  # the time is taken
    reused = await site.client.post(
        "/api/v1/bookings", headers={**headers, "Idempotency-Key": "order-1"}, json={**body, "name": "Someone Else"}
    )
    assert reused.status == 422 and (await reused.json())["code"] == "idempotency_key_reused"
    invalid = await site.client.post(
        "/api/v1/bookings", headers={**headers, "Idempotency-Key": "x"}, json={**body, "email": "nope", "start": "soon"}
    )
    assert invalid.status == 422 and {"email", "start"} <= set((await invalid.json())["errors"])


async def test_bookings_are_listed_filtered_paged_moved_and_cancelled(site: Site) -> None:
    headers = await key_for(site)
    link_id = await demo_link_id(site)
    starts = await first_slots(site, headers, link_id, 4)
    ids = []
    for start in starts[:3]:
        resp = await book(site, headers, link_id, start)
        assert resp.status == 201, await resp.text()
        ids.append((await resp.json())["id"])
    pages, cursor = [], None
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = await (await site.client.get("/api/v1/bookings", headers=headers, params=params)).json()
        pages.append([b["id"] for b in page["data"]])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert pages == [ids[:2], ids[2:]]
    moved = await site.client.post(f"/api/v1/bookings/{ids[0]}/reschedule", headers=headers, json={"start": starts[3]})
    assert moved.status == 200, await moved.text()
    assert (await moved.json())["start"] == starts[3]
    cancelled = await site.client.post(f"/api/v1/bookings/{ids[1]}/cancel", headers=headers, json={"reason": "Ill"})
    assert (await cancelled.json())["status"] == "cancelled" and (await cancelled.json())["cancelReason"] == "Ill"
    again = await site.client.post(f"/api/v1/bookings/{ids[1]}/cancel", headers=headers, json={})
    assert again.status == 409
    only = await (
        await site.client.get(
            "/api/v1/bookings", headers=headers, params={"status": "cancelled", "eventTypeId": link_id}
        )
    ).json()
    assert [b["id"] for b in only["data"]] == [ids[1]]
    window = {"startFrom": starts[2], "startTo": starts[3]}
    ranged = await (await site.client.get("/api/v1/bookings", headers=headers, params=window)).json()
    assert [b["id"] for b in ranged["data"]] == [ids[2]]
    bad = await site.client.get("/api/v1/bookings", headers=headers, params={"cursor": "bm90IG9uZQ"})
    assert bad.status == 400 and (await bad.json())["parameter"] == "cursor"
    got = await (await site.client.get(f"/api/v1/bookings/{ids[2]}", headers=headers)).json()
    assert got["inviteeEmail"] == "ivy@example.org" and got["eventTypeId"] == link_id


async def test_a_booking_outlives_its_deleted_link_in_the_list(site: Site) -> None:
    headers = await key_for(site)
    made = await site.client.post("/api/v1/event-types", headers=headers, json={"title": "Short lived"})
    link = await made.json()
    (start,) = await first_slots(site, headers, link["id"])
    booked = await (await book(site, headers, link["id"], start)).json()
    assert (await site.client.delete(f"/api/v1/event-types/{link['id']}", headers=headers)).status == 204
    listed = await (await site.client.get("/api/v1/bookings", headers=headers)).json()
    [kept] = [b for b in listed["data"] if b["id"] == booked["id"]]
    assert kept["eventTypeId"] == link["id"] and kept["title"] == "" and kept["start"] == start
    assert kept["hostName"] == booked["hostName"] != ""  # the key's owner hosts it
    assert kept["hosts"] == booked["hosts"] != []


# ------------------------------------------------------------------ webhooks


async def test_webhook_subscriptions_and_their_deliveries(site: Site) -> None:
    headers = await key_for(site)
    c = site.client
    for url in ("http://10.1.2.3/hook", "http://169.254.169.254/latest", "http://[::1]:8080/", "ftp://x.example/"):
        refused = await c.post("/api/v1/webhooks", headers=headers, json={"url": url, "events": ["booking.created"]})
        assert refused.status == 422 and "url" in (await refused.json())["errors"], url
    unknown = await c.post("/api/v1/webhooks", headers=headers, json={"url": "http://127.0.0.1:9/", "events": ["x"]})
    assert unknown.status == 422
    made = await c.post(
        "/api/v1/webhooks",
        headers=headers,
        json={"url": "http://127.0.0.1:9/hook", "events": ["booking.created"], "description": "CRM"},
    )
    assert made.status == 201, await made.text()
    hook = await made.json()
    assert hook["secret"].startswith("whsec_") and hook["enabled"]
    fetched = await (await c.get(f"/api/v1/webhooks/{hook['id']}", headers=headers)).json()
    assert "secret" not in fetched and fetched["description"] == "CRM"
    rotated = await (await c.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=headers)).json()
    assert rotated["secret"] != hook["secret"] and rotated["previousSecretExpiresAt"]
    ping = await c.post(f"/api/v1/webhooks/{hook['id']}/ping", headers=headers)
    assert ping.status == 202 and (await ping.json())["id"].startswith("msg_")
    off = await c.patch(f"/api/v1/webhooks/{hook['id']}", headers=headers, json={"enabled": False})
    assert (await off.json())["enabled"] is False
    assert (await c.post(f"/api/v1/webhooks/{hook['id']}/ping", headers=headers)).status == 409
    deliveries = await (await c.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=headers)).json()
    assert [d["event"] for d in deliveries["data"]] == ["ping"]
    listed = await (await c.get("/api/v1/webhooks", headers=headers)).json()
    assert [h["id"] for h in listed["data"]] == [hook["id"]]
    assert (await c.delete(f"/api/v1/webhooks/{hook['id']}", headers=headers)).status == 204
    assert (await c.get(f"/api/v1/webhooks/{hook['id']}", headers=headers)).status == 404


# ------------------------------------------------------------------ the authorization walk


async def test_a_key_of_one_person_gets_404_for_anothers_resources_everywhere(site: Site) -> None:
    megan = await second_host(site)
    theirs = await key_for(site, megan)
    mine = await key_for(site)
    c = site.client
    link = await (await c.post("/api/v1/event-types", headers=theirs, json={"title": "Megan's"})).json()
    (start,) = await first_slots(site, theirs, link["id"])
    booking = await (await book(site, theirs, link["id"], start)).json()
    hook = await (
        await c.post(
            "/api/v1/webhooks", headers=theirs, json={"url": "http://127.0.0.1:9/", "events": ["booking.created"]}
        )
    ).json()
    ids = {"eventTypeId": link["id"], "bookingId": booking["id"], "webhookId": hook["id"]}
    bodies = {
        "updateEventType": {"title": "Mine now"},
        "rescheduleBooking": {"start": start},
        "cancelBooking": {"reason": "x"},
        "updateWebhook": {"enabled": False},
    }
    walked = set()
    for route in ROUTES:
        names = re.findall(r"{(\w+)}", route.path)
        if not names:
            continue
        path = route.path.format(**ids)
        params = days() if route.operation_id == "listSlots" else None
        resp = await c.request(route.method, path, headers=mine, json=bodies.get(route.operation_id, {}), params=params)
        assert resp.status == 404, (route.operation_id, resp.status, await resp.text())
        assert resp.content_type == PROBLEM
        walked.add(route.operation_id)
    # the collection operations that name another's resource in a body or query
    stolen = await book(site, mine, link["id"], start)
    assert stolen.status == 404
    filtered = await c.get("/api/v1/bookings", headers=mine, params={"eventTypeId": link["id"]})
    assert filtered.status == 404
    walked |= {"createBooking", "listBookings"}
    assert walked >= {r.operation_id for r in ROUTES if "{" in r.path} | {"createBooking", "listBookings"}
    listed = await (await c.get("/api/v1/bookings", headers=mine)).json()
    assert booking["id"] not in [b["id"] for b in listed["data"]]
    # nothing of Megan's changed
    assert (await (await c.get(f"/api/v1/event-types/{link['id']}", headers=theirs)).json())["title"] == "Megan's"
    assert (await (await c.get(f"/api/v1/bookings/{booking['id']}", headers=theirs)).json())["status"] == "confirmed"
    assert (await (await c.get(f"/api/v1/webhooks/{hook['id']}", headers=theirs)).json())["enabled"] is True


# ------------------------------------------------------------------ the document


async def test_the_openapi_document_is_generated_from_the_route_table(shared_site: Site) -> None:
    resp = await shared_site.client.get("/api/v1/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    operations = {op["operationId"]: (path, method) for path, ops in doc["paths"].items() for method, op in ops.items()}
    assert operations == {r.operation_id: (r.path, r.method.lower()) for r in ROUTES}
    create = doc["paths"]["/api/v1/bookings"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in create["parameters"])
    assert create["requestBody"]["content"]["application/json"]["examples"]
    schemas = doc["components"]["schemas"]
    assert "eventTypeId" in schemas["ApiBookingRequest"]["properties"]  # the very models that read requests
    assert schemas["EventTypeChanges"]["properties"]["bufferBefore"]["anyOf"][0]["maximum"] == 1440
    assert "429" in create["responses"] and "Retry-After" in create["responses"]["429"]["headers"]
    # team links: made with teamId and kind, changed with teamSettings, shown with their team and settings
    assert {"teamId", "kind"} <= set(schemas["EventTypeChanges"]["properties"])
    assert {"teamSettings", "kind", "version"} <= set(schemas["EventTypeUpdate"]["properties"])
    assert "teamId" not in schemas["EventTypeUpdate"]["properties"]  # a link never moves to another team
    assert schemas["LinkKind"]["enum"] == ["single", "round_robin", "collective"]
    shown = schemas["EventType"]
    assert {"team", "teamSettings", "kind"} <= set(shown["required"])
    assert set(schemas["TeamMemberOut"]["properties"]) == {
        "userId",
        "name",
        "priority",
        "weight",
        "dailyCap",
        "weeklyCap",
        "connection",
    }
    assert "hosts" in schemas["Booking"]["required"]
    assert "404" in doc["paths"]["/api/v1/event-types"]["post"]["responses"]  # a team the key isn't in


async def test_webhook_events_on_the_wire_are_the_cores() -> None:
    from typing import get_args

    from scheduling.webhooks import EVENTS
    from web.models import WebhookEvent

    assert set(get_args(WebhookEvent)) == set(EVENTS)


async def test_team_settings_on_the_wire_are_the_cores() -> None:
    from typing import get_args

    from scheduling.assignment import MAX_WEIGHT, MIN_WEIGHT
    from scheduling.domain import Priority
    from web.models import PriorityName, TeamMemberChanges

    assert set(get_args(PriorityName)) == {p.name.lower() for p in Priority}
    weight = TeamMemberChanges.model_json_schema(by_alias=True)["properties"]["weight"]["anyOf"][0]
    assert (weight["minimum"], weight["maximum"]) == (MIN_WEIGHT, MAX_WEIGHT)
