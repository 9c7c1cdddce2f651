"""REST API keys, rate limits shared across replicas, link expiries, webhook subscriptions and deliveries.

* ``api_keys``: a person's API keys: the SHA-256 of each key (unique) and its first characters, never the key;
  when it was made, last used and revoked.
* ``rate_counters``: events counted per (rule and client, window start), with when the row may be forgotten:
  every replica counts in the same rows, so a limit holds across replicas.
* ``link_expiries``: when a link stops taking bookings (switched off by a background pass, ``expired_at``).
* ``webhook_subscriptions``: URL, events, description, the signing secret (and the previous one, during the 24 h
  after a rotation) encrypted with AES-256-GCM under a key derived for this purpose, whether it is enabled (and why
  not), its last success.
* ``webhook_deliveries``: one row per delivery (its id is the outbox item's, the ``webhook-id``): status, attempts,
  the last response code and error, when.

New tables only: existing data is untouched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DELIVERY_STATUSES = ("pending", "retrying", "succeeded", "failed", "skipped")


def _instant(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _user(table: str) -> list[Any]:
    return [
        sa.Column("user_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"),
    ]


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(), nullable=False),
        *_user("api_keys"),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column("key_hash", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        _instant("created_at"),
        _instant("last_used_at", nullable=True),
        _instant("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"], unique=False)

    op.create_table(
        "rate_counters",
        sa.Column("key", sa.String(), nullable=False),
        _instant("window_start"),
        sa.Column("count", sa.Integer(), nullable=False),
        _instant("expires_at"),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_counters")),
    )
    op.create_index("ix_rate_counters_expires_at", "rate_counters", ["expires_at"], unique=False)

    op.create_table(
        "link_expiries",
        sa.Column("event_type_id", sa.String(), nullable=False),
        _instant("expires_at"),
        _instant("expired_at", nullable=True),
        sa.PrimaryKeyConstraint("event_type_id", name=op.f("pk_link_expiries")),
    )
    op.create_index("ix_link_expiries_due", "link_expiries", ["expires_at"], unique=False,
                    sqlite_where=sa.text("expired_at IS NULL"), postgresql_where=sa.text("expired_at IS NULL"))

    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(), nullable=False),
        *_user("webhook_subscriptions"),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", JSON, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("previous_secret", sa.LargeBinary(), nullable=True),
        _instant("previous_secret_expires_at", nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=False),
        _instant("disabled_at", nullable=True),
        _instant("last_success_at", nullable=True),
        _instant("created_at"),
        _instant("updated_at"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    op.create_index("ix_webhook_subscriptions_user_id", "webhook_subscriptions", ["user_id"], unique=False)

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("subscription_id", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        _instant("created_at"),
        _instant("last_attempt_at", nullable=True),
        _instant("delivered_at", nullable=True),
        sa.CheckConstraint(
            "status IN (" + ", ".join(repr(s) for s in DELIVERY_STATUSES) + ")",
            name=op.f("ck_webhook_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name=op.f("fk_webhook_deliveries_subscription_id_webhook_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index("ix_webhook_deliveries_subscription_id_created_at", "webhook_deliveries",
                    ["subscription_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_subscription_id_created_at", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhook_subscriptions_user_id", table_name="webhook_subscriptions")
    op.drop_table("webhook_subscriptions")
    op.drop_index("ix_link_expiries_due", table_name="link_expiries")
    op.drop_table("link_expiries")
    op.drop_index("ix_rate_counters_expires_at", table_name="rate_counters")
    op.drop_table("rate_counters")
    op.drop_index("ix_api_keys_user_id", table_name="api_keys")
    op.drop_table("api_keys")
