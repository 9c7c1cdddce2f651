"""Graph emulator: change-notification subscriptions (validation handshake, limits, renew, delete)
and the notifications and lifecycle events it POSTs to a real receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web

from graph.sandbox.timefmt import fmt_stamp
from tests.graph.emulator_fixtures import (
    ADELE,
    MEGAN,
    T0,
    Emu,
    assert_contract,
    assert_graph_error,
    event_body,
    running,
    serve,
)


@dataclass
class Receiver:
    """Stands in for Slotwise's /graph/notifications; ``mode`` controls the handshake answer."""

    url: str = ""
    mode: str = "echo"
    notifications: list[dict[str, Any]] = field(default_factory=list)
    validations: list[tuple[str, str]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        token = request.query.get("validationToken")
        if token is not None:
            self.validations.append((token, request.headers.get("Content-Type", "")))
            if self.mode == "slow":
                await asyncio.sleep(1)
            if self.mode == "wrong":
                return web.Response(text="nope", content_type="text/plain")
            if self.mode == "json":
                return web.json_response({"validationToken": token})
            if self.mode == "error":
                return web.Response(status=500)
            return web.Response(text=token, content_type="text/plain")
        self.notifications.append({"path": request.path, "query": dict(request.query), **await request.json()})
        self.arrived.set()
        return web.Response(status=202)

    async def wait(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.notifications) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def emu() -> AsyncIterator[Emu]:
    async with running(now=T0) as e:
        yield e


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_route("*", "/notify", rec.handle)
    app.router.add_route("*", "/lifecycle", rec.handle)
    async with serve(app) as root:
        rec.url = root
        yield rec


def sub_body(rec: Receiver, **extra: Any) -> dict[str, Any]:
    body = {"changeType": "created,updated,deleted", "notificationUrl": f"{rec.url}/notify?tenant=t1",
            "resource": "me/events", "expirationDateTime": fmt_stamp(T0 + timedelta(days=2)),
            "clientState": "s3cret"}
    body.update(extra)
    return body


async def test_create_performs_the_validation_handshake(emu: Emu, receiver: Receiver) -> None:
    body = sub_body(receiver, lifecycleNotificationUrl=f"{receiver.url}/lifecycle")
    r = await emu.post(ADELE, "/subscriptions", body)
    assert r.status_code == 201, r.text
    sub = r.json()
    assert_contract("microsoft.graph.subscription", sub)
    assert sub["resource"] == "me/events" and sub["changeType"] == "created,updated,deleted"
    assert sub["clientState"] == "s3cret" and sub["creatorId"] == emu.state.user(ADELE).id
    assert sub["expirationDateTime"] == "2030-03-06T00:00:00.0000000Z"
    assert sub["lifecycleNotificationUrl"] == f"{receiver.url}/lifecycle"
    assert len(receiver.validations) == 2
    token, ctype = receiver.validations[0]
    assert token.startswith("Validation: Testing client application reachability") and " " in token
    assert ctype.startswith("text/plain")
    listed = (await emu.get(ADELE, "/subscriptions")).json()["value"]
    assert [s["id"] for s in listed] == [sub["id"]]
    assert (await emu.get(MEGAN, "/subscriptions")).json()["value"] == []
    assert (await emu.get(ADELE, f"/subscriptions/{sub['id']}")).json()["id"] == sub["id"]


@pytest.mark.parametrize("mode", ["wrong", "json", "error", "slow"])
async def test_failed_handshake_means_no_subscription(emu: Emu, receiver: Receiver, mode: str) -> None:
    receiver.mode = mode
    emu.state.validation_timeout = 0.3
    r = await emu.post(ADELE, "/subscriptions", sub_body(receiver))
    body = assert_graph_error(r, 400, "InvalidRequest")
    assert body["error"]["message"].startswith("Subscription validation request failed.")
    assert emu.state.subscriptions == {}
    assert emu.state.notification_log[-1].kind == "validation" and emu.state.notification_log[-1].error


async def test_unreachable_notification_url(emu: Emu) -> None:
    body = {"changeType": "created", "notificationUrl": "http://127.0.0.1:9/notify", "resource": "me/events",
            "expirationDateTime": fmt_stamp(T0 + timedelta(hours=1))}
    assert_graph_error(await emu.post(ADELE, "/subscriptions", body), 400, "InvalidRequest")


async def test_create_validation_errors(emu: Emu, receiver: Receiver) -> None:
    cases = [
        sub_body(receiver, expirationDateTime=fmt_stamp(T0 + timedelta(minutes=4231))),
        sub_body(receiver, expirationDateTime=fmt_stamp(T0 - timedelta(minutes=1))),
        sub_body(receiver, changeType="created,moved"),
        sub_body(receiver, resource="me/messages"),
        sub_body(receiver, clientState="x" * 129),
        sub_body(receiver, notificationUrl="http://bot.example/notify"),
        sub_body(receiver, notificationUrl="not a url"),
    ]
    for body in cases:
        assert_graph_error(await emu.post(ADELE, "/subscriptions", body), 400, "InvalidRequest")
    r = await emu.post(ADELE, "/subscriptions", cases[0])
    assert r.json()["error"]["message"] == "Subscription expiration can only be 4230 minutes in the future."
    other = await emu.post(ADELE, "/subscriptions", sub_body(receiver, resource=f"users/{MEGAN}/events"))
    assert_graph_error(other, 403, "ExtensionError")
    own = await emu.post(ADELE, "/subscriptions", sub_body(receiver, resource=f"users/{ADELE}/events"))
    assert own.status_code == 201
    assert (await emu.post(ADELE, "/subscriptions", sub_body(
        receiver, expirationDateTime=fmt_stamp(T0 + timedelta(minutes=4230))))).status_code == 201
    assert receiver.validations and not receiver.notifications


async def test_renew_delete_and_expiry(emu: Emu, receiver: Receiver) -> None:
    sub = (await emu.post(ADELE, "/subscriptions", sub_body(receiver))).json()
    renewed = await emu.patch(ADELE, f"/subscriptions/{sub['id']}",
                              {"expirationDateTime": fmt_stamp(T0 + timedelta(days=2, hours=12))})
    assert renewed.status_code == 200 and renewed.json()["expirationDateTime"].startswith("2030-03-06T12:00:00")
    too_far = await emu.patch(ADELE, f"/subscriptions/{sub['id']}",
                              {"expirationDateTime": fmt_stamp(T0 + timedelta(days=4))})
    assert_graph_error(too_far, 400, "InvalidRequest")
    assert_graph_error(await emu.get(MEGAN, f"/subscriptions/{sub['id']}"), 404, "ResourceNotFound")
    emu.clock.advance(days=3)
    emu.tokens.clear()  # the cached access tokens expired too
    assert_graph_error(await emu.get(ADELE, f"/subscriptions/{sub['id']}"), 404, "ResourceNotFound")
    sub2 = (await emu.post(ADELE, "/subscriptions", sub_body(
        receiver, expirationDateTime=fmt_stamp(emu.clock.now + timedelta(days=1))))).json()
    r = await emu.delete(ADELE, f"/subscriptions/{sub2['id']}")
    assert r.status_code == 204
    assert_graph_error(await emu.delete(ADELE, f"/subscriptions/{sub2['id']}"), 404, "ResourceNotFound")


async def test_notifications_for_created_updated_deleted(emu: Emu, receiver: Receiver) -> None:
    sub = (await emu.post(ADELE, "/subscriptions", sub_body(receiver))).json()
    user_id = emu.state.user(ADELE).id
    created = (await emu.post(ADELE, "/me/events", event_body("x", T0 + timedelta(hours=9),
                                                              T0 + timedelta(hours=10)))).json()
    await receiver.wait(1)
    [note] = receiver.notifications[0]["value"]
    assert receiver.notifications[0]["query"] == {"tenant": "t1"}  # the notificationUrl's query is kept
    resource = f"Users/{user_id}/Events/{created['id']}"
    assert note == {
        "id": note["id"], "subscriptionId": sub["id"], "subscriptionExpirationDateTime": "2030-03-06T00:00:00.000Z",
        "clientState": "s3cret", "changeType": "created", "resource": resource,
        "tenantId": emu.state.user(ADELE).tenant_id,
        "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": resource,
                         "@odata.etag": created["@odata.etag"], "id": created["id"]}}
    await emu.patch(ADELE, f"/me/events/{quote(created['id'], safe='')}", {"subject": "y"})
    await emu.delete(ADELE, f"/me/events/{quote(created['id'], safe='')}")
    emu.state.add_event(MEGAN, "not subscribed", T0, T0 + timedelta(hours=1))
    emu.state.add_event(ADELE, "from Outlook", T0, T0 + timedelta(hours=1))  # changes made outside the API count
    await receiver.wait(4)
    await emu.state.notifier.drain()
    kinds = [n["value"][0]["changeType"] for n in receiver.notifications]
    assert kinds == ["created", "updated", "deleted", "created"]
    assert all(rec.status == 202 for rec in emu.state.notification_log if rec.kind == "notification")


