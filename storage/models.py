"""The tables, as SQLAlchemy 2 typed declarative models. ``migrations/versions`` creates the same schema.

Rows are mapped to the core's records (``scheduling.domain``) by the repositories; nothing outside
``storage/`` sees these classes.

Time: every instant is stored as UTC. PostgreSQL columns are ``timestamptz``; SQLite has no time type,
so :class:`UTCDateTime` stores naive UTC text (fixed width, so it sorts and compares correctly) and
hands back timezone-aware UTC datetimes on both databases.

Reservations are the per-host claims on time: one row per (booking, host) and per (hold, host),
covering the padded interval ``[blocked_from, blocked_until)`` = ``[start - buffer_before,
end + buffer_after)``. On PostgreSQL an exclusion constraint forbids two overlapping active rows of
one host; the repositories check the same condition first, so users get a clean SlotUnavailable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, ExcludeConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RESERVATION_EXCLUSION = "reservations_no_overlap"

BOOKING_STATUSES = ("pending", "confirmed", "cancelled", "released")
HOLDING_STATUSES = ("pending", "confirmed")
CALENDAR_SYNC_STATES = ("in_sync", "update_pending", "cancel_pending")
CONNECTION_STATUSES = ("not_connected", "connected", "broken")
LINK_KINDS = ("single", "round_robin", "collective")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC instant on both databases; naive datetimes are refused on the way in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError(f"Naive datetime {value!r}: Slotwise stores timezone-aware UTC instants only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQL NULL (not JSON 'null') for None, so nullable documents are really NULL.
JSONDoc = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONDoc, list[Any]: JSONDoc}


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "aad_object_id"),
        CheckConstraint(_in("connection_status", CONNECTION_STATUSES), name="connection_status"),
    )

    id: Mapped[str] = mapped_column(String, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String)
    aad_object_id: Mapped[str] = mapped_column(String)
    email: Mapped[str] = mapped_column(String)
    display_name: Mapped[str] = mapped_column(String)
    time_zone: Mapped[str] = mapped_column(String)
    handle: Mapped[str] = mapped_column(String, unique=True)
    conversation_reference: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    connection_status: Mapped[str] = mapped_column(String)
    connection_error: Mapped[str] = mapped_column(Text)
    conflict_calendar_ids: Mapped[list[Any]]
    write_calendar_id: Mapped[str | None] = mapped_column(String, nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CalendarConnectionRow(Base):
    """The (already encrypted) MSAL token cache of one user, and the state of their connection."""

    __tablename__ = "calendar_connections"
    __table_args__ = (CheckConstraint(_in("status", CONNECTION_STATUSES), name="status"),)

    user_id: Mapped[str] = mapped_column(String, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    token_cache: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String)
    granted_scopes: Mapped[str] = mapped_column(Text)
    last_error: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class TeamRow(Base):
    __tablename__ = "teams"
    __table_args__ = (
        # the Teams team (or group chat) a team is: one per tenant (0006)
        Index("uq_teams_tenant_id_external_id", "tenant_id", "external_id", unique=True),
    )

    id: Mapped[str] = mapped_column(String, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String, index=True)
    name: Mapped[str] = mapped_column(String)
    slug: Mapped[str] = mapped_column(String, unique=True)
    conversation_reference: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    external_id: Mapped[str | None] = mapped_column(String, nullable=True)  # (0006)


class TeamMemberRow(Base):
    """A member of a team's rotation. A member who leaves keeps their row (``active`` false, ``left_at``), so the
    time away is remembered when they join again (``away``: the spans they were out, for fair assignment)."""

    __tablename__ = "team_members"

    team_id: Mapped[str] = mapped_column(String, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean)
    last_booked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # (0006) the member's own caps, when they joined, when they last left, and the spans they were away
    daily_cap: Mapped[int | None] = mapped_column(Integer, nullable=True)
    weekly_cap: Mapped[int | None] = mapped_column(Integer, nullable=True)
    joined_at: Mapped[datetime | None] = mapped_column(nullable=True)
    left_at: Mapped[datetime | None] = mapped_column(nullable=True)
    away: Mapped[list[Any]] = mapped_column(server_default=text("'[]'"))


ASSIGNMENT_MODES = ("fair", "availability")
PERIOD_UNITS = ("day", "week", "month")


class TeamLinkRow(Base):
    """What a team link has besides its rules (0006): who made it, how bookings are assigned, whether they are
    announced in the channel, and where its card is (the channel thread's conversation reference, the card's
    activity id) so announcements reply in its thread and the card can be refreshed in place."""

    __tablename__ = "team_links"
    __table_args__ = (
        CheckConstraint(_in("assignment_mode", ASSIGNMENT_MODES), name="assignment_mode"),
        CheckConstraint(_in("period", PERIOD_UNITS), name="period"),
    )

    event_type_id: Mapped[str] = mapped_column(
        String, ForeignKey("event_types.id", ondelete="CASCADE"), primary_key=True
    )
    created_by: Mapped[str | None] = mapped_column(
        String, ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    assignment_mode: Mapped[str] = mapped_column(String)
    period: Mapped[str] = mapped_column(String)
    announce: Mapped[bool] = mapped_column(Boolean)
    thread: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    card_activity_id: Mapped[str | None] = mapped_column(String, nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class EventTypeRow(Base):
    __tablename__ = "event_types"
    __table_args__ = (
        UniqueConstraint("owner_user_id", "slug"),
        UniqueConstraint("team_id", "slug"),
        CheckConstraint("owner_user_id IS NOT NULL OR team_id IS NOT NULL", name="has_owner"),
        CheckConstraint(_in("kind", LINK_KINDS), name="kind"),
        Index("ix_event_types_tenant_id_owner_user_id", "tenant_id", "owner_user_id"),
    )

    id: Mapped[str] = mapped_column(String, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String)
    owner_user_id: Mapped[str | None] = mapped_column(String, ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    team_id: Mapped[str | None] = mapped_column(
        String, ForeignKey("teams.id", ondelete="CASCADE"), nullable=True, index=True
    )
    slug: Mapped[str] = mapped_column(String)
    title: Mapped[str] = mapped_column(String)
    description: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String)
    rules: Mapped[dict[str, Any]]
    location: Mapped[dict[str, Any]]
    fallback_location: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    questions: Mapped[list[Any]]
    single_use: Mapped[bool] = mapped_column(Boolean)
    active: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # EventRules.reminder (minutes before each booked meeting the host is reminded; NULL: off), a column of
    # its own rather than inside ``rules`` so the reminder job can select due bookings in SQL (0007)
    reminder_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)


class BookingRow(Base):
    """A booking. Bookings outlive their link: ``event_type_id`` is kept as history, not a foreign key."""

    __tablename__ = "bookings"
    __table_args__ = (
        UniqueConstraint("event_type_id", "idempotency_key"),
        CheckConstraint(_in("status", BOOKING_STATUSES), name="status"),
        CheckConstraint(_in("calendar_sync", CALENDAR_SYNC_STATES), name="calendar_sync"),
        CheckConstraint("start_at <= end_at", name="ordered"),
        CheckConstraint("buffer_before >= 0 AND buffer_after >= 0", name="buffers"),
        # A single-use link has at most one holding booking, whatever the application does.
        Index(
            "uq_bookings_single_use_holding",
            "event_type_id",
            unique=True,
            sqlite_where=text("single_use AND status IN ('pending', 'confirmed')"),
            postgresql_where=text("single_use AND status IN ('pending', 'confirmed')"),
        ),
        Index("ix_bookings_event_type_id_start_at", "event_type_id", "start_at"),
        Index("ix_bookings_tenant_id_start_at", "tenant_id", "start_at"),
        Index("ix_bookings_status_pending_deadline", "status", "pending_deadline"),
        Index("ix_bookings_status_updated_at", "status", "updated_at"),
        Index("ix_bookings_calendar_sync", "calendar_sync"),
        Index("ix_bookings_organizer_id_graph_event_id", "organizer_id", "graph_event_id"),  # calendar sync (0004)
        Index("ix_bookings_status_start_at", "status", "start_at"),  # reminders due (0007)
    )

    id: Mapped[str] = mapped_column(String, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String)
    event_type_id: Mapped[str] = mapped_column(String)
    organizer_id: Mapped[str] = mapped_column(String)
    host_ids: Mapped[list[Any]]
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    buffer_before: Mapped[int] = mapped_column(Integer)
    buffer_after: Mapped[int] = mapped_column(Integer)
    invitee_name: Mapped[str] = mapped_column(String)
    invitee_email: Mapped[str] = mapped_column(String)
    invitee_time_zone: Mapped[str] = mapped_column(String)
    invitee_notes: Mapped[str] = mapped_column(Text)
    invitee_answers: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String)
    single_use: Mapped[bool] = mapped_column(Boolean)
    idempotency_key: Mapped[str | None] = mapped_column(String, nullable=True)  # "<caller namespace>:<key>"
    manage_token_hash: Mapped[str | None] = mapped_column(String, nullable=True, unique=True)
    manage_token_nonce: Mapped[str | None] = mapped_column(String, nullable=True)
    request_fingerprint: Mapped[str | None] = mapped_column(String, nullable=True)
    invitee_tenant_id: Mapped[str | None] = mapped_column(String, nullable=True)
    invitee_aad_object_id: Mapped[str | None] = mapped_column(String, nullable=True)
    graph_event_id: Mapped[str | None] = mapped_column(String, nullable=True)
    ical_uid: Mapped[str | None] = mapped_column(String, nullable=True)
    transaction_id: Mapped[str] = mapped_column(String)
    join_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    join_url_missing: Mapped[bool] = mapped_column(Boolean)
    calendar_sync: Mapped[str] = mapped_column(String)
    cancel_reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    pending_deadline: Mapped[datetime | None] = mapped_column(nullable=True)
    version: Mapped[int] = mapped_column(Integer)
    # the calendar the Outlook event was written to (NULL: the host's default calendar) (0007)
    event_calendar_id: Mapped[str | None] = mapped_column(String, nullable=True)
    # the start the host's reminder was enqueued for (NULL: none yet); a moved booking is reminded again (0007)
    reminded_start: Mapped[datetime | None] = mapped_column(nullable=True)


class ReservationRow(Base):
    """One host's claim on a padded interval, for a booking (``booking_id``) or a hold (``hold_id``)."""

    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("(booking_id IS NULL) <> (hold_id IS NULL)", name="booking_xor_hold"),
        CheckConstraint("blocked_from <= blocked_until", name="ordered"),
        CheckConstraint("hold_id IS NULL OR expires_at IS NOT NULL", name="hold_expires"),
        Index("ix_reservations_host_id_blocked_from", "host_id", "blocked_from", "blocked_until"),
        # The database itself forbids two overlapping active claims of one host (PostgreSQL only).
        ExcludeConstraint(
            ("host_id", "="),
            (func.tstzrange(text("blocked_from"), text("blocked_until"), text("'[)'")), "&&"),
            name=RESERVATION_EXCLUSION,
            using="gist",
            where="active",
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host_id: Mapped[str] = mapped_column(String, ForeignKey("users.id", ondelete="CASCADE"))
    booking_id: Mapped[str | None] = mapped_column(
        String, ForeignKey("bookings.id", ondelete="CASCADE"), nullable=True, index=True
    )
    hold_id: Mapped[str | None] = mapped_column(String, nullable=True, index=True)
    event_type_id: Mapped[str | None] = mapped_column(String, nullable=True)
    blocked_from: Mapped[datetime]
    blocked_until: Mapped[datetime]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    buffer_before: Mapped[int] = mapped_column(Integer)
    buffer_after: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    active: Mapped[bool] = mapped_column(Boolean)


OUTBOX_DUE = "delivered_at IS NULL AND NOT dead AND held_for IS NULL"


class OutboxRow(Base):
    """A notification or webhook to deliver at least once; ``dedupe_key`` makes enqueueing idempotent."""

    __tablename__ = "outbox"
    __table_args__ = (
        # the leasing query: the due items of one channel, oldest due first (held items are never due)
        Index(
            "ix_outbox_due",
            "channel",
            "next_attempt_at",
            sqlite_where=text(OUTBOX_DUE),
            postgresql_where=text(OUTBOX_DUE),
        ),
        # releasing a person's held items when they become reachable
        Index(
            "ix_outbox_held_for",
            "held_for",
            sqlite_where=text("held_for IS NOT NULL"),
            postgresql_where=text("held_for IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    channel: Mapped[str] = mapped_column(String)
    payload: Mapped[dict[str, Any]]
    dedupe_key: Mapped[str] = mapped_column(String, unique=True)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    leased_until: Mapped[datetime | None] = mapped_column(nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str] = mapped_column(Text)
    dead: Mapped[bool] = mapped_column(Boolean)
    # the recipient this item waits for (they can't be reached yet): not leased until released; NULL otherwise
    held_for: Mapped[str | None] = mapped_column(String, nullable=True)


class JobLeaseRow(Base):
    """Which replica runs background job ``name`` (reconciliation...) until ``leased_until``."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String, primary_key=True)
    holder: Mapped[str] = mapped_column(String)
    leased_until: Mapped[datetime]
    acquired_at: Mapped[datetime]


# ------------------------------------------------------------------ calendar sync (issue 14; migration 0004)


class CalendarSubscriptionRow(Base):
    """A host's Graph subscription on their events (one per host). ``client_state_hash``: SHA-256 of the
    secret ``clientState`` (never kept in clear). ``leased_until``: a replica is renewing it until then."""

    __tablename__ = "calendar_subscriptions"
    __table_args__ = (Index("ix_calendar_subscriptions_expires_at", "expires_at"),)

    host_id: Mapped[str] = mapped_column(String, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String, unique=True)
    client_state_hash: Mapped[str] = mapped_column(String)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime]
    renewed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    reauthorized_at: Mapped[datetime | None] = mapped_column(nullable=True)
    leased_until: Mapped[datetime | None] = mapped_column(nullable=True)
    notification_url: Mapped[str] = mapped_column(Text)  # where Graph delivers (the app's address then)


class BusyCacheRow(Base):
    """A host's busy cache: the window its delta ``delta_cursor`` covers; ``stale_since`` set when it can't be
    trusted (notifications missed, subscription removed), ``dirty_since`` while a notified change waits."""

    __tablename__ = "busy_cache"

    host_id: Mapped[str] = mapped_column(String, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    delta_cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    stale_since: Mapped[datetime | None] = mapped_column(nullable=True)
    stale_reason: Mapped[str] = mapped_column(Text)
    dirty_since: Mapped[datetime | None] = mapped_column(nullable=True)
    synced_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime]


class BusyCacheEventRow(Base):
    """One event of a host's primary calendar that blocks time in the cached window."""

    __tablename__ = "busy_cache_events"
    __table_args__ = (Index("ix_busy_cache_events_host_id_start_at", "host_id", "start_at"),)

    host_id: Mapped[str] = mapped_column(String, ForeignKey("busy_cache.host_id", ondelete="CASCADE"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String, primary_key=True)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String)


class SyncWorkRow(Base):
    """Queued calendar-sync work of one host (requests merge into the row); leased by one worker at a time.
    ``generation`` grows with every request, so a worker can tell whether more came in while it worked."""

    __tablename__ = "sync_work"
    __table_args__ = (Index("ix_sync_work_due_at", "due_at"),)

    host_id: Mapped[str] = mapped_column(String, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    delta: Mapped[bool] = mapped_column(Boolean)
    full_sync: Mapped[bool] = mapped_column(Boolean)
    subscribe: Mapped[bool] = mapped_column(Boolean)
    recreate: Mapped[bool] = mapped_column(Boolean)
    reauthorize: Mapped[bool] = mapped_column(Boolean)
    removed_subscription_id: Mapped[str | None] = mapped_column(String, nullable=True)
    generation: Mapped[int] = mapped_column(Integer)
    requested_at: Mapped[datetime]
    due_at: Mapped[datetime]
    leased_until: Mapped[datetime | None] = mapped_column(nullable=True)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text)


# ------------------------------------------------------------------ REST API v1 and webhooks (issue 13; migration 0005)

DELIVERY_STATUSES = ("pending", "retrying", "succeeded", "failed", "skipped")


class ApiKeyRow(Base):
    """A personal API key: its SHA-256 (``key_hash``) and first characters (``prefix``), never the key."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    user_id: Mapped[str] = mapped_column(String, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String)
    prefix: Mapped[str] = mapped_column(String)
    key_hash: Mapped[str] = mapped_column(String, unique=True)
    name: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class RateCounterRow(Base):
    """How many events of ``key`` (a rule and a client) were counted in the window starting at ``window_start``."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LinkExpiryRow(Base):
    """When a link stops taking bookings (``expired_at``: when it was switched off for it). No foreign key: the
    expiry is written before its link, which never exists without it; a row without its link is dropped."""

    __tablename__ = "link_expiries"
    __table_args__ = (
        Index(
            "ix_link_expiries_due",
            "expires_at",
            sqlite_where=text("expired_at IS NULL"),
            postgresql_where=text("expired_at IS NULL"),
        ),
    )

    event_type_id: Mapped[str] = mapped_column(String, primary_key=True)
    expires_at: Mapped[datetime]
    expired_at: Mapped[datetime | None] = mapped_column(nullable=True)


class WebhookSubscriptionRow(Base):
    """A webhook subscription; its signing secrets encrypted (AES-256-GCM, bound to the row's id)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    user_id: Mapped[str] = mapped_column(String, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[Any]]
    description: Mapped[str] = mapped_column(Text)
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    previous_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer)


class WebhookDeliveryRow(Base):
    """One delivery of an event to a subscription; ``id`` is its outbox item's id (the ``webhook-id``)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(_in("status", DELIVERY_STATUSES), name="status"),
        Index("ix_webhook_deliveries_subscription_id_created_at", "subscription_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String, primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String, ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    attempts: Mapped[int] = mapped_column(Integer)
    response_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    last_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
