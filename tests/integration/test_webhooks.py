"""Webhooks end to end on SQLite and PostgreSQL: the booking use cases write the event, the webhook channel's
delivery fans it out and POSTs it (the real sender, over HTTP, to a receiver on 127.0.0.1) signed per Standard
Webhooks; every delivered webhook is verified with the PyPI ``standardwebhooks`` library, across a secret rotation
too. A receiver that fails 5 times and then recovers gets each event once per webhook-id; a delivery killed
mid-send is sent again by the next worker, nothing lost; 410 disables at once; 24 hours of failures disable the
subscription and tell its owner in chat; Outlook-side cancellations carry ``"source": "outlook"``. A team link's
webhooks (through ``TeamLinkService``, as ``app.py`` wires it): every host of a collective booking and the link's
maker get its booking events, with the booking's hosts, and nobody else (another person of the tenant, another
tenant's); its ``link.created`` carries the team link as the API returns it."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from scheduling.booking import booking_payload
from scheduling.delivery import WEBHOOK, WEBHOOK_RETRY, DeliveryService, Outcome, RetryPolicy
from scheduling.domain import BookingStatus, LinkKind, User
from scheduling.intervals import Interval
from scheduling.links import LinkService, NewLink
from scheduling.resources import EVENT_CONTEXT, booking_resource, team_link_resource
from scheduling.webhooks import WEBHOOK_DISABLED, DeliveryStatus, WebhookService
from storage.api import SqlWebhookStore
from storage.models import OutboxRow, WebhookSubscriptionRow
from tests.integration.harness import World, booking_world, invitee
from tests.integration.test_team_links import team_world
from tests.storage.fixtures import KINDS, Kind, require_postgres
from web.webhooks import HttpWebhookSender

FAST = RetryPolicy(first_retry=timedelta(seconds=1), max_retry=timedelta(seconds=2), max_attempts=20, jitter=0)
SECRET_KEY = b"w" * 32


@dataclass
class Receiver:
    """An HTTP receiver on 127.0.0.1 that records every request and answers with the scripted statuses (then 200)."""

    statuses: list[int] = field(default_factory=list)
    got: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)
    hold: asyncio.Event | None = None  # while set to an unset event, requests wait (a slow receiver)
    server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.statuses.pop(0) if self.statuses else 200
        self.got.append(({k.lower(): v for k, v in request.headers.items()}, body, status))
        if self.hold is not None:
            await self.hold.wait()
        return web.Response(status=status)

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/hooks"))

    def acknowledged(self) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for h, b, status in self.got if 200 <= status < 300]


@asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    receiver.server = server
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        await server.close()


@dataclass
class Hooks:
    world: World
    service: WebhookService
    delivery: DeliveryService
    sender: HttpWebhookSender

    def restarted(self, policy: RetryPolicy = FAST) -> Hooks:
        """Another process: new stores, service and delivery on the same database."""
        return make_hooks(self.world, policy, self.sender)

    async def drain(self, *, rounds: int = 40, step: float = 2.5) -> None:
        """Run delivery passes, moving the clock on between them, until nothing is due or waiting any more."""
        for _ in range(rounds):
            report = await self.delivery.run_once()
            if not report.leased and not await self.pending():
                return
            if not report.leased:
                self.world.clock.advance(seconds=step)
        raise AssertionError("the webhook outbox did not drain")

    async def pending(self) -> int:
        async with self.world.db.read() as s:
            rows = await s.scalars(
                select(OutboxRow.id).where(
                    OutboxRow.channel == WEBHOOK, OutboxRow.delivered_at.is_(None), OutboxRow.dead.is_(False)
                )
            )
            return len(rows.all())


def make_hooks(world: World, policy: RetryPolicy, sender: HttpWebhookSender) -> Hooks:
    repos = world.repos
    service = WebhookService(
        store=SqlWebhookStore(world.db, secret_key=SECRET_KEY, clock=world.clock.now),
        event_types=repos.event_types,
        users=repos.users,
        expiries=repos.link_expiries,
        sender=sender,
        clock=world.clock,
        base_url="https://slotwise.test",
        sandbox=True,
        policy=policy,
    )
    delivery = DeliveryService(
        outbox=repos.outbox, notifier=service, channel=WEBHOOK, clock=world.clock, policy=policy, send_timeout=12
    )
    return Hooks(world, service, delivery, sender)


@asynccontextmanager
async def webhook_world(kind: Kind, policy: RetryPolicy = FAST) -> AsyncIterator[Hooks]:
    if kind == "postgres":
        require_postgres()
    async with booking_world(kind) as world:
        world.clock.current = datetime.now(UTC).replace(microsecond=0)  # signatures are checked against real time
        sender = HttpWebhookSender(sandbox=True)
        try:
            yield make_hooks(world, policy, sender)
        finally:
            await sender.aclose()


async def book_one(world: World, index: int = 0) -> Any:
    now = world.clock.now()
    from scheduling.intervals import Interval

    slots = await world.service.slots(world.link, Interval(now, now + timedelta(days=14)))
    outcome = await world.service.book(world.link, slots[index].start, invitee(), idempotency_key=f"k{index}")
    assert outcome.confirmed
    return outcome.booking


def verified(secret: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(body, headers)
    return payload


pytestmark = pytest.mark.parametrize(
    "kind", [pytest.param(k, marks=[pytest.mark.postgres] if k == "postgres" else []) for k in KINDS]
)


async def test_booking_events_are_signed_per_standard_webhooks_across_a_rotation(kind: Kind) -> None:
    async with webhook_world(kind) as hooks, receiving(Receiver()) as receiver:
        world = hooks.world
        made = await hooks.service.create(
            world.host, receiver.url, ["booking.created", "booking.rescheduled", "booking.cancelled"]
        )
        booking = await book_one(world)
        await hooks.drain()
        ((headers, body),) = receiver.acknowledged()
        event = verified(made.secret, headers, body)
        assert event["type"] == "booking.created"
        assert event["data"]["id"] == booking.id and event["data"]["status"] == "confirmed"
        assert event["data"]["source"] == "slotwise" and event["data"]["eventTypeId"] == world.link.id
        assert headers["webhook-id"].startswith("msg_") and headers["content-type"] == "application/json"

        rotation = await hooks.service.rotate(world.host, made.subscription.id)
        now = world.clock.now()
        from scheduling.intervals import Interval

        later = [
            s
            for s in await world.service.slots(world.link, Interval(now, now + timedelta(days=14)))
            if s.start > booking.start
        ]
        await world.service.reschedule(booking, later[0].start, "host")
        await hooks.drain()
        headers, body = receiver.acknowledged()[1]
        assert len(headers["webhook-signature"].split(" ")) == 2  # the new secret and, for 24 h, the old one
        assert verified(rotation.secret, headers, body)["type"] == "booking.rescheduled"
        assert verified(made.secret, headers, body)["data"]["previousStart"]  # a receiver not yet updated

        world.clock.advance(hours=25)  # the old secret no longer signs
        moved = await world.repos.bookings.get(booking.id)
        assert moved is not None
        world.clock.current = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=25)
        await world.service.cancel(moved, "Sorry", "host")
        await hooks.drain()
        headers, body = receiver.acknowledged()[2]
        assert len(headers["webhook-signature"].split(" ")) == 1
        with pytest.raises(WebhookVerificationError):  # timestamps are 25 h ahead of real time anyway...
            Webhook(made.secret).verify(body, headers)
        from scheduling.webhooks import sign

        timestamp = int(headers["webhook-timestamp"])
        assert headers["webhook-signature"] == sign(rotation.secret, headers["webhook-id"], timestamp, body.decode())
        assert sign(made.secret, headers["webhook-id"], timestamp, body.decode()) not in headers["webhook-signature"]
        assert json.loads(body)["data"]["status"] == BookingStatus.CANCELLED.value


async def test_a_receiver_failing_five_times_gets_each_event_once_per_webhook_id(kind: Kind) -> None:
    async with webhook_world(kind) as hooks, receiving(Receiver(statuses=[500, 503, 502, 500, 500])) as receiver:
        world = hooks.world
        made = await hooks.service.create(world.host, receiver.url, ["booking.created"])
        first, second = await book_one(world, 0), await book_one(world, 1)
        await hooks.drain()
        acknowledged = receiver.acknowledged()
        ids = [h["webhook-id"] for h, _ in acknowledged]
        assert len(ids) == len(set(ids)) == 2  # each event once per webhook-id
        bookings = sorted(verified(made.secret, h, b)["data"]["id"] for h, b in acknowledged)
        assert bookings == sorted([first.id, second.id])
        assert len(receiver.got) == 7  # 5 failures, then both delivered
        retried = {h["webhook-id"] for h, _b, status in receiver.got if status >= 500}
        assert retried <= set(ids)  # a retry carries the same webhook-id
        records = await hooks.service.deliveries(world.host, made.subscription.id)
        assert sorted(r.attempts for r in records) == sorted(
            [sum(1 for h, _b, _s in receiver.got if h["webhook-id"] == i) for i in ids]
        )
        assert {r.status for r in records} == {DeliveryStatus.SUCCEEDED} and {r.response_code for r in records} == {200}


async def test_killing_the_app_mid_delivery_loses_nothing(kind: Kind) -> None:
    receiver = Receiver(hold=asyncio.Event())
    async with webhook_world(kind) as hooks, receiving(receiver):
        world = hooks.world
        made = await hooks.service.create(world.host, receiver.url, ["booking.created"])
        for i in range(3):
            await book_one(world, i)
        await hooks.delivery.run_once()  # the fan-out: three deliveries due
        killed = asyncio.create_task(hooks.delivery.run_once())
        for _ in range(200):
            if receiver.got:
                break
            await asyncio.sleep(0.01)
        assert len(receiver.got) == 1  # the first POST is in the receiver's hands...
        killed.cancel()  # ...when the worker dies (nothing recorded)
        with pytest.raises(asyncio.CancelledError):
            await killed
        receiver.hold = None
        world.clock.advance(seconds=61)  # its lease runs out
        await hooks.restarted().drain()
        acknowledged = receiver.acknowledged()
        ids = [h["webhook-id"] for h, _ in acknowledged]
        assert len(set(ids)) == 3  # every event arrived
        assert len(ids) == 4 and ids.count(receiver.got[0][0]["webhook-id"]) == 2  # the one in flight: twice, same id
        for headers, body in acknowledged:
            verified(made.secret, headers, body)


async def test_410_disables_the_subscription_at_once_and_tells_its_owner(kind: Kind) -> None:
    async with webhook_world(kind) as hooks, receiving(Receiver(statuses=[410])) as receiver:
        world = hooks.world
        made = await hooks.service.create(world.host, receiver.url, ["booking.created"])
        await book_one(world, 0)
        await hooks.drain()
        await book_one(world, 1)
        await hooks.drain()
        assert [status for _h, _b, status in receiver.got] == [410]  # nothing more was sent
        current = await hooks.service.get(world.host, made.subscription.id)
        assert not current.enabled and "410" in current.disabled_reason
        notices = await _teams_items(hooks, WEBHOOK_DISABLED)
        assert [n["hostId"] for n in notices] == [world.host.id] and notices[0]["subscriptionId"] == current.id
        records = await hooks.service.deliveries(world.host, made.subscription.id)
        assert [(r.status, r.response_code) for r in records] == [(DeliveryStatus.FAILED, 410)]  # none for the 2nd


async def test_24_hours_of_failures_disable_the_subscription_and_tell_its_owner(kind: Kind) -> None:
    async with (
        webhook_world(kind, replace(WEBHOOK_RETRY, jitter=0)) as hooks,
        receiving(Receiver(statuses=[500] * 100)) as receiver,
    ):
        world = hooks.world
        made = await hooks.service.create(world.host, receiver.url, ["booking.created"])
        await book_one(world)
        started = world.clock.now()
        outcomes = []
        for _ in range(60):
            report = await hooks.delivery.run_once()
            outcomes += [a.outcome for a in report.attempts]
            if Outcome.DEAD in outcomes:
                break
            world.clock.advance(minutes=30)
        assert outcomes[-1] is Outcome.DEAD
        assert world.clock.now() - started >= timedelta(hours=23, minutes=59)
        assert 10 <= len(receiver.got) <= 30  # exponential back-off: far fewer than one attempt per half hour
        sent = [int(h["webhook-timestamp"]) for h, _b, _s in receiver.got]
        gaps = [b - a for a, b in itertools.pairwise(sent)]
        assert gaps[:-1] == sorted(gaps[:-1]) and max(gaps) >= 2 * 3600  # backing off (the last: to the deadline)
        assert len({h["webhook-id"] for h, _b, _s in receiver.got}) == 1
        current = await hooks.service.get(world.host, made.subscription.id)
        assert not current.enabled and "24 hours" in current.disabled_reason
        assert [n["subscriptionId"] for n in await _teams_items(hooks, WEBHOOK_DISABLED)] == [current.id]


async def test_outlook_cancellations_and_new_links_reach_webhooks(kind: Kind) -> None:
    async with webhook_world(kind) as hooks, receiving(Receiver()) as receiver:
        world = hooks.world
        made = await hooks.service.create(world.host, receiver.url, ["booking.cancelled", "link.created"])
        booking = await book_one(world)
        cancelled = await world.service.cancelled_in_outlook(booking)
        assert cancelled is not None
        links = LinkService(event_types=world.repos.event_types, calendar=world.calendar)
        link = await links.create(world.host, NewLink(duration=45, title="Deep dive"))
        await hooks.drain()
        events = {e["type"]: e for e in (verified(made.secret, h, b) for h, b in receiver.acknowledged())}
        assert set(events) == {"booking.cancelled", "link.created"}  # booking.created was not subscribed to
        assert events["booking.cancelled"]["data"]["source"] == "outlook"
        assert events["booking.cancelled"]["data"]["id"] == booking.id
        created = events["link.created"]["data"]
        assert created["id"] == link.id and created["durations"] == [45] and created["title"] == "Deep dive"


async def test_an_outlook_move_reaches_webhooks_as_rescheduled_with_source_outlook(kind: Kind) -> None:
    async with webhook_world(kind) as hooks, receiving(Receiver()) as receiver:
        world = hooks.world
        made = await hooks.service.create(world.host, receiver.url, ["booking.rescheduled"])
        booking = await book_one(world)
        later = booking.start + timedelta(days=1)
        moved = await world.service.moved_in_outlook(booking, later, later + (booking.end - booking.start))
        assert moved is not None and moved.start == later
        await hooks.drain()
        [event] = [verified(made.secret, h, b) for h, b in receiver.acknowledged()]
        data = event["data"]
        assert event["type"] == "booking.rescheduled" and data["id"] == booking.id
        assert data["source"] == "outlook" and data["start"] == later.isoformat().replace("+00:00", "Z")


async def test_a_fan_out_repeated_after_a_crash_writes_each_delivery_once(kind: Kind) -> None:
    async with webhook_world(kind) as hooks, receiving(Receiver()) as receiver:
        world = hooks.world
        other = await world.repos.users.upsert(
            User(id="u-other", tenant_id=world.host.tenant_id, aad_object_id="oid-other", display_name="O", email="o@x")
        )
        await hooks.service.create(world.host, receiver.url, ["booking.created"])
        await hooks.service.create(world.host, receiver.url + "?second", ["booking.created"])
        await hooks.service.create(other, receiver.url + "?other", ["booking.created"])  # not the host's: not sent
        await book_one(world)
        leased = await world.repos.outbox.lease(world.clock.now(), 10, 60, channel=WEBHOOK)
        (event,) = leased
        from scheduling.ports import Delivery

        for _ in range(2):  # the fan-out ran, and the worker died before marking the event done: it runs again
            await hooks.service.deliver(Delivery(event.id, event.item, 1, event.enqueued_at))
        await world.repos.outbox.give_back([event.id])
        await hooks.drain()
        urls = sorted(h["webhook-id"] for h, _ in receiver.acknowledged())
        assert len(urls) == len(set(urls)) == 2


async def test_webhook_secrets_are_encrypted_at_rest(kind: Kind) -> None:
    async with webhook_world(kind) as hooks:
        made = await hooks.service.create(hooks.world.host, "http://127.0.0.1:9/x", ["booking.created"])
        async with hooks.world.db.read() as s:
            row = await s.get(WebhookSubscriptionRow, made.subscription.id)
        assert row is not None
        assert made.secret.encode() not in bytes(row.secret) and made.secret[6:].encode() not in bytes(row.secret)
        stolen = SqlWebhookStore(hooks.world.db, secret_key=b"x" * 32)
        with pytest.raises(ValueError, match="does not decrypt"):
            await stolen.subscription(made.subscription.id)


async def _teams_items(hooks: Hooks, kind: str) -> list[dict[str, Any]]:
    async with hooks.world.db.read() as s:
        rows = await s.scalars(select(OutboxRow).where(OutboxRow.kind == kind, OutboxRow.channel == "teams"))
        return [dict(r.payload) for r in rows.all()]


async def test_a_team_links_webhooks_reach_every_host_and_its_maker_and_nobody_else(kind: Kind) -> None:
    async with team_world(kind, LinkKind.COLLECTIVE, size=2) as world, AsyncExitStack() as stack:
        world.clock.current = datetime.now(UTC).replace(microsecond=0)  # signatures are checked against real time
        sender = HttpWebhookSender(sandbox=True)
        stack.push_async_callback(sender.aclose)
        repos = world.repos
        service = WebhookService(
            store=SqlWebhookStore(world.db, secret_key=SECRET_KEY, clock=world.clock.now),
            event_types=repos.event_types,
            users=repos.users,
            expiries=repos.link_expiries,
            sender=sender,
            clock=world.clock,
            base_url="https://slotwise.test",
            team_links=world.teams.view,
            sandbox=True,
            policy=FAST,
        )
        delivery = DeliveryService(outbox=repos.outbox, notifier=service, channel=WEBHOOK, clock=world.clock)
        maker, member = world.members  # Harriet made the link (and organises its meetings); Ian is in its rotation
        outsider = await repos.users.upsert(replace(member, id="u-out", aad_object_id="oid-out", email="o@x.example"))
        far = await repos.users.upsert(replace(outsider, id="u-far", tenant_id="tenant-far", aad_object_id="oid-far"))
        people = {"maker": maker, "member": member, "outsider": outsider, "far": far}
        receivers = {name: await stack.enter_async_context(receiving(Receiver())) for name in people}
        secrets = {
            name: (await service.create(user, receivers[name].url, ["booking.created", "link.created"])).secret
            for name, user in people.items()
        }

        view = await world.teams.create_link(maker, world.view.team, NewLink(title="Panel"), LinkKind.COLLECTIVE)
        now = world.clock.now()
        start = (await world.booking.slots(world.link, Interval(now, now + timedelta(days=7))))[0].start
        outcome = await world.booking.book(world.link, start, invitee())
        assert outcome.confirmed and outcome.booking.host_ids == (maker.id, member.id)
        for _ in range(10):
            if not (await delivery.run_once()).leased:
                break

        got = {name: [verified(secrets[name], h, b) for h, b in receivers[name].acknowledged()] for name in people}
        assert got["outsider"] == [] and got["far"] == []  # neither hosts nor manages it
        # the booking as the API returns it: its hosts, organiser first
        api = booking_resource(booking_payload(world.link, outcome.booking, maker), [maker, member])
        for name in ("maker", "member"):
            sent = {e["type"]: e["data"] for e in got[name]}
            assert {k: v for k, v in sent["booking.created"].items() if k not in EVENT_CONTEXT} == api, name
            assert [h["id"] for h in sent["booking.created"]["hosts"]] == [maker.id, member.id]
        assert [e["type"] for e in got["member"]] == ["booking.created"]  # link.created: its maker's alone
        (created,) = [e["data"] for e in got["maker"] if e["type"] == "link.created"]
        assert created == team_link_resource(await world.teams.view(view.link.id), "https://slotwise.test")
        assert created["bookingUrl"] == "https://slotwise.test/book/team/sales/panel"
        assert created["team"]["slug"] == "sales" and created["teamSettings"]["createdBy"] == maker.id
