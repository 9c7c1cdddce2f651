"""Two-way sync with Outlook: Graph subscriptions, delta cursors and the busy cache, the sync work queue.

* ``calendar_subscriptions``: one Graph subscription per host (its id, the SHA-256 of its secret
  ``clientState``, expiry, last renewal/reauthorization, the renewal lease of the replica renewing it, and
  the notification URL it delivers to).
* ``busy_cache`` / ``busy_cache_events``: per host, the window the delta cursor covers, whether the cache can
  be trusted (``stale_since``, ``dirty_since``), and the busy events of the primary calendar in it.
* ``sync_work``: queued work per host (delta round, full round, subscribe, recreate, reauthorize), leased
  by one worker at a time.
* ``ix_bookings_organizer_id_graph_event_id``: a change in Outlook finds its booking by event id.

New tables and an index only: existing data is untouched.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _host(table: str, target: str = "users.id") -> list[Any]:
    return [sa.Column("host_id", sa.String(), nullable=False),
            sa.ForeignKeyConstraint(["host_id"], [target],
                                    name=op.f(f"fk_{table}_host_id_{target.split('.')[0]}"), ondelete="CASCADE")]


def upgrade() -> None:
    op.create_table(
        "calendar_subscriptions",
        *_host("calendar_subscriptions"),
        sa.Column("subscription_id", sa.String(), nullable=False),
        sa.Column("client_state_hash", sa.String(), nullable=False),
        _instant("expires_at"),
        _instant("created_at"),
        _instant("renewed_at", nullable=True),
        _instant("reauthorized_at", nullable=True),
        _instant("leased_until", nullable=True),
        sa.Column("notification_url", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("host_id", name=op.f("pk_calendar_subscriptions")),
        sa.UniqueConstraint("subscription_id", name=op.f("uq_calendar_subscriptions_subscription_id")),
    )
    op.create_index("ix_calendar_subscriptions_expires_at", "calendar_subscriptions", ["expires_at"], unique=False)

    op.create_table(
        "busy_cache",
        *_host("busy_cache"),
        _instant("window_start"),
        _instant("window_end"),
        sa.Column("delta_cursor", sa.Text(), nullable=True),
        _instant("stale_since", nullable=True),
        sa.Column("stale_reason", sa.Text(), nullable=False),
        _instant("dirty_since", nullable=True),
        _instant("synced_at", nullable=True),
        _instant("updated_at"),
        sa.PrimaryKeyConstraint("host_id", name=op.f("pk_busy_cache")),
    )

    op.create_table(
        "busy_cache_events",
        *_host("busy_cache_events", "busy_cache.host_id"),
        sa.Column("event_id", sa.String(), nullable=False),
        _instant("start_at"),
        _instant("end_at"),
        sa.Column("status", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("host_id", "event_id", name=op.f("pk_busy_cache_events")),
    )
    op.create_index("ix_busy_cache_events_host_id_start_at", "busy_cache_events", ["host_id", "start_at"],
                    unique=False)

    op.create_table(
        "sync_work",
        *_host("sync_work"),
        sa.Column("delta", sa.Boolean(), nullable=False),
        sa.Column("full_sync", sa.Boolean(), nullable=False),
        sa.Column("subscribe", sa.Boolean(), nullable=False),
        sa.Column("recreate", sa.Boolean(), nullable=False),
        sa.Column("reauthorize", sa.Boolean(), nullable=False),
        sa.Column("removed_subscription_id", sa.String(), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        _instant("requested_at"),
        _instant("due_at"),
        _instant("leased_until", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("host_id", name=op.f("pk_sync_work")),
    )
    op.create_index("ix_sync_work_due_at", "sync_work", ["due_at"], unique=False)

    # bookings by their Outlook event (an Outlook-side change finds its booking)
    op.create_index("ix_bookings_organizer_id_graph_event_id", "bookings", ["organizer_id", "graph_event_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_bookings_organizer_id_graph_event_id", table_name="bookings")
    op.drop_index("ix_sync_work_due_at", table_name="sync_work")
    op.drop_table("sync_work")
    op.drop_index("ix_busy_cache_events_host_id_start_at", table_name="busy_cache_events")
    op.drop_table("busy_cache_events")
    op.drop_table("busy_cache")
    op.drop_index("ix_calendar_subscriptions_expires_at", table_name="calendar_subscriptions")
    op.drop_table("calendar_subscriptions")
