"""SqlOperationsStore: the operator's reads (``scheduling.stores.OperationsStore``) and the schema check of the
readiness probe.

Both are single cheap statements in a read-only transaction (``db.read()``: a deferred ``BEGIN`` on SQLite, so
a probe never takes the write lock): the outbox backlog aggregates the due items only (the predicate of the
partial index ``ix_outbox_due``), and the schema revision is one row of ``alembic_version``.
"""

from __future__ import annotations

import contextlib

from alembic.runtime.migration import MigrationContext
from sqlalchemy import column, func, not_, select, table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from scheduling.stores import OutboxBacklog
from storage._sql import utc
from storage.db import Database
from storage.errors import StorageUnavailable
from storage.migrate import head_revision
from storage.models import CalendarSubscriptionRow, OutboxRow

_ALEMBIC_VERSION = table("alembic_version", column("version_num"))


class SqlOperationsStore:
    """:class:`scheduling.stores.OperationsStore` on SQLite or PostgreSQL, plus :meth:`schema_problem`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._head = head_revision()  # read from the migration scripts once, not per probe

    async def outbox_backlog(self) -> list[OutboxBacklog]:
        o = OutboxRow
        statement = (
            select(o.channel, func.count(), func.min(o.created_at))
            .where(o.delivered_at.is_(None), not_(o.dead), o.held_for.is_(None))
            .group_by(o.channel)
            .order_by(o.channel)
        )
        async with self._db.read() as s:
            rows = (await s.execute(statement)).all()
        return [OutboxBacklog(channel, int(count), utc(oldest)) for channel, count, oldest in rows]

    async def subscription_count(self) -> int:
        async with self._db.read() as s:
            return int(await s.scalar(select(func.count()).select_from(CalendarSubscriptionRow)) or 0)

    async def schema_revision(self) -> str | None:
        """The migration the database is at (None for a database that was never migrated).

        One plain ``SELECT`` of ``alembic_version`` (the probe runs every second on every replica; building
        Alembic's migration context each time cost a table inspection and two log lines); only when that fails
        (no such table, or the database is away) does Alembic's own reader decide."""
        with contextlib.suppress(StorageUnavailable, DBAPIError):
            async with self._db.read() as s:
                versions = sorted((await s.scalars(select(_ALEMBIC_VERSION.c.version_num))).all())
            return " ".join(versions) if versions else None  # several heads never equal the one expected

        def read(session: Session) -> str | None:
            return MigrationContext.configure(session.connection()).get_current_revision()

        async with self._db.read() as s:
            return await s.run_sync(read)

    async def schema_problem(self) -> str | None:
        """None when the database answers and is migrated to the head revision this code was built with, else
        what is wrong (a database that can't be reached raises :class:`storage.errors.StorageUnavailable`)."""
        at = await self.schema_revision()
        if at == self._head:
            return None
        return f"not migrated: the schema is at revision {at or '(none)'}, this version expects {self._head}"
