"""Graph emulator: change-notification subscriptions (validation handshake, limits, renew, reauthorize,
delete, expiry) and the notifications and lifecycle events it POSTs to a real receiver, with Graph's
retries, ``missed`` after a dropped delivery and ``reauthorizationRequired`` before expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest

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
)
from tests.graph.receiver import Receiver, running_receiver


@pytest.fixture
async def emu() -> AsyncIterator[Emu]:
    async with running(now=T0) as e:
        yield e


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as rec:
        yield rec


def sub_body(rec: Receiver, **extra: Any) -> dict[str, Any]:
    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": f"{rec.url}/notify?tenant=t1",
        "resource": "me/events",
        "expirationDateTime": fmt_stamp(T0 + timedelta(days=2)),
        "clientState": "s3cret",
    }
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
    body = {
        "changeType": "created",
        "notificationUrl": "http://127.0.0.1:9/notify",
        "resource": "me/events",
        "expirationDateTime": fmt_stamp(T0 + timedelta(hours=1)),
    }
    assert_graph_error(await emu.post(ADELE, "/subscriptions", body), 400, "InvalidRequest")


async def test_create_validation_errors(emu: Emu, receiver: Receiver) -> None:
    cases = [
        sub_body(receiver, expirationDateTime=fmt_stamp(T0 + timedelta(minutes=10081))),
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
    assert r.json()["error"]["message"] == "Subscription expiration can only be 10080 minutes in the future."
    other = await emu.post(ADELE, "/subscriptions", sub_body(receiver, resource=f"users/{MEGAN}/events"))
    assert_graph_error(other, 403, "ExtensionError")
    own = await emu.post(ADELE, "/subscriptions", sub_body(receiver, resource=f"users/{ADELE}/events"))
    assert own.status_code == 201
    assert (
        await emu.post(
            ADELE, "/subscriptions", sub_body(receiver, expirationDateTime=fmt_stamp(T0 + timedelta(minutes=10080)))
        )
    ).status_code == 201
    assert receiver.validations and not receiver.notifications


async def test_renew_delete_and_expiry(emu: Emu, receiver: Receiver) -> None:
    sub = (await emu.post(ADELE, "/subscriptions", sub_body(receiver))).json()
    renewed = await emu.patch(
        ADELE, f"/subscriptions/{sub['id']}", {"expirationDateTime": fmt_stamp(T0 + timedelta(days=2, hours=12))}
    )
    assert renewed.status_code == 200 and renewed.json()["expirationDateTime"].startswith("2030-03-06T12:00:00")
    too_far = await emu.patch(
        ADELE, f"/subscriptions/{sub['id']}", {"expirationDateTime": fmt_stamp(T0 + timedelta(days=7, minutes=1))}
    )
    assert_graph_error(too_far, 400, "InvalidRequest")
    assert_graph_error(await emu.get(MEGAN, f"/subscriptions/{sub['id']}"), 404, "ResourceNotFound")
    emu.clock.advance(days=3)
    emu.tokens.clear()  # the cached access tokens expired too
    assert_graph_error(await emu.get(ADELE, f"/subscriptions/{sub['id']}"), 404, "ResourceNotFound")
    assert_graph_error(await emu.post(ADELE, f"/subscriptions/{sub['id']}/reauthorize"), 404, "ResourceNotFound")
    sub2 = (
        await emu.post(
            ADELE, "/subscriptions", sub_body(receiver, expirationDateTime=fmt_stamp(emu.clock.now + timedelta(days=1)))
        )
    ).json()
    r = await emu.delete(ADELE, f"/subscriptions/{sub2['id']}")
    assert r.status_code == 204
    assert_graph_error(await emu.delete(ADELE, f"/subscriptions/{sub2['id']}"), 404, "ResourceNotFound")


async def test_notifications_for_created_updated_deleted(emu: Emu, receiver: Receiver) -> None:
    sub = (await emu.post(ADELE, "/subscriptions", sub_body(receiver))).json()
    user_id = emu.state.user(ADELE).id
    created = (
        await emu.post(ADELE, "/me/events", event_body("x", T0 + timedelta(hours=9), T0 + timedelta(hours=10)))
    ).json()
    await receiver.wait(1)
    [note] = receiver.notifications[0]["value"]
    assert receiver.notifications[0]["query"] == {"tenant": "t1"}  # the notificationUrl's query is kept
    resource = f"Users/{user_id}/Events/{created['id']}"
    assert note == {
        "id": note["id"],
        "subscriptionId": sub["id"],
        "subscriptionExpirationDateTime": "2030-03-06T00:00:00.000Z",
        "clientState": "s3cret",
        "changeType": "created",
        "resource": resource,
        "tenantId": emu.state.user(ADELE).tenant_id,
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": resource,
            "@odata.etag": created["@odata.etag"],
            "id": created["id"],
        },
    }
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


async def test_an_unreachable_receiver_is_retried_then_dropped(emu: Emu, receiver: Receiver) -> None:
    await emu.post(ADELE, "/subscriptions", sub_body(receiver))
    emu.state.subscriptions[next(iter(emu.state.subscriptions))].notification_url = "http://127.0.0.1:9/notify"
    emu.state.add_event(ADELE, "x", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    await emu.state.notifier.drain()
    log = [r for r in emu.state.notification_log if r.kind in ("notification", "dropped")]
    assert [(r.kind, r.attempt) for r in log] == [
        ("notification", 1),
        ("notification", 2),
        ("notification", 3),
        ("dropped", 3),
    ]
    assert all(r.status is None and r.error for r in log)
    assert not receiver.lifecycle_events()  # no lifecycleNotificationUrl: no "missed" either


async def test_a_failing_receiver_gets_retries_with_the_same_notification(emu: Emu, receiver: Receiver) -> None:
    emu.state.change_tracking.retry_delays = (0.05, 0.1, 0.2)
    await emu.post(ADELE, "/subscriptions", sub_body(receiver))
    receiver.fail_next = 2  # 500 twice, then 202
    emu.state.add_event(ADELE, "x", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    await receiver.wait(1)
    await emu.state.notifier.drain()
    assert len(receiver.attempts) == 3 and len(receiver.notifications) == 1
    assert all(a["value"] == receiver.attempts[0]["value"] for a in receiver.attempts)  # same ids, same clientState
    assert receiver.notifications[0]["value"][0]["clientState"] == "s3cret"
    attempts = [(r.attempt, r.status) for r in emu.state.notification_log if r.kind == "notification"]
    assert attempts == [(1, 500), (2, 500), (3, 202)]


async def test_a_receiver_slower_than_three_seconds_counts_as_failed(emu: Emu, receiver: Receiver) -> None:
    emu.state.change_tracking.delivery_timeout = 0.1  # Graph: 3 s
    await emu.post(ADELE, "/subscriptions", sub_body(receiver))
    receiver.delay = 0.3
    emu.state.add_event(ADELE, "x", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    await emu.state.notifier.drain()
    records = [r for r in emu.state.notification_log if r.kind in ("notification", "dropped")]
    assert [r.kind for r in records] == ["notification"] * 3 + ["dropped"]
    assert all("Timeout" in (r.error or "") for r in records[:3])


async def test_a_dropped_delivery_sends_missed_to_the_lifecycle_url(emu: Emu, receiver: Receiver) -> None:
    sub = (
        await emu.post(
            ADELE, "/subscriptions", sub_body(receiver, lifecycleNotificationUrl=f"{receiver.url}/lifecycle")
        )
    ).json()
    receiver.fail_next = 3  # every attempt of the change notification fails
    emu.state.add_event(ADELE, "x", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    await receiver.wait(1)
    await emu.state.notifier.drain()
    assert receiver.changes() == [] and receiver.lifecycle_events() == [(sub["id"], "missed")]
    [missed] = receiver.notifications[0]["value"]
    assert missed == {
        "subscriptionId": sub["id"],
        "subscriptionExpirationDateTime": "2030-03-06T00:00:00.000Z",
        "tenantId": emu.state.user(ADELE).tenant_id,
        "clientState": "s3cret",
        "lifecycleEvent": "missed",
    }


async def test_retries_stop_when_the_subscription_is_deleted(emu: Emu, receiver: Receiver) -> None:
    emu.state.change_tracking.retry_delays = (0.2, 0.2)
    sub = (await emu.post(ADELE, "/subscriptions", sub_body(receiver))).json()
    receiver.fail_next = 5
    emu.state.add_event(ADELE, "x", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    async with asyncio.timeout(2):
        await receiver.attempted.wait()
    assert (await emu.delete(ADELE, f"/subscriptions/{sub['id']}")).status_code == 204
    await emu.state.notifier.drain()
    assert len(receiver.attempts) == 1
    assert not [r for r in emu.state.notification_log if r.kind == "dropped"]


async def test_expiry_under_45_minutes_is_raised_to_45(emu: Emu, receiver: Receiver) -> None:
    sub = (
        await emu.post(
            ADELE, "/subscriptions", sub_body(receiver, expirationDateTime=fmt_stamp(T0 + timedelta(minutes=10)))
        )
    ).json()
    assert sub["expirationDateTime"] == "2030-03-04T00:45:00.0000000Z"
    renewed = await emu.patch(
        ADELE, f"/subscriptions/{sub['id']}", {"expirationDateTime": fmt_stamp(T0 + timedelta(minutes=5))}
    )
    assert renewed.json()["expirationDateTime"] == "2030-03-04T00:45:00.0000000Z"


async def test_expired_subscriptions_are_deleted_silently(emu: Emu, receiver: Receiver) -> None:
    sub = (
        await emu.post(
            ADELE,
            "/subscriptions",
            sub_body(
                receiver,
                lifecycleNotificationUrl=f"{receiver.url}/lifecycle",
                expirationDateTime=fmt_stamp(T0 + timedelta(hours=2)),
            ),
        )
    ).json()
    emu.clock.advance(hours=2)
    emu.state.notifier.tick()
    assert sub["id"] not in emu.state.subscriptions
    emu.state.add_event(ADELE, "after expiry", T0 + timedelta(hours=5), T0 + timedelta(hours=6))
    await emu.state.notifier.drain()
    assert receiver.notifications == []  # no change notification, and no lifecycle event for expiry


async def test_reauthorization_required_before_expiry_until_renewed(emu: Emu, receiver: Receiver) -> None:
    sub = (
        await emu.post(
            ADELE,
            "/subscriptions",
            sub_body(
                receiver,
                lifecycleNotificationUrl=f"{receiver.url}/lifecycle",
                expirationDateTime=fmt_stamp(T0 + timedelta(hours=3)),
            ),
        )
    ).json()
    notifier = emu.state.notifier
    emu.clock.advance(hours=1, minutes=30)
    notifier.tick()
    await notifier.drain()
    assert receiver.lifecycle_events() == []  # 90 minutes left: not yet
    emu.clock.advance(minutes=31)  # 59 minutes left
    notifier.tick()
    notifier.tick()
    await notifier.drain()
    assert receiver.lifecycle_events() == [(sub["id"], "reauthorizationRequired")]
    assert receiver.notifications[0]["value"][0]["clientState"] == "s3cret"
    emu.tokens.clear()  # the first access token expired meanwhile
    r = await emu.post(ADELE, f"/subscriptions/{sub['id']}/reauthorize")
    assert r.status_code == 204 and not r.content
    emu.clock.advance(minutes=15)  # reauthorizing does not extend the expiry
    notifier.tick()
    await notifier.drain()
    assert receiver.lifecycle_events() == [(sub["id"], "reauthorizationRequired")] * 2
    renewed = await emu.patch(
        ADELE, f"/subscriptions/{sub['id']}", {"expirationDateTime": fmt_stamp(emu.clock.now + timedelta(days=2))}
    )
    assert renewed.status_code == 200
    emu.clock.advance(minutes=30)
    notifier.tick()
    await notifier.drain()
    assert len(receiver.lifecycle_events()) == 2  # renewed: no more challenges


async def test_an_unanswered_challenge_pauses_delivery_until_reauthorized(emu: Emu, receiver: Receiver) -> None:
    sub = (
        await emu.post(
            ADELE,
            "/subscriptions",
            sub_body(
                receiver,
                lifecycleNotificationUrl=f"{receiver.url}/lifecycle",
                expirationDateTime=fmt_stamp(T0 + timedelta(minutes=50)),
            ),
        )
    ).json()
    emu.state.notifier.tick()  # 50 minutes left: challenged at once
    emu.clock.advance(minutes=20)
    emu.state.add_event(ADELE, "still delivered", T0 + timedelta(hours=3), T0 + timedelta(hours=4))
    await emu.state.notifier.drain()
    assert [c["changeType"] for c in receiver.changes()] == ["created"]
    emu.clock.advance(minutes=11)  # unanswered for 31 minutes: paused
    emu.state.add_event(ADELE, "lost", T0 + timedelta(hours=5), T0 + timedelta(hours=6))
    await emu.state.notifier.drain()
    assert len(receiver.changes()) == 1
    assert [r.kind for r in emu.state.notification_log][-1] == "paused"
    emu.tokens.clear()
    assert (await emu.post(ADELE, f"/subscriptions/{sub['id']}/reauthorize")).status_code == 204
    emu.state.add_event(ADELE, "flowing again", T0 + timedelta(hours=7), T0 + timedelta(hours=8))
    await receiver.wait(3)
    assert len(receiver.changes()) == 2


async def test_reauthorize_is_for_the_creator_only(emu: Emu, receiver: Receiver) -> None:
    sub = (await emu.post(ADELE, "/subscriptions", sub_body(receiver))).json()
    assert_graph_error(await emu.post(MEGAN, f"/subscriptions/{sub['id']}/reauthorize"), 404, "ResourceNotFound")
    assert_graph_error(await emu.post(ADELE, "/subscriptions/nope/reauthorize"), 404, "ResourceNotFound")


async def test_lifecycle_notifications(emu: Emu, receiver: Receiver) -> None:
    sub = (
        await emu.post(
            ADELE, "/subscriptions", sub_body(receiver, lifecycleNotificationUrl=f"{receiver.url}/lifecycle")
        )
    ).json()
    assert await emu.state.notifier.lifecycle(sub["id"], "reauthorizationRequired")
    assert await emu.state.notifier.remove_subscription(sub["id"])
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


async def test_no_lifecycle_notifications_without_a_lifecycle_url(emu: Emu, receiver: Receiver) -> None:
    sub = (await emu.post(ADELE, "/subscriptions", sub_body(receiver))).json()
    assert not await emu.state.notifier.lifecycle(sub["id"], "missed")
    emu.clock.advance(days=1, hours=23, minutes=30)  # 30 minutes before expiry
    emu.state.notifier.tick()
    assert not await emu.state.notifier.remove_subscription(sub["id"])
    await emu.state.notifier.drain()
    assert receiver.notifications == [] and sub["id"] not in emu.state.subscriptions
