"""Host features: a reminder before each booked meeting (per link), reminders sent, the calendar of each event.

* ``event_types.reminder_minutes``: the link's reminder (minutes before each booked meeting the host gets a
  chat reminder; NULL: off). Existing links get the default, 15 minutes.
* ``bookings.reminded_start``: the start the host's reminder was enqueued for (NULL: none yet), so the
  reminder job skips what it already did and a moved booking is reminded again for its new time (the job
  never reminds of a meeting that has begun, so existing bookings need no mark).
* ``bookings.event_calendar_id``: the calendar the booking's Outlook event was written to (NULL: the host's
  default calendar), so the event stays reachable after the host picks another calendar. Every booking
  made before this revision was written to the default calendar (no host could choose another), so NULL
  is right for all of them.
* ``ix_bookings_status_start_at``: the reminder job's query (confirmed bookings by start).

Columns and an index only: existing data survives, and a downgrade drops exactly what this adds.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_REMINDER = 15  # scheduling.rules.DEFAULT_REMINDER when this revision was written


def upgrade() -> None:
    op.add_column("event_types", sa.Column("reminder_minutes", sa.Integer(), nullable=True))
    op.execute(sa.text("UPDATE event_types SET reminder_minutes = :m").bindparams(m=DEFAULT_REMINDER))
    op.add_column("bookings", sa.Column("event_calendar_id", sa.String(), nullable=True))
    op.add_column("bookings", sa.Column("reminded_start", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_bookings_status_start_at", "bookings", ["status", "start_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_bookings_status_start_at", table_name="bookings")
    with op.batch_alter_table("bookings") as batch:
        batch.drop_column("reminded_start")
        batch.drop_column("event_calendar_id")
    with op.batch_alter_table("event_types") as batch:
        batch.drop_column("reminder_minutes")
