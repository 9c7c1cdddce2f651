"""All repositories of one database, built together: what ``app.py`` wires into the core services."""

from __future__ import annotations

from dataclasses import dataclass

from storage._sql import Clock, utcnow
from storage.api import SqlApiKeyStore, SqlBookingQueries, SqlCounterStore, SqlLinkExpiryStore
from storage.bookings import SqlBookingStore
from storage.db import Database
from storage.event_types import SqlEventTypeStore
from storage.leases import SqlJobLease
from storage.outbox import SqlOutboxStore
from storage.reminders import SqlReminderStore
from storage.sync import SqlCalendarSyncStore
from storage.teams import SqlTeamStore
from storage.tokens import SqlTokenCacheStore
from storage.users import SqlUserStore


@dataclass(frozen=True, slots=True)
class Repositories:
    db: Database
    bookings: SqlBookingStore
    users: SqlUserStore
    event_types: SqlEventTypeStore
    teams: SqlTeamStore
    outbox: SqlOutboxStore
    tokens: SqlTokenCacheStore
    calendar_sync: SqlCalendarSyncStore
    job_leases: SqlJobLease
    reminders: SqlReminderStore
    # REST API v1 (issue 13); the webhook store needs its encryption key: app.py builds storage.api.SqlWebhookStore
    api_keys: SqlApiKeyStore
    counters: SqlCounterStore
    link_expiries: SqlLinkExpiryStore
    booking_queries: SqlBookingQueries


def repositories(db: Database, *, clock: Clock = utcnow) -> Repositories:
    """Every store on ``db``; ``clock`` stamps rows and decides hold expiry (the real clock by default)."""
    return Repositories(
        db=db,
        bookings=SqlBookingStore(db, clock=clock),
        users=SqlUserStore(db, clock=clock),
        event_types=SqlEventTypeStore(db, clock=clock),
        teams=SqlTeamStore(db, clock=clock),
        outbox=SqlOutboxStore(db, clock=clock),
        tokens=SqlTokenCacheStore(db, clock=clock),
        calendar_sync=SqlCalendarSyncStore(db, clock=clock),
        job_leases=SqlJobLease(db),
        reminders=SqlReminderStore(db, clock=clock),
        api_keys=SqlApiKeyStore(db),
        counters=SqlCounterStore(db),
        link_expiries=SqlLinkExpiryStore(db),
        booking_queries=SqlBookingQueries(db),
    )
