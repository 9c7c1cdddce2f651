"""Builders for storage tests: a settable clock, users, links and bookings with sensible defaults."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, Unpack

from sqlalchemy import Table, insert, inspect

from scheduling.domain import Booking, EventType, Invitee, LinkKind, Question, User
from scheduling.ports import Location
from scheduling.rules import Availability, EventRules
from scheduling.serialize import rules_to_dict
from storage.db import Database
from storage.models import Base, BookingRow, EventTypeRow, UserRow
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


class LinkOptions(TypedDict, total=False):
    """The optional fields of an :class:`EventType` that :func:`make_link` passes on."""

    kind: LinkKind
    location: Location
    fallback_location: Location | None
    questions: tuple[Question, ...]
    description: str
    single_use: bool
    active: bool
    version: int


async def make_link(
    repos: Repositories,
    owner: User | None = None,
    slug: str = "30min",
    *,
    team_id: str | None = None,
    **kw: Unpack[LinkOptions],
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
    )
    return await repos.event_types.create(link)


def table_of(model: type[Base]) -> Table:
    """``model``'s table (SQLAlchemy types ``Model.__table__`` as a ``FromClause``; it is this ``Table``)."""
    return Base.metadata.tables[model.__tablename__]


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


async def insert_present(db: Database, table: Table, values: Mapping[str, Any]) -> None:
    """Insert one row with only the columns ``table`` has in the database now: for tests that write data at an
    older revision (the models carry every later column, so the repositories can't write there)."""
    async with db.write() as s:
        connection = await s.connection()
        present = {c["name"] for c in await connection.run_sync(lambda c: inspect(c).get_columns(table.name))}
        await s.execute(insert(table).values({k: v for k, v in values.items() if k in present}))


async def seed_confirmed_booking(
    db: Database, *, start: datetime, event_id: str = "ev-1", stamped: datetime = datetime(2024, 1, 1, tzinfo=UTC)
) -> tuple[str, str, str]:
    """A user, a link of theirs and a confirmed booking with an Outlook event, written column by column (so at any
    revision since 0002) and stamped ``stamped``; returns (user id, link id, booking id)."""
    user_id, link_id, booking_id = uid("user"), uid("et"), uid("bk")
    now = stamped
    await insert_present(
        db,
        table_of(UserRow),
        {
            "id": user_id,
            "tenant_id": TENANT,
            "aad_object_id": uid("aad"),
            "email": "olga@contoso.com",
            "display_name": "Olga Old",
            "time_zone": "Europe/London",
            "handle": user_id,
            "conversation_reference": None,
            "connection_status": "connected",
            "connection_error": "",
            "conflict_calendar_ids": [],
            "write_calendar_id": None,
            "created_at": now,
            "updated_at": now,
        },
    )
    await insert_present(
        db,
        table_of(EventTypeRow),
        {
            "id": link_id,
            "tenant_id": TENANT,
            "owner_user_id": user_id,
            "team_id": None,
            "slug": "old",
            "title": "Old link",
            "description": "",
            "kind": "single",
            "rules": {k: v for k, v in rules_to_dict(rules()).items() if k != "reminder"},
            "location": {"kind": "teams", "text": ""},
            "fallback_location": None,
            "questions": [],
            "single_use": False,
            "active": True,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        },
    )
    await insert_present(
        db,
        table_of(BookingRow),
        {
            "id": booking_id,
            "tenant_id": TENANT,
            "event_type_id": link_id,
            "organizer_id": user_id,
            "host_ids": [user_id],
            "start_at": start,
            "end_at": start + timedelta(minutes=30),
            "buffer_before": 0,
            "buffer_after": 0,
            "invitee_name": "Ines Invitee",
            "invitee_email": "ines@example.com",
            "invitee_time_zone": "America/New_York",
            "invitee_notes": "",
            "invitee_answers": {},
            "status": "confirmed",
            "single_use": False,
            "idempotency_key": None,
            "manage_token_hash": f"hash-{booking_id}",
            "graph_event_id": event_id,
            "ical_uid": None,
            "transaction_id": booking_id,
            "join_url": None,
            "join_url_missing": False,
            "calendar_sync": "in_sync",
            "cancel_reason": "",
            "created_at": now,
            "updated_at": now,
            "pending_deadline": None,
            "version": 1,
        },
    )
    return user_id, link_id, booking_id
