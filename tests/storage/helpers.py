"""Builders for storage tests: a settable clock, users, links and bookings with sensible defaults."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from scheduling.domain import Booking, EventType, Invitee, User
from scheduling.rules import Availability, EventRules
from storage.repositories import Repositories

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC
TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"
_ids = itertools.count(1)


def at(hour: int, minute: int = 0, day: int = 0) -> datetime:
    """An instant on the test Monday (``day`` days later), UTC."""
    return T0.replace(hour=hour, minute=minute) + timedelta(days=day)


def uid(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


@dataclass
class FakeClock:
    now_value: datetime = field(default=T0 - timedelta(days=1))

    def __call__(self) -> datetime:
        return self.now_value

    def advance(self, **delta: float) -> datetime:
        self.now_value += timedelta(**delta)
        return self.now_value


def rules(duration: int = 30, **kw: object) -> EventRules:
    return EventRules(durations=(duration,), availability=Availability.business_hours("Europe/London"), **kw)  # type: ignore[arg-type]


async def make_user(
    repos: Repositories,
    email: str = "adele.vance@contoso.com",
    *,
    tenant: str = TENANT,
    name: str = "Adele Vance",
    handle: str = "",
) -> User:
    return await repos.users.upsert(
        User(
            id=uid("user"),
            tenant_id=tenant,
            aad_object_id=uid("aad"),
            display_name=name,
            email=email,
            time_zone="Europe/London",
            handle=handle,
        )
    )


async def make_link(
    repos: Repositories, owner: User | None = None, slug: str = "30min", *, team_id: str | None = None, **kw: object
) -> EventType:
    link = EventType(
        id=uid("et"),
        tenant_id=owner.tenant_id if owner else TENANT,
        slug=slug,
        title="Chat",
        rules=rules(),
        owner_user_id=owner.id if owner else None,
        team_id=team_id,
        **kw,
    )  # type: ignore[arg-type]
    return await repos.event_types.create(link)


def booking(
    link: EventType,
    hosts: list[User] | tuple[User, ...],
    start: datetime,
    minutes: int = 30,
    *,
    before: int = 0,
    after: int = 0,
    key: str | None = None,
    booking_id: str | None = None,
    token_hash: str | None = None,
    pending_deadline: datetime | None = None,
    tenant: str | None = None,
) -> Booking:
    bid = booking_id or uid("bk")
    return Booking(
        id=bid,
        tenant_id=tenant or link.tenant_id,
        event_type_id=link.id,
        host_ids=tuple(h.id for h in hosts),
        start=start,
        end=start + timedelta(minutes=minutes),
        buffer_before=before,
        buffer_after=after,
        invitee=Invitee(
            name="Ines Invitee",
            email="ines@example.com",
            time_zone="America/New_York",
            notes="hello",
            answers={"topic": "roadmap"},
        ),
        idempotency_key=key,
        manage_token_hash=token_hash if token_hash is not None else f"hash-{bid}",
        pending_deadline=pending_deadline,
    )
