"""Background work: outbox items leased per channel and held for unreachable recipients, job leases.

* ``outbox.held_for``: the recipient an item waits for (a host with no chat with Slotwise yet); a held item
  is not leased until the recipient's held items are released. Existing items are not held.
* ``ix_outbox_due`` now covers ``(channel, next_attempt_at)`` of the due items (not delivered, not dead,
  not held): each channel's delivery leases its own items. ``ix_outbox_held_for`` finds a person's held
  items.
* ``job_leases``: one row per background job (reconciliation...) naming the replica that runs it and until
  when; a replica that dies keeps it only until ``leased_until``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_DUE = "delivered_at IS NULL AND NOT dead"
DUE = "delivered_at IS NULL AND NOT dead AND held_for IS NULL"
HELD = "held_for IS NOT NULL"


def _due_index(columns: list[str], where: str) -> None:
    op.create_index("ix_outbox_due", "outbox", columns, unique=False,
                    sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def upgrade() -> None:
    op.add_column("outbox", sa.Column("held_for", sa.String(), nullable=True))
    op.drop_index("ix_outbox_due", table_name="outbox")
    _due_index(["channel", "next_attempt_at"], DUE)
    op.create_index("ix_outbox_held_for", "outbox", ["held_for"], unique=False,
                    sqlite_where=sa.text(HELD), postgresql_where=sa.text(HELD))
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_leases")),
    )


def downgrade() -> None:
    op.drop_table("job_leases")
    op.drop_index("ix_outbox_held_for", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    # Held items become ordinary due items again (the code before 0003 retries them).
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("held_for")
    _due_index(["next_attempt_at"], OLD_DUE)
