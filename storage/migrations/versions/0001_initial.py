"""Initial schema: users, calendar connections, teams, links, bookings, reservations, outbox.

On PostgreSQL also the btree_gist extension and the exclusion constraint that forbids two overlapping
active reservations of one host.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _instant(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    is_pg = op.get_bind().dialect.name == "postgresql"

    op.create_table(
        "users",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("aad_object_id", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("time_zone", sa.String(), nullable=False),
        sa.Column("handle", sa.String(), nullable=False),
        sa.Column("conversation_reference", JSON, nullable=True),
        sa.Column("connection_status", sa.String(), nullable=False),
        sa.Column("connection_error", sa.Text(), nullable=False),
        sa.Column("conflict_calendar_ids", JSON, nullable=False),
        sa.Column("write_calendar_id", sa.String(), nullable=True),
        _instant("created_at"),
        _instant("updated_at"),
        sa.CheckConstraint("connection_status IN ('not_connected', 'connected', 'broken')",
                           name=op.f("ck_users_connection_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("handle", name=op.f("uq_users_handle")),
        sa.UniqueConstraint("tenant_id", "aad_object_id", name=op.f("uq_users_tenant_id_aad_object_id")),
    )

    op.create_table(
        "calendar_connections",
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("token_cache", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("granted_scopes", sa.Text(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        _instant("updated_at"),
        sa.CheckConstraint("status IN ('not_connected', 'connected', 'broken')",
                           name=op.f("ck_calendar_connections_status")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_calendar_connections_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_calendar_connections")),
    )

    op.create_table(
        "teams",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("slug", sa.String(), nullable=False),
        sa.Column("conversation_reference", JSON, nullable=True),
        _instant("created_at"),
        _instant("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("slug", name=op.f("uq_teams_slug")),
    )
    op.create_index(op.f("ix_teams_tenant_id"), "teams", ["tenant_id"], unique=False)

    op.create_table(
        "team_members",
        sa.Column("team_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _instant("last_booked_at", nullable=True),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_team_members_team_id_teams"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_team_members_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_team_members")),
    )
    op.create_index(op.f("ix_team_members_user_id"), "team_members", ["user_id"], unique=False)

    op.create_table(
        "event_types",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("owner_user_id", sa.String(), nullable=True),
        sa.Column("team_id", sa.String(), nullable=True),
        sa.Column("slug", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("rules", JSON, nullable=False),
        sa.Column("location", JSON, nullable=False),
        sa.Column("fallback_location", JSON, nullable=True),
        sa.Column("questions", JSON, nullable=False),
        sa.Column("single_use", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _instant("created_at"),
        _instant("updated_at"),
        sa.CheckConstraint("kind IN ('single', 'round_robin', 'collective')", name=op.f("ck_event_types_kind")),
        sa.CheckConstraint("owner_user_id IS NOT NULL OR team_id IS NOT NULL",
                           name=op.f("ck_event_types_has_owner")),
        sa.ForeignKeyConstraint(["owner_user_id"], ["users.id"], name=op.f("fk_event_types_owner_user_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_event_types_team_id_teams"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_types")),
        sa.UniqueConstraint("owner_user_id", "slug", name=op.f("uq_event_types_owner_user_id_slug")),
        sa.UniqueConstraint("team_id", "slug", name=op.f("uq_event_types_team_id_slug")),
    )
    op.create_index(op.f("ix_event_types_team_id"), "event_types", ["team_id"], unique=False)
    op.create_index("ix_event_types_tenant_id_owner_user_id", "event_types", ["tenant_id", "owner_user_id"],
                    unique=False)

    op.create_table(
        "bookings",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("event_type_id", sa.String(), nullable=False),
        sa.Column("organizer_id", sa.String(), nullable=False),
        sa.Column("host_ids", JSON, nullable=False),
        _instant("start_at"),
        _instant("end_at"),
        sa.Column("buffer_before", sa.Integer(), nullable=False),
        sa.Column("buffer_after", sa.Integer(), nullable=False),
        sa.Column("invitee_name", sa.String(), nullable=False),
        sa.Column("invitee_email", sa.String(), nullable=False),
        sa.Column("invitee_time_zone", sa.String(), nullable=False),
        sa.Column("invitee_notes", sa.Text(), nullable=False),
        sa.Column("invitee_answers", JSON, nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("single_use", sa.Boolean(), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=True),
        sa.Column("manage_token_hash", sa.String(), nullable=True),
        sa.Column("graph_event_id", sa.String(), nullable=True),
        sa.Column("ical_uid", sa.String(), nullable=True),
        sa.Column("transaction_id", sa.String(), nullable=False),
        sa.Column("join_url", sa.Text(), nullable=True),
        sa.Column("join_url_missing", sa.Boolean(), nullable=False),
        sa.Column("calendar_sync", sa.String(), nullable=False),
        sa.Column("cancel_reason", sa.Text(), nullable=False),
        _instant("created_at"),
        _instant("updated_at"),
        _instant("pending_deadline", nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'confirmed', 'cancelled', 'released')",
                           name=op.f("ck_bookings_status")),
        sa.CheckConstraint("calendar_sync IN ('in_sync', 'update_pending', 'cancel_pending')",
                           name=op.f("ck_bookings_calendar_sync")),
        sa.CheckConstraint("start_at <= end_at", name=op.f("ck_bookings_ordered")),
        sa.CheckConstraint("buffer_before >= 0 AND buffer_after >= 0", name=op.f("ck_bookings_buffers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("event_type_id", "idempotency_key",
                            name=op.f("uq_bookings_event_type_id_idempotency_key")),
        sa.UniqueConstraint("manage_token_hash", name=op.f("uq_bookings_manage_token_hash")),
    )
    single_use_holding = sa.text("single_use AND status IN ('pending', 'confirmed')")
    op.create_index("uq_bookings_single_use_holding", "bookings", ["event_type_id"], unique=True,
                    sqlite_where=single_use_holding, postgresql_where=single_use_holding)
    op.create_index("ix_bookings_event_type_id_start_at", "bookings", ["event_type_id", "start_at"], unique=False)
    op.create_index("ix_bookings_tenant_id_start_at", "bookings", ["tenant_id", "start_at"], unique=False)
    op.create_index("ix_bookings_status_pending_deadline", "bookings", ["status", "pending_deadline"],
                    unique=False)
    op.create_index("ix_bookings_status_updated_at", "bookings", ["status", "updated_at"], unique=False)
    op.create_index("ix_bookings_calendar_sync", "bookings", ["calendar_sync"], unique=False)

    op.create_table(
        "reservations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("host_id", sa.String(), nullable=False),
        sa.Column("booking_id", sa.String(), nullable=True),
        sa.Column("hold_id", sa.String(), nullable=True),
        sa.Column("event_type_id", sa.String(), nullable=True),
        _instant("blocked_from"),
        _instant("blocked_until"),
        _instant("starts_at"),
        _instant("ends_at"),
        sa.Column("buffer_before", sa.Integer(), nullable=False),
        sa.Column("buffer_after", sa.Integer(), nullable=False),
        _instant("expires_at", nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint("(booking_id IS NULL) <> (hold_id IS NULL)", name=op.f("ck_reservations_booking_xor_hold")),
        sa.CheckConstraint("blocked_from <= blocked_until", name=op.f("ck_reservations_ordered")),
        sa.CheckConstraint("hold_id IS NULL OR expires_at IS NOT NULL", name=op.f("ck_reservations_hold_expires")),
        sa.ForeignKeyConstraint(["host_id"], ["users.id"], name=op.f("fk_reservations_host_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name=op.f("fk_reservations_booking_id_bookings"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    op.create_index(op.f("ix_reservations_booking_id"), "reservations", ["booking_id"], unique=False)
    op.create_index(op.f("ix_reservations_hold_id"), "reservations", ["hold_id"], unique=False)
    op.create_index("ix_reservations_host_id_blocked_from", "reservations",
                    ["host_id", "blocked_from", "blocked_until"], unique=False)
    if is_pg:
        # The database itself forbids two overlapping active claims on one host's time.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE reservations ADD CONSTRAINT reservations_no_overlap "
            "EXCLUDE USING gist (host_id WITH =, tstzrange(blocked_from, blocked_until, '[)') WITH &&) "
            "WHERE (active)"
        )

    op.create_table(
        "outbox",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("dedupe_key", sa.String(), nullable=False),
        _instant("created_at"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _instant("next_attempt_at"),
        _instant("leased_until", nullable=True),
        _instant("delivered_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("dead", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
    )
    due = sa.text("delivered_at IS NULL AND NOT dead")
    op.create_index("ix_outbox_due", "outbox", ["next_attempt_at"], unique=False,
                    sqlite_where=due, postgresql_where=due)


def downgrade() -> None:
    for table in ("outbox", "reservations", "bookings", "event_types", "team_members", "teams",
                  "calendar_connections", "users"):
        op.drop_table(table)
