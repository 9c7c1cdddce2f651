"""Bookings: who booked from Teams, idempotency keys scoped per caller, replay fingerprints, manage-token nonces.

* ``invitee_tenant_id`` / ``invitee_aad_object_id``: a booking made from Teams remembers the tenant and
  Entra object id of the person who made it; only they are recognised as its invitee in Teams.
* ``request_fingerprint``: SHA-256 of the request a booking was made from; a replay of its idempotency
  key must match it to get the booking (and its manage token) back.
* ``manage_token_nonce``: the random nonce the booking's manage token is derived from (HMAC under the
  server's manage key), so a legitimate replay gets the same token without it being stored.
* ``idempotency_key`` is now stored as ``"<caller namespace>:<key>"``. Existing keys are moved into the
  ``legacy`` namespace, which no caller has: a key sent after the upgrade never reaches a booking made
  before it (those rows have no fingerprint to compare a replay with). Their manage links keep working:
  ``manage_token_hash`` is untouched.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_COLUMNS = ("manage_token_nonce", "request_fingerprint", "invitee_tenant_id", "invitee_aad_object_id")
LEGACY = "legacy:"


def upgrade() -> None:
    for name in NEW_COLUMNS:
        op.add_column("bookings", sa.Column(name, sa.String(), nullable=True))
    op.execute(sa.text("UPDATE bookings SET idempotency_key = :prefix || idempotency_key "
                       "WHERE idempotency_key IS NOT NULL").bindparams(prefix=LEGACY))


def downgrade() -> None:
    op.execute(sa.text("UPDATE bookings SET idempotency_key = substr(idempotency_key, :cut) "
                       "WHERE idempotency_key LIKE :pattern").bindparams(cut=len(LEGACY) + 1,
                                                                        pattern=LEGACY + "%"))
    with op.batch_alter_table("bookings") as batch:
        for name in reversed(NEW_COLUMNS):
            batch.drop_column(name)
