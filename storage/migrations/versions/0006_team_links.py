"""Team links: member rules (weight, caps, joined), assignment settings, channel threads.

* ``teams.external_id``: the Teams team (or group chat) a Slotwise team is, unique per tenant
  (``uq_teams_tenant_id_external_id``; NULL for teams made before, which no channel names).
* ``team_members``: each member's own ``daily_cap`` / ``weekly_cap`` (NULL: none), when they ``joined_at``
  the rotation, when they last ``left_at`` it, and the spans they were ``away`` (JSON list of
  ``[start, end]`` ISO instants), for fair assignment. Existing members get no caps, an unknown join
  time (counted from before anything) and no time away.
* ``team_links``: one row per team link (``event_types.id``): who made it (``created_by``), the
  ``assignment_mode`` (fair / availability) and fairness ``period`` (day / week / month), whether
  bookings are ``announce``\\ d in the channel, and where its card is (the channel ``thread``'s
  conversation reference and the card's ``card_activity_id``). Team links made before get a row with
  the defaults (fair, monthly, announced; no creator or thread known).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _instant(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column("teams", sa.Column("external_id", sa.String(), nullable=True))
    op.create_index("uq_teams_tenant_id_external_id", "teams", ["tenant_id", "external_id"], unique=True)

    op.add_column("team_members", sa.Column("daily_cap", sa.Integer(), nullable=True))
    op.add_column("team_members", sa.Column("weekly_cap", sa.Integer(), nullable=True))
    op.add_column("team_members", _instant("joined_at", nullable=True))
    op.add_column("team_members", _instant("left_at", nullable=True))
    op.add_column("team_members", sa.Column("away", JSON, server_default=sa.text("'[]'"), nullable=False))

    op.create_table(
        "team_links",
        sa.Column("event_type_id", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=True),
        sa.Column("assignment_mode", sa.String(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        sa.Column("announce", sa.Boolean(), nullable=False),
        sa.Column("thread", JSON, nullable=True),
        sa.Column("card_activity_id", sa.String(), nullable=True),
        _instant("created_at"),
        _instant("updated_at"),
        sa.CheckConstraint("assignment_mode IN ('fair', 'availability')", name=op.f("ck_team_links_assignment_mode")),
        sa.CheckConstraint("period IN ('day', 'week', 'month')", name=op.f("ck_team_links_period")),
        sa.ForeignKeyConstraint(
            ["event_type_id"],
            ["event_types.id"],
            name=op.f("fk_team_links_event_type_id_event_types"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_team_links_created_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("event_type_id", name=op.f("pk_team_links")),
    )
    op.create_index(op.f("ix_team_links_created_by"), "team_links", ["created_by"], unique=False)
    # team links made before this revision: the defaults (fair, monthly, announced)
    op.execute(
        sa.text(
            "INSERT INTO team_links (event_type_id, created_by, assignment_mode, period, announce, thread, "
            "card_activity_id, created_at, updated_at) "
            "SELECT id, NULL, 'fair', 'month', :yes, NULL, NULL, created_at, updated_at "
            "FROM event_types WHERE team_id IS NOT NULL"
        ).bindparams(yes=True)
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_team_links_created_by"), table_name="team_links")
    op.drop_table("team_links")
    with op.batch_alter_table("team_members") as batch:
        for name in ("away", "left_at", "joined_at", "weekly_cap", "daily_cap"):
            batch.drop_column(name)
    op.drop_index("uq_teams_tenant_id_external_id", table_name="teams")
    with op.batch_alter_table("teams") as batch:
        batch.drop_column("external_id")
