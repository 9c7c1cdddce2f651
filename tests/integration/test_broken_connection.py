"""A host whose refresh token was revoked: the connection is marked broken, the host gets one reconnect
notice (not one per booking attempt), and invitees are told the host can't take bookings (fail closed).
Runs the production token path: MSAL against the emulator's token endpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduling.booking import BookingService
from scheduling.connect import ConnectionService
from scheduling.domain import ConnectionStatus, User
from scheduling.errors import HostUnavailable
from scheduling.intervals import Interval
from tests.integration.harness import HOST_UPN, MONDAY_10, NOW, booking_world, invitee
from tests.storage.fixtures import Kind


class ProductionLikeConnector:
    """Production never reconnects a broken connection silently; only the person can."""

    async def connect_without_prompt(self, user: User) -> bool:
        return False

    async def disconnect(self, user: User) -> None:
        return None


@pytest.mark.parametrize("kind", ["sqlite"])
async def test_revoked_sign_in_marks_the_host_broken_and_sends_one_reconnect_notice(kind: Kind) -> None:
    async with booking_world(kind, msal=True) as w:
        service = BookingService(  # the world's service, with the connection use cases (as app.py wires it)
            calendar=w.calendar,
            bookings=w.repos.bookings,
            users=w.repos.users,
            event_types=w.repos.event_types,
            clock=w.clock,
            token_secret=b"s" * 32,
            connections=ConnectionService(
                users=w.repos.users,
                connector=ProductionLikeConnector(),
                calendar=w.calendar,
                outbox=w.repos.outbox,
                clock=w.clock,
                state_secret=b"x" * 32,
            ),
        )
        assert await service.slots(w.link, Interval(NOW, NOW + timedelta(days=1)))  # works while valid
        w.emulator.state.revoke_refresh_tokens(HOST_UPN)
        w.emulator.state.expire_tokens(HOST_UPN)
        service.forget_busy()  # slot views may reuse a Graph answer for 30 s; start from a cold cache
        for _ in range(3):
            with pytest.raises(HostUnavailable) as err:
                await service.slots(w.link, Interval(NOW, NOW + timedelta(days=1)))
            assert err.value.reconnect_required and "can't" in err.value.message
        with pytest.raises(HostUnavailable):
            await service.book(w.link, MONDAY_10, invitee())
        host = await w.repos.users.get(w.host.id)
        assert host is not None and host.connection_status is ConnectionStatus.BROKEN
        notices = [x.item for x in await w.repos.outbox.lease(NOW, 50, 60)]
        assert [n.kind for n in notices] == ["host.reconnect"]
        assert str(notices[0].payload["signInPath"]).startswith("/auth/start?state=")
        assert w.events() == []
