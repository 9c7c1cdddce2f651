"""A booking world over real counterparts: the Graph emulator over HTTP (its own thread), a migrated
SQLite or PostgreSQL database, the real Graph client and adapter, and the core's services.

The clock of the services is settable; the emulator keeps its own real clock (it only stamps data).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from graph.adapter import GraphCalendar
from graph.client import GraphClient
from graph.identity import IdentityConfig, sandbox_identity
from graph.sandbox.connector import sandbox_sso_token
from scheduling.booking import BookingService
from scheduling.domain import ConnectionStatus, EventType, User
from scheduling.invitee import InviteeForm
from scheduling.ports import Location
from scheduling.reconcile import Reconciler
from scheduling.rules import Availability, BookingWindow, EventRules
from storage.db import Database
from storage.repositories import Repositories, repositories
from tests.graph.graph_harness import Emulator, running_emulator
from tests.storage.fixtures import Kind, database

NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)  # a Monday, 07:00 UTC
MONDAY_10 = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)  # 10:00 in London (GMT in March before DST)
TENANT = "tenant-contoso"
HOST_UPN = "harriet@contoso.example"


@dataclass
class Clock:
    current: datetime = NOW

    def now(self) -> datetime:
        return self.current

    def advance(self, **kw: float) -> None:
        self.current += timedelta(**kw)


@dataclass
class World:
    emulator: Emulator
    db: Database
    repos: Repositories
    graph: GraphClient
    calendar: GraphCalendar
    clock: Clock
    service: BookingService
    reconciler: Reconciler
    host: User
    link: EventType
    mailbox_of: dict[str, str] = field(default_factory=dict)

    def service_with(self, **ports: Any) -> BookingService:
        """The same service with some ports replaced (crash injection)."""
        return BookingService(
            calendar=ports.get("calendar", self.calendar),
            bookings=ports.get("bookings", self.repos.bookings),
            users=self.repos.users,
            event_types=self.repos.event_types,
            clock=self.clock,
            token_secret=b"s" * 32,
        )

    def events(self) -> list[dict[str, Any]]:
        return self.emulator.state.events(HOST_UPN)

    def tagged_events(self) -> list[dict[str, Any]]:
        return [e for e in self.events() if not e.get("isCancelled") and e.get("transactionId")]


def invitee(name: str = "Ivy Invitee", email: str = "ivy@example.org") -> InviteeForm:
    """What an invitee enters (``BookingService.book`` validates it)."""
    return InviteeForm(name=name, email=email, time_zone="America/New_York")


def rules(**kw: Any) -> EventRules:
    base: dict[str, Any] = {
        "durations": (30,),
        "availability": Availability.business_hours("Europe/London"),
        "window": BookingWindow(rolling_days=30),
    }
    base.update(kw)
    return EventRules(**base)


@asynccontextmanager
async def booking_world(
    kind: Kind, *, link_rules: EventRules | None = None, single_use: bool = False, msal: bool = False
) -> AsyncIterator[World]:
    """``msal``: tokens come from the real MSAL identity (signed in on-behalf-of against the emulator's
    login app) instead of being minted directly, so refresh and revocation run the production path."""
    with running_emulator() as emu:
        mailbox = emu.state.add_user(upn=HOST_UPN, display_name="Harriet Host", time_zone="GMT Standard Time")
        async with database(kind) as db:
            clock = Clock()
            repos = repositories(db, clock=clock.now)
            host = await repos.users.upsert(
                User(
                    id="u-harriet",
                    tenant_id=TENANT,
                    aad_object_id=mailbox.id,
                    display_name="Harriet Host",
                    email=HOST_UPN,
                    time_zone="Europe/London",
                    connection_status=ConnectionStatus.CONNECTED,
                )
            )
            await repos.users.set_connection(host.id, ConnectionStatus.CONNECTED)
            host = await repos.users.get(host.id) or host
            mailbox_of = {host.id: HOST_UPN}

            async def tokens(user_id: str, force_refresh: bool = False) -> str:
                return emu.state.issue_token(mailbox_of.get(user_id, user_id))

            identity = None
            provider: Any = tokens
            if msal:
                config = IdentityConfig(
                    client_id="11111111-2222-3333-4444-555555555555",
                    client_secret="s",
                    redirect_uri="http://127.0.0.1/auth/callback",
                )
                identity = sandbox_identity(config, repos.tokens, "k" * 40, emu.login_base)
                await identity.exchange_sso_token(
                    host.id,
                    sandbox_sso_token(
                        oid=mailbox.id,
                        tenant_id=mailbox.tenant_id,
                        upn=HOST_UPN,
                        name="Harriet Host",
                        audience=f"api://botid-{config.client_id}",
                    ),
                )
                provider = identity.token_provider()
            graph = GraphClient(
                emu.graph_base, token_provider=provider, sleep=emu.sleep, backoff_base=0.01, backoff_cap=0.05
            )
            calendar = GraphCalendar(graph)
            link = await repos.event_types.create(
                EventType(
                    id="link-intro",
                    tenant_id=TENANT,
                    slug="intro",
                    title="Intro call",
                    rules=link_rules or rules(),
                    owner_user_id=host.id,
                    location=Location(),
                    single_use=single_use,
                )
            )
            service = BookingService(
                calendar=calendar,
                bookings=repos.bookings,
                users=repos.users,
                event_types=repos.event_types,
                clock=clock,
                token_secret=b"s" * 32,
            )
            try:
                reconciler = Reconciler(service, bookings=repos.bookings, users=repos.users, calendar=calendar)
                yield World(emu, db, repos, graph, calendar, clock, service, reconciler, host, link, mailbox_of)
            finally:
                await graph.aclose()
                if identity is not None:
                    identity.close()