async def test_change_type_filter_and_expired_subscriptions_are_silent(emu: Emu, receiver: Receiver) -> None:
    await emu.post(ADELE, "/subscriptions", sub_body(receiver, changeType="deleted"))
    ev = emu.state.add_event(ADELE, "x", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    emu.state.remove_event(ADELE, ev["id"])
    await receiver.wait(1)
    await emu.state.notifier.drain()
    assert [n["value"][0]["changeType"] for n in receiver.notifications] == ["deleted"]
    emu.clock.advance(days=3)
    emu.state.add_event(ADELE, "late", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    await emu.state.notifier.drain()
    assert len(receiver.notifications) == 1


async def test_failed_deliveries_are_logged(emu: Emu, receiver: Receiver) -> None:
    await emu.post(ADELE, "/subscriptions", sub_body(receiver))
    receiver.url = "http://127.0.0.1:9"
    emu.state.subscriptions[next(iter(emu.state.subscriptions))].notification_url = "http://127.0.0.1:9/notify"
    emu.state.add_event(ADELE, "x", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    await emu.state.notifier.drain()
    last = emu.state.notification_log[-1]
    assert last.kind == "notification" and last.status is None and last.error


async def test_lifecycle_notifications(emu: Emu, receiver: Receiver) -> None:
    sub = (await emu.post(ADELE, "/subscriptions", sub_body(
        receiver, lifecycleNotificationUrl=f"{receiver.url}/lifecycle"))).json()
    await emu.state.notifier.lifecycle(sub["id"], "reauthorizationRequired")
    await emu.state.notifier.lifecycle(sub["id"], "subscriptionRemoved")
    assert [n["path"] for n in receiver.notifications] == ["/lifecycle", "/lifecycle"]
    first = receiver.notifications[0]["value"][0]
    assert first["lifecycleEvent"] == "reauthorizationRequired" and first["subscriptionId"] == sub["id"]
    assert first["clientState"] == "s3cret"
    assert_graph_error(await emu.get(ADELE, f"/subscriptions/{sub['id']}"), 404, "ResourceNotFound")
    with pytest.raises(ValueError):
        await emu.state.notifier.lifecycle(sub["id"], "exploded")


async def test_lifecycle_url_cannot_be_added_later(emu: Emu, receiver: Receiver) -> None:
    sub = (await emu.post(ADELE, "/subscriptions", sub_body(receiver))).json()
    r = await emu.patch(ADELE, f"/subscriptions/{sub['id']}", {"lifecycleNotificationUrl": f"{receiver.url}/lifecycle"})
    assert_graph_error(r, 400, "InvalidRequest")
